/**
 * GPU far-fault benchmark (lib/bench/cases/gpu.ts): `gpu-fault-batch`, one
 * device fault batch of 256 faults per iteration (fetch, de-duplicate,
 * migrate to VRAM with migrate_vma, map on the GPU).
 *
 * - `deno bench -A bench/gpu_bench.ts`: host time per batch.
 * - `GPU_REPORT=1 deno run -A bench/gpu_bench.ts`: host time per batch
 *   through the notebooks' harness, then the simulated time of the same
 *   batch at Gen3, Gen4 and Gen5 beside the cost-model parts it is made of.
 *
 * @module
 */
import { denoBench, runCase } from "../lib/bench/harness.ts";
import { GPU_BATCH, gpuFaultBatch, gpuFaultBatchSimulated } from "../lib/bench/cases/gpu.ts";

if (Deno.env.get("GPU_REPORT") === "1") {
  const r = runCase(gpuFaultBatch(), { iterations: 500, warmup: 50 });
  const us = (ns: number) => (ns / 1000).toFixed(1);
  console.log(
    `${r.name}: host avg ${us(r.wallNs.mean)} µs, p50 ${us(r.wallNs.p50)} µs, p90 ${
      us(r.wallNs.p90)
    } µs per batch of ${GPU_BATCH} faults (${r.wallNsPerOp.p50.toFixed(0)} ns/fault)`,
  );
  for (const gen of [3, 4, 5] as const) {
    const s = gpuFaultBatchSimulated(gen);
    console.log(
      `Gen${gen} x16: simulated ${us(s.totalNs)} µs = gpu.farFaultBatchFixed ${us(s.fixedNs)} + ` +
        `${GPU_BATCH} × gpu.perFaultInBatch ${us(s.perFaultNs)} + ${GPU_BATCH} × 4 KiB DMA ` +
        `(pcie.dmaLatency + wire at pcie.rawBW.gen${gen} × pcie.efficiency.mps256 = ${s.dma4KiBNs} ns each) ` +
        `${us(s.copyNs)} + walks ${us(s.otherNs)} µs`,
    );
  }
} else {
  denoBench(gpuFaultBatch());
}
