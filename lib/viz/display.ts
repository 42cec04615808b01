/**
 * The project's one display path for notebooks: MIME bundles with a
 * `text/html` part and a `text/plain` fallback, sent to the Deno Jupyter
 * kernel by {@link show}.
 *
 * ## How a cell ends
 *
 * Every code cell whose output matters ends with `await show(...)`:
 *
 * ```ts ignore
 * await show(refcountTimeline(percpuRefDemo()));
 * ```
 *
 * `show` sends each value as its own `display_data` message through
 * `Deno.jupyter.display(bundle, { raw: true })` and resolves when the kernel
 * has taken it. Why not return a wrapper as the cell's last expression?
 *
 * - The kernel can report `idle` while a cell's `execute_result` is still in
 *   flight; nbclient then loses it (14 in 180 under nbconvert, measured in
 *   research/deno-notebooks.md §0), twice as often as an awaited
 *   `display_data` (7 in 180). Our report executor keeps collecting after
 *   `idle`, so neither is lost there; nbconvert is where the difference shows.
 * - A cell has one result but may have many displays (denoland/deno#28505):
 *   `await show(a, b)` shows both, in order.
 * - `await show(x)` leaves `undefined` as the cell's value, which the kernel
 *   does not display: there is no trailing expression left to drop or to show
 *   twice. Always await: the Deno kernel (2.9.6) awaits a trailing promise
 *   and then displays it, so `show(x)` without `await` shows the figure and,
 *   after it, a stray `Promise { undefined }` result (measured).
 *
 * `show` does not sleep. The research prototype (§1.6) paused 20 ms after
 * each display so that nbclient would see it before `idle`; our executor
 * drains late outputs instead, and nbconvert runs count missing outputs
 * rather than fail on them.
 *
 * Without a kernel (deno test, deno run), `show` prints the
 * `text/plain` part to stdout, so a script built from a notebook's cells runs
 * unchanged.
 *
 * Figures are `text/html`, never `image/svg+xml`: JupyterLab renders SVG
 * through an `<img>` (blank without `xmlns`, refused when untrusted) and
 * nbconvert's HTML sanitiser strips an SVG's children (§1.2). The `<svg>`
 * elements still carry `xmlns`, so a figure copied out as a file opens.
 *
 * @module
 */

/**
 * The key of the kernel's display protocol: `Symbol.for("Jupyter.display")`.
 *
 * @example
 * ```ts
 * import { JUPYTER_DISPLAY } from "./display.ts";
 * import { assert } from "@std/assert";
 * assert(JUPYTER_DISPLAY === Symbol.for("Jupyter.display"));
 * ```
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display");

/** The SVG namespace, set on every `<svg>` the helpers emit. */
export const SVG_NS = "http://www.w3.org/2000/svg";

/** A MIME bundle: MIME type → content. Always has `text/plain`. */
export interface MimeBundle {
  /** The plain-text fallback (terminals, `deno test`, screen readers). */
  "text/plain": string;
  /** Other representations, `text/html` first among them. */
  [mime: string]: string;
}

/** Anything the Deno kernel displays through its display protocol. */
export interface Displayable {
  /** Returns the MIME bundle to display. */
  [JUPYTER_DISPLAY](): MimeBundle;
}

/** A DOM node (Plot's SVGElement or HTMLElement, linkedom's or a browser's). */
export interface HasOuterHTML {
  /** The node serialised as markup. */
  readonly outerHTML: string;
}

/**
 * A value ready to display: a fixed MIME bundle. Figures, tables and text
 * are all `Display`s; the kernel displays one through {@link JUPYTER_DISPLAY}
 * and {@link show} sends its bundle.
 *
 * @example A bundle with an HTML part and a plain-text fallback
 * ```ts
 * import { Display, JUPYTER_DISPLAY } from "./display.ts";
 * import { assertEquals } from "@std/assert";
 * const d = new Display({ "text/html": "<b>hi</b>", "text/plain": "hi" });
 * assertEquals(d[JUPYTER_DISPLAY](), { "text/html": "<b>hi</b>", "text/plain": "hi" });
 * assertEquals([d.html, d.text, String(d)], ["<b>hi</b>", "hi", "hi"]);
 * ```
 */
