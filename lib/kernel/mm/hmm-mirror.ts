/**
 * The mirror half of mm/hmm.c and include/linux/hmm.h as in v4.20 (the same
 * in v5.0; the range API and the refcounted struct hmm are v5.2 and are not
 * modelled): a device driver mirrors a process's address space in its own
 * page table.
 *
 * - hmm_mirror_register(mirror, mm) (EXPORT_SYMBOL; mmap_sem held for
 *   write): the first one creates mm->hmm and registers HMM's mmu
 *   notifier. Several mirrors (devices) can share one mm; the newest is
 *   first on the list.
 * - Every CPU page-table change the mmu notifier reports reaches every
 *   mirror as sync_cpu_device_pagetables(mirror, update) with
 *   update = { start, end, event: HMM_UPDATE_INVALIDATE, blockable }, at
 *   invalidate_range_start (before the CPU ptes change). The same start
 *   invalidates every tracked range that overlaps: valid = false and the
 *   overlapping pfns are zeroed.
 * - hmm_vma_get_pfns(range) snapshots the CPU page table; hmm_vma_fault(range,
 *   block) also faults what the driver asked for; both track the range until
 *   hmm_vma_range_done(range), which returns false if the range was
 *   invalidated in between (the driver must not use the pfns then).
 * - Entries are built from the driver's own flags and values:
 *   `pfn << pfn_shift | flags[VALID] (| flags[WRITE]) (| flags[DEVICE_PRIVATE])`,
 *   or values[NONE] / values[ERROR] / values[SPECIAL]. A device-private page
 *   is faulted back only if the driver's request for that entry has
 *   flags[DEVICE_PRIVATE]; otherwise it is reported VALID|DEVICE_PRIVATE.
 * - Refused VMAs: hugetlb, VM_SPECIAL (VM_IO, VM_DONTEXPAND, VM_PFNMAP,
 *   VM_MIXEDMAP) and DAX → every entry SPECIAL, -EINVAL; no VM_READ →
 *   every entry NONE, -EPERM; a range not inside the VMA → -EINVAL.
 * - At exit, HMM's notifier ->release calls each mirror's ops->release
 *   (and takes it off the list) before any page table is torn down.
 *
 * Quirks of the v4.20 code that the model keeps: hmm_vma_get_pfns creates
 * mm->hmm (and registers the notifier) even when no mirror was registered,
 * so the "Caller must have registered a mirror" check never fires;
 * hmm_vma_fault, finding an entry to fault, faults every remaining address
 * of that page-table page with the same read/write decision (a device page
 * there is migrated back even if its own entry did not ask for it); and an
 * entry is set to values[NONE] before it is faulted, so the walk that
 * follows a fault no longer sees that entry's request — each entry is
 * faulted at most once per call, and a write request on a VMA without
 * VM_WRITE ends with a read-only VALID entry rather than looping.
 *
 * Costs: one software page-table walk (cpu.ptWalkSoftware) per walk pass,
 * plus whatever the faults it takes cost.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../kernel.ts";
import { vma_is_dax } from "./devmap-mm.ts";
import { EAGAIN, EBUSY, EFAULT, EINVAL, ENOMEM, EPERM } from "../errno.ts";
import { chargeWalk, handle_mm_fault } from "./memory.ts";
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  is_vm_hugetlb_page,
  type MmStruct,
  VM_FAULT_ERROR,
  VM_FAULT_RETRY,
  VM_HUGETLB,
  VM_READ,
  VM_SPECIAL,
  type VmAreaStruct,
} from "./mm-types.ts";
import { lock_page } from "./page-ext.ts";
import { alloc_page } from "./ram-alloc.ts";
import {
  __mmu_notifier_register,
  mmu_notifier_unregister_no_release,
  MmuNotifier,
  type MmuNotifierOps,
} from "./mmu-notifier.ts";
import {
  device_private_entry_to_page,
  is_device_private_entry,
  is_migration_entry,
  is_write_device_private_entry,
  non_swap_entry,
  orBits,
  pmd_addr_end,
  pte_index,
  pte_pfn,
  pte_present,
  pte_protnone,
  pte_to_swp_entry,
  pte_write,
  PteTable,
} from "./pgtable.ts";

/** enum hmm_pfn_flag_e: HMM_PFN_VALID. */
export const HMM_PFN_VALID = 0;
/** HMM_PFN_WRITE. */
export const HMM_PFN_WRITE = 1;
/** HMM_PFN_DEVICE_PRIVATE. */
export const HMM_PFN_DEVICE_PRIVATE = 2;
/** HMM_PFN_FLAG_MAX. */
export const HMM_PFN_FLAG_MAX = 3;
/** enum hmm_pfn_value_e: HMM_PFN_ERROR. */
export const HMM_PFN_ERROR = 0;
/** HMM_PFN_NONE. */
export const HMM_PFN_NONE = 1;
/** HMM_PFN_SPECIAL. */
export const HMM_PFN_SPECIAL = 2;
/** HMM_PFN_VALUE_MAX. */
export const HMM_PFN_VALUE_MAX = 3;
/** enum hmm_update_event: the only event of v4.20. */
export const HMM_UPDATE_INVALIDATE = 0;

