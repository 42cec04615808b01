/**
 * The aftermath claim (lib/scenarios/claims-aftermath.ts): it holds for the
 * real observations (v5.0, v5.2), and throws an AssertionError when v5.2's
 * data stands where v5.0's is expected or the other way round — for the
 * whole observation and for each of its parts alone, so no part of the
 * claim passes vacuously. Also: the step-by-step replay agrees with
 * scenario 31's own run of the same schedule.
 */
import { assert, assertEquals, AssertionError, assertThrows } from "@std/assert";
import {
  type AftermathObservation,
  claimAftermath,
  FIXES_2019,
  loganRaceReplay,
  observeAftermath,
} from "../../lib/scenarios/claims-aftermath.ts";
import { loganRaceSchedule } from "../../lib/scenarios/s31-logan-race.ts";

const before = observeAftermath("v5.0");
const after = observeAftermath("v5.2");

Deno.test("claimAftermath: holds for (v5.0, v5.2)", () => {
  claimAftermath(before, after);
});

Deno.test("claimAftermath: fails for (v5.2, v5.0), (v5.0, v5.0) and (v5.2, v5.2)", () => {
  assertThrows(() => claimAftermath(after, before), AssertionError);
  assertThrows(() => claimAftermath(before, before), AssertionError);
  assertThrows(() => claimAftermath(after, after), AssertionError);
});

Deno.test("claimAftermath: each part swapped alone makes it fail", () => {
  const parts = Object.keys(before).filter((k) => k !== "series") as (keyof AftermathObservation)[];
  assertEquals(parts.sort(), [
    "adversary",
    "crash",
    "fixes",
    "genPool",
    "hmm",
    "race",
    "twoBars",
    "waitInKill",
  ]);
  for (const part of parts) {
    assertThrows(
      () => claimAftermath({ ...before, [part]: after[part] }, after),
      AssertionError,
      undefined,
      `v5.2's ${part} where v5.0's is expected`,
    );
    assertThrows(
      () => claimAftermath(before, { ...after, [part]: before[part] }),
      AssertionError,
      undefined,
      `v5.0's ${part} where v5.2's is expected`,
    );
  }
});

Deno.test("observeAftermath: the fixes, the explorations and the variant", () => {
  assertEquals(FIXES_2019, [
    "devm_release_action",
    "devm_memunmap_pages",
    "p2pdma-gen-pool-add-virt-fix",
    "genalloc-chunk-owners",
    "1570175abd16",
    "50f44ee7248a",
  ]);
  assertEquals(before.race.counts, { "oops": 7, "deadlock/hang": 0, "clean": 40 });
  assertEquals(after.race.counts, { "oops": 0, "deadlock/hang": 0, "clean": 10 });
  assert(!("rejected" in before.waitInKill));
  assertEquals([before.waitInKill.twoBars.waitingBar, before.waitInKill.twoBars.holderBar], [4, 2]);
  assert("rejected" in after.waitInKill);
});

Deno.test("loganRaceReplay: agrees with loganRaceSchedule on the same schedule", () => {
  const named = loganRaceSchedule("v5.0");
  const replay = loganRaceReplay("v5.0", named.schedule);
  assertEquals(replay.schedule, named.schedule);
  assertEquals(replay.order, named.order);
  assertEquals(replay.oops[0], named.oopses[0]!.message);
  assertEquals(replay.pgmapFieldAddress, named.pgmapFieldAddress);
  // the step table: the decisions, then what ran with no choice left
  assertEquals(replay.steps.filter((s) => s.step > 0).map((s) => s.runs), named.schedule);
  assert(replay.steps.some((s) => s.did.includes("arch_remove_memory")));
  assert(replay.steps.at(-1)!.did.at(-1)!.includes("blocks in completion p2pdma devmap_ref_done"));
  // a clean schedule replays without an Oops
  const clean = before.race.schedules.find((s) => s.outcome === "clean")!;
  assertEquals(loganRaceReplay("v5.0", clean.schedule).oops, []);
  // a label that names no runnable option is refused
  assertThrows(() => loganRaceReplay("v5.0", ["gp"]), Error, "Cannot replay schedule");
});
