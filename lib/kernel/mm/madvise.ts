/**
 * mm/madvise.c (v4.20): madvise(2) for the behaviours the model needs —
 * MADV_DONTNEED (zap: the range reads as zeros again, device-private
 * entries are freed through their device), MADV_FREE (lazy free: the pages
 * stay mapped but become clean; the model has no reclaim, so their data
 * stays until written or unmapped; device-private entries are skipped),
 * MADV_HUGEPAGE / MADV_NOHUGEPAGE (VM_HUGEPAGE / VM_NOHUGEPAGE on the VMAs,
 * split to the range), MADV_DONTFORK / MADV_DOFORK, and the hint-only
 * values (accepted, no effect). Any value 4.20 does not know — MADV_COLLAPSE
 * (v6.1) among them — is -EINVAL before anything else.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EACCES, EINVAL, ENOMEM } from "../errno.ts";
import { split_huge_page } from "./huge-memory.ts";
import { _vm_normal_page, MmuGather, tlb_finish_mmu, zap_page_range } from "./memory.ts";
import { split_vma } from "./mmap.ts";
import {
  find_vma,
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_REMOVE,
  type MmStruct,
  VM_DONTCOPY,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_IO,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
  VM_SHARED,
  vma_is_anonymous,
  type VmAreaStruct,
} from "./mm-types.ts";
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
} from "./mmu-notifier.ts";
import {
  ClearPageDirty,
  compound_head,
  page_mapcount,
  PageTransCompound,
  trylock_page,
  unlock_page,
} from "./page-ext.ts";
import {
  HPAGE_PMD_SIZE,
  pmd_addr_end,
  pte_index,
  pte_mkclean,
  pte_mkold,
  pte_pfn,
  pte_present,
} from "./pgtable.ts";
import { get_page, put_page } from "./swap.ts";
import { shmem_punch_hole } from "./shmem.ts";

/** madvise_behavior_valid(behavior) for an x86_64 4.20 kernel with THP, KSM and memory failure. */
export function madvise_behavior_valid(behavior: number): boolean {
  switch (behavior) {
    case 0: // MADV_NORMAL
    case 1: // MADV_RANDOM
    case 2: // MADV_SEQUENTIAL
    case 3: // MADV_WILLNEED
    case MADV_DONTNEED:
    case MADV_FREE:
    case MADV_REMOVE:
    case MADV_DONTFORK:
    case MADV_DOFORK:
    case 12: // MADV_MERGEABLE
    case 13: // MADV_UNMERGEABLE
    case MADV_HUGEPAGE:
    case MADV_NOHUGEPAGE:
    case 16: // MADV_DONTDUMP
    case 17: // MADV_DODUMP
    case 18: // MADV_WIPEONFORK
    case 19: // MADV_KEEPONFORK
    case 100: // MADV_HWPOISON
    case 101: // MADV_SOFT_OFFLINE
      return true;
    default:
      return false;
  }
}

/** Gives [start, end) its own VMA (madvise_behavior's split_vma calls) and sets flags on it. */
function setFlags(
  k: Kernel,
  vma: VmAreaStruct,
  start: number,
  end: number,
  newflags: number,
): number {
  if (newflags === vma.vm_flags) return 0;
  if (start !== vma.vm_start) {
    const r = split_vma(k, vma.vm_mm, vma, start, true);
    if (r) return r;
  }
  if (end !== vma.vm_end) {
    const r = split_vma(k, vma.vm_mm, vma, end, false);
    if (r) return r;
  }
  vma.vm_flags = newflags;
  return 0;
}

/**
 * madvise_free_single_vma / madvise_free_pte_range: anonymous VMAs only
 * (-EINVAL otherwise). For each mapped page: device-private and other
 * non-swap entries are skipped; a THP pmd wholly in range is made clean, a
 * partly covered one (or a pte-mapped THP mapped once) is split with
 * split_huge_page; a page mapped more than once stays dirty; the others
 * become clean and old (lazily freeable).
 */
function madvise_free_single_vma(k: Kernel, vma: VmAreaStruct, start: number, end: number): number {
  if (!vma_is_anonymous(vma)) return -EINVAL;
  start = Math.max(vma.vm_start, start);
  end = Math.min(vma.vm_end, end);
  if (start >= end) return 0;
  const mm = vma.vm_mm;
  const tlb = new MmuGather(mm, false);
  mmu_notifier_invalidate_range_start(k, mm, start, end);
  for (let addr = start, next: number; addr < end; addr = next) {
    next = pmd_addr_end(addr, end);
    let t = mm.pgd.lookup(addr);
    if (t === undefined) continue;
    if (t.huge !== 0) {
      const page = pte_pfn(t.huge);
      if (next - addr === HPAGE_PMD_SIZE) {
        // madvise_free_huge_pmd: a THP mapped once becomes clean
        if (page_mapcount(k, page) === 1) {
          ClearPageDirty(k, page);
          t.huge = pte_mkold(pte_mkclean(t.huge));
        }
        continue;
      }
      get_page(k, page);
      if (trylock_page(k, page)) {
        split_huge_page(k, page);
        unlock_page(k, page);
      }
      put_page(k, page);
      t = mm.pgd.lookup(addr);
      if (t === undefined || t.huge !== 0) continue;
    }
    const ptes = t.ptes!;
    for (let a = addr; a < next; a += 4096) {
      const i = pte_index(a);
      const pte = ptes[i]!;
      if (pte === 0 || !pte_present(pte)) continue; // non-swap entries (device private) stay
      const page = _vm_normal_page(k, vma, a, pte, true);
      if (page === null) continue;
      if (PageTransCompound(k, page)) {
        if (page_mapcount(k, page) !== 1) break;
        const head = compound_head(k, page);
        get_page(k, head);
        if (!trylock_page(k, head)) {
          put_page(k, head);
          break;
        }
        const r = split_huge_page(k, page);
        unlock_page(k, head);
        put_page(k, head);
        if (r !== 0) break;
        a -= 4096; // look at this pte again
        continue;
      }
      if (page_mapcount(k, page) !== 1) continue;
      ClearPageDirty(k, page);
      ptes[i] = pte_mkold(pte_mkclean(pte));
    }
  }
  mmu_notifier_invalidate_range_end(k, mm, start, end);
  tlb_finish_mmu(k, tlb, start, end);
  return 0;
}

