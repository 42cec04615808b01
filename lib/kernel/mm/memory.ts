/**
 * mm/memory.c (v4.20): the CPU page-fault path (handle_mm_fault and its
 * handlers — anonymous, zero page, copy-on-write, file/shmem, and the
 * device-private swap entry that reaches a device driver), unmapping
 * (zap_page_range, unmap_vmas), fork's page-table copy (copy_page_range),
 * vm_normal_page and vm_insert_page — plus device_private_entry_fault, which
 * lives in kernel/memremap.c but is the fault path's only entry into a
 * device (kept here beside its one caller, do_swap_page).
 *
 * Sleeping: where the kernel would sleep inside a fault — mmap_sem,
 * lock_page, a page allocation that enters reclaim, migration_entry_wait,
 * a device driver waiting for its copy engine — the model runs the wait
 * atomically: every function here is a plain function that runs to
 * completion, so no other task observes a half-done fault. A migration
 * entry can therefore never be seen by a fault (migrate_vma is atomic too);
 * do_swap_page returns 0 for one, as the kernel does after waiting.
 *
 * Simulated time (cost model): an anonymous write fault costs
 * cpu.minorFault (zeroing included), a read fault that maps the zero page
 * cpu.zeroPageReadFault, a copy-on-write cpu.minorFault plus the copy
 * (dram.copy4KiB), a protection fault that reuses the page
 * cpu.zeroPageReadFault, and a device-private fault exactly
 * devPriv.cpuFaultMigrateBack for the first page the driver migrates back
 * (copies and walks inside it are part of that composite; further pages
 * the driver moves cost devPriv.extraPageInBatch each).
 *
 * Fast paths (simulator plumbing, FaultState.fastPaths, on by default): the
 * first write to a private anonymous page under an existing pte page, with no
 * fault point armed, is handled inline in handle_mm_fault with the outcome
 * of the general path — same page, struct page fields, pte, rss, counters,
 * clock, trace — as tests/kernel/mm/fault_fast_test.ts checks on a seeded
 * workload run both ways. A user store that finds a none pte takes the same
 * fault fused with do_page_fault and the retried translation
 * ({@link anonWriteFaultFused}, called by process.ts's user_access with the
 * page-table leaf it walked to), held to the general path by the same test. The DAX drivers' none-pte fault
 * (lib/kernel/mm/devmap-mm.ts, pte_fault_fast) is checked the same way by
 * tests/drivers/dax/fault_fast_test.ts.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../kernel.ts";
import { devicePrivateFaultHandler } from "../hmm.ts";
import { is_device_public_page } from "./devmap.ts";
import { is_zone_device_page } from "./memmap.ts";

import {
  anon_vma_prepare,
  FAULT_FLAG_WRITE,
  is_cow_mapping,
  maybe_mkwrite,
  MM_ANONPAGES,
  MM_SWAPENTS,
  type MmStruct,
  newVmFault,
  VM_FAULT_DONE_COW,
  VM_FAULT_ERROR,
  VM_FAULT_FALLBACK,
  VM_FAULT_HWPOISON,
  VM_FAULT_LOCKED,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_WRITE,
  VM_HUGETLB,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_SHARED,
  VM_WRITE,
  type VmAreaStruct,
  type VmFault,
} from "./mm-types.ts";
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_only_end,
  mmu_notifier_invalidate_range_start,
} from "./mmu-notifier.ts";
import {
  EXT_FLAGS,
  EXT_INDEX,
  EXT_MAPCOUNT,
  EXT_MAPPING,
  EXT_STRIDE,
  extSet64,
  mappingId,
  page_mapcount,
  PageAnon,
  pageIdx,
  PageTransCompound,
  PG_lru,
  PG_swapbacked,
  PG_uptodate,
  sectionExt,
  SetPageDirty,
  setPageFlag2,
  unlock_page,
} from "./page-ext.ts";
import {
  copy_user_highpage,
  pageReadWords,
  pageWriteWords,
  WORDS_PER_PAGE,
} from "./page-contents.ts";
import { pfn_valid } from "./mmzone.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  device_private_entry_to_page,
  HPAGE_PMD_SIZE,
  is_device_private_entry,
  is_hwpoison_entry,
  is_migration_entry,
  is_write_device_private_entry,
  make_device_private_entry_read,
  migration_entry_to_page,
  non_swap_entry,
  pfn_pte,
  pmd_addr_end,
  pte_devmap,
  pte_dirty,
  pte_index,
  pte_mkdirty,
  pte_mkold,
  pte_mkspecial,
  pte_mkwrite,
  pte_mkyoung,
  pte_pfn,
  pte_present,
  pte_protnone,
  pte_special,
  pte_to_swp_entry,
  pte_write,
  pte_wrprotect,
  PteTable,
  swp_entry_to_pte,
} from "./pgtable.ts";
import {
  alloc_page,
  alloc_zeroed_user_highpage_movable,
  allocPageUnarmed,
  is_zero_pfn,
  my_zero_pfn,
  type RamAllocState,
} from "./ram-alloc.ts";
import { get_page, put_page } from "./swap.ts";
import { page_count } from "./memmap.ts";
import {
  mm_counter,
  page_add_file_rmap,
  page_add_new_anon_rmap,
  page_dup_rmap,
  page_mapping,
  page_move_anon_rmap,
  page_remove_rmap,
} from "./rmap.ts";
import {
  copy_huge_pmd,
  copy_hugetlb_page_range,
  do_huge_pmd_anonymous_page,
  do_huge_pmd_wp_page,
  hugetlb_fault,
  split_huge_pmd,
  transparent_hugepage_enabled,
  zap_huge_pmd,
} from "./huge-memory.ts";
import type { Page } from "./types.ts";
import type { MemSection } from "./section.ts";
import type { Migrate } from "./migrate.ts";
import { HUB } from "./hub.ts";

/**
 * Per-kernel scratch space of migrate_vma's fast paths (simulator plumbing):
 * the struct migrate_vma of a one-page call (the device's CPU fault), and
 * the section of each collected page so that later steps do not look it up
 * again. `busy` marks it in use: a migrate_vma nested inside a callback of
 * another (which 4.20 never does) allocates its own.
 */
export class MigrateScratch {
  /** Whether a migrate_vma fast path is using this scratch space. */
  busy = false;
  /** The struct migrate_vma of one-page calls (set up on first use). */
  migrate: Migrate | null = null;
  /** Section of the page of src[i], or null (no page, or not collected by the fast path). */
  readonly secs: (MemSection | null)[] = [];
  /**
   * Creates empty scratch space.
   * @param pages entries of `secs` (the largest call the fast paths take).
   */
  constructor(pages = 512) {
    for (let i = 0; i < pages; i++) this.secs.push(null);
  }
}

