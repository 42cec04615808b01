/**
 * Transparent huge pages and the huge zero page (mm/huge_memory.c, v4.20)
 * and a hugetlb pool for MAP_HUGETLB (mm/hugetlb.c, small on purpose — it
 * exists for the HMM refusals — but right in what it does: a pool of 2 MiB
 * pages, reservations at mmap owned by the mapping VMA and given back at its
 * close, the fault (hugetlb_no_page), fork's copy (copy_hugetlb_page_range)
 * and COW (hugetlb_cow, unmap_ref_private), the unmap, and the pool's
 * resizing (set_max_huge_pages: a shrink below the pages in use leaves them
 * surplus, given to the buddy when freed). Not modelled for hugetlb: a
 * hugetlbfs page cache (a shared mapping's pages are shared only through
 * the entries fork copies), overcommitted surplus pages
 * (nr_overcommit_hugepages is 0), subpools, mm->hugetlb_usage, migration
 * and hwpoison entries, shared page tables.
 *
 * Where 4.20 splits:
 * - a write to the huge zero page allocates a THP; if that fails the pmd is
 *   split into 512 zero-page ptes and the fault falls back to ptes;
 * - a write to a THP mapped more than once copies it into a new THP, or —
 *   if no THP is free — into 512 small pages (do_huge_pmd_wp_page_fallback);
 * - unmapping, mprotect or MADV_DONTNEED of part of a huge pmd split the
 *   pmd (__split_huge_pmd: the THP stays compound, mapped by 512 ptes);
 * - MADV_FREE of part of a THP, and migrate_vma over a THP, split the page
 *   itself (split_huge_page), which fails with -EBUSY while it is pinned;
 * - migrate_vma splits a huge zero pmd before collecting.
 *
 * THP mode: the model's default is "madvise" (only VM_HUGEPAGE regions get
 * THPs; the 4.20 Kconfig default is "always"), with use_zero_page on; see
 * {@link set_transparent_hugepage}. shmem never uses huge pages (tmpfs
 * huge=never). Deferred splitting of partly unmapped THPs is not modelled:
 * such a THP stays allocated until its last subpage is unmapped.
 *
 * Simulated time: a THP fault costs cpu.thpFault2MiB (clearing included);
 * a read fault that maps the huge zero page cpu.zeroPageReadFault.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../kernel.ts";
import { ENOMEM, ENOSPC, ERR_PTR, type ErrPtr, IS_ERR, PTR_ERR } from "./../errno.ts";
import {
  anon_vma_prepare,
  FAULT_FLAG_WRITE,
  HPAGE_RESV_OWNER,
  HPAGE_RESV_UNMAPPED,
  HugetlbResvMap,
  HugetlbVmaData,
  is_cow_mapping,
  maybe_mkwrite,
  MM_ANONPAGES,
  type MmStruct,
  VM_FAULT_FALLBACK,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_WRITE,
  VM_HUGEPAGE,
  VM_MAYSHARE,
  VM_NOHUGEPAGE,
  VM_SHARED,
  VM_WRITE,
  vma_is_anonymous,
  type VmAreaStruct,
  type VmFault,
  type VmOps,
} from "./mm-types.ts";
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_only_end,
  mmu_notifier_invalidate_range_start,
} from "./mmu-notifier.ts";
import {
  clear_compound_page,
  compound_head,
  compound_order,
  compoundMapcount,
  page_index,
  page_mapping_raw,
  PageAnon,
  pageFlags2,
  PageLocked,
  PG_dirty,
  PG_lru,
  PG_swapbacked,
  PG_uptodate,
  raw_mapcount,
  set_page_index,
  set_page_mapping_raw,
  set_raw_mapcount,
  setCompoundMapcount,
  setPageFlag2,
  total_mapcount,
} from "./page-ext.ts";
import { clear_highpage, copy_highpage } from "./page-contents.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_RW,
  HPAGE_PMD_SIZE,
  orBits,
  pfn_pte,
  pte_mkdirty,
  pte_mkold,
  pte_mkspecial,
  pte_mkwrite,
  pte_mkyoung,
  pte_modify,
  pte_pfn,
  pte_write,
  pte_wrprotect,
  PteTable,
} from "./pgtable.ts";
import {
  alloc_page,
  alloc_pages,
  freeRamPage,
  get_huge_zero_page,
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  is_huge_zero_page,
  my_zero_pfn,
} from "./ram-alloc.ts";
import { get_page, put_page } from "./swap.ts";
import { page_count } from "./memmap.ts";
import {
  page_add_new_anon_rmap,
  page_dup_rmap,
  page_move_anon_rmap,
  page_remove_rmap,
  rmap_walk,
} from "./rmap.ts";
import { MmuGather, tlb_finish_mmu } from "./memory.ts";
import { sectionOf } from "./mmzone.ts";
import type { Page } from "./types.ts";
import { HUB } from "./hub.ts";

/** /sys/kernel/mm/transparent_hugepage/enabled. */
export type ThpMode = "always" | "madvise" | "never";

/** THP and hugetlb state of a kernel. */
export class HugeState {
  /** THP mode (model default "madvise"). */
  mode: ThpMode = "madvise";
  /** use_zero_page. */
  useZeroPage = true;
  /** Free hugetlb pages (head pfns). */
  hugetlbFree: Page[] = [];
  /** Pages in the hugetlb pool, surplus included (h->nr_huge_pages). */
  nrHugepages = 0;
  /**
   * Surplus pages (h->surplus_huge_pages): only a shrink below the pages in
   * use makes them here (nr_overcommit_hugepages is 0); a surplus page goes
   * to the buddy allocator when freed.
   */
  surplusHugepages = 0;
  /** Reserved but not yet faulted hugetlb pages. */
  resvHugepages = 0;
  /** hugetlb_no_page's pr_warn_ratelimited state (begin of the interval, lines printed in it). */
  warnRs = { begin: -Infinity, printed: 0 };
  /**
   * THP faults, fallbacks, splits; hugetlb COW copies and the owner's
   * takebacks from its children (unmap_ref_private).
   */
  stats = {
    thpFault: 0,
    thpFallback: 0,
    splitPmd: 0,
    splitPage: 0,
    splitFailed: 0,
    hugetlbCopy: 0,
    hugetlbUnmapRef: 0,
  };
  /** cpu.thpFault2MiB. */
  readonly thpNs: number;
  /** cpu.zeroPageReadFault. */
  readonly zeroNs: number;
  /**
   * Reads the costs.
   * @param k the kernel.
   */
  constructor(k: Kernel) {
    this.thpNs = k.cost.get("cpu.thpFault2MiB");
    this.zeroNs = k.cost.get("cpu.zeroPageReadFault");
  }
}

