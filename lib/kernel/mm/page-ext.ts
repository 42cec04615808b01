/**
 * The struct page fields the process side needs beyond the packed word of
 * page-flags.ts (include/linux/mm_types.h, page-flags.h, mm.h, v4.20):
 * `_mapcount`, `mapping` (with the PAGE_MAPPING_ANON bit), `index`,
 * `private` / `hmm_data`, the compound-page links of a THP, the flags the
 * packed word has no room for, and the model's page-contents chunk.
 *
 * The hot fields are interleaved: one Int32Array per section with
 * {@link EXT_STRIDE} slots per page (a 32-byte record, two pages per cache
 * line — the way struct page keeps a page's fields together), created on the
 * first write to any of them in that section: a section whose pages are
 * never mapped by a process costs nothing here. A fault that touches a page
 * reads one record instead of six columns. The compound links (THPs are
 * rare) stay a separate column. The arrays belong to one {@link MemSection}
 * object; when the section is hot-removed and re-added the old ones are
 * dropped with it, and touching a page whose section is gone is the same
 * Oops as reading its struct page (at the field's offset).
 *
 * Record slots ({@link EXT_MAPCOUNT} …): `_mapcount + 1`, mapping id, extra
 * flags, contents chunk id, `index` and `private` as two 32-bit halves each
 * (low word unsigned, high word signed: exact for every safe integer).
 *
 * Encodings:
 * - `_mapcount` is stored plus one, so a zeroed record reads -1 (unmapped).
 * - `mapping` is an id: 0 = NULL; `id * 2 + 1` for an anon_vma (the kernel's
 *   PAGE_MAPPING_ANON bit); `id * 2` for an address_space. Ids come from
 *   {@link mappingId}.
 * - a THP head stores its order in `compound`; a tail stores -(offset from
 *   the head). The compound (PMD) mapcount, which the kernel keeps in the
 *   first tail page's compound_mapcount, is a per-kernel map by head pfn
 *   (THPs are few).
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../kernel.ts";
import { PAGE_FIELD, PAGES_PER_SECTION } from "./constants.ts";
import { vmemmapFault } from "./memmap.ts";
import { type MemSection, MM, sectionOf } from "./mmzone.ts";
import { PG_locked } from "./page-flags.ts";
import type { Page } from "./types.ts";
import { HUB } from "./hub.ts";

/** struct page field offsets the extra columns stand for (x86_64, v4.20). */
export const PAGE_EXT_FIELD = {
  /** page->mapping. */
  mapping: 0x18,
  /** page->index. */
  index: 0x20,
  /** page->private (hmm_data of a ZONE_DEVICE page is at 0x10; the model keeps one column). */
  private: 0x28,
  /** page->_mapcount. */
  _mapcount: PAGE_FIELD._mapcount,
} as const;

/** PG_dirty. */
export const PG_dirty = 1;
/** PG_uptodate. */
export const PG_uptodate = 2;
/** PG_lru. */
export const PG_lru = 4;
/** PG_swapbacked. */
export const PG_swapbacked = 8;
/** PG_head (compound head). */
export const PG_head = 16;
/** PG_mlocked. */
export const PG_mlocked = 32;
/** PG_hwpoison. */
export const PG_hwpoison = 64;

/** Int32 slots per page in {@link PageExt.rec}. */
export const EXT_STRIDE = 8;
/** Slot: _mapcount + 1. */
export const EXT_MAPCOUNT = 0;
/** Slot: mapping id (see module doc). */
export const EXT_MAPPING = 1;
/** Slot: flags beyond the packed word (PG_dirty, ...). */
export const EXT_FLAGS = 2;
/** Slot: page-contents chunk id (0: the page reads as zeros). */
export const EXT_CHUNK = 3;
/** Slot: page->index, low 32 bits (unsigned); the high half follows. */
export const EXT_INDEX = 4;
/** Slot: page->private / hmm_data, low 32 bits (unsigned); the high half follows. */
export const EXT_PRIVATE = 6;
const TWO32 = 4294967296;

/** Reads the 64-bit value stored at slots `o`, `o + 1` of `rec`. */
export function extGet64(rec: Int32Array, o: number): number {
  return rec[o + 1]! * TWO32 + (rec[o]! >>> 0);
}

/**
 * Stores `v` at slots `o`, `o + 1` of `rec`. A TypeError for a value that
 * is not a safe integer (page->index and page->private are unsigned longs:
 * the record would silently truncate anything else).
 */
