/// <reference lib="dom" />
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  decidingGroups,
  OUTCOME_COLORS,
  SCHEDULE_OUTCOMES,
  scheduleOutcomes,
} from "../../lib/viz/mod.ts";
import { raceExploration } from "./_fixtures.ts";
import { assertSnapshot, assertSvgShape, legendEntries, parseFigure } from "./_snapshot.ts";

Deno.test("scheduleOutcomes(): the race exploration — bars per outcome, a strip cell per schedule, fixed legend, snapshot", async () => {
  const x = raceExploration();
  assert(x.complete);
  assert(x.counts.oops > 0 && x.counts["deadlock/hang"] > 0 && x.counts.clean > 0);
  const fig = scheduleOutcomes(x);
  const svgs = assertSvgShape(fig.html!);
  assertEquals(svgs.length, 2);
  assertEquals(legendEntries(fig.html!), [...SCHEDULE_OUTCOMES]);
  const { document } = parseFigure(fig.html!);
  const [bars, strip] = svgs;
  const barRects = [...bars!.querySelectorAll('g[aria-label="bar"] rect')];
  assertEquals(
    barRects.map((r) => r.getAttribute("fill")),
    SCHEDULE_OUTCOMES.map((o) => OUTCOME_COLORS[o]),
  );
  assertEquals(strip!.querySelectorAll('g[aria-label="bar"] rect').length, x.schedules.length);
  assert(
    document.querySelector("h3")!.textContent!.includes(
      `${x.schedules.length} schedules, every interleaving`,
    ),
  );
  await assertSnapshot("schedule-outcomes-race", fig.html!);
});

Deno.test("decidingGroups(): consecutive, covering, one outcome each, and minimal", () => {
  const x = raceExploration();
  const groups = decidingGroups(x);
  let next = 0;
  for (const g of groups) {
    assertEquals(g.start, next);
    next = g.end;
    const members = x.schedules.slice(g.start, g.end);
    assert(members.every((s) => s.outcome === g.outcome));
    assert(members.every((s) => s.schedule.slice(0, g.depth).join() === g.prefix.join()));
    // one decision fewer would not decide: some schedule sharing the shorter prefix ends differently
    const shorter = g.prefix.slice(0, -1).join();
    assert(
      x.schedules.some((s) =>
        s.schedule.slice(0, g.depth - 1).join() === shorter && s.outcome !== g.outcome
      ),
      `group ${g.label} at ${g.start} is not minimal`,
    );
  }
  assertEquals(next, x.schedules.length);
});

Deno.test("scheduleOutcomes(): zero counts still get their bar; a bounded search says so", () => {
  const fig = scheduleOutcomes({
    complete: false,
    counts: { "oops": 0, "deadlock/hang": 0, "clean": 1 },
    schedules: [{ schedule: ["A"], outcome: "clean", detail: "" }],
  });
  assert(
    fig.text.startsWith(
      "schedule outcomes: 1 schedule (bounded): oops 0, deadlock/hang 0, clean 1",
    ),
  );
  assert(fig.text.includes("any order → clean ×1"));
  assert(fig.html!.includes("bounded: NOT exhaustive"));
  assertEquals(legendEntries(fig.html!), [...SCHEDULE_OUTCOMES]);
});

Deno.test("scheduleOutcomes(): deterministic; clear errors", () => {
  assertEquals(scheduleOutcomes(raceExploration()).html, scheduleOutcomes(raceExploration()).html);
  assertThrows(
    () =>
      scheduleOutcomes({
        complete: true,
        counts: { "oops": 0, "deadlock/hang": 0, "clean": 0 },
        schedules: [],
      }),
    RangeError,
    "no schedules",
  );
  assertThrows(() => scheduleOutcomes({} as never), TypeError, "expected an Exploration");
  assertThrows(
    () =>
      scheduleOutcomes({
        complete: true,
        counts: {} as never,
        schedules: [{ schedule: [], outcome: "x" as never, detail: "" }],
      }),
    TypeError,
    "schedules[0] needs",
  );
});
