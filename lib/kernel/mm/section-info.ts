/**
 * Read-only snapshots of section state for figures, invariant checks and
 * tests (simulator API, not a kernel function): what a section map shows per
 * 128 MiB section.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { PAGES_PER_SECTION, SECTION_SIZE } from "./constants.ts";
import { linearMappedRange } from "./init-64.ts";
import { forEachSectionIn } from "./memmap.ts";
import {
  type MemSection,
  MM,
  SECTION_HAS_MEM_MAP,
  SECTION_IS_ONLINE,
  SECTION_MARKED_PRESENT,
  sectionOf,
} from "./mmzone.ts";
import { PAGE_POISON_WORD, wordZone } from "./page-flags.ts";

/** One section as a section map shows it. */
export interface SectionState {
  /** Section number. */
  nr: number;
  /** SECTION_MARKED_PRESENT. */
  present: boolean;
  /** SECTION_HAS_MEM_MAP (pfn_valid). */
  valid: boolean;
  /** SECTION_IS_ONLINE. */
  online: boolean;
  /** The whole section is in the kernel's linear map. */
  linear: boolean;
  /** Zone of its last page (enum zone_type), or null while uninitialised (poisoned) or absent. */
  zone: number | null;
  /** Node. */
  nid: number | null;
  /** A memory block device covers it. */
  memblock: boolean;
  /** Where its memmap lives: in RAM, carved from the device (altmap), or nowhere. */
  memmap: "ram" | "device" | null;
  /** Ids of the pgmaps its pages point to (page->pgmap), in page order; 0 for NULL. */
  pgmaps: number[];
  /** Whether its per-page words exist. */
  materialised: boolean;
  /** The hotplug call that added it (MmState.hotplugLog id), 0 for boot memory, null if absent. */
  addedBy: number | null;
}

function stateOf(k: Kernel, nr: number, s: MemSection | null): SectionState {
  const start = nr * SECTION_SIZE;
  const linear = linearMappedRange(k, start, start + SECTION_SIZE);
  if (s === null) {
    return {
      nr,
      present: false,
      valid: false,
      online: false,
      linear,
      zone: null,
      nid: null,
      memblock: false,
      memmap: null,
      pgmaps: [],
      materialised: false,
      addedBy: null,
    };
  }
  const w = s.word(PAGES_PER_SECTION - 1);
  return {
    nr,
    present: (s.flags & SECTION_MARKED_PRESENT) !== 0,
    valid: (s.flags & SECTION_HAS_MEM_MAP) !== 0,
    online: (s.flags & SECTION_IS_ONLINE) !== 0,
    linear,
    zone: w === PAGE_POISON_WORD ? null : wordZone(w),
    nid: s.nid,
    memblock: s.memblock,
    memmap: s.vmemmapPfn >= 0 ? "device" : "ram",
    pgmaps: (s.runs ?? [{ start: 0, pgmap: s.pgmap }]).map((r) => r.pgmap?.id ?? 0),
    materialised: s.words !== null,
    addedBy: s.addedBy,
  };
}

/** The state of section `nr`. */
export function sectionState(k: Kernel, nr: number): SectionState {
  const mm = k.state(MM);
  if (!Number.isSafeInteger(nr) || nr < 0 || nr >= mm.NR_MEM_SECTIONS) {
    throw new RangeError(
      `Cannot read the state of section ${nr}: sections are numbered 0..${
        mm.NR_MEM_SECTIONS - 1
      } (${mm.paging} paging)`,
    );
  }
  return stateOf(k, nr, sectionOf(mm, nr * PAGES_PER_SECTION));
}

/** The states of the present sections with numbers in [first, last] (O(roots in range + present)). */
export function presentSections(k: Kernel, first = 0, last = Infinity): SectionState[] {
  const out: SectionState[] = [];
  forEachSectionIn(k.state(MM), first, last, (s) => out.push(stateOf(k, s.nr, s)));
  return out;
}