export function extSet64(rec: Int32Array, o: number, v: number): void {
  if ((v | 0) === v && v >= 0) {
    rec[o] = v;
    rec[o + 1] = 0;
  } else {
    if (!Number.isSafeInteger(v)) {
      throw new TypeError(`Cannot store ${v} in a struct page field: it must be an integer`);
    }
    const hi = Math.floor(v / TWO32);
    rec[o] = v - hi * TWO32;
    rec[o + 1] = hi;
  }
}

/** The extra struct page fields of one section. */
export class PageExt {
  /** The interleaved records ({@link EXT_STRIDE} slots per page), created on first write. */
  rec: Int32Array | null = null;
  /** Compound links: head = order, tail = -(offset to the head). */
  compound: Int32Array | null = null;
  /**
   * Creates the (empty) fields of a section.
   * @param section the section they belong to.
   */
  constructor(readonly section: MemSection) {}

  /** The records, created (zeroed) on first use. */
  records(): Int32Array {
    return this.rec ??= new Int32Array(PAGES_PER_SECTION * EXT_STRIDE);
  }
}

/** Objects page->mapping may point to. */
export interface MappingObject {
  /** The id {@link mappingId} gave it (0 until it has one). */
  mappingId: number;
}

/** Per-kernel state of the columns (the columns themselves hang off each MemSection). */
export class PageExtState {
  /** Mapping objects by id (index 0 unused). */
  objects: Array<MappingObject | undefined> = [undefined];
  /** compound_mapcount of each THP head (raw, -1 = no PMD mapping), by head pfn. */
  compoundMapcounts: Map<number, number> = new Map();
  /**
   * Creates the state.
   * @param _nroots unused (the columns live on the sections).
   */
  constructor(_nroots = 0) {}
}

/** The per-kernel page-ext state. */
export const PAGE_EXT: SubsystemKey<PageExtState> = {
  name: "page-ext",
  create: (k: Kernel) => k.state(HUB).ext,
};

/**
 * The columns of `page`'s section, created on first use. A page whose
 * section has no memmap Oopses at `field` (its struct page is not mapped).
 */
export function pageExt(k: Kernel, page: Page, field: number = PAGE_EXT_FIELD.mapping): PageExt {
  const s = sectionOf(k.state(MM), page);
  if (s === null) vmemmapFault(k, page, field, 1);
  const e = s.ext;
  return e !== null ? e : (s.ext = new PageExt(s));
}

/** The columns of a section the caller already holds (hot paths: one section lookup per page). */
export function sectionExt(s: MemSection): PageExt {
  const e = s.ext;
  return e !== null ? e : (s.ext = new PageExt(s));
}

/** Index of `page` inside its section. */
export function pageIdx(page: Page): number {
  return page & (PAGES_PER_SECTION - 1);
}

/** Gives `obj` a mapping id (once) and returns it. */
export function mappingId(k: Kernel, obj: MappingObject): number {
  if (obj.mappingId === 0) {
    const st = k.state(HUB).ext;
    obj.mappingId = st.objects.length;
    st.objects.push(obj);
  }
  return obj.mappingId;
}

/** The object behind a raw mapping value (null for 0). */
export function mappingObject(k: Kernel, raw: number): MappingObject | null {
  if (raw === 0) return null;
  return k.state(HUB).ext.objects[raw >>> 1] ?? null;
}

/** The raw page->mapping value (id encoding). */
export function page_mapping_raw(k: Kernel, page: Page): number {
  const r = pageExt(k, page, PAGE_EXT_FIELD.mapping).rec;
  return r === null ? 0 : r[pageIdx(page) * EXT_STRIDE + EXT_MAPPING]!;
}

/** Sets the raw page->mapping value. */
export function set_page_mapping_raw(k: Kernel, page: Page, raw: number): void {
  pageExt(k, page, PAGE_EXT_FIELD.mapping).records()[pageIdx(page) * EXT_STRIDE + EXT_MAPPING] =
    raw;
}

/** PageAnon(page): page->mapping has the PAGE_MAPPING_ANON bit. */
export function PageAnon(k: Kernel, page: Page): boolean {
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  let i = pageIdx(page);
  if (e.compound !== null) {
    const c = e.compound[i]!;
    if (c < 0) i += c; // compound_head
  }
  return e.rec !== null && (e.rec[i * EXT_STRIDE + EXT_MAPPING]! & 1) === 1;
}

