/**
 * kernel/fork.c's address-space half (v4.20): dup_mm / dup_mmap (a child's
 * copy of the parent's VMAs and, through copy_page_range, its page tables
 * with copy-on-write), and the mm_struct reference counts — mm_users
 * (mmput: the last user tears the address space down with exit_mmap) and
 * mm_count (mmgrab / mmdrop: the last reference frees the struct, and with
 * it mm->hmm through hmm_mm_destroy).
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { hmm_mm_destroy } from "./hmm-mirror.ts";
import { copy_page_range } from "./memory.ts";
import { exit_mmap } from "./mmap.ts";
import { reset_vma_resv_huge_pages } from "./huge-memory.ts";
import {
  AnonVma,
  is_vm_hugetlb_page,
  MmStruct,
  VM_DONTCOPY,
  VM_WIPEONFORK,
  vma_dup,
  vma_link,
} from "./mm-types.ts";
import { mappingId } from "./page-ext.ts";

/** mmgrab(mm): one more mm_count reference. */
export function mmgrab(mm: MmStruct): void {
  mm.mm_count++;
}

/**
 * mmdrop(mm): drops an mm_count reference; the last one frees the
 * mm_struct (__mmdrop), and hmm_mm_destroy frees mm->hmm.
 */
export function mmdrop(k: Kernel, mm: MmStruct): void {
  if (--mm.mm_count === 0) {
    mm.freed = true;
    hmm_mm_destroy(k, mm);
  }
}

/** mmget(mm): one more mm_users reference. */
export function mmget(mm: MmStruct): void {
  mm.mm_users++;
}

/**
 * mmput(mm): drops an mm_users reference; the last user runs exit_mmap
 * (mmu_notifier_release — every mirror's ->release — then the unmap of
 * every VMA) and drops the users' mm_count reference.
 */
export function mmput(k: Kernel, mm: MmStruct): void {
  if (--mm.mm_users === 0) {
    exit_mmap(k, mm);
    mmdrop(k, mm);
  }
}

/**
 * dup_mm(tsk) / dup_mmap(mm, oldmm): a new mm for a child process. Each
 * VMA is copied except VM_DONTCOPY ones; a copied VMA joins every anon_vma
 * of its parent and gets an anon_vma of its own (anon_vma_fork), joins the
 * file's i_mmap, and — unless VM_WIPEONFORK — gets the parent's page tables
 * through copy_page_range (COW: both sides read-only; device-private
 * entries read-only with a page reference each). A hugetlb VMA's copy is
 * reset (reset_vma_resv_huge_pages): a private mapping's child has no
 * reservation map and is not HPAGE_RESV_OWNER. MMU notifiers and HMM
 * mirrors are not inherited. Returns the child mm. `oldmm` is passed for
 * the kernel's current->mm; the kernel's `tsk` (the child) is given as the
 * pid and comm the new mm records.
 */
export function dup_mm(k: Kernel, oldmm: MmStruct, pid: number, comm: string): MmStruct {
  const mm = new MmStruct(k, pid, comm);
  mm.mmap_base = oldmm.mmap_base;
  for (const vma of oldmm.vmas) {
    if ((vma.vm_flags & VM_DONTCOPY) !== 0) continue;
    const tmp = vma_dup(vma, mm, vma.vm_start, vma.vm_end);
    // a child's private hugetlb mapping holds no reservation (and gives none back)
    if (is_vm_hugetlb_page(tmp)) reset_vma_resv_huge_pages(tmp);
    // anon_vma_fork: the parent's chain, plus an anon_vma of our own
    if (vma.anon_vma !== null) {
      const own = new AnonVma(vma.anon_vma.root);
      mappingId(k, own);
      tmp.anonChain = [own, ...vma.anonChain];
      tmp.anon_vma = own;
    } else {
      tmp.anonChain = [];
      tmp.anon_vma = null;
    }
    if ((vma.vm_flags & VM_WIPEONFORK) !== 0) {
      tmp.anonChain = [];
      tmp.anon_vma = null;
    }
    vma_link(k, mm, tmp);
    if ((vma.vm_flags & VM_WIPEONFORK) === 0) copy_page_range(k, mm, oldmm, vma);
  }
  if (k.trace.on) {
    k.trace.emit({ kind: "vma", op: "fork", mm: oldmm.id, start: 0, end: 0, ret: mm.id });
  }
  return mm;
}
