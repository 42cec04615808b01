/**
 * Reads a machine's memory model (lib/kernel/mm) into the plain
 * {@link SectionMapInput} that sectionMap draws.
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";
import {
  type DevPagemap,
  memoryTypeName,
  MM,
  presentSections,
  SECTION_SIZE,
  type SectionState,
  sectionState,
  ZONE_DEVICE,
} from "../kernel/mm/mod.ts";
import type { SectionCell, SectionMapInput } from "./sections.ts";

/** Options of {@link sectionsOf}. */
export interface SectionsOfOptions {
  /** First section number of the window (default 0). */
  from?: number;
  /** Last section number of the window, inclusive (default: the end of the row of the highest present or mapped section). */
  to?: number;
  /** Sections per row of the map this feeds (default 32); only whole rows are emitted. */
  columns?: number;
  /** Leave out rows with nothing in them: no section, no linear map (default true). */
  skipFreeRows?: boolean;
  /**
   * Ids of the pgmaps that are still owned by a bound driver: a device
   * section pointing at any other pgmap is marked leaked. Default: not used.
   */
  livePgmaps?: Iterable<number>;
}

/**
 * A Machine (anything with a `kernel`) or a Kernel (anything with a `state`
 * method), checked at run time. Typed structurally so that this module's
 * documented surface does not pull in the whole kernel.
 */
export type MachineLike = { readonly kernel: object } | { state(key: never): unknown };

function kernelOf(m: MachineLike): Kernel {
  const isKernel = (x: unknown): x is Kernel =>
    typeof x === "object" && x !== null && typeof (x as Kernel).state === "function";
  if (typeof m === "object" && m !== null && "kernel" in m && isKernel(m.kernel)) return m.kernel;
  if (isKernel(m)) return m;
  throw new TypeError("Cannot read sections: expected a Machine or a Kernel");
}

/** The pgmap of a section's data pages: the last non-NULL page->pgmap (the first pages may be altmap reserve). */
function pgmapIdOf(st: SectionState): number {
  for (let i = st.pgmaps.length - 1; i >= 0; i--) if (st.pgmaps[i]! !== 0) return st.pgmaps[i]!;
  return 0;
}

function isDevice(st: SectionState, pgmapId: number): boolean {
  if (pgmapId !== 0 || st.zone === ZONE_DEVICE) return true;
  return st.zone === null && st.addedBy !== null && st.addedBy !== 0; // hot-added, memmap not initialised yet
}

/**
 * The sections of a machine's memory model, as sectionMap draws them:
 *
 * - `kind`: "device" when the section's pages are ZONE_DEVICE or point at a
 *   pgmap (or it was hot-added and its memmap is not initialised yet), "ram"
 *   for other present sections, "free" for absent ones;
 * - `pgmapId` / `type`: the dev_pagemap of its data pages (its `id` and
 *   enum memory_type name);
 * - `linearMap`: the whole section is in the direct map;
 * - `memmap`: "device" when its vmemmap block came from the altmap, "ram"
 *   otherwise, "none" when absent;
 * - `leaked`, any of: it was added by a hot-add that failed part-way and was
 *   never unwound (its hotplugLog record has ret ≠ 0); it is absent but still
 *   in the linear map; its pgmap's percpu_ref was released and exited; its
 *   pgmap is not in `livePgmaps` (when given).
 *
 * Reads the memory model through its snapshot API (`presentSections`,
 * `sectionState`: lib/kernel/mm/section-info.ts) and, from `k.state(MM)`,
 * `directMap` (rows with mappings), `hotplugLog` (failed hot-adds) and
 * `pgmaps` (type, device and ref of a pgmap id).
 *
 * @param machine a Machine or its Kernel, after mm_init.
 * @param options the window of section numbers and row handling.
 * @returns the sections in order: whole rows of `columns`, clipped to the window.
 * @throws {RangeError} if the memory model was not booted, or the window is bad.
 *
 * @example A 1 GiB machine and a device range with its memmap on the device
 * ```ts
 * import { Machine } from "../machine.ts";
 * import { arch_add_memory, mm_init, VmemAltmap } from "../kernel/mm/mod.ts";
 * import { sectionsOf } from "./sections-of.ts";
 * import { assertEquals } from "@std/assert";
 * const m = new Machine();
 * mm_init(m.k, { ram: [{ start: 0, end: 2 ** 30 }] });
 * const start = 2 ** 34; // section 128
 * arch_add_memory(m.k, 0, start, 2 ** 28, new VmemAltmap(start / 4096, 0, 1024), false);
 * const s = sectionsOf(m, { columns: 8 }).sections;
 * assertEquals(s.length, 16); // row 0 (RAM) and row 16 (the device); the rows between are skipped
 * assertEquals([s[0]!.kind, s[8]!.nr, s[8]!.kind, s[8]!.memmap, s[8]!.linearMap], ["ram", 128, "device", "device", true]);
 * assertEquals(s[10]!.kind, "free");
 * ```
 */