/** page->index. */
export function page_index(k: Kernel, page: Page): number {
  const r = pageExt(k, page, PAGE_EXT_FIELD.index).rec;
  return r === null ? 0 : extGet64(r, pageIdx(page) * EXT_STRIDE + EXT_INDEX);
}

/** Sets page->index. */
export function set_page_index(k: Kernel, page: Page, index: number): void {
  const r = pageExt(k, page, PAGE_EXT_FIELD.index).records();
  extSet64(r, pageIdx(page) * EXT_STRIDE + EXT_INDEX, index);
}

/** page->private (for a device page: hmm_data). */
export function page_private(k: Kernel, page: Page): number {
  const r = pageExt(k, page, PAGE_EXT_FIELD.private).rec;
  return r === null ? 0 : extGet64(r, pageIdx(page) * EXT_STRIDE + EXT_PRIVATE);
}

/** set_page_private(page, v). */
export function set_page_private(k: Kernel, page: Page, v: number): void {
  const r = pageExt(k, page, PAGE_EXT_FIELD.private).records();
  extSet64(r, pageIdx(page) * EXT_STRIDE + EXT_PRIVATE, v);
}

/**
 * hmm_devmem_page_set_drvdata(page, data) (include/linux/hmm.h, v4.20):
 * page->hmm_data = data.
 */
export function hmm_devmem_page_set_drvdata(k: Kernel, page: Page, data: number): void {
  set_page_private(k, page, data);
}

/** hmm_devmem_page_get_drvdata(page): page->hmm_data. */
export function hmm_devmem_page_get_drvdata(k: Kernel, page: Page): number {
  return page_private(k, page);
}

/** The extra-flags byte of a page. */
export function pageFlags2(k: Kernel, page: Page): number {
  const r = pageExt(k, page, 0).rec;
  return r === null ? 0 : r[pageIdx(page) * EXT_STRIDE + EXT_FLAGS]!;
}

/** Sets (on) or clears extra flag bits of a page. */
export function setPageFlag2(k: Kernel, page: Page, bits: number, on: boolean): void {
  const f = pageExt(k, page, 0).records();
  const i = pageIdx(page) * EXT_STRIDE + EXT_FLAGS;
  f[i] = (on ? f[i]! | bits : f[i]! & ~bits) & 0xff;
}

/** PageDirty(page). */
export function PageDirty(k: Kernel, page: Page): boolean {
  return (pageFlags2(k, compound_head(k, page)) & PG_dirty) !== 0;
}

/** SetPageDirty(page). */
export function SetPageDirty(k: Kernel, page: Page): void {
  setPageFlag2(k, compound_head(k, page), PG_dirty, true);
}

/** ClearPageDirty(page). */
export function ClearPageDirty(k: Kernel, page: Page): void {
  setPageFlag2(k, compound_head(k, page), PG_dirty, false);
}

/** PageHWPoison(page). */
export function PageHWPoison(k: Kernel, page: Page): boolean {
  return (pageFlags2(k, page) & PG_hwpoison) !== 0;
}

// ---- compound pages (THP) ----

/** compound_head(page): the head of a THP, else the page itself. */
export function compound_head(k: Kernel, page: Page): Page {
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  if (e.compound === null) return page;
  const c = e.compound[pageIdx(page)]!;
  return c < 0 ? page + c : page;
}

/** compound_order(page) of a head page (0 for a small page or a tail). */
export function compound_order(k: Kernel, page: Page): number {
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  if (e.compound === null) return 0;
  const c = e.compound[pageIdx(page)]!;
  return c > 0 ? c : 0;
}

/** PageCompound(page): head or tail of a compound page. */
export function PageCompound(k: Kernel, page: Page): boolean {
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  return e.compound !== null && e.compound[pageIdx(page)] !== 0;
}

/** PageTransCompound(page) (no hugetlb pages are compound in the model: the same as PageCompound). */
export function PageTransCompound(k: Kernel, page: Page): boolean {
  return PageCompound(k, page);
}

/** PageTransHuge(page): a THP head. */
export function PageTransHuge(k: Kernel, page: Page): boolean {
  return compound_order(k, page) > 0;
}

/** prep_compound_page(page, order): links the tails to the head (one THP: order 9 within one section). */
export function prep_compound_page(k: Kernel, page: Page, order: number): void {
  const n = 2 ** order;
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  const c = e.compound ??= new Int32Array(PAGES_PER_SECTION);
  const i = pageIdx(page);
  if (i + n > PAGES_PER_SECTION) {
    throw new RangeError(`Cannot make a compound page of order ${order} across a section boundary`);
  }
  c[i] = order;
  for (let j = 1; j < n; j++) c[i + j] = -j;
  setPageFlag2(k, page, PG_head, true);
  setCompoundMapcount(k, page, -1);
}

