/**
 * The benchmark claim (lib/scenarios/claims-bench.ts), about simulated time
 * only: it holds for real runs of every fault path and bring-up size, and
 * throws an AssertionError when the observation is altered — an iteration
 * that costs more, two paths' costs swapped, a cost parameter changed, the
 * GPU batch's parts not adding up, a bring-up size off the per-section line
 * or out of order — so no part of it passes vacuously.
 */
import { assertEquals, AssertionError, assertThrows } from "@std/assert";
import {
  type BenchObservation,
  bringUpCase,
  claimBench,
  FAULT_PATHS,
  faultPathCases,
  runBenchObservation,
  sizeLabel,
} from "../../lib/scenarios/claims-bench.ts";

const o = runBenchObservation();

Deno.test("claimBench: holds for a run of every case", () => {
  claimBench(o);
});

Deno.test("runBenchObservation: the same simulated numbers every time", () => {
  assertEquals(runBenchObservation({ iterations: 1 }), { ...o });
});

Deno.test("faultPathCases and bringUpCase: the bench's cases", () => {
  assertEquals(faultPathCases().map((c) => c.name), [...FAULT_PATHS]);
  assertEquals(
    [2 ** 30, 2 ** 40, 16 * 2 ** 40, 64 * 2 ** 40].map((b) => bringUpCase(b).name),
    [
      "memmap-register-1GiB",
      "memmap-register-1TiB",
      "memmap-register-16TiB",
      "memmap-register-64TiB",
    ],
  );
  assertEquals(sizeLabel(256 * 2 ** 30), "256GiB");
  assertThrows(() => bringUpCase(2 ** 20), RangeError);
  assertThrows(() => bringUpCase(32 * 2 ** 40), RangeError);
});

const clone = (): BenchObservation => structuredClone(o);

Deno.test("claimBench: fails on altered observations", () => {
  const swapSim = (x: BenchObservation, a: string, b: string) => {
    const pa = x.paths[a]!, pb = x.paths[b]!;
    [pa.simMin, pa.simMax, pb.simMin, pb.simMax] = [pb.simMin, pb.simMax, pa.simMin, pa.simMax];
  };
  const cases: Array<[string, (x: BenchObservation) => void]> = [
    ["one iteration costs 1 ns more", (x) => x.paths["anon-minor-fault"]!.simMax += 1],
    ["devpriv ↔ anon", (x) => swapSim(x, "devpriv-cpu-fault", "anon-minor-fault")],
    ["fsdax ↔ get_dev_pagemap", (x) => swapSim(x, "fsdax-fault", "get-dev-pagemap-1")],
    ["1 ↔ 1,000 pgmaps costs differ", (x) => {
      x.paths["get-dev-pagemap-1000"]!.simMin += 1024;
      x.paths["get-dev-pagemap-1000"]!.simMax += 1024;
    }],
    ["a path missing", (x) => delete x.paths["fsdax-fault"]],
    ["cpu.minorFault changed", (x) => x.cost["cpu.minorFault"]! += 1],
    ["devPriv parameter changed", (x) => x.cost["devPriv.cpuFaultMigrateBack"] = 6000],
    ["GPU batch ≠ its split", (x) => x.gpu.totalNs += 1],
    ["GPU fixed cost ≠ parameter", (x) => {
      x.gpu.fixedNs += 100;
      x.gpu.otherNs -= 100;
    }],
    ["GPU copies at another generation", (x) => {
      x.gpu.dma4KiBNs = 1286;
      x.gpu.copyNs = 256 * 1286;
    }],
    ["GPU remainder negative", (x) => {
      x.gpu.otherNs -= 1000;
      x.gpu.totalNs -= 1000;
      x.paths["gpu-fault-batch"]!.simMin -= 1000;
      x.paths["gpu-fault-batch"]!.simMax -= 1000;
    }],
    ["GPU per fault above devpriv (consistent otherwise)", (x) => {
      x.cost["devPriv.cpuFaultMigrateBack"] = 1500;
      x.paths["devpriv-cpu-fault"]!.simMin = 1500 * 1024;
      x.paths["devpriv-cpu-fault"]!.simMax = 1500 * 1024;
    }],
    ["bring-up sizes out of order", (x) => x.bringUp.reverse()],
    ["bring-up off the line", (x) => {
      x.bringUp[2]!.simMin += 330000;
      x.bringUp[2]!.simMax += 330000;
    }],
    ["bring-up sections ≠ bytes", (x) => x.bringUp[1]!.sections += 1],
    ["bring-up with one size", (x) => x.bringUp.splice(1)],
    ["memmap.initPerSection changed", (x) => x.cost["memmap.initPerSection"]! -= 1],
  ];
  for (const [what, alter] of cases) {
    const x = clone();
    alter(x);
    assertThrows(() => claimBench(x), AssertionError, undefined, what);
  }
});
