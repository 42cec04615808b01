/**
 * migrate_vma (mm/migrate.c with CONFIG_MIGRATE_VMA_HELPER,
 * include/linux/migrate.h; v4.20 = v5.0, EXPORT_SYMBOL): move the pages of
 * a range of one VMA to memory the caller allocates — device memory or, in
 * a device's CPU-fault handler, system memory — with the two-callback API
 * of 2017-2019 (replaced in v5.4 by migrate_vma_setup/pages/finalize).
 *
 * Entries of `src` / `dst` (unsigned long in the kernel, numbers here):
 * `pfn << MIGRATE_PFN_SHIFT | flags` with VALID 1<<0, MIGRATE 1<<1,
 * LOCKED 1<<2, WRITE 1<<3, DEVICE 1<<4, ERROR 1<<5 and MIGRATE_PFN_SHIFT 6.
 *
 * The steps, as 4.20 runs them:
 * 1. argument checks, all -EINVAL: no VMA, a hugetlb / VM_SPECIAL / DAX
 *    VMA, start outside the VMA, end not in (vm_start, vm_end], no ops or
 *    arrays, start >= end (after masking both to pages). Otherwise the
 *    result is 0, even if nothing moved.
 * 2. collect (between mmu_notifier_invalidate_range_start and _end over the
 *    range — every mirror is told): an empty pte or pmd, or the zero page,
 *    is MIGRATE with no page (the caller may allocate memory for it); a
 *    device-private entry is pfn|DEVICE|MIGRATE (|WRITE); other swap
 *    entries are skipped (0); a present page is pfn|MIGRATE (|WRITE) — but
 *    a page without page->mapping, or still compound, is skipped. A huge
 *    zero pmd is split first; a THP pmd has split_huge_page run on it
 *    (skipped if that fails — the THP is pinned). Each collected page gets
 *    a reference, is locked, and its pte becomes a migration entry (LOCKED).
 * 3. prepare: isolate system pages from the LRU; drop pages that are pinned
 *    (page_count - extra > mapcount; device-private pages are never
 *    pinned; other ZONE_DEVICE pages only migrate if DEVICE_PUBLIC).
 * 4. unmap: try_to_unmap every other mapping (other processes after fork)
 *    into migration entries; anything still mapped is restored.
 * 5. ops->alloc_and_copy(vma, src, dst, start, end, private).
 * 6. migrate_vma_pages: empty entries get the new page inserted (anonymous
 *    VMAs only; device-private destinations become device-private
 *    entries); a page with a mapping (shmem, page cache) cannot go to
 *    device-private memory; struct page state (mapping, index) moves.
 *    Failures clear MIGRATE in src.
 * 7. ops->finalize_and_map(vma, src, dst, start, end, private).
 * 8. finalize: every migration entry is replaced by the new page (or the
 *    old one if the move failed), pages unlocked and references dropped —
 *    for a device page, dropping to 1 runs its free callback.
 *
 * A dst entry of MIGRATE_PFN_ERROR (no VALID) is, to the core, just "no
 * destination": the source is restored. The SIGBUS that the header comment
 * promises comes from the driver: its fault handler sees the ERROR in dst
 * and returns VM_FAULT_SIGBUS.
 *
 * Atomic in the model (mmap_sem held for read by the caller; page locks
 * and the LRU drain never wait). Charges one page-table walk
 * (cpu.ptWalkSoftware) per collect, unless inside a device fault's
 * composite cost.
 *
 * Fast paths (simulator plumbing, FaultState.migrateFastPaths, on by
 * default, only while tracing is off): collect per pte, prepare + unmap,
 * migrate_vma_pages per entry and finalize have specialisations for the
 * common batch (small, materialised, anonymous pages mapped once; system
 * RAM or device-private) that read each page's section once. The fast
 * collect keeps each page's section (FaultState.migrateScratch, no
 * allocation) for the later steps and checks prepare/unmap's conditions
 * with the page in hand; a one-page call (the device's CPU fault) uses the
 * scratch struct migrate_vma and skips the walk's loops. Every step keeps
 * its kernel function as a frame (the call chain that notifier callbacks,
 * ops->alloc_and_copy / finalize_and_map and page_free see is the general
 * path's). They change nothing a caller or driver can see — the same
 * callbacks in the same order, MIGRATE_PFN_* results, memmap, page tables,
 * counters and clock — and hand any other entry to the general code;
 * tests/kernel/mm/migrate_fast_test.ts compares the two.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { vma_is_dax } from "./devmap-mm.ts";
import { EINVAL } from "../errno.ts";
import { is_zone_device_page, nullDeref, zone_device_type } from "./memmap.ts";
import { DEV_PAGEMAP_TYPE_OFFSET, PAGE_FIELD, ZONE_DEVICE } from "./constants.ts";
import { PG_locked, wordZone } from "./page-flags.ts";
import { _vm_normal_page, chargeWalk, type MigrateScratch } from "./memory.ts";
import {
  anon_vma_prepare,
  type AnonVma,
  is_vm_hugetlb_page,
  maybe_mkwrite,
  MM_ANONPAGES,
  VM_SPECIAL,
  VM_WRITE,
  vma_is_anonymous,
  type VmAreaStruct,
} from "./mm-types.ts";
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_only_end,
  mmu_notifier_invalidate_range_start,
} from "./mmu-notifier.ts";
import {
  copy_page_anon_state,
  EXT_FLAGS,
  EXT_INDEX,
  EXT_MAPCOUNT,
  EXT_MAPPING,
  EXT_STRIDE,
  extGet64,
  mappingObject,
  page_mapped,
  pageExt,
  pageFlags2,
  pageIdx,
  PG_lru,
  PG_swapbacked,
  PG_uptodate,
  sectionExt,
  setPageFlag2,
  trylock_page,
  unlock_page,
} from "./page-ext.ts";
import {
  device_private_entry_to_page,
  is_device_private_entry,
  is_migration_entry,
  is_write_device_private_entry,
  is_write_migration_entry,
  make_device_private_entry,
  make_migration_entry,
  migration_entry_to_page,
  orBits,
  pfn_pte,
  pmd_addr_end,
  pte_index,
  pte_mkdirty,
  pte_mkold,
  pte_mkwrite,
  pte_pfn,
  pte_present,
  pte_special,
  pte_to_swp_entry,
  pte_write,
  swp_entry_to_pte,
} from "./pgtable.ts";
import { is_zero_pfn } from "./ram-alloc.ts";
import { mmNotifiersAreHmm } from "./hmm-mirror.ts";
import { get_page, put_page } from "./swap.ts";
import {
  page_add_new_anon_rmap,
  page_mapping,
  page_remove_rmap,
  remove_migration_ptes,
  try_to_unmap,
  TTU_IGNORE_ACCESS,
  TTU_IGNORE_MLOCK,
  TTU_MIGRATION,
} from "./rmap.ts";
import { is_huge_zero_pmd, split_huge_page, split_huge_pmd } from "./huge-memory.ts";
import {
  MEMORY_DEVICE_FS_DAX,
  MEMORY_DEVICE_PRIVATE,
  MEMORY_DEVICE_PUBLIC,
  type Page,
} from "./types.ts";
import { HUB } from "./hub.ts";
import { sectionOf } from "./mmzone.ts";
import type { MemSection } from "./section.ts";
import type { MmState } from "./mmzone.ts";
import { withRef, wordRef } from "./page-flags.ts";

/** MIGRATE_PFN_VALID. */
export const MIGRATE_PFN_VALID = 1 << 0;
/** MIGRATE_PFN_MIGRATE. */
export const MIGRATE_PFN_MIGRATE = 1 << 1;
/** MIGRATE_PFN_LOCKED. */
export const MIGRATE_PFN_LOCKED = 1 << 2;
/** MIGRATE_PFN_WRITE. */
export const MIGRATE_PFN_WRITE = 1 << 3;
/** MIGRATE_PFN_DEVICE. */
export const MIGRATE_PFN_DEVICE = 1 << 4;
/** MIGRATE_PFN_ERROR. */
export const MIGRATE_PFN_ERROR = 1 << 5;
/** MIGRATE_PFN_SHIFT. */
export const MIGRATE_PFN_SHIFT = 6;

