/**
 * Rendering executed notebooks as a static, self-contained report site:
 * an index and one page per notebook (markdown with marked, code with
 * highlight.js, outputs inline, previous/next navigation, print styles).
 *
 * @example Publishing executed notebooks
 * ```ts ignore
 * import { pageName, writeSite } from "./mod.ts";
 * import { readNotebook } from "../notebook/mod.ts";
 * const path = "site/notebooks/01-basics.ipynb";
 * await writeSite("site", [{ name: pageName(path), notebook: await readNotebook(path) }]);
 * ```
 *
 * @module
 */
export { ansiToHtml } from "./ansi.ts";
export { escapeHtml } from "./html.ts";
export { highlightCode, renderMarkdown, slugify } from "./markdown.ts";
export { MIME_ORDER, renderMimeBundle, renderOutput } from "./outputs.ts";
export { renderIndexPage, renderNotebookPage } from "./page.ts";
export type { IndexEntry, IndexPageOptions, NotebookPageOptions, PageLink } from "./page.ts";
export { pageName, writeSite } from "./site.ts";
export type { SiteFiles, SiteNotebook, SiteOptions } from "./site.ts";
export { SITE_CSS } from "./style.ts";
export { formatDuration, markdownToText, summarizeNotebook } from "./summary.ts";
export type { NotebookSummary } from "./summary.ts";
