/**
 * mm/gup.c (v4.20): get_user_pages and friends — pin the pages of a user
 * range, faulting them in first — over ordinary, THP, device-private and
 * devmap (DAX) entries, taking a page reference and, for devmap pages, a
 * pgmap reference the way 4.20 does. One model: the fault path's
 * get_user_pages_remote and the hardware work's devmap walk were merged
 * here (lib/kernel/mm/gup-devmap.ts keeps only mm/huge_memory.c's
 * follow_devmap_pmd / follow_devmap_pud). The devmap entries live in the
 * side tables of devmap-mm.ts (see there for what folding them into the page
 * tables needs). The FOLL_* flags are include/linux/mm.h's (mm-types.ts),
 * re-exported here.
 *
 * Device-private memory: follow_page_pte treats a device-private entry
 * (not present) as "no page", so GUP faults it, and the fault goes to the
 * device driver, which migrates the page back to system memory — GUP never
 * returns a device-private page.
 *
 * Slow path (__get_user_pages): per page, follow_page_mask — a devmap pud
 * (follow_devmap_pud), a devmap pmd (follow_devmap_pmd), a THP pmd, else
 * follow_page_pte — and on NULL faultin_page (handle_mm_fault_devmap, which
 * is handle_mm_fault for a VMA without ->huge_fault) and retry. For a devmap
 * entry with FOLL_GET: `get_dev_pagemap(pfn, ctx.pgmap)` — the **cached
 * pgmap** of the follow_page_context is reused while it covers the pfn (no
 * new pgmap reference), dropped and looked up again when it does not — then
 * get_page. A devmap entry without FOLL_GET is -EEXIST (skipped); a dying
 * pgmap makes the lookup NULL, which for a pte is "no page" (and for a huge
 * entry -EFAULT). The context's pgmap reference is put once at the end
 * (put_dev_pagemap).
 *
 * Fast path (get_user_pages_fast → gup_pgd_range): no mmap_sem, no faults.
 * gup_pte_range: a devmap pte takes get_dev_pagemap with the range's cached
 * pgmap; NULL undoes every page pinned in this pte range
 * (undo_dev_pagemap) and stops; a special non-devmap pte stops; each page
 * is pinned with get_page_unless_zero; the cached pgmap is put at the end of
 * the range. A devmap pmd or pud goes to __gup_device_huge (get_dev_pagemap
 * per subpage with a cache, get_page each). What is left is handed to the
 * slow path (get_user_pages_unlocked).
 *
 * get_user_pages_longterm (CONFIG_FS_DAX, EXPORT_SYMBOL): get_user_pages
 * with a vmas array; if any VMA it returns is fsdax (vma_is_fsdax: S_DAX
 * and not a character device) every page it got is put and the answer is
 * -EOPNOTSUPP — a long-term pin of a DAX filesystem file would block
 * truncate. Device-dax is allowed. (FOLL_LONGTERM and the pin API are
 * later.)
 *
 * Page references: get_page / put_page of the memmap model (a removed
 * struct page Oopses). Plain functions (GUP does not sleep in the model:
 * its faults run atomically).
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import type { Task } from "../../sim/task.ts";
import {
  EEXIST,
  EFAULT,
  EHWPOISON,
  EINVAL,
  ENOMEM,
  EOPNOTSUPP,
  ERR_PTR,
  type ErrPtr,
  IS_ERR,
} from "../errno.ts";
import { get_dev_pagemap, put_dev_pagemap } from "../memremap.ts";
import { page_ref_count } from "./memmap.ts";
import { vm_normal_page } from "./memory.ts";
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_TRIED,
  FAULT_FLAG_WRITE,
  find_vma,
  FOLL_COW,
  FOLL_DUMP,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_HWPOISON,
  FOLL_NUMA,
  FOLL_REMOTE,
  FOLL_TOUCH,
  FOLL_TRIED,
  FOLL_WRITE,
  is_cow_mapping,
  type MmStruct,
  VM_FAULT_ERROR,
  VM_FAULT_HWPOISON,
  VM_FAULT_OOM,
  VM_FAULT_WRITE,
  VM_IO,
  VM_MAYREAD,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
  type VmAreaStruct,
} from "./mm-types.ts";
import { compound_head } from "./page-ext.ts";
import {
  _PAGE_DIRTY,
  pte_devmap,
  pte_dirty,
  pte_index,
  pte_pfn,
  pte_present,
  pte_protnone,
  pte_special,
  pte_write,
  type PteTable,
} from "./pgtable.ts";
import { is_zero_pfn } from "./ram-alloc.ts";
import { get_page, put_page } from "./swap.ts";
import type { DevPagemap, Page } from "./types.ts";
import {
  devmapTables,
  handle_mm_fault_devmap,
  PMD_SIZE,
  PUD_SIZE,
  vma_is_fsdax,
} from "./devmap-mm.ts";
import { follow_devmap_pmd, follow_devmap_pud } from "./gup-devmap.ts";

export {
  FOLL_COW,
  FOLL_DUMP,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_HWPOISON,
  FOLL_NUMA,
  FOLL_REMOTE,
  FOLL_TOUCH,
  FOLL_TRIED,
  FOLL_WRITE,
};

/** struct follow_page_context: the cached pgmap and the page mask of the last lookup. */
export interface FollowPageContext {
  /** The pgmap whose reference the walk holds, or null. */
  pgmap: DevPagemap | null;
  /** Pages-1 of the entry the last lookup found (0, 511, 262143). */
  page_mask: number;
}