/** struct hmm_update. */
export interface HmmUpdate {
  /** Start of the range (inclusive). */
  readonly start: number;
  /** End (exclusive). */
  readonly end: number;
  /** HMM_UPDATE_INVALIDATE. */
  readonly event: number;
  /** Whether the callback may block. */
  readonly blockable: boolean;
}

/** struct hmm_mirror_ops. */
export interface HmmMirrorOps {
  /** ->release(mirror): the mm is going away (exit). Optional. */
  release?(k: Kernel, mirror: HmmMirror): void;
  /** ->sync_cpu_device_pagetables(mirror, update): update the device table; 0, or -EAGAIN if !blockable. */
  sync_cpu_device_pagetables(k: Kernel, mirror: HmmMirror, update: HmmUpdate): number;
}

/** struct hmm_mirror (embedded in the driver's per-process object). */
export class HmmMirror {
  /** mirror->hmm (set by register, cleared by unregister; exit's release does not clear it). */
  hmm: Hmm | null = null;
  /** Whether it is on its hmm's mirror list. */
  listed = false;
  /**
   * Creates an unregistered mirror.
   * @param ops the driver's callbacks.
   */
  constructor(public ops: HmmMirrorOps | null) {}
}

/** struct hmm_range. */
export class HmmRange {
  /** The VMA. */
  vma: VmAreaStruct;
  /** Start (inclusive). */
  start: number;
  /** End (exclusive). */
  end: number;
  /** One entry per page (uint64_t in the kernel). */
  pfns: Float64Array;
  /** The driver's flag bits, indexed by HMM_PFN_VALID/WRITE/DEVICE_PRIVATE. */
  flags: readonly number[];
  /** The driver's special values, indexed by HMM_PFN_ERROR/NONE/SPECIAL. */
  values: readonly number[];
  /** pfn_shift. */
  pfn_shift: number;
  /** Unchanged since filled? */
  valid = false;
  /** On hmm->ranges. */
  listed = false;
  /**
   * Describes a range.
   * @param vma the VMA.
   * @param start first address.
   * @param end end address.
   * @param pfns the entries (length ≥ (end - start) / 4096).
   * @param flags flags[HMM_PFN_*].
   * @param values values[HMM_PFN_*].
   * @param pfn_shift where the pfn starts in an entry.
   */
  constructor(
    vma: VmAreaStruct,
    start: number,
    end: number,
    pfns: Float64Array,
    flags: readonly number[],
    values: readonly number[],
    pfn_shift: number,
  ) {
    this.vma = vma;
    this.start = start;
    this.end = end;
    this.pfns = pfns;
    this.flags = flags;
    this.values = values;
    this.pfn_shift = pfn_shift;
  }
}

/** struct hmm: per mm. */
export class Hmm {
  /** hmm->mm (cleared by hmm_mirror_unregister). */
  mm: MmStruct | null;
  /** Ranges being snapshotted. */
  readonly ranges: HmmRange[] = [];
  /** Mirrors, newest first (list_add). */
  readonly mirrors: HmmMirror[] = [];
  /** The embedded mmu notifier. */
  readonly mmu_notifier: MmuNotifier;
  /** kfree'd (by hmm_mirror_unregister or by the mm's final mmdrop). */
  freed = false;
  /**
   * Creates the struct (hmm_register).
   * @param mm the mm.
   */
  constructor(mm: MmStruct) {
    this.mm = mm;
    this.mmu_notifier = new MmuNotifier(null);
  }
}

