/// <reference lib="dom" />
import { assert, assertEquals, assertThrows } from "@std/assert";
import type { KernelEvent } from "../../lib/kernel/events.ts";
import { percpuRefDemo } from "../../lib/scenarios/percpu-ref-demo.ts";
import type { Traced } from "../../lib/sim/trace.ts";
import { REFCOUNT_MARKER_STYLE, REFCOUNT_PALETTE, refcountTimeline } from "../../lib/viz/mod.ts";
import { assertSnapshot, assertSvgShape, legendEntries, parseFigure } from "./_snapshot.ts";

let seq = 0;
function ev(t: number, e: KernelEvent): Traced<KernelEvent> {
  return { ...e, t, task: 1, cpu: 0, seq: seq++ } as Traced<KernelEvent>;
}
function ref(t: number, id: number, name: string, op: string, count: number): Traced<KernelEvent> {
  return ev(t, { kind: "percpu_ref", op, ref: id, name, n: 1, count } as KernelEvent);
}

/** Two pgmap refs, one page, and an Oops after the first ref is gone. */
function syntheticTrace(): Traced<KernelEvent>[] {
  seq = 0;
  return [
    ref(0, 1, "pgmap_ref_release", "init", 1),
    ref(100, 1, "pgmap_ref_release", "get", 4),
    ref(150, 2, "p2p_ref_release", "init", 1),
    ev(200, { kind: "page_ref", op: "get", pfn: 0x400200, n: 1, count: 2 }),
    ref(300, 1, "pgmap_ref_release", "kill", 4),
    ref(400, 1, "pgmap_ref_release", "put", 0),
    ref(400, 1, "pgmap_ref_release", "release", 0),
    ref(450, 1, "pgmap_ref_release", "exit", 0),
    ev(500, { kind: "page_ref", op: "put", pfn: 0x400200, n: 1, count: 1 }),
    ev(600, {
      kind: "log",
      op: "oops",
      text: "BUG: unable to handle page fault for address: ffffea0010008000",
    }),
    ev(900, { kind: "device", op: "unbound", dev: "pmem0", driver: "nd_pmem", ret: 0 }),
  ];
}

/** The labels of the text marks (own text, without their <title>). */
function labels(html: string): string[] {
  const { document } = parseFigure(html);
  return [...document.querySelectorAll('g[aria-label="text"] text')].map((t) =>
    [...t.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("")
  );
}

function lineCount(html: string): number {
  const { document } = parseFigure(html);
  return document.querySelectorAll('g[aria-label="line"] path').length;
}

Deno.test("refcountTimeline(): the percpu_ref demo — one line, kill/release/exit marked, snapshot", async () => {
  const fig = refcountTimeline(percpuRefDemo());
  assertSvgShape(fig.html!);
  assertEquals(lineCount(fig.html!), 1);
  assertEquals(legendEntries(fig.html!), ["demo_release#1"]);
  assertEquals(labels(fig.html!).sort(), ["exit", "kill", "release"]);
  assertEquals(
    fig.text,
    "refcount timeline: 1 ref (demo_release#1), 12 points over 0 ns–10 ms; marks: kill ×1, release ×1, exit ×1",
  );
  await assertSnapshot("refcount-timeline-demo", fig.html!);
  await assertSnapshot(
    "refcount-timeline-demo-order",
    refcountTimeline(percpuRefDemo(), { axis: "order" }).html!,
  );
});

Deno.test("refcountTimeline(): as many lines as refs (percpu and page), fixed colours, an Oops rule in red", async () => {
  const fig = refcountTimeline(syntheticTrace(), { title: "Two pgmaps" });
  assertSvgShape(fig.html!);
  assertEquals(lineCount(fig.html!), 3);
  assertEquals(legendEntries(fig.html!), [
    "pgmap_ref_release#1",
    "p2p_ref_release#2",
    "page 0x400200",
  ]);
  for (const c of REFCOUNT_PALETTE.slice(0, 3)) assert(fig.html!.includes(`stroke="${c}"`), c);
  assert(fig.html!.includes(`stroke="${REFCOUNT_MARKER_STYLE.oops.stroke}"`));
  assertEquals(labels(fig.html!).sort(), ["Oops", "exit", "kill", "release"]);
  assert(fig.text.includes("marks: kill ×1, release ×1, exit ×1, oops ×1"));
  await assertSnapshot("refcount-timeline-synthetic", fig.html!);
});

Deno.test("refcountTimeline(): refs, pages and percpu filters choose the lines", () => {
  const t = syntheticTrace();
  assertEquals(lineCount(refcountTimeline(t, { refs: ["p2p_ref_release#2"] }).html!), 1);
  assertEquals(lineCount(refcountTimeline(t, { refs: (n) => n.startsWith("page") }).html!), 1);
  assertEquals(lineCount(refcountTimeline(t, { pages: false }).html!), 2);
  assertEquals(lineCount(refcountTimeline(t, { percpu: false }).html!), 1);
  assertEquals(lineCount(refcountTimeline({ events: t }, { y: "symlog" }).html!), 3);
});

Deno.test("refcountTimeline(): deterministic — the same trace gives the same markup", () => {
  assertEquals(refcountTimeline(percpuRefDemo()).html, refcountTimeline(percpuRefDemo()).html);
});

Deno.test("refcountTimeline(): clear errors for nothing to draw, bad input and bad sizes", () => {
  assertThrows(() => refcountTimeline([]), RangeError, "was tracing on?");
  assertThrows(
    () => refcountTimeline(syntheticTrace(), { refs: ["nope"] }),
    RangeError,
    "check `refs`",
  );
  assertThrows(() => refcountTimeline({} as never), TypeError, "Cannot draw a refcount timeline");
  assertThrows(
    () => refcountTimeline(syntheticTrace(), { width: 0 }),
    RangeError,
    "width must be a positive number",
  );
});