/** A src/dst array (`unsigned long *`). */
export type MigratePfns = Float64Array | number[];

/** migrate_pfn(pfn): pfn << MIGRATE_PFN_SHIFT | MIGRATE_PFN_VALID. */
export function migrate_pfn(pfn: number): number {
  return pfn * 64 + MIGRATE_PFN_VALID;
}

/** migrate_pfn_to_page(mpfn): the page of a VALID entry, else null. */
export function migrate_pfn_to_page(mpfn: number): Page | null {
  if ((mpfn & MIGRATE_PFN_VALID) === 0) return null;
  return (mpfn - (mpfn & 63)) / 64;
}

/** struct migrate_vma_ops: the caller's callbacks. */
export interface MigrateVmaOps {
  /** Allocate destinations for src entries with MIGRATE, copy, fill dst (VALID|LOCKED, +DEVICE). */
  alloc_and_copy(
    k: Kernel,
    vma: VmAreaStruct,
    src: MigratePfns,
    dst: MigratePfns,
    start: number,
    end: number,
    priv: unknown,
  ): void;
  /** See which entries moved (src MIGRATE and dst VALID) and update the device's tables. */
  finalize_and_map(
    k: Kernel,
    vma: VmAreaStruct,
    src: MigratePfns,
    dst: MigratePfns,
    start: number,
    end: number,
    priv: unknown,
  ): void;
}

/**
 * struct migrate_vma (mm/migrate.c, private to the helper), with two fields
 * of simulator plumbing for the fast paths.
 */
export interface Migrate {
  /** The VMA. */
  vma: VmAreaStruct;
  /** The caller's src array. */
  src: MigratePfns;
  /** The caller's dst array. */
  dst: MigratePfns;
  /** Collected pages still migrating. */
  cpages: number;
  /** Entries filled so far. */
  npages: number;
  /** First address. */
  start: number;
  /** End address (trimmed to what collect filled). */
  end: number;
  /**
   * Simulator plumbing: the section of each page the fast collect took
   * (MigrateScratch.secs, while this call owns it), else null.
   */
  secs: (MemSection | null)[] | null;
  /** Simulator plumbing: a page->mapping value whose anon_vma was seen to link only `vma` (-1: none yet). */
  okMapping: number;
  /**
   * Simulator plumbing: every page collected so far was taken by the fast
   * collect and already met prepareUnmapFast's conditions there.
   */
  prepOk: boolean;
  /**
   * Simulator plumbing: the memory model when the call started with
   * FaultState.migrateFastPaths on (each step also needs tracing off), else null.
   */
  mms: MmState | null;
}

function emit(
  k: Kernel,
  op: import("../events.ts").MigrateVmaEvent["op"],
  m: Migrate,
  cpages = m.cpages,
): void {
  k.trace.emit({
    kind: "migrate_vma",
    op,
    mm: m.vma.vm_mm.id,
    start: m.start,
    end: m.end,
    npages: m.npages,
    cpages,
  });
}

function collect_hole(m: Migrate, start: number, end: number): void {
  for (let addr = start; addr < end; addr += 4096) {
    m.src[m.npages] = MIGRATE_PFN_MIGRATE;
    m.dst[m.npages] = 0;
    m.npages++;
    m.cpages++;
  }
}

function collect_skip(m: Migrate, start: number, end: number): void {
  for (let addr = start; addr < end; addr += 4096) {
    m.dst[m.npages] = 0;
    m.src[m.npages++] = 0;
  }
}

/**
 * collect_pmd's test, from one section lookup: the page has a mapping
 * (page_mapping of its head is set) and is not compound (4.20 skips THPs).
 */
function collectable(k: Kernel, page: Page): boolean {
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  const i = pageIdx(page);
  if (e.compound !== null && e.compound[i] !== 0) return false; // PageCompound (head or tail)
  return e.rec !== null && e.rec[i * EXT_STRIDE + EXT_MAPPING] !== 0;
}

/** migrate_vma_collect_pmd(pmdp, start, end, walk). */
function collect_pmd(k: Kernel, m: Migrate, start: number, end: number): void {
  const vma = m.vma;
  const mm = vma.vm_mm;
  let t = mm.pgd.lookup(start);
  if (t === undefined) return collect_hole(m, start, end);
  if (t.huge !== 0) {
    if (is_huge_zero_pmd(k, t.huge)) {
      split_huge_pmd(k, vma, t, start);
    } else {
      const page = pte_pfn(t.huge);
      get_page(k, page);
      if (!trylock_page(k, page)) {
        put_page(k, page);
        return collect_skip(m, start, end);
      }
      const ret = split_huge_page(k, page);
      unlock_page(k, page);
      put_page(k, page);
      if (ret !== 0) return collect_skip(m, start, end);
      t = mm.pgd.lookup(start);
      if (t === undefined) return collect_hole(m, start, end);
    }
  }
  const ptes = t.ptes!;
  // simulator fast path (FaultState.migrateFastPaths, tracing off): same effects, fewer lookups
  const mms = m.mms;
  if (mms !== null && !k.tracing) {
    for (let addr = start; addr < end; addr += 4096) collect_pte_fast(k, m, mms, ptes, addr);
    return;
  }
  for (let addr = start; addr < end; addr += 4096) collect_pte(k, m, ptes, addr);
}