/** THP/hugetlb state of a kernel. */
export const HUGE: SubsystemKey<HugeState> = {
  name: "huge-memory",
  create: (k: Kernel) => {
    const st = new HugeState(k);
    // free_huge_page: a hugetlb page whose count reaches zero goes back to the pool, still a
    // hugetlb page (HUGETLB_PAGE_DTOR stays until set_nr_hugepages gives it back to the buddy)
    // — unless the pool has surplus pages: then it goes to the buddy (update_and_free_page)
    k.state(HUB).ram.hugetlbFree = (page: Page) => {
      if (st.surplusHugepages > 0) {
        st.surplusHugepages--;
        st.nrHugepages--;
        setPageFlag2(k, page, PG_HUGETLB, false);
        freeRamPage(k, page);
        return true;
      }
      st.hugetlbFree.push(page);
      return true;
    };
    return st;
  },
};

/** The extra-flags bit marking a hugetlb page (the kernel's HUGETLB_PAGE_DTOR). */
export const PG_HUGETLB = 128;

/** Sets /sys/kernel/mm/transparent_hugepage/{enabled,use_zero_page}. */
export function set_transparent_hugepage(k: Kernel, mode: ThpMode, useZeroPage = true): void {
  if (mode !== "always" && mode !== "madvise" && mode !== "never") {
    throw new RangeError(`Cannot set THP mode "${mode}": use always, madvise or never`);
  }
  const st = k.state(HUGE);
  st.mode = mode;
  st.useZeroPage = useZeroPage;
}

/**
 * transparent_hugepage_enabled(vma): anonymous VMAs only (tmpfs is
 * huge=never), not VM_NOHUGEPAGE; "always" → yes, "madvise" → VM_HUGEPAGE.
 */
export function transparent_hugepage_enabled(k: Kernel, vma: VmAreaStruct): boolean {
  if (!vma_is_anonymous(vma)) return false;
  if ((vma.vm_flags & VM_NOHUGEPAGE) !== 0) return false;
  const mode = k.state(HUGE).mode;
  if (mode === "always") return true;
  return mode === "madvise" && (vma.vm_flags & VM_HUGEPAGE) !== 0;
}

/** transhuge_vma_suitable(vma, haddr): the whole 2 MiB is inside the VMA and pgoff-aligned. */
function transhuge_vma_suitable(vma: VmAreaStruct, haddr: number): boolean {
  if ((Math.floor(vma.vm_start / 4096) - vma.vm_pgoff) % HPAGE_PMD_NR !== 0) return false;
  return haddr >= vma.vm_start && haddr + HPAGE_PMD_SIZE <= vma.vm_end;
}

/** is_huge_zero_pmd(pmd). */
export function is_huge_zero_pmd(k: Kernel, pmd: number): boolean {
  return pmd !== 0 && is_huge_zero_page(k, pte_pfn(pmd));
}

/**
 * do_huge_pmd_anonymous_page(vmf): an empty pmd in a THP-enabled VMA. A
 * read maps the huge zero page; a write allocates and clears a THP and maps
 * it (writable and dirty if allowed). VM_FAULT_FALLBACK when the 2 MiB does
 * not fit the VMA or no THP (or huge zero page) is available.
 */
export function do_huge_pmd_anonymous_page(k: Kernel, vmf: VmFault): number {
  const vma = vmf.vma;
  const st = k.state(HUGE);
  const haddr = vmf.address - (vmf.address % HPAGE_PMD_SIZE);
  if (!transhuge_vma_suitable(vma, haddr)) return VM_FAULT_FALLBACK;
  anon_vma_prepare(k, vma);
  const pt = vma.vm_mm.pgd;
  if ((vmf.flags & FAULT_FLAG_WRITE) === 0 && st.useZeroPage) {
    const zero = get_huge_zero_page(k);
    if (zero === null) {
      st.stats.thpFallback++;
      return VM_FAULT_FALLBACK;
    }
    const t = pt.alloc(haddr);
    t.ptes = null;
    t.huge = pfn_pte(zero, vma.vm_page_prot);
    k.clock.advance(st.zeroNs);
    if (k.trace.on) {
      k.trace.emit({ kind: "fault", op: "huge_zero", mm: vma.vm_mm.id, addr: haddr, ret: 0 });
    }
    return 0;
  }
  const page = alloc_pages(k, 0, HPAGE_PMD_ORDER);
  if (page === null) {
    st.stats.thpFallback++;
    return VM_FAULT_FALLBACK;
  }
  mapNewThp(k, vma, haddr, page);
  if (k.trace.on) {
    k.trace.emit({ kind: "fault", op: "huge_anon", mm: vma.vm_mm.id, addr: haddr, ret: 0 });
  }
  return 0;
}

/** Maps a freshly allocated, cleared THP at `haddr` (__do_huge_pmd_anonymous_page's tail). */
function mapNewThp(k: Kernel, vma: VmAreaStruct, haddr: number, page: Page): void {
  const st = k.state(HUGE);
  setPageFlag2(k, page, PG_uptodate | PG_swapbacked | PG_lru, true);
  let entry = pfn_pte(page, vma.vm_page_prot);
  entry = maybe_mkwrite(pte_mkdirty(entry), vma);
  page_add_new_anon_rmap(k, page, vma, haddr, true);
  const t = vma.vm_mm.pgd.alloc(haddr);
  t.ptes = null;
  t.huge = entry;
  vma.vm_mm.rss[MM_ANONPAGES]! += HPAGE_PMD_NR;
  st.stats.thpFault++;
  k.clock.advance(st.thpNs);
}

