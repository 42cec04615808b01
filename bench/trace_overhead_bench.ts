/**
 * Group `trace-overhead`: `trace-off` runs the real percpu_ref_get/put, whose
 * emit sites execute with tracing off; `trace-baseline` runs a copy of the two
 * functions without their emit lines (bench/_percpu_ref_noemit.ts), in an
 * otherwise identical loop. Target: (trace-off − baseline) / 1,024 ≤ 1 ns and
 * ≤ 5 %. A loop over a bare emit call would not count: V8 hoists the check.
 */
import { denoBench } from "../lib/bench/harness.ts";
import { percpuRefGetPut, REF_OPS, type RefBenchState } from "../lib/bench/cases/percpu-ref.ts";
import { percpu_ref_get_noemit, percpu_ref_put_noemit } from "./_percpu_ref_noemit.ts";

const base = percpuRefGetPut("trace-baseline", "trace-overhead");
denoBench({
  ...base,
  baseline: true,
  run(s: RefBenchState) {
    const k = s.k, ref = s.ref;
    for (let i = 0; i < REF_OPS; i++) {
      percpu_ref_get_noemit(k, ref);
      percpu_ref_put_noemit(k, ref);
    }
  },
});
denoBench(percpuRefGetPut("trace-off", "trace-overhead"));
