/**
 * Markdown (marked, GitHub flavour: tables, fenced code) and code
 * highlighting (highlight.js; TypeScript, JavaScript, JSON, Bash, C and
 * diff are registered). Markdown from our own notebooks is trusted: raw
 * HTML in it passes through.
 *
 * @module
 */
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import diff from "highlight.js/lib/languages/diff";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import typescript from "highlight.js/lib/languages/typescript";
import { Marked, type Tokens } from "marked";
import { escapeHtml } from "./html.ts";

hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("json", json);
hljs.registerLanguage("bash", bash);
hljs.registerLanguage("c", c);
hljs.registerLanguage("diff", diff);

/**
 * Highlights source code as HTML (`hljs-*` classes, escaped text).
 *
 * @example Highlighting TypeScript
 * ```ts
 * import { highlightCode } from "./markdown.ts";
 * if (!highlightCode("const x = 1;", "typescript").includes('<span class="hljs-keyword">const</span>')) {
 *   throw new Error("not highlighted");
 * }
 * ```
 *
 * @param code The source.
 * @param language A language name or alias (`ts`, `typescript`, `js`, `json`, `sh`, `c`, `diff`);
 *   unknown or empty: escaped, not highlighted.
 * @returns HTML for inside a `<code>` element.
 */
export function highlightCode(code: string, language = "typescript"): string {
  const lang = language.trim().toLowerCase();
  if (lang && hljs.getLanguage(lang)) {
    return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
  }
  return escapeHtml(code);
}

/** Turns heading text into an id: lowercase words joined by dashes. */
export function slugify(text: string): string {
  return text.toLowerCase().replace(/<[^>]*>/g, "").replace(/&[a-z#0-9]+;/g, "")
    .replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-+|-+$/g, "") || "section";
}

/**
 * Renders markdown to HTML. Headings get ids (unique within `used`), fenced
 * code is highlighted (TypeScript when no language is given).
 *
 * @example Headings, tables and code
 * ```ts
 * import { renderMarkdown } from "./markdown.ts";
 * const html = renderMarkdown("# Title\n\n| a |\n|---|\n| 1 |\n");
 * if (!html.includes('<h1 id="title">Title</h1>') || !html.includes("<table>")) throw new Error(html);
 * ```
 *
 * @param markdown The markdown source.
 * @param used Heading ids already used on the page (updated).
 * @returns HTML.
 */
export function renderMarkdown(markdown: string, used: Set<string> = new Set()): string {
  const marked = new Marked({ gfm: true });
  marked.use({
    renderer: {
      code(token: Tokens.Code): string {
        const lang = (token.lang ?? "").split(/\s/)[0] || "typescript";
        return `<pre class="code"><code class="hljs language-${escapeHtml(lang)}">${
          highlightCode(token.text, lang)
        }</code></pre>\n`;
      },
      heading(token: Tokens.Heading): string {
        const inner = this.parser.parseInline(token.tokens);
        let id = slugify(inner);
        for (let n = 2; used.has(id); n++) id = `${slugify(inner)}-${n}`;
        used.add(id);
        return `<h${token.depth} id="${id}">${inner}</h${token.depth}>\n`;
      },
    },
  });
  return marked.parse(markdown, { async: false }) as string;
}