/** HMM mirror globals: what the model records about use of freed memory. */
export interface HmmMirrorState {
  /** Accesses to a freed struct hmm or mm_struct (the 2018 unregister-after-exit hazard), in order. */
  readonly useAfterFree: string[];
}

/** Per-kernel mirror state. */
export const HMM_MIRROR: SubsystemKey<HmmMirrorState> = {
  name: "hmm-mirror",
  create: () => ({ useAfterFree: [] }),
};

function emit(
  k: Kernel,
  op: import("../events.ts").HmmMirrorEvent["op"],
  mm: MmStruct | null,
  start: number,
  end: number,
  ret: number,
): void {
  k.trace.emit({ kind: "hmm_mirror", op, mm: mm?.id ?? 0, start, end, ret });
}

function noteFreed(k: Kernel, hmm: Hmm, where: string): void {
  if (!hmm.freed) return;
  if (hmm.freed) k.state(HMM_MIRROR).useAfterFree.push(`${where}: struct hmm used after kfree`);
}

/**
 * hmm_invalidate_range(hmm, device, update): every tracked range that
 * overlaps becomes invalid and its overlapping pfns are zeroed; then, if
 * `device`, every mirror's sync_cpu_device_pagetables (stopping at -EAGAIN
 * when not blockable). (mm/hmm.c) The fields of `update` (struct
 * hmm_update: start, end, blockable) are passed as arguments.
 */
function hmm_invalidate_range(
  k: Kernel,
  hmm: Hmm,
  device: boolean,
  start: number,
  end: number,
  blockable: boolean,
): number {
  noteFreed(k, hmm, "hmm_invalidate_range");
  const ranges = hmm.ranges;
  for (let r = 0; r < ranges.length; r++) {
    const range = ranges[r]!;
    if (end < range.start || start >= range.end) continue;
    range.valid = false;
    const addr = Math.max(start, range.start);
    const idx = (addr - range.start) / 4096;
    const n = (Math.min(range.end, end) - addr) / 4096;
    range.pfns.fill(0, idx, idx + n);
    if (k.trace.on) emit(k, "range_invalidated", hmm.mm, addr, addr + n * 4096, 0);
  }
  if (!device) return 0;
  const mirrors = hmm.mirrors;
  if (mirrors.length === 0) return 0;
  // struct hmm_update, built only when a mirror is told (the end path never tells one)
  const update: HmmUpdate = { start, end, event: HMM_UPDATE_INVALIDATE, blockable };
  for (let i = 0; i < mirrors.length; i++) {
    const mirror = mirrors[i]!;
    if (k.trace.on) emit(k, "sync", hmm.mm, update.start, update.end, 0);
    const ret = mirror.ops!.sync_cpu_device_pagetables(k, mirror, update);
    if (!update.blockable && ret === -EAGAIN) return -EAGAIN;
  }
  return 0;
}

const hmm_mmu_notifier_ops: MmuNotifierOps = {
  release(k, _mn, mm) {
    const hmm = mm.hmm as Hmm;
    if (k.trace.on) emit(k, "release", mm, 0, 0, 0);
    while (hmm.mirrors.length > 0) {
      const mirror = hmm.mirrors.shift()!;
      mirror.listed = false;
      mirror.ops?.release?.(k, mirror);
    }
  },
  invalidate_range_start(k, _mn, mm, start, end, blockable) {
    const hmm = mm.hmm as Hmm;
    return hmm_invalidate_range(k, hmm, true, start, end, blockable);
  },
  invalidate_range_end(k, _mn, mm, start, end) {
    const hmm = mm.hmm as Hmm;
    hmm_invalidate_range(k, hmm, false, start, end, true);
  },
};

/**
 * Whether every mmu notifier registered on `mm` is HMM's (simulator
 * plumbing for migrate_vma's fast paths): then
 * mmu_notifier_invalidate_range_end only invalidates HMM ranges and calls
 * no driver, so the pages and ptes it brackets stay as the walk left them.
 */