export class Display implements Displayable {
  readonly #bundle: Readonly<MimeBundle>;

  /**
   * Creates the object.
   * @param bundle the MIME bundle (copied).
   */
  constructor(bundle: MimeBundle) {
    if (typeof bundle?.["text/plain"] !== "string") {
      throw new TypeError("Cannot create a display: the bundle has no text/plain string");
    }
    this.#bundle = Object.freeze({ ...bundle });
  }

  /** A copy of the MIME bundle. */
  get bundle(): MimeBundle {
    return { ...this.#bundle };
  }

  /** The `text/html` part, or undefined. */
  get html(): string | undefined {
    return this.#bundle["text/html"];
  }

  /** The `text/plain` part. */
  get text(): string {
    return this.#bundle["text/plain"];
  }

  /** The bundle, for the Deno kernel. */
  [JUPYTER_DISPLAY](): MimeBundle {
    return this.bundle;
  }

  /** The plain-text part. */
  toString(): string {
    return this.text;
  }
}

/**
 * Escapes `&`, `<`, `>` and `"` for HTML text and attribute values.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./display.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(escapeHtml('<a href="x">&</a>'), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/**
 * Adds `xmlns="http://www.w3.org/2000/svg"` to every `<svg>` start tag that
 * lacks one (Plot, serialised by linkedom, emits none), and gives a root
 * `<svg>` without `width`/`height` the size of its `viewBox`.
 *
 * @example
 * ```ts
 * import { withSvgNamespace } from "./display.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(
 *   withSvgNamespace('<svg viewBox="0 0 40 20"><svg width="5" height="5"></svg></svg>'),
 *   '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" viewBox="0 0 40 20">' +
 *     '<svg xmlns="http://www.w3.org/2000/svg" width="5" height="5"></svg></svg>',
 * );
 * ```
 */
export function withSvgNamespace(markup: string): string {
  return markup.replace(/<svg\b([^>]*)>/g, (_tag, attrs: string) => {
    let a = attrs;
    if (!/\swidth=/.test(a) && !/\sheight=/.test(a)) {
      const vb = /\sviewBox="\s*[-\d.]+[\s,]+[-\d.]+[\s,]+([\d.]+)[\s,]+([\d.]+)\s*"/.exec(a);
      if (vb) a = ` width="${vb[1]}" height="${vb[2]}"${a}`;
    }
    if (!/\sxmlns=/.test(a)) a = ` xmlns="${SVG_NS}"${a}`;
    return `<svg${a}>`;
  });
}

function hasOuterHTML(v: unknown): v is HasOuterHTML {
  return typeof v === "object" && v !== null && "outerHTML" in v &&
    typeof (v as HasOuterHTML).outerHTML === "string";
}

function isDisplayable(v: unknown): v is Displayable {
  return (typeof v === "object" || typeof v === "function") && v !== null &&
    typeof (v as Partial<Displayable>)[JUPYTER_DISPLAY] === "function";
}

function isRecordArray(v: unknown): v is Record<string, unknown>[] {
  return Array.isArray(v) && v.length > 0 &&
    v.every((r) => typeof r === "object" && r !== null && !Array.isArray(r));
}

/** The accessible name of a node's markup: its `<h2>` title or `aria-label`, if any. */
function altOf(markup: string): string {
  const h2 = /<h2[^>]*>([^<]*)<\/h2>/.exec(markup);
  if (h2?.[1]) return `[figure: ${h2[1]}]`;
  const aria = /^<[a-z]+[^>]*\saria-label="([^"]*)"/.exec(markup);
  return aria?.[1] ? `[figure: ${aria[1]}]` : "[figure]";
}