/** Fault counters and cached costs of a kernel. */
export class FaultState {
  /** PGFAULT: handle_mm_fault calls. */
  pgfault = 0;
  /** Faults resolved by do_anonymous_page with a new page. */
  anon = 0;
  /** Faults that mapped the zero page. */
  zero = 0;
  /** do_wp_page reusing the page. */
  wpReuse = 0;
  /** wp_page_copy copies. */
  wpCopy = 0;
  /** File/shmem faults (read, COW, shared). */
  file = 0;
  /** do_swap_page calls that found a device-private entry (device_private_entry_fault). */
  devicePrivate = 0;
  /** Of those, how many the driver failed (VM_FAULT_SIGBUS or another error). */
  devicePrivateFailed = 0;
  /** Nesting depth of device faults (costs inside are part of the composite). */
  inDeviceFault = 0;
  /**
   * Whether the fault path's specialised fast paths run (simulator plumbing:
   * the differential tests turn them off to run the general path and compare).
   */
  fastPaths = true;
  /**
   * Whether migrate_vma's specialised paths run (simulator plumbing, a
   * sibling of {@link fastPaths}: lib/kernel/mm/migrate.ts; the differential
   * tests in tests/kernel/mm/migrate_fast_test.ts turn it off and compare).
   */
  migrateFastPaths = true;
  /**
   * Scratch space of migrate_vma's fast paths (simulator plumbing, reused by
   * every call so that they allocate nothing; lib/kernel/mm/migrate.ts).
   */
  readonly migrateScratch: MigrateScratch = new MigrateScratch();
  /** cpu.minorFault. */
  readonly minorNs: number;
  /** cpu.zeroPageReadFault. */
  readonly zeroNs: number;
  /** devPriv.cpuFaultMigrateBack. */
  readonly devNs: number;
  /** devPriv.extraPageInBatch. */
  readonly devExtraNs: number;
  /** cpu.ptWalkSoftware. */
  readonly walkNs: number;
  /**
   * Readers of physical memory whose bytes live outside the page-contents
   * model (a pmem range's media), tried in order by the kernel's own reads
   * of user memory ({@link PhysPageReader}; simulator plumbing).
   */
  readonly physReaders: PhysPageReader[] = [];
  /**
   * Reads the costs once.
   * @param k the kernel.
   */
  constructor(k: Kernel) {
    this.minorNs = k.cost.get("cpu.minorFault");
    this.zeroNs = k.cost.get("cpu.zeroPageReadFault");
    this.devNs = k.cost.get("devPriv.cpuFaultMigrateBack");
    this.devExtraNs = k.cost.get("devPriv.extraPageInBatch");
    this.walkNs = k.cost.get("cpu.ptWalkSoftware");
  }
}

/**
 * Simulator plumbing standing in for the direct map of memory the
 * page-contents model does not hold (a pmem region's media): copies the
 * 4 KiB at `pfn` into `dst` (1,024 words) and returns 1, returns 0 when the
 * pfn is not the reader's, or -1 when the bytes cannot be read (poisoned
 * media). The reader charges its own simulated time. Simplification: on
 * v4.20 x86 a kernel-mode read of poison inside a user copy is a machine
 * check without a recoverable fixup (fatal); the model reports it as a
 * failed copy instead, which the callers handle as the kernel handles a
 * faulting one.
 */
export type PhysPageReader = (k: Kernel, pfn: number, dst: Int32Array) => number;

/**
 * Registers a {@link PhysPageReader} with the kernel (once per function:
 * a driver calls it whenever it sets up a range).
 */
export function registerPhysPageReader(k: Kernel, reader: PhysPageReader): void {
  const r = k.state(HUB).faults.physReaders;
  if (!r.includes(reader)) r.push(reader);
}

/** The fault counters of a kernel. */
export const FAULTS: SubsystemKey<FaultState> = {
  name: "faults",
  create: (k: Kernel) => k.state(HUB).faults,
};

/** Charges one software page-table walk (cpu.ptWalkSoftware), unless inside a device fault's composite. */
export function chargeWalk(k: Kernel): void {
  const st = k.state(HUB).faults;
  if (st.inDeviceFault === 0) k.clock.advance(st.walkNs);
}

function traceFault(
  k: Kernel,
  op: import("../events.ts").FaultEvent["op"],
  vmf: VmFault,
  ret: number,
): void {
  k.trace.emit({ kind: "fault", op, mm: vmf.vma.vm_mm.id, addr: vmf.address, ret });
}

/**
 * print_bad_pte(vma, addr, pte, page) (mm/memory.c): the "BUG: Bad page
 * map" report (rate-limited in the kernel; every one is printed here).
 * Taints "B". `_page` is the page the kernel would dump_page (every caller
 * in the model passes NULL, as _vm_normal_page and do_swap_page do); the
 * model does not print it.
 */
export function print_bad_pte(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  pte: number,
  _page: Page | null,
): void {
  k.dmesg.printk(
    "alert",
    `BUG: Bad page map in process ${vma.vm_mm.comm}  pte:${pte.toString(16)} pmd:0`,
  );
  k.dmesg.printk("alert", `addr:${addr.toString(16)} vm_flags:${vma.vm_flags.toString(16)}`);
  k.taint("B");
}

/**
 * _vm_normal_page(vma, addr, pte, with_public_device): the struct page a
 * present pte maps, or null for special mappings — the zero page, a
 * PFNMAP/MIXEDMAP special pte, a device-public page unless asked for, a
 * devmap pte.
 */
export function _vm_normal_page(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  pte: number,
  with_public_device: boolean,
): Page | null {
  const pfn = pte_pfn(pte);
  if (!pte_special(pte)) return pfn;
  if ((vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP)) !== 0) return null;
  if (is_zero_pfn(k, pfn)) return null;
  if (pfn <= k.state(HUB).mm.highest_memmap_pfn && is_zone_device_page(k, pfn)) {
    if (is_device_public_page(k, pfn)) return with_public_device ? pfn : null;
  }
  if (pte_devmap(pte)) return null;
  print_bad_pte(k, vma, addr, pte, null);
  return null;
}

/** vm_normal_page(vma, addr, pte). */
export function vm_normal_page(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  pte: number,
): Page | null {
  return _vm_normal_page(k, vma, addr, pte, false);
}

/**
 * device_private_entry_fault(vma, addr, entry, flags, pmdp)
 * (kernel/memremap.c, EXPORT_SYMBOL): the device page of the entry, then its
 * fault handler — `page->pgmap->page_fault` in v4.20, the embedding
 * hmm_devmem's `page_fault` with hmm-page-fault-move (v5.0) — which must
 * migrate the page back to system memory and return VM_FAULT_* (SIGBUS when
 * it cannot). No page or pgmap reference is taken around the call: the
 * driver must cope with the page being freed under it. A missing handler is
 * a NULL call (Oops), as in the kernel.
 */
