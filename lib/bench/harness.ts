/**
 * Benchmark cases shared by `deno bench` (bench/*.ts) and the notebooks.
 *
 * A case is: setup (once) → for each iteration: prepare (untimed), run
 * exactly `ops` operations (timed), check (untimed) → teardown. `deno bench`
 * times the run through `b.start()`/`b.end()`; notebooks time it with
 * `performance.now()` through {@link runCase} and also read the simulated
 * clock, so both report the same code. Targets are per operation: avg / ops.
 *
 * @module
 */
import { deviation, max, median, min, quantileSorted } from "d3-array";

/** One benchmark case. `S` is the state setup returns. */
export interface BenchCase<S> {
  /** Bench name (`percpu-ref-get-put`). */
  name: string;
  /** Deno.bench group, if compared with a baseline. */
  group?: string;
  /** Whether this is the group's baseline. */
  baseline?: boolean;
  /** Operations per iteration (1,024 unless the case says otherwise). */
  ops: number;
  /** Builds the state (untimed, once). */
  setup(): S;
  /** Untimed work before each iteration (e.g. re-migrating pages). */
  prepare?(s: S): void;
  /** The timed work: exactly `ops` operations. */
  run(s: S): void;
  /** Untimed check after each iteration; throw to fail the case. */
  check?(s: S, iteration: number): void;
  /** Releases the state (untimed, once). */
  teardown?(s: S): void;
  /** Reads the simulated clock of the state (ns), for the simulated-time column. */
  simNow?(s: S): number;
}

/** A distribution summary (d3-array). */
export interface Summary {
  /** Samples. */
  n: number;
  /** Minimum. */
  min: number;
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
  /** Maximum. */
  max: number;
  /** Median absolute deviation. */
  mad: number;
  /** Mean. */
  mean: number;
  /** Standard deviation (0 for n < 2). */
  sd: number;
}

/** Summarises samples with d3-array (quantiles on the sorted copy, MAD around the median). */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError("Cannot summarise: no samples");
  const s = Float64Array.from(samples).sort();
  const med = median(s)!;
  const dev = Float64Array.from(s, (x) => Math.abs(x - med)).sort();
  let sum = 0;
  for (const x of s) sum += x;
  return {
    n: s.length,
    min: min(s)!,
    p50: med,
    p90: quantileSorted(s, 0.9)!,
    p99: quantileSorted(s, 0.99)!,
    max: max(s)!,
    mad: median(dev)!,
    mean: sum / s.length,
    sd: s.length > 1 ? deviation(s)! : 0,
  };
}

/** What {@link runCase} measured. */
export interface CaseResult {
  /** Case name. */
  name: string;
  /** Operations per iteration. */
  ops: number;
  /** Wall time per iteration, ns (host). */
  wallNs: Summary;
  /** Wall time per operation, ns (host), from the per-iteration samples. */
  wallNsPerOp: Summary;
  /** Simulated time per iteration, ns (the cost model), if the case reads a clock. */
  simNs: Summary | null;
  /** Raw wall samples per iteration, ns. */
  samples: number[];
}

/**
 * Runs a case in-process: `warmup` untimed iterations, then `iterations`
 * timed ones. Used by notebooks; `deno bench` uses {@link denoBench}.
 */
export function runCase<S>(
  c: BenchCase<S>,
  opts: { iterations?: number; warmup?: number } = {},
): CaseResult {
  const iterations = opts.iterations ?? 50;
  const warmup = opts.warmup ?? 5;
  if (!(Number.isInteger(iterations) && iterations >= 1)) {
    throw new RangeError(`Cannot run ${c.name}: iterations must be an integer ≥ 1`);
  }
  const s = c.setup();
  const wall: number[] = [];
  const sim: number[] = [];
  try {
    for (let i = 0; i < warmup + iterations; i++) {
      c.prepare?.(s);
      const s0 = c.simNow?.(s) ?? 0;
      const t0 = performance.now();
      c.run(s);
      const t1 = performance.now();
      const s1 = c.simNow?.(s) ?? 0;
      c.check?.(s, i);
      if (i >= warmup) {
        wall.push((t1 - t0) * 1e6);
        sim.push(s1 - s0);
      }
    }
  } finally {
    c.teardown?.(s);
  }
  return {
    name: c.name,
    ops: c.ops,
    wallNs: summarize(wall),
    wallNsPerOp: summarize(wall.map((w) => w / c.ops)),
    simNs: c.simNow ? summarize(sim) : null,
    samples: wall,
  };
}

/** Registers a case with `Deno.bench` (setup on first iteration; teardown at unload). */
export function denoBench<S>(c: BenchCase<S>): void {
  let state: S | undefined;
  let iteration = 0;
  const opts: Deno.BenchDefinition = {
    name: c.name,
    fn(b: Deno.BenchContext) {
      if (state === undefined) {
        state = c.setup();
        globalThis.addEventListener("unload", () => c.teardown?.(state!));
      }
      c.prepare?.(state);
      b.start();
      c.run(state);
      b.end();
      c.check?.(state, iteration++);
    },
  };
  if (c.group !== undefined) opts.group = c.group;
  if (c.baseline !== undefined) opts.baseline = c.baseline;
  Deno.bench(opts);
}
