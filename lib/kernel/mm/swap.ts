/**
 * Page references (include/linux/mm.h get_page / put_page /
 * put_devmap_managed_page, kernel/memremap.c __put_devmap_managed_page,
 * mm/swap.c __put_page; v4.20 = v5.0).
 *
 * Who drops the pgmap ref, by type (verified in v4.20):
 * - devmap_managed_key on and type PRIVATE, PUBLIC or FS_DAX:
 *   __put_devmap_managed_page decrements; at 1 the page is free — PG_active
 *   and PG_waiters are cleared and pgmap->page_free(page, pgmap->data) runs;
 *   at 0 __put_page runs.
 * - otherwise (key off, device-dax type 0, P2PDMA, RAM): put_page_testzero,
 *   and __put_page at 0.
 * - __put_page of a ZONE_DEVICE page is put_dev_pagemap(page->pgmap): one
 *   percpu_ref_put of pgmap->ref. The page never goes to the buddy allocator.
 *
 * This is the kernel's one get_page / put_page, for every page kind:
 * - both act on compound_head(page) (a THP subpage is counted on its head);
 * - a ZONE_DEVICE page goes as above (never to the page allocator);
 * - a RAM page whose count reaches 0 is freed: __put_page hands it to the
 *   page allocator (ram-alloc.ts: a hugetlb page back to its pool, a THP
 *   through destroy_compound_page, a small page through free_unref_page).
 *   A kernel without an allocator (the memory model on its own) only
 *   records the free.
 *
 * The model runs without CONFIG_DEBUG_VM: get_page on a count ≤ 0 and
 * put_page below 0 are not caught (the count just moves).
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import {
  DEV_PAGEMAP_TYPE_OFFSET,
  PAGE_FIELD,
  PAGES_PER_SECTION,
  ZONE_DEVICE,
} from "./constants.ts";
import { put_dev_pagemap, putDevPagemapMany } from "./devmap.ts";
import {
  __ClearPageActive,
  __ClearPageWaiters,
  is_zone_device_page,
  nullDeref,
  page_pgmap,
  vmemmapFault,
} from "./memmap.ts";
import { MemSection, MM, type MmState, sectionOf } from "./mmzone.ts";
import {
  PG_active,
  PG_waiters,
  REF_SPILL,
  refFits,
  withRef,
  wordRef,
  wordZone,
} from "./page-flags.ts";
import { freeRamPage, freeRamPageIn } from "./ram-alloc.ts";
import {
  type DevPagemap,
  MEMORY_DEVICE_FS_DAX,
  MEMORY_DEVICE_PRIVATE,
  MEMORY_DEVICE_PUBLIC,
  type Page,
} from "./types.ts";

function emitRef(
  k: Kernel,
  op: "get" | "put" | "page_free" | "free",
  pfn: number,
  n: number,
  count: number,
) {
  k.trace.emit({ kind: "page_ref", op, pfn, n, count });
}

function emitMaterialise(k: Kernel, s: MemSection): void {
  k.trace.emit({
    kind: "memmap",
    op: "materialise",
    start_pfn: s.nr * PAGES_PER_SECTION,
    nr_pages: PAGES_PER_SECTION,
    zone: wordZone(s.fill),
    pgmap: s.runs === null ? s.pgmap?.id ?? 0 : 0,
  });
}

/**
 * get_page(page) (include/linux/mm.h): one more reference on
 * compound_head(page). A page whose section has no memmap is an Oops at
 * page->compound_head (the first thing get_page reads).
 */
export function get_page(k: Kernel, page: Page): void {
  const s = sectionOf(k.state(MM), page);
  if (s === null) vmemmapFault(k, page, PAGE_FIELD.compound_head);
  let i = page - s.nr * PAGES_PER_SECTION;
  const e = s.ext;
  if (e !== null && e.compound !== null) {
    const c = e.compound[i]!;
    if (c < 0) {
      i += c;
      page += c;
    }
  }
  let w = s.words;
  if (w === null) {
    if (k.tracing) emitMaterialise(k, s);
    w = s.materialise();
  }
  const rc = wordRef(w[i]!) + 1;
  if (rc <= 0x7fffff && rc > -0x7fffff) w[i] = withRef(w[i]!, rc);
  else s.setRef(i, s.ref(i) + 1);
  if (k.tracing) emitRef(k, "get", page, 1, s.ref(i));
}

