/**
 * The physical address space by 128 MiB sparse section, as a grid of cells:
 * System RAM, ZONE_DEVICE by memory type (and pgmap id), free and leaked
 * sections; whether each is in the linear map and where its memmap lives.
 * section-map-diff.ts draws two of them side by side.
 *
 * The figure reads a plain {@link SectionMapInput} (sections.ts);
 * `sectionsOf(machine)` (sections-of.ts) builds one from a machine's memory
 * model.
 *
 * @module
 */
import type { Display } from "./display.ts";
import { finish } from "./_plot.ts";
import { checkInput, counts, DEFAULT_CAPTION, draw, layout, toCells } from "./_section-grid.ts";
import type { SectionMapInput } from "./sections.ts";

/** Options of {@link sectionMap} (and of sectionMapDiff). */
export interface SectionMapOptions {
  /** Sections per row (default 32: 4 GiB a row). */
  columns?: number;
  /** Cell size in px (default 16). */
  cellSize?: number;
  /** Refuse to draw more cells than this (default 20,000): pass a window to sectionsOf. */
  maxCells?: number;
  /** Title (default "Sections (128 MiB each)" or "Section map: a → b"). */
  title?: string;
  /** Subtitle. */
  subtitle?: string;
  /** Caption (default: what the bar and the dot mean). */
  caption?: string;
}

/**
 * Draws a section map: one cell per 128 MiB section, `columns` to a row
 * (rows are labelled with their first address; rows absent from the input
 * are skipped, so the y axis may jump). Fill: {@link SECTION_CATEGORIES} in
 * {@link SECTION_COLORS}, the same in every figure. A dark bar along a cell's
 * top: in the linear map. A white dot: memmap on the device (altmap).
 * Number: pgmap id.
 *
 * @param input the sections (see sectionsOf for a machine's).
 * @param options layout and titles.
 * @returns the figure as a `text/html` display.
 * @throws {TypeError | RangeError} for malformed sections, nothing to draw, or too many cells.
 *
 * @example RAM, an fsdax namespace with its memmap on the device, and a leak
 * ```ts
 * import { sectionMap } from "./section-map.ts";
 * import { SECTION_CATEGORIES, type SectionCell } from "./sections.ts";
 * import { assert } from "@std/assert";
 * const S = 2 ** 27;
 * const cell = (nr: number, c: Partial<SectionCell>): SectionCell =>
 *   ({ nr, start: nr * S, kind: "free", linearMap: false, memmap: "none", ...c });
 * const fig = sectionMap({ sections: [
 *   cell(0, { kind: "ram", linearMap: true, memmap: "ram" }),
 *   cell(1, { kind: "device", type: "MEMORY_DEVICE_FS_DAX", pgmapId: 3, linearMap: true, memmap: "device" }),
 *   cell(2, { kind: "device", type: "fs_dax", pgmapId: 3, linearMap: true, memmap: "device", leaked: true }),
 *   cell(3, {}),
 * ] }, { columns: 4 });
 * assert(fig.html!.includes('xmlns="http://www.w3.org/2000/svg"'));
 * for (const c of SECTION_CATEGORIES) assert(fig.html!.includes(`</svg>${c}</span>`)); // the legend
 * assert(fig.text.includes("device fs_dax 1"));
 * ```
 */
export function sectionMap(input: SectionMapInput, options: SectionMapOptions = {}): Display {
  const what = "a section map";
  const sections = checkInput(input, what);
  const { columns, cellSize, maxCells } = layout(what, options);
  const cells = toCells(sections, columns, "", new Set(), new Map());
  const node = draw(cells, {
    what,
    columns,
    cellSize,
    maxCells,
    panels: null,
    title: options.title ?? "Sections (128 MiB each)",
    subtitle: options.subtitle,
    caption: options.caption ?? DEFAULT_CAPTION,
  });
  return finish(node, `section map: ${sections.length} sections (${counts(sections)})`);
}
