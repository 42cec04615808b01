/**
 * Who owns memory now, for the invariant checker: the pgmaps registered
 * through devm_memremap_pages (their pgmap_array entry at res.start) and,
 * before patch 6, HMM's (its section radix); which sections their
 * section-aligned spans cover; and the add_pages WARN a failed hot-add
 * leaves in dmesg.
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";
import { HMM } from "../kernel/hmm.ts";
import { MEMREMAP, pgmapAlignedRange } from "../kernel/memremap.ts";
import { radix_tree_lookup } from "../kernel/radix-tree.ts";
import { xa_load, xaValues } from "../kernel/xarray.ts";
import { PAGE_SIZE, PAGES_PER_SECTION, SECTION_SIZE } from "../kernel/mm/constants.ts";
import { type MemSection, MM, type MmState } from "../kernel/mm/mmzone.ts";
import type { DevPagemap } from "../kernel/mm/types.ts";

/** pgmaps that own memory now: memremap's (pgmap_array entry at res.start) and, before patch 6, HMM's (section radix). */
export interface Registered {
  /** Every registered pgmap. */
  pgmaps: DevPagemap[];
  /** Those registered through devm_memremap_pages. */
  memremap: DevPagemap[];
  /** The same, as a set. */
  memremapSet: Set<DevPagemap>;
  /** Whether a registered pgmap's section-aligned span covers section `nr`. */
  ownsSection(nr: number): boolean;
}

/** The pgmaps registered on `k` now, and which sections their section-aligned spans own. */
export function registeredPgmaps(k: Kernel): Registered {
  const arr = k.state(MEMREMAP).pgmap_array;
  const memremap: DevPagemap[] = [];
  const spans: Array<[number, number]> = [];
  const seen = new Set<DevPagemap>();
  const cand = xaValues(arr, new Set<DevPagemap>(k.state(MM).pgmaps));
  for (const p of cand) {
    if (p === null || seen.has(p)) continue;
    seen.add(p);
    if (xa_load(arr, Math.floor(p.res.start / PAGE_SIZE)) !== p) continue;
    memremap.push(p);
    const { align_start, align_size } = pgmapAlignedRange(p);
    spans.push([align_start / SECTION_SIZE, (align_start + align_size) / SECTION_SIZE]);
  }
  const pgmaps = [...memremap];
  // HMM before patch 6: its own section radix
  const hmm = k.state(HMM);
  let radix = false;
  for (const p of k.state(MM).pgmaps) {
    if (seen.has(p) && memremap.includes(p)) continue;
    const nr = Math.floor(p.res.start / SECTION_SIZE);
    const devmem = radix_tree_lookup(hmm.hmm_devmem_radix, nr);
    if (devmem !== null && !devmem.freed) {
      radix = true;
      pgmaps.push(p);
    }
  }
  return {
    pgmaps,
    memremap,
    memremapSet: new Set(memremap),
    ownsSection(nr: number): boolean {
      for (const [a, b] of spans) if (nr >= a && nr < b) return true;
      if (radix) {
        const d = radix_tree_lookup(hmm.hmm_devmem_radix, nr);
        if (d !== null && !d.freed) return true;
      }
      return false;
    },
  };
}

/** The first page of [a, b) of `s` whose page->pgmap is not `p`. */
export function otherPgmapIn(
  s: MemSection,
  a: number,
  b: number,
  p: DevPagemap,
): { pfn: number; pgmap: DevPagemap | null } | undefined {
  const base = s.nr * PAGES_PER_SECTION;
  if (s.runs === null) return s.pgmap === p ? undefined : { pfn: base + a, pgmap: s.pgmap };
  const runs = s.runs;
  for (let j = 0; j < runs.length; j++) {
    const rs = runs[j]!.start;
    const re = j + 1 < runs.length ? runs[j + 1]!.start : PAGES_PER_SECTION;
    if (re <= a || rs >= b) continue;
    if (runs[j]!.pgmap !== p) return { pfn: base + Math.max(rs, a), pgmap: runs[j]!.pgmap };
  }
  return undefined;
}

/** Whether some page of section `s` has page->pgmap = `p`. */
export function sectionHasPgmap(s: MemSection, p: DevPagemap): boolean {
  if (s.runs === null) return s.pgmap === p;
  return s.runs.some((r) => r.pgmap === p);
}

/** The add_pages WARN_ON_ONCE line, if printed. */
export function addPagesWarn(k: Kernel): string | null {
  for (const l of k.dmesg.lines) {
    if (l.text.startsWith("WARNING:") && / add_pages\+/.test(l.text)) return l.text;
  }
  return null;
}

/** Whether section `nr` lies inside the direct (linear) map. */
export function linearMapped(mm: MmState, nr: number): boolean {
  const a = nr * SECTION_SIZE, b = a + SECTION_SIZE;
  for (const [s, e] of mm.directMap) if (a >= s && b <= e) return true;
  return false;
}
