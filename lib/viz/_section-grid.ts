/**
 * Private: validation and drawing shared by sectionMap and sectionMapDiff —
 * a grid of cells, `columns` sections to a row, with the linear-map bar, the
 * altmap dot, pgmap ids and (in a diff) outlines.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { SECTION_SIZE } from "../kernel/mm/constants.ts";
import { checkSize, FIGURE_STYLE, formatBytes, newDocument } from "./_plot.ts";
import type { SectionMapOptions } from "./section-map.ts";
import {
  SECTION_CATEGORIES,
  SECTION_COLORS,
  type SectionCategory,
  sectionCategory,
  type SectionCell,
  type SectionMapInput,
} from "./sections.ts";

const KINDS = new Set(["ram", "device", "free"]);
const MEMMAPS = new Set(["ram", "device", "none"]);

export function checkInput(input: SectionMapInput, what: string): readonly SectionCell[] {
  const sections = input?.sections;
  if (!Array.isArray(sections)) {
    throw new TypeError(`Cannot draw ${what}: expected { sections: [...] }`);
  }
  const seen = new Set<number>();
  sections.forEach((s: SectionCell, i: number) => {
    const at = `${what}: sections[${i}]`;
    if (!Number.isSafeInteger(s?.nr) || s.nr < 0) {
      throw new RangeError(`Cannot draw ${at}.nr must be a non-negative integer`);
    }
    if (s.start !== s.nr * SECTION_SIZE) {
      throw new RangeError(
        `Cannot draw ${at}.start must be nr × 128 MiB (0x${(s.nr * SECTION_SIZE).toString(16)})`,
      );
    }
    if (!KINDS.has(s.kind)) {
      throw new TypeError(`Cannot draw ${at}.kind must be "ram", "device" or "free"`);
    }
    if (!MEMMAPS.has(s.memmap)) {
      throw new TypeError(`Cannot draw ${at}.memmap must be "ram", "device" or "none"`);
    }
    if (typeof s.linearMap !== "boolean") {
      throw new TypeError(`Cannot draw ${at}.linearMap must be a boolean`);
    }
    if (seen.has(s.nr)) throw new RangeError(`Cannot draw ${at}: section ${s.nr} appears twice`);
    seen.add(s.nr);
  });
  return sections;
}

/** A free, unmapped section (what a number missing from one side of a diff is). */
export function freeCell(nr: number): SectionCell {
  return { nr, start: nr * SECTION_SIZE, kind: "free", linearMap: false, memmap: "none" };
}

export function describe(s: SectionCell): string {
  const parts = [
    `section ${s.nr} · ${formatBytes(s.start)}`,
    sectionCategory({ ...s, leaked: false }),
  ];
  if (s.pgmapId !== undefined) parts.push(`pgmap ${s.pgmapId}`);
  parts.push(s.linearMap ? "linear map" : "no linear map");
  if (s.memmap !== "none") {
    parts.push(`memmap in ${s.memmap === "device" ? "device (altmap)" : "RAM"}`);
  }
  if (s.leaked) parts.push("LEAKED");
  if (s.note) parts.push(s.note);
  return parts.join(" · ");
}

/** One drawn cell: a section in a panel. */
export interface Cell {
  nr: number;
  row: number;
  col: number;
  category: SectionCategory;
  linearMap: boolean;
  onDevice: boolean;
  label: string;
  title: string;
  panel: string;
  changed: boolean;
}

export const DEFAULT_CAPTION =
  "Bar along a cell's top: in the linear map. White dot: memmap on the device (altmap). Number: pgmap id.";

export function layout(
  what: string,
  options: SectionMapOptions,
): { columns: number; cellSize: number; maxCells: number } {
  const columns = options.columns ?? 32;
  if (!Number.isInteger(columns) || columns < 1) {
    throw new RangeError(`Cannot draw ${what}: columns must be a positive integer, got ${columns}`);
  }
  const cellSize = checkSize(what, "cellSize", options.cellSize ?? 16);
  const maxCells = checkSize(what, "maxCells", options.maxCells ?? 20_000);
  return { columns, cellSize, maxCells };
}

export function toCells(
  sections: readonly SectionCell[],
  columns: number,
  panel: string,
  changed: ReadonlySet<number>,
  changeText: ReadonlyMap<number, string>,
): Cell[] {
  return sections.map((s) => ({
    nr: s.nr,
    row: Math.floor(s.nr / columns),
    col: s.nr % columns,
    category: sectionCategory(s),
    linearMap: s.linearMap,
    onDevice: s.memmap === "device",
    label: s.kind === "device" && s.pgmapId !== undefined ? String(s.pgmapId) : "",
    title: describe(s) + (changeText.has(s.nr) ? ` · changed: ${changeText.get(s.nr)}` : ""),
    panel,
    changed: changed.has(s.nr),
  }));
}

