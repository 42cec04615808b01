import { assert, assertEquals } from "@std/assert";
import { runCase } from "../../../lib/bench/harness.ts";
import { anonMinorFault, devprivCpuFault, FAULT_OPS } from "../../../lib/bench/cases/fault.ts";

Deno.test("bench case devpriv-cpu-fault: 1,024 device-private faults per iteration, all checked", () => {
  const c = devprivCpuFault({ npages: 8192 });
  const r = runCase(c, { iterations: 5, warmup: 1 });
  assertEquals(r.ops, FAULT_OPS);
  // the cost model: exactly devPriv.cpuFaultMigrateBack per fault
  assertEquals(r.simNs!.p50, FAULT_OPS * 5000);
  assert(r.wallNs.p50 > 0);
});

Deno.test("bench case anon-minor-fault: 1,024 anonymous write faults per iteration", () => {
  const r = runCase(anonMinorFault(), { iterations: 5, warmup: 1 });
  assertEquals(r.simNs!.p50, FAULT_OPS * 1100);
});