/** Undoes the compound links (split_huge_page's __split_huge_page_tail for every tail). */
export function clear_compound_page(k: Kernel, page: Page, order: number): void {
  const n = 2 ** order;
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  if (e.compound === null) return;
  setCompoundMapcount(k, page, -1);
  e.compound.fill(0, pageIdx(page), pageIdx(page) + n);
  setPageFlag2(k, page, PG_head, false);
}

// ---- mapcounts ----

/** page->_mapcount (raw, -1 = unmapped) of this exact struct page. */
export function raw_mapcount(k: Kernel, page: Page): number {
  const r = pageExt(k, page, PAGE_EXT_FIELD._mapcount).rec;
  return r === null ? -1 : r[pageIdx(page) * EXT_STRIDE + EXT_MAPCOUNT]! - 1;
}

/** Sets page->_mapcount (raw). */
export function set_raw_mapcount(k: Kernel, page: Page, v: number): void {
  pageExt(k, page, PAGE_EXT_FIELD._mapcount).records()[pageIdx(page) * EXT_STRIDE + EXT_MAPCOUNT] =
    v + 1;
}

/**
 * Adds `delta` to page->_mapcount (raw) of this exact struct page and
 * returns the new raw value (atomic_add_return; one section lookup).
 */
export function raw_mapcount_add(k: Kernel, page: Page, delta: number): number {
  const r = pageExt(k, page, PAGE_EXT_FIELD._mapcount).records();
  const o = pageIdx(page) * EXT_STRIDE + EXT_MAPCOUNT;
  const v = r[o]! + delta;
  r[o] = v;
  return v - 1;
}

/**
 * page_mapping_raw(compound_head(page)) with one section lookup (a THP never
 * crosses a section): the raw mapping of the page's head.
 */
export function head_mapping_raw(k: Kernel, page: Page): number {
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  let i = pageIdx(page);
  if (e.compound !== null) {
    const c = e.compound[i]!;
    if (c < 0) i += c;
  }
  return e.rec === null ? 0 : e.rec[i * EXT_STRIDE + EXT_MAPPING]!;
}

/**
 * __page_set_anon_rmap's stores: page->mapping = `raw` and page->index =
 * `index` (one section lookup).
 */
export function set_page_anon_raw(k: Kernel, page: Page, raw: number, index: number): void {
  const r = pageExt(k, page, PAGE_EXT_FIELD.mapping).records();
  const o = pageIdx(page) * EXT_STRIDE;
  r[o + EXT_MAPPING] = raw;
  extSet64(r, o + EXT_INDEX, index);
}

/**
 * page_index(compound_head(page)) + (page - head): the page's own offset in
 * its mapping (vma_address and rmap_walk use it), one section lookup.
 */
export function page_linear_index(k: Kernel, page: Page): number {
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  let i = pageIdx(page), off = 0;
  if (e.compound !== null) {
    const c = e.compound[i]!;
    if (c < 0) {
      i += c;
      off = -c;
    }
  }
  return (e.rec === null ? 0 : extGet64(e.rec, i * EXT_STRIDE + EXT_INDEX)) + off;
}

/**
 * migrate_page_move_mapping / migrate_page_states for an anonymous page
 * (one section lookup each side): newpage->index = page->index,
 * newpage->mapping = page->mapping, and the extra flags of `page` under
 * `mask` set on newpage.
 */
export function copy_page_anon_state(k: Kernel, newpage: Page, page: Page, mask: number): void {
  const src = pageExt(k, page, PAGE_EXT_FIELD.index).rec;
  const o = pageIdx(page) * EXT_STRIDE;
  const index = src === null ? 0 : extGet64(src, o + EXT_INDEX);
  const mapping = src === null ? 0 : src[o + EXT_MAPPING]!;
  const flags = src === null ? 0 : src[o + EXT_FLAGS]!;
  const dst = pageExt(k, newpage, PAGE_EXT_FIELD.index).records();
  const d = pageIdx(newpage) * EXT_STRIDE;
  extSet64(dst, d + EXT_INDEX, index);
  dst[d + EXT_MAPPING] = mapping;
  dst[d + EXT_FLAGS] = (dst[d + EXT_FLAGS]! | (flags & mask)) & 0xff;
}