export function mmNotifiersAreHmm(mm: MmStruct): boolean {
  const mnm = mm.mmu_notifier_mm;
  if (mnm === null) return true;
  const l = mnm.list;
  for (let i = 0; i < l.length; i++) if (l[i]!.ops !== hmm_mmu_notifier_ops) return false;
  return true;
}

/**
 * hmm_register(mm) (static): mm->hmm, created (and HMM's mmu notifier
 * registered) on first use. NULL if the allocation fails (fault point
 * "kmalloc").
 */
function hmm_register(k: Kernel, mm: MmStruct): Hmm | null {
  if (mm.hmm !== null) return mm.hmm as Hmm;
  if (k.faults.shouldFail("kmalloc")) return null;
  const hmm = new Hmm(mm);
  mm.hmm = hmm;
  hmm.mmu_notifier.ops = hmm_mmu_notifier_ops;
  __mmu_notifier_register(k, hmm.mmu_notifier, mm);
  return hmm;
}

/**
 * hmm_mm_destroy(mm): the mm_struct's final mmdrop frees mm->hmm. The
 * process side calls it from mmdrop.
 */
export function hmm_mm_destroy(k: Kernel, mm: MmStruct): void {
  const hmm = mm.hmm as Hmm | null;
  if (hmm !== null) {
    if (hmm.freed) {
      k.state(HMM_MIRROR).useAfterFree.push("hmm_mm_destroy: double kfree of struct hmm");
    }
    hmm.freed = true;
  }
}

/**
 * hmm_mirror_register(mirror, mm) (EXPORT_SYMBOL): mmap_sem must be held
 * for write. -EINVAL without mm, mirror or ops; -ENOMEM if struct hmm
 * cannot be allocated. The mirror goes at the head of the mirror list.
 */
export function hmm_mirror_register(
  k: Kernel,
  mirror: HmmMirror | null,
  mm: MmStruct | null,
): number {
  if (mm === null || mirror === null || mirror.ops === null) return -EINVAL;
  const hmm = hmm_register(k, mm);
  mirror.hmm = hmm;
  if (hmm === null) return -ENOMEM;
  // (a racing unregister that cleared hmm->mm makes the kernel retry; atomic here)
  hmm.mirrors.unshift(mirror);
  mirror.listed = true;
  if (k.trace.on) emit(k, "register", mm, 0, 0, 0);
  return 0;
}

/**
 * hmm_mirror_unregister(mirror) (EXPORT_SYMBOL): takes the mirror off the
 * list; if the list is now empty and hmm->mm is still set, unregisters
 * HMM's notifier (mmdrop), clears mm->hmm and frees the struct hmm.
 * hmm->mm is cleared whatever the list state. After a process exit a later
 * unregister runs on a possibly freed struct hmm / mm_struct: recorded in
 * {@link HMM_MIRROR}.useAfterFree, not crashed on.
 */
export function hmm_mirror_unregister(k: Kernel, mirror: HmmMirror): void {
  const hmm = mirror.hmm;
  if (hmm === null) return;
  noteFreed(k, hmm, "hmm_mirror_unregister");
  const i = hmm.mirrors.indexOf(mirror);
  if (i >= 0) hmm.mirrors.splice(i, 1);
  mirror.listed = false;
  const should_unregister = hmm.mirrors.length === 0;
  mirror.hmm = null;
  const mm = hmm.mm;
  hmm.mm = null;
  if (k.trace.on) emit(k, "unregister", mm, 0, 0, 0);
  if (!should_unregister || mm === null) return;
  mmu_notifier_unregister_no_release(k, hmm.mmu_notifier, mm);
  if (mm.freed) {
    k.state(HMM_MIRROR).useAfterFree.push(
      "hmm_mirror_unregister: mm_struct used after its last mmdrop (mm->page_table_lock)",
    );
  }
  if (mm.hmm === hmm) mm.hmm = null;
  if (hmm.freed) {
    k.state(HMM_MIRROR).useAfterFree.push("hmm_mirror_unregister: double kfree of struct hmm");
  }
  hmm.freed = true;
}

interface Walk {
  range: HmmRange;
  last: number;
  fault: boolean;
  block: boolean;
}

/**
 * hmm_pfns_bad(addr, end, walk) (mm/hmm.c): the entries of [addr, end) are
 * values[ERROR]. The model passes the walk's range rather than the walk and
 * returns nothing where the kernel returns 0.
 */
