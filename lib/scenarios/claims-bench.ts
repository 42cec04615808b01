/**
 * The claim of the fault-path benchmark notebook
 * (notebooks/09-fault-path-benchmarks.ipynb), about simulated time only.
 *
 * The notebook runs the cases of lib/bench (the ones `deno bench` runs)
 * through `runCase`, which reports host wall time and simulated time side by
 * side. Host time depends on the machine the notebook runs on, so nothing is
 * asserted about it. Simulated time comes from the cost model
 * (data/cost-models/default.json) and is deterministic, so the claim is about
 * that:
 *
 * 1. every iteration of every case costs the same simulated time;
 * 2. per operation, the device-private CPU fault costs
 *    `devPriv.cpuFaultMigrateBack`, the anonymous fault `cpu.minorFault`, the
 *    fsdax fault `cpu.zeroPageReadFault`, and get_dev_pagemap's slow path
 *    `getDevPagemap.slowWarm` with 1 and with 1,000 pgmaps alike;
 * 3. a GPU far-fault batch costs `gpu.farFaultBatchFixed`, plus
 *    `gpu.perFaultInBatch` and one 4 KiB DMA (`pcie.dmaLatency` plus wire
 *    time) per fault, plus a non-negative remainder (the page-table walks);
 * 4. the paths order get_dev_pagemap < fsdax < anonymous < GPU (per fault,
 *    amortised over the batch) < device-private;
 * 5. memmap bring-up costs `memmap.initPerSection` per 128 MiB section plus
 *    one constant below a section's cost, the same at every size.
 *
 * {@link faultPathCases} and {@link bringUpCase} build the cases; the
 * notebook runs them, and {@link observeBench} reads the simulated columns
 * of the results into a {@link BenchObservation} for {@link claimBench}.
 * {@link runBenchObservation} does all of it with few iterations (tests).
 *
 * @example
 * ```ts ignore
 * import { claimBench, runBenchObservation } from "./claims-bench.ts";
 * claimBench(runBenchObservation());
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { type BenchCase, type CaseResult, runCase } from "../bench/harness.ts";
import { anonMinorFault, devprivCpuFault } from "../bench/cases/fault.ts";
import { fsdaxFault } from "../bench/cases/fsdax.ts";
import {
  getDevPagemapCase,
  memmapRegister1TiB,
  memmapRegister64TiB,
  memmapRegisterCase,
} from "../bench/cases/memremap.ts";
import {
  GPU_BATCH,
  type GpuBatchSimulated,
  gpuFaultBatch,
  gpuFaultBatchSimulated,
} from "../bench/cases/gpu.ts";
import { loadCostModel } from "../sim/cost-model.ts";

const GiB = 2 ** 30;
const TiB = 2 ** 40;
const SECTION = 2 ** 27;

/** The fault-path cases' names, in the notebook's order. */
export const FAULT_PATHS = [
  "devpriv-cpu-fault",
  "gpu-fault-batch",
  "fsdax-fault",
  "get-dev-pagemap-1",
  "get-dev-pagemap-1000",
  "anon-minor-fault",
] as const;

/** A fault-path case's name. */
export type FaultPath = typeof FAULT_PATHS[number];

/** The cost-model parameter a path's simulated ns per operation must equal (GPU: see the claim). */
export const PATH_PARAMETER: Readonly<Record<Exclude<FaultPath, "gpu-fault-batch">, string>> = {
  "devpriv-cpu-fault": "devPriv.cpuFaultMigrateBack",
  "fsdax-fault": "cpu.zeroPageReadFault",
  "get-dev-pagemap-1": "getDevPagemap.slowWarm",
  "get-dev-pagemap-1000": "getDevPagemap.slowWarm",
  "anon-minor-fault": "cpu.minorFault",
};

/**
 * Host-time targets from the issues (per operation; GPU per batch), for the
 * notebook to print beside its measurements. Never asserted.
 */
export const HOST_TARGETS: Readonly<
  Record<FaultPath, { ns: number; says: string; issue: number }>
> = {
  "devpriv-cpu-fault": { ns: 200, says: "≥ 5 M faults/s", issue: 4 },
  "gpu-fault-batch": { ns: 25_000, says: "≤ 25 µs per batch of 256", issue: 5 },
  "fsdax-fault": { ns: 100, says: "≥ 10 M faults/s", issue: 5 },
  "get-dev-pagemap-1": { ns: 15, says: "≤ 15 ns per lookup + put", issue: 3 },
  "get-dev-pagemap-1000": { ns: 15, says: "≤ 15 ns per lookup + put", issue: 3 },
  "anon-minor-fault": { ns: 50, says: "≥ 20 M faults/s", issue: 4 },
};