/**
 * Trusted HTML as a display (SVG inside gets its namespace).
 *
 * @param markup HTML the caller built and trusts (not escaped).
 * @param alt the `text/plain` fallback.
 *
 * @example
 * ```ts
 * import { html } from "./display.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(html("<p>pmem0</p>", "pmem0").bundle, {
 *   "text/html": "<p>pmem0</p>",
 *   "text/plain": "pmem0",
 * });
 * ```
 */
export function html(markup: string, alt: string): Display {
  return new Display({ "text/html": withSvgNamespace(markup), "text/plain": alt });
}

/**
 * Plain text as a display (`text/plain` only; the kernel shows it verbatim).
 *
 * @example
 * ```ts
 * import { text } from "./display.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(text("devm_memremap_pages → 0").bundle, { "text/plain": "devm_memremap_pages → 0" });
 * ```
 */
export function text(s: string): Display {
  return new Display({ "text/plain": String(s) });
}

/** Options of {@link table}. */
export interface TableOptions {
  /** Columns, in order (default: the keys of the rows, in first-seen order). */
  columns?: readonly string[];
  /** A caption above the table. */
  caption?: string;
  /** Per-column formatters (default: numbers with thousands separators, the rest as String). */
  format?: Readonly<Record<string, (value: unknown) => string>>;
}

