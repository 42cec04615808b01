/**
 * `deno task demo`: prints the percpu_ref demonstration's trace.
 */
import { percpuRefDemo } from "../lib/scenarios/percpu-ref-demo.ts";

const d = percpuRefDemo();
console.log(
  "percpu_ref on two simulated CPUs: get/put in percpu mode, kill, grace period, release\n",
);
for (const l of d.lines) console.log(l);
console.log(
  `\nkilled at ${d.killedAt} ns, released at ${d.releasedAt} ns (one RCU grace period later), release ran ${d.released} time(s)`,
);
