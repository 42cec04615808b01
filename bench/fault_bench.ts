/**
 * Fault-path benchmarks: `devpriv-cpu-fault` (1,024 CPU faults on
 * device-private pages, each migrating its page back) and
 * `anon-minor-fault` (1,024 anonymous write faults).
 *
 * - `deno bench -A bench/fault_bench.ts`: wall time per iteration (÷ 1,024
 *   for ns per fault).
 * - `FAULT_REPORT=1 deno run -A bench/fault_bench.ts`: the same cases
 *   through the notebooks' harness, printing wall and simulated (cost model)
 *   time per fault side by side.
 *
 * `DEVPRIV_PAGES` sets the device case's buffer (default 2^20 pages = 4 GiB).
 *
 * @module
 */
import { denoBench, runCase } from "../lib/bench/harness.ts";
import { anonMinorFault, devprivCpuFault } from "../lib/bench/cases/fault.ts";

const npages = Number(Deno.env.get("DEVPRIV_PAGES") ?? 2 ** 20);
if (Deno.env.get("FAULT_REPORT") === "1") {
  for (const c of [devprivCpuFault({ npages }), anonMinorFault()] as const) {
    const r = runCase(c as Parameters<typeof runCase>[0], { iterations: 200, warmup: 20 });
    const wall = r.wallNsPerOp.p50;
    const sim = r.simNs!.p50 / r.ops;
    console.log(
      `${r.name}: wall p50 ${wall.toFixed(0)} ns/fault (${(1e3 / wall).toFixed(2)} M faults/s), ` +
        `simulated ${sim.toFixed(0)} ns/fault (cost model)`,
    );
  }
} else {
  denoBench(devprivCpuFault({ npages }));
  denoBench(anonMinorFault());
}