/**
 * madvise_vma(vma, prev, start, end, behavior) (mm/madvise.c): one VMA's
 * part of madvise. The out-parameter `prev` is left out: sys_madvise walks
 * the mm's VMA list itself.
 */
function madvise_vma(
  k: Kernel,
  vma: VmAreaStruct,
  start: number,
  end: number,
  behavior: number,
): number {
  switch (behavior) {
    case MADV_DONTNEED:
    case MADV_FREE: {
      if ((vma.vm_flags & (VM_LOCKED | VM_HUGETLB | VM_PFNMAP)) !== 0) return -EINVAL;
      if (behavior === MADV_DONTNEED) {
        zap_page_range(k, vma, start, end - start);
        return 0;
      }
      return madvise_free_single_vma(k, vma, start, end);
    }
    case MADV_REMOVE: {
      if ((vma.vm_flags & VM_LOCKED) !== 0) return -EINVAL;
      if (vma.vm_file === null || (vma.vm_flags & VM_SHARED) === 0) return -EACCES;
      const off = (vma.vm_pgoff + (start - vma.vm_start) / 4096) * 4096;
      return shmem_punch_hole(k, vma.vm_file, off, end - start);
    }
    case MADV_HUGEPAGE:
      return setFlags(k, vma, start, end, (vma.vm_flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE);
    case MADV_NOHUGEPAGE:
      return setFlags(k, vma, start, end, (vma.vm_flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE);
    case MADV_DONTFORK:
      if ((vma.vm_flags & VM_IO) !== 0) return -EINVAL;
      return setFlags(k, vma, start, end, vma.vm_flags | VM_DONTCOPY);
    case MADV_DOFORK:
      if ((vma.vm_flags & VM_IO) !== 0) return -EINVAL;
      return setFlags(k, vma, start, end, vma.vm_flags & ~VM_DONTCOPY);
    default:
      return 0;
  }
}

/**
 * madvise(start, len, behavior) (SYSCALL madvise): -EINVAL for an unknown
 * behavior, a misaligned start or a wrapping range; 0 for len 0; the
 * behaviour is applied to every VMA in the range, and holes make the result
 * -ENOMEM (after the rest was done), as 4.20 does.
 */
export function sys_madvise(
  k: Kernel,
  mm: MmStruct,
  start: number,
  len_in: number,
  behavior: number,
): number {
  const ret = do_madvise(k, mm, start, len_in, behavior);
  if (k.trace.on) {
    k.trace.emit({ kind: "vma", op: "madvise", mm: mm.id, start, end: start + len_in, ret });
  }
  return ret;
}

function do_madvise(
  k: Kernel,
  mm: MmStruct,
  start: number,
  len_in: number,
  behavior: number,
): number {
  if (!madvise_behavior_valid(behavior)) return -EINVAL;
  if (start % 4096 !== 0) return -EINVAL;
  const len = Math.ceil(len_in / 4096) * 4096;
  if (len_in !== 0 && len === 0) return -EINVAL;
  const end = start + len;
  if (end < start) return -EINVAL;
  if (end === start) return 0;
  if (behavior === 100 || behavior === 101) {
    // madvise_inject_error (CONFIG_MEMORY_FAILURE): not modelled, and never a silent success
    throw new RangeError(
      `Cannot madvise(${behavior === 100 ? "MADV_HWPOISON" : "MADV_SOFT_OFFLINE"}): ` +
        "memory-failure injection is not modelled (poison NVDIMM media with ndctl's inject-error)",
    );
  }
  let unmapped_error = 0;
  let vma = find_vma(mm, start);
  for (;;) {
    if (vma === null) return -ENOMEM;
    if (start < vma.vm_start) {
      unmapped_error = -ENOMEM;
      start = vma.vm_start;
      if (start >= end) return unmapped_error;
    }
    const tmp = Math.min(vma.vm_end, end);
    const error = madvise_vma(k, vma, start, tmp, behavior);
    if (error) return error;
    start = tmp;
    if (start >= end) return unmapped_error;
    vma = find_vma(mm, start);
  }
}