/** One pte of migrate_vma_collect_pmd's loop. */
function collect_pte(k: Kernel, m: Migrate, ptes: Float64Array, addr: number): void {
  const vma = m.vma;
  {
    const i = pte_index(addr);
    const pte = ptes[i]!;
    let mpfn: number;
    let page: Page | null;
    if (pte === 0) {
      m.cpages++;
      m.dst[m.npages] = 0;
      m.src[m.npages++] = MIGRATE_PFN_MIGRATE;
      return;
    }
    if (!pte_present(pte)) {
      const entry = pte_to_swp_entry(pte);
      if (!is_device_private_entry(entry)) {
        m.dst[m.npages] = 0;
        m.src[m.npages++] = 0;
        return;
      }
      page = device_private_entry_to_page(entry);
      mpfn = orBits(migrate_pfn(page), MIGRATE_PFN_DEVICE | MIGRATE_PFN_MIGRATE);
      if (is_write_device_private_entry(entry)) mpfn = orBits(mpfn, MIGRATE_PFN_WRITE);
    } else {
      const pfn = pte_pfn(pte);
      if (is_zero_pfn(k, pfn)) {
        m.cpages++;
        m.dst[m.npages] = 0;
        m.src[m.npages++] = MIGRATE_PFN_MIGRATE;
        return;
      }
      page = _vm_normal_page(k, vma, addr, pte, true);
      mpfn = orBits(migrate_pfn(pfn), MIGRATE_PFN_MIGRATE);
      if (pte_write(pte)) mpfn = orBits(mpfn, MIGRATE_PFN_WRITE);
    }
    // FIXME support THP (4.20): compound pages and pages without a mapping are skipped
    if (page === null || !collectable(k, page)) {
      m.dst[m.npages] = 0;
      m.src[m.npages++] = 0;
      return;
    }
    get_page(k, page);
    m.cpages++;
    if (trylock_page(k, page)) {
      mpfn = orBits(mpfn, MIGRATE_PFN_LOCKED);
      // the pte becomes a migration entry; the mapping's reference goes
      ptes[i] = swp_entry_to_pte(make_migration_entry(page, (mpfn & MIGRATE_PFN_WRITE) !== 0));
      page_remove_rmap(k, page, false);
      put_page(k, page);
    }
    m.dst[m.npages] = 0;
    m.src[m.npages++] = mpfn;
  }
}

/**
 * collect_pte specialised (simulator plumbing, tracing off) for a normal
 * present page or a device-private entry whose page is small, materialised,
 * has a mapping, is unlocked and holds a reference (two for a ZONE_DEVICE
 * page, which is free at one): the collect's get_page and the mapping's
 * put_page cancel out (the put can neither free the page nor call
 * page_free), so one section lookup does the lock, the migration entry
 * and page_remove_rmap. Any other pte takes collect_pte.
 */
function collect_pte_fast(
  k: Kernel,
  m: Migrate,
  mms: MmState,
  ptes: Float64Array,
  addr: number,
): void {
  const i = pte_index(addr);
  const pte = ptes[i]!;
  let page: Page;
  let mpfn: number;
  const secs = m.secs;
  if (secs !== null) secs[m.npages] = null; // set below if this entry is taken here
  if (pte === 0) return collect_pte(k, m, ptes, addr);
  if (!pte_present(pte)) {
    const entry = pte_to_swp_entry(pte);
    if (!is_device_private_entry(entry)) return collect_pte(k, m, ptes, addr); // skipped: no page
    page = device_private_entry_to_page(entry);
    mpfn = page * 64 + (MIGRATE_PFN_VALID | MIGRATE_PFN_DEVICE | MIGRATE_PFN_MIGRATE);
    if (is_write_device_private_entry(entry)) mpfn += MIGRATE_PFN_WRITE;
  } else {
    if (pte_special(pte)) return collectGeneral(k, m, ptes, addr);
    page = pte_pfn(pte);
    if (is_zero_pfn(k, page)) return collect_pte(k, m, ptes, addr);
    mpfn = page * 64 + (MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE);
    if (pte_write(pte)) mpfn += MIGRATE_PFN_WRITE;
  }
  const s = sectionOf(mms, page);
  if (s === null) return collectGeneral(k, m, ptes, addr);
  const pi = pageIdx(page);
  const w = s.words, e = s.ext;
  if (
    w === null || e === null || e.rec === null || (e.compound !== null && e.compound[pi] !== 0) ||
    e.rec[pi * EXT_STRIDE + EXT_MAPPING] === 0 || (w[pi]! & PG_locked) !== 0 ||
    s.ref(pi) < (wordZone(w[pi]!) === ZONE_DEVICE ? 2 : 1)
  ) return collectGeneral(k, m, ptes, addr);
  m.cpages++;
  w[pi] = (w[pi]! | PG_locked) >>> 0; // trylock_page
  mpfn += MIGRATE_PFN_LOCKED;
  ptes[i] = swp_entry_to_pte(make_migration_entry(page, (mpfn & MIGRATE_PFN_WRITE) !== 0));
  const o = pi * EXT_STRIDE;
  const rec = e.rec;
  rec[o + EXT_MAPCOUNT]!--; // page_remove_rmap
  if (secs !== null) secs[m.npages] = s;
  // prepareUnmapFast's conditions, checked with the page in hand: now unmapped, and private, or
  // on the LRU and not pinned
  if (m.prepOk) {
    if (rec[o + EXT_MAPCOUNT] !== 0) m.prepOk = false;
    else if (wordZone(w[pi]!) === ZONE_DEVICE) {
      const pgmap = s.runs === null ? s.pgmap : s.pgmapAt(pi);
      if (pgmap === null || pgmap.type !== MEMORY_DEVICE_PRIVATE) m.prepOk = false;
    } else if ((rec[o + EXT_FLAGS]! & PG_lru) === 0) m.prepOk = false;
    else {
      const raw = rec[o + EXT_MAPPING]!;
      const extra = (raw & 1) === 0 && mappingObject(k, raw) !== null ? 2 : 1;
      if (s.ref(pi) - extra > 0) m.prepOk = false; // pinned
    }
  }
  m.dst[m.npages] = 0;
  m.src[m.npages++] = mpfn;
}

/** collect_pte for a pte the fast collect does not take (it may collect a page prepareUnmapFast must check). */
function collectGeneral(k: Kernel, m: Migrate, ptes: Float64Array, addr: number): void {
  m.prepOk = false;
  collect_pte(k, m, ptes, addr);
}

/**
 * migrate_vma_collect(migrate): walk the range between
 * mmu_notifier_invalidate_range_start and _end, filling src.
 */
function migrate_vma_collect(k: Kernel, m: Migrate): void {
  const mm = m.vma.vm_mm;
  chargeWalk(k);
  mmu_notifier_invalidate_range_start(k, mm, m.start, m.end);
  const t = m.end - m.start === 4096 && m.mms !== null && !k.tracing
    ? mm.pgd.lookup(m.start)
    : undefined;
  if (t !== undefined && t.huge === 0) {
    // one page under a pte page (the device's CPU fault): collect_pmd's pte step, without its walk
    collect_pte_fast(k, m, m.mms!, t.ptes!, m.start);
  } else {
    for (let addr = m.start, next: number; addr < m.end; addr = next) {
      next = pmd_addr_end(addr, m.end);
      collect_pmd(k, m, addr, next);
    }
  }
  mmu_notifier_invalidate_range_end(k, mm, m.start, m.end);
  m.end = m.start + m.npages * 4096;
  if (k.trace.on) emit(k, "collect", m);
}