export function device_private_entry_fault(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  entry: number,
  flags: number,
  pmdp: unknown,
): number {
  const page = device_private_entry_to_page(entry);
  const handler = devicePrivateFaultHandler(k, page);
  if (handler === null) {
    k.oops("BUG: unable to handle kernel NULL pointer dereference at 0000000000000000");
  }
  return handler(k, vma, addr, page, flags, pmdp);
}

/**
 * do_swap_page(vmf): a non-present, non-none pte. v4.20 has no swap device
 * in the model, so only the non-swap entries matter: a migration entry
 * waits for the migration (atomic here: return 0 and let the access retry),
 * a device-private entry goes to device_private_entry_fault and its result
 * is returned as is (SIGBUS when the device failed), a hwpoison entry is
 * VM_FAULT_HWPOISON, anything else is a bad pte and SIGBUS. Charges
 * devPriv.cpuFaultMigrateBack for the device-private case.
 */
export function do_swap_page(k: Kernel, vmf: VmFault): number {
  const entry = pte_to_swp_entry(vmf.orig_pte);
  if (non_swap_entry(entry)) {
    if (is_migration_entry(entry)) return 0; // migration_entry_wait
    if (is_device_private_entry(entry)) {
      const hub = k.state(HUB);
      const st = hub.faults;
      st.devicePrivate++;
      k.clock.advance(st.devNs);
      st.inDeviceFault++;
      const cs = hub.cs;
      cs.suppressCharge++;
      let ret: number;
      try {
        ret = device_private_entry_fault(k, vmf.vma, vmf.address, entry, vmf.flags, null);
      } finally {
        st.inDeviceFault--;
        cs.suppressCharge--;
      }
      if ((ret & VM_FAULT_ERROR) !== 0) st.devicePrivateFailed++;
      if (k.trace.on) traceFault(k, "device_private", vmf, ret);
      return ret;
    }
    if (is_hwpoison_entry(entry)) return VM_FAULT_HWPOISON;
  }
  print_bad_pte(k, vmf.vma, vmf.address, vmf.orig_pte, null);
  return VM_FAULT_SIGBUS;
}

/**
 * The struct page side of do_anonymous_page's write fault for a page
 * alloc_pages just returned, with one section lookup: what
 * setPageFlag2(PG_uptodate | PG_swapbacked | PG_lru) followed by
 * page_add_new_anon_rmap(page, vma, address, false) write — flags, _mapcount
 * 0, mapping = the VMA's anon_vma with the ANON bit, index = the linear page
 * index. The model's faults are atomic, so the pte is still none here (the
 * general path's re-check cannot fire).
 */
function newAnonPageFast(
  k: Kernel,
  ram: RamAllocState,
  page: Page,
  vma: VmAreaStruct,
  address: number,
): void {
  const r = sectionExt(ram.lastSection!).records(); // the section alloc_pages just used
  const o = pageIdx(page) * EXT_STRIDE;
  r[o + EXT_FLAGS] = r[o + EXT_FLAGS]! | (PG_uptodate | PG_swapbacked | PG_lru);
  r[o + EXT_MAPCOUNT] = 1; // _mapcount 0, stored + 1
  r[o + EXT_MAPPING] = mappingId(k, vma.anon_vma!) * 2 + 1;
  const index = Math.floor((address - vma.vm_start) / 4096) + vma.vm_pgoff; // linear_page_index
  extSet64(r, o + EXT_INDEX, index);
}

/**
 * do_anonymous_page(vmf): the first touch of an anonymous address. A read
 * maps the zero page (special, read-only); a write allocates a zeroed page,
 * maps it (writable and dirty if the VMA is writable), adds the anon rmap.
 * VM_SHARED (no vm_ops) is SIGBUS; no memory is VM_FAULT_OOM. (mm/memory.c)
 * `t` is the pte table vmf->pmd points to (the model's VmFault carries no
 * pmd, so the table found by the caller is passed alongside).
 */
export function do_anonymous_page(k: Kernel, vmf: VmFault, t: PteTable): number {
  const vma = vmf.vma;
  const st = k.state(HUB).faults;
  if ((vma.vm_flags & VM_SHARED) !== 0) return VM_FAULT_SIGBUS;
  const ptes = t.ptes!;
  const i = pte_index(vmf.address);
  if ((vmf.flags & FAULT_FLAG_WRITE) === 0) {
    const entry = pte_mkspecial(pfn_pte(my_zero_pfn(k, vmf.address), vma.vm_page_prot));
    if (ptes[i] !== 0) return 0;
    ptes[i] = entry;
    st.zero++;
    k.clock.advance(st.zeroNs);
    if (k.trace.on) traceFault(k, "zero", vmf, 0);
    return 0;
  }
  anon_vma_prepare(k, vma);
  const page = alloc_zeroed_user_highpage_movable(k, vma, vmf.address);
  if (page === null) return VM_FAULT_OOM;
  setPageFlag2(k, page, PG_uptodate | PG_swapbacked | PG_lru, true);
  let entry = pfn_pte(page, vma.vm_page_prot);
  if ((vma.vm_flags & VM_WRITE) !== 0) entry = pte_mkwrite(pte_mkdirty(entry));
  if (ptes[i] !== 0) {
    put_page(k, page);
    return 0;
  }
  vma.vm_mm.rss[MM_ANONPAGES]!++;
  page_add_new_anon_rmap(k, page, vma, vmf.address, false);
  ptes[i] = entry;
  st.anon++;
  k.clock.advance(st.minorNs);
  if (k.trace.on) traceFault(k, "anon", vmf, 0);
  return 0;
}

/**
 * wp_page_reuse(vmf) (mm/memory.c): make the existing pte young, dirty and
 * (if the VMA allows) writable. `t` as in do_anonymous_page.
 */
function wp_page_reuse(k: Kernel, vmf: VmFault, t: PteTable): void {
  const i = pte_index(vmf.address);
  t.ptes![i] = maybe_mkwrite(pte_mkdirty(pte_mkyoung(vmf.orig_pte)), vmf.vma);
  const st = k.state(HUB).faults;
  st.wpReuse++;
  k.clock.advance(st.zeroNs);
  if (k.trace.on) traceFault(k, "wp_reuse", vmf, VM_FAULT_WRITE);
}

/**
 * __copy_from_user_inatomic(to, from, PAGE_SIZE) (arch/x86/include/asm/uaccess_64.h)
 * for the page-aligned user address `uaddr` of `mm`: the kernel reads the
 * page through the user mapping, so the bytes are those of whatever the pte
 * maps — a range's media through its {@link PhysPageReader}, else the
 * page-contents model for a pfn with a struct page. Returns the bytes not
 * copied: 0, or PAGE_SIZE when nothing is mapped, the pfn has no readable
 * memory in the model, or the reader faulted (poison).
 */
