/**
 * struct mem_section and the section's memmap (include/linux/mmzone.h,
 * mm/sparse.c): the section_mem_map state bits, and the struct-of-arrays
 * memmap of one 128 MiB section.
 *
 * A section's memmap is one packed 32-bit word per page (page-flags.ts) in a
 * Uint32Array that exists only once some page of the section has been
 * written individually; until then the section is uniform and every page
 * reads the section's `fill` word. page->pgmap is per section (a single
 * pointer, or runs of page ranges when pgmaps differ within it) and so is the
 * node id. Bytes per materialised page: exactly 4 (plus a side-table entry
 * for each page whose count does not fit 24 bits).
 *
 * @module
 */
import { PAGES_PER_SECTION } from "./constants.ts";
import { REF_SPILL, refFits, withRef, wordRef } from "./page-flags.ts";
import type { DevPagemap } from "./types.ts";
import type { PageExt } from "./page-ext.ts";

/** section_mem_map bit: the section exists (memory_present / hot-add). */
export const SECTION_MARKED_PRESENT = 1;
/** section_mem_map bit: the section has a memmap (pfn_valid). */
export const SECTION_HAS_MEM_MAP = 2;
/** section_mem_map bit: the section is online (never for ZONE_DEVICE). */
export const SECTION_IS_ONLINE = 4;

/** A run of pages within a section sharing one page->pgmap. */
export interface PgmapRun {
  /** First page index in the section. */
  start: number;
  /** page->pgmap of the run. */
  pgmap: DevPagemap | null;
}

/**
 * struct mem_section plus the section's memmap. Exists only while the section
 * is present; sparse_remove_one_section unlinks it and drops its memmap.
 */
export class MemSection {
  /** SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE. */
  flags: number = SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP;
  /** Node of every page in the section (page_to_nid). */
  nid: number;
  /** Whether a memory block device covers it (/sys/devices/system/memory). */
  memblock = false;
  /** The hotplug call that added it (an id in MmState.hotplugLog), 0 for boot memory. */
  addedBy = 0;
  /** First pfn of the 2 MiB vmemmap block on the device (altmap), or -1 when the memmap is in RAM. */
  vmemmapPfn: number = -1;
  /** The word every page has while the section is uniform (words === null). */
  fill: number;
  /** Per-page words, once materialised. */
  words: Uint32Array | null = null;
  /** Counts that do not fit the 24-bit field, by page index. */
  spill: Map<number, number> | null = null;
  /** page->pgmap of every page while `runs` is null. */
  pgmap: DevPagemap | null = null;
  /** page->pgmap by runs when it differs within the section. */
  runs: PgmapRun[] | null = null;
  /**
   * The process side's extra struct page columns (page-ext.ts), created on
   * first use; they go with the section when it is removed.
   */
  ext: PageExt | null = null;

  /**
   * Creates a present section with a memmap whose pages all read `fill`.
   * @param nr section number.
   * @param nid node id.
   * @param fill the initial word of every page.
   */
  constructor(readonly nr: number, nid: number, fill: number) {
    this.nid = nid;
    this.fill = fill;
  }

  /** The per-page words, creating them from `fill` on first use. */
  materialise(): Uint32Array {
    let w = this.words;
    if (w === null) {
      w = new Uint32Array(PAGES_PER_SECTION);
      if (this.fill !== 0) w.fill(this.fill);
      this.words = w;
    }
    return w;
  }

  /** The word of page `i`. */
  word(i: number): number {
    return this.words === null ? this.fill : this.words[i]!;
  }

  /** page->_refcount of page `i`. */
  ref(i: number): number {
    const rc = wordRef(this.words === null ? this.fill : this.words[i]!);
    return rc === REF_SPILL ? this.spill!.get(i)! : rc;
  }

  /** Sets page->_refcount of page `i` (materialises the section). */
  setRef(i: number, rc: number): void {
    const w = this.materialise();
    if (refFits(rc)) {
      if (wordRef(w[i]!) === REF_SPILL) this.spill!.delete(i);
      w[i] = withRef(w[i]!, rc);
    } else {
      (this.spill ??= new Map()).set(i, rc);
      w[i] = withRef(w[i]!, REF_SPILL);
    }
  }

  /** page->pgmap of page `i`. */
  pgmapAt(i: number): DevPagemap | null {
    const r = this.runs;
    if (r === null) return this.pgmap;
    for (let j = r.length - 1; j > 0; j--) if (r[j]!.start <= i) return r[j]!.pgmap;
    return r[0]!.pgmap;
  }

  /** Sets page->pgmap for pages [a, b). O(runs). */
  setPgmapRange(a: number, b: number, pgmap: DevPagemap | null): void {
    if (a >= b) return;
    if (a === 0 && b === PAGES_PER_SECTION) {
      this.runs = null;
      this.pgmap = pgmap;
      return;
    }
    const old = this.runs ?? [{ start: 0, pgmap: this.pgmap }];
    const atB = b < PAGES_PER_SECTION ? pgmapOfRuns(old, b) : null;
    const out: PgmapRun[] = [];
    for (const r of old) if (r.start < a) out.push(r);
    out.push({ start: a, pgmap });
    if (b < PAGES_PER_SECTION) out.push({ start: b, pgmap: atB });
    for (const r of old) if (r.start > b) out.push(r);
    const merged: PgmapRun[] = [];
    for (const r of out) {
      const last = merged[merged.length - 1];
      if (last !== undefined && last.pgmap === r.pgmap) continue;
      merged.push(r);
    }
    if (merged.length === 1) {
      this.runs = null;
      this.pgmap = merged[0]!.pgmap;
    } else {
      this.runs = merged;
    }
  }

  /** Writes `word` (and page->pgmap if given) to pages [a, b). Whole section: stays uniform. */
  fillRange(a: number, b: number, word: number, pgmap?: DevPagemap | null): void {
    if (a >= b) return;
    if (a === 0 && b === PAGES_PER_SECTION) {
      this.fill = word;
      this.words = null;
      this.spill = null;
    } else {
      if (this.words !== null || this.fill !== word) this.materialise().fill(word, a, b);
      if (this.spill !== null) {
        for (const i of [...this.spill.keys()]) if (i >= a && i < b) this.spill.delete(i);
      }
    }
    if (pgmap !== undefined) this.setPgmapRange(a, b, pgmap);
  }

  /** Bytes of typed arrays this section's memmap owns. */
  get memmapBytes(): number {
    return this.words === null ? 0 : this.words.byteLength;
  }
}

function pgmapOfRuns(runs: readonly PgmapRun[], i: number): DevPagemap | null {
  for (let j = runs.length - 1; j > 0; j--) if (runs[j]!.start <= i) return runs[j]!.pgmap;
  return runs[0]!.pgmap;
}
