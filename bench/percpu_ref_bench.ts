/**
 * `percpu-ref-get-put`: 1,024 get+put pairs per iteration in percpu mode,
 * tracing off; target ≤ 10 ns per pair. (The trace-overhead group lives in
 * trace_overhead_bench.ts, in its own isolate, so that JIT feedback from this
 * case cannot tilt the comparison.)
 */
import { denoBench } from "../lib/bench/harness.ts";
import { percpuRefGetPut } from "../lib/bench/cases/percpu-ref.ts";

denoBench(percpuRefGetPut());