export function __copy_from_user_inatomic(
  k: Kernel,
  mm: MmStruct,
  dst: Int32Array,
  uaddr: number,
): number {
  const t = mm.pgd.lookup(uaddr);
  if (t === undefined) return 4096;
  const e = t.ptes === null ? t.huge : t.ptes[pte_index(uaddr)]!;
  if (e === 0 || !pte_present(e) || pte_protnone(e)) return 4096;
  const pfn = t.ptes === null ? pte_pfn(e) + pte_index(uaddr) : pte_pfn(e);
  const readers = k.state(HUB).faults.physReaders;
  for (let i = 0; i < readers.length; i++) {
    const r = readers[i]!(k, pfn, dst);
    if (r > 0) return 0;
    if (r < 0) return 4096;
  }
  if (!pfn_valid(k, pfn)) return 4096;
  pageReadWords(k, pfn, dst);
  const cs = k.state(HUB).cs;
  if (cs.suppressCharge === 0) k.clock.advance(cs.copyNs);
  return 0;
}

/**
 * cow_user_page(dst, src, va, vma) (mm/memory.c, v4.20): `dst` gets the
 * bytes of `src`, or — for a source without a struct page (src < 0: a
 * pfn/devmap mapping such as a DAX page) — the bytes read from the user
 * address `va` through the old mapping (__copy_from_user_inatomic); if that
 * read fails the page is cleared instead.
 */
export function cow_user_page(
  k: Kernel,
  dst: Page,
  src: Page,
  va: number,
  vma: VmAreaStruct,
): void {
  if (src >= 0) {
    copy_user_highpage(k, dst, src, va, vma);
    return;
  }
  const buf = new Int32Array(WORDS_PER_PAGE);
  // a failed read leaves zeros: clear_page
  if (__copy_from_user_inatomic(k, vma.vm_mm, buf, va - (va & 4095)) !== 0) buf.fill(0);
  pageWriteWords(k, dst, buf);
}

/**
 * wp_page_copy(vmf): copy-on-write. A new page (zeroed if the old pte
 * mapped the zero page, else cow_user_page's copy of vmf.page — or of the
 * user address when the pte maps no struct page: a devmap/pfn pte), under
 * mmu_notifier_invalidate_range_start/only_end for the page: the new page
 * is mapped writable-if-allowed and dirty, the old page's rmap and
 * references dropped. VM_FAULT_WRITE, or VM_FAULT_OOM. (mm/memory.c) `t` as
 * in do_anonymous_page.
 */
export function wp_page_copy(k: Kernel, vmf: VmFault, t: PteTable): number {
  const vma = vmf.vma;
  const mm = vma.vm_mm;
  const old = vmf.page;
  anon_vma_prepare(k, vma);
  let newp: Page | null;
  if (is_zero_pfn(k, pte_pfn(vmf.orig_pte))) {
    newp = alloc_zeroed_user_highpage_movable(k, vma, vmf.address);
    if (newp === null) {
      if (old >= 0) put_page(k, old);
      return VM_FAULT_OOM;
    }
  } else {
    newp = alloc_page(k);
    if (newp === null) {
      if (old >= 0) put_page(k, old);
      return VM_FAULT_OOM;
    }
    cow_user_page(k, newp, old, vmf.address, vma);
  }
  setPageFlag2(k, newp, PG_uptodate | PG_swapbacked | PG_lru, true);
  const start = vmf.address, end = vmf.address + 4096;
  mmu_notifier_invalidate_range_start(k, mm, start, end);
  const i = pte_index(vmf.address);
  if (old >= 0) {
    if (!PageAnon(k, old)) {
      mm.rss[mm_counter(k, old)]!--;
      mm.rss[MM_ANONPAGES]!++;
    }
  } else mm.rss[MM_ANONPAGES]!++;
  const entry = maybe_mkwrite(pte_mkdirty(pfn_pte(newp, vma.vm_page_prot)), vma);
  page_add_new_anon_rmap(k, newp, vma, vmf.address, false);
  t.ptes![i] = entry;
  if (old >= 0) {
    page_remove_rmap(k, old, false);
    put_page(k, old); // the reference the old pte held
  }
  mmu_notifier_invalidate_range_only_end(k, mm, start, end);
  if (old >= 0) put_page(k, old); // do_wp_page's get_page
  const st = k.state(HUB).faults;
  st.wpCopy++;
  k.clock.advance(st.minorNs);
  if (k.trace.on) traceFault(k, "wp_copy", vmf, VM_FAULT_WRITE);
  return VM_FAULT_WRITE;
}

/**
 * do_wp_page(vmf): a write to a present, read-only pte. Special mappings
 * (the zero page): make a shared writable one writable, COW anything else.
 * An anonymous page mapped once is reused (moved to this VMA's anon_vma);
 * a page of a shared writable mapping is made writable and dirtied; any
 * other page is copied. (mm/memory.c) `t` as in do_anonymous_page.
 */
export function do_wp_page(k: Kernel, vmf: VmFault, t: PteTable): number {
  const vma = vmf.vma;
  const page = vm_normal_page(k, vma, vmf.address, vmf.orig_pte);
  if (page === null) {
    if ((vma.vm_flags & (VM_WRITE | VM_SHARED)) === (VM_WRITE | VM_SHARED)) {
      wp_page_reuse(k, vmf, t);
      return VM_FAULT_WRITE;
    }
    vmf.page = -1;
    return wp_page_copy(k, vmf, t);
  }
  vmf.page = page;
  if (PageAnon(k, page)) {
    // reuse_swap_page: no swap cache, so "mapped at most once"
    if (page_mapcount(k, page) <= 1 && !PageTransCompound(k, page)) {
      page_move_anon_rmap(k, page, vma);
      wp_page_reuse(k, vmf, t);
      return VM_FAULT_WRITE;
    }
  } else if ((vma.vm_flags & (VM_WRITE | VM_SHARED)) === (VM_WRITE | VM_SHARED)) {
    // wp_page_shared without ->page_mkwrite (shmem)
    wp_page_reuse(k, vmf, t);
    SetPageDirty(k, page);
    return VM_FAULT_WRITE;
  }
  get_page(k, page);
  return wp_page_copy(k, vmf, t);
}

/**
 * finish_fault(vmf) (mm/memory.c): maps vmf.cow_page for a write to a
 * private mapping, else vmf.page (alloc_set_pte) — what a ->fault handler
 * that finishes the fault itself calls (fs/dax.c's copy-on-write). 0, or
 * VM_FAULT_NOPAGE when the pte is no longer none (or a huge pmd is there).
 */