/** What follow_page_mask returns: a page, null (fault it in), or ERR_PTR(-errno). */
export type Followed = Page | null | ErrPtr;

const ERR_EEXIST = ERR_PTR(-EEXIST);
const ERR_EFAULT = ERR_PTR(-EFAULT);

/** can_follow_write_pte(pte, flags). */
function can_follow_write_pte(pte: number, flags: number): boolean {
  return pte_write(pte) ||
    ((flags & FOLL_FORCE) !== 0 && (flags & FOLL_COW) !== 0 && pte_dirty(pte));
}

/** follow_page_pte(vma, address, pmd, flags, &ctx->pgmap): see the module doc. */
function follow_page_pte(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  t: PteTable,
  flags: number,
  ctx: FollowPageContext,
): Followed {
  const pte = t.ptes![pte_index(addr)]!;
  if (!pte_present(pte)) return null; // no_page (a migration entry is waited for by the fault)
  if ((flags & FOLL_NUMA) !== 0 && pte_protnone(pte)) return null;
  if ((flags & FOLL_WRITE) !== 0 && !can_follow_write_pte(pte, flags)) return null;
  let page: Page | null = vm_normal_page(k, vma, addr, pte);
  if (page === null && pte_devmap(pte) && (flags & FOLL_GET) !== 0) {
    // device mapping pages are only valid while the pgmap reference is held
    ctx.pgmap = get_dev_pagemap(k, pte_pfn(pte), ctx.pgmap);
    if (ctx.pgmap === null) return null;
    page = pte_pfn(pte);
  } else if (page === null) {
    if ((flags & FOLL_DUMP) !== 0) return ERR_EFAULT;
    if (is_zero_pfn(k, pte_pfn(pte))) page = pte_pfn(pte);
    else {
      // follow_pfn_pte: an entry without a struct page
      if ((flags & FOLL_GET) !== 0) return ERR_EFAULT;
      if ((flags & FOLL_TOUCH) !== 0 && (flags & FOLL_WRITE) !== 0 && !pte_dirty(pte)) {
        t.ptes![pte_index(addr)] = pte + _PAGE_DIRTY;
      }
      return ERR_EEXIST;
    }
  }
  if ((flags & FOLL_GET) !== 0) get_page(k, page);
  return page;
}