/**
 * migrate_vma_check_page(page): may this page move? Compound: no.
 * Device-private: always. Other ZONE_DEVICE: only DEVICE_PUBLIC. Else it
 * must not be pinned: page_count - extra <= mapcount, extra = 1 (the
 * caller's reference) + 1 for a device-public page + 1 for a page with a
 * mapping (page cache).
 */
export function migrate_vma_check_page(k: Kernel, page: Page): boolean {
  let extra = 1;
  // one section lookup for every field read below (a compound page returns first)
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  const i = pageIdx(page);
  if (e.compound !== null && e.compound[i] !== 0) return false; // PageCompound
  const s = e.section;
  if (wordZone(s.word(i)) === ZONE_DEVICE) {
    const pgmap = s.runs === null ? s.pgmap : s.pgmapAt(i);
    if (pgmap === null) nullDeref(k, DEV_PAGEMAP_TYPE_OFFSET);
    if (pgmap.type === MEMORY_DEVICE_PRIVATE) return true;
    if (pgmap.type !== MEMORY_DEVICE_PUBLIC) return false;
    extra++;
  }
  const rec = e.rec;
  const raw = rec === null ? 0 : rec[i * EXT_STRIDE + EXT_MAPPING]!;
  if ((raw & 1) === 0 && mappingObject(k, raw) !== null) extra += 1; // page_mapping
  const mapcount = rec === null ? 0 : rec[i * EXT_STRIDE + EXT_MAPCOUNT]!; // page_mapcount
  return s.ref(i) - extra <= mapcount; // page_count
}

/** remove_migration_pte of `page` at one address of this VMA (restoring a collected pte). */
function restore(k: Kernel, _m: Migrate, page: Page): void {
  remove_migration_ptes(k, page, page, false);
}

/** migrate_vma_prepare(migrate): lock, isolate from the LRU, drop pinned pages. */
function migrate_vma_prepare(k: Kernel, m: Migrate): void {
  const npages = m.npages;
  let restoreN = 0;
  for (let i = 0; i < npages && m.cpages > 0; i++) {
    const page = migrate_pfn_to_page(m.src[i]!);
    if (page === null) continue;
    let remap = true;
    if ((m.src[i]! & MIGRATE_PFN_LOCKED) === 0) {
      if (!trylock_page(k, page)) {
        m.src[i] = 0;
        m.cpages--;
        put_page(k, page);
        continue;
      }
      remap = false;
      m.src[i] = orBits(m.src[i]!, MIGRATE_PFN_LOCKED);
    }
    const device = is_zone_device_page(k, page);
    if (!device) {
      // isolate_lru_page: takes a reference; then drop the collect reference
      if ((pageFlags2(k, page) & PG_lru) === 0) {
        if (remap) {
          m.src[i] = m.src[i]! - (m.src[i]! & MIGRATE_PFN_MIGRATE);
          m.cpages--;
          restoreN++;
        } else {
          m.src[i] = 0;
          unlock_page(k, page);
          m.cpages--;
          put_page(k, page);
        }
        continue;
      }
      setPageFlag2(k, page, PG_lru, false);
      get_page(k, page);
      put_page(k, page);
    }
    if (!migrate_vma_check_page(k, page)) {
      if (remap) {
        m.src[i] = m.src[i]! - (m.src[i]! & MIGRATE_PFN_MIGRATE);
        m.cpages--;
        restoreN++;
        if (!device) {
          get_page(k, page);
          putback_lru_page(k, page);
        }
      } else {
        m.src[i] = 0;
        unlock_page(k, page);
        m.cpages--;
        if (!device) putback_lru_page(k, page);
        else put_page(k, page);
      }
    }
  }
  for (let i = 0; i < npages && restoreN > 0; i++) {
    const page = migrate_pfn_to_page(m.src[i]!);
    if (page === null || (m.src[i]! & MIGRATE_PFN_MIGRATE) !== 0) continue;
    restore(k, m, page);
    m.src[i] = 0;
    unlock_page(k, page);
    put_page(k, page);
    restoreN--;
  }
  if (k.trace.on) emit(k, "prepare", m);
}

/**
 * migrate_vma_prepare followed by migrate_vma_unmap, specialised (simulator
 * plumbing, FaultState.migrateFastPaths, tracing off) for the common batch:
 * every collected page is locked by collect, small, materialised, no longer
 * mapped anywhere, and either device-private or a system page on the LRU
 * that is not pinned. Then prepare's only lasting effect is taking the
 * system pages off the LRU (isolate_lru_page's reference replaces the
 * collect's), and unmap has nothing to do. A first pass checks, changing
 * nothing; if any page is otherwise it returns false and the caller runs
 * the general steps.
 */
function prepareUnmapFast(k: Kernel, m: Migrate): boolean {
  const npages = m.npages;
  const src = m.src;
  const mms = m.mms!;
  // the checks were made by the fast collect, and invalidate_range_end cannot have undone them
  const checked = m.prepOk && mmNotifiersAreHmm(m.vma.vm_mm);
  for (let i = 0; i < npages && !checked; i++) {
    const sv = src[i]!;
    if ((sv & MIGRATE_PFN_VALID) === 0) continue;
    if (
      (sv & (MIGRATE_PFN_LOCKED | MIGRATE_PFN_MIGRATE)) !==
        (MIGRATE_PFN_LOCKED | MIGRATE_PFN_MIGRATE)
    ) {
      return false;
    }
    const page = (sv - (sv & 63)) / 64;
    const s = srcSection(mms, m, i, page);
    if (s === null) return false;
    const pi = pageIdx(page);
    const w = s.words, e = s.ext;
    if (
      w === null || e === null || e.rec === null || (e.compound !== null && e.compound[pi] !== 0)
    ) {
      return false;
    }
    const o = pi * EXT_STRIDE;
    if (e.rec[o + EXT_MAPCOUNT] !== 0) return false; // page_mapped: try_to_unmap's business
    if (wordZone(w[pi]!) === ZONE_DEVICE) {
      const pgmap = s.runs === null ? s.pgmap : s.pgmapAt(pi);
      if (pgmap === null || pgmap.type !== MEMORY_DEVICE_PRIVATE) return false;
    } else {
      if ((e.rec[o + EXT_FLAGS]! & PG_lru) === 0) return false;
      const raw = e.rec[o + EXT_MAPPING]!;
      const extra = (raw & 1) === 0 && mappingObject(k, raw) !== null ? 2 : 1;
      if (s.ref(pi) - extra > 0) return false; // pinned
    }
  }
  for (let i = 0; i < npages; i++) {
    const sv = src[i]!;
    if ((sv & MIGRATE_PFN_VALID) === 0) continue;
    const page = (sv - (sv & 63)) / 64;
    const s = srcSection(mms, m, i, page)!;
    const pi = pageIdx(page);
    if (wordZone(s.words![pi]!) === ZONE_DEVICE) continue;
    const rec = s.ext!.rec!;
    rec[pi * EXT_STRIDE + EXT_FLAGS] = rec[pi * EXT_STRIDE + EXT_FLAGS]! & ~PG_lru & 0xff; // isolate_lru_page
  }
  return true;
}

