/**
 * The HTML pages of the report site: one per notebook, and the index.
 * Every page is self-contained (inline CSS, images as data URIs) and links
 * only to its neighbours, so the site works from file:// and on any static
 * host.
 *
 * @module
 */
import { type Cell, joinSource, type Notebook } from "../notebook/nbformat.ts";
import { escapeHtml } from "./html.ts";
import { highlightCode, renderMarkdown } from "./markdown.ts";
import { renderOutput } from "./outputs.ts";
import { SITE_CSS } from "./style.ts";
import { formatDuration, type NotebookSummary, summarizeNotebook } from "./summary.ts";

/** A link to another page. */
export interface PageLink {
  /** Relative URL (for example "02-figures.html"). */
  href: string;
  /** Link text. */
  title: string;
}

/** What a notebook page needs besides the notebook. */
export interface NotebookPageOptions {
  /** The page's name (file base, for example "01-basics"). */
  name: string;
  /** The site's title (default "memremap-lab reports"). */
  siteTitle?: string;
  /** The previous notebook's page, if any. */
  prev?: PageLink | null;
  /** The next notebook's page, if any. */
  next?: PageLink | null;
  /** Relative URL of the executed .ipynb, if published. */
  ipynbHref?: string | null;
  /** The failed cell (1-based, among all cells), to highlight. */
  failedCell?: number | null;
}

const DEFAULT_SITE_TITLE = "memremap-lab reports";

