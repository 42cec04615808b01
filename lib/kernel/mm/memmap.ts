/**
 * struct page access (include/linux/mm.h, page_ref.h, page-flags.h,
 * asm-generic/memory_model.h with SPARSEMEM_VMEMMAP, v4.20).
 *
 * A page is its pfn (see {@link Page}). Every accessor that reads or writes
 * the struct page first finds the pfn's section; when the section has no
 * memmap — never added, or removed by hot-remove — the kernel's access would
 * hit an unmapped vmemmap address, so the model Oopses the running task with
 * the address the kernel would fault on: VMEMMAP_START + pfn * 64 + the
 * offset of the first field the accessor touches (page_ref_count reads
 * _refcount at +0x34; get_page/put_page read compound_head at +0x8 first;
 * zone and flag tests read flags at +0).
 *
 * @module
 */
import { OopsSignal } from "../../sim/sched.ts";
import type { Kernel } from "../kernel.ts";
import {
  DEV_PAGEMAP_TYPE_OFFSET,
  PAGE_FIELD,
  PAGES_PER_SECTION,
  STRUCT_PAGE_SIZE,
  ZONE_DEVICE,
} from "./constants.ts";
import { MemSection, MM, type MmState, sectionOf, type Zone } from "./mmzone.ts";
import {
  PAGE_POISON_WORD,
  PG_active,
  PG_reserved,
  PG_waiters,
  wordZone,
  ZONES_MASK,
} from "./page-flags.ts";
import type { DevPagemap, Page } from "./types.ts";

/** The vmemmap address of pfn's struct page plus `offset`, as %px prints it (cold path). */
export function vmemmapAddress(k: Kernel, pfn: number, offset = 0): string {
  const a = k.state(MM).vmemmapStart + BigInt(pfn) * BigInt(STRUCT_PAGE_SIZE) + BigInt(offset);
  return (a & 0xffffffffffffffffn).toString(16).padStart(16, "0");
}

/**
 * Oopses: the struct page of `pfn` is not mapped (its section has no memmap).
 * The oops' call chain starts at the caller (`skip` more helper frames left out).
 */
export function vmemmapFault(k: Kernel, pfn: number, offset: number, skip = 0): never {
  checkPfn(k, pfn, "touch the struct page of");
  throw new OopsSignal(
    `BUG: unable to handle kernel paging request at ${vmemmapAddress(k, pfn, offset)}`,
    1 + skip,
  );
}

/** Oopses: a NULL pointer dereference at `offset` (call chain from the caller). */
export function nullDeref(_k: Kernel, offset: number, skip = 0): never {
  throw new OopsSignal(
    `BUG: unable to handle kernel NULL pointer dereference at ${
      offset.toString(16).padStart(16, "0")
    }`,
    1 + skip,
  );
}

/** @internal the section of `page`, or an Oops at the field `offset` would touch. */
export function pageSection(k: Kernel, page: Page, offset: number, skip = 0): MemSection {
  const s = sectionOf(k.state(MM), page);
  if (s === null) vmemmapFault(k, page, offset, 1 + skip);
  return s;
}

/**
 * Simulator misuse of a pfn (cold path): a TypeError for something that is
 * not a pfn at all (not a non-negative integer), a RangeError for one beyond
 * the machine's physical address space (no kernel pointer arithmetic yields
 * one). A pfn inside the address space whose section is absent is no misuse:
 * touching its struct page is the kernel's Oops.
 */
export function checkPfn(k: Kernel, pfn: number, action: string): void {
  if (!Number.isSafeInteger(pfn) || pfn < 0) {
    throw new TypeError(
      `Cannot ${action} pfn ${
        typeof pfn === "string" ? JSON.stringify(pfn) : String(pfn)
      }: a pfn is a non-negative integer`,
    );
  }
  const mm = k.state(MM);
  const limit = 2 ** (mm.MAX_PHYSMEM_BITS - 12);
  if (pfn >= limit) {
    throw new RangeError(
      `Cannot ${action} pfn 0x${
        pfn.toString(16)
      }: it is beyond the physical address space (pfns below 0x${
        limit.toString(16)
      }, MAX_PHYSMEM_BITS ${mm.MAX_PHYSMEM_BITS})`,
    );
  }
}

/**
 * pfn_to_page(pfn): pure arithmetic (vmemmap + pfn), as in the kernel — it
 * touches nothing, so it never faults; the access through the result does.
 * Something that is not a pfn of this machine is simulator misuse
 * ({@link checkPfn}).
 */
export function pfn_to_page(k: Kernel, pfn: number): Page {
  // one comparison on the fault path: a uint32 pfn (below 16 TiB) is fine; the rest is checked
  if (pfn >>> 0 !== pfn) checkPfn(k, pfn, "take pfn_to_page of");
  return pfn;
}

/** page_to_pfn(page): pure arithmetic. */
export function page_to_pfn(_k: Kernel, page: Page): number {
  return page;
}

