/**
 * Reverse mapping (mm/rmap.c, mm/page_vma_mapped.c, mm/migrate.c's
 * remove_migration_ptes; v4.20): page mapcounts, the anon_vma /
 * address_space walks from a page to every pte that maps it, and the
 * migration-entry unmap / remap that migrate_vma uses to move a page out
 * from under every process that maps it (parent and child after fork).
 *
 * A device-private entry counts as a mapping of its device page (the
 * kernel's page_vma_mapped_walk treats it like a present pte), so a device
 * page shared by fork is unmapped from both processes when one of them
 * faults it back.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { is_device_private_page } from "./devmap.ts";
import { is_zone_device_page, zone_device_type } from "./memmap.ts";
import { MEMORY_DEVICE_PRIVATE, type Page } from "./types.ts";
import {
  AddressSpace,
  AnonVma,
  maybe_mkwrite,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  type MmStruct,
  type VmAreaStruct,
} from "./mm-types.ts";
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
} from "./mmu-notifier.ts";
import {
  compound_head,
  compound_order,
  compoundMapcount,
  head_mapping_raw,
  mappingId,
  mappingObject,
  page_linear_index,
  page_mapped,
  PageAnon,
  pageFlags2,
  PG_swapbacked,
  raw_mapcount_add,
  set_page_anon_raw,
  set_page_mapping_raw,
  set_raw_mapcount,
  setCompoundMapcount,
  SetPageDirty,
} from "./page-ext.ts";
import {
  device_private_entry_to_page,
  is_device_private_entry,
  is_migration_entry,
  is_write_migration_entry,
  make_device_private_entry,
  make_migration_entry,
  migration_entry_to_page,
  pfn_pte,
  pte_dirty,
  pte_index,
  pte_mkold,
  pte_pfn,
  pte_present,
  pte_to_swp_entry,
  pte_write,
  swp_entry_to_pte,
} from "./pgtable.ts";
import { get_page, put_page } from "./swap.ts";

/** TTU_MIGRATION: install migration entries. */
export const TTU_MIGRATION = 0x1;
/** TTU_IGNORE_MLOCK. */
export const TTU_IGNORE_MLOCK = 0x8;
/** TTU_IGNORE_ACCESS. */
export const TTU_IGNORE_ACCESS = 0x10;

/** The anon_vma of an anonymous page, or null. */
export function page_anon_vma(k: Kernel, page: Page): AnonVma | null {
  const raw = head_mapping_raw(k, page);
  if ((raw & 1) === 0) return null;
  return mappingObject(k, raw) as AnonVma | null;
}

/** page_mapping(page): the address_space of a file page, NULL for anonymous pages (no swap cache). */
export function page_mapping(k: Kernel, page: Page): AddressSpace | null {
  const raw = head_mapping_raw(k, page);
  if (raw === 0 || (raw & 1) === 1) return null;
  return mappingObject(k, raw) as AddressSpace | null;
}

/** Whether page->mapping is set at all (anon_vma or address_space). */
export function page_has_mapping(k: Kernel, page: Page): boolean {
  return head_mapping_raw(k, page) !== 0;
}

/** mm_counter(page): which rss counter a page is accounted in. */
export function mm_counter(k: Kernel, page: Page): number {
  if (PageAnon(k, page)) return MM_ANONPAGES;
  if ((pageFlags2(k, compound_head(k, page)) & PG_swapbacked) !== 0) return MM_SHMEMPAGES;
  return MM_FILEPAGES;
}

/**
 * __page_set_anon_rmap(page, vma, address, exclusive): page->mapping = the
 * anon_vma (the VMA's own if exclusive, else its root) with the ANON bit,
 * page->index = linear_page_index. Nothing if the page is already anonymous
 * and not exclusive.
 */
function __page_set_anon_rmap(
  k: Kernel,
  page: Page,
  vma: VmAreaStruct,
  address: number,
  exclusive: boolean,
): void {
  let av = vma.anon_vma!;
  if (PageAnon(k, page)) return;
  if (!exclusive) av = av.root;
  set_page_anon_raw(
    k,
    page,
    mappingId(k, av) * 2 + 1,
    Math.floor((address - vma.vm_start) / 4096) + vma.vm_pgoff,
  );
}

/**
 * page_add_new_anon_rmap(page, vma, address, compound): a page this fault
 * just allocated: mapcount 1 (compound mapcount for a THP), exclusive anon rmap.
 */