/**
 * The section of `page`, the page of src[i] (fast paths): the one the fast
 * collect recorded for entry i if it holds `page`, else looked up. A
 * recorded section cannot have gone: the page is locked and referenced by
 * the migration, so neither memory offlining nor a pgmap's teardown can
 * remove its section.
 */
function srcSection(mms: MmState, m: Migrate, i: number, page: Page): MemSection | null {
  const secs = m.secs;
  if (secs !== null) {
    const s = secs[i]!;
    if (s !== null) {
      const d = page - s.nr * 32768; // PAGES_PER_SECTION
      if (d >= 0 && d < 32768) return s;
    }
  }
  return sectionOf(mms, page);
}

/** putback_lru_page(page): back on the LRU, dropping the isolation reference. */
function putback_lru_page(k: Kernel, page: Page): void {
  setPageFlag2(k, page, PG_lru, true);
  put_page(k, page);
}

/** migrate_vma_unmap(migrate): unmap every other mapping; restore what stays mapped or pinned. */
function migrate_vma_unmap(k: Kernel, m: Migrate): void {
  const npages = m.npages;
  let restoreN = 0;
  for (let i = 0; i < npages; i++) {
    const page = migrate_pfn_to_page(m.src[i]!);
    if (page === null || (m.src[i]! & MIGRATE_PFN_MIGRATE) === 0) continue;
    let ok = true;
    if (page_mapped(k, page)) {
      try_to_unmap(k, page, TTU_MIGRATION | TTU_IGNORE_MLOCK | TTU_IGNORE_ACCESS);
      if (page_mapped(k, page)) ok = false;
    }
    if (ok && migrate_vma_check_page(k, page)) continue;
    m.src[i] = m.src[i]! - (m.src[i]! & MIGRATE_PFN_MIGRATE);
    m.cpages--;
    restoreN++;
  }
  for (let i = 0; i < npages && restoreN > 0; i++) {
    const page = migrate_pfn_to_page(m.src[i]!);
    if (page === null || (m.src[i]! & MIGRATE_PFN_MIGRATE) !== 0) continue;
    remove_migration_ptes(k, page, page, false);
    m.src[i] = 0;
    unlock_page(k, page);
    restoreN--;
    if (is_zone_device_page(k, page)) put_page(k, page);
    else putback_lru_page(k, page);
  }
  if (k.trace.on) emit(k, "unmap", m);
}

/**
 * migrate_vma_insert_page(migrate, addr, page, src, dst): install a new
 * page where there was none (or the zero page). Only anonymous VMAs; a
 * huge pmd or any other pte aborts. A device-private page becomes a
 * device-private entry (write iff the VMA is writable). The page gets the
 * anon rmap and a reference. On abort MIGRATE is cleared in src. `i` is
 * the entry's index: the kernel's `src` / `dst` pointers are
 * &migrate->src[i] / &migrate->dst[i].
 */
function migrate_vma_insert_page(k: Kernel, m: Migrate, addr: number, page: Page, i: number): void {
  const vma = m.vma;
  const mm = vma.vm_mm;
  abort: {
    if (!vma_is_anonymous(vma)) break abort;
    const t = mm.pgd.alloc(addr);
    if (t.huge !== 0) break abort;
    anon_vma_prepare(k, vma);
    setPageFlag2(k, page, PG_uptodate, true);
    let entry: number;
    const type = zone_device_type(k, page);
    if (type !== -1) {
      if (type === MEMORY_DEVICE_PRIVATE) {
        entry = swp_entry_to_pte(make_device_private_entry(page, (vma.vm_flags & VM_WRITE) !== 0));
      } else {
        entry = pfn_pte(page, vma.vm_page_prot);
        if ((vma.vm_flags & VM_WRITE) !== 0) entry = pte_mkwrite(pte_mkdirty(entry));
      }
    } else {
      entry = pfn_pte(page, vma.vm_page_prot);
      if ((vma.vm_flags & VM_WRITE) !== 0) entry = pte_mkwrite(pte_mkdirty(entry));
    }
    const j = pte_index(addr);
    const cur = t.ptes![j]!;
    // only an empty pte or the zero page may be replaced (the latter needs
    // ptep_clear_flush_notify: the caller's invalidate_range_start/only_end covers it)
    if (cur !== 0 && (!pte_present(cur) || !is_zero_pfn(k, pte_pfn(cur)))) break abort;
    mm.rss[MM_ANONPAGES]!++;
    page_add_new_anon_rmap(k, page, vma, addr, false);
    if (type === -1) setPageFlag2(k, page, PG_lru | PG_swapbacked, true);
    get_page(k, page);
    t.ptes![j] = entry;
    m.src[i] = MIGRATE_PFN_MIGRATE;
    return;
  }
  m.src[i] = m.src[i]! - (m.src[i]! & MIGRATE_PFN_MIGRATE);
}

/**
 * migrate_page(mapping, newpage, page, MIGRATE_SYNC_NO_COPY) for the
 * anonymous (mapping-less) case: the page's count must be exactly what the
 * migration holds (1, plus 1 for a ZONE_DEVICE private or public page);
 * then newpage takes page->index, page->mapping and the swap-backed and
 * dirty flags. Returns 0 or -EAGAIN.
 */
function migrate_page(k: Kernel, newpage: Page, page: Page): number {
  let expected = 1;
  // zone, pgmap type, mapping and count of `page` from one section lookup
  const e = pageExt(k, page, PAGE_FIELD.flags);
  const s = e.section;
  const i = pageIdx(page);
  if (wordZone(s.word(i)) === ZONE_DEVICE) {
    const pgmap = s.runs === null ? s.pgmap : s.pgmapAt(i);
    if (pgmap === null) nullDeref(k, DEV_PAGEMAP_TYPE_OFFSET);
    if (pgmap.type === MEMORY_DEVICE_PRIVATE || pgmap.type === MEMORY_DEVICE_PUBLIC) expected++;
  }
  let h = i; // compound_head
  if (e.compound !== null && e.compound[i]! < 0) h += e.compound[i]!;
  const raw = e.rec === null ? 0 : e.rec[h * EXT_STRIDE + EXT_MAPPING]!;
  if ((raw & 1) === 0 && mappingObject(k, raw) !== null) expected += 1; // page cache reference (never reaches here for private dst)
  if (s.ref(h) !== expected) return -11; // page_count
  // index, mapping and the swap-backed / uptodate / dirty flags move to newpage
  copy_page_anon_state(k, newpage, page, PG_swapbacked | PG_uptodate | 1);
  return 0;
}

