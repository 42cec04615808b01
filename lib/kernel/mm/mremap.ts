/**
 * mm/mremap.c (v4.20): mremap(2). Flags other than MREMAP_MAYMOVE and
 * MREMAP_FIXED are -EINVAL — MREMAP_DONTUNMAP (v5.7) included. Moving a
 * range (move_vma) copies the VMA (same vm_pgoff, same anon_vma chain, so
 * the moved pages keep their rmap) and moves the page-table entries —
 * present ptes, device-private entries, migration entries alike — between
 * mmu_notifier_invalidate_range_start and _end over the old range; a huge
 * pmd moves whole if the move covers it and is aligned, otherwise it is
 * split first. Then the old range is unmapped (now empty).
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EFAULT, EINVAL, ENOMEM } from "../errno.ts";
import { split_huge_pmd } from "./huge-memory.ts";
import { do_munmap, get_unmapped_area } from "./mmap.ts";
import {
  find_vma,
  type MmStruct,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  VM_DONTEXPAND,
  VM_HUGETLB,
  VM_PFNMAP,
  vma_dup,
  vma_link,
  type VmAreaStruct,
} from "./mm-types.ts";
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
} from "./mmu-notifier.ts";
import { HPAGE_PMD_SIZE, pte_index, TASK_SIZE } from "./pgtable.ts";

/**
 * move_page_tables(vma, old_addr, new_vma, new_addr, len, need_rmap_locks)
 * (mm/mremap.c): moves every entry of [old_addr, old_addr + len) to the
 * same offset at new_addr. Returns the bytes moved: `len` (the model's
 * page-table allocations do not fail). `_new_vma` and `_need_rmap_locks`
 * are not read: the model moves entries without rmap locks, and the new
 * VMA is already linked.
 */
function move_page_tables(
  k: Kernel,
  vma: VmAreaStruct,
  old_addr: number,
  _new_vma: VmAreaStruct,
  new_addr: number,
  len: number,
  _need_rmap_locks: boolean,
): number {
  const mm = vma.vm_mm;
  const old_end = old_addr + len;
  mmu_notifier_invalidate_range_start(k, mm, old_addr, old_end);
  for (let off = 0; off < len;) {
    const a = old_addr + off, b = new_addr + off;
    const t = mm.pgd.lookup(a);
    // extent: up to the next pmd boundary of either side
    const ea = HPAGE_PMD_SIZE - (a % HPAGE_PMD_SIZE);
    const eb = HPAGE_PMD_SIZE - (b % HPAGE_PMD_SIZE);
    const extent = Math.min(ea, eb, len - off);
    if (t === undefined) {
      off += extent;
      continue;
    }
    if (t.huge !== 0) {
      if (extent === HPAGE_PMD_SIZE) {
        // move_huge_pmd
        const nt = mm.pgd.alloc(b);
        nt.ptes = null;
        nt.huge = t.huge;
        mm.pgd.free(a);
        off += extent;
        continue;
      }
      split_huge_pmd(k, vma, t, a);
    }
    const src = mm.pgd.lookup(a)!.ptes!;
    const dst = mm.pgd.alloc(b).ptes!;
    for (let x = 0; x < extent; x += 4096) {
      const i = pte_index(a + x), j = pte_index(b + x);
      const pte = src[i]!;
      if (pte === 0) continue;
      src[i] = 0;
      dst[j] = pte;
    }
    off += extent;
  }
  mmu_notifier_invalidate_range_end(k, mm, old_addr, old_end);
  return len;
}

/**
 * move_vma(vma, old_addr, old_len, new_len, new_addr, locked, uf, uf_unmap)
 * (mm/mremap.c): returns new_addr. `locked` (VM_LOCKED accounting), `uf`
 * and `uf_unmap` (userfaultfd) are left out: the model has neither.
 */
function move_vma(
  k: Kernel,
  vma: VmAreaStruct,
  old_addr: number,
  old_len: number,
  new_len: number,
  new_addr: number,
): number {
  const mm = vma.vm_mm;
  const nv = vma_dup(vma, mm, old_addr, old_addr + new_len);
  nv.vm_start = new_addr;
  nv.vm_end = new_addr + new_len;
  // copy_vma keeps vm_pgoff (the pages' index) — vma_dup computed it for old_addr
  vma_link(k, mm, nv);
  move_page_tables(k, vma, old_addr, nv, new_addr, old_len, false);
  do_munmap(k, mm, old_addr, old_len);
  return new_addr;
}