/** page_ref_count(page): atomic_read(&page->_refcount). */
export function page_ref_count(k: Kernel, page: Page): number {
  const s = pageSection(k, page, PAGE_FIELD._refcount);
  return s.ref(page - s.nr * PAGES_PER_SECTION);
}

/** page_count(page): page_ref_count(compound_head(page)) (include/linux/mm.h). */
export function page_count(k: Kernel, page: Page): number {
  const s = pageSection(k, page, PAGE_FIELD.compound_head);
  let i = page - s.nr * PAGES_PER_SECTION;
  const e = s.ext;
  if (e !== null && e.compound !== null) {
    const c = e.compound[i]!;
    if (c < 0) i += c; // compound_head: a THP tail counts on its head
  }
  return s.ref(i);
}

/** set_page_count(page, v). */
export function set_page_count(k: Kernel, page: Page, v: number): void {
  const s = pageSection(k, page, PAGE_FIELD._refcount);
  s.setRef(page - s.nr * PAGES_PER_SECTION, v);
}

/** page_ref_inc(page). */
export function page_ref_inc(k: Kernel, page: Page): void {
  const s = pageSection(k, page, PAGE_FIELD._refcount);
  const i = page - s.nr * PAGES_PER_SECTION;
  s.setRef(i, s.ref(i) + 1);
}

/** page_ref_dec_return(page): the new count. */
export function page_ref_dec_return(k: Kernel, page: Page): number {
  const s = pageSection(k, page, PAGE_FIELD._refcount);
  const i = page - s.nr * PAGES_PER_SECTION;
  const rc = s.ref(i) - 1;
  s.setRef(i, rc);
  return rc;
}

/** put_page_testzero(page): decrement; true when the count reached exactly 0. */
export function put_page_testzero(k: Kernel, page: Page): boolean {
  return page_ref_dec_return(k, page) === 0;
}

/** The raw word of page (flags, zone, refcount field); Oopses like a flags read. */
function flagsWord(k: Kernel, page: Page): number {
  const s = pageSection(k, page, PAGE_FIELD.flags, 1);
  return s.words === null ? s.fill : s.words[page - s.nr * PAGES_PER_SECTION]!;
}

/** PagePoisoned(page): the struct page was never initialised. */
export function PagePoisoned(k: Kernel, page: Page): boolean {
  return flagsWord(k, page) === PAGE_POISON_WORD;
}

/** page_zonenum(page): the zone bits of page->flags (7 for a poisoned page). */
export function page_zonenum(k: Kernel, page: Page): number {
  return wordZone(flagsWord(k, page));
}

/** is_zone_device_page(page). */
export function is_zone_device_page(k: Kernel, page: Page): boolean {
  return wordZone(flagsWord(k, page)) === ZONE_DEVICE;
}

/** PageReserved(page). */
export function PageReserved(k: Kernel, page: Page): boolean {
  return (flagsWord(k, page) & PG_reserved) !== 0;
}

/** PageActive(page). */
export function PageActive(k: Kernel, page: Page): boolean {
  return (flagsWord(k, page) & PG_active) !== 0;
}

/** PageWaiters(page). */
export function PageWaiters(k: Kernel, page: Page): boolean {
  return (flagsWord(k, page) & PG_waiters) !== 0;
}

function setFlag(k: Kernel, page: Page, bit: number, on: boolean): void {
  const s = pageSection(k, page, PAGE_FIELD.flags, 1);
  const i = page - s.nr * PAGES_PER_SECTION;
  const w = s.word(i);
  const nw = (on ? w | bit : w & ~bit) >>> 0;
  if (nw !== w) s.materialise()[i] = nw;
}

/** __SetPageReserved(page). */
export function __SetPageReserved(k: Kernel, page: Page): void {
  setFlag(k, page, PG_reserved, true);
}

/** __ClearPageReserved(page). */
export function __ClearPageReserved(k: Kernel, page: Page): void {
  setFlag(k, page, PG_reserved, false);
}

/** SetPageActive(page). */
export function SetPageActive(k: Kernel, page: Page): void {
  setFlag(k, page, PG_active, true);
}

/** __ClearPageActive(page). */
export function __ClearPageActive(k: Kernel, page: Page): void {
  setFlag(k, page, PG_active, false);
}

/** SetPageWaiters(page). */
export function SetPageWaiters(k: Kernel, page: Page): void {
  setFlag(k, page, PG_waiters, true);
}

/** __ClearPageWaiters(page). */
export function __ClearPageWaiters(k: Kernel, page: Page): void {
  setFlag(k, page, PG_waiters, false);
}

/**
 * page->pgmap (the ZONE_DEVICE member of struct page's union). Reading it
 * from a removed section is an Oops at +0x8. This is the per-section
 * page→pgmap lookup put_page and get_dev_pagemap's users rely on.
 */
