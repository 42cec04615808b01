/**
 * mm/mmu_notifier.c and include/linux/mmu_notifier.h (v4.20): secondary
 * MMUs (device page tables) learn about CPU page-table changes.
 *
 * - invalidate_range_start(mn, mm, start, end, blockable) runs before the
 *   CPU ptes of [start, end) change; it may return -EAGAIN only when not
 *   blockable (the OOM reaper); every caller in the model is blockable.
 * - invalidate_range_end(mn, mm, start, end) runs after; the
 *   `_only_end` variant skips ->invalidate_range (the caller already
 *   flushed through ptep_clear_flush_notify).
 * - release(mn, mm) runs once from exit_mmap (mmu_notifier_release) before
 *   any page table is torn down, or from mmu_notifier_unregister.
 *
 * The SRCU that orders release against unregister is not modelled: both
 * run atomically. Registration takes a reference on the mm_struct (mmgrab)
 * that unregistration drops.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import type { MmStruct } from "./mm-types.ts";
import { mmdrop, mmgrab } from "./fork.ts";

/** struct mmu_notifier_ops (the callbacks v4.20 drivers use). */
export interface MmuNotifierOps {
  /** ->release. */
  release?: (k: Kernel, mn: MmuNotifier, mm: MmStruct) => void;
  /** ->invalidate_range_start; returns 0, or -EAGAIN when !blockable. */
  invalidate_range_start?: (
    k: Kernel,
    mn: MmuNotifier,
    mm: MmStruct,
    start: number,
    end: number,
    blockable: boolean,
  ) => number;
  /** ->invalidate_range_end. */
  invalidate_range_end?: (
    k: Kernel,
    mn: MmuNotifier,
    mm: MmStruct,
    start: number,
    end: number,
  ) => void;
  /** ->invalidate_range (TLB-shootdown-time callback). */
  invalidate_range?: (k: Kernel, mn: MmuNotifier, mm: MmStruct, start: number, end: number) => void;
}

/** struct mmu_notifier. */
export class MmuNotifier {
  /** Whether it is on an mm's list. */
  linked = false;
  /**
   * Creates a notifier.
   * @param ops its callbacks.
   */
  constructor(public ops: MmuNotifierOps | null) {}
}

function emit(
  k: Kernel,
  op: "register" | "unregister" | "release" | "invalidate_start" | "invalidate_end",
  mm: MmStruct,
  start: number,
  end: number,
): void {
  k.trace.emit({ kind: "mmu_notifier", op, mm: mm.id, start, end });
}

/**
 * __mmu_notifier_register(mn, mm): the caller holds mmap_sem for write.
 * Allocates mm->mmu_notifier_mm on first use, takes a reference on the mm
 * (mmgrab) and adds `mn` at the head of the list. Returns 0.
 */
export function __mmu_notifier_register(k: Kernel, mn: MmuNotifier, mm: MmStruct): number {
  if (mm.mmu_notifier_mm === null) mm.mmu_notifier_mm = { list: [] };
  mmgrab(mm);
  mm.mmu_notifier_mm.list.unshift(mn);
  mn.linked = true;
  if (k.trace.on) emit(k, "register", mm, 0, 0);
  return 0;
}

/** mmu_notifier_register(mn, mm): takes mmap_sem itself (atomic here). */
export function mmu_notifier_register(k: Kernel, mn: MmuNotifier, mm: MmStruct): number {
  return __mmu_notifier_register(k, mn, mm);
}

/**
 * mmu_notifier_unregister(mn, mm): if `mn` is still linked, its ->release
 * runs first; then it is unlinked and the mm reference dropped.
 */
export function mmu_notifier_unregister(k: Kernel, mn: MmuNotifier, mm: MmStruct): void {
  if (mn.linked) {
    mn.ops?.release?.(k, mn, mm);
    unlink(mm, mn);
  }
  if (k.trace.on) emit(k, "unregister", mm, 0, 0);
  mmdrop(k, mm);
}

/** mmu_notifier_unregister_no_release(mn, mm): unlink (if linked) and mmdrop; no ->release. */
export function mmu_notifier_unregister_no_release(k: Kernel, mn: MmuNotifier, mm: MmStruct): void {
  unlink(mm, mn);
  if (k.trace.on) emit(k, "unregister", mm, 0, 0);
  mmdrop(k, mm);
}

