/**
 * A page allocator over the machine's System RAM (mm/page_alloc.c's role:
 * alloc_pages / __free_pages / free_unref_page), the zero page and the huge
 * zero page (mm/memory.c, mm/huge_memory.c), and the allocator's side of
 * __put_page (mm/swap.c): swap.ts's put_page hands a RAM page whose count
 * reaches 0 back to this allocator (through MmState.freeRamPage).
 *
 * Not a buddy allocator: free order-0 pages are a LIFO stack (as the per-CPU
 * page lists hand back the most recently freed page), never-used memory is
 * handed out from a cursor that walks ZONE_NORMAL and then ZONE_DMA32 (the
 * preference order of GFP_HIGHUSER_MOVABLE), and an order-9 block (a THP)
 * comes from free whole blocks or from the cursor — freed small pages are
 * never coalesced into a THP. ZONE_DMA (below 16 MiB) is never handed out.
 *
 * Fault point "alloc_page": the allocation fails (NULL), for any order;
 * filter on a caller (e.g. `hmm_vma_alloc_locked_page`, `do_anonymous_page`,
 * `wp_page_copy`, `do_huge_pmd_anonymous_page`) to target one call site.
 *
 * Sleeping: the kernel's allocator may enter reclaim; the model never
 * reclaims — it fails when RAM is exhausted (or when the point is armed).
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../kernel.ts";
import { PAGE_FIELD, ZONE_DEVICE } from "./constants.ts";
import { vmemmapFault } from "./memmap.ts";
import { type MemSection, type MmState, sectionOf } from "./mmzone.ts";
import { PG_reserved, REF_SPILL, withRef, wordRef, wordZone } from "./page-flags.ts";
import {
  clear_compound_page,
  compound_order,
  EXT_FLAGS,
  EXT_STRIDE,
  pageFlags2,
  pageIdx,
  prep_compound_page,
} from "./page-ext.ts";
import { clear_highpage_reset, clearRecordAt } from "./page-contents.ts";
import type { Page } from "./types.ts";
import type { VmAreaStruct } from "./mm-types.ts";
import { HUB, type MmHub } from "./hub.ts";

/** HPAGE_PMD_ORDER: a THP is 512 pages (2 MiB). */
export const HPAGE_PMD_ORDER = 9;
/** HPAGE_PMD_NR. */
export const HPAGE_PMD_NR = 512;

/** The fault points this file registers. */
export const RAM_FAULT_POINTS: ReadonlyArray<readonly [string, string]> = [
  [
    "alloc_page",
    "a System RAM page allocation fails (alloc_pages returns NULL): do_anonymous_page and wp_page_copy return VM_FAULT_OOM, hmm_vma_alloc_locked_page returns NULL (the device driver's migrate-back fails), a THP allocation falls back to small pages",
  ],
];

/** The allocator's per-kernel state. */
export class RamAllocState {
  /** Whether the RAM ranges were read. */
  ready = false;
  /** Free order-0 pages (a stack). */
  free: Int32Array = new Int32Array(4096);
  /** Number of pages on `free`. */
  nfree = 0;
  /** Free THP-sized blocks (head pfns). */
  freeHuge: number[] = [];
  /** Never-used ranges [start, end) in preference order; the cursor eats the first. */
  fresh: Array<[number, number]> = [];
  /** Pages handed out and not yet freed. */
  allocated = 0;
  /** Pages of RAM this allocator manages. */
  managed = 0;
  /** The zero page (ZERO_PAGE(0)) pfn, or -1 before first use. */
  zeroPfn: number = -1;
  /** The huge zero page head pfn, or -1. */
  hugeZeroPfn: number = -1;
  /**
   * The section of the page alloc_pages returned last (a caller that fills
   * the new page's struct page right away saves a lookup); null before the
   * first allocation. Valid only until the next allocator call.
   */
  lastSection: MemSection | null = null;
  /** free_huge_page: where a hugetlb page goes when its count reaches 0 (set by huge-memory.ts). */
  hugetlbFree: ((page: Page) => boolean) | null = null;
}

/** The allocator of a kernel (its fault point is registered on first use). */
export const RAM_ALLOC: SubsystemKey<RamAllocState> = {
  name: "ram-alloc",
  create: (k: Kernel) => k.state(HUB).ram,
};

const DMA_LIMIT_PFN = 0x1000; // 16 MiB
const DMA32_LIMIT_PFN = 0x100000; // 4 GiB