/** compound_mapcount_ptr(head) value: PMD mappings of a THP, raw (-1 = none). */
export function compoundMapcount(k: Kernel, head: Page): number {
  return k.state(HUB).ext.compoundMapcounts.get(head) ?? -1;
}

/** Sets the compound mapcount of `head` (raw; -1 forgets it). */
export function setCompoundMapcount(k: Kernel, head: Page, v: number): void {
  const m = k.state(HUB).ext.compoundMapcounts;
  if (v === -1) m.delete(head);
  else m.set(head, v);
}

/**
 * page_mapcount(page) (include/linux/mm.h): for a small page _mapcount + 1;
 * for a subpage of a THP also the THP's PMD mappings.
 */
export function page_mapcount(k: Kernel, page: Page): number {
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  const i = pageIdx(page);
  let n = e.rec === null ? 0 : e.rec[i * EXT_STRIDE + EXT_MAPCOUNT]!; // _mapcount + 1
  if (e.compound !== null) {
    const c = e.compound[i]!;
    if (c !== 0) n += compoundMapcount(k, c < 0 ? page + c : page) + 1; // a THP head or tail
  }
  return n;
}

/** total_mapcount(head): every PTE mapping of every subpage plus the PMD mappings. */
export function total_mapcount(k: Kernel, page: Page): number {
  const e = pageExt(k, page, PAGE_FIELD.compound_head);
  if (e.compound === null) {
    return e.rec === null ? 0 : e.rec[pageIdx(page) * EXT_STRIDE + EXT_MAPCOUNT]!;
  }
  const head = compound_head(k, page);
  const order = compound_order(k, head);
  if (order === 0) return raw_mapcount(k, page) + 1;
  let n = compoundMapcount(k, head) + 1;
  for (let i = 0; i < 2 ** order; i++) n += raw_mapcount(k, head + i) + 1;
  return n;
}

/** page_mapped(page): mapped by any PTE or PMD. */
export function page_mapped(k: Kernel, page: Page): boolean {
  return total_mapcount(k, page) > 0;
}

// ---- PG_locked (in the packed word) ----

/** The section of `page` (an Oops at page->compound_head when it has no memmap). */
function headSection(k: Kernel, page: Page): MemSection {
  const s = sectionOf(k.state(MM), page);
  if (s === null) vmemmapFault(k, page, PAGE_FIELD.compound_head, 1);
  return s;
}

/** Index in `s` of compound_head(page) (a THP never crosses a section). */
function headIdx(s: MemSection, page: Page): number {
  const i = pageIdx(page);
  const e = s.ext;
  if (e === null || e.compound === null) return i;
  const c = e.compound[i]!;
  return c < 0 ? i + c : i;
}

/**
 * trylock_page(page): takes PG_locked if it was clear. The model's faults
 * run to completion, so a page is only ever found locked by code that
 * locked it itself.
 */
export function trylock_page(k: Kernel, page: Page): boolean {
  const s = headSection(k, page);
  const i = headIdx(s, page);
  const w = s.materialise();
  if ((w[i]! & PG_locked) !== 0) return false;
  w[i] = (w[i]! | PG_locked) >>> 0;
  return true;
}

/**
 * lock_page(page): in the kernel this may sleep until the holder unlocks;
 * the model's paths are atomic, so a page that is already locked here can
 * only be locked by the same path — a self-deadlock, reported as a BUG.
 */
export function lock_page(k: Kernel, page: Page): void {
  if (!trylock_page(k, page)) k.BUG("include/linux/pagemap.h:lock_page (page already locked)");
}

/** unlock_page(page). */
export function unlock_page(k: Kernel, page: Page): void {
  const s = headSection(k, page);
  const i = headIdx(s, page);
  const w = s.materialise();
  w[i] = (w[i]! & ~PG_locked) >>> 0;
}

/** PageLocked(page). */
export function PageLocked(k: Kernel, page: Page): boolean {
  const head = compound_head(k, page);
  const s = pageExt(k, head, PAGE_FIELD.flags).section;
  return (s.word(pageIdx(head)) & PG_locked) !== 0;
}

/**
 * Resets the process-side fields of a page being handed out or freed:
 * mapping, index, private, mapcount, extra flags, contents chunk id
 * (the caller drops the chunk reference first).
 */
export function resetPageExt(k: Kernel, page: Page): void {
  const r = pageExt(k, page, 0).rec;
  if (r !== null) r.fill(0, pageIdx(page) * EXT_STRIDE, (pageIdx(page) + 1) * EXT_STRIDE);
}