function unlink(mm: MmStruct, mn: MmuNotifier): void {
  const l = mm.mmu_notifier_mm?.list;
  if (l !== undefined) {
    const i = l.indexOf(mn);
    if (i >= 0) l.splice(i, 1);
  }
  mn.linked = false;
}

/**
 * mmu_notifier_release(mm) (__mmu_notifier_release): every notifier's
 * ->release, then every notifier is unlinked (a later
 * mmu_notifier_unregister finds nothing to release).
 */
export function mmu_notifier_release(k: Kernel, mm: MmStruct): void {
  const mnm = mm.mmu_notifier_mm;
  if (mnm === null) return;
  if (k.trace.on) emit(k, "release", mm, 0, 0);
  for (const mn of [...mnm.list]) mn.ops?.release?.(k, mn, mm);
  for (const mn of mnm.list) mn.linked = false;
  mnm.list.length = 0;
}

/**
 * __mmu_notifier_invalidate_range_start(mm, start, end, blockable)
 * (mm/mmu_notifier.c): every notifier's ->invalidate_range_start. Returns 0,
 * or -EAGAIN when not `blockable` and a notifier could not proceed.
 */
export function __mmu_notifier_invalidate_range_start(
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
  blockable: boolean,
): number {
  const mnm = mm.mmu_notifier_mm;
  if (mnm === null || mnm.list.length === 0) return 0;
  if (k.trace.on) emit(k, "invalidate_start", mm, start, end);
  let ret = 0;
  const l = mnm.list;
  for (let i = 0; i < l.length; i++) {
    const mn = l[i]!;
    const f = mn.ops?.invalidate_range_start;
    if (f !== undefined) {
      const r = f(k, mn, mm, start, end, blockable);
      if (r !== 0 && !blockable) ret = r;
    }
  }
  return ret;
}

/**
 * mmu_notifier_invalidate_range_start(mm, start, end)
 * (include/linux/mmu_notifier.h, v4.20): every notifier's
 * ->invalidate_range_start, blockable. Returns nothing, as in the kernel.
 */
export function mmu_notifier_invalidate_range_start(
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
): void {
  __mmu_notifier_invalidate_range_start(k, mm, start, end, true);
}

/**
 * mmu_notifier_invalidate_range_start_nonblock(mm, start, end)
 * (include/linux/mmu_notifier.h, v4.20; the OOM reaper's): as
 * mmu_notifier_invalidate_range_start, not blockable. Returns 0 or -EAGAIN.
 */
export function mmu_notifier_invalidate_range_start_nonblock(
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
): number {
  return __mmu_notifier_invalidate_range_start(k, mm, start, end, false);
}

/**
 * __mmu_notifier_invalidate_range_end(mm, start, end, only_end)
 * (mm/mmu_notifier.c): ->invalidate_range (unless `only_end`) then
 * ->invalidate_range_end of every notifier.
 */
export function __mmu_notifier_invalidate_range_end(
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
  only_end: boolean,
): void {
  const mnm = mm.mmu_notifier_mm;
  if (mnm === null || mnm.list.length === 0) return;
  if (k.trace.on) emit(k, "invalidate_end", mm, start, end);
  const l = mnm.list;
  for (let i = 0; i < l.length; i++) {
    const mn = l[i]!;
    if (!only_end) mn.ops?.invalidate_range?.(k, mn, mm, start, end);
    mn.ops?.invalidate_range_end?.(k, mn, mm, start, end);
  }
}

/**
 * mmu_notifier_invalidate_range_end(mm, start, end)
 * (include/linux/mmu_notifier.h, v4.20): ->invalidate_range then
 * ->invalidate_range_end of every notifier.
 */
export function mmu_notifier_invalidate_range_end(
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
): void {
  __mmu_notifier_invalidate_range_end(k, mm, start, end, false);
}

/**
 * mmu_notifier_invalidate_range_only_end(mm, start, end)
 * (include/linux/mmu_notifier.h, v4.20): ->invalidate_range_end only (the
 * caller already flushed through ptep_clear_flush_notify).
 */
export function mmu_notifier_invalidate_range_only_end(
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
): void {
  __mmu_notifier_invalidate_range_end(k, mm, start, end, true);
}

/** mm_has_notifiers(mm). */
export function mm_has_notifiers(mm: MmStruct): boolean {
  return mm.mmu_notifier_mm !== null && mm.mmu_notifier_mm.list.length > 0;
}