function setup(k: Kernel, st: RamAllocState): void {
  st.ready = true;
  const mm = k.state(HUB).mm;
  mm.freeRamPage = freeRamPage;
  const ram = mm.ram;
  const normal: Array<[number, number]> = [];
  const dma32: Array<[number, number]> = [];
  for (const r of ram) {
    const a = Math.max(r.start / 4096, DMA_LIMIT_PFN);
    const b = r.end / 4096;
    if (a >= b) continue;
    if (b <= DMA32_LIMIT_PFN) dma32.push([a, b]);
    else if (a >= DMA32_LIMIT_PFN) normal.push([a, b]);
    else {
      dma32.push([a, DMA32_LIMIT_PFN]);
      normal.push([DMA32_LIMIT_PFN, b]);
    }
  }
  st.fresh = [...normal, ...dma32];
  for (const [a, b] of st.fresh) st.managed += b - a;
}

function ramState(k: Kernel): RamAllocState {
  const st = k.state(HUB).ram;
  if (!st.ready) setup(k, st);
  return st;
}

function takeFresh(st: RamAllocState, n: number, align: number): number {
  for (let i = 0; i < st.fresh.length; i++) {
    const r = st.fresh[i]!;
    const a = Math.ceil(r[0] / align) * align;
    if (a + n > r[1]) continue;
    // the skipped head (alignment) goes to the order-0 free stack
    for (let p = r[0]; p < a; p++) pushFree(st, p);
    r[0] = a + n;
    if (r[0] >= r[1]) st.fresh.splice(i, 1);
    return a;
  }
  return -1;
}

function pushFree(st: RamAllocState, pfn: number): void {
  if (st.nfree === st.free.length) {
    const f = new Int32Array(st.free.length * 2);
    f.set(st.free);
    st.free = f;
  }
  st.free[st.nfree++] = pfn;
}

/** Sets a freshly allocated page's count to 1 (set_page_refcounted); a non-free page is "Bad page state". */
function prepNewPage(k: Kernel, mm: MmState, st: RamAllocState, page: Page): void {
  const s = sectionOf(mm, page);
  if (s === null) vmemmapFault(k, page, PAGE_FIELD._refcount, 2);
  st.lastSection = s;
  const i = pageIdx(page);
  const w = s.words;
  if (w !== null) {
    // the common case of s.ref / s.setRef, inline: a count of 0 held in the word becomes 1
    const x = w[i]!;
    if (wordRef(x) === 0) {
      w[i] = withRef(x, 1);
      return;
    }
  }
  if (s.ref(i) !== 0) bad_page(k, page, "nonzero _count", 0); // check_new_page_bad (v4.20/v5.0 wording)
  s.setRef(i, 1);
}

/**
 * bad_page(page, reason, bad_flags) (mm/page_alloc.c): "Bad page state" for a
 * page handed out while in use, with __dump_page's "page dumped because:
 * <reason>" and, when some of `bad_flags` are set in page->flags, "bad because
 * of flags". The kernel then taints and carries on (check_new_pages skips the
 * page); the model stops with a BUG instead, as a model bug.
 */
function bad_page(k: Kernel, page: Page, reason: string, bad_flags: number): never {
  k.dmesg.printk(
    "alert",
    `BUG: Bad page state in process ${k.currentDesc.comm}  pfn:${page.toString(16)}`,
  );
  k.dmesg.printk("alert", `page dumped because: ${reason}`);
  const s = sectionOf(k.state(HUB).mm, page);
  const flags = s === null ? 0 : (s.word(pageIdx(page)) & bad_flags) >>> 0;
  if (flags !== 0) k.dmesg.printk("alert", `bad because of flags: 0x${flags.toString(16)}`);
  return k.BUG("mm/page_alloc.c:prep_new_page");
}

/**
 * alloc_pages(gfp, order) for order 0 or HPAGE_PMD_ORDER: the first page
 * (head) with refcount 1, contents zero-or-stale as the kernel leaves them
 * (the model's freed pages read as zeros: their chunks were dropped), or
 * null. An order-9 block becomes a compound page (prep_compound_page).
 */
export function alloc_pages(k: Kernel, _gfp: number, order: number): Page | null {
  const hub = k.state(HUB);
  const st = hub.ram;
  if (!st.ready) setup(k, st);
  if (k.faults.shouldFail("alloc_page")) return null;
  if (order === 0) return takePage(k, hub.mm, st);
  if (order !== HPAGE_PMD_ORDER) {
    throw new RangeError(`Cannot allocate order ${order}: the model allocates order 0 or 9`);
  }
  const h = st.freeHuge.pop();
  const page = h ?? takeFresh(st, HPAGE_PMD_NR, HPAGE_PMD_NR);
  if (page < 0) return null;
  prepNewPage(k, hub.mm, st, page);
  prep_compound_page(k, page, HPAGE_PMD_ORDER);
  st.allocated += HPAGE_PMD_NR;
  return page;
}