/**
 * put_devmap_managed_page(page): false unless devmap_managed_key is on, the
 * page is ZONE_DEVICE and its pgmap type is PRIVATE, PUBLIC or FS_DAX; then
 * __put_devmap_managed_page and true. A ZONE_DEVICE page with a NULL
 * page->pgmap (an altmap page) Oopses reading pgmap->type.
 */
export function put_devmap_managed_page(k: Kernel, page: Page): boolean {
  if (!k.state(MM).devmapManagedKey) return false;
  if (!is_zone_device_page(k, page)) return false;
  const pgmap = page_pgmap(k, page);
  if (pgmap === null) nullDeref(k, DEV_PAGEMAP_TYPE_OFFSET);
  switch (pgmap.type) {
    case MEMORY_DEVICE_PRIVATE:
    case MEMORY_DEVICE_PUBLIC:
    case MEMORY_DEVICE_FS_DAX:
      __put_devmap_managed_page(k, page);
      return true;
    default:
      return false;
  }
}

/**
 * __put_devmap_managed_page(page) (kernel/memremap.c): decrement; at 1 the
 * page is free: clear PG_active and PG_waiters, (mem_cgroup_uncharge), call
 * pgmap->page_free(page, pgmap->data) — a NULL page_free is a NULL call; at
 * 0, __put_page.
 */
export function __put_devmap_managed_page(k: Kernel, page: Page): void {
  const s = sectionOf(k.state(MM), page);
  if (s === null) vmemmapFault(k, page, PAGE_FIELD._refcount);
  putDevmapManaged(k, s, page - s.nr * PAGES_PER_SECTION, page);
}

/** __put_devmap_managed_page on page `i` of section `s` (the caller looked the section up). */
function putDevmapManaged(k: Kernel, s: MemSection, i: number, page: Page): void {
  const count = refDec(s, i); // page_ref_dec_return
  if (k.tracing) emitRef(k, "put", page, 1, count);
  if (count === 1) {
    // __ClearPageActive, __ClearPageWaiters (one word: the section is already in hand)
    const w = s.words![i]!;
    const nw = (w & ~(PG_active | PG_waiters)) >>> 0;
    if (nw !== w) s.words![i] = nw;
    // mem_cgroup_uncharge(page): no memcg in the model
    const pgmap = s.runs === null ? s.pgmap! : s.pgmapAt(i)!;
    if (pgmap.page_free === null) nullDeref(k, 0);
    if (k.tracing) emitRef(k, "page_free", page, 1, 1);
    pgmap.page_free(k, page, pgmap.data);
  } else if (count === 0) {
    put_dev_pagemap(k, s.runs === null ? s.pgmap : s.pgmapAt(i)); // __put_page: ZONE_DEVICE
  }
}

/**
 * __put_page(page) (mm/swap.c): a ZONE_DEVICE page drops one pgmap ref
 * (put_dev_pagemap(page->pgmap); NULL pgmap: nothing) and stays with its
 * device; any other page goes back to the page allocator (free_unref_page,
 * or destroy_compound_page for a THP; a hugetlb page to its pool) — when
 * the kernel has one (see the module doc).
 */
export function __put_page(k: Kernel, page: Page): void {
  if (is_zone_device_page(k, page)) {
    put_dev_pagemap(k, page_pgmap(k, page));
    return;
  }
  if (k.tracing) emitRef(k, "free", page, 1, 0);
  const free = k.state(MM).freeRamPage;
  if (free !== null) free(k, page);
}

