/**
 * fsdax-fault: 1,024 PTE faults per iteration on a DAX file mapping
 * (lib/bench/cases/fsdax.ts). Target ≥ 10 M faults/s of host time.
 *
 * - `deno bench -A bench/fsdax_bench.ts`: wall time per iteration (÷ 1,024
 *   for ns per fault).
 * - `FAULT_REPORT=1 deno run -A bench/fsdax_bench.ts`: through the
 *   notebooks' harness, host and simulated (cost model) ns per fault side
 *   by side.
 *
 * @module
 */
import { denoBench, runCase } from "../lib/bench/harness.ts";
import { fsdaxFault } from "../lib/bench/cases/fsdax.ts";

if (Deno.env.get("FAULT_REPORT") === "1") {
  const r = runCase(fsdaxFault(), { iterations: 300, warmup: 50 });
  const wall = r.wallNsPerOp.p50;
  const sim = r.simNs!.p50 / r.ops;
  console.log(
    `${r.name}: wall p50 ${wall.toFixed(1)} ns/fault (${(1e3 / wall).toFixed(2)} M faults/s), ` +
      `simulated ${sim.toFixed(0)} ns/fault (cost model)`,
  );
} else {
  denoBench(fsdaxFault());
}