/**
 * alloc_pages(gfp, 0) for the fault path's fast path, given the hub: the same
 * page, refcount and counters, without asking the kernel for the hub again
 * and without consulting the "alloc_page" fault point — the caller has
 * checked that no point is armed, when shouldFail returns false and records
 * nothing.
 */
export function allocPageUnarmed(k: Kernel, hub: MmHub): Page | null {
  const st = hub.ram;
  if (!st.ready) setup(k, st);
  return takePage(k, hub.mm, st);
}

/** One order-0 page off the free stack or the fresh ranges (no fault injection), or null. */
function takePage(k: Kernel, mm: MmState, st: RamAllocState): Page | null {
  let page: number;
  if (st.nfree > 0) page = st.free[--st.nfree]!;
  else {
    page = takeFresh(st, 1, 1);
    if (page < 0) return null;
  }
  prepNewPage(k, mm, st, page);
  st.allocated++;
  return page;
}

/** alloc_page(gfp): alloc_pages(gfp, 0). */
export function alloc_page(k: Kernel, gfp = 0): Page | null {
  return alloc_pages(k, gfp, 0);
}

/**
 * alloc_zeroed_user_highpage_movable(vma, vaddr) (include/linux/highmem.h):
 * a page that reads as zeros (the model's fresh pages have no chunk; a
 * reused page's chunk was dropped when it was freed), or null. `vma` and
 * `vaddr` are the mapping the page is for; the model has one node and no
 * mempolicy, so they choose nothing.
 */
export function alloc_zeroed_user_highpage_movable(
  k: Kernel,
  _vma: VmAreaStruct,
  _vaddr: number,
): Page | null {
  return alloc_pages(k, 0, 0);
}

/** Returns pages [page, page + 2^order) to the allocator (their count is 0). */
function free_pages_ok(k: Kernel, page: Page, order: number): void {
  const st = ramState(k);
  if (order === 0) {
    const s = sectionOf(k.state(HUB).mm, page);
    if (s === null) vmemmapFault(k, page, 0, 1); // clear_highpage's struct page read
    freeSmallIn(k, st, s, pageIdx(page), page);
    return;
  }
  const n = 2 ** order;
  for (let i = 0; i < n; i++) clear_highpage_reset(k, page + i); // clear_highpage, then the fields
  if (order === HPAGE_PMD_ORDER) {
    clear_compound_page(k, page, order);
    st.freeHuge.push(page);
  } else pushFree(st, page);
  st.allocated -= n;
}

/**
 * free_pages_ok of one small page `i` of section `s` (the caller holds the
 * section): clear_highpage_reset — the chunk reference is dropped and the
 * page's record zeroed, a few typed-array writes — then onto the free stack.
 */
function freeSmallIn(k: Kernel, st: RamAllocState, s: MemSection, i: number, page: Page): void {
  const rec = s.ext?.rec ?? null;
  if (rec !== null) clearRecordAt(k, rec, i * EXT_STRIDE);
  pushFree(st, page);
  st.allocated--;
}

/**
 * __free_pages(page, order): drops the caller's reference; at zero the
 * block goes back to the allocator.
 */
export function __free_pages(k: Kernel, page: Page, order: number): void {
  const hub = k.state(HUB);
  const s = sectionOf(hub.mm, page);
  if (s === null) vmemmapFault(k, page, PAGE_FIELD._refcount, 1);
  const i = pageIdx(page);
  const w = s.words;
  let rc: number;
  const x = w === null ? 0 : w[i]!;
  if (w !== null && wordRef(x) > 0 && wordRef(x) !== REF_SPILL) {
    // s.ref / s.setRef, inline: a count held in the word drops by one
    rc = wordRef(x) - 1;
    w[i] = withRef(x, rc);
  } else {
    rc = s.ref(i) - 1;
    s.setRef(i, rc);
  }
  if (rc !== 0) return;
  if (order === 0) {
    const st = hub.ram;
    if (!st.ready) setup(k, st);
    freeSmallIn(k, st, s, i, page);
  } else free_pages_ok(k, page, order);
}

/** __free_page(page). */
export function __free_page(k: Kernel, page: Page): void {
  __free_pages(k, page, 0);
}

/**
 * The allocator's side of __put_page (mm/swap.c) for a RAM page whose count
 * reached 0 (installed as MmState.freeRamPage; get_page / put_page live in
 * swap.ts): compound_dtor — a hugetlb page goes back to its pool, a THP
 * through destroy_compound_page — or free_unref_page for a small page.
 *
 * @internal exported so that swap.ts can recognise it and call
 * {@link freeRamPageIn} with the section it already holds.
 */