export function finish_fault(k: Kernel, vmf: VmFault): number {
  const t = vmf.vma.vm_mm.pgd.alloc(vmf.address);
  if (t.ptes === null) return VM_FAULT_NOPAGE;
  return alloc_set_pte(k, vmf, t);
}

/**
 * alloc_set_pte(vmf, memcg, page) (mm/memory.c) as finish_fault uses it:
 * maps the page ->fault returned (or the COW copy): writable and dirty for a
 * write to a writable VMA; anon rmap for a COW page, file rmap otherwise.
 * `memcg` is left out (no memory cgroups in the model) and `page` is
 * chosen here as finish_fault chooses it; `t` as in do_anonymous_page.
 */
function alloc_set_pte(k: Kernel, vmf: VmFault, t: PteTable): number {
  const vma = vmf.vma;
  const write = (vmf.flags & FAULT_FLAG_WRITE) !== 0;
  const page = write && (vma.vm_flags & VM_SHARED) === 0 ? vmf.cow_page : vmf.page;
  const i = pte_index(vmf.address);
  if (t.ptes![i] !== 0) return VM_FAULT_NOPAGE;
  let entry = pfn_pte(page, vma.vm_page_prot);
  if (write) entry = maybe_mkwrite(pte_mkdirty(entry), vma);
  if (write && (vma.vm_flags & VM_SHARED) === 0) {
    vma.vm_mm.rss[MM_ANONPAGES]!++;
    page_add_new_anon_rmap(k, page, vma, vmf.address, false);
  } else {
    vma.vm_mm.rss[mm_counter(k, page)]!++;
    page_add_file_rmap(k, page, false);
  }
  t.ptes![i] = entry;
  return 0;
}

/**
 * do_fault(vmf): the first touch of a file (or shmem) address. No ->fault
 * is SIGBUS; a read maps the page cache page (do_read_fault); a write to a
 * private mapping copies it into a new anonymous page (do_cow_fault; a
 * handler that copied and mapped it itself, as DAX does, returns
 * VM_FAULT_DONE_COW); a write to a shared mapping maps the page writable and dirties it
 * (do_shared_fault). (mm/memory.c) `t` as in do_anonymous_page.
 */
export function do_fault(k: Kernel, vmf: VmFault, t: PteTable): number {
  const vma = vmf.vma;
  const ops = vma.vm_ops!;
  if (ops.fault === undefined) {
    return t.ptes![pte_index(vmf.address)] === 0 ? VM_FAULT_SIGBUS : VM_FAULT_NOPAGE;
  }
  const st = k.state(HUB).faults;
  const write = (vmf.flags & FAULT_FLAG_WRITE) !== 0;
  if (write && (vma.vm_flags & VM_SHARED) === 0) {
    // do_cow_fault
    anon_vma_prepare(k, vma);
    const cow = alloc_page(k);
    if (cow === null) return VM_FAULT_OOM;
    vmf.cow_page = cow;
    let ret = ops.fault(k, vmf);
    if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY)) !== 0) {
      put_page(k, cow);
      return ret;
    }
    if ((ret & VM_FAULT_DONE_COW) !== 0) {
      // the handler copied into the cow page and mapped it (DAX): nothing left to do
      st.file++;
      if (k.trace.on) traceFault(k, "cow", vmf, ret);
      return ret;
    }
    copy_user_highpage(k, cow, vmf.page, vmf.address, vma);
    setPageFlag2(k, cow, PG_uptodate | PG_swapbacked | PG_lru, true);
    ret |= alloc_set_pte(k, vmf, t);
    if ((ret & VM_FAULT_LOCKED) !== 0) unlock_page(k, vmf.page);
    put_page(k, vmf.page);
    if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY)) !== 0) put_page(k, cow);
    st.file++;
    k.clock.advance(st.minorNs);
    if (k.trace.on) traceFault(k, "cow", vmf, ret);
    return ret & ~VM_FAULT_LOCKED;
  }
  let ret = ops.fault(k, vmf);
  if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY)) !== 0) return ret;
  ret |= alloc_set_pte(k, vmf, t);
  if ((ret & VM_FAULT_LOCKED) !== 0) unlock_page(k, vmf.page);
  if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY)) !== 0) put_page(k, vmf.page);
  else if (write) SetPageDirty(k, vmf.page); // fault_dirty_shared_page
  st.file++;
  k.clock.advance(st.zeroNs);
  if (k.trace.on) traceFault(k, write ? "shared" : "file", vmf, ret);
  return ret & ~VM_FAULT_LOCKED;
}

/**
 * handle_pte_fault(vmf): dispatch on the pte: none → do_anonymous_page or
 * do_fault; not present → do_swap_page; a write to a read-only pte →
 * do_wp_page; otherwise just mark it young (and dirty for a write).
 */
function handle_pte_fault(k: Kernel, vmf: VmFault): number {
  const vma = vmf.vma;
  const t = vma.vm_mm.pgd.alloc(vmf.address);
  if (t.huge !== 0) return 0; // pmd_devmap_trans_unstable: the pmd became huge under us
  const i = pte_index(vmf.address);
  const pte = t.ptes![i]!;
  vmf.orig_pte = pte;
  if (pte === 0) {
    return vma.vm_ops === null ? do_anonymous_page(k, vmf, t) : do_fault(k, vmf, t);
  }
  if (!pte_present(pte)) return do_swap_page(k, vmf);
  if (pte_protnone(pte)) return 0; // no NUMA balancing in the model
  if ((vmf.flags & FAULT_FLAG_WRITE) !== 0) {
    if (!pte_write(pte)) return do_wp_page(k, vmf, t);
    t.ptes![i] = pte_mkyoung(pte_mkdirty(pte));
    return 0;
  }
  t.ptes![i] = pte_mkyoung(pte);
  return 0;
}

/**
 * handle_mm_fault(vma, address, flags) (EXPORT_SYMBOL_GPL): resolve a fault
 * at `address` of `vma` (mmap_sem held for read by the caller). A hugetlb
 * VMA goes to hugetlb_fault; an empty pmd of a THP-enabled VMA tries a
 * huge page first (falling back to ptes); a huge pmd handles write
 * protection itself; everything else goes to handle_pte_fault. Returns
 * VM_FAULT_* (0 on success). The caller (the CPU's fault handler, GUP, HMM)
 * has checked the VMA's permissions. Atomic in the model (see the module doc).
 */
