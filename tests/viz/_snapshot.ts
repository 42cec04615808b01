/// <reference lib="dom" />
/**
 * Snapshot and structure checks for figures, after Plot's own harness
 * (test/plot-snapshot.js): numbers rounded to 2 decimals, the figure-scoped
 * id prefix and Plot's class hash replaced, one tag per line; compared with
 * tests/viz/__snapshots__/<name>.html.snap (not `.html`: `deno fmt` would
 * reformat it). A missing snapshot is written (and
 * the test says so); `UPDATE_SNAPSHOTS=1` rewrites them all; a mismatch
 * fails, writes the new markup next to a temporary copy and names both.
 *
 * @module
 */
import { assert, AssertionError } from "@std/assert";
import { parseHTML } from "linkedom";
import { SVG_NS } from "../../lib/viz/mod.ts";

const DIR = new URL("./__snapshots__/", import.meta.url);

/** Deterministic, diff-friendly markup: rounded numbers, no hashes, one tag per line. */
export function normalise(html: string): string {
  return html
    .replace(/-?\d+\.\d+/g, (d) => String(+(+d).toFixed(2)))
    .replace(/\bmemremap-[0-9a-f]{8}-/g, "memremap-ID-")
    .replace(/\bplot-[0-9a-f]{6}\b/g, "plot")
    .replace(/></g, ">\n<")
    .trimEnd() + "\n";
}

function firstDifference(a: string, b: string): string {
  const la = a.split("\n"), lb = b.split("\n");
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) {
      return `line ${i + 1}:\n  snapshot: ${la[i] ?? "(end)"}\n  now:      ${lb[i] ?? "(end)"}`;
    }
  }
  return "(no line differs)";
}

/** Compares `html` (normalised) with the committed snapshot `name`; writes it when missing or asked to. */
export async function assertSnapshot(name: string, html: string): Promise<void> {
  const actual = normalise(html);
  const file = new URL(`${name}.html.snap`, DIR);
  let expected: string | null = null;
  try {
    expected = await Deno.readTextFile(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (expected === null || Deno.env.get("UPDATE_SNAPSHOTS") === "1") {
    await Deno.mkdir(DIR, { recursive: true });
    await Deno.writeTextFile(file, actual);
    if (expected === null) console.warn(`viz snapshot: wrote missing ${file.pathname}`);
    return;
  }
  if (expected === actual) return;
  const changed = await Deno.makeTempFile({ prefix: `${name}-changed-`, suffix: ".html" });
  await Deno.writeTextFile(changed, actual);
  throw new AssertionError({
    message: `figure snapshot "${name}" changed (${firstDifference(expected, actual)})\n` +
      `  snapshot: ${file.pathname}\n  new:      ${changed}\n` +
      "  If the change is intended: UPDATE_SNAPSHOTS=1 deno test -A tests/viz",
  });
}

/** The root `<svg>` elements of a figure (not swatches or nested svgs inside a legend). */
export function parseFigure(html: string): { document: Document; svgs: Element[]; all: Element[] } {
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`) as unknown as {
    document: Document;
  };
  const all = [...document.querySelectorAll("svg")];
  const svgs = all.filter((s) => !s.parentElement?.closest("svg") && !s.closest("span"));
  return { document, svgs, all };
}

/** Every svg carries xmlns and a positive width and height; returns the root svgs. */
export function assertSvgShape(html: string): Element[] {
  const { svgs, all } = parseFigure(html);
  assert(svgs.length > 0, "the figure has no root <svg>");
  for (const s of all) {
    assert(s.getAttribute("xmlns") === SVG_NS, `an <svg> lacks xmlns: ${s.outerHTML.slice(0, 80)}`);
    const w = Number(s.getAttribute("width")), h = Number(s.getAttribute("height"));
    assert(w > 0 && h > 0, `an <svg> has no positive size: width=${w} height=${h}`);
  }
  return svgs;
}

/** The texts of a Plot swatch legend, in order. */
export function legendEntries(html: string): string[] {
  const { document } = parseFigure(html);
  return [...document.querySelectorAll('span[class$="-swatch"]')].map((s) => s.textContent ?? "");
}
