/**
 * mm/gup.c (v4.20): get_user_pages — pin the pages of a user range, faulting
 * them in first. What matters for ZONE_DEVICE: follow_page_pte treats a
 * device-private entry as "no page", so GUP faults it, and the fault goes
 * to the device driver, which migrates the page back to system memory —
 * GUP never returns a device-private page. (FOLL_LONGTERM and the pin API
 * are later; get_user_pages_longterm's fsdax refusal is not modelled.)
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EFAULT, ENOMEM } from "../errno.ts";
import { _vm_normal_page, handle_mm_fault } from "./memory.ts";
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_WRITE,
  find_vma,
  type MmStruct,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_IO,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
} from "./mm-types.ts";
import { pte_index, pte_pfn, pte_present, pte_protnone, pte_write } from "./pgtable.ts";
import { get_page } from "./swap.ts";
import type { Page } from "./types.ts";

/** FOLL_WRITE. */
export const FOLL_WRITE = 0x01;
/** FOLL_GET: take a reference on each page. */
export const FOLL_GET = 0x04;
/** FOLL_FORCE. */
export const FOLL_FORCE = 0x10;

/** follow_page_mask for one address: the page if the entry allows the access, else null. */
function follow_page(k: Kernel, mm: MmStruct, addr: number, write: boolean): Page | null {
  const vma = find_vma(mm, addr)!;
  const t = mm.pgd.lookup(addr);
  if (t === undefined) return null;
  if (t.huge !== 0) {
    if (write && !pte_write(t.huge)) return null;
    return pte_pfn(t.huge) + pte_index(addr);
  }
  const pte = t.ptes![pte_index(addr)]!;
  if (pte === 0 || !pte_present(pte) || pte_protnone(pte)) return null; // device-private: no_page
  if (write && !pte_write(pte)) return null;
  const page = _vm_normal_page(k, vma, addr, pte, true);
  return page ?? pte_pfn(pte);
}

/**
 * get_user_pages(start, nr_pages, gup_flags, pages, vmas) on `mm` (the
 * remote form): for each page, follow the page table; if the entry does
 * not allow the access, fault it in (handle_mm_fault, write if FOLL_WRITE)
 * and retry. Returns the number of pages pinned (each with a reference,
 * put them with put_page), or -EFAULT (no VMA, VM_IO/VM_PFNMAP, missing
 * permission, a fault error) / -ENOMEM if nothing was pinned.
 */
export function get_user_pages_remote(
  k: Kernel,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Page[] | null,
): number {
  const write = (gup_flags & FOLL_WRITE) !== 0;
  let i = 0;
  for (; i < nr_pages; i++) {
    const addr = start + i * 4096;
    const vma = find_vma(mm, addr);
    if (vma === null || vma.vm_start > addr) return i > 0 ? i : -EFAULT;
    // check_vma_flags
    if ((vma.vm_flags & (VM_IO | VM_PFNMAP)) !== 0) return i > 0 ? i : -EFAULT;
    if (
      write
        ? (vma.vm_flags & VM_WRITE) === 0 && (gup_flags & FOLL_FORCE) === 0
        : (vma.vm_flags & VM_READ) === 0
    ) {
      return i > 0 ? i : -EFAULT;
    }
    let page: Page | null = null;
    for (let tries = 0; tries < 8; tries++) {
      page = follow_page(k, mm, addr, write);
      if (page !== null) break;
      const ret = handle_mm_fault(
        k,
        vma,
        addr,
        FAULT_FLAG_ALLOW_RETRY | (write ? FAULT_FLAG_WRITE : 0),
      );
      if ((ret & VM_FAULT_ERROR) !== 0) {
        const err = (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : -EFAULT;
        return i > 0 ? i : err;
      }
    }
    if (page === null) return i > 0 ? i : -EFAULT;
    if ((gup_flags & FOLL_GET) !== 0 || pages !== null) get_page(k, page);
    pages?.push(page);
  }
  return i;
}
