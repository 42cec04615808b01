/**
 * The page pass of the invariant checker: every page of a section against
 * its base refcount plus the references its holders account for, one tight
 * loop per run of pages with the same base — a uniform section is checked
 * from its descriptor (one word, one pgmap per run).
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";
import { pgmapDataPfns } from "../kernel/mm/holders.ts";
import { PAGE_SIZE, PAGES_PER_SECTION, ZONE_DEVICE } from "../kernel/mm/constants.ts";
import { type MemSection, MM, sectionOf } from "../kernel/mm/mmzone.ts";
import { PAGE_POISON_WORD, wordRef, wordZone } from "../kernel/mm/page-flags.ts";
import type { DevPagemap } from "../kernel/mm/types.ts";
import { xa_load, type XArray } from "../kernel/xarray.ts";

/** A run of pages with one base refcount; `data` is the pgmap whose data pages they are, if any. */
export interface Seg {
  /** First page index. */
  a: number;
  /** One past the last. */
  b: number;
  /** The refcount with no holder. */
  base: number;
  /** The pgmap whose data pages these are (they hold its ref while their count is above 0). */
  data: DevPagemap | null;
}

/** What the page pass found in one section. */
export interface SectionResult {
  /** Pages whose count differs from base + holders. */
  bad: number;
  /** The first of them, described. */
  first: string;
  /** Pages with a count above zero. */
  inUse: number;
}

/**
 * The runs of a section with their base refcount. RAM: 0. ZONE_DEVICE: an
 * initialised page nobody holds has 1 (memmap_init_zone_device), except the
 * data pages of a memremap pgmap whose devm_memremap_pages_release has
 * started (no longer `mapped`, still in pgmap_array): its put loop took
 * them to 0.
 */
export function segmentsOf(
  k: Kernel,
  s: MemSection,
  device: boolean,
  mapped: WeakSet<DevPagemap>,
  arr: XArray<DevPagemap>,
): Seg[] {
  if (!device) return [{ a: 0, b: PAGES_PER_SECTION, base: 0, data: null }];
  const runs = s.runs ?? [{ start: 0, pgmap: s.pgmap }];
  const out: Seg[] = [];
  const secBase = s.nr * PAGES_PER_SECTION;
  for (let j = 0; j < runs.length; j++) {
    const a = runs[j]!.start;
    const b = j + 1 < runs.length ? runs[j + 1]!.start : PAGES_PER_SECTION;
    const p = runs[j]!.pgmap;
    if (p === null || p.ref === null) {
      out.push({ a, b, base: 1, data: null });
      continue;
    }
    const released = !mapped.has(p) && xa_load(arr, Math.floor(p.res.start / PAGE_SIZE)) === p;
    const [first, end] = pgmapDataPfns(k, p);
    const da = Math.max(a, first - secBase), db = Math.min(b, end - secBase);
    if (da >= db) {
      out.push({ a, b, base: 1, data: null });
      continue;
    }
    if (a < da) out.push({ a, b: da, base: 1, data: null });
    out.push({ a: da, b: db, base: released ? 0 : 1, data: p });
    if (db < b) out.push({ a: db, b, base: 1, data: null });
  }
  return out;
}

/** What one page loop found. */
interface ScanOut {
  bad: number;
  inUse: number;
  firstAt: number;
}

/** The page loop over per-page words (int32 view; -1 is PAGE_POISON_WORD). */
function scanWords(
  words: Int32Array,
  held: Int32Array,
  a: number,
  b: number,
  base: number,
): ScanOut {
  let bad = 0, inUse = 0, firstAt = -1;
  for (let i = a; i < b; i++) {
    const w = words[i]!;
    const h = held[i]!;
    if (w === -1) {
      if (h !== 0) {
        bad++;
        if (firstAt < 0) firstAt = i;
      }
      continue;
    }
    const rc = (w << 8) >> 8;
    if (rc > 0) inUse++;
    if (rc !== base + h) {
      bad++;
      if (firstAt < 0) firstAt = i;
    }
  }
  return { bad, inUse, firstAt };
}