/**
 * One migrate_vma_pages entry with a source and a destination page,
 * specialised (simulator plumbing, FaultState.migrateFastPaths, tracing
 * off) for a small source page without an address_space and a destination
 * that is system RAM or device-private, both with a pgmap where they are
 * ZONE_DEVICE: page_mapping, the destination's type and migrate_page's count
 * check and state copy from one section lookup a side. Returns false,
 * having changed nothing, for any other entry.
 */
function pagesEntryFast(
  mms: MmState,
  m: Migrate,
  i: number,
  page: Page,
  newpage: Page,
): boolean {
  const ps = srcSection(mms, m, i, page), ns = sectionOf(mms, newpage);
  if (ps === null || ns === null) return false;
  const pi = pageIdx(page), ni = pageIdx(newpage);
  const pe = ps.ext;
  if (pe === null || (pe.compound !== null && pe.compound[pi] !== 0)) return false;
  const rec = pe.rec;
  const o = pi * EXT_STRIDE;
  const raw = rec === null ? 0 : rec[o + EXT_MAPPING]!;
  if (raw !== 0 && (raw & 1) === 0) return false; // an address_space (or a stale id): general path
  let expected = 1;
  if (wordZone(ps.word(pi)) === ZONE_DEVICE) {
    const pgmap = ps.runs === null ? ps.pgmap : ps.pgmapAt(pi);
    if (pgmap === null) return false;
    if (pgmap.type === MEMORY_DEVICE_PRIVATE || pgmap.type === MEMORY_DEVICE_PUBLIC) expected++;
  }
  if (wordZone(ns.word(ni)) === ZONE_DEVICE) {
    const pgmap = ns.runs === null ? ns.pgmap : ns.pgmapAt(ni);
    if (pgmap === null || pgmap.type !== MEMORY_DEVICE_PRIVATE) return false;
  }
  if (ps.ref(pi) !== expected) { // migrate_page: -EAGAIN
    m.src[i] = m.src[i]! - (m.src[i]! & MIGRATE_PFN_MIGRATE);
    return true;
  }
  // copy_page_anon_state(newpage, page, PG_swapbacked | PG_uptodate | PG_dirty)
  const dst = sectionExt(ns).records();
  const d = ni * EXT_STRIDE;
  if (rec === null) {
    dst[d + EXT_INDEX] = 0;
    dst[d + EXT_INDEX + 1] = 0;
    dst[d + EXT_MAPPING] = 0;
  } else {
    dst[d + EXT_INDEX] = rec[o + EXT_INDEX]!;
    dst[d + EXT_INDEX + 1] = rec[o + EXT_INDEX + 1]!;
    dst[d + EXT_MAPPING] = raw;
    dst[d + EXT_FLAGS] =
      (dst[d + EXT_FLAGS]! | (rec[o + EXT_FLAGS]! & (PG_swapbacked | PG_uptodate | 1))) &
      0xff;
  }
  return true;
}

/** migrate_vma_pages(migrate): move struct page state, insert pages for empty entries. */
function migrate_vma_pages(k: Kernel, m: Migrate): void {
  const npages = m.npages;
  const mm = m.vma.vm_mm;
  let notified = false;
  let mmu_start = 0;
  const mms = m.mms;
  const fast = mms !== null && !k.tracing;
  if (fast && npages === 1) {
    // one entry (the device's CPU fault): the loop's first iteration, without its set-up
    const sv = m.src[0]!, dv = m.dst[0]!;
    if ((dv & MIGRATE_PFN_VALID) === 0) {
      m.src[0] = sv - (sv & MIGRATE_PFN_MIGRATE);
      return;
    }
    if (
      (sv & MIGRATE_PFN_VALID) !== 0 &&
      pagesEntryFast(mms, m, 0, (sv - (sv & 63)) / 64, (dv - (dv & 63)) / 64)
    ) {
      return;
    }
  }
  for (let i = 0, addr = m.start; i < npages; addr += 4096, i++) {
    const newpage = migrate_pfn_to_page(m.dst[i]!);
    const page = migrate_pfn_to_page(m.src[i]!);
    if (newpage === null) {
      m.src[i] = m.src[i]! - (m.src[i]! & MIGRATE_PFN_MIGRATE);
      continue;
    }
    // simulator fast path (FaultState.migrateFastPaths, tracing off): same effects, one lookup a side
    if (page !== null && fast && pagesEntryFast(mms!, m, i, page, newpage)) continue;
    if (page === null) {
      if ((m.src[i]! & MIGRATE_PFN_MIGRATE) === 0) continue;
      if (!notified) {
        mmu_start = addr;
        notified = true;
        mmu_notifier_invalidate_range_start(k, mm, mmu_start, m.end);
      }
      migrate_vma_insert_page(k, m, addr, newpage, i);
      continue;
    }
    const mapping = page_mapping(k, page);
    const ntype = zone_device_type(k, newpage);
    if (ntype !== -1) {
      if (ntype === MEMORY_DEVICE_PRIVATE) {
        // only private anonymous memory moves to un-addressable device memory
        if (mapping !== null) {
          m.src[i] = m.src[i]! - (m.src[i]! & MIGRATE_PFN_MIGRATE);
          continue;
        }
      } else if (ntype !== MEMORY_DEVICE_PUBLIC) {
        m.src[i] = m.src[i]! - (m.src[i]! & MIGRATE_PFN_MIGRATE);
        continue;
      }
    }
    if (migrate_page(k, newpage, page) !== 0) {
      m.src[i] = m.src[i]! - (m.src[i]! & MIGRATE_PFN_MIGRATE);
    }
  }
  if (notified) mmu_notifier_invalidate_range_only_end(k, mm, mmu_start, m.end);
  if (k.trace.on) emit(k, "pages", m);
}

/** One entry of migrate_vma_finalize; returns 1 if it moved. */
function finalize_entry(k: Kernel, m: Migrate, i: number): number {
  let moved = 0;
  let newpage = migrate_pfn_to_page(m.dst[i]!);
  const page = migrate_pfn_to_page(m.src[i]!);
  if (page === null) {
    if (newpage !== null) {
      if ((m.src[i]! & MIGRATE_PFN_MIGRATE) !== 0) moved++;
      unlock_page(k, newpage);
      put_page(k, newpage);
    }
    return moved;
  }
  if ((m.src[i]! & MIGRATE_PFN_MIGRATE) === 0 || newpage === null) {
    if (newpage !== null) {
      unlock_page(k, newpage);
      put_page(k, newpage);
    }
    newpage = page;
  } else moved++;
  remove_migration_ptes(k, page, newpage, false);
  unlock_page(k, page);
  m.cpages--;
  if (is_zone_device_page(k, page)) put_page(k, page);
  else putback_lru_page(k, page);
  if (newpage !== page) {
    unlock_page(k, newpage);
    if (is_zone_device_page(k, newpage)) put_page(k, newpage);
    else putback_lru_page(k, newpage);
  }
  return moved;
}

