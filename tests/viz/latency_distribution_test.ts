/// <reference lib="dom" />
import { assert, assertEquals, assertThrows } from "@std/assert";
import type { CaseResult } from "../../lib/bench/harness.ts";
import { summarize } from "../../lib/bench/harness.ts";
import { latencyDistribution, latencyStats } from "../../lib/viz/mod.ts";
import { latencySamples } from "./_fixtures.ts";
import { assertSnapshot, assertSvgShape, parseFigure } from "./_snapshot.ts";

function fakeCase(name: string, ops: number, samples: number[]): CaseResult {
  return {
    name,
    ops,
    wallNs: summarize(samples),
    wallNsPerOp: summarize(samples.map((s) => s / ops)),
    simNs: null,
    samples,
  };
}

Deno.test("latencyDistribution(): fixed samples — a box and a barcode per path, p50/p99 written, snapshot", async () => {
  const samples = latencySamples();
  const fig = latencyDistribution(samples);
  assertSvgShape(fig.html!);
  const { document } = parseFigure(fig.html!);
  // barcode: one tick per drawable sample (the zero sample is dropped)
  const ticks = document.querySelectorAll('g[aria-label="tick"]')[0]!.querySelectorAll("line");
  assertEquals(ticks.length, 64 * 3 - 1);
  assertEquals(document.querySelectorAll('g[aria-label="bar"] rect').length, 3); // the boxes
  const notes = [...document.querySelectorAll('g[aria-label="text"] text')].map((t) =>
    t.textContent
  );
  assertEquals(notes.length, 3);
  assert(notes.every((t) => /^p50 .+ · p99 .+$/.test(t!)), notes.join("|"));
  assert(fig.html!.includes("1 sample ≤ 0 not drawn."));
  // the x axis is logarithmic: under three decades, ticks at 1, 2 and 5 × powers of ten
  const xt = [...document.querySelectorAll('g[aria-label="x-axis tick label"] text')].map((t) =>
    t.textContent
  );
  assertEquals(xt, ["200 ns", "500 ns", "1 µs", "2 µs", "5 µs", "10 µs", "20 µs"]);
  await assertSnapshot("latency-distribution", fig.html!);
});

Deno.test("latencyStats(): quantiles of the positive samples; drops and counts the rest", () => {
  const [a, b] = latencyStats({ a: [1, 2, 3, 4, 100], b: [0, -1, NaN, 10] });
  assertEquals([a!.n, a!.dropped, a!.p50], [5, 0, 3]);
  assertEquals([b!.n, b!.dropped, b!.p50, b!.p99], [1, 3, 10, 10]);
});

Deno.test("latencyDistribution(): CaseResult[] — per operation by default, per iteration on request", () => {
  const cases = [
    fakeCase("get/put", 1024, [102_400, 204_800, 153_600]),
    fakeCase("kill", 1, [5_000, 6_000]),
  ];
  const perOp = latencyDistribution(cases);
  assert(perOp.text.includes("get/put: n=3, p50 150 ns"));
  assert(perOp.html!.includes("wall time per operation (ns, log) →"));
  const perIter = latencyDistribution(cases, { perOp: false, order: "median" });
  assert(perIter.text.includes("get/put: n=3, p50 154 µs"));
  assert(perIter.text.indexOf("kill") < perIter.text.indexOf("get/put")); // by median
  assert(perIter.html!.includes("wall time per iteration (ns, log) →"));
});

Deno.test("latencyDistribution(): deterministic; clear errors", () => {
  assertEquals(
    latencyDistribution(latencySamples()).html,
    latencyDistribution(latencySamples()).html,
  );
  assertThrows(() => latencyDistribution({}), RangeError, "there are no paths");
  assertThrows(
    () => latencyDistribution({ a: [0, -2] }),
    RangeError,
    'path "a" has no positive sample',
  );
  assertThrows(
    () => latencyDistribution({ a: 3 } as never),
    TypeError,
    'samples of "a" are not an array',
  );
  assertThrows(() => latencyDistribution([{}] as never), TypeError, "input[0] is not a CaseResult");
});
