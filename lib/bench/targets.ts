/**
 * The issues' host-time targets next to `deno bench --json` results: which
 * bench file runs each targeted case, how many operations one iteration
 * performs, and whether the measured average per operation meets the target.
 * `deno task bench:targets` (tools/bench_targets.ts) runs the benches and
 * prints the table; nothing here is asserted by the test suite, because host
 * time is a fact about the host.
 *
 * The targets themselves live in lib/scenarios/claims-bench.ts
 * (HOST_TARGETS, BRING_UP_TARGETS), where notebook 09 reads them too.
 *
 * @module
 */
import { BRING_UP_TARGETS, HOST_TARGETS } from "../scenarios/claims-bench.ts";

/** One targeted bench case. */
export interface BenchTarget {
  /** The Deno.bench name. */
  readonly name: string;
  /** The bench file that defines it, relative to the repository root. */
  readonly file: string;
  /** How many target units one iteration performs (1,024 faults, or 1 batch or registration). */
  readonly unitsPerIteration: number;
  /** The target in ns per unit (an upper bound). */
  readonly targetNs: number;
  /** The target as the issue states it. */
  readonly says: string;
  /** The issue that sets it. */
  readonly issue: number;
}

const TiB = 2 ** 40;

/** Every host-time target of issues 3, 4 and 5, with the bench that measures it. */
export const BENCH_TARGETS: readonly BenchTarget[] = [
  ["get-dev-pagemap-1", "bench/memremap_bench.ts", 1024],
  ["get-dev-pagemap-1000", "bench/memremap_bench.ts", 1024],
  ["anon-minor-fault", "bench/fault_bench.ts", 1024],
  ["devpriv-cpu-fault", "bench/fault_bench.ts", 1024],
  ["fsdax-fault", "bench/fsdax_bench.ts", 1024],
  ["gpu-fault-batch", "bench/gpu_bench.ts", 1],
].map(([name, file, units]) => {
  const t = HOST_TARGETS[name as keyof typeof HOST_TARGETS];
  return {
    name: name as string,
    file: file as string,
    unitsPerIteration: units as number,
    targetNs: t.ns,
    says: t.says,
    issue: t.issue,
  };
}).concat([
  {
    name: "memmap-register-1TiB",
    file: "bench/memremap_bench.ts",
    unitsPerIteration: 1,
    targetNs: BRING_UP_TARGETS[TiB]!.ns,
    says: BRING_UP_TARGETS[TiB]!.says,
    issue: 3,
  },
  {
    name: "memmap-register-64TiB",
    file: "bench/memremap_bench.ts",
    unitsPerIteration: 1,
    targetNs: BRING_UP_TARGETS[64 * TiB]!.ns,
    says: BRING_UP_TARGETS[64 * TiB]!.says,
    issue: 3,
  },
]);

/** The part of `deno bench --json` output this module reads. */
export interface DenoBenchJson {
  /** The runtime, e.g. "Deno/2.9.6 x86_64-unknown-linux-gnu". */
  runtime?: string;
  /** The CPU model. */
  cpu?: string;
  /** One entry per bench. */
  benches: {
    /** The bench's name. */
    name: string;
    /** Its results: `ok` with ns per iteration, or a failure. */
    results: ({ ok: { n: number; min: number; avg: number; p75: number } } | {
      failed: unknown;
    })[];
  }[];
}

/** A targeted case's measurement. */
export interface TargetResult {
  /** The target. */
  readonly target: BenchTarget;
  /** Runs that produced a result. */
  readonly runs: number;
  /** Average ns per unit: the median over runs of each run's `deno bench` avg ÷ units. */
  readonly avgNs: number;
  /** Fastest iteration, ns per unit, over all runs. */
  readonly minNs: number;
  /** Whether the average meets the target. */
  readonly met: boolean;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Evaluates targets against one or more `deno bench --json` outputs (one per
 * run; a case may appear in several files' outputs of the same run). A case
 * with no result in any output is left out; a failed bench is a RangeError.
 *
 * @example
 * ```ts
 * import { BENCH_TARGETS, evaluateTargets } from "./targets.ts";
 * import { assertEquals } from "@std/assert";
 * const run = { benches: [{ name: "fsdax-fault", results: [{ ok: { n: 10, min: 51_200, avg: 81_920, p75: 90_000 } }] }] };
 * const [r] = evaluateTargets([run], BENCH_TARGETS);
 * assertEquals([r!.target.name, r!.avgNs, r!.minNs, r!.met], ["fsdax-fault", 80, 50, true]);
 * ```
 */
export function evaluateTargets(
  outputs: readonly DenoBenchJson[],
  targets: readonly BenchTarget[],
): TargetResult[] {
  const out: TargetResult[] = [];
  for (const target of targets) {
    const avgs: number[] = [];
    let minNs = Infinity;
    for (const o of outputs) {
      for (const b of o.benches) {
        if (b.name !== target.name) continue;
        for (const r of b.results) {
          if (!("ok" in r)) {
            throw new RangeError(`Cannot evaluate ${target.name}: the bench failed`);
          }
          avgs.push(r.ok.avg / target.unitsPerIteration);
          minNs = Math.min(minNs, r.ok.min / target.unitsPerIteration);
        }
      }
    }
    if (avgs.length === 0) continue;
    const avgNs = median(avgs);
    out.push({ target, runs: avgs.length, avgNs, minNs, met: avgNs <= target.targetNs });
  }
  return out;
}

/** ns as the table shows it: ns, µs, ms or s with three significant figures. */
export function formatNs(ns: number): string {
  const [v, u] = ns >= 1e9
    ? [ns / 1e9, "s"]
    : ns >= 1e6
    ? [ns / 1e6, "ms"]
    : ns >= 1e3
    ? [ns / 1e3, "µs"]
    : [ns, "ns"];
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${u}`;
}

/** Operations per second at the average, for the cases of 1,024 operations an iteration. */
function rate(r: TargetResult): string {
  if (r.target.unitsPerIteration === 1) return "—";
  const perS = 1e9 / r.avgNs;
  return perS >= 1e6 ? `${(perS / 1e6).toFixed(2)} M/s` : `${(perS / 1e3).toFixed(0)} k/s`;
}

/**
 * The results as a Markdown table: case, issue, target, average and minimum
 * per unit, the average as a multiple of the target, and met / missed.
 *
 * @example
 * ```ts
 * import { BENCH_TARGETS, evaluateTargets, formatTargets } from "./targets.ts";
 * import { assertMatch } from "@std/assert";
 * const run = { benches: [{ name: "gpu-fault-batch", results: [{ ok: { n: 9, min: 90_000, avg: 150_000, p75: 160_000 } }] }] };
 * assertMatch(formatTargets(evaluateTargets([run], BENCH_TARGETS)), /\| gpu-fault-batch \| 5 \| ≤ 25 µs per batch of 256 \| 150 µs \| 90.0 µs \| — \| 6.00× \| missed \|/);
 * ```
 */
export function formatTargets(results: readonly TargetResult[]): string {
  const rows = [
    "| case | issue | target | avg | min | avg rate | avg ÷ target | |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    rows.push(
      `| ${r.target.name} | ${r.target.issue} | ${r.target.says} | ${formatNs(r.avgNs)} | ${
        formatNs(r.minNs)
      } | ${rate(r)} | ${(r.avgNs / r.target.targetNs).toFixed(2)}× | ${
        r.met ? "met" : "missed"
      } |`,
    );
  }
  return rows.join("\n");
}