function document(title: string, siteTitle: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="memremap-lab tools/report.ts">
<title>${escapeHtml(title)}${title === siteTitle ? "" : ` · ${escapeHtml(siteTitle)}`}</title>
<style>${SITE_CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function pager(prev: PageLink | null | undefined, next: PageLink | null | undefined): string {
  const link = (l: PageLink | null | undefined, rel: string, arrow: string) =>
    l
      ? `<a rel="${rel}" href="${escapeHtml(l.href)}">${
        rel === "prev" ? `${arrow} ${escapeHtml(l.title)}` : `${escapeHtml(l.title)} ${arrow}`
      }</a>`
      : `<span>${rel === "prev" ? `${arrow} (first)` : `(last) ${arrow}`}</span>`;
  return `<nav class="pager" aria-label="Notebooks">${link(prev, "prev", "←")}` +
    `<a href="index.html">Index</a>${link(next, "next", "→")}</nav>`;
}

function withAttachments(source: string, cell: Cell): string {
  if (cell.cell_type === "code" || !cell.attachments) return source;
  return source.replace(/attachment:([^)\s"']+)/g, (all, name: string) => {
    const bundle = cell.attachments?.[decodeURIComponent(name)];
    const mime = bundle && Object.keys(bundle).find((m) => m.startsWith("image/"));
    if (!bundle || !mime) return all;
    const data = bundle[mime];
    const b64 = (Array.isArray(data) ? data.join("") : String(data)).replace(/\s+/g, "");
    return `data:${mime};base64,${b64}`;
  });
}

/** Points relative links to sibling notebooks (`x.ipynb`) at their pages (`x.html`). */
function linkNotebooks(html: string): string {
  return html.replace(
    /href="(?![a-z][a-z0-9+.-]*:|\/|#)([^"#?]*?)([^"#?/]+)\.ipynb((?:#[^"]*)?)"/gi,
    (_all, _dir: string, base: string, hash: string) =>
      `href="${base.replace(/[^A-Za-z0-9._-]+/g, "-")}.html${hash}"`,
  );
}

function statusBadge(s: NotebookSummary): string {
  const label = s.status === "not-executed" ? "not executed" : s.status;
  return `<span class="badge ${s.status}">${label}</span>`;
}

function renderCell(cell: Cell, index: number, used: Set<string>, failed: boolean): string {
  const anchor = `<a class="cell-anchor" href="#cell-${index}" aria-label="Cell ${index}">¶</a>`;
  const source = joinSource(cell.source);
  if (cell.cell_type === "markdown") {
    return `<section class="cell markdown" id="cell-${index}">${anchor}${
      linkNotebooks(renderMarkdown(withAttachments(source, cell), used))
    }</section>`;
  }
  if (cell.cell_type === "raw") {
    return `<section class="cell raw" id="cell-${index}">${anchor}<pre>${
      escapeHtml(source)
    }</pre></section>`;
  }
  const count = cell.execution_count ?? " ";
  const outputs = cell.outputs.map(renderOutput).join("\n");
  return `<section class="cell code${failed ? " failed" : ""}" id="cell-${index}">${anchor}
<div class="prompt">In [${count}]:</div>
<div class="input"><pre><code class="hljs language-typescript">${
    highlightCode(source, "typescript")
  }</code></pre></div>
${outputs ? `<div class="outputs${failed ? " output failed-cell" : ""}">${outputs}</div>` : ""}
</section>`;
}

/**
 * Renders one notebook as a page.
 *
 * @param notebook The (executed) notebook.
 * @param options Name, neighbours, links.
 * @returns The page's HTML.
 */
export function renderNotebookPage(notebook: Notebook, options: NotebookPageOptions): string {
  const siteTitle = options.siteTitle ?? DEFAULT_SITE_TITLE;
  const s = summarizeNotebook(notebook, options.name);
  const used = new Set<string>();
  const failedCell = options.failedCell ?? null;
  const cells = notebook.cells.map((c, i) => renderCell(c, i + 1, used, failedCell === i + 1))
    .join("\n");
  const meta = [
    statusBadge(s),
    `<span>${s.cells} cells (${s.codeCells} code)</span>`,
    s.durationMs !== null ? `<span>ran in ${formatDuration(s.durationMs)}</span>` : "",
    s.executedAt ? `<span>executed ${escapeHtml(s.executedAt.replace(/\.\d+Z$/, "Z"))}</span>` : "",
    options.ipynbHref
      ? `<a href="${escapeHtml(options.ipynbHref)}" download>Download .ipynb</a>`
      : "",
  ].filter(Boolean).join("\n");
  const failure = s.failure
    ? `<div class="failure" role="alert"><strong>This notebook failed.</strong>${
      failedCell ? ` <a href="#cell-${failedCell}">Go to cell ${failedCell}</a>` : ""
    }<pre>${escapeHtml(s.failure)}</pre></div>`
    : "";
  const body = `<header class="site"><a class="brand" href="index.html">${
    escapeHtml(siteTitle)
  }</a>${pager(options.prev, options.next)}</header>
<main>
<div class="meta">${meta}</div>
${failure}
${cells}
</main>
<footer class="site">${pager(options.prev, options.next)}</footer>`;
  return document(s.title, siteTitle, body);
}

/** One line of the index. */
export interface IndexEntry {
  /** The notebook page's relative URL. */
  href: string;
  /** The notebook's summary. */
  summary: NotebookSummary;
}

/** Options for {@linkcode renderIndexPage}. */
export interface IndexPageOptions {
  /** The site's title (default "memremap-lab reports"). */
  siteTitle?: string;
  /** A line under the title (for example when and how the site was built). */
  subtitle?: string;
}

/**
 * Renders the index page: each notebook with its title, first paragraph,
 * cell count, run time and status.
 *
 * @param entries The notebooks, in order.
 * @param options Title and subtitle.
 * @returns The page's HTML.
 */
export function renderIndexPage(
  entries: readonly IndexEntry[],
  options: IndexPageOptions = {},
): string {
  const siteTitle = options.siteTitle ?? DEFAULT_SITE_TITLE;
  const items = entries.map(({ href, summary: s }) =>
    `<li class="notebook ${s.status}">
<h2><a href="${escapeHtml(href)}">${escapeHtml(s.title)}</a></h2>
${s.firstParagraph ? `<p>${escapeHtml(s.firstParagraph)}</p>` : ""}
<div class="meta">${statusBadge(s)}<span>${s.cells} cells (${s.codeCells} code)</span>${
      s.durationMs !== null ? `<span>ran in ${formatDuration(s.durationMs)}</span>` : ""
    }</div>${s.failure ? `<div class="failure"><pre>${escapeHtml(s.failure)}</pre></div>` : ""}
</li>`
  ).join("\n");
  const ok = entries.filter((e) => e.summary.status === "ok").length;
  const body = `<header class="site"><a class="brand" href="index.html">${
    escapeHtml(siteTitle)
  }</a></header>
<main>
<h1>${escapeHtml(siteTitle)}</h1>
${options.subtitle ? `<p class="summary">${escapeHtml(options.subtitle)}</p>` : ""}
<p class="summary">${entries.length} notebooks, ${ok} ran cleanly.</p>
<ul class="notebooks">
${items}
</ul>
</main>`;
  return document(siteTitle, siteTitle, body);
}