/** Bring-up host-time targets from issue 3 (per registration). */
export const BRING_UP_TARGETS: Readonly<Record<number, { ns: number; says: string }>> = {
  [TiB]: { ns: 10e6, says: "≤ 10 ms" },
  [64 * TiB]: { ns: 1e9, says: "≤ 1 s" },
};

/** Bring-up sizes: the bounded default, and the full sweep (`MEMREMAP_FULL=1`). */
export const BRING_UP_SIZES: {
  readonly default: readonly number[];
  readonly full: readonly number[];
} = {
  default: [GiB, 16 * GiB, 256 * GiB, TiB],
  full: [GiB, 16 * GiB, 256 * GiB, TiB, 4 * TiB, 16 * TiB, 64 * TiB],
};

/** A size as the cases name it: "1GiB", "256GiB", "1TiB", "64TiB". */
export function sizeLabel(bytes: number): string {
  return bytes >= TiB ? `${bytes / TiB}TiB` : `${bytes / GiB}GiB`;
}

/**
 * The fault-path cases, in {@link FAULT_PATHS} order: lib/bench's own
 * factories with their defaults, except `devprivPages` (the device case's
 * buffer; its default is the bench's 2^20 pages).
 */
export function faultPathCases(opts: { devprivPages?: number } = {}): BenchCase<unknown>[] {
  const cases = [
    devprivCpuFault(opts.devprivPages === undefined ? {} : { npages: opts.devprivPages }),
    gpuFaultBatch(),
    fsdaxFault(),
    getDevPagemapCase(1),
    getDevPagemapCase(1000),
    anonMinorFault(),
  ];
  return cases as unknown as BenchCase<unknown>[];
}

/**
 * The memmap bring-up case for `bytes`: one devm_memremap_pages of an fsdax
 * range per iteration. 1 TiB and 64 TiB are the bench's own
 * `memmap-register-1TiB` and `memmap-register-64TiB`; other sizes up to
 * 16 TiB use the same 4-level "ram-4g" machine and start (1 TiB), 64 TiB the
 * 5-level "bench-64t" machine at 64 TiB.
 */
export function bringUpCase(bytes: number): BenchCase<unknown> {
  if (!(bytes >= SECTION && bytes % SECTION === 0 && bytes <= 64 * TiB)) {
    throw new RangeError(
      `Cannot bring up ${bytes} bytes: a whole number of 128 MiB sections up to 64 TiB`,
    );
  }
  if (bytes > 16 * TiB && bytes !== 64 * TiB) {
    throw new RangeError(`Cannot bring up ${sizeLabel(bytes)}: above 16 TiB only 64 TiB is set up`);
  }
  const c = bytes === TiB
    ? memmapRegister1TiB()
    : bytes === 64 * TiB
    ? memmapRegister64TiB()
    : memmapRegisterCase(sizeLabel(bytes), "ram-4g", TiB, bytes);
  return c as unknown as BenchCase<unknown>;
}

/** One bring-up measurement: the size and runCase's result. */
export interface BringUpResult {
  /** Bytes registered. */
  bytes: number;
  /** What runCase measured. */
  result: CaseResult;
}

/** The simulated side of the results, which {@link claimBench} reads. */
export interface BenchObservation {
  /** The cost-model parameters the claim compares with (default model). */
  cost: Record<string, number>;
  /** Per fault path: operations per iteration and the simulated ns per iteration (min, max). */
  paths: Record<string, { ops: number; simMin: number; simMax: number }>;
  /** The GPU batch split into the cost model's parts (gpuFaultBatchSimulated at Gen4). */
  gpu: GpuBatchSimulated;
  /** Per bring-up size, ascending: sections and simulated ns per registration (min, max). */
  bringUp: { bytes: number; sections: number; simMin: number; simMax: number }[];
}

const PARAMETERS = [
  "devPriv.cpuFaultMigrateBack",
  "cpu.minorFault",
  "cpu.zeroPageReadFault",
  "getDevPagemap.slowWarm",
  "gpu.farFaultBatchFixed",
  "gpu.perFaultInBatch",
  "pcie.dmaLatency",
  "pcie.rawBW.gen4",
  "pcie.efficiency.mps256",
  "memmap.initPerSection",
];

/**
 * Reads the simulated columns of fault-path and bring-up results (and the
 * GPU batch's parts; default: gpuFaultBatchSimulated(4)) into an observation.
 */