/** The page loop of a uniform section with holders. */
function scanFill(w: number, held: Int32Array, a: number, b: number, base: number): ScanOut {
  let bad = 0, firstAt = -1;
  const poison = w === -1;
  const rc = (w << 8) >> 8;
  for (let i = a; i < b; i++) {
    const h = held[i]!;
    if (poison ? h !== 0 : rc !== base + h) {
      bad++;
      if (firstAt < 0) firstAt = i;
    }
  }
  return { bad, inUse: !poison && rc > 0 ? b - a : 0, firstAt };
}

/** A uniform section without holders: one word against each run's base. */
export function compareUniform(
  s: MemSection,
  segs: Seg[],
  pgmapPages: Map<DevPagemap, number>,
): SectionResult {
  const w = s.fill;
  if (w === PAGE_POISON_WORD) return { bad: 0, first: "", inUse: 0 };
  const rc = wordRef(w);
  let bad = 0, first = "";
  for (const g of segs) {
    if (rc !== g.base) {
      bad += g.b - g.a;
      first ||= `pfn 0x${
        (s.nr * PAGES_PER_SECTION + g.a).toString(16)
      } (uniform section ${s.nr}): refcount ${rc}, holders ${g.base}`;
    }
    if (g.data !== null && rc > 0) {
      pgmapPages.set(g.data, (pgmapPages.get(g.data) ?? 0) + g.b - g.a);
    }
  }
  return { bad, first, inUse: rc > 0 ? PAGES_PER_SECTION : 0 };
}

/** Every page of a section against its run's base plus `held[i]`: one tight loop per run. */
export function compareSection(
  s: MemSection,
  segs: Seg[],
  held: Int32Array,
  pgmapPages: Map<DevPagemap, number>,
): SectionResult {
  const words = s.words === null ? null : new Int32Array(s.words.buffer);
  let bad = 0, inUse = 0, firstAt = -1, firstBase = 0;
  for (const g of segs) {
    const r = words === null
      ? scanFill(s.fill | 0, held, g.a, g.b, g.base)
      : scanWords(words, held, g.a, g.b, g.base);
    let segBad = r.bad;
    if (segBad > 0 && s.spill !== null) {
      // counts above 24 bits live in the side table
      for (const [i, c] of s.spill) if (i >= g.a && i < g.b && c === g.base + held[i]!) segBad--;
    }
    if (segBad > 0 && firstAt < 0) {
      firstAt = r.firstAt;
      firstBase = g.base;
    }
    bad += segBad;
    inUse += r.inUse;
    if (g.data !== null && r.inUse > 0) {
      pgmapPages.set(g.data, (pgmapPages.get(g.data) ?? 0) + r.inUse);
    }
  }
  const comp = s.ext?.compound ?? null;
  if (comp !== null && words !== null) {
    // a compound page (THP, hugetlb) keeps its count in the head: its tails are in use with it
    for (let i = 0; i < PAGES_PER_SECTION; i++) {
      const order = comp[i]!;
      if (order > 0 && ((words[i]! << 8) >> 8) > 0) inUse += (1 << order) - 1;
    }
  }
  let first = "";
  if (firstAt >= 0) {
    const pfn = s.nr * PAGES_PER_SECTION + firstAt;
    const w = s.word(firstAt);
    first = w === PAGE_POISON_WORD
      ? `pfn 0x${pfn.toString(16)} is held (${held[firstAt]}) but uninitialised`
      : `pfn 0x${pfn.toString(16)} (${
        wordZone(w) === ZONE_DEVICE ? "ZONE_DEVICE" : "RAM"
      }): refcount ${s.ref(firstAt)}, holders ${firstBase + held[firstAt]!}`;
  }
  return { bad, first, inUse };
}

/** The head of a compound page (the page itself otherwise), read without side effects. */
export function headOf(k: Kernel, pfn: number): number {
  const s = sectionOf(k.state(MM), pfn);
  const c = s?.ext?.compound;
  if (c === null || c === undefined) return pfn;
  const x = c[pfn % PAGES_PER_SECTION]!;
  return x < 0 ? pfn + x : pfn;
}
