/**
 * Two section maps side by side — two moments of one machine, or one moment
 * at two series levels — and the list of sections that differ.
 *
 * @module
 */
import type { Display } from "./display.ts";
import { finish } from "./_plot.ts";
import { checkInput, DEFAULT_CAPTION, draw, freeCell, layout, toCells } from "./_section-grid.ts";
import type { SectionMapOptions } from "./section-map.ts";
import { memoryTypeKey, type SectionCell, type SectionMapInput } from "./sections.ts";

/** One difference between two section maps. */
export interface SectionChange {
  /** Section number. */
  nr: number;
  /** The section in the first map (a free cell if absent there). */
  before: SectionCell;
  /** The section in the second map (a free cell if absent there). */
  after: SectionCell;
  /** What changed, in words ("added", "linear map removed", "memmap ram → device", ...). */
  what: string[];
}

/**
 * The sections that differ between two maps, by section number. A number
 * present in only one map is compared with a free, unmapped section.
 *
 * @example
 * ```ts
 * import { diffSections } from "./section-map-diff.ts";
 * import { assertEquals } from "@std/assert";
 * const S = 2 ** 27;
 * const a = { sections: [{ nr: 128, start: 128 * S, kind: "free" as const, linearMap: false, memmap: "none" as const }] };
 * const b = { sections: [{ nr: 128, start: 128 * S, kind: "device" as const, type: "private", pgmapId: 2, linearMap: false, memmap: "ram" as const }] };
 * assertEquals(diffSections(a, b).map((c) => c.what), [["added", "pgmap 2", "type private", "memmap none → ram"]]);
 * ```
 */
export function diffSections(a: SectionMapInput, b: SectionMapInput): SectionChange[] {
  const sa = new Map(checkInput(a, "a section diff").map((s) => [s.nr, s]));
  const sb = new Map(checkInput(b, "a section diff").map((s) => [s.nr, s]));
  const nrs = [...new Set([...sa.keys(), ...sb.keys()])].sort((x, y) => x - y);
  const out: SectionChange[] = [];
  for (const nr of nrs) {
    const before = sa.get(nr) ?? freeCell(nr);
    const after = sb.get(nr) ?? freeCell(nr);
    const what: string[] = [];
    if (before.kind !== after.kind) {
      what.push(
        before.kind === "free"
          ? "added"
          : after.kind === "free"
          ? "removed"
          : `${before.kind} → ${after.kind}`,
      );
    }
    if (before.pgmapId !== after.pgmapId) {
      what.push(
        before.pgmapId === undefined
          ? `pgmap ${after.pgmapId}`
          : after.pgmapId === undefined
          ? `pgmap ${before.pgmapId} gone`
          : `pgmap ${before.pgmapId} → ${after.pgmapId}`,
      );
    }
    const ta = before.kind === "device" ? memoryTypeKey(before.type) : undefined;
    const tb = after.kind === "device" ? memoryTypeKey(after.type) : undefined;
    if (ta !== tb && tb !== undefined && after.type !== undefined) {
      what.push(ta === undefined ? `type ${tb}` : `type ${ta} → ${tb}`);
    }
    if (before.linearMap !== after.linearMap) {
      what.push(after.linearMap ? "linear map added" : "linear map removed");
    }
    if (before.memmap !== after.memmap) what.push(`memmap ${before.memmap} → ${after.memmap}`);
    if (!!before.leaked !== !!after.leaked) what.push(after.leaked ? "leaked" : "no longer leaked");
    if (what.length > 0) out.push({ nr, before, after, what });
  }
  return out;
}

/** Options of {@link sectionMapDiff}: those of sectionMap, and the names of the two moments. */
export interface SectionMapDiffOptions extends SectionMapOptions {
  /** Panel names (default ["before", "after"]). */
  labels?: readonly [string, string];
}

/**
 * Draws two section maps side by side — two moments of one machine, or one
 * moment at two series levels — with the same colours, and outlines in black
 * every section that differs ({@link diffSections}). A section number present
 * on one side only is drawn as free on the other.
 *
 * @param a the first map.
 * @param b the second map.
 * @param options panel labels, layout and titles.
 * @returns the figure as a `text/html` display; its text lists the changes.
 *
 * @example A private device range added without a linear map
 * ```ts
 * import { sectionMapDiff } from "./section-map-diff.ts";
 * import type { SectionCell } from "./sections.ts";
 * import { assert } from "@std/assert";
 * const S = 2 ** 27;
 * const ram: SectionCell = { nr: 0, start: 0, kind: "ram", linearMap: true, memmap: "ram" };
 * const free: SectionCell = { nr: 1, start: S, kind: "free", linearMap: false, memmap: "none" };
 * const dev: SectionCell = { ...free, kind: "device", type: "private", pgmapId: 1, memmap: "ram" };
 * const fig = sectionMapDiff({ sections: [ram, free] }, { sections: [ram, dev] }, {
 *   labels: ["before probe", "after probe"],
 * });
 * assert(fig.text.includes("1 section differs"));
 * assert(fig.text.includes("section 1: added, pgmap 1, type private, memmap none → ram"));
 * ```
 */
export function sectionMapDiff(
  a: SectionMapInput,
  b: SectionMapInput,
  options: SectionMapDiffOptions = {},
): Display {
  const what = "a section map diff";
  const sa = checkInput(a, what);
  const sb = checkInput(b, what);
  const { columns, cellSize, maxCells } = layout(what, options);
  const [la, lb] = options.labels ?? ["before", "after"];
  if (la === lb) throw new RangeError(`Cannot draw ${what}: the two labels are both "${la}"`);
  const changes = diffSections(a, b);
  const changed = new Set(changes.map((c) => c.nr));
  const text = new Map(changes.map((c) => [c.nr, c.what.join(", ")]));
  // both panels show every section number either side has
  const na = new Set(sa.map((s) => s.nr)), nb = new Set(sb.map((s) => s.nr));
  const fullA = [...sa, ...sb.filter((s) => !na.has(s.nr)).map((s) => freeCell(s.nr))];
  const fullB = [...sb, ...sa.filter((s) => !nb.has(s.nr)).map((s) => freeCell(s.nr))];
  const cells = [
    ...toCells(fullA, columns, la, changed, text),
    ...toCells(fullB, columns, lb, changed, text),
  ];
  const n = changes.length;
  const node = draw(cells, {
    what,
    columns,
    cellSize,
    maxCells: maxCells * 2,
    panels: [la, lb],
    title: options.title ?? `Sections: ${la} → ${lb}`,
    subtitle: options.subtitle ??
      `${n} section${n === 1 ? "" : "s"} differ${n === 1 ? "s" : ""} (outlined)`,
    caption: options.caption ?? DEFAULT_CAPTION,
  });
  const lines = changes.slice(0, 20).map((c) => `  section ${c.nr}: ${c.what.join(", ")}`);
  if (changes.length > 20) lines.push(`  … and ${changes.length - 20} more`);
  return finish(
    node,
    [
      `section map diff ${la} → ${lb}: ${n} section${n === 1 ? "" : "s"} differ${
        n === 1 ? "s" : ""
      }`,
      ...lines,
    ]
      .join("\n"),
  );
}
