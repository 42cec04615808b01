/**
 * ANSI SGR colour codes (as the kernel writes them into stream text and
 * tracebacks) to HTML spans. The text is escaped; other escape sequences
 * are dropped; a carriage return rewrites its line, as a terminal would.
 *
 * @module
 */
import { escapeHtml } from "./html.ts";

const NAMES = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];

interface Style {
  fg: string | null; // a class suffix ("red", "bright-red") or a css colour ("#rrggbb")
  bg: string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

const plain = (): Style => ({
  fg: null,
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
});

function color256(n: number): string {
  if (n < 8) return NAMES[n]!;
  if (n < 16) return `bright-${NAMES[n - 8]}`;
  if (n < 232) {
    const i = n - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    const [r, g, b] = [Math.floor(i / 36), Math.floor(i / 6) % 6, i % 6].map(level);
    return `#${[r, g, b].map((v) => v!.toString(16).padStart(2, "0")).join("")}`;
  }
  const v = 8 + (n - 232) * 10;
  return `#${v.toString(16).padStart(2, "0").repeat(3)}`;
}

function apply(style: Style, params: number[]): void {
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) Object.assign(style, plain());
    else if (p === 1) style.bold = true;
    else if (p === 2) style.dim = true;
    else if (p === 3) style.italic = true;
    else if (p === 4) style.underline = true;
    else if (p === 22) style.bold = style.dim = false;
    else if (p === 23) style.italic = false;
    else if (p === 24) style.underline = false;
    else if (p >= 30 && p <= 37) style.fg = NAMES[p - 30]!;
    else if (p === 39) style.fg = null;
    else if (p >= 40 && p <= 47) style.bg = NAMES[p - 40]!;
    else if (p === 49) style.bg = null;
    else if (p >= 90 && p <= 97) style.fg = `bright-${NAMES[p - 90]}`;
    else if (p >= 100 && p <= 107) style.bg = `bright-${NAMES[p - 100]}`;
    else if (p === 38 || p === 48) {
      let colour: string | null = null;
      if (params[i + 1] === 5 && params[i + 2] !== undefined) {
        colour = color256(params[i + 2]!);
        i += 2;
      } else if (params[i + 1] === 2 && params[i + 4] !== undefined) {
        const rgb = params.slice(i + 2, i + 5).map((v) => Math.max(0, Math.min(255, v)));
        colour = `#${rgb.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
        i += 4;
      }
      if (p === 38) style.fg = colour;
      else style.bg = colour;
    }
  }
}

function open(style: Style): string {
  const classes: string[] = [];
  const css: string[] = [];
  if (style.fg) {
    style.fg.startsWith("#") ? css.push(`color:${style.fg}`) : classes.push(`ansi-${style.fg}-fg`);
  }
  if (style.bg) {
    style.bg.startsWith("#")
      ? css.push(`background-color:${style.bg}`)
      : classes.push(`ansi-${style.bg}-bg`);
  }
  if (style.bold) classes.push("ansi-bold");
  if (style.dim) classes.push("ansi-dim");
  if (style.italic) classes.push("ansi-italic");
  if (style.underline) classes.push("ansi-underline");
  if (!classes.length && !css.length) return "";
  return `<span${classes.length ? ` class="${classes.join(" ")}"` : ""}${
    css.length ? ` style="${css.join(";")}"` : ""
  }>`;
}

/** Applies carriage returns: each line keeps what follows its last lone `\r`. */
function carriageReturns(text: string): string {
  return text.split("\n").map((line) => {
    const trimmed = line.endsWith("\r") ? line.slice(0, -1) : line;
    const at = trimmed.lastIndexOf("\r");
    return at < 0 ? trimmed : trimmed.slice(at + 1);
  }).join("\n");
}

// deno-lint-ignore no-control-regex
const ESCAPE = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]/g;

/**
 * Converts text containing ANSI escape codes to escaped HTML with colour spans.
 *
 * Classes are `ansi-<colour>-fg`, `ansi-<colour>-bg` (colours `black` ...
 * `white` and `bright-*`), `ansi-bold`, `ansi-dim`, `ansi-italic`,
 * `ansi-underline`; 256-colour and true-colour codes become inline styles.
 *
 * @example Colouring a word
 * ```ts
 * import { ansiToHtml } from "./ansi.ts";
 * const html = ansiToHtml("\x1b[31m<red>\x1b[0m ok");
 * if (html !== '<span class="ansi-red-fg">&lt;red&gt;</span> ok') throw new Error(html);
 * ```
 *
 * @param text Text as the kernel wrote it.
 * @returns HTML.
 */
export function ansiToHtml(text: string): string {
  text = carriageReturns(text);
  const style = plain();
  let out = "";
  let spanOpen = false;
  let last = 0;
  for (const m of text.matchAll(ESCAPE)) {
    out += escapeHtml(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] !== "m") continue; // not SGR: drop
    const params = (m[1] ?? "").split(";").filter((s) => s !== "").map(Number);
    apply(style, params.length ? params : [0]);
    if (spanOpen) out += "</span>";
    const tag = open(style);
    out += tag;
    spanOpen = tag !== "";
  }
  out += escapeHtml(text.slice(last));
  if (spanOpen) out += "</span>";
  return out.replaceAll(/<span[^>]*><\/span>/g, "");
}