/**
 * do_huge_pmd_wp_page(vmf, orig_pmd): a write to a read-only huge pmd. The
 * huge zero page: a new cleared THP, or — none free — split the pmd and
 * fall back. A THP mapped once is made writable. Otherwise copy it into a
 * new THP, or — none free — into 512 small pages
 * (do_huge_pmd_wp_page_fallback); if even that fails, split and fall back.
 * (mm/huge_memory.c) `t` is the table vmf->pmd points to; `orig_pmd` is
 * its value, `t.huge` (the model's faults are atomic, so it cannot change).
 */
export function do_huge_pmd_wp_page(k: Kernel, vmf: VmFault, t: PteTable): number {
  const vma = vmf.vma;
  const mm = vma.vm_mm;
  const haddr = vmf.address - (vmf.address % HPAGE_PMD_SIZE);
  const orig = t.huge;
  let page: Page = -1;
  if (!is_huge_zero_pmd(k, orig)) {
    page = pte_pfn(orig);
    // reuse_swap_page: mapped once
    if (total_mapcount(k, page) <= 1) {
      t.huge = maybe_mkwrite(pte_mkdirty(orBits(orig, _PAGE_ACCESSED)), vma);
      return VM_FAULT_WRITE;
    }
    get_page(k, page);
  }
  const newp = transparent_hugepage_enabled(k, vma) ? alloc_pages(k, 0, HPAGE_PMD_ORDER) : null;
  if (newp === null) {
    k.state(HUGE).stats.thpFallback++;
    if (page < 0) {
      split_huge_pmd(k, vma, t, haddr);
      return VM_FAULT_FALLBACK;
    }
    let ret = do_huge_pmd_wp_page_fallback(k, vmf, t, page);
    if ((ret & VM_FAULT_OOM) !== 0) {
      split_huge_pmd(k, vma, t, haddr);
      ret |= VM_FAULT_FALLBACK;
    }
    put_page(k, page);
    return ret;
  }
  if (page >= 0) {
    for (let i = 0; i < HPAGE_PMD_NR; i++) copy_highpage(k, newp + i, page + i);
  }
  mmu_notifier_invalidate_range_start(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
  if (page >= 0) {
    page_remove_rmap(k, page, true);
    put_page(k, page); // the pmd's reference
  }
  t.huge = 0;
  mapNewThp(k, vma, haddr, newp);
  if (page >= 0) mm.rss[MM_ANONPAGES]! -= HPAGE_PMD_NR;
  mmu_notifier_invalidate_range_only_end(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
  if (page >= 0) put_page(k, page); // our get_page
  if (k.trace.on) {
    k.trace.emit({ kind: "fault", op: "huge_wp", mm: mm.id, addr: haddr, ret: VM_FAULT_WRITE });
  }
  return VM_FAULT_WRITE;
}

/**
 * do_huge_pmd_wp_page_fallback(vmf, orig_pmd, page): copy a shared THP
 * into 512 small pages mapped writable-if-allowed and dirty; VM_FAULT_OOM if
 * any allocation fails (all freed again). `t` and `orig_pmd` as in
 * do_huge_pmd_wp_page.
 */
function do_huge_pmd_wp_page_fallback(k: Kernel, vmf: VmFault, t: PteTable, page: Page): number {
  const vma = vmf.vma;
  const mm = vma.vm_mm;
  const haddr = vmf.address - (vmf.address % HPAGE_PMD_SIZE);
  const pages: Page[] = [];
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const p = alloc_page(k);
    if (p === null) {
      for (const q of pages) put_page(k, q);
      return VM_FAULT_OOM;
    }
    pages.push(p);
  }
  for (let i = 0; i < HPAGE_PMD_NR; i++) copy_highpage(k, pages[i]!, page + i);
  mmu_notifier_invalidate_range_start(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
  t.huge = 0;
  t.ptes = new Float64Array(512);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const p = pages[i]!;
    setPageFlag2(k, p, PG_uptodate | PG_swapbacked | PG_lru, true);
    page_add_new_anon_rmap(k, p, vma, haddr + i * 4096, false);
    t.ptes[i] = maybe_mkwrite(pte_mkdirty(pfn_pte(p, vma.vm_page_prot)), vma);
  }
  page_remove_rmap(k, page, true);
  put_page(k, page); // the pmd's reference
  mmu_notifier_invalidate_range_only_end(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
  k.clock.advance(k.state(HUGE).thpNs);
  return VM_FAULT_WRITE;
}

/**
 * split_huge_pmd(vma, pmd, address) (include/linux/huge_mm.h, a macro
 * around __split_huge_pmd(vma, pmd, address, freeze, page)): replaces a
 * huge pmd by a pte table. `pmd` is the table covering `address`.
 * The huge zero page becomes 512 zero-page ptes; a THP stays compound and
 * each subpage gets its own pte (write, dirty, young carried over), a
 * mapcount and, on the head, a reference — the pmd's mapping becomes 512
 * pte mappings. Under mmu_notifier_invalidate_range_start/only_end for
 * the 2 MiB. A no-op when the pmd is not huge.
 */
export function split_huge_pmd(
  k: Kernel,
  vma: VmAreaStruct,
  pmd: PteTable,
  address: number,
): void {
  const mm = vma.vm_mm;
  const haddr = address - (address % HPAGE_PMD_SIZE);
  const t = pmd;
  if (t.huge === 0) return;
  mmu_notifier_invalidate_range_start(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
  __split_huge_pmd_locked(k, vma, t, haddr);
  mmu_notifier_invalidate_range_only_end(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
}

function __split_huge_pmd_locked(k: Kernel, vma: VmAreaStruct, t: PteTable, haddr: number): void {
  const pmd = t.huge;
  const ptes = new Float64Array(512);
  const st = k.state(HUGE);
  st.stats.splitPmd++;
  if (is_huge_zero_pmd(k, pmd)) {
    const zero = pte_mkspecial(pfn_pte(my_zero_pfn(k, haddr), vma.vm_page_prot));
    ptes.fill(zero);
    t.huge = 0;
    t.ptes = ptes;
    return;
  }
  const page = pte_pfn(pmd);
  const write = (pmd & _PAGE_RW) !== 0;
  const young = (pmd & _PAGE_ACCESSED) !== 0;
  if ((pmd & _PAGE_DIRTY) !== 0) setPageFlag2(k, page, PG_dirty, true);
  // each pte holds a reference on the compound page
  const s = sectionOf(k.state(HUB).mm, page)!;
  const hi = page & 32767;
  s.setRef(hi, s.ref(hi) + HPAGE_PMD_NR - 1);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    let e = maybe_mkwrite(pfn_pte(page + i, vma.vm_page_prot), vma);
    if (!write) e = pte_wrprotect(e);
    if (!young) e = pte_mkold(e);
    else e = orBits(e, _PAGE_ACCESSED);
    ptes[i] = e;
    set_raw_mapcount(k, page + i, raw_mapcount(k, page + i) + 1);
  }
  setCompoundMapcount(k, page, compoundMapcount(k, page) - 1);
  t.huge = 0;
  t.ptes = ptes;
  if (k.trace.on) {
    k.trace.emit({
      kind: "vma",
      op: "split_huge",
      mm: vma.vm_mm.id,
      start: haddr,
      end: haddr + HPAGE_PMD_SIZE,
      ret: 0,
    });
  }
}

/**
 * vma_adjust_trans_huge(vma, start, end, adjust_next) for one new VMA
 * boundary `addr`: a huge pmd that the boundary cuts through is split.
 */
export function vma_adjust_trans_huge(k: Kernel, vma: VmAreaStruct, addr: number): void {
  if (addr % HPAGE_PMD_SIZE === 0) return;
  const t = vma.vm_mm.pgd.lookup(addr);
  if (t !== undefined && t.huge !== 0 && (vma.vm_flags & 0x400000) === 0) {
    split_huge_pmd(k, vma, t, addr);
  }
}

/**
 * split_huge_page(page) (split_huge_page_to_list): the caller holds the page
 * lock and one reference. Fails with -EBUSY if other references pin the
 * THP (can_split_huge_page: total_mapcount == page_count - 1 for an
 * anonymous THP). Otherwise every PMD mapping is split, the compound page
 * becomes 512 order-0 pages — each with the head's mapping, its own index,
 * the head's flags, a reference per mapping — and the caller's reference
 * stays on `page`. Returns 0 or -EBUSY.
 */
export function split_huge_page(k: Kernel, page: Page): number {
  const head = compound_head(k, page);
  const order = compound_order(k, head);
  if (order === 0) return 0;
  const st = k.state(HUGE);
  if (!PageLocked(k, head)) k.BUG("mm/huge_memory.c:split_huge_page_to_list (page not locked)");
  if (total_mapcount(k, head) !== page_count(k, head) - 1) {
    st.stats.splitFailed++;
    return -16; // -EBUSY
  }
  // unmap_page: split every PMD mapping into ptes (they stay mapped: the
  // migration-entry round trip of the kernel leaves the same ptes behind)
  const raw = page_mapping_raw(k, head);
  const index = page_index(k, head);
  rmap_walk(k, head, (vma, address) => {
    const t = vma.vm_mm.pgd.lookup(address);
    if (t !== undefined && t.huge !== 0 && pte_pfn(t.huge) === head) {
      split_huge_pmd(k, vma, t, address);
    }
    return true;
  });
  // __split_huge_page: the compound is dissolved
  const flags = pageFlags2(k, head) & (PG_dirty | PG_uptodate | PG_swapbacked | PG_lru);
  clear_compound_page(k, head, order);
  const s = sectionOf(k.state(HUB).mm, head)!;
  for (let i = 0; i < 2 ** order; i++) {
    const p = head + i;
    const maps = raw_mapcount(k, p) + 1;
    s.setRef(p & 32767, maps + (p === page ? 1 : 0));
    set_page_mapping_raw(k, p, raw);
    set_page_index(k, p, index + i);
    setPageFlag2(k, p, flags, true);
  }
  st.stats.splitPage++;
  return 0;
}

/**
 * zap_huge_pmd(tlb, vma, pmd, addr): clears a huge pmd. The huge zero page
 * keeps no per-mapping reference; a THP loses its compound mapping, 512
 * rss pages, and (at tlb_finish_mmu) the pmd's reference; a hugetlb page
 * the same. `pmd` is the table covering `addr`. Returns 1, or 0 (nothing
 * done) when the pmd is not huge, as __pmd_trans_huge_lock failing does.
 */
export function zap_huge_pmd(
  k: Kernel,
  tlb: MmuGather,
  vma: VmAreaStruct,
  pmd: PteTable,
  addr: number,
): number {
  const orig_pmd = pmd.huge;
  if (orig_pmd === 0) return 0;
  const mm = vma.vm_mm;
  mm.pgd.free(addr);
  if (is_huge_zero_pmd(k, orig_pmd)) return 1;
  const page = pte_pfn(orig_pmd);
  page_remove_rmap(k, page, true);
  if ((pageFlags2(k, page) & PG_HUGETLB) === 0) mm.rss[MM_ANONPAGES]! -= HPAGE_PMD_NR;
  tlb.pages.push(page);
  return 1;
}

/**
 * copy_huge_pmd(dst_mm, src_mm, dst_pmd, src_pmd, addr, vma)
 * (mm/huge_memory.c): fork. `dst_pmd` / `src_pmd` are the tables covering
 * `addr` in the child (allocated by the caller, as copy_pmd_range's
 * pmd_alloc does) and the parent. The huge zero page is mapped in the child
 * too; a THP gets a reference and a compound mapcount, and both pmds become
 * read-only and old. Returns 0.
 */
export function copy_huge_pmd(
  k: Kernel,
  dst_mm: MmStruct,
  _src_mm: MmStruct,
  dst_pmd: PteTable,
  src_pmd: PteTable,
  _addr: number,
  _vma: VmAreaStruct,
): number {
  const st = src_pmd;
  const pmd = st.huge;
  const dt = dst_pmd;
  dt.ptes = null;
  if (is_huge_zero_pmd(k, pmd)) {
    dt.huge = pmd;
    return 0;
  }
  const page = pte_pfn(pmd);
  get_page(k, page);
  page_dup_rmap(k, page, true);
  dst_mm.rss[MM_ANONPAGES]! += HPAGE_PMD_NR;
  st.huge = pte_wrprotect(pmd);
  dt.huge = pte_mkold(pte_wrprotect(pmd));
  return 0;
}

/**
 * change_huge_pmd(vma, pmd, addr, newprot, prot_numa) (mm/huge_memory.c):
 * mprotect of a whole huge pmd (pmd_modify). Returns the number of pages
 * changed (HPAGE_PMD_NR), or 0 when the pmd is not huge. `_prot_numa` is
 * not read: the model has no NUMA balancing.
 */
export function change_huge_pmd(
  k: Kernel,
  _vma: VmAreaStruct,
  pmd: PteTable,
  _addr: number,
  newprot: number,
  _prot_numa: number,
): number {
  const t = pmd;
  if (t.huge === 0) return 0;
  let e = pte_modify(t.huge, newprot);
  if (is_huge_zero_pmd(k, e)) e = pte_wrprotect(e);
  t.huge = e;
  return HPAGE_PMD_NR;
}

// ---- hugetlb (mm/hugetlb.c) ----

/**
 * set_max_huge_pages (mm/hugetlb.c) of a write to vm.nr_hugepages: grows
 * the pool of 2 MiB hugetlb pages — surplus pages become persistent first,
 * then new pages come from System RAM — or shrinks it: free pages not
 * held for reservations go back to the buddy, then pages in use become
 * surplus (they go to the buddy when freed). Returns the persistent pool
 * size (nr_hugepages minus surplus): `n` unless RAM ran out.
 */
export function set_nr_hugepages(k: Kernel, n: number): number {
  const st = k.state(HUGE);
  const persistent = () => st.nrHugepages - st.surplusHugepages;
  while (st.surplusHugepages > 0 && n > persistent()) st.surplusHugepages--; // adjust_pool_surplus
  while (persistent() < n) {
    const p = alloc_pages(k, 0, HPAGE_PMD_ORDER);
    if (p === null) break;
    // the pool owns the page with a count of 0 (free_huge_page)
    const s = sectionOf(k.state(HUB).mm, p)!;
    s.setRef(p & 32767, 0);
    setPageFlag2(k, p, PG_HUGETLB, true);
    st.hugetlbFree.push(p);
    st.nrHugepages++;
  }
  // keep the pages in use and enough free ones for the reservations
  const min = Math.max(n, st.resvHugepages + st.nrHugepages - st.hugetlbFree.length);
  while (min < persistent() && free_pool_huge_page(k, false));
  // the rest becomes surplus (adjust_pool_surplus), independent of nr_overcommit_hugepages
  while (n < persistent() && st.surplusHugepages < st.nrHugepages) st.surplusHugepages++;
  return persistent();
}

/**
 * free_pool_huge_page(h, nodes, acct_surplus) (mm/hugetlb.c): gives a free
 * pool page back to the buddy allocator (update_and_free_page), one surplus
 * page fewer with `acct_surplus`. False when no page is free (the kernel's
 * int 0/1). `h` and `nodes_allowed` are left out: the model has one hstate
 * (2 MiB) and one node.
 */
function free_pool_huge_page(k: Kernel, acct_surplus: boolean): boolean {
  const st = k.state(HUGE);
  const p = st.hugetlbFree.pop();
  if (p === undefined) return false;
  if (acct_surplus) st.surplusHugepages--;
  const s = sectionOf(k.state(HUB).mm, p)!;
  s.setRef(p & 32767, 1);
  setPageFlag2(k, p, PG_HUGETLB, false);
  st.nrHugepages--;
  put_page(k, p);
  return true;
}

/**
 * hugetlb_reserve_pages for `n` huge pages: 0, or -ENOMEM if the pool cannot
 * back them. Not the kernel's signature, hugetlb_reserve_pages(inode, from,
 * to, vma, vm_flags) (mm/hugetlb.c): the model keeps no hugetlbfs inode or
 * region map for it to work on; the caller (mmap) passes the page count and
 * records the reservation in the VMA (hugetlb_vma_data_for_mmap).
 */
export function hugetlb_reserve_pages(k: Kernel, n: number): number {
  const st = k.state(HUGE);
  if (st.hugetlbFree.length - st.resvHugepages < n) return -ENOMEM;
  st.resvHugepages += n;
  return 0;
}

/**
 * hugetlb_acct_memory(h, -n) of hugetlb_vm_op_close / hugetlb_unreserve_pages:
 * gives back `n` reservations (return_unused_surplus_pages: as many free
 * pages as the pool has surplus go back to the buddy with them). More than
 * are outstanding is a model bug (the kernel's resv_huge_pages would wrap).
 * Not the kernel's hugetlb_unreserve_pages(inode, start, end, freed)
 * signature (mm/hugetlb.c), for the reason hugetlb_reserve_pages gives.
 */
export function hugetlb_unreserve_pages(k: Kernel, n: number): void {
  const st = k.state(HUGE);
  if (n > st.resvHugepages) {
    k.BUG(
      `mm/hugetlb.c:hugetlb_acct_memory (giving back ${n} reservations, ${st.resvHugepages} held)`,
    );
  }
  for (let nr = Math.min(n, st.surplusHugepages); nr > 0; nr--) {
    st.resvHugepages--;
    n--;
    if (!free_pool_huge_page(k, true)) break;
  }
  st.resvHugepages -= n;
}

/** vma_hugecache_offset(h, vma, address): the huge-page index of `address` in the mapping. */
function vma_hugecache_offset(vma: VmAreaStruct, address: number): number {
  return Math.floor((address - vma.vm_start) / HPAGE_PMD_SIZE) +
    Math.floor(vma.vm_pgoff / HPAGE_PMD_NR);
}

/** The VMA's reservation map and HPAGE_RESV_* flags (null for a private mapping's child). */
function hugetlbData(vma: VmAreaStruct): HugetlbVmaData | null {
  return vma.vm_private_data as HugetlbVmaData | null;
}

/** is_vma_resv_set(vma, flag). */
function is_vma_resv_set(vma: VmAreaStruct, flag: number): boolean {
  return ((hugetlbData(vma)?.flags ?? 0) & flag) !== 0;
}

/** set_vma_resv_flags(vma, flags): private mappings only. */
function set_vma_resv_flags(vma: VmAreaStruct, flags: number): void {
  const d = hugetlbData(vma);
  if (d === null) vma.vm_private_data = new HugetlbVmaData(null, flags);
  else d.flags |= flags;
}

/**
 * hugetlb_vma_data_for_mmap: what hugetlbfs_file_mmap → hugetlb_reserve_pages
 * leaves in a new hugetlb VMA of `pages` huge pages — a private mapping's
 * own resv_map with HPAGE_RESV_OWNER; a shared one's map is its file's
 * (kept here, no flags).
 */
export function hugetlb_vma_data_for_mmap(pages: number, shared: boolean): HugetlbVmaData {
  return new HugetlbVmaData(new HugetlbResvMap(pages), shared ? 0 : HPAGE_RESV_OWNER);
}

/**
 * reset_vma_resv_huge_pages(vma) (mm/hugetlb.c; dup_mmap calls it for a
 * child's hugetlb VMA): a private mapping's copy has no resv_map and no
 * flags — it holds no reservation, and its close gives none back.
 */
export function reset_vma_resv_huge_pages(vma: VmAreaStruct): void {
  if ((vma.vm_flags & VM_MAYSHARE) === 0) vma.vm_private_data = null;
}

/**
 * hugetlb_vm_op_close(vma) (mm/hugetlb.c): the owner of a private mapping
 * gives back the reservations of its range that no fault consumed
 * (`(end - start) - region_count`); other private VMAs give back nothing. A
 * shared mapping's reservations belong to its file: they go when its last
 * VMA does (the model's hugetlbfs_evict_inode → hugetlb_unreserve_pages:
 * reserved minus consumed).
 */
function hugetlb_vm_op_close(k: Kernel, vma: VmAreaStruct): void {
  const d = hugetlbData(vma);
  const resv = d?.resv ?? null;
  if (resv === null) return;
  if ((vma.vm_flags & VM_MAYSHARE) !== 0) {
    if (vma.vm_file !== null && vma.vm_file.f_mapping.i_mmap.size === 0) {
      hugetlb_unreserve_pages(k, resv.pages - resv.consumed.size);
    }
    return;
  }
  if (!is_vma_resv_set(vma, HPAGE_RESV_OWNER)) return;
  const start = vma_hugecache_offset(vma, vma.vm_start);
  const end = vma_hugecache_offset(vma, vma.vm_end);
  let reserve = end - start;
  for (let idx = start; idx < end; idx++) if (resv.consumed.has(idx)) reserve--;
  hugetlb_unreserve_pages(k, reserve);
}

/** hugetlb_vm_ops: every hugetlb VMA's (its ->close gives back reservations). */
export const hugetlb_vm_ops: VmOps = { name: "hugetlb", close: hugetlb_vm_op_close };

/**
 * alloc_huge_page(vma, addr, avoid_reserve) (mm/hugetlb.c): a page from the
 * pool for `addr` of `vma`, with a count of 1. vma_needs_reservation: the
 * owner of a private mapping (or a shared mapping) has a reservation for an
 * index no fault consumed yet; a private mapping's child never has one.
 * With a reservation (and not `avoid_reserve`, hugetlb_cow's owner copy)
 * the page comes out of it (resv_huge_pages--); without, only a page no
 * reservation holds will do (free_huge_pages - resv_huge_pages > 0). The
 * index is then recorded as consumed (vma_commit_reservation). Returns the
 * page, or ERR_PTR(-ENOSPC) (no surplus pages: nr_overcommit_hugepages is 0).
 */
function alloc_huge_page(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  avoid_reserve: boolean,
): Page | ErrPtr {
  const st = k.state(HUGE);
  const resv = hugetlbData(vma)?.resv ?? null;
  const owner = (vma.vm_flags & VM_MAYSHARE) !== 0 || is_vma_resv_set(vma, HPAGE_RESV_OWNER);
  const idx = vma_hugecache_offset(vma, addr);
  const chg = resv === null || !owner || resv.consumed.has(idx) ? 1 : 0; // vma_needs_reservation
  const useResv = !avoid_reserve && chg === 0; // vma_has_reserves
  if (!useResv && st.hugetlbFree.length - st.resvHugepages <= 0) return ERR_PTR(-ENOSPC);
  const page = st.hugetlbFree.pop();
  if (page === undefined) return ERR_PTR(-ENOSPC);
  if (useResv) st.resvHugepages--;
  if (resv !== null && owner) resv.consumed.add(idx); // vma_commit_reservation
  const s = sectionOf(k.state(HUB).mm, page)!;
  s.setRef(page & 32767, 1);
  return page;
}

/** make_huge_pte(vma, page, writable): writable+dirty or write-protected; young. */
function make_huge_pte(vma: VmAreaStruct, page: Page, writable: boolean): number {
  let e = pfn_pte(page, vma.vm_page_prot);
  e = writable ? pte_mkwrite(pte_mkdirty(e)) : pte_wrprotect(e);
  return pte_mkyoung(e);
}

/** vmf_error(err): -ENOMEM is VM_FAULT_OOM, anything else VM_FAULT_SIGBUS. */
function vmf_error(err: number): number {
  return err === -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}

/**
 * pr_warn_ratelimited (DEFAULT_RATELIMIT_INTERVAL 5 s, _BURST 10, in
 * simulated time) of hugetlb_no_page's one message.
 */
function warnRatelimited(k: Kernel, text: string): void {
  const rs = k.state(HUGE).warnRs;
  if (k.now - rs.begin >= 5e9) {
    rs.begin = k.now;
    rs.printed = 0;
  }
  if (rs.printed < 10) {
    rs.printed++;
    k.dmesg.printk("warning", text);
  }
}

/**
 * copy_hugetlb_page_range(dst, src, vma) (mm/hugetlb.c): fork's copy of a
 * hugetlb VMA's entries. A COW mapping (is_cow_mapping) write-protects the
 * parent's entry (inside mmu_notifier_invalidate_range_start/end over the
 * VMA) and the child gets the same, read-only, entry; a shared mapping's
 * entry is copied as it is. The page gets a reference and a mapping
 * (get_page, page_dup_rmap). hugetlb_count_add (mm->hugetlb_usage) is not
 * modelled: hugetlb pages are in no rss counter. Returns 0.
 */
export function copy_hugetlb_page_range(
  k: Kernel,
  dst: MmStruct,
  src: MmStruct,
  vma: VmAreaStruct,
): number {
  const cow = is_cow_mapping(vma.vm_flags);
  if (cow) mmu_notifier_invalidate_range_start(k, src, vma.vm_start, vma.vm_end);
  for (let addr = vma.vm_start; addr < vma.vm_end; addr += HPAGE_PMD_SIZE) {
    const st = src.pgd.lookup(addr);
    if (st === undefined || st.huge === 0) continue;
    const dt = dst.pgd.alloc(addr);
    if (dt.huge !== 0) continue; // shared page tables: not modelled, never taken
    if (cow) st.huge = pte_wrprotect(st.huge); // huge_ptep_set_wrprotect
    const entry = st.huge;
    const page = pte_pfn(entry);
    get_page(k, page);
    page_dup_rmap(k, page, true);
    dt.ptes = null;
    dt.huge = entry;
  }
  if (cow) mmu_notifier_invalidate_range_end(k, src, vma.vm_start, vma.vm_end);
  return 0;
}

/**
 * unmap_ref_private(mm, vma, page, address) (mm/hugetlb.c): the owner of a
 * private mapping could not copy `page` on a write. Every other private VMA
 * that maps `page` at `address` without its own reservations — a child's —
 * loses the entry (unmap_hugepage_range with ref_page: mmu notifiers
 * around, page_remove_rmap, the entry's reference dropped at the TLB flush)
 * and is flagged HPAGE_RESV_UNMAPPED, so its next fault there is SIGBUS
 * instead of a silently zeroed page. The kernel walks the hugetlbfs file's
 * i_mmap; the model's private hugetlb mappings have no file, so it walks
 * the page's anon_vma (every VMA forked from the owner's is linked to it).
 */
function unmap_ref_private(
  k: Kernel,
  _mm: MmStruct,
  vma: VmAreaStruct,
  page: Page,
  address: number,
): void {
  const haddr = address - (address % HPAGE_PMD_SIZE);
  k.state(HUGE).stats.hugetlbUnmapRef++;
  const victims: VmAreaStruct[] = [];
  rmap_walk(k, page, (iter) => {
    if (iter === vma) return true;
    if ((iter.vm_flags & VM_MAYSHARE) !== 0) return true;
    if (!is_vma_resv_set(iter, HPAGE_RESV_OWNER)) victims.push(iter);
    return true;
  });
  for (const iter of victims) {
    if (haddr < iter.vm_start || haddr >= iter.vm_end) continue;
    const mm = iter.vm_mm;
    const t = mm.pgd.lookup(haddr);
    if (t === undefined || t.huge === 0 || pte_pfn(t.huge) !== page) continue;
    mmu_notifier_invalidate_range_start(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
    set_vma_resv_flags(iter, HPAGE_RESV_UNMAPPED);
    const tlb = new MmuGather(mm, false);
    zap_huge_pmd(k, tlb, iter, t, haddr);
    mmu_notifier_invalidate_range_end(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
    tlb_finish_mmu(k, tlb, haddr, haddr + HPAGE_PMD_SIZE);
  }
}

/**
 * hugetlb_cow(mm, vma, address, ptep, pagecache_page) (mm/hugetlb.c): a
 * write to a write-protected hugetlb entry `t`. A page mapped only here and
 * anonymous is reused (page_move_anon_rmap; the entry made writable, dirty
 * and young). Otherwise a new page is allocated — by the owner of a private
 * mapping outside its reservations (its reservation for this index was
 * consumed by the page being copied, unless that page is `pagecache_page`,
 * the one hugetlb_no_page just instantiated) — the old one copied into it
 * and mapped writable in its place (mmu notifiers around the switch). If no
 * page is left, the owner takes the page from its children
 * (unmap_ref_private) and retries (now mapped once: reuse); anyone else
 * gets vmf_error(-ENOSPC), VM_FAULT_SIGBUS. Returns 0 or VM_FAULT_*.
 * `t` is the table holding the entry (the kernel's `ptep`); `ptl` is left
 * out: the model's faults are atomic.
 */
function hugetlb_cow(
  k: Kernel,
  mm: MmStruct,
  vma: VmAreaStruct,
  address: number,
  t: PteTable,
  pagecache_page: Page,
): number {
  const haddr = address - (address % HPAGE_PMD_SIZE);
  const pte = t.huge;
  const old = pte_pfn(pte);
  for (;;) { // retry_avoidcopy
    // page_mapcount of a hugetlb page is its compound mapcount
    if (compoundMapcount(k, old) + 1 === 1 && PageAnon(k, old)) {
      page_move_anon_rmap(k, old, vma);
      t.huge = pte_mkyoung(pte_mkwrite(pte_mkdirty(t.huge))); // set_huge_ptep_writable
      return 0;
    }
    const outside_reserve = is_vma_resv_set(vma, HPAGE_RESV_OWNER) && old !== pagecache_page;
    get_page(k, old);
    const newp = alloc_huge_page(k, vma, haddr, outside_reserve);
    if (IS_ERR(newp)) {
      put_page(k, old);
      if (outside_reserve) {
        unmap_ref_private(k, mm, vma, old, haddr);
        const nt = mm.pgd.lookup(haddr);
        if (nt !== undefined && nt.huge === pte) continue;
        return 0;
      }
      return vmf_error(PTR_ERR(newp));
    }
    anon_vma_prepare(k, vma); // a shared page has none
    for (let i = 0; i < HPAGE_PMD_NR; i++) copy_highpage(k, newp + i, old + i); // copy_user_huge_page
    setPageFlag2(k, newp, PG_uptodate, true);
    mmu_notifier_invalidate_range_start(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
    t.huge = make_huge_pte(vma, newp, true);
    page_remove_rmap(k, old, true);
    page_add_new_anon_rmap(k, newp, vma, haddr, true); // hugepage_add_new_anon_rmap
    mmu_notifier_invalidate_range_end(k, mm, haddr, haddr + HPAGE_PMD_SIZE);
    const st = k.state(HUGE);
    st.stats.hugetlbCopy++;
    k.clock.advance(st.thpNs);
    put_page(k, old); // the entry's reference
    put_page(k, old); // ours
    return 0;
  }
}

/**
 * hugetlb_no_page(mm, vma, mapping, idx, address, ptep, flags)
 * (mm/hugetlb.c): an empty entry. A private VMA whose page its owner took
 * back (HPAGE_RESV_UNMAPPED) fails: "PID <pid> killed due to inadequate
 * hugepage pool" (ratelimited; the pid is the mm's process) and
 * VM_FAULT_SIGBUS. Otherwise a pool page (alloc_huge_page; -ENOSPC:
 * SIGBUS), cleared, mapped — anonymous rmap for a private mapping, a
 * mapping count for a shared one (the model keeps no hugetlbfs page cache:
 * a shared mapping's pages are shared through the entries fork copies) —
 * writable only for a shared writable VMA (make_huge_pte); a write to a
 * private one then goes through hugetlb_cow at once (which reuses the new
 * page). `mapping`, `idx` and `ptep` are left out: with no hugetlbfs page
 * cache the model has no use for the first two, and the entry is allocated
 * here from `address` once a page is in hand.
 */
function hugetlb_no_page(
  k: Kernel,
  mm: MmStruct,
  vma: VmAreaStruct,
  address: number,
  flags: number,
): number {
  const haddr = address - (address % HPAGE_PMD_SIZE);
  if (is_vma_resv_set(vma, HPAGE_RESV_UNMAPPED)) {
    warnRatelimited(k, `PID ${mm.pid} killed due to inadequate hugepage pool`);
    return VM_FAULT_SIGBUS;
  }
  const page = alloc_huge_page(k, vma, haddr, false);
  if (IS_ERR(page)) return vmf_error(PTR_ERR(page));
  for (let i = 0; i < HPAGE_PMD_NR; i++) clear_highpage(k, page + i); // clear_huge_page
  setPageFlag2(k, page, PG_uptodate, true);
  const shared = (vma.vm_flags & VM_MAYSHARE) !== 0;
  if (!shared) {
    anon_vma_prepare(k, vma);
    page_add_new_anon_rmap(k, page, vma, haddr, true); // hugepage_add_new_anon_rmap
  } else {
    page_dup_rmap(k, page, true);
  }
  const t = mm.pgd.alloc(haddr);
  t.ptes = null;
  t.huge = make_huge_pte(
    vma,
    page,
    (vma.vm_flags & (VM_WRITE | VM_SHARED)) === (VM_WRITE | VM_SHARED),
  );
  k.clock.advance(k.state(HUGE).thpNs);
  if ((flags & FAULT_FLAG_WRITE) !== 0 && (vma.vm_flags & VM_SHARED) === 0) {
    return hugetlb_cow(k, mm, vma, address, t, page); // the COW without a second fault
  }
  return 0;
}

/**
 * hugetlb_fault(mm, vma, address, flags) (mm/hugetlb.c): an empty entry
 * goes to hugetlb_no_page; a write to a write-protected entry to
 * hugetlb_cow (under a reference on the page); otherwise the entry is made
 * young (and dirty for a write). Returns 0 or VM_FAULT_*.
 */
export function hugetlb_fault(
  k: Kernel,
  mm: MmStruct,
  vma: VmAreaStruct,
  address: number,
  flags: number,
): number {
  const haddr = address - (address % HPAGE_PMD_SIZE);
  const t = mm.pgd.lookup(haddr);
  let ret: number;
  if (t === undefined || t.huge === 0) ret = hugetlb_no_page(k, mm, vma, address, flags);
  else {
    const page = pte_pfn(t.huge);
    get_page(k, page);
    if ((flags & FAULT_FLAG_WRITE) !== 0 && !pte_write(t.huge)) {
      ret = hugetlb_cow(k, mm, vma, address, t, -1);
    } else {
      let e = t.huge;
      if ((flags & FAULT_FLAG_WRITE) !== 0) e = pte_mkdirty(e);
      t.huge = pte_mkyoung(e); // huge_ptep_set_access_flags
      ret = 0;
    }
    put_page(k, page);
  }
  if (k.tracing) {
    k.trace.emit({ kind: "fault", op: "hugetlb", mm: mm.id, addr: haddr, ret });
  }
  return ret;
}