/**
 * migrate_vma_finalize(migrate) (mm/migrate.c): remap (new page or old),
 * unlock, drop references. The kernel returns nothing; the model returns the
 * number of entries that moved, for migrate_vma's trace event and counters.
 */
function migrate_vma_finalize(k: Kernel, m: Migrate): number {
  // simulator fast path (FaultState.migrateFastPaths): same effects, fewer lookups
  if (m.mms !== null && !k.tracing) {
    if (m.npages === 1) {
      const r = finalizeEntryFast(k, m, m.mms, 0);
      return r >= 0 ? r : finalize_entry(k, m, 0);
    }
    return finalizeFast(k, m, m.mms);
  }
  const npages = m.npages;
  let moved = 0;
  for (let i = 0; i < npages; i++) moved += finalize_entry(k, m, i);
  if (k.trace.on) emit(k, "finalize", m, moved);
  return moved;
}

/**
 * migrate_vma_finalize specialised for the common entry (simulator
 * plumbing, FaultState.migrateFastPaths, tracing off): a page that moved to
 * a small, materialised newpage whose anon_vma links only this VMA. One
 * section lookup per page for the rmap walk, remove_migration_pte, the
 * unlocks and the LRU flag; the reference drops stay put_page (they may
 * call the pgmap's page_free or free the page). The order of the effects
 * per entry is the general path's: remap, unlock and drop the old page,
 * unlock and drop the new one. Any other entry takes finalize_entry.
 */
function finalizeFast(k: Kernel, m: Migrate, mms: MmState): number {
  const npages = m.npages;
  let moved = 0;
  for (let i = 0; i < npages; i++) {
    const r = finalizeEntryFast(k, m, mms, i);
    moved += r >= 0 ? r : finalize_entry(k, m, i);
  }
  return moved;
}

/**
 * One entry of {@link finalizeFast}: 1 when it moved, or -1, having changed
 * nothing, for an entry it does not cover (the caller runs finalize_entry).
 * The reference drops that can neither free a page nor reach a device
 * page's free count (a system page above 1, a managed device page above 2)
 * are done in place, as collect_pte_fast does; the others are put_page.
 */
function finalizeEntryFast(k: Kernel, m: Migrate, mms: MmState, i: number): number {
  const sv = m.src[i]!, dv = m.dst[i]!;
  if ((sv & dv & MIGRATE_PFN_VALID) === 0 || (sv & MIGRATE_PFN_MIGRATE) === 0) return -1;
  const page = (sv - (sv & 63)) / 64, newpage = (dv - (dv & 63)) / 64;
  if (page === newpage) return -1;
  const ps = srcSection(mms, m, i, page), ns = sectionOf(mms, newpage);
  if (ps === null || ns === null) return -1;
  const pi = pageIdx(page), ni = pageIdx(newpage);
  const pe = ps.ext, ne = ns.ext;
  const pw = ps.words, nw = ns.words;
  if (
    pw === null || nw === null || ne === null || ne.rec === null ||
    (ne.compound !== null && ne.compound[ni] !== 0) ||
    (pe !== null && pe.compound !== null && pe.compound[pi] !== 0)
  ) {
    return -1;
  }
  const vma = m.vma;
  const rec = ne.rec;
  const raw = rec[ni * EXT_STRIDE + EXT_MAPPING]!;
  if (raw !== m.okMapping) {
    // the anon_vma's links cannot change during the finalize: one check per mapping value
    const av = (raw & 1) === 1 ? mappingObject(k, raw) as AnonVma | null : null;
    if (av === null || av.vmas.size !== 1 || !av.vmas.has(vma)) return -1;
    m.okMapping = raw;
  }
  // remove_migration_ptes(page, newpage): the one VMA, at vma_address(newpage, vma)
  const address = vma.vm_start +
    (extGet64(rec, ni * EXT_STRIDE + EXT_INDEX) - vma.vm_pgoff) * 4096;
  if (address >= vma.vm_start && address < vma.vm_end) {
    const t = vma.vm_mm.pgd.lookup(address);
    if (t !== undefined && t.ptes !== null) {
      const j = pte_index(address);
      const cur = t.ptes[j]!;
      if (cur !== 0 && !pte_present(cur)) {
        const entry = pte_to_swp_entry(cur);
        if (is_migration_entry(entry) && migration_entry_to_page(entry) === page) {
          // get_page(newpage): small, materialised; in place unless the count spills
          const rc = wordRef(nw[ni]!) + 1;
          if (rc > 0 && rc <= 0x7fffff) nw[ni] = withRef(nw[ni]!, rc);
          else get_page(k, newpage);
          let pte = pte_mkold(pfn_pte(newpage, vma.vm_page_prot));
          if (is_write_migration_entry(entry)) pte = maybe_mkwrite(pte, vma);
          if (wordZone(nw[ni]!) === ZONE_DEVICE) {
            const pgmap = ns.runs === null ? ns.pgmap : ns.pgmapAt(ni);
            if (pgmap !== null && pgmap.type === MEMORY_DEVICE_PRIVATE) {
              pte = swp_entry_to_pte(make_device_private_entry(newpage, pte_write(pte)));
            }
          }
          t.ptes[j] = pte;
          rec[ni * EXT_STRIDE + EXT_MAPCOUNT]!++; // page_add_anon_rmap: already anonymous
        }
      }
    }
  }
  // unlock_page(page), then its reference (putback_lru_page for a system page)
  pw[pi] = (pw[pi]! & ~PG_locked) >>> 0;
  m.cpages--;
  if (wordZone(pw[pi]!) === ZONE_DEVICE) put_page(k, page);
  else {
    const pr = sectionExt(ps).records();
    pr[pi * EXT_STRIDE + EXT_FLAGS] = (pr[pi * EXT_STRIDE + EXT_FLAGS]! | PG_lru) & 0xff;
    putQuiet(k, mms, ps, pi, page);
  }
  // the same for newpage (the put above may have run callbacks: re-read its words)
  const nw2 = ns.words;
  if (nw2 === null) {
    unlock_page(k, newpage);
    if (is_zone_device_page(k, newpage)) put_page(k, newpage);
    else putback_lru_page(k, newpage);
    return 1;
  }
  nw2[ni] = (nw2[ni]! & ~PG_locked) >>> 0;
  if (wordZone(nw2[ni]!) !== ZONE_DEVICE) {
    const nr = sectionExt(ns).records();
    nr[ni * EXT_STRIDE + EXT_FLAGS] = (nr[ni * EXT_STRIDE + EXT_FLAGS]! | PG_lru) & 0xff;
  }
  putQuiet(k, mms, ns, ni, newpage);
  return 1;
}

