/**
 * What the index says about a notebook: its title (first markdown heading),
 * its first paragraph (as plain text), its cell counts, and its run status
 * and time (from `metadata.memremap_run`, written by the runner).
 *
 * @module
 */
import { joinSource, type Notebook } from "../notebook/nbformat.ts";
import type { RunMetadata } from "../notebook/runner.ts";

/** A notebook's summary for the index. */
export interface NotebookSummary {
  /** The first markdown heading's text, or `fallback`. */
  title: string;
  /** The first paragraph of the first markdown cells, as plain text ("" if none). */
  firstParagraph: string;
  /** Number of cells. */
  cells: number;
  /** Number of code cells. */
  codeCells: number;
  /** "ok", "failed", or "not-executed" when the notebook has no run metadata. */
  status: "ok" | "failed" | "not-executed";
  /** Execution time in ms, or null. */
  durationMs: number | null;
  /** The failure message, if the run failed. */
  failure: string | null;
  /** When it was executed (ISO 8601), or null. */
  executedAt: string | null;
}

/** Strips markdown inline syntax: links keep their text, emphasis and code marks go. */
export function markdownToText(md: string): string {
  return md
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/\[([^\]]+)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/(\*\*|\*|`)(.+?)\1/g, "$2")
    // underscores emphasise only at word edges (CommonMark): devm_memremap_pages stays whole
    .replace(/(?<![\p{L}\p{N}])(__|_)(?![\s_])(.+?)(?<![\s_])\1(?![\p{L}\p{N}])/gu, "$2")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Summarises a notebook for the index.
 *
 * @example Title and first paragraph
 * ```ts
 * import { summarizeNotebook } from "./summary.ts";
 * const s = summarizeNotebook({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
 *   { id: "a", cell_type: "markdown", metadata: {}, source: "# Patch 1\n\nWhat *it* does.\n\nMore." },
 * ] }, "01");
 * if (s.title !== "Patch 1" || s.firstParagraph !== "What it does.") throw new Error(JSON.stringify(s));
 * ```
 *
 * @param notebook The notebook.
 * @param fallback The title to use if it has no heading (its file name).
 * @returns The summary.
 */
export function summarizeNotebook(notebook: Notebook, fallback: string): NotebookSummary {
  let title: string | null = null;
  let paragraph = "";
  for (const cell of notebook.cells) {
    if (cell.cell_type !== "markdown") continue;
    const blocks = joinSource(cell.source).split(/\n\s*\n/);
    for (const block of blocks) {
      const b = block.trim();
      if (b === "") continue;
      const heading = /^#{1,6}\s+(.*)$/m.exec(b);
      if (heading && b.startsWith("#")) {
        title ??= markdownToText(heading[1]!.replace(/\s+#+\s*$/, ""));
        continue;
      }
      if (/^(```|~~~|\||[-*+]\s|\d+\.\s|>|<)/.test(b)) continue;
      if (paragraph === "") paragraph = markdownToText(b);
    }
    if (title !== null && paragraph !== "") break;
  }
  const run = notebook.metadata.memremap_run as RunMetadata | undefined;
  return {
    title: title ??
      (typeof notebook.metadata.title === "string" ? notebook.metadata.title : fallback),
    firstParagraph: paragraph,
    cells: notebook.cells.length,
    codeCells: notebook.cells.filter((c) => c.cell_type === "code").length,
    status: run?.status ?? "not-executed",
    durationMs: typeof run?.duration_ms === "number" ? run.duration_ms : null,
    failure: run?.failure ?? null,
    executedAt: run?.executed_at ?? null,
  };
}

/** Formats milliseconds for people: "840 ms", "3.2 s", "2 min 5 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}