/**
 * put_page(page): drops a reference — through put_devmap_managed_page for
 * managed device pages, else put_page_testzero and __put_page at 0. A page
 * whose section has no memmap Oopses at page->compound_head.
 *
 * @example A managed device page is free at refcount 1
 * ```ts
 * import { Kernel } from "../kernel.ts";
 * import { mm_init, NODE_DATA } from "./mmzone.ts";
 * import { arch_add_memory } from "./init-64.ts";
 * import { memmap_init_zone_device } from "./page-alloc.ts";
 * import { dev_pagemap_get_ops } from "./devmap.ts";
 * import { get_page, put_page } from "./swap.ts";
 * import { page_ref_count } from "./memmap.ts";
 * import { DevPagemap, MEMORY_DEVICE_PRIVATE } from "./types.ts";
 * import { Device } from "../device.ts";
 * import { ZONE_DEVICE } from "./constants.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel();
 * mm_init(k);
 * const freed: number[] = [];
 * const pgmap = new DevPagemap();
 * pgmap.type = MEMORY_DEVICE_PRIVATE;
 * pgmap.dev = new Device(k, "hmm0");
 * pgmap.page_free = (_k, page) => void freed.push(page);
 * arch_add_memory(k, 0, 2 ** 40, 2 ** 27, null, false);
 * memmap_init_zone_device(k, NODE_DATA(k, 0).node_zones[ZONE_DEVICE]!, 2 ** 28, 32768, pgmap);
 * dev_pagemap_get_ops(k);
 * get_page(k, 2 ** 28 + 5);
 * put_page(k, 2 ** 28 + 5);
 * assertEquals([page_ref_count(k, 2 ** 28 + 5), freed], [1, [2 ** 28 + 5]]);
 * ```
 */
export function put_page(k: Kernel, page: Page): void {
  const mm = k.state(MM);
  const s = sectionOf(mm, page);
  if (s === null) vmemmapFault(k, page, PAGE_FIELD.compound_head); // compound_head(page)
  let i = page - s.nr * PAGES_PER_SECTION;
  const e = s.ext;
  if (e !== null && e.compound !== null) {
    const c = e.compound[i]!;
    if (c < 0) {
      i += c;
      page += c;
    }
  }
  // put_devmap_managed_page, inlined as in the kernel
  if (mm.devmapManagedKey && wordZone(s.words === null ? s.fill : s.words[i]!) === ZONE_DEVICE) {
    const pgmap = s.runs === null ? s.pgmap : s.pgmapAt(i);
    if (pgmap === null) nullDeref(k, DEV_PAGEMAP_TYPE_OFFSET);
    const t = pgmap.type;
    if (t === MEMORY_DEVICE_PRIVATE || t === MEMORY_DEVICE_PUBLIC || t === MEMORY_DEVICE_FS_DAX) {
      putDevmapManaged(k, s, i, page);
      return;
    }
  }
  const count = refDec(s, i); // put_page_testzero
  if (k.tracing) emitRef(k, "put", page, 1, count);
  if (count === 0) putPageIn(k, mm, s, i, page);
}

/**
 * page_ref_dec_return on page `i` of section `s`: a positive count held in
 * the memmap word drops in place; anything else (no memmap words yet, a
 * spilled or non-positive count) goes through s.ref / s.setRef.
 */
function refDec(s: MemSection, i: number): number {
  const w = s.words;
  if (w !== null) {
    const x = w[i]!;
    const rc = wordRef(x); // REF_SPILL is negative
    if (rc > 0) {
      w[i] = withRef(x, rc - 1);
      return rc - 1;
    }
  }
  const count = s.ref(i) - 1;
  s.setRef(i, count);
  return count;
}

/** __put_page(page) on page `i` of section `s` (put_page holds the section already). */
function putPageIn(k: Kernel, mm: MmState, s: MemSection, i: number, page: Page): void {
  if (wordZone(s.words === null ? s.fill : s.words[i]!) === ZONE_DEVICE) {
    put_dev_pagemap(k, s.runs === null ? s.pgmap : s.pgmapAt(i));
    return;
  }
  if (k.tracing) emitRef(k, "free", page, 1, 0);
  const free = mm.freeRamPage;
  if (free === freeRamPage) freeRamPageIn(k, s, i, page); // the allocator's, with the section in hand
  else if (free !== null) free(k, page);
}