export function handle_mm_fault(
  k: Kernel,
  vma: VmAreaStruct,
  address: number,
  flags: number,
): number {
  const hub = k.state(HUB);
  const st = hub.faults;
  st.pgfault++;
  const addr = address - (address & 4095); // not `%`: a float modulo is a libc call
  if (
    (flags & FAULT_FLAG_WRITE) !== 0 && vma.vm_ops === null &&
    (vma.vm_flags & (VM_HUGETLB | VM_SHARED)) === 0 && vma.anon_vma !== null && st.fastPaths &&
    !k.faults.anyArmed
  ) {
    // Fast path (simulator plumbing; tests/kernel/mm/fault_fast_test.ts compares it with the
    // general path): a write to a none pte of a private anonymous VMA that has its anon_vma and
    // pte page, with nothing armed for fault injection (so no call chain is inspected), is what
    // __handle_mm_fault → handle_pte_fault → do_anonymous_page would do — the same allocation,
    // struct page writes, pte, counters, clock and trace — without the VmFault, with one
    // section lookup, and inline here (a call per layer costs more than the layer's work).
    const t = vma.vm_mm.pgd.lookup(addr);
    if (t !== undefined && t.huge === 0) {
      const ptes = t.ptes!;
      const i = pte_index(addr);
      if (ptes[i] === 0) {
        const page = allocPageUnarmed(k, hub); // alloc_zeroed_user_highpage_movable
        if (page === null) return VM_FAULT_OOM;
        let entry = pfn_pte(page, vma.vm_page_prot);
        if ((vma.vm_flags & VM_WRITE) !== 0) entry = pte_mkwrite(pte_mkdirty(entry));
        newAnonPageFast(k, hub.ram, page, vma, addr);
        vma.vm_mm.rss[MM_ANONPAGES]!++;
        ptes[i] = entry;
        st.anon++;
        k.clock.advance(st.minorNs);
        if (k.tracing) k.trace.emit({ kind: "fault", op: "anon", mm: vma.vm_mm.id, addr, ret: 0 });
        return 0;
      }
    }
  }
  return __handle_mm_fault(k, vma, addr, flags);
}

/**
 * The user store's fault on a none pte, fused (simulator plumbing, on with
 * FaultState.fastPaths): what arch/x86/mm/fault.c's __do_page_fault → find_vma
 * → access_error → handle_mm_fault's anonymous write fast path, and then the
 * retried store's translation, do — for `user_access` (process.ts), which has
 * just walked to the pte page and found `ptes[i]`, the pte of `address`,
 * none. Taken when the mm's vmacache holds the VMA, the VMA is a writable
 * private anonymous one with its anon_vma, and no fault point is armed: PGFAULT,
 * the allocation, the struct page writes, rss, the pte, the counters, clock
 * and trace are those of the general path, and the return value is what the
 * retried translation gives (the new page: its pte is present and writable) or
 * -SIGKILL for VM_FAULT_OOM. -1, before touching anything, sends the access
 * down the general path. tests/kernel/mm/fault_fast_test.ts compares the two.
 * The page-table leaf and index are passed in so the walk happens once, and no
 * address is handed to another function (an address above 2^31 is boxed at
 * every call that is not inlined).
 */
export function anonWriteFaultFused(
  k: Kernel,
  mm: MmStruct,
  address: number,
  ptes: Float64Array,
  i: number,
): number {
  const vma = mm.vmacache; // find_vma's cache; a miss takes the general path (which fills it)
  if (vma === null || vma.vm_start > address || address >= vma.vm_end) return -1;
  const vm_flags = vma.vm_flags;
  // access_error for a write, and handle_mm_fault's fast-path conditions
  if ((vm_flags & (VM_WRITE | VM_HUGETLB | VM_SHARED)) !== VM_WRITE) return -1;
  const anon_vma = vma.anon_vma;
  if (vma.vm_ops !== null || anon_vma === null) return -1;
  const hub = k.state(HUB);
  const st = hub.faults;
  if (!st.fastPaths || k.faults.anyArmed) return -1;
  st.pgfault++;
  const page = allocPageUnarmed(k, hub); // alloc_zeroed_user_highpage_movable
  if (page === null) return -9; // VM_FAULT_OOM: do_page_fault's SIGKILL
  const addr = address - (address & 4095);
  // newAnonPageFast, inline: flags, _mapcount 0, anon mapping, linear_page_index
  const r = sectionExt(hub.ram.lastSection!).records();
  const o = pageIdx(page) * EXT_STRIDE;
  r[o + EXT_FLAGS] = r[o + EXT_FLAGS]! | (PG_uptodate | PG_swapbacked | PG_lru);
  r[o + EXT_MAPCOUNT] = 1;
  r[o + EXT_MAPPING] = mappingId(k, anon_vma) * 2 + 1;
  // extSet64, inline (an anonymous VMA's pgoff is vm_start / 4096: the index is above 2^31, and a
  // double argument to a call that is not inlined is boxed)
  const index = Math.floor((addr - vma.vm_start) / 4096) + vma.vm_pgoff;
  const hi = Math.floor(index / 4294967296);
  r[o + EXT_INDEX] = index - hi * 4294967296;
  r[o + EXT_INDEX + 1] = hi;
  mm.rss[MM_ANONPAGES]!++;
  ptes[i] = pte_mkwrite(pte_mkdirty(pfn_pte(page, vma.vm_page_prot))); // VM_WRITE is set
  st.anon++;
  k.clock.advance(st.minorNs);
  if (k.tracing) k.trace.emit({ kind: "fault", op: "anon", mm: mm.id, addr, ret: 0 });
  return page;
}

/**
 * __handle_mm_fault(vma, address, flags): handle_mm_fault's walk for a
 * page-aligned `address` (PGFAULT already counted).
 */
function __handle_mm_fault(k: Kernel, vma: VmAreaStruct, addr: number, flags: number): number {
  const vmf = newVmFault(vma, addr, flags);
  if ((vma.vm_flags & VM_HUGETLB) !== 0) return hugetlb_fault(k, vma.vm_mm, vma, addr, flags);
  const t = vma.vm_mm.pgd.lookup(addr);
  if (t === undefined && transparent_hugepage_enabled(k, vma)) {
    const ret = do_huge_pmd_anonymous_page(k, vmf);
    if ((ret & VM_FAULT_FALLBACK) === 0) return ret;
  } else if (t !== undefined && t.huge !== 0) {
    if ((flags & FAULT_FLAG_WRITE) !== 0 && (t.huge & 2) === 0) {
      const ret = do_huge_pmd_wp_page(k, vmf, t);
      if ((ret & VM_FAULT_FALLBACK) === 0) return ret;
    } else {
      t.huge = (t.huge & _PAGE_ACCESSED) !== 0 ? t.huge : t.huge + _PAGE_ACCESSED;
      if ((flags & FAULT_FLAG_WRITE) !== 0 && (t.huge & _PAGE_DIRTY) === 0) t.huge += _PAGE_DIRTY;
      return 0;
    }
  }
  return handle_pte_fault(k, vmf);
}

// ---- unmapping ----