function hmm_pfns_bad(range: HmmRange, addr: number, end: number): void {
  let i = (addr - range.start) / 4096;
  for (; addr < end; addr += 4096, i++) range.pfns[i] = range.values[HMM_PFN_ERROR]!;
}

/** hmm_pfn_from_pfn(range, pfn): pfn << pfn_shift | flags[VALID]. */
export function hmm_pfn_from_pfn(range: HmmRange, pfn: number): number {
  return pfn * 2 ** range.pfn_shift + range.flags[HMM_PFN_VALID]!;
}

/**
 * hmm_pfn_to_pfn(range, entry): the pfn of a VALID entry that is not one
 * of the special values, else -1.
 */
export function hmm_pfn_to_pfn(range: HmmRange, entry: number): number {
  const v = range.values;
  if (entry === v[HMM_PFN_NONE] || entry === v[HMM_PFN_ERROR] || entry === v[HMM_PFN_SPECIAL]) {
    return -1;
  }
  if ((entry & range.flags[HMM_PFN_VALID]!) === 0) return -1;
  return Math.floor(entry / 2 ** range.pfn_shift);
}

/** hmm_pfn_to_page(range, entry): the same as a page, or null. */
export function hmm_pfn_to_page(range: HmmRange, entry: number): number | null {
  const pfn = hmm_pfn_to_pfn(range, entry);
  return pfn < 0 ? null : pfn;
}

/**
 * hmm_vma_do_fault(walk, addr, write_fault, pfn): handle_mm_fault with
 * ALLOW_RETRY | REMOTE (| WRITE). RETRY → -EBUSY; an error → the entry is
 * values[ERROR] and -EFAULT; otherwise -EAGAIN (walk again).
 */
function hmm_vma_do_fault(
  k: Kernel,
  w: Walk,
  addr: number,
  write_fault: boolean,
  i: number,
): number {
  const range = w.range;
  let flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_REMOTE;
  flags |= w.block ? 0 : FAULT_FLAG_ALLOW_RETRY;
  flags |= write_fault ? FAULT_FLAG_WRITE : 0;
  const ret = handle_mm_fault(k, range.vma, addr, flags);
  if ((ret & VM_FAULT_RETRY) !== 0) return -EBUSY;
  if ((ret & VM_FAULT_ERROR) !== 0) {
    range.pfns[i] = range.values[HMM_PFN_ERROR]!;
    return -EFAULT;
  }
  return -EAGAIN;
}

/**
 * hmm_vma_walk_hole_(addr, end, fault, write_fault): entries NONE; when
 * asked to fault, fault every address in turn. Returns 0, -EAGAIN (faulted:
 * walk again from `last`), or a fault's error.
 */
function walk_hole_(
  k: Kernel,
  w: Walk,
  addr: number,
  end: number,
  fault: boolean,
  write_fault: boolean,
): number {
  const range = w.range;
  w.last = addr;
  let i = (addr - range.start) / 4096;
  for (; addr < end; addr += 4096, i++) {
    range.pfns[i] = range.values[HMM_PFN_NONE]!;
    if (fault || write_fault) {
      const ret = hmm_vma_do_fault(k, w, addr, write_fault, i);
      if (ret !== -EAGAIN) return ret;
    }
  }
  return fault || write_fault ? -EAGAIN : 0;
}

/** hmm_pte_need_fault(walk, pfns, cpu_flags) → [fault, write_fault]. */
function need_fault(w: Walk, req: number, cpu_flags: number, out: boolean[]): void {
  const range = w.range;
  const f = range.flags;
  out[0] = out[1] = false;
  if (!w.fault) return;
  if ((req & f[HMM_PFN_VALID]!) === 0) return;
  if ((cpu_flags & f[HMM_PFN_DEVICE_PRIVATE]!) !== 0) {
    if ((req & f[HMM_PFN_DEVICE_PRIVATE]!) !== 0) {
      out[1] = (req & f[HMM_PFN_WRITE]!) !== 0;
      out[0] = true;
    }
    return;
  }
  out[0] = (cpu_flags & f[HMM_PFN_VALID]!) === 0;
  if ((req & f[HMM_PFN_WRITE]!) !== 0 && (cpu_flags & f[HMM_PFN_WRITE]!) === 0) {
    out[1] = true;
    out[0] = true;
  }
}

