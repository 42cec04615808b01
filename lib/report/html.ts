/**
 * HTML escaping.
 *
 * @module
 */

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for HTML element content and attribute values.
 *
 * @example Escaping markup
 * ```ts
 * import { escapeHtml } from "./html.ts";
 * if (escapeHtml(`<a href="x">`) !== "&lt;a href=&quot;x&quot;&gt;") throw new Error();
 * ```
 *
 * @param text Any text.
 * @returns The text with `& < > " '` escaped.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