export function draw(cells: Cell[], opts: {
  what: string;
  columns: number;
  cellSize: number;
  maxCells: number;
  panels: readonly string[] | null;
  title: string;
  subtitle?: string | undefined;
  caption: string;
}): ReturnType<typeof Plot.plot> {
  const { columns, cellSize, panels } = opts;
  if (cells.length === 0) {
    throw new RangeError(`Cannot draw ${opts.what}: there are no sections to draw`);
  }
  if (cells.length > opts.maxCells) {
    throw new RangeError(
      `Cannot draw ${opts.what}: ${cells.length} cells exceed maxCells ${opts.maxCells} (draw a window of sections)`,
    );
  }
  const rows = [...new Set(cells.map((c) => c.row))].sort((a, b) => a - b);
  const cols = Array.from({ length: columns }, (_, i) => i);
  const nPanels = panels?.length ?? 1;
  const marginLeft = 64, marginRight = 16, marginTop = panels ? 28 : 22, marginBottom = 30;
  const panelGap = panels ? 24 : 0;
  const width = marginLeft + marginRight + nPanels * columns * cellSize + (nPanels - 1) * panelGap;
  const height = marginTop + marginBottom + rows.length * cellSize;
  const tickEvery = columns >= 8 && columns % 8 === 0 ? columns / 4 : columns;
  const fx = panels ? { fx: "panel" } : {};
  const marks: Plot.Markish[] = [
    Plot.cell(cells, { x: "col", y: "row", ...fx, fill: "category", inset: 0.5, title: "title" }),
    Plot.cell(cells.filter((c) => c.linearMap), {
      x: "col",
      y: "row",
      ...fx,
      fill: "#1f3b73",
      insetTop: 0.5,
      insetLeft: 0.5,
      insetRight: 0.5,
      insetBottom: Math.max(1, cellSize - 3.5),
    }),
    Plot.dot(cells.filter((c) => c.onDevice), {
      x: "col",
      y: "row",
      ...fx,
      r: Math.max(1.5, cellSize / 7),
      fill: "white",
      stroke: "#333",
      strokeWidth: 0.75,
      dx: cellSize / 4,
      dy: cellSize / 5,
    }),
  ];
  if (cellSize >= 14) {
    marks.push(Plot.text(cells.filter((c) => c.label !== ""), {
      x: "col",
      y: "row",
      ...fx,
      text: "label",
      dx: -cellSize / 8,
      dy: 1,
      fontSize: Math.min(10, cellSize * 0.55),
      fill: (c: Cell) => c.category === "leaked" ? "white" : "#222",
    }));
  }
  const changed = cells.filter((c) => c.changed);
  if (changed.length > 0) {
    marks.push(Plot.cell(changed, {
      x: "col",
      y: "row",
      ...fx,
      fill: "none",
      stroke: "#111",
      strokeWidth: 2,
      inset: 1,
    }));
  }
  const plotOpts: Plot.PlotOptions = {
    document: newDocument(),
    width,
    height,
    marginLeft,
    marginRight,
    marginTop,
    marginBottom,
    style: FIGURE_STYLE,
    title: opts.title,
    caption: opts.caption,
    x: {
      domain: cols,
      padding: 0,
      ticks: cols.filter((c) => c % tickEvery === 0),
      tickFormat: (c: number) => c === 0 ? "+0" : `+${formatBytes(c * SECTION_SIZE)}`,
      label: null,
      tickSize: 3,
    },
    y: {
      domain: rows,
      padding: 0,
      tickFormat: (r: number) => formatBytes(r * columns * SECTION_SIZE),
      label: null,
      tickSize: 3,
    },
    color: {
      domain: [...SECTION_CATEGORIES],
      range: SECTION_CATEGORIES.map((c) => SECTION_COLORS[c]),
      legend: true,
    },
    marks,
  };
  if (panels) {
    plotOpts.fx = {
      domain: [...panels],
      label: null,
      padding: panelGap / (columns * cellSize + panelGap),
    };
  }
  if (opts.subtitle !== undefined) plotOpts.subtitle = opts.subtitle;
  return Plot.plot(plotOpts);
}

export function counts(sections: readonly SectionCell[]): string {
  const n = new Map<SectionCategory, number>();
  for (const s of sections) n.set(sectionCategory(s), (n.get(sectionCategory(s)) ?? 0) + 1);
  return SECTION_CATEGORIES.filter((c) => n.has(c)).map((c) => `${c} ${n.get(c)}`).join(", ");
}
