/**
 * KASAN zero shadow for hot-added ranges (mm/kasan/kasan_init.c, v4.20).
 * Without CONFIG_KASAN (the default; MmConfig.kasan) both calls are the
 * header's empty inlines. With it, the shadow ranges are recorded per kernel
 * (MmState.kasan) so a test can see one left behind.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EINVAL, ENOMEM } from "../errno.ts";
import { WARN_ON } from "../printk.ts";
import { PAGE_SIZE } from "./constants.ts";
import { __pa } from "./init-64.ts";
import { MM } from "./mmzone.ts";

/** KASAN_SHADOW_SCALE_SIZE * PAGE_SIZE: the alignment both calls require. */
const KASAN_ALIGN = 8 * PAGE_SIZE;

/**
 * kasan_add_zero_shadow(start, size): maps the zero shadow for the direct-map
 * range at `start` (a __va address). 0, or -EINVAL (WARN) when start or size
 * is not 32 KiB aligned, or -ENOMEM when a shadow page table cannot be
 * allocated (fault point "kasan_add_zero_shadow"; the kernel's cleanup call
 * on that path passes the shadow address where the memory address belongs,
 * so it removes nothing — the model records nothing either).
 */
export function kasan_add_zero_shadow(k: Kernel, start: bigint, size: number): number {
  const mm = k.state(MM);
  if (!mm.kasanEnabled) return 0;
  const phys = __pa(k, start);
  if (WARN_ON(k, phys % KASAN_ALIGN !== 0) || WARN_ON(k, size % KASAN_ALIGN !== 0)) {
    return -EINVAL;
  }
  let ret = 0;
  if (k.faults.shouldFail("kasan_add_zero_shadow")) ret = -ENOMEM;
  else mm.kasan.push({ start: phys, size });
  if (k.trace.on) k.trace.emit({ kind: "hotplug", op: "kasan_add", start: phys, size, ret });
  return ret;
}

/** kasan_remove_zero_shadow(start, size): unmaps the zero shadow of the range (WARN if misaligned). */
export function kasan_remove_zero_shadow(k: Kernel, start: bigint, size: number): void {
  const mm = k.state(MM);
  if (!mm.kasanEnabled) return;
  const phys = __pa(k, start);
  if (WARN_ON(k, phys % KASAN_ALIGN !== 0) || WARN_ON(k, size % KASAN_ALIGN !== 0)) return;
  const end = phys + size;
  const out = [];
  for (const r of mm.kasan) {
    const rEnd = r.start + r.size;
    if (rEnd <= phys || r.start >= end) out.push(r);
    else {
      if (r.start < phys) out.push({ start: r.start, size: phys - r.start });
      if (rEnd > end) out.push({ start: end, size: rEnd - end });
    }
  }
  mm.kasan = out;
  if (k.trace.on) k.trace.emit({ kind: "hotplug", op: "kasan_remove", start: phys, size, ret: 0 });
}