/**
 * follow_page_mask(vma, address, flags, ctx) (mm/gup.c): the page mapped
 * at `address`, NULL when it must be faulted in, or -errno. Sets
 * ctx.page_mask for huge entries.
 */
export function follow_page_mask(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  flags: number,
  ctx: FollowPageContext,
): Followed {
  ctx.page_mask = 0;
  const mm = vma.vm_mm;
  const dt = devmapTables(k, mm);
  if (dt.puds.size !== 0) {
    const pud = dt.puds.get(Math.floor(addr / PUD_SIZE));
    if (pud !== undefined) {
      const p = follow_devmap_pud(k, vma, addr, pud, flags, ctx);
      if (p !== null) return p;
    }
  }
  if (dt.pmds.size !== 0) {
    const pmd = dt.pmds.get(Math.floor(addr / PMD_SIZE));
    if (pmd !== undefined) {
      const p = follow_devmap_pmd(k, vma, addr, pmd, flags, ctx);
      if (p !== null) return p;
      return null;
    }
  }
  const t = mm.pgd.lookup(addr);
  if (t === undefined) return null; // no_page_table
  if (t.ptes === null) {
    // follow_trans_huge_pmd: a THP (or the huge zero page)
    if ((flags & FOLL_WRITE) !== 0 && !pte_write(t.huge)) return null;
    const page = pte_pfn(t.huge) + pte_index(addr);
    if ((flags & FOLL_GET) !== 0) get_page(k, compound_head(k, page));
    ctx.page_mask = 511;
    return page;
  }
  return follow_page_pte(k, vma, addr, t, flags, ctx);
}

/** check_vma_flags(vma, gup_flags): 0 or -EFAULT. */
function check_vma_flags(vma: VmAreaStruct, gup_flags: number): number {
  const vm_flags = vma.vm_flags;
  if ((vm_flags & (VM_IO | VM_PFNMAP)) !== 0) return -EFAULT;
  if ((gup_flags & FOLL_WRITE) !== 0) {
    if ((vm_flags & VM_WRITE) === 0) {
      if ((gup_flags & FOLL_FORCE) === 0) return -EFAULT;
      if (!is_cow_mapping(vm_flags)) return -EFAULT;
    }
  } else if ((vm_flags & VM_READ) === 0) {
    if ((gup_flags & FOLL_FORCE) === 0) return -EFAULT;
    if ((vm_flags & VM_MAYREAD) === 0) return -EFAULT;
  }
  return 0;
}

/**
 * faultin_page(tsk, vma, address, flags, nonblocking) (mm/gup.c): 0, or
 * -EFAULT / -ENOMEM / -EHWPOISON. `_tsk` is __get_user_pages's task (its
 * fault counters are not kept); `nonblocking` is left out, as in
 * __get_user_pages.
 */
function faultin_page(
  k: Kernel,
  _tsk: Task | null,
  vma: VmAreaStruct,
  addr: number,
  flags: { v: number },
): number {
  let fault_flags = 0;
  if ((flags.v & FOLL_WRITE) !== 0) fault_flags |= FAULT_FLAG_WRITE;
  if ((flags.v & FOLL_REMOTE) !== 0) fault_flags |= FAULT_FLAG_REMOTE;
  if ((flags.v & FOLL_TRIED) !== 0) fault_flags |= FAULT_FLAG_TRIED;
  const ret = handle_mm_fault_devmap(k, vma, addr, fault_flags);
  if ((ret & VM_FAULT_ERROR) !== 0) {
    // vm_fault_to_errno
    if ((ret & VM_FAULT_OOM) !== 0) return -ENOMEM;
    if ((ret & VM_FAULT_HWPOISON) !== 0) {
      return (flags.v & FOLL_HWPOISON) !== 0 ? -EHWPOISON : -EFAULT;
    }
    return -EFAULT;
  }
  if ((ret & VM_FAULT_WRITE) !== 0 && (vma.vm_flags & VM_WRITE) === 0) flags.v |= FOLL_COW;
  return 0;
}

