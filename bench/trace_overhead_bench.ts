/**
 * Group `trace-overhead`: `trace-off` runs the real percpu_ref_get/put, whose
 * emit sites execute with tracing off; `trace-baseline` runs a copy of the two
 * functions without their emit lines (bench/_percpu_ref_noemit.ts), in an
 * otherwise identical loop. Target: (trace-off − baseline) / 1,024 ≤ 1 ns and
 * ≤ 5 %. A loop over a bare emit call would not count: V8 hoists the check.
 *
 * Both loops are warmed up together before either is measured: otherwise
 * whichever case Deno.bench runs second pays for the JIT feedback the first
 * left behind (about 0.6 µs per iteration either way round).
 */
import { denoBench } from "../lib/bench/harness.ts";
import { percpuRefGetPut, REF_OPS, type RefBenchState } from "../lib/bench/cases/percpu-ref.ts";
import { percpu_ref_get_noemit, percpu_ref_put_noemit } from "./_percpu_ref_noemit.ts";

const traceOff = percpuRefGetPut("trace-off", "trace-overhead");
const base = percpuRefGetPut("trace-baseline", "trace-overhead");
const baseline = {
  ...base,
  baseline: true,
  run(s: RefBenchState) {
    const k = s.k, ref = s.ref;
    for (let i = 0; i < REF_OPS; i++) {
      percpu_ref_get_noemit(k, ref);
      percpu_ref_put_noemit(k, ref);
    }
  },
};
{
  const a = traceOff.setup(), b = baseline.setup();
  for (let i = 0; i < 20_000; i++) {
    traceOff.run(a);
    baseline.run(b);
  }
}
denoBench(baseline);
denoBench(traceOff);
