/**
 * Transparent huge pages and the huge zero page (mm/huge_memory.c, v4.20)
 * and a hugetlb pool for MAP_HUGETLB (mm/hugetlb.c, only what the HMM
 * refusals need: a pool of 2 MiB pages, reservation at mmap, the fault and
 * the unmap).
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
import { ENOMEM } from "./../errno.ts";
import {
  anon_vma_prepare,
  FAULT_FLAG_WRITE,
  maybe_mkwrite,
  MM_ANONPAGES,
  type MmStruct,
  VM_FAULT_FALLBACK,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_WRITE,
  VM_HUGEPAGE,
  VM_NOHUGEPAGE,
  VM_SHARED,
  VM_WRITE,
  vma_is_anonymous,
  type VmAreaStruct,
  type VmFault,
} from "./mm-types.ts";
import {
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
  pte_modify,
  pte_pfn,
  pte_wrprotect,
  PteTable,
} from "./pgtable.ts";
import {
  alloc_page,
  alloc_pages,
  get_huge_zero_page,
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  is_huge_zero_page,
  my_zero_pfn,
} from "./ram-alloc.ts";
import { get_page, put_page } from "./swap.ts";
import { page_count } from "./memmap.ts";
import { page_add_new_anon_rmap, page_dup_rmap, page_remove_rmap, rmap_walk } from "./rmap.ts";
import type { MmuGather } from "./memory.ts";
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
  /** Pages in the hugetlb pool (nr_hugepages). */
  nrHugepages = 0;
  /** Reserved but not yet faulted hugetlb pages. */
  resvHugepages = 0;
  /** THP faults, fallbacks, splits. */
  stats = { thpFault: 0, thpFallback: 0, splitPmd: 0, splitPage: 0, splitFailed: 0 };
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
    // free_huge_page: a hugetlb page whose count reaches zero goes back to the pool
    k.state(HUB).ram.hugetlbFree = (page: Page) => {
      setPageFlag2(k, page, PG_HUGETLB, false);
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
      split_huge_pmd(k, vma, haddr);
      return VM_FAULT_FALLBACK;
    }
    let ret = do_huge_pmd_wp_page_fallback(k, vmf, t, page);
    if ((ret & VM_FAULT_OOM) !== 0) {
      split_huge_pmd(k, vma, haddr);
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
 * any allocation fails (all freed again).
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
 * __split_huge_pmd(vma, pmd, address): replaces a huge pmd by a pte table.
 * The huge zero page becomes 512 zero-page ptes; a THP stays compound and
 * each subpage gets its own pte (write, dirty, young carried over), a
 * mapcount and, on the head, a reference — the pmd's mapping becomes 512
 * pte mappings. Under mmu_notifier_invalidate_range_start/only_end for
 * the 2 MiB. A no-op when the pmd is not huge.
 */
export function split_huge_pmd(k: Kernel, vma: VmAreaStruct, address: number): void {
  const mm = vma.vm_mm;
  const haddr = address - (address % HPAGE_PMD_SIZE);
  const t = mm.pgd.lookup(haddr);
  if (t === undefined || t.huge === 0) return;
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
    const zero = pte_mkspecial(pfn_pte(my_zero_pfn(k), vma.vm_page_prot));
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
    split_huge_pmd(k, vma, addr);
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
      split_huge_pmd(k, vma, address);
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
 * the same.
 */
export function zap_huge_pmd(k: Kernel, tlb: MmuGather, vma: VmAreaStruct, addr: number): void {
  const mm = vma.vm_mm;
  const t = mm.pgd.lookup(addr)!;
  const pmd = t.huge;
  mm.pgd.free(addr);
  if (is_huge_zero_pmd(k, pmd)) return;
  const page = pte_pfn(pmd);
  page_remove_rmap(k, page, true);
  if ((pageFlags2(k, page) & PG_HUGETLB) === 0) mm.rss[MM_ANONPAGES]! -= HPAGE_PMD_NR;
  tlb.pages.push(page);
}

/**
 * copy_huge_pmd(dst_mm, src_mm, dst_pmd, src_pmd, addr, vma): fork. The
 * huge zero page is mapped in the child too; a THP gets a reference and a
 * compound mapcount, and both pmds become read-only and old.
 */
export function copy_huge_pmd(
  k: Kernel,
  dst_mm: MmStruct,
  src_mm: MmStruct,
  _dst_vma: VmAreaStruct,
  _vma: VmAreaStruct,
  addr: number,
): number {
  const st = src_mm.pgd.lookup(addr)!;
  const pmd = st.huge;
  const dt = dst_mm.pgd.alloc(addr);
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
 * change_huge_pmd(vma, pmd, addr, newprot): mprotect of a whole huge pmd
 * (pmd_modify). Returns the number of pages changed (HPAGE_PMD_NR).
 */
export function change_huge_pmd(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  newprot: number,
): number {
  const t = vma.vm_mm.pgd.lookup(addr)!;
  let e = pte_modify(t.huge, newprot);
  if (is_huge_zero_pmd(k, e)) e = pte_wrprotect(e);
  t.huge = e;
  return HPAGE_PMD_NR;
}

// ---- hugetlb (mm/hugetlb.c) ----

/**
 * Sets vm.nr_hugepages: grows (from System RAM) or shrinks (free pages
 * only) the pool of 2 MiB hugetlb pages. Returns the new pool size.
 */
export function set_nr_hugepages(k: Kernel, n: number): number {
  const st = k.state(HUGE);
  while (st.nrHugepages < n) {
    const p = alloc_pages(k, 0, HPAGE_PMD_ORDER);
    if (p === null) break;
    // the pool owns the page with a count of 0 (free_huge_page)
    const s = sectionOf(k.state(HUB).mm, p)!;
    s.setRef(p & 32767, 0);
    setPageFlag2(k, p, PG_HUGETLB, true);
    st.hugetlbFree.push(p);
    st.nrHugepages++;
  }
  while (st.nrHugepages > n && st.hugetlbFree.length > st.resvHugepages) {
    const p = st.hugetlbFree.pop()!;
    const s = sectionOf(k.state(HUB).mm, p)!;
    s.setRef(p & 32767, 1);
    setPageFlag2(k, p, PG_HUGETLB, false);
    put_page(k, p);
    st.nrHugepages--;
  }
  return st.nrHugepages;
}

/** hugetlb_reserve_pages for `n` huge pages: 0, or -ENOMEM if the pool cannot back them. */
export function hugetlb_reserve_pages(k: Kernel, n: number): number {
  const st = k.state(HUGE);
  if (st.hugetlbFree.length - st.resvHugepages < n) return -ENOMEM;
  st.resvHugepages += n;
  return 0;
}

/** Gives back `n` reservations (hugetlb_vm_op_close of unfaulted pages). */
export function hugetlb_unreserve_pages(k: Kernel, n: number): void {
  const st = k.state(HUGE);
  st.resvHugepages = Math.max(0, st.resvHugepages - n);
}

/**
 * hugetlb_fault(mm, vma, address, flags): maps a pool page (cleared) with
 * a huge pmd — writable if the VMA is — on first touch; a later fault on a
 * mapped hugetlb page changes nothing. SIGBUS if the pool is empty.
 */
export function hugetlb_fault(
  k: Kernel,
  vma: VmAreaStruct,
  address: number,
  _flags: number,
): number {
  const st = k.state(HUGE);
  const haddr = address - (address % HPAGE_PMD_SIZE);
  const pt = vma.vm_mm.pgd;
  const t = pt.lookup(haddr);
  if (t !== undefined && t.huge !== 0) return 0;
  const page = st.hugetlbFree.pop();
  if (page === undefined) return VM_FAULT_SIGBUS;
  if (st.resvHugepages > 0) st.resvHugepages--;
  const s = sectionOf(k.state(HUB).mm, page)!;
  s.setRef(page & 32767, 1);
  for (let i = 0; i < HPAGE_PMD_NR; i++) clear_highpage(k, page + i); // clear_huge_page
  anon_vma_prepare(k, vma);
  if ((vma.vm_flags & VM_SHARED) === 0) page_add_new_anon_rmap(k, page, vma, haddr, true);
  else setCompoundMapcount(k, page, 0);
  let e = pfn_pte(page, vma.vm_page_prot);
  if ((vma.vm_flags & VM_WRITE) !== 0) e = pte_mkdirty(orBits(e, _PAGE_RW));
  const nt = pt.alloc(haddr);
  nt.ptes = null;
  nt.huge = orBits(e, _PAGE_ACCESSED);
  ((vma.vm_private_data as Set<number> | null) ??
    (vma.vm_private_data = new Set<number>()) as Set<number>).add(haddr);
  k.clock.advance(st.thpNs);
  if (k.trace.on) {
    k.trace.emit({ kind: "fault", op: "hugetlb", mm: vma.vm_mm.id, addr: haddr, ret: 0 });
  }
  return 0;
}
