/**
 * percpu_ref benchmarks: `percpu-ref-get-put` (target ≤ 10 ns per get+put)
 * and the trace-overhead group (target: (trace-off − baseline) / 1,024 ≤ 1 ns
 * and ≤ 5 %). Every iteration performs exactly 1,024 get+put pairs.
 */
import { denoBench } from "../lib/bench/harness.ts";
import { percpuRefGetPut, REF_OPS, type RefBenchState } from "../lib/bench/cases/percpu-ref.ts";
import { percpu_ref_get_noemit, percpu_ref_put_noemit } from "./_percpu_ref_noemit.ts";

denoBench(percpuRefGetPut());
denoBench(percpuRefGetPut("trace-off", "trace-overhead"));
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