export function page_add_new_anon_rmap(
  k: Kernel,
  page: Page,
  vma: VmAreaStruct,
  address: number,
  compound: boolean,
): void {
  if (compound) setCompoundMapcount(k, page, 0);
  else set_raw_mapcount(k, page, 0);
  set_page_anon_raw(
    k,
    page,
    mappingId(k, vma.anon_vma!) * 2 + 1,
    Math.floor((address - vma.vm_start) / 4096) + vma.vm_pgoff,
  );
}

/** RMAP_EXCLUSIVE (include/linux/rmap.h): do_page_add_anon_rmap's page is this VMA's alone. */
export const RMAP_EXCLUSIVE = 0x01;
/** RMAP_COMPOUND (include/linux/rmap.h): do_page_add_anon_rmap maps a THP with one pmd. */
export const RMAP_COMPOUND = 0x02;

/**
 * page_add_anon_rmap(page, vma, address, compound) (mm/rmap.c):
 * do_page_add_anon_rmap with RMAP_COMPOUND when `compound`, never
 * RMAP_EXCLUSIVE.
 */
export function page_add_anon_rmap(
  k: Kernel,
  page: Page,
  vma: VmAreaStruct,
  address: number,
  compound: boolean,
): void {
  do_page_add_anon_rmap(k, page, vma, address, compound ? RMAP_COMPOUND : 0);
}

/**
 * do_page_add_anon_rmap(page, vma, address, flags) (mm/rmap.c): one more
 * mapping (the compound mapcount with RMAP_COMPOUND); the first one sets the
 * anon rmap, the VMA's own anon_vma with RMAP_EXCLUSIVE, else its root.
 */
export function do_page_add_anon_rmap(
  k: Kernel,
  page: Page,
  vma: VmAreaStruct,
  address: number,
  flags: number,
): void {
  const compound = (flags & RMAP_COMPOUND) !== 0;
  const exclusive = (flags & RMAP_EXCLUSIVE) !== 0;
  let first: boolean;
  if (compound) {
    const c = compoundMapcount(k, page) + 1;
    setCompoundMapcount(k, page, c);
    first = c === 0;
  } else {
    first = raw_mapcount_add(k, page, 1) === 0;
  }
  if (first) __page_set_anon_rmap(k, page, vma, address, exclusive);
}

/** page_add_file_rmap(page, compound). */
export function page_add_file_rmap(k: Kernel, page: Page, compound: boolean): void {
  if (compound) setCompoundMapcount(k, page, compoundMapcount(k, page) + 1);
  else raw_mapcount_add(k, page, 1);
}

/** page_dup_rmap(page, compound): fork's extra mapping (atomic_inc of the mapcount). */
export function page_dup_rmap(k: Kernel, page: Page, compound: boolean): void {
  page_add_file_rmap(k, page, compound);
}

/** page_remove_rmap(page, compound): one mapping less. */
export function page_remove_rmap(k: Kernel, page: Page, compound: boolean): void {
  if (compound) setCompoundMapcount(k, page, compoundMapcount(k, page) - 1);
  else raw_mapcount_add(k, page, -1);
}

/**
 * page_move_anon_rmap(page, vma): do_wp_page reusing a page that only this
 * VMA maps moves it to the VMA's own anon_vma.
 */
export function page_move_anon_rmap(k: Kernel, page: Page, vma: VmAreaStruct): void {
  const head = compound_head(k, page);
  set_page_mapping_raw(k, head, mappingId(k, vma.anon_vma!) * 2 + 1);
}

/** vma_address(page, vma): where `page` would be mapped in `vma` (may be outside it). */
export function vma_address(k: Kernel, page: Page, vma: VmAreaStruct): number {
  return vma.vm_start + (page_linear_index(k, page) - vma.vm_pgoff) * 4096;
}

/**
 * rmap_walk(page, rwc): calls `fn(vma, address)` for every VMA that may map
 * `page` (anon: the VMAs linked to its anon_vma; file: i_mmap), at the
 * address the page has there; `fn` returns false to stop.
 */
export function rmap_walk(
  k: Kernel,
  page: Page,
  fn: (vma: VmAreaStruct, address: number) => boolean,
): void {
  const raw = head_mapping_raw(k, page);
  if (raw === 0) return;
  const obj = mappingObject(k, raw);
  const vmas = (raw & 1) === 1 ? (obj as AnonVma).vmas : (obj as AddressSpace).i_mmap;
  for (const vma of vmas) {
    const address = vma_address(k, page, vma);
    if (address < vma.vm_start || address >= vma.vm_end) continue;
    if (!fn(vma, address)) return;
  }
}