export function page_pgmap(k: Kernel, page: Page): DevPagemap | null {
  const s = pageSection(k, page, PAGE_FIELD.pgmap);
  return s.runs === null ? s.pgmap : s.pgmapAt(page - s.nr * PAGES_PER_SECTION);
}

/**
 * is_zone_device_page(page) and, for a ZONE_DEVICE page, page->pgmap->type
 * in one section lookup: -1 for any other page, else the MEMORY_DEVICE_*
 * type (is_device_private_page and friends test against it). A ZONE_DEVICE
 * page with a NULL page->pgmap Oopses reading pgmap->type, as
 * is_device_private_page would.
 */
export function zone_device_type(k: Kernel, page: Page): number {
  const s = pageSection(k, page, PAGE_FIELD.flags);
  const i = page - s.nr * PAGES_PER_SECTION;
  if (wordZone(s.words === null ? s.fill : s.words[i]!) !== ZONE_DEVICE) return -1;
  const pgmap = s.runs === null ? s.pgmap : s.pgmapAt(i);
  if (pgmap === null) nullDeref(k, DEV_PAGEMAP_TYPE_OFFSET);
  return pgmap.type;
}

/**
 * `is_zone_device_page(page) ? page->pgmap : NULL` in one section lookup
 * (drivers' "is this page mine" tests).
 */
export function zone_device_pgmap(k: Kernel, page: Page): DevPagemap | null {
  const s = pageSection(k, page, PAGE_FIELD.flags);
  const i = page - s.nr * PAGES_PER_SECTION;
  if (wordZone(s.words === null ? s.fill : s.words[i]!) !== ZONE_DEVICE) return null;
  return s.runs === null ? s.pgmap : s.pgmapAt(i);
}

/**
 * page_to_nid(page). The debug kernel's PF_POISONED_CHECK applies (the model
 * runs with CONFIG_DEBUG_VM_PGFLAGS): an uninitialised struct page is
 * "page:<addr> is uninitialized and poisoned" and a BUG.
 */
export function page_to_nid(k: Kernel, page: Page): number {
  const s = pageSection(k, page, PAGE_FIELD.flags);
  if (s.word(page - s.nr * PAGES_PER_SECTION) === PAGE_POISON_WORD) poisoned(k, page);
  return s.nid;
}

function poisoned(k: Kernel, page: Page): never {
  k.dmesg.printk("emerg", `page:${vmemmapAddress(k, page)} is uninitialized and poisoned`);
  k.dmesg.printk("emerg", "page dumped because: VM_BUG_ON_PAGE(PagePoisoned(p))");
  throw new OopsSignal("kernel BUG at include/linux/mm.h:page_to_nid!", 1);
}

/** page_zone(page): &NODE_DATA(page_to_nid(page))->node_zones[page_zonenum(page)]. */
export function page_zone(k: Kernel, page: Page): Zone {
  const nid = page_to_nid(k, page);
  const zone = page_zonenum(k, page);
  const z = k.state(MM).nodes[nid]?.node_zones[zone];
  if (z === undefined || zone === ZONES_MASK) poisoned(k, page);
  return z;
}

/** What the memmap costs the host. */
export interface MemmapFootprint {
  /** Present sections. */
  sections: number;
  /** Sections with per-page arrays. */
  materialisedSections: number;
  /** Pages in materialised sections. */
  materialisedPages: number;
  /** Bytes of typed arrays owned by materialised sections. */
  bytes: number;
  /** Side-table entries (counts that did not fit 24 bits). */
  spilled: number;
}

/** Measures the memmap's typed-array footprint (O(present sections)). */
export function memmapFootprint(k: Kernel): MemmapFootprint {
  const mm = k.state(MM);
  const out: MemmapFootprint = {
    sections: 0,
    materialisedSections: 0,
    materialisedPages: 0,
    bytes: 0,
    spilled: 0,
  };
  forEachSection(mm, (s) => {
    out.sections++;
    if (s.words !== null) {
      out.materialisedSections++;
      out.materialisedPages += PAGES_PER_SECTION;
      out.bytes += s.memmapBytes;
    }
    out.spilled += s.spill?.size ?? 0;
  });
  return out;
}

/** Calls `fn` for every present section in section order (O(roots + present sections)). */
export function forEachSection(mm: MmState, fn: (s: MemSection) => void): void {
  for (const leaf of mm.roots) {
    if (leaf === null) continue;
    for (const s of leaf) if (s !== null) fn(s);
  }
}

/** Calls `fn` for every present section with number in [first, last]. */
export function forEachSectionIn(
  mm: MmState,
  first: number,
  last: number,
  fn: (s: MemSection) => void,
): void {
  for (let nr = Math.max(0, first); nr <= last && nr < mm.NR_MEM_SECTIONS;) {
    const leaf = mm.roots[nr >>> 8];
    if (leaf === null || leaf === undefined) {
      nr = ((nr >>> 8) + 1) * 256;
      continue;
    }
    const s = leaf[nr & 0xff];
    if (s !== null && s !== undefined) fn(s);
    nr++;
  }
}