export function freeRamPage(k: Kernel, head: Page): void {
  const st = k.state(HUB).ram;
  if ((pageFlags2(k, head) & PG_HUGETLB_BIT) !== 0 && st.hugetlbFree !== null) {
    st.hugetlbFree(head);
    return;
  }
  free_pages_ok(k, head, compound_order(k, head));
}

/**
 * @internal {@link freeRamPage} of page `i` of section `s` (`head` is that
 * page; swap.ts's __put_page holds the section): the same effects, the
 * page's flags, compound order and record read from the section in hand.
 */
export function freeRamPageIn(k: Kernel, s: MemSection, i: number, head: Page): void {
  const st = k.state(HUB).ram;
  const e = s.ext;
  if (e !== null) {
    const rec = e.rec;
    if (
      rec !== null && (rec[i * EXT_STRIDE + EXT_FLAGS]! & PG_HUGETLB_BIT) !== 0 &&
      st.hugetlbFree !== null
    ) {
      st.hugetlbFree(head);
      return;
    }
    const c = e.compound === null ? 0 : e.compound[i]!;
    if (c > 0) {
      free_pages_ok(k, head, c);
      return;
    }
  }
  if (!st.ready) setup(k, st);
  freeSmallIn(k, st, s, i, head);
}

/** The page-ext flag huge-memory.ts sets on hugetlb pages. */
const PG_HUGETLB_BIT = 128;

/**
 * my_zero_pfn(addr) (include/asm-generic/pgtable.h): the pfn of the zero
 * page (ZERO_PAGE(addr)), one reserved RAM page that reads as zeros and is
 * mapped read-only (pte_special) wherever a read fault hits an untouched
 * anonymous page. `addr` is the user address being mapped; x86 has a single
 * zero page, so it does not choose anything (as in the kernel).
 */
export function my_zero_pfn(k: Kernel, _addr: number): number {
  const st = ramState(k);
  if (st.zeroPfn < 0) {
    // empty_zero_page is a static page of the kernel image: setting it up lazily here
    // must not fail like an allocation (fault point "alloc_page" does not apply)
    const p = takePage(k, k.state(HUB).mm, st);
    if (p === null) throw new RangeError("Cannot set up the zero page: no System RAM");
    const s = sectionOf(k.state(HUB).mm, p)!;
    const w = s.materialise();
    w[pageIdx(p)] = (w[pageIdx(p)]! | PG_reserved) >>> 0;
    st.zeroPfn = p;
  }
  return st.zeroPfn;
}

/** is_zero_pfn(pfn). */
export function is_zero_pfn(k: Kernel, pfn: number): boolean {
  return pfn === k.state(HUB).ram.zeroPfn;
}

/**
 * get_huge_zero_page() (mm/huge_memory.c, static): the huge zero page (an
 * order-9 block that reads as zeros), allocated on first use, or null if no
 * 2 MiB block is free. The model keeps it for good: no huge_zero_refcount,
 * no shrinker, and no per-mm MMF_HUGE_ZERO_PAGE, so the fault path calls
 * this where the kernel calls mm_get_huge_zero_page(vma->vm_mm).
 */
export function get_huge_zero_page(k: Kernel): Page | null {
  const st = ramState(k);
  if (st.hugeZeroPfn < 0) {
    const p = alloc_pages(k, 0, HPAGE_PMD_ORDER);
    if (p === null) return null;
    st.hugeZeroPfn = p;
  }
  return st.hugeZeroPfn;
}

/** is_huge_zero_page(page). */
export function is_huge_zero_page(k: Kernel, page: Page): boolean {
  return page === k.state(HUB).ram.hugeZeroPfn;
}

/** Allocator statistics. */
export interface RamStats {
  /** Pages managed. */
  managed: number;
  /** Pages handed out (including the zero pages). */
  allocated: number;
  /** Free pages. */
  free: number;
  /** Live content chunks. */
  chunks: number;
}

/** The allocator's counters. */
export function ramStats(k: Kernel): RamStats {
  const st = ramState(k);
  return {
    managed: st.managed,
    allocated: st.allocated,
    free: st.managed - st.allocated,
    chunks: k.state(HUB).cs.live,
  };
}

/** @internal whether `page` is a RAM page this allocator hands out (not ZONE_DEVICE, present). */
export function isRamPage(k: Kernel, page: Page): boolean {
  const s = sectionOf(k.state(HUB).mm, page);
  return s !== null && wordZone(s.word(pageIdx(page))) !== ZONE_DEVICE;
}