/** Whether the pte at `addr` of `mm` maps `page` (present pte or device-private entry). */
function ptePointsTo(mm: MmStruct, addr: number, page: Page): boolean {
  const t = mm.pgd.lookup(addr);
  if (t === undefined || t.ptes === null) return false;
  const pte = t.ptes[pte_index(addr)]!;
  if (pte === 0) return false;
  if (pte_present(pte)) return pte_pfn(pte) === page;
  const e = pte_to_swp_entry(pte);
  return is_device_private_entry(e) && device_private_entry_to_page(e) === page;
}

/**
 * try_to_unmap(page, flags) for TTU_MIGRATION (mm/rmap.c try_to_unmap_one):
 * in every VMA that maps `page`, between mmu_notifier_invalidate_range_start
 * and _end, the pte becomes a migration entry (writable if the pte was; a
 * ZONE_DEVICE page's entry is always read), the rmap is dropped and the
 * mapping's page reference put. Other ZONE_DEVICE types than private are
 * left alone. Returns !page_mapped(page).
 */
export function try_to_unmap(k: Kernel, page: Page, flags: number): boolean {
  if ((flags & TTU_MIGRATION) === 0) {
    throw new RangeError("Cannot try_to_unmap without TTU_MIGRATION: the model only migrates");
  }
  const device = is_zone_device_page(k, page);
  if (device && !is_device_private_page(k, page)) return !page_mapped(k, page);
  rmap_walk(k, page, (vma, address) => {
    const mm = vma.vm_mm;
    if (!ptePointsTo(mm, address, page)) return true;
    const end = Math.min(vma.vm_end, address + 4096 * 2 ** compound_order(k, page));
    mmu_notifier_invalidate_range_start(k, mm, address, end);
    const t = mm.pgd.lookup(address)!;
    const i = pte_index(address);
    const pteval = t.ptes![i]!;
    if (device) {
      t.ptes![i] = swp_entry_to_pte(make_migration_entry(page, false));
    } else {
      if (pte_dirty(pteval)) SetPageDirty(k, page);
      t.ptes![i] = swp_entry_to_pte(make_migration_entry(page, pte_write(pteval)));
    }
    page_remove_rmap(k, page, false);
    put_page(k, page);
    mmu_notifier_invalidate_range_end(k, mm, address, end);
    return true;
  });
  return !page_mapped(k, page);
}

/**
 * remove_migration_pte(new, vma, addr, old): if the pte at `addr` is a
 * migration entry for `old`, map `new` there: a reference on `new`,
 * pte_mkold(mk_pte(new, vm_page_prot)), writable only if the entry was a
 * write entry and the VMA allows it; for a device-private `new`, a
 * device-private entry (write iff that pte would be writable); then the
 * rmap (anon or file).
 */
function remove_migration_pte(
  k: Kernel,
  newp: Page,
  vma: VmAreaStruct,
  addr: number,
  old: Page,
): void {
  const mm = vma.vm_mm;
  const t = mm.pgd.lookup(addr);
  if (t === undefined || t.ptes === null) return;
  const i = pte_index(addr);
  const cur = t.ptes[i]!;
  if (cur === 0 || pte_present(cur)) return;
  const entry = pte_to_swp_entry(cur);
  if (!is_migration_entry(entry) || migration_entry_to_page(entry) !== old) return;
  get_page(k, newp);
  let pte = pte_mkold(pfn_pte(newp, vma.vm_page_prot));
  if (is_write_migration_entry(entry)) pte = maybe_mkwrite(pte, vma);
  if (zone_device_type(k, newp) === MEMORY_DEVICE_PRIVATE) {
    pte = swp_entry_to_pte(make_device_private_entry(newp, pte_write(pte)));
  }
  t.ptes[i] = pte;
  if (PageAnon(k, newp)) page_add_anon_rmap(k, newp, vma, addr, false);
  else page_add_file_rmap(k, newp, false);
}

/**
 * remove_migration_ptes(old, new, locked) (mm/migrate.c): replaces every
 * migration entry for `old` by a mapping of `new` (walking `new`'s rmap,
 * which migrate_page copied from `old`). `_locked` says whether the caller
 * holds the rmap lock (rmap_walk_locked); the model's walk takes no lock.
 */
export function remove_migration_ptes(k: Kernel, old: Page, newp: Page, _locked: boolean): void {
  const raw = head_mapping_raw(k, newp);
  if (raw === 0) return;
  const obj = mappingObject(k, raw);
  const vmas = (raw & 1) === 1 ? (obj as AnonVma).vmas : (obj as AddressSpace).i_mmap;
  for (const vma of vmas) {
    const address = vma_address(k, newp, vma);
    if (address < vma.vm_start || address >= vma.vm_end) continue;
    remove_migration_pte(k, newp, vma, address, old);
  }
}
