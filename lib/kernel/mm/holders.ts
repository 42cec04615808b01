/**
 * Who holds a pgmap's percpu_ref, as far as the memmap knows: each data page
 * whose refcount is above zero holds one reference (kernel-reference §1.7,
 * invariant I2). Registered in REF_HOLDER_SOURCES (lib/kernel/explain.ts) so
 * a hang report can say "65536 held by pages of pgmap 7 [mem 0x...-0x...]".
 *
 * Data pages are pfn_first(pgmap) .. pfn_end(pgmap) (pgmap->res minus the
 * altmap's pages) whose page->pgmap is this pgmap: a page another pgmap's
 * memmap_init_zone_device took over (scenario S3b) is not counted for the
 * old one. O(sections of the range + materialised pages).
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { REF_HOLDER_SOURCES, type RefHolders } from "../explain.ts";
import type { PercpuRef } from "../percpu-refcount.ts";
import { PAGE_SIZE, PAGES_PER_SECTION } from "./constants.ts";
import { MM, type MmState, sectionOf } from "./mmzone.ts";
import { vmem_altmap_offset } from "./sparse-vmemmap.ts";
import type { DevPagemap } from "./types.ts";

/** Pages of [start_pfn, end_pfn) with page->pgmap === pgmap and refcount > 0. */
export function pagesHoldingPgmap(
  k: Kernel,
  pgmap: DevPagemap,
  start_pfn: number,
  end_pfn: number,
): number {
  const mm = k.state(MM);
  let n = 0;
  for (let pfn = start_pfn; pfn < end_pfn;) {
    const secBase = Math.floor(pfn / PAGES_PER_SECTION) * PAGES_PER_SECTION;
    const b = Math.min(end_pfn, secBase + PAGES_PER_SECTION);
    const s = sectionOf(mm, pfn);
    if (s !== null && !(s.runs === null && s.pgmap !== pgmap)) {
      for (let i = pfn - secBase; i < b - secBase; i++) {
        if (s.runs === null && s.words === null) {
          // uniform section: every page alike
          if (s.pgmap === pgmap && s.ref(0) > 0) n += b - pfn;
          break;
        }
        if (s.pgmapAt(i) === pgmap && s.ref(i) > 0) n++;
      }
    }
    pfn = b;
  }
  return n;
}

/** The data-page pfn range of a pgmap: [pfn_first, pfn_end) as kernel/memremap.c computes it. */
export function pgmapDataPfns(k: Kernel, pgmap: DevPagemap): [number, number] {
  const first = Math.floor(pgmap.res.start / PAGE_SIZE) +
    (pgmap.altmap_valid ? vmem_altmap_offset(k, pgmap.altmap) : 0);
  const end = Math.floor((pgmap.res.end + 1) / PAGE_SIZE);
  return [first, end];
}

function anySection(mm: MmState, start: number, end: number): boolean {
  for (let pfn = start; pfn < end; pfn += PAGES_PER_SECTION) {
    if (sectionOf(mm, pfn) !== null) return true;
  }
  return end > start && sectionOf(mm, end - 1) !== null;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(9, "0")}`;
}

function holders(k: Kernel, mm: MmState, ref: PercpuRef): RefHolders[] {
  const out: RefHolders[] = [];
  for (const pgmap of mm.pgmaps) {
    if (pgmap.ref !== ref) continue;
    const [first, end] = pgmapDataPfns(k, pgmap);
    const count = pagesHoldingPgmap(k, pgmap, first, end);
    if (count === 0 && !anySection(mm, first, end)) {
      mm.pgmaps.delete(pgmap); // its memmap is gone: nothing will hold refs for it again
      continue;
    }
    const h: RefHolders = {
      count,
      what: `pages of pgmap ${pgmap.id} [mem ${hex(pgmap.res.start)}-${hex(pgmap.res.end)}]`,
    };
    const by = mm.pageRefsDroppedBy?.(pgmap);
    if (by !== undefined) h.droppedBy = by;
    out.push(h);
  }
  return out;
}

/** Registers the memmap's holder source once per kernel. */
export function installPgmapHolderSource(k: Kernel): void {
  const mm = k.state(MM);
  if (mm.holderSourceInstalled) return;
  mm.holderSourceInstalled = true;
  k.state(REF_HOLDER_SOURCES).push((ref) => holders(k, mm, ref));
}
