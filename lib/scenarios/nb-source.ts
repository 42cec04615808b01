/**
 * The notebooks' view of the model's own code: every place a guard such as
 * `applied(3)` sits in a lib/kernel file, with the comment that names the
 * patch and the block the guard chooses — so a notebook can show "the path
 * before and after" from the source it runs, never from the kernel's text.
 *
 * @module
 */
import { type Display, escapeHtml, html } from "../viz/display.ts";

/** One guard site: its enclosing function and the lines around it. */
export interface GuardSite {
  /** The enclosing function (or table key), "" at top level. */
  fn: string;
  /** 1-based number of the first line shown. */
  first: number;
  /** The lines shown, as in the file. */
  lines: string[];
}

const FN_RE =
  /^(?:export )?(?:async )?function\*? ?([A-Za-z_$][\w$]*)|^ {2}([A-Za-z_$][\w$]*): \{$/;

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/** The end (inclusive) of the statement or block that starts at line `i`. */
function blockEnd(lines: readonly string[], i: number, maxLines: number): number {
  const start = lines[i]!;
  const indent = indentOf(start);
  const limit = Math.min(lines.length - 1, i + maxLines - 1);
  if (/[{(]$/.test(start.trimEnd())) {
    for (let j = i + 1; j <= limit; j++) {
      const l = lines[j]!;
      if (indentOf(l) === indent && /^[}\])]/.test(l.trim()) && !/\{$/.test(l.trimEnd())) {
        return j;
      }
    }
    return limit;
  }
  for (let j = i; j <= limit; j++) if (/[;,]$/.test(lines[j]!.trimEnd())) return j;
  return i;
}

/**
 * Finds every line of `source` containing `guard` (e.g. "applied(3)") and
 * returns, per site, the comment lines just above it, the guarded block or
 * statement (at most `maxLines` lines) and the enclosing function. Sites
 * whose lines overlap are merged.
 *
 * @example
 * ```ts
 * import { guardSites } from "./nb-source.ts";
 * import { assertEquals } from "@std/assert";
 * const src = [
 *   "function* f(k) {",
 *   "  // patch 2/7: refuse RAM",
 *   "  if (k.applied(2)) {",
 *   "    return -6;",
 *   "  }",
 *   "}",
 * ].join("\n");
 * const [site] = guardSites(src, "applied(2)");
 * assertEquals([site!.fn, site!.first, site!.lines.length], ["f", 2, 4]);
 * ```
 */
export function guardSites(source: string, guard: string, maxLines = 16): GuardSite[] {
  if (guard.length === 0) throw new RangeError("Cannot find guard sites: the guard is empty");
  const lines = source.split("\n");
  const spans: { fn: string; a: number; b: number }[] = [];
  let fn = "";
  for (let i = 0; i < lines.length; i++) {
    const m = FN_RE.exec(lines[i]!);
    if (m !== null) fn = m[1] ?? m[2] ?? "";
    if (!lines[i]!.includes(guard)) continue;
    const t = lines[i]!.trim();
    if (t.startsWith("*") || t.startsWith("/**") || t.startsWith("//")) continue; // prose, not code
    let a = i;
    while (a > 0 && lines[a - 1]!.trim().startsWith("//")) a--;
    const b = blockEnd(lines, i, maxLines);
    const last = spans[spans.length - 1];
    if (last !== undefined && a <= last.b + 1) last.b = Math.max(last.b, b);
    else spans.push({ fn, a, b });
  }
  return spans.map((s) => ({ fn: s.fn, first: s.a + 1, lines: lines.slice(s.a, s.b + 1) }));
}

/** Options of {@link guardListing}. */
export interface GuardListingOptions {
  /** At most this many lines per guarded block (default 16). */
  maxLines?: number;
  /** Only the sites inside these functions (default all). */
  functions?: readonly string[];
}

/**
 * The guard sites of one file as a listing: a heading per site (file, line
 * and function) over the numbered lines, as `text/html` with a plain-text
 * fallback.
 *
 * @param file the path shown (e.g. "lib/kernel/memremap.ts").
 * @param source the file's text.
 * @param guard the guard to find (e.g. "applied(3)").
 * @param options block length and a function filter.
 */
export function guardListing(
  file: string,
  source: string,
  guard: string,
  options: GuardListingOptions = {},
): Display {
  const only = options.functions === undefined ? null : new Set(options.functions);
  const sites = guardSites(source, guard, options.maxLines).filter((s) =>
    only === null || only.has(s.fn)
  );
  if (sites.length === 0) {
    throw new RangeError(`Cannot list ${guard} in ${file}: no guard site found`);
  }
  const plain: string[] = [];
  const parts: string[] = [];
  for (const s of sites) {
    const head = `${file}:${s.first}${s.fn ? ` — ${s.fn}` : ""}`;
    const width = String(s.first + s.lines.length).length;
    const body = s.lines.map((l, i) => `${String(s.first + i).padStart(width)}  ${l}`);
    plain.push(head, ...body, "");
    parts.push(
      `<div class="guard-site"><div style="font:600 12px/1.6 ui-monospace,monospace;color:#555">${
        escapeHtml(head)
      }</div><pre style="margin:0 0 10px;padding:6px 8px;background:#f6f8fa;border-radius:4px;` +
        `font-size:12px;line-height:1.45;overflow-x:auto"><code>${
          escapeHtml(body.join("\n"))
        }</code></pre></div>`,
    );
  }
  return html(parts.join(""), plain.join("\n").trimEnd());
}