export function observeBench(
  results: readonly CaseResult[],
  bringUp: readonly BringUpResult[],
  gpu: GpuBatchSimulated = gpuFaultBatchSimulated(4),
): BenchObservation {
  const model = loadCostModel();
  const sim = (r: CaseResult) => {
    if (r.simNs === null) throw new Error(`Cannot observe ${r.name}: it reads no simulated clock`);
    return { simMin: r.simNs.min, simMax: r.simNs.max };
  };
  return {
    cost: Object.fromEntries(PARAMETERS.map((p) => [p, model.get(p)])),
    paths: Object.fromEntries(results.map((r) => [r.name, { ops: r.ops, ...sim(r) }])),
    gpu,
    bringUp: bringUp.map((b) => ({
      bytes: b.bytes,
      sections: b.bytes / SECTION,
      ...sim(b.result),
    })),
  };
}

/**
 * Runs every fault path and the default bring-up sizes with `iterations`
 * (default 2) and returns the observation: what the tests check.
 */
export function runBenchObservation(
  opts: { iterations?: number; devprivPages?: number } = {},
): BenchObservation {
  const run = { iterations: opts.iterations ?? 2, warmup: 1 };
  const results = faultPathCases({ devprivPages: opts.devprivPages ?? 1 << 12 })
    .map((c) => runCase(c, run));
  const bringUp = BRING_UP_SIZES.default.map((bytes) => ({
    bytes,
    result: runCase(bringUpCase(bytes), run),
  }));
  return observeBench(results, bringUp);
}

/** Asserts the benchmark claim (module doc) about `o`'s simulated time; an AssertionError if any part fails. */
export function claimBench(o: BenchObservation): void {
  const c = o.cost;
  assert.deepEqual(Object.keys(o.paths).sort(), [...FAULT_PATHS].sort(), "every fault path ran");
  const perOp: Record<string, number> = {};
  for (const [name, p] of Object.entries(o.paths)) {
    assert.equal(p.simMin, p.simMax, `${name}: every iteration costs the same simulated time`);
    perOp[name] = p.simMin / p.ops;
  }
  for (const [name, param] of Object.entries(PATH_PARAMETER)) {
    assert.equal(perOp[name], c[param], `${name}: simulated ns per operation = ${param}`);
  }

  // the GPU batch: the measured batch is the split one, and the split is the cost model's
  const g = o.gpu;
  assert.equal(o.paths["gpu-fault-batch"]!.ops, GPU_BATCH);
  assert.equal(
    o.paths["gpu-fault-batch"]!.simMin,
    g.totalNs,
    "the measured batch is the split one",
  );
  assert.equal(g.gen, 4, "the split is at the bench's Gen4");
  assert.equal(g.fixedNs, c["gpu.farFaultBatchFixed"], "one gpu.farFaultBatchFixed per batch");
  assert.equal(
    g.perFaultNs,
    GPU_BATCH * c["gpu.perFaultInBatch"]!,
    "gpu.perFaultInBatch per fault",
  );
  const wire = 4096 / (c["pcie.rawBW.gen4"]! * c["pcie.efficiency.mps256"]!);
  assert.ok(Math.abs(g.dma4KiBNs - (c["pcie.dmaLatency"]! + wire)) <= 1, "a 4 KiB DMA at Gen4");
  assert.equal(g.copyNs, GPU_BATCH * g.dma4KiBNs, "one 4 KiB DMA per fault");
  assert.ok(g.otherNs >= 0, "the remainder is not negative");
  assert.equal(g.totalNs, g.fixedNs + g.perFaultNs + g.copyNs + g.otherNs, "the parts add up");

  // the order of the paths
  const order = [
    "get-dev-pagemap-1",
    "fsdax-fault",
    "anon-minor-fault",
    "gpu-fault-batch",
    "devpriv-cpu-fault",
  ];
  for (let i = 1; i < order.length; i++) {
    assert.ok(
      perOp[order[i - 1]!]! < perOp[order[i]!]!,
      `${order[i - 1]} must cost less simulated time per operation than ${order[i]}`,
    );
  }

  // bring-up: a fixed cost per section, and one constant
  assert.ok(o.bringUp.length >= 2, "at least two bring-up sizes");
  const constant = o.bringUp[0]!.simMin - o.bringUp[0]!.sections * c["memmap.initPerSection"]!;
  assert.ok(
    constant >= 0 && constant < c["memmap.initPerSection"]!,
    "the constant is below a section",
  );
  for (let i = 0; i < o.bringUp.length; i++) {
    const b = o.bringUp[i]!;
    assert.equal(b.sections * SECTION, b.bytes, `${sizeLabel(b.bytes)}: whole sections`);
    if (i > 0) assert.ok(b.bytes > o.bringUp[i - 1]!.bytes, "sizes ascend");
    assert.equal(b.simMin, b.simMax, `${sizeLabel(b.bytes)}: every registration costs the same`);
    assert.equal(
      b.simMin,
      b.sections * c["memmap.initPerSection"]! + constant,
      `${sizeLabel(b.bytes)}: memmap.initPerSection per section plus the constant`,
    );
  }
}
