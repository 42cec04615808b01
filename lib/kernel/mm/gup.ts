/**
 * mm/gup.c (v4.20): get_user_pages — pin the pages of a user range, faulting
 * them in first. What matters for ZONE_DEVICE: follow_page_pte treats a
 * device-private entry as "no page", so GUP faults it, and the fault goes
 * to the device driver, which migrates the page back to system memory —
 * GUP never returns a device-private page.
 *
 * get_user_pages_longterm (CONFIG_FS_DAX, EXPORT_SYMBOL): get_user_pages
 * (the devmap-aware one of gup-devmap.ts) with a vmas array; if any VMA it
 * returns is fsdax (vma_is_fsdax: S_DAX and not a character device) every
 * page it got is put and the answer is -EOPNOTSUPP — a long-term pin of a
 * DAX filesystem file would block truncate. Device-dax is allowed.
 * (FOLL_LONGTERM and the pin API are later.)
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from "../errno.ts";
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
  type VmAreaStruct,
} from "./mm-types.ts";
import { pte_index, pte_pfn, pte_present, pte_protnone, pte_write } from "./pgtable.ts";
import { get_page, put_page } from "./swap.ts";
import { vma_is_fsdax } from "./devmap-mm.ts";
import { get_user_pages } from "./gup-devmap.ts";
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

/**
 * get_user_pages_longterm(start, nr_pages, gup_flags, pages, vmas)
 * (mm/gup.c, v4.20, CONFIG_FS_DAX; EXPORT_SYMBOL) on the caller's mm `mm`:
 * -EINVAL without `pages`; get_user_pages with a vmas array (the caller's,
 * else a temporary one); if any VMA of the pages got is fsdax
 * (vma_is_fsdax), puts every page got and returns -EOPNOTSUPP, else
 * returns get_user_pages's answer. New pages are appended to `pages`
 * (and VMAs to `vmas`); on -EOPNOTSUPP they are removed again.
 *
 * Verified against the introducing patch ("mm: introduce
 * get_user_pages_longterm", mm/gup.c, v4.15; unchanged in shape through
 * v4.20 apart from kzalloc → kcalloc) and the S_ISCHR form of vma_is_fsdax
 * in include/linux/fs.h, through the library's find_string / read_file.
 */
export function get_user_pages_longterm(
  k: Kernel,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Page[] | null,
  vmas_arg: VmAreaStruct[] | null = null,
): number {
  if (pages === null) return -EINVAL;
  const vmas = vmas_arg ?? [];
  const p0 = pages.length, v0 = vmas.length;
  const rc = get_user_pages(k, mm, start, nr_pages, gup_flags, pages, vmas);
  let vma_prev: VmAreaStruct | null = null;
  let fsdax = false;
  for (let i = 0; i < rc; i++) {
    const vma = vmas[v0 + i]!;
    if (vma === vma_prev) continue;
    vma_prev = vma;
    if (vma_is_fsdax(k, vma)) {
      fsdax = true;
      break;
    }
  }
  // either get_user_pages failed, or every VMA passed: nothing to put
  if (!fsdax) return rc;
  for (let i = 0; i < rc; i++) put_page(k, pages[p0 + i]!);
  pages.length = p0;
  vmas.length = v0;
  return -EOPNOTSUPP;
}