/** hmm_range_need_fault over entries [i, i + n) with the same cpu_flags. */
function range_need_fault(w: Walk, i: number, n: number, cpu_flags: number, out: boolean[]): void {
  out[0] = out[1] = false;
  if (!w.fault) return;
  for (let j = 0; j < n; j++) {
    need_fault(w, w.range.pfns[i + j]!, cpu_flags, out);
    if (out[0] || out[1]) return;
  }
}

/** hmm_vma_walk_hole(addr, end): an empty pmd (or upper level). */
function walk_hole(k: Kernel, w: Walk, addr: number, end: number): number {
  const out = [false, false];
  const i = (addr - w.range.start) / 4096;
  range_need_fault(w, i, (end - addr) / 4096, 0, out);
  return walk_hole_(k, w, addr, end, out[0]!, out[1]!);
}

/** pte_to_hmm_pfn_flags / pmd_to_hmm_pfn_flags. */
function cpuFlags(range: HmmRange, entry: number): number {
  if (entry === 0 || !pte_present(entry) || pte_protnone(entry)) return 0;
  const f = range.flags;
  return pte_write(entry) ? f[HMM_PFN_VALID]! | f[HMM_PFN_WRITE]! : f[HMM_PFN_VALID]!;
}

/** hmm_vma_handle_pte(walk, addr, end, pmdp, ptep, pfn). */
function handle_pte(
  k: Kernel,
  w: Walk,
  addr: number,
  end: number,
  pte: number,
  i: number,
  out: boolean[],
): number {
  const range = w.range;
  const f = range.flags;
  const orig = range.pfns[i]!;
  range.pfns[i] = range.values[HMM_PFN_NONE]!;
  let cpu_flags = cpuFlags(range, pte);
  need_fault(w, orig, cpu_flags, out);
  if (pte === 0) {
    if (out[0] || out[1]) return walk_hole_(k, w, addr, end, out[0]!, out[1]!);
    return 0;
  }
  if (!pte_present(pte)) {
    const entry = pte_to_swp_entry(pte);
    if (!non_swap_entry(entry)) {
      if (out[0] || out[1]) return walk_hole_(k, w, addr, end, out[0]!, out[1]!);
      return 0;
    }
    if (is_device_private_entry(entry)) {
      cpu_flags = f[HMM_PFN_VALID]! | f[HMM_PFN_DEVICE_PRIVATE]!;
      if (is_write_device_private_entry(entry)) cpu_flags |= f[HMM_PFN_WRITE]!;
      need_fault(w, orig, cpu_flags, out);
      if (out[0] || out[1]) return walk_hole_(k, w, addr, end, out[0]!, out[1]!);
      range.pfns[i] = orBits(
        hmm_pfn_from_pfn(range, device_private_entry_to_page(entry)),
        cpu_flags,
      );
      return 0;
    }
    if (is_migration_entry(entry)) {
      if (out[0] || out[1]) {
        w.last = addr; // migration_entry_wait (atomic: the entry is already gone)
        return -EAGAIN;
      }
      return 0;
    }
    range.pfns[i] = range.values[HMM_PFN_ERROR]!;
    return -EFAULT;
  }
  if (out[0] || out[1]) return walk_hole_(k, w, addr, end, out[0]!, out[1]!);
  range.pfns[i] = orBits(hmm_pfn_from_pfn(range, pte_pfn(pte)), cpu_flags);
  return 0;
}