function defaultFormat(v: unknown): string {
  if (typeof v === "number") {
    return Number.isInteger(v) ? v.toLocaleString("en-US") : String(+v.toPrecision(6));
  }
  if (typeof v === "bigint") return `0x${v.toString(16)}`;
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/**
 * An array of records as a table: an HTML `<table>` (cells escaped, numbers
 * right-aligned) with an aligned plain-text fallback.
 *
 * @example
 * ```ts
 * import { table } from "./display.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const t = table([{ dev: "pmem0", sections: 16 }, { dev: "pmem1", sections: 2048 }]);
 * assertEquals(t.text, "dev    sections\npmem0        16\npmem1     2,048");
 * assert(t.html!.includes('<td class="num">2,048</td>'));
 * ```
 */
export function table(
  rows: readonly Readonly<Record<string, unknown>>[],
  options: TableOptions = {},
): Display {
  if (!Array.isArray(rows)) {
    throw new TypeError("Cannot make a table: rows must be an array of records");
  }
  const columns = options.columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const fmt = (c: string, v: unknown) => (options.format?.[c] ?? defaultFormat)(v);
  const cells = rows.map((r) => columns.map((c) => fmt(c, r[c])));
  const numeric = columns.map((c) =>
    rows.length > 0 && rows.every((r) => typeof r[c] === "number" || r[c] === undefined)
  );
  const widths = columns.map((c, j) => Math.max(c.length, ...cells.map((row) => row[j]!.length)));
  const line = (vals: readonly string[]) =>
    vals.map((v, j) => numeric[j] ? v.padStart(widths[j]!) : v.padEnd(widths[j]!)).join("  ")
      .trimEnd();
  const plain = [
    ...(options.caption ? [options.caption] : []),
    line(columns),
    ...cells.map(line),
  ].join("\n");
  const td = (v: string, j: number, tag: "td" | "th") =>
    `<${tag}${numeric[j] ? ' class="num"' : ""}>${escapeHtml(v)}</${tag}>`;
  const markup = [
    '<table class="memremap-table">',
    options.caption ? `<caption>${escapeHtml(options.caption)}</caption>` : "",
    `<thead><tr>${columns.map((c, j) => td(c, j, "th")).join("")}</tr></thead>`,
    `<tbody>${
      cells.map((row) => `<tr>${row.map((v, j) => td(v, j, "td")).join("")}</tr>`).join("")
    }</tbody>`,
    "</table>",
    "<style>.memremap-table td.num,.memremap-table th.num{text-align:right;font-variant-numeric:tabular-nums}</style>",
  ].join("");
  return new Display({ "text/html": markup, "text/plain": plain });
}

/** Options of {@link display}. */
export interface DisplayOptions {
  /** The `text/plain` fallback of a DOM node (default: its title, else "[figure]"). */
  alt?: string;
}

/**
 * Turns any value into a {@link Display}:
 *
 * - a `Display` is returned as is; another displayable (`Deno.jupyter.html`,
 *   ...) keeps its bundle, with SVG namespaces added to its HTML;
 * - a DOM node (Plot's output) becomes `text/html` with `xmlns` on every
 *   `<svg>`, and `text/plain` from `alt` or its title;
 * - a non-empty array of records becomes a {@link table};
 * - a string is `text/plain` as is; anything else is `text/plain` through
 *   `Deno.inspect` without colours.
 *
 * @example A Plot figure becomes text/html with the SVG namespace
 * ```ts
 * /// <reference lib="dom" />
 * import * as Plot from "@observablehq/plot";
 * import { parseHTML } from "linkedom";
 * import { display } from "./display.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const { document } = parseHTML("<!doctype html><html><body></body></html>");
 * const svg = Plot.plot({ document, marks: [Plot.dot([[1, 2]])] });
 * const d = display(svg, { alt: "one dot" });
 * assert(d.html!.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
 * assertEquals(d.text, "one dot");
 * assertEquals(display([{ a: 1 }]).text, "a\n1");
 * ```
 */
export function display(value: unknown, options: DisplayOptions = {}): Display {
  if (value instanceof Display) return value;
  if (isDisplayable(value)) {
    const b = { ...value[JUPYTER_DISPLAY]() } as Record<string, unknown>;
    const out: MimeBundle = {
      "text/plain": typeof b["text/plain"] === "string" ? b["text/plain"] : "",
    };
    for (const [k, v] of Object.entries(b)) {
      if (typeof v === "string") out[k] = k === "text/html" ? withSvgNamespace(v) : v;
    }
    return new Display(out);
  }
  if (hasOuterHTML(value)) {
    const markup = value.outerHTML;
    return html(markup, options.alt ?? altOf(markup));
  }
  if (isRecordArray(value)) return table(value);
  if (typeof value === "string") return text(value);
  return text(Deno.inspect(value, { colors: false, depth: 4 }));
}

/** The part of `Deno.jupyter` the helper uses (typed here: it is an unstable API). */
interface JupyterDisplayApi {
  display(obj: unknown, options?: { raw?: boolean }): Promise<void>;
}

/** `Deno.jupyter` inside the kernel, null elsewhere (where reading it throws). */
function jupyter(): JupyterDisplayApi | null {
  try {
    const j = (Deno as unknown as { jupyter?: JupyterDisplayApi }).jupyter;
    return j !== undefined && typeof j.display === "function" ? j : null;
  } catch {
    return null;
  }
}

/**
 * Displays each value, in order, as its own output: inside the Deno Jupyter
 * kernel through `Deno.jupyter.display(bundle, { raw: true })`, elsewhere by
 * printing its `text/plain` part. End every cell whose output matters with
 * `await show(...)` (see the module documentation for why). Never sleeps.
 *
 * @param values anything {@link display} accepts.
 * @returns a promise that resolves once every value was handed to the kernel.
 *
 * @example Outside a kernel, show prints the plain-text fallback
 * ```ts
 * import { show, text } from "./display.ts";
 * import { assertEquals } from "@std/assert";
 * const printed: string[] = [];
 * const log = console.log;
 * console.log = (s: string) => printed.push(s);
 * try {
 *   await show(text("ref count 3"), "done");
 * } finally {
 *   console.log = log;
 * }
 * assertEquals(printed, ["ref count 3", "done"]);
 * ```
 */
export async function show(...values: unknown[]): Promise<void> {
  const bundles = values.map((v) => display(v).bundle);
  const j = jupyter();
  for (const b of bundles) {
    if (j !== null) await j.display(b, { raw: true });
    else console.log(b["text/plain"]);
  }
}