export function sectionsOf(machine: MachineLike, options: SectionsOfOptions = {}): SectionMapInput {
  const k = kernelOf(machine);
  const mm = k.state(MM);
  if (!mm.booted) {
    throw new RangeError(
      "Cannot read sections: the machine's memory model is not booted (mm_init has not run)",
    );
  }
  const columns = options.columns ?? 32;
  if (!Number.isInteger(columns) || columns < 1) {
    throw new RangeError(
      `Cannot read sections: columns must be a positive integer, got ${columns}`,
    );
  }
  const from = options.from ?? 0;
  const present = new Map(
    presentSections(k, from, options.to ?? Infinity).map((st) => [st.nr, st]),
  );
  let highest = from;
  for (const nr of present.keys()) highest = Math.max(highest, nr);
  for (const [, e] of mm.directMap) highest = Math.max(highest, Math.ceil(e / SECTION_SIZE) - 1);
  // default: to the end of the row of the highest present or mapped section
  const to = options.to ??
    Math.min(mm.NR_MEM_SECTIONS, (Math.floor(highest / columns) + 1) * columns) - 1;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from) {
    throw new RangeError(
      `Cannot read sections: the window [${from}, ${to}] must be non-negative integers with from ≤ to`,
    );
  }
  if (to >= mm.NR_MEM_SECTIONS) {
    throw new RangeError(
      `Cannot read sections: section ${to} is beyond NR_MEM_SECTIONS (${mm.NR_MEM_SECTIONS})`,
    );
  }
  const live = options.livePgmaps === undefined ? null : new Set(options.livePgmaps);
  const failed = new Map(mm.hotplugLog.filter((r) => r.ret !== 0).map((r) => [r.id, r]));
  const pgmaps = new Map<number, DevPagemap>();
  for (const p of mm.pgmaps) if (p.id !== 0) pgmaps.set(p.id, p);

  // rows to emit: every row of the window, or only those with a section or a mapping
  const firstRow = Math.floor(from / columns), lastRow = Math.floor(to / columns);
  let rows: number[];
  if (options.skipFreeRows === false) {
    rows = Array.from({ length: lastRow - firstRow + 1 }, (_, i) => firstRow + i);
  } else {
    const set = new Set<number>();
    for (const nr of present.keys()) if (nr <= to) set.add(Math.floor(nr / columns));
    for (const [s, e] of mm.directMap) {
      const a = Math.max(from, Math.floor(s / SECTION_SIZE));
      const b = Math.min(to, Math.ceil(e / SECTION_SIZE) - 1);
      for (let r = Math.floor(a / columns); r <= Math.floor(b / columns); r++) set.add(r);
    }
    rows = [...set].sort((a, b) => a - b);
  }

  const sections: SectionCell[] = [];
  for (const row of rows) {
    for (let nr = Math.max(from, row * columns); nr < (row + 1) * columns && nr <= to; nr++) {
      const st = present.get(nr);
      if (st === undefined) {
        const linearMap = sectionState(k, nr).linear;
        const cell: SectionCell = {
          nr,
          start: nr * SECTION_SIZE,
          kind: "free",
          linearMap,
          memmap: "none",
        };
        if (linearMap) {
          cell.leaked = true;
          cell.note = "no section, but still in the linear map";
        }
        sections.push(cell);
        continue;
      }
      const id = pgmapIdOf(st);
      const device = isDevice(st, id);
      const cell: SectionCell = {
        nr,
        start: nr * SECTION_SIZE,
        kind: device ? "device" : "ram",
        linearMap: st.linear,
        memmap: st.memmap ?? "none",
      };
      const notes: string[] = [];
      const pgmap = pgmaps.get(id) ?? null;
      if (id !== 0) cell.pgmapId = id;
      if (pgmap !== null) {
        cell.type = memoryTypeName(pgmap.type);
        if (pgmap.dev !== null) notes.push(pgmap.dev.name);
      }
      const rec = st.addedBy === null ? undefined : failed.get(st.addedBy);
      if (rec !== undefined) {
        cell.leaked = true;
        notes.push(`left by a failed ${rec.fn} (${rec.ret})`);
      }
      const ref = pgmap?.ref ?? null;
      if (ref !== null && ref.pcpu === null && ref.releaseFired > 0) {
        cell.leaked = true;
        notes.push("its pgmap's percpu_ref was released and exited");
      }
      if (device && live !== null && !live.has(id)) {
        cell.leaked = true;
        notes.push("pgmap not live");
      }
      if (notes.length > 0) cell.note = notes.join("; ");
      sections.push(cell);
    }
  }
  return { sections };
}