/** hmm_vma_walk_pmd(pmdp, start, end, walk). */
function walk_pmd(k: Kernel, w: Walk, t: PteTable | undefined, start: number, end: number): number {
  const range = w.range;
  if (t === undefined) return walk_hole(k, w, start, end);
  const out = [false, false];
  if (t.huge !== 0) {
    if ((range.vma.vm_flags & VM_HUGETLB) !== 0) {
      hmm_pfns_bad(range, start, end);
      return 0;
    }
    // hmm_vma_handle_pmd
    const i = (start - range.start) / 4096;
    const n = (end - start) / 4096;
    const cpu_flags = cpuFlags(range, t.huge);
    range_need_fault(w, i, n, cpu_flags, out);
    if (pte_protnone(t.huge) || out[0] || out[1]) {
      return walk_hole_(k, w, start, end, out[0]!, out[1]!);
    }
    let pfn = pte_pfn(t.huge) + pte_index(start);
    for (let a = start, j = i; a < end; a += 4096, j++, pfn++) {
      range.pfns[j] = orBits(hmm_pfn_from_pfn(range, pfn), cpu_flags);
    }
    w.last = end;
    return 0;
  }
  const ptes = t.ptes!;
  let i = (start - range.start) / 4096;
  for (let addr = start; addr < end; addr += 4096, i++) {
    const r = handle_pte(k, w, addr, end, ptes[pte_index(addr)]!, i, out);
    if (r !== 0) {
      w.last = addr;
      return r;
    }
  }
  w.last = end;
  return 0;
}

/** walk_page_range(start, end, walk) with HMM's callbacks; returns the first non-zero result. */
function walk_range(k: Kernel, w: Walk, start: number, end: number): number {
  chargeWalk(k);
  const pt = w.range.vma.vm_mm.pgd;
  for (let addr = start, next: number; addr < end; addr = next) {
    next = pmd_addr_end(addr, end);
    const t = pt.lookup(addr);
    const r = walk_pmd(k, w, t, addr, next);
    if (r !== 0) return r;
  }
  return 0;
}

function checkRange(range: HmmRange): number {
  const vma = range.vma;
  if (range.start < vma.vm_start || range.start >= vma.vm_end) return -EINVAL;
  if (range.end < vma.vm_start || range.end > vma.vm_end) return -EINVAL;
  return 0;
}

function hmm_pfns_special(range: HmmRange): void {
  const n = (range.end - range.start) / 4096;
  range.pfns.fill(range.values[HMM_PFN_SPECIAL]!, 0, n);
}

function hmm_pfns_clear(range: HmmRange, from: number, addr: number, end: number): void {
  range.pfns.fill(range.values[HMM_PFN_NONE]!, from, from + (end - addr) / 4096);
}

function refused(k: Kernel, range: HmmRange): boolean {
  const vma = range.vma;
  return is_vm_hugetlb_page(vma) || (vma.vm_flags & VM_SPECIAL) !== 0 || vma_is_dax(k, vma);
}

function track(hmm: Hmm, range: HmmRange): void {
  range.valid = true;
  if (!range.listed) {
    hmm.ranges.unshift(range);
    range.listed = true;
  }
}

/**
 * hmm_vma_get_pfns(range) (EXPORT_SYMBOL): snapshot the CPU page table of
 * [range.start, range.end) into range.pfns and start tracking the range.
 * -EINVAL (range outside the VMA; or hugetlb/special/DAX VMA, entries
 * SPECIAL), -ENOMEM, -EPERM (no VM_READ, entries NONE), 0. After 0 the
 * caller must call hmm_vma_range_done exactly once.
 */
export function hmm_vma_get_pfns(k: Kernel, range: HmmRange): number {
  const ret = __hmm_vma_get_pfns(k, range);
  if (k.trace.on) emit(k, "get_pfns", range.vma.vm_mm, range.start, range.end, ret);
  return ret;
}

function __hmm_vma_get_pfns(k: Kernel, range: HmmRange): number {
  if (checkRange(range) !== 0) return -EINVAL;
  const hmm = hmm_register(k, range.vma.vm_mm);
  if (hmm === null) return -ENOMEM;
  if (hmm.mmu_notifier.ops === null) return -EINVAL;
  if (refused(k, range)) {
    hmm_pfns_special(range);
    return -EINVAL;
  }
  if ((range.vma.vm_flags & VM_READ) === 0) {
    hmm_pfns_clear(range, 0, range.start, range.end);
    return -EPERM;
  }
  track(hmm, range);
  const w: Walk = { range, last: range.start, fault: false, block: false };
  walk_range(k, w, range.start, range.end);
  return 0;
}

/**
 * hmm_vma_range_done(range) (EXPORT_SYMBOL): stop tracking; true if no
 * CPU page-table update touched the range since it was filled. An empty
 * range is a BUG.
 */