/** A fault that leaves the entry as it was: the kernel would loop until a fatal signal; the model gives up. */
const MAX_RETRIES = 64;

/**
 * __get_user_pages(tsk, mm, start, nr_pages, gup_flags, pages, vmas,
 * nonblocking) (mm/gup.c): pins up to `nr_pages` pages from `start`
 * (pushed on `pages` when given, each with a reference when FOLL_GET; the
 * VMA of each page handled pushed on `vmas` when given). Returns the number
 * of pages handled, or -errno if none (see the module doc). FOLL_NUMA is
 * added unless FOLL_FORCE. `tsk` is the task the faults are charged to
 * (tsk->maj_flt / min_flt, counters the model does not keep), passed on to
 * faultin_page; `nonblocking` is left out: the model's faults never drop
 * mmap_sem.
 */
export function __get_user_pages(
  k: Kernel,
  tsk: Task | null,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Page[] | null,
  vmas: VmAreaStruct[] | null = null,
): number {
  if (nr_pages === 0) return 0;
  if ((pages !== null) !== ((gup_flags & FOLL_GET) !== 0)) {
    k.BUG("mm/gup.c:__get_user_pages (pages without FOLL_GET or the reverse)");
  }
  if ((gup_flags & FOLL_FORCE) === 0) gup_flags |= FOLL_NUMA;
  const ctx: FollowPageContext = { pgmap: null, page_mask: 0 };
  let i = 0, ret = 0;
  let vma: VmAreaStruct | null = null;
  start -= start & 4095;
  out: while (nr_pages > 0) {
    if (vma === null || start >= vma.vm_end) {
      vma = find_vma(mm, start);
      if (vma === null || vma.vm_start > start || check_vma_flags(vma, gup_flags) !== 0) {
        ret = -EFAULT;
        break;
      }
    }
    const foll = { v: gup_flags };
    let page: Followed = null;
    for (let tries = 0;; tries++) {
      page = follow_page_mask(k, vma, start, foll.v, ctx);
      if (page !== null) break;
      if (tries >= MAX_RETRIES) {
        ret = -EFAULT;
        break out;
      }
      ret = faultin_page(k, tsk, vma, start, foll);
      if (ret !== 0) break out;
    }
    if (IS_ERR(page)) {
      if (page.err !== -EEXIST) {
        ret = page.err;
        break;
      }
    } else if (pages !== null) {
      pages.push(page);
      ctx.page_mask = 0;
    }
    let increm = 1 + (~Math.floor(start / 4096) & ctx.page_mask);
    if (increm > nr_pages) increm = nr_pages;
    if (vmas !== null) { for (let j = 0; j < increm; j++) vmas.push(vma); }
    i += increm;
    start += increm * 4096;
    nr_pages -= increm;
  }
  if (ctx.pgmap !== null) put_dev_pagemap(k, ctx.pgmap);
  // the "dax gup" event is the caller-mm GUP's (get_user_pages, get_user_pages_fast's slow path);
  // remote GUP (ptrace-like access, the HMM tests' pins) has never emitted it
  if (k.tracing && i > 0 && (gup_flags & FOLL_REMOTE) === 0) {
    k.trace.emit({ kind: "dax", op: "gup", dev: "", addr: start, ret: i });
  }
  return i > 0 ? i : ret;
}

/**
 * get_user_pages_remote(tsk, mm, start, nr_pages, gup_flags, pages, vmas,
 * locked) (mm/gup.c) on `mm`: __get_user_pages with FOLL_TOUCH |
 * FOLL_REMOTE (| FOLL_GET with pages). Returns the number of pages pinned
 * (each with a reference when `pages` is given; put them with put_page),
 * or -EFAULT (no VMA, VM_IO/VM_PFNMAP, missing permission, a fault error) /
 * -ENOMEM / -EHWPOISON if nothing was pinned. A device-private entry is not
 * present: GUP faults it and the driver migrates the page back. `tsk` may
 * be null, as in the kernel; `locked` is left out (see __get_user_pages).
 */