/** struct mmu_gather: pages whose last pte reference is dropped at tlb_finish_mmu. */
export class MmuGather {
  /** Pages to put after the TLB flush. */
  readonly pages: Page[] = [];
  /**
   * Starts gathering (tlb_gather_mmu).
   * @param mm the mm.
   * @param fullmm whether the whole mm is going (exit).
   */
  constructor(readonly mm: MmStruct, readonly fullmm: boolean) {}
}

/**
 * tlb_finish_mmu(tlb, start, end) (mm/memory.c): the TLB is flushed; the
 * gathered pages lose the pte's reference. `_start` / `_end` bound the
 * flush in the kernel; the model keeps no TLB, so they are not read.
 */
export function tlb_finish_mmu(k: Kernel, tlb: MmuGather, _start: number, _end: number): void {
  const p = tlb.pages;
  for (let i = 0; i < p.length; i++) put_page(k, p[i]!);
  p.length = 0;
}

/** zap_details.check_mapping: unmap only the pages of this address_space (truncation); null = all. */
export type ZapDetails = { check_mapping: unknown } | null;

/**
 * zap_pte_range(tlb, vma, pmd, addr, end, details): clears the ptes of
 * [addr, end) (within one pmd). A present page loses its rmap and — at
 * tlb_finish_mmu — the pte's reference (a file page is dirtied first if
 * the pte was dirty); a device-private entry loses its rmap and its
 * reference at once, so the device page's free callback runs here; other
 * swap entries are dropped (rss only). `t` is the table `pmd` points to.
 * The kernel returns the address it stopped at (it may stop early to flush
 * a full mmu_gather); the model's gather never fills, so it returns nothing.
 */
function zap_pte_range(
  k: Kernel,
  tlb: MmuGather,
  vma: VmAreaStruct,
  t: PteTable,
  addr: number,
  end: number,
  details: ZapDetails,
): void {
  const mm = tlb.mm;
  const ptes = t.ptes!;
  for (; addr < end; addr += 4096) {
    const i = pte_index(addr);
    const ptent = ptes[i]!;
    if (ptent === 0) continue;
    if (pte_present(ptent)) {
      const page = _vm_normal_page(k, vma, addr, ptent, true);
      if (details !== null && page !== null && page_mapping(k, page) !== details.check_mapping) {
        continue;
      }
      ptes[i] = 0;
      if (page === null) continue;
      if (!PageAnon(k, page) && pte_dirty(ptent)) SetPageDirty(k, page);
      mm.rss[mm_counter(k, page)]!--;
      page_remove_rmap(k, page, false);
      tlb.pages.push(page);
      continue;
    }
    const entry = pte_to_swp_entry(ptent);
    if (is_device_private_entry(entry)) {
      const page = device_private_entry_to_page(entry);
      if (details !== null && details.check_mapping !== null) continue;
      ptes[i] = 0;
      mm.rss[mm_counter(k, page)]!--;
      page_remove_rmap(k, page, false);
      put_page(k, page);
      continue;
    }
    if (details !== null) continue;
    if (!non_swap_entry(entry)) mm.rss[MM_SWAPENTS]!--;
    else if (is_migration_entry(entry)) mm.rss[mm_counter(k, migration_entry_to_page(entry))]!--;
    ptes[i] = 0;
  }
}

/**
 * unmap_page_range(tlb, vma, addr, end, details): per pmd — a huge pmd
 * wholly inside the range is zapped whole (zap_huge_pmd); one the range
 * covers only partly is split first (__split_huge_pmd), as 4.20 does.
 */
export function unmap_page_range(
  k: Kernel,
  tlb: MmuGather,
  vma: VmAreaStruct,
  addr: number,
  end: number,
  details: ZapDetails,
): void {
  const pt = vma.vm_mm.pgd;
  for (let next = addr; addr < end; addr = next) {
    next = pmd_addr_end(addr, end);
    const t = pt.lookup(addr);
    if (t === undefined) continue;
    if (t.huge !== 0) {
      if (next - addr === HPAGE_PMD_SIZE) {
        zap_huge_pmd(k, tlb, vma, t, addr);
        continue;
      }
      split_huge_pmd(k, vma, t, addr);
    }
    if (t.ptes !== null) zap_pte_range(k, tlb, vma, t, addr, next, details);
  }
}

/** unmap_single_vma(tlb, vma, start, end, details): the part of [start, end) inside the VMA. */
export function unmap_single_vma(
  k: Kernel,
  tlb: MmuGather,
  vma: VmAreaStruct,
  start_addr: number,
  end_addr: number,
  details: ZapDetails,
): void {
  const start = Math.max(vma.vm_start, start_addr);
  const end = Math.min(vma.vm_end, end_addr);
  if (start >= end) return;
  unmap_page_range(k, tlb, vma, start, end, details);
}

/**
 * unmap_vmas(tlb, vma list, start, end): unmap every VMA's part of
 * [start, end) between one mmu_notifier_invalidate_range_start and _end.
 */
export function unmap_vmas(
  k: Kernel,
  tlb: MmuGather,
  vmas: readonly VmAreaStruct[],
  start: number,
  end: number,
): void {
  const mm = tlb.mm;
  mmu_notifier_invalidate_range_start(k, mm, start, end);
  for (const vma of vmas) unmap_single_vma(k, tlb, vma, start, end, null);
  mmu_notifier_invalidate_range_end(k, mm, start, end);
}

/**
 * zap_page_range(vma, start, size): MADV_DONTNEED's unmap of [start,
 * start + size) in this VMA and the ones after it, under the mmu notifier,
 * pages freed at tlb_finish_mmu.
 */
export function zap_page_range(k: Kernel, vma: VmAreaStruct, start: number, size: number): void {
  const mm = vma.vm_mm;
  const end = start + size;
  const tlb = new MmuGather(mm, false);
  mmu_notifier_invalidate_range_start(k, mm, start, end);
  for (const v of [...mm.vmas]) {
    if (v.vm_end <= start || v.vm_start >= end) continue;
    unmap_single_vma(k, tlb, v, start, end, null);
  }
  mmu_notifier_invalidate_range_end(k, mm, start, end);
  tlb_finish_mmu(k, tlb, start, end);
}

/** zap_page_range_single(vma, address, size, details): one VMA only (truncation, unmap_mapping_range). */
export function zap_page_range_single(
  k: Kernel,
  vma: VmAreaStruct,
  address: number,
  size: number,
  details: ZapDetails,
): void {
  const mm = vma.vm_mm;
  const end = address + size;
  const tlb = new MmuGather(mm, false);
  mmu_notifier_invalidate_range_start(k, mm, address, end);
  unmap_single_vma(k, tlb, vma, address, end, details);
  mmu_notifier_invalidate_range_end(k, mm, address, end);
  tlb_finish_mmu(k, tlb, address, end);
}