export function hmm_vma_range_done(k: Kernel, range: HmmRange): boolean {
  if (range.end <= range.start) k.BUG("mm/hmm.c:hmm_vma_range_done");
  const hmm = hmm_register(k, range.vma.vm_mm);
  if (hmm === null) {
    range.pfns.fill(0, 0, (range.end - range.start) / 4096);
    return false;
  }
  const i = hmm.ranges.indexOf(range);
  if (i >= 0) hmm.ranges.splice(i, 1);
  range.listed = false;
  if (k.trace.on) {
    emit(k, "range_done", range.vma.vm_mm, range.start, range.end, range.valid ? 1 : 0);
  }
  return range.valid;
}

/** A simulator safety net: walk passes after which hmm_vma_fault is declared livelocked (never reached by the 4.20 logic). */
const LIVELOCK_PASSES = 4096;

/**
 * hmm_vma_fault(range, block) (EXPORT_SYMBOL): like hmm_vma_get_pfns, but
 * first faults in what the driver's request entries (range.pfns on entry)
 * ask for: an entry with flags[VALID] is faulted if the CPU pte is not
 * valid, with flags[WRITE] also if it is read-only; a device-private page
 * only if the request has flags[DEVICE_PRIVATE] (then the device's fault
 * handler migrates it back). It never migrates device memory on its own.
 * Walks again from where it faulted until a pass needs no fault. Returns
 * 0 (inspect the entries: a failed fault leaves values[ERROR]), -EINVAL,
 * -EPERM, -ENOMEM, -EBUSY (handle_mm_fault asked to retry), or a fault's
 * -EFAULT — on an error the rest of the range is NONE and tracking stops.
 */
export function hmm_vma_fault(k: Kernel, range: HmmRange, block: boolean): number {
  const ret = __hmm_vma_fault(k, range, block);
  if (k.trace.on) emit(k, "fault", range.vma.vm_mm, range.start, range.end, ret);
  return ret;
}

function __hmm_vma_fault(k: Kernel, range: HmmRange, block: boolean): number {
  if (checkRange(range) !== 0) return -EINVAL;
  const hmm = hmm_register(k, range.vma.vm_mm);
  if (hmm === null) {
    hmm_pfns_clear(range, 0, range.start, range.end);
    return -ENOMEM;
  }
  if (hmm.mmu_notifier.ops === null) return -EINVAL;
  if (refused(k, range)) {
    hmm_pfns_special(range);
    return -EINVAL;
  }
  if ((range.vma.vm_flags & VM_READ) === 0) {
    hmm_pfns_clear(range, 0, range.start, range.end);
    return -EPERM;
  }
  track(hmm, range);
  const w: Walk = { range, last: range.start, fault: true, block };
  let start = range.start;
  let ret: number;
  let passes = 0;
  do {
    ret = walk_range(k, w, start, range.end);
    start = w.last;
    if (++passes > LIVELOCK_PASSES) {
      k.dmesg.printk(
        "emerg",
        `watchdog: BUG: soft lockup - CPU#${k.cpu} stuck for 22s! [${range.vma.vm_mm.comm}:${range.vma.vm_mm.pid}]`,
      );
      k.BUG("mm/hmm.c:hmm_vma_fault (fault loop never converges)");
    }
  } while (ret === -EAGAIN);
  if (ret !== 0) {
    const i = (w.last - range.start) / 4096;
    hmm_pfns_clear(range, i, w.last, range.end);
    hmm_vma_range_done(k, range);
  }
  return ret;
}

/** The mirrors registered on `mm` (newest first). */
export function hmmMirrors(mm: MmStruct): readonly HmmMirror[] {
  return (mm.hmm as Hmm | null)?.mirrors ?? [];
}

/**
 * hmm_vma_alloc_locked_page(vma, addr) (mm/hmm.c, EXPORT_SYMBOL; the
 * device-memory half, kept here with the rest of the process-side HMM):
 * a system page for a device driver's migration back to RAM, locked, or
 * NULL (fault point "alloc_page").
 */
export function hmm_vma_alloc_locked_page(
  k: Kernel,
  _vma: VmAreaStruct,
  _addr: number,
): number | null {
  const page = alloc_page(k);
  if (page === null) return null;
  lock_page(k, page);
  return page;
}
