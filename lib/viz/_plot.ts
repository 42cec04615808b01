/**
 * Private helpers of the figures: one linkedom document per figure, the
 * finishing step every figure goes through (deterministic ids, SVG
 * namespace, the display bundle), and number formats.
 *
 * @module
 */
import { parseHTML } from "linkedom";
import type { PlotOptions } from "@observablehq/plot";
import { Display, html, withSvgNamespace } from "./display.ts";

/** The type of Plot's `document` option. */
export type PlotDocument = NonNullable<PlotOptions["document"]>;

/** A fresh server-side document for Plot's `document` option. */
export function newDocument(): PlotDocument {
  // linkedom types its result as the dom lib's Window, which lib/ does not load
  const win = parseHTML("<!doctype html><html><body></body></html>") as unknown as {
    document: PlotDocument;
  };
  return win.document;
}

/** Style every figure uses: readable on a dark page and in VS Code's forced white. */
export const FIGURE_STYLE = {
  background: "white",
  color: "#111",
  fontSize: "11px",
  overflow: "visible",
} as const;

/** FNV-1a, 32 bits, as 8 hex digits. */
export function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/**
 * Makes Plot's markup deterministic and page-safe: Plot numbers clip paths,
 * markers and patterns from module-level counters (`plot-clip-7`), so the
 * same figure differs from call to call and two figures on a page could
 * share an id. Ids are renumbered from 1 in order of appearance and prefixed
 * with a hash of the figure's content: equal figures get equal ids (harmless),
 * different figures different ones.
 */
export function scopeIds(markup: string): string {
  const ids = new Map<string, string>();
  const norm = markup.replace(/\bplot-(clip|marker|pattern)-\d+\b/g, (m, kind: string) => {
    let v = ids.get(m);
    if (v === undefined) {
      v = `${kind}-${ids.size + 1}`;
      ids.set(m, v);
    }
    return `memremap-ID-${v}`;
  });
  if (ids.size === 0) return norm;
  const prefix = `memremap-${fnv1a(norm)}-`;
  return norm.replace(/memremap-ID-/g, prefix);
}

/** The finished figure: deterministic ids, `xmlns` on every svg, `text/html` + `text/plain`. */
export function finish(node: { outerHTML: string }, alt: string): Display {
  return html(withSvgNamespace(scopeIds(node.outerHTML)), alt);
}

/**
 * A duration in ns as people read it: "850 ns", "1.2 µs", "3.5 ms", "2 s".
 *
 * @example
 * ```ts ignore
 * formatNs(1234) === "1.23 µs"
 * ```
 */
export function formatNs(ns: number): string {
  const a = Math.abs(ns);
  const [div, unit] = a >= 1e9 ? [1e9, "s"] : a >= 1e6 ? [1e6, "ms"] : a >= 1e3 ? [1e3, "µs"] : [
    1,
    "ns",
  ];
  const v = ns / div;
  return `${+v.toPrecision(3)} ${unit}`;
}

/** A byte address or size in the largest binary unit that gives a whole number of quarters, else hex. */
export function formatBytes(b: number): string {
  if (b === 0) return "0";
  const units = [[2 ** 50, "PiB"], [2 ** 40, "TiB"], [2 ** 30, "GiB"], [2 ** 20, "MiB"]] as const;
  for (const [div, unit] of units) {
    if (b >= div && (b * 4) % div === 0) return `${b / div} ${unit}`;
  }
  return `0x${b.toString(16)}`;
}

/** The time unit that keeps the largest of `maxNs` under 10,000 units. */
export function timeUnit(maxNs: number): { div: number; unit: "ns" | "µs" | "ms" | "s" } {
  if (maxNs < 1e4) return { div: 1, unit: "ns" };
  if (maxNs < 1e7) return { div: 1e3, unit: "µs" };
  if (maxNs < 1e10) return { div: 1e6, unit: "ms" };
  return { div: 1e9, unit: "s" };
}

/** Checks a positive finite size option. */
export function checkSize(what: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(
      `Cannot draw ${what}: ${name} must be a positive number, got ${String(v)}`,
    );
  }
  return v;
}