export function get_user_pages_remote(
  k: Kernel,
  tsk: Task | null,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Page[] | null,
  vmas: VmAreaStruct[] | null = null,
): number {
  const flags = gup_flags | FOLL_TOUCH | FOLL_REMOTE | (pages !== null ? FOLL_GET : 0);
  return __get_user_pages(k, tsk, mm, start, nr_pages, flags, pages, vmas);
}

/**
 * get_user_pages(start, nr_pages, gup_flags, pages, vmas) on the caller's mm
 * `mm`: FOLL_TOUCH (| FOLL_GET with pages); `vmas`, when given, gets the VMA
 * of each page handled.
 */
export function get_user_pages(
  k: Kernel,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Page[] | null,
  vmas: VmAreaStruct[] | null = null,
): number {
  return __get_user_pages(
    k,
    k.current, // current, current->mm
    mm,
    start,
    nr_pages,
    gup_flags | FOLL_TOUCH | (pages !== null ? FOLL_GET : 0),
    pages,
    vmas,
  );
}

/**
 * undo_dev_pagemap(nr, nr_start, pages) (mm/gup.c): puts every page pinned
 * since nr_start. The model's `pages` array is both the kernel's `pages` and
 * `*nr` (its length), so it stands first, where `nr` is.
 */
function undo_dev_pagemap(k: Kernel, pages: Page[], nr_start: number): void {
  while (pages.length > nr_start) put_page(k, pages.pop()!);
}

/** get_page_unless_zero on the head (page_cache_get_speculative). */
function get_page_unless_zero(k: Kernel, page: Page): boolean {
  if (page_ref_count(k, page) === 0) return false;
  get_page(k, page);
  return true;
}

/**
 * gup_pte_range(pmd, addr, end, write, pages, nr) (mm/gup.c): see the
 * module doc. `t` is the table `pmd` points to; `*nr` is `pages.length`.
 * True (the kernel's 1) if the whole range was pinned.
 */
function gup_pte_range(
  k: Kernel,
  t: PteTable,
  addr: number,
  end: number,
  write: boolean,
  pages: Page[],
): boolean {
  let pgmap: DevPagemap | null = null;
  const nr_start = pages.length;
  let ret = false;
  for (;;) {
    const pte = t.ptes![pte_index(addr)]!;
    if (pte_protnone(pte)) break;
    if (!pte_present(pte) || (write && !pte_write(pte))) break; // pte_access_permitted
    if (pte_devmap(pte)) {
      pgmap = get_dev_pagemap(k, pte_pfn(pte), pgmap);
      if (pgmap === null) {
        undo_dev_pagemap(k, pages, nr_start);
        break;
      }
    } else if (pte_special(pte)) break;
    const page = pte_pfn(pte);
    if (!get_page_unless_zero(k, compound_head(k, page))) break;
    pages.push(page);
    addr += 4096;
    if (addr === end) {
      ret = true;
      break;
    }
  }
  if (pgmap !== null) put_dev_pagemap(k, pgmap);
  return ret;
}

/**
 * __gup_device_huge(pfn, addr, end, pages, nr) (mm/gup.c): every subpage,
 * with a cached get_dev_pagemap and get_page. `*nr` is `pages.length`; true
 * for the kernel's 1.
 */
function __gup_device_huge(
  k: Kernel,
  pfn: number,
  addr: number,
  end: number,
  pages: Page[],
): boolean {
  const nr_start = pages.length;
  let pgmap: DevPagemap | null = null;
  do {
    pgmap = get_dev_pagemap(k, pfn, pgmap);
    if (pgmap === null) {
      undo_dev_pagemap(k, pages, nr_start);
      return false;
    }
    pages.push(pfn);
    get_page(k, pfn);
    pfn++;
    addr += 4096;
  } while (addr !== end);
  if (pgmap !== null) put_dev_pagemap(k, pgmap);
  return true;
}