/**
 * put_page(page) of a small page `i` of section `s` whose words exist
 * (simulator plumbing, tracing off): a drop that neither frees the page nor
 * brings a managed device page to its free count of 1 is done in place;
 * anything else is put_page itself.
 */
function putQuiet(k: Kernel, mms: MmState, s: MemSection, i: number, page: Page): void {
  const w = s.words!;
  const word = w[i]!;
  const rc = wordRef(word);
  if (wordZone(word) === ZONE_DEVICE) {
    // put_devmap_managed_page: managed types free at 1; the others at 0 (__put_page)
    const pgmap = s.runs === null ? s.pgmap : s.pgmapAt(i);
    const managed = mms.devmapManagedKey && pgmap !== null &&
      (pgmap.type === MEMORY_DEVICE_PRIVATE || pgmap.type === MEMORY_DEVICE_PUBLIC ||
        pgmap.type === MEMORY_DEVICE_FS_DAX);
    if (!managed || rc <= 2) return put_page(k, page);
  } else if (rc <= 1) return put_page(k, page);
  w[i] = withRef(word, rc - 1);
}

/** A struct migrate_vma for one call, before migrate_vma_collect. */
function newMigrate(
  vma: VmAreaStruct,
  src: MigratePfns,
  dst: MigratePfns,
  start: number,
  end: number,
  secs: Migrate["secs"],
  mms: Migrate["mms"],
): Migrate {
  return {
    vma,
    src,
    dst,
    start,
    end,
    npages: 0,
    cpages: 0,
    secs,
    okMapping: -1,
    prepOk: true,
    mms,
  };
}

/**
 * migrate_vma(ops, vma, start, end, src, dst, private) (mm/migrate.c,
 * EXPORT_SYMBOL): see the module doc for the steps. Returns 0 (even when
 * nothing moved) or -EINVAL for bad arguments. `src` and `dst` must hold
 * (end - start) / PAGE_SIZE entries. The caller holds mmap_sem for read.
 *
 * @example Migrating an untouched page: the empty entry is offered to the caller
 * ```ts
 * import { Kernel } from "../kernel.ts";
 * import { mm_init } from "./mmzone.ts";
 * import { migrate_vma, MIGRATE_PFN_MIGRATE } from "./migrate.ts";
 * import { Process } from "./process.ts";
 * import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, find_vma } from "./mm-types.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel();
 * mm_init(k, { ram: [{ start: 0, end: 2 ** 30 }] });
 * const p = new Process(k, "test");
 * const a = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
 * const src = new Float64Array(1), dst = new Float64Array(1);
 * const seen: number[] = [];
 * const ops = {
 *   alloc_and_copy: (_k: Kernel, _v: unknown, s: Float64Array) => void seen.push(s[0]!),
 *   finalize_and_map: () => {},
 * };
 * assertEquals(migrate_vma(k, ops, find_vma(p.mm, a)!, a, a + 4096, src, dst, null), 0);
 * assertEquals(seen, [MIGRATE_PFN_MIGRATE]);
 * ```
 */
export function migrate_vma(
  k: Kernel,
  ops: MigrateVmaOps | null,
  vma: VmAreaStruct | null,
  start: number,
  end: number,
  src: MigratePfns | null,
  dst: MigratePfns | null,
  priv: unknown,
): number {
  // start &= PAGE_MASK, end &= PAGE_MASK: a float `%` is a libc call, a literal division by 4096
  // is exact; the same result as `x - x % 4096` for every number (truncating below zero)
  start = start >= 0 ? Math.floor(start / 4096) * 4096 : start - start % 4096;
  end = end >= 0 ? Math.floor(end / 4096) * 4096 : end - end % 4096;
  if (
    vma === null || is_vm_hugetlb_page(vma) || (vma.vm_flags & VM_SPECIAL) !== 0 ||
    vma_is_dax(k, vma)
  ) {
    return -EINVAL;
  }
  if (start < vma.vm_start || start >= vma.vm_end) return -EINVAL;
  if (end <= vma.vm_start || end > vma.vm_end) return -EINVAL;
  if (ops === null || src === null || dst === null || start >= end) return -EINVAL;
  const n = (end - start) / 4096;
  const hub = k.state(HUB);
  const fst = hub.faults;
  const fast = fst.migrateFastPaths && !k.tracing;
  const mms = fst.migrateFastPaths ? hub.mm : null;
  // simulator plumbing (FaultState.migrateFastPaths, tracing off): the fast steps use the kernel's
  // scratch space (one struct migrate_vma for a one-page call, the collected pages' sections)
  let sc: MigrateScratch | null = null;
  if (fast && n <= SCRATCH_PAGES && !fst.migrateScratch.busy) {
    sc = fst.migrateScratch;
    sc.busy = true;
  }
  try {
    if (n === 1 && src.length > 0) src[0] = 0;
    else src.fill(0, 0, n);
    let m: Migrate;
    if (sc !== null && n === 1) {
      // a one-page call reuses the kernel's scratch struct migrate_vma, reset field by field
      m = sc.migrate ??= newMigrate(vma, src, dst, start, end, sc.secs, mms);
      m.vma = vma;
      m.src = src;
      m.dst = dst;
      m.start = start;
      m.end = end;
      m.npages = 0;
      m.cpages = 0;
      m.okMapping = -1;
      m.prepOk = true;
      m.mms = mms;
    } else {
      m = newMigrate(vma, src, dst, start, end, sc === null ? null : sc.secs, mms);
    }
    migrate_vma_collect(k, m);
    if (m.cpages === 0) return 0;
    // simulator fast path (FaultState.migrateFastPaths, tracing off): prepare + unmap in one check
    if (!(mms !== null && !k.tracing && prepareUnmapFast(k, m))) {
      migrate_vma_prepare(k, m);
      if (m.cpages === 0) return 0;
      migrate_vma_unmap(k, m);
      if (m.cpages === 0) return 0;
    }
    ops.alloc_and_copy(k, vma, src, dst, start, end, priv);
    if (k.trace.on) emit(k, "alloc_and_copy", m);
    migrate_vma_pages(k, m);
    ops.finalize_and_map(k, vma, src, dst, start, end, priv);
    if (k.trace.on) emit(k, "finalize_and_map", m);
    const moved = migrate_vma_finalize(k, m);
    if (fst.inDeviceFault > 0 && moved > 1) k.clock.advance((moved - 1) * fst.devExtraNs);
    return 0;
  } finally {
    if (sc !== null) sc.busy = false;
  }
}

/** Entries of MigrateScratch.secs: the largest call the fast paths take. */
const SCRATCH_PAGES = 512;
