/**
 * The trace-overhead baseline: percpu_ref_get/put exactly as in
 * lib/kernel/percpu-refcount.ts but without their emit lines. Keep the two in
 * step: the difference between `trace-off` and `trace-baseline` is the cost of
 * a disabled emit site.
 *
 * @module
 */
import type { Kernel } from "../lib/kernel/kernel.ts";
import type { PercpuRef } from "../lib/kernel/percpu-refcount.ts";

/** percpu_ref_get without the trace emit. */
export function percpu_ref_get_noemit(k: Kernel, ref: PercpuRef): void {
  if (!ref.atomic && !ref.dead) ref.pcpu![k.cpu]++;
  else ref.count++;
}

/** percpu_ref_put without the trace emit. */
export function percpu_ref_put_noemit(k: Kernel, ref: PercpuRef): void {
  if (!ref.atomic && !ref.dead) {
    ref.pcpu![k.cpu]--;
    return;
  }
  ref.count--;
  if (ref.count === 0 && !ref.bias) ref.release?.(ref);
}