/** gup_huge_pmd / gup_huge_pud for a devmap entry (pmd/pud_access_permitted, then __gup_device_huge_p?d). */
function gup_huge_devmap(
  k: Kernel,
  entry: number,
  size: number,
  addr: number,
  end: number,
  write: boolean,
  pages: Page[],
): boolean {
  if (!pte_present(entry) || (write && !pte_write(entry))) return false;
  if (!pte_devmap(entry)) return false; // THP pins through the slow path here
  return __gup_device_huge(
    k,
    pte_pfn(entry) + Math.floor((addr & (size - 1)) / 4096),
    addr,
    end,
    pages,
  );
}

/** gup_pgd_range → gup_pud_range → gup_pmd_range → gup_pte_range over [addr, end): stops at the first entry it cannot pin. */
function gup_pgd_range(
  k: Kernel,
  mm: MmStruct,
  addr: number,
  end: number,
  write: boolean,
  pages: Page[],
): void {
  const dt = devmapTables(k, mm);
  while (addr < end) {
    const pudNext = Math.min(end, (Math.floor(addr / PUD_SIZE) + 1) * PUD_SIZE);
    const pud = dt.puds.get(Math.floor(addr / PUD_SIZE));
    if (pud !== undefined) {
      if (!gup_huge_devmap(k, pud, PUD_SIZE, addr, pudNext, write, pages)) return;
      addr = pudNext;
      continue;
    }
    // gup_pmd_range
    while (addr < pudNext) {
      const next = Math.min(pudNext, (Math.floor(addr / PMD_SIZE) + 1) * PMD_SIZE);
      const pmd = dt.pmds.get(Math.floor(addr / PMD_SIZE));
      if (pmd !== undefined) {
        if (!gup_huge_devmap(k, pmd, PMD_SIZE, addr, next, write, pages)) return;
      } else {
        const t = mm.pgd.lookup(addr);
        if (t === undefined || t.ptes === null) return; // pmd_none (or a THP, left to the slow path)
        if (!gup_pte_range(k, t, addr, next, write, pages)) return;
      }
      addr = next;
    }
  }
}

/**
 * get_user_pages_fast(start, nr_pages, write, pages) (mm/gup.c) on `mm`:
 * the lockless walk, then the slow path for the rest. Returns the number of
 * pages pinned (each with a reference), or -errno if none.
 */
export function get_user_pages_fast(
  k: Kernel,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  write: boolean,
  pages: Page[],
): number {
  start -= start & 4095;
  if (nr_pages <= 0) return 0;
  const nr0 = pages.length;
  gup_pgd_range(k, mm, start, start + nr_pages * 4096, write, pages);
  const nr = pages.length - nr0;
  let ret = nr;
  if (nr < nr_pages) {
    // get_user_pages_unlocked for the remaining pages
    const r = __get_user_pages(
      k,
      k.current, // get_user_pages_unlocked: current, current->mm
      mm,
      start + nr * 4096,
      nr_pages - nr,
      (write ? FOLL_WRITE : 0) | FOLL_TOUCH | FOLL_GET,
      pages,
    );
    if (nr > 0) ret = r < 0 ? nr : nr + r;
    else ret = r;
  }
  return ret;
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
 * Checked (library find_string / read_file) against the patch that added
 * it to mm/gup.c ("mm: introduce get_user_pages_longterm", v4.15: -EINVAL
 * without pages, a temporary vmas array, skip repeated VMAs, put every page
 * and -EOPNOTSUPP on the first fsdax VMA, EXPORT_SYMBOL under
 * CONFIG_FS_DAX) and the follow-up giving vma_is_fsdax its S_ISCHR test
 * (include/linux/fs.h); not against a v4.20 tree itself, which the library
 * did not return.
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
