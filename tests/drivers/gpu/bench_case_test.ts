import { assert, assertEquals } from "@std/assert";
import { runCase } from "../../../lib/bench/harness.ts";
import { GPU_BATCH, gpuFaultBatch, gpuFaultBatchSimulated } from "../../../lib/bench/cases/gpu.ts";

Deno.test("bench case gpu-fault-batch: one batch of 256 faults per iteration, every page checked in VRAM", () => {
  const r = runCase(gpuFaultBatch(), { iterations: 4, warmup: 1 });
  assertEquals(r.ops, GPU_BATCH);
  assertEquals(r.simNs!.min, r.simNs!.max, "every batch costs the same simulated time");
  assert(r.wallNs.p50 > 0);
});

Deno.test("bench case gpu-fault-batch: simulated time at Gen3/4/5 is the perf-anchors §8 composite", () => {
  const [g3, g4, g5] = ([3, 4, 5] as const).map(gpuFaultBatchSimulated);
  for (const s of [g3!, g4!, g5!]) {
    assertEquals([s.fixedNs, s.perFaultNs], [45_000, 256 * 300]);
    assertEquals(
      s.otherNs,
      300,
      `Gen${s.gen}: one software page-table walk (one migrate_vma call)`,
    );
    assertEquals(s.totalNs, s.fixedNs + s.perFaultNs + s.copyNs + s.otherNs);
  }
  assertEquals([g3!.dma4KiBNs, g4!.dma4KiBNs, g5!.dma4KiBNs], [1286, 1143, 1071]);
  // "≈ 0.41 ms at Gen4 for 4 KiB migrations"
  assert(Math.abs(g4!.totalNs - 410_000) < 10_000, `${g4!.totalNs}`);
  assert(g3!.totalNs > g4!.totalNs && g4!.totalNs > g5!.totalNs);
});
