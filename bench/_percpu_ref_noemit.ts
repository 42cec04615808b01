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

function pcpuAdd(ref: PercpuRef, cpu: number, n: number): void {
  const p = ref.counters;
  const i = ref.base + cpu;
  const v = p[i]! + n;
  if (v > 0x7fffffff || v < -0x80000000) {
    ref.spill += v;
    p[i] = 0;
  } else p[i] = v;
}

/** percpu_ref_get without the trace emit. */
export function percpu_ref_get_noemit(k: Kernel, ref: PercpuRef): void {
  if (!ref.atomic && !ref.dead) pcpuAdd(ref, k.cpu, 1);
  else ref.count++;
}

/** percpu_ref_put without the trace emit. */
export function percpu_ref_put_noemit(k: Kernel, ref: PercpuRef): void {
  if (!ref.atomic && !ref.dead) {
    pcpuAdd(ref, k.cpu, -1);
    return;
  }
  ref.count--;
  if (ref.count === 0 && !ref.bias) ref.release?.(ref);
}