/**
 * free_pgtables (mm/memory.c) for [start, end): drops the pte pages of
 * 2 MiB regions no VMA of the mm touches any more. Not the kernel's
 * signature, free_pgtables(tlb, start_vma, floor, ceiling): the model has
 * no VMA chain to start from and no page-table pages to gather, so it takes
 * the mm and the unmapped range.
 */
export function free_pgtables(mm: MmStruct, start: number, end: number): void {
  const first = Math.floor(start / HPAGE_PMD_SIZE);
  const last = Math.floor((end - 1) / HPAGE_PMD_SIZE);
  for (const idx of [...mm.pgd.tables.keys()]) {
    if (idx < first || idx > last) continue;
    const a = idx * HPAGE_PMD_SIZE, b = a + HPAGE_PMD_SIZE;
    if (mm.vmas.some((v) => v.vm_start < b && v.vm_end > a)) continue;
    mm.pgd.free(a);
  }
}

// ---- fork ----

/**
 * copy_one_pte(dst_mm, src_mm, dst_pte, src_pte, vma, addr): fork's copy of
 * one pte. A device-private entry takes a page reference and a mapcount
 * and, in a COW mapping, becomes read-only in both parent and child; a
 * migration entry likewise; a present pte of a COW mapping is
 * write-protected in both; a shared mapping's copy is clean; the copy is
 * old; a normal page gets a reference and a mapcount. `dst` / `src` and
 * `i` stand for the kernel's dst_pte / src_pte pointers; `src_mm` (used
 * there only for swap-count bookkeeping) and the `rss` array (the model
 * counts into dst_mm.rss directly) are left out.
 */
function copy_one_pte(
  k: Kernel,
  dst_mm: MmStruct,
  dst: Float64Array,
  src: Float64Array,
  i: number,
  vma: VmAreaStruct,
  addr: number,
): void {
  const vm_flags = vma.vm_flags;
  let pte = src[i]!;
  if (!pte_present(pte)) {
    const entry = pte_to_swp_entry(pte);
    if (is_migration_entry(entry)) {
      dst_mm.rss[mm_counter(k, migration_entry_to_page(entry))]!++;
    } else if (is_device_private_entry(entry)) {
      const page = device_private_entry_to_page(entry);
      get_page(k, page);
      dst_mm.rss[mm_counter(k, page)]!++;
      page_dup_rmap(k, page, false);
      if (is_write_device_private_entry(entry) && is_cow_mapping(vm_flags)) {
        const e = { v: entry };
        make_device_private_entry_read(e);
        pte = swp_entry_to_pte(e.v);
        src[i] = pte;
      }
    }
    dst[i] = pte;
    return;
  }
  if (is_cow_mapping(vm_flags) && pte_write(pte)) {
    src[i] = pte_wrprotect(pte);
    pte = pte_wrprotect(pte);
  }
  if ((vm_flags & VM_SHARED) !== 0) pte = pte - (pte & _PAGE_DIRTY);
  pte = pte_mkold(pte);
  const page = vm_normal_page(k, vma, addr, pte);
  if (page !== null) {
    get_page(k, page);
    page_dup_rmap(k, page, false);
    dst_mm.rss[mm_counter(k, page)]!++;
  } else if (pte_devmap(pte) && is_device_public_page(k, pte_pfn(pte))) {
    get_page(k, pte_pfn(pte));
    page_dup_rmap(k, pte_pfn(pte), false);
    dst_mm.rss[mm_counter(k, pte_pfn(pte))]!++;
  }
  dst[i] = pte;
}

/**
 * copy_page_range(dst_mm, src_mm, vma) (mm/memory.c): fork's copy of one
 * VMA's page tables into the child's mm. Nothing is copied for a
 * VMA that is not hugetlb/PFNMAP/MIXEDMAP and has no anon_vma (faults will
 * fill it). For a COW mapping the parent's range is bracketed by
 * mmu_notifier_invalidate_range_start/end (its ptes become read-only, so
 * every mirror of the parent is told). A hugetlb VMA's entries go to
 * copy_hugetlb_page_range, other huge pmds to copy_huge_pmd.
 * Returns 0 or -ENOMEM.
 */
export function copy_page_range(
  k: Kernel,
  dst_mm: MmStruct,
  src_mm: MmStruct,
  vma: VmAreaStruct,
): number {
  if ((vma.vm_flags & (VM_HUGETLB | VM_PFNMAP | VM_MIXEDMAP)) === 0 && vma.anon_vma === null) {
    return 0;
  }
  if ((vma.vm_flags & VM_HUGETLB) !== 0) return copy_hugetlb_page_range(k, dst_mm, src_mm, vma);
  const start = vma.vm_start, end = vma.vm_end;
  const cow = is_cow_mapping(vma.vm_flags);
  if (cow) mmu_notifier_invalidate_range_start(k, src_mm, start, end);
  for (let addr = start, next: number; addr < end; addr = next) {
    next = pmd_addr_end(addr, end);
    const st = src_mm.pgd.lookup(addr);
    if (st === undefined) continue;
    if (st.huge !== 0) {
      copy_huge_pmd(k, dst_mm, src_mm, dst_mm.pgd.alloc(addr), st, addr, vma);
      continue;
    }
    const dt = dst_mm.pgd.alloc(addr);
    const s = st.ptes!, d = dt.ptes!;
    for (let a = addr; a < next; a += 4096) {
      const i = pte_index(a);
      if (s[i] === 0) continue;
      copy_one_pte(k, dst_mm, d, s, i, vma, a);
    }
  }
  if (cow) mmu_notifier_invalidate_range_end(k, src_mm, start, end);
  return 0;
}

// ---- VM_MIXEDMAP ----

/**
 * vm_insert_page(vma, addr, page) (mm/memory.c): a driver inserts a kernel
 * page into a user VMA; the VMA becomes VM_MIXEDMAP. -EFAULT outside the
 * VMA, -EINVAL for a page with count 0 or an anonymous page, -EBUSY if a
 * pte is already there. The page gets a reference and a file mapcount.
 */
export function vm_insert_page(k: Kernel, vma: VmAreaStruct, addr: number, page: Page): number {
  if (addr < vma.vm_start || addr >= vma.vm_end) return -14; // -EFAULT
  if (page_count(k, page) === 0) return -22;
  vma.vm_flags |= VM_MIXEDMAP;
  if (PageAnon(k, page)) return -22;
  const t = vma.vm_mm.pgd.alloc(addr);
  const i = pte_index(addr);
  if (t.ptes![i] !== 0) return -16;
  get_page(k, page);
  vma.vm_mm.rss[mm_counter(k, page)]!++;
  page_add_file_rmap(k, page, false);
  t.ptes![i] = pfn_pte(page, vma.vm_page_prot);
  return 0;
}
