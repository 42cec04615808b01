/**
 * Rendering notebook outputs as HTML. Text (streams, text/plain, JSON,
 * tracebacks) is escaped, with ANSI colours as spans; text/html and
 * image/svg+xml from our own notebooks are trusted and inlined; PNG and
 * JPEG become data URIs; text/markdown is rendered.
 *
 * @module
 */
import type { MimeBundle, Output } from "../notebook/nbformat.ts";
import { ansiToHtml } from "./ansi.ts";
import { escapeHtml } from "./html.ts";
import { renderMarkdown } from "./markdown.ts";

/** MIME types in the order a display output is rendered by, richest first. */
export const MIME_ORDER: readonly string[] = [
  "text/html",
  "image/svg+xml",
  "image/png",
  "image/jpeg",
  "image/gif",
  "text/markdown",
  "application/json",
  "text/plain",
];

function text(value: unknown): string {
  if (Array.isArray(value)) return value.join("");
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function imageSize(metadata: Record<string, unknown>, mime: string): string {
  const m = (metadata[mime] ?? metadata) as { width?: unknown; height?: unknown };
  let attrs = "";
  if (typeof m.width === "number") attrs += ` width="${m.width}"`;
  if (typeof m.height === "number") attrs += ` height="${m.height}"`;
  return attrs;
}

/**
 * Renders a MIME bundle by its richest known type.
 *
 * @param data The bundle.
 * @param metadata The output's metadata (image sizes).
 * @returns HTML, or an escaped note if no type is known.
 */
export function renderMimeBundle(data: MimeBundle, metadata: Record<string, unknown> = {}): string {
  const mime = MIME_ORDER.find((m) => m in data);
  const alt = "text/plain" in data ? escapeHtml(text(data["text/plain"]).slice(0, 200)) : "figure";
  switch (mime) {
    case "text/html":
      return `<div class="output html">${text(data[mime])}</div>`;
    case "image/svg+xml":
      return `<div class="output svg">${text(data[mime])}</div>`;
    case "image/png":
    case "image/jpeg":
    case "image/gif": {
      const b64 = text(data[mime]).replace(/\s+/g, "");
      return `<div class="output image"><img src="data:${mime};base64,${b64}" alt="${alt}"${
        imageSize(metadata, mime)
      }></div>`;
    }
    case "text/markdown":
      return `<div class="output markdown">${renderMarkdown(text(data[mime]))}</div>`;
    case "application/json":
      return `<div class="output json"><pre>${
        escapeHtml(JSON.stringify(data[mime], null, 2))
      }</pre></div>`;
    case "text/plain":
      return `<div class="output text"><pre>${ansiToHtml(text(data[mime]))}</pre></div>`;
    default:
      return `<div class="output text"><pre>${
        escapeHtml(`[no renderable data: ${Object.keys(data).join(", ") || "empty bundle"}]`)
      }</pre></div>`;
  }
}

/**
 * Renders one output.
 *
 * @example A stream with colour is escaped and coloured
 * ```ts
 * import { renderOutput } from "./outputs.ts";
 * const html = renderOutput({ output_type: "stream", name: "stdout", text: "\x1b[32m<ok>\x1b[0m\n" });
 * if (!html.includes('<span class="ansi-green-fg">&lt;ok&gt;</span>')) throw new Error(html);
 * ```
 *
 * @param output The output.
 * @returns HTML.
 */
export function renderOutput(output: Output): string {
  switch (output.output_type) {
    case "stream":
      return `<div class="output stream ${escapeHtml(output.name)}"><pre>${
        ansiToHtml(text(output.text))
      }</pre></div>`;
    case "error": {
      const tb = output.traceback.length
        ? output.traceback.join("\n")
        : `${output.ename}: ${output.evalue}`;
      return `<div class="output error"><pre>${ansiToHtml(tb)}</pre></div>`;
    }
    case "display_data":
    case "execute_result":
      return renderMimeBundle(output.data, output.metadata);
    default: {
      const unknown = output as { output_type?: unknown };
      return `<div class="output text"><pre>${
        escapeHtml(`[unknown output type ${String(unknown.output_type)}]`)
      }</pre></div>`;
    }
  }
}