/**
 * vma_to_resize(addr, old_len, new_len, p) (mm/mremap.c) in `mm`
 * (current->mm): the VMA, or -errno (ERR_PTR). The out-parameter `p`
 * (VM_ACCOUNT charge) is left out: the model does no accounting.
 */
function vma_to_resize(
  mm: MmStruct,
  addr: number,
  old_len: number,
  new_len: number,
): VmAreaStruct | number {
  const vma = find_vma(mm, addr);
  if (vma === null || vma.vm_start > addr) return -EFAULT;
  if ((vma.vm_flags & VM_HUGETLB) !== 0) return -EINVAL;
  if (old_len > vma.vm_end - addr) return -EFAULT;
  if (new_len === old_len) return vma;
  if ((vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP)) !== 0 && new_len > old_len) return -EFAULT;
  return vma;
}

/**
 * mremap(addr, old_len, new_len, flags, new_addr): returns the new address
 * or -errno: -EINVAL for unknown flags (MREMAP_DONTUNMAP is unknown to
 * 4.20), FIXED without MAYMOVE, a misaligned address, new_len 0 or
 * overlapping FIXED ranges; -EFAULT for an unmapped old range; -ENOMEM
 * when it cannot grow in place and may not move.
 */
export function sys_mremap(
  k: Kernel,
  mm: MmStruct,
  addr: number,
  old_len: number,
  new_len: number,
  flags: number,
  new_addr = 0,
): number {
  const ret = do_mremap(k, mm, addr, old_len, new_len, flags, new_addr);
  if (k.trace.on) {
    k.trace.emit({ kind: "vma", op: "mremap", mm: mm.id, start: addr, end: addr + old_len, ret });
  }
  return ret;
}

function do_mremap(
  k: Kernel,
  mm: MmStruct,
  addr: number,
  old_len: number,
  new_len: number,
  flags: number,
  new_addr: number,
): number {
  if ((flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE)) !== 0) return -EINVAL;
  if ((flags & MREMAP_FIXED) !== 0 && (flags & MREMAP_MAYMOVE) === 0) return -EINVAL;
  if (addr % 4096 !== 0) return -EINVAL;
  old_len = Math.ceil(old_len / 4096) * 4096;
  new_len = Math.ceil(new_len / 4096) * 4096;
  if (new_len === 0) return -EINVAL;
  if ((flags & MREMAP_FIXED) !== 0) {
    // mremap_to
    if (new_addr % 4096 !== 0) return -EINVAL;
    if (new_len > TASK_SIZE || new_addr > TASK_SIZE - new_len) return -EINVAL;
    if (addr + old_len > new_addr && new_addr + new_len > addr) return -EINVAL;
    let r = do_munmap(k, mm, new_addr, new_len);
    if (r) return r;
    if (old_len >= new_len) {
      r = do_munmap(k, mm, addr + new_len, old_len - new_len);
      if (r && old_len !== new_len) return r;
      old_len = new_len;
    }
    const vma = vma_to_resize(mm, addr, old_len, new_len);
    if (typeof vma === "number") return vma;
    return move_vma(k, vma, addr, old_len, new_len, new_addr);
  }
  if (old_len >= new_len) {
    const r = do_munmap(k, mm, addr + new_len, old_len - new_len);
    if (r < 0 && old_len !== new_len) return r;
    return addr;
  }
  const vma = vma_to_resize(mm, addr, old_len, new_len);
  if (typeof vma === "number") return vma;
  // old_len exactly to the end of the area: try to expand in place
  if (old_len === vma.vm_end - addr) {
    const next = mm.vmas.find((v) => v.vm_start >= vma.vm_end);
    if (next === undefined || next.vm_start >= addr + new_len) {
      vma.vm_end = addr + new_len;
      return addr;
    }
  }
  if ((flags & MREMAP_MAYMOVE) === 0) return -ENOMEM;
  const to = get_unmapped_area(mm, new_len);
  if (to < 0) return to;
  return move_vma(k, vma, addr, old_len, new_len, to);
}