/**
 * Simulator bulk form of `for (pfn = start_pfn; pfn < start_pfn + nr_pages;
 * pfn++) put_page(pfn_to_page(pfn))` — what devm_memremap_pages_release's
 * put loop does — with the same outcome, in O(sections + materialised pages
 * + page_free calls): a run of pages with the same word and pgmap (a
 * uniform section's, or equal words of a materialised one) is updated once
 * and its pgmap puts are one batch (split exactly at the put that reaches
 * zero); compound pages, spilled counts and pages that need page_free go
 * one by one. Within one run, page_free callbacks and the ref's release see the
 * run's counts already dropped. A section without a memmap Oopses at its
 * first page, as the loop would.
 */
export function put_page_range(k: Kernel, start_pfn: number, nr_pages: number): void {
  const mm = k.state(MM);
  const end = start_pfn + nr_pages;
  for (let pfn = start_pfn; pfn < end;) {
    const s = sectionOf(mm, pfn);
    if (s === null) vmemmapFault(k, pfn, PAGE_FIELD.compound_head);
    const base = s.nr * PAGES_PER_SECTION;
    const b = Math.min(end - base, PAGES_PER_SECTION);
    let a = pfn - base;
    while (a < b) {
      const runEnd = Math.min(b, nextRunStart(s, a));
      putRun(k, s, a, runEnd);
      a = runEnd;
    }
    pfn = base + b;
  }
}

function nextRunStart(s: MemSection, i: number): number {
  const r = s.runs;
  if (r === null) return PAGES_PER_SECTION;
  for (const run of r) if (run.start > i) return run.start;
  return PAGES_PER_SECTION;
}

/**
 * Puts pages [a, b) of one pgmap run of section s: a uniform run at once; a
 * materialised one run of equal words at a time (compound pages and counts
 * in the spill table one by one).
 */
function putRun(k: Kernel, s: MemSection, a: number, b: number): void {
  const base = s.nr * PAGES_PER_SECTION;
  if (s.words === null) {
    if (!bulkPut(k, s, a, b, s.fill)) { for (let i = a; i < b; i++) put_page(k, base + i); }
    return;
  }
  const oneByOne = s.ext !== null && s.ext.compound !== null;
  for (let i = a; i < b;) {
    const words = s.words as Uint32Array | null; // a put may have made the section uniform
    if (words === null) return putRun(k, s, i, b);
    const w = words[i]!;
    let j = i + 1;
    while (j < b && words[j] === w) j++;
    if (oneByOne || wordRef(w) === REF_SPILL || !bulkPut(k, s, i, j, w)) {
      for (let q = i; q < j; q++) put_page(k, base + q);
    }
    i = j;
  }
}

/** The bulk path for a run of pages with the word `w`; false when they must go one by one. */
function bulkPut(k: Kernel, s: MemSection, a: number, b: number, w: number): boolean {
  const rc = wordRef(w);
  const n = b - a;
  const device = wordZone(w) === ZONE_DEVICE;
  const pgmap: DevPagemap | null = s.runs === null ? s.pgmap : s.pgmapAt(a);
  const mm = k.state(MM);
  let toZero = false;
  if (mm.devmapManagedKey && device) {
    if (pgmap === null) return false; // the first page Oopses: let put_page do it
    const t = pgmap.type;
    if (t === MEMORY_DEVICE_PRIVATE || t === MEMORY_DEVICE_PUBLIC || t === MEMORY_DEVICE_FS_DAX) {
      if (rc - 1 === 1) return false; // page_free per page
    }
  }
  const nrc = rc - 1;
  if (!refFits(nrc)) return false;
  toZero = nrc === 0;
  s.fillRange(a, b, withRef(w, nrc));
  if (k.tracing) emitRef(k, "put", s.nr * PAGES_PER_SECTION + a, n, nrc);
  if (toZero) {
    if (device) {
      if (pgmap !== null) putDevPagemapMany(k, pgmap, n);
    } else if (k.trace.on) {
      emitRef(k, "free", s.nr * PAGES_PER_SECTION + a, n, 0);
    }
  }
  return true;
}
