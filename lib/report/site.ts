/**
 * Writing the static site:
 *
 * ```
 * <out>/index.html            the index
 * <out>/<name>.html           one page per notebook
 * <out>/notebooks/<name>.ipynb  the executed notebooks (nbformat 4.5)
 * ```
 *
 * Pages and notebooks left from an earlier build that no longer exist are
 * removed; nothing else in `<out>` is touched.
 *
 * @module
 */
import { type Notebook, serializeNotebook } from "../notebook/nbformat.ts";
import { type IndexEntry, renderIndexPage, renderNotebookPage } from "./page.ts";
import { summarizeNotebook } from "./summary.ts";

/** A notebook to publish. */
export interface SiteNotebook {
  /** File base of its page and .ipynb (for example "01-basics"); unique in the site. */
  name: string;
  /** The (executed) notebook. */
  notebook: Notebook;
  /** The failed cell (1-based among all cells), to highlight on the page. */
  failedCell?: number | null;
}

/** Options for {@linkcode writeSite}. */
export interface SiteOptions {
  /** The site's title (default "memremap-lab reports"). */
  siteTitle?: string;
  /** A line under the index's title. */
  subtitle?: string;
  /** Also write the notebooks under `notebooks/` (default true). */
  writeNotebooks?: boolean;
}

/** What {@linkcode writeSite} wrote. */
export interface SiteFiles {
  /** Path of the index page. */
  index: string;
  /** Paths of the notebook pages, in order. */
  pages: string[];
  /** Paths of the written .ipynb files, in order. */
  notebooks: string[];
}

/**
 * Turns a notebook file name into a page name: its base without `.ipynb`,
 * with anything but letters, digits, `-`, `_` and `.` replaced by `-`.
 *
 * @param path The notebook's path.
 * @returns The name.
 */
export function pageName(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1).replace(/\.ipynb$/, "");
  return base.replace(/[^A-Za-z0-9._-]+/g, "-") || "notebook";
}

/**
 * Writes the site into `outDir` (created if missing).
 *
 * @param outDir The output directory.
 * @param entries The notebooks, in index order; names must be unique.
 * @param options Titles; whether to write the notebooks.
 * @returns The files written.
 * @throws {RangeError} If two entries have the same name.
 */
export async function writeSite(
  outDir: string,
  entries: readonly SiteNotebook[],
  options: SiteOptions = {},
): Promise<SiteFiles> {
  const names = new Set<string>();
  for (const e of entries) {
    if (names.has(e.name) || e.name === "index") {
      throw new RangeError(`Cannot write site: two notebooks would be named "${e.name}.html"`);
    }
    names.add(e.name);
  }
  const writeNotebooks = options.writeNotebooks ?? true;
  await Deno.mkdir(`${outDir}/notebooks`, { recursive: true });
  const summaries = entries.map((e) => summarizeNotebook(e.notebook, e.name));
  const files: SiteFiles = { index: `${outDir}/index.html`, pages: [], notebooks: [] };
  for (const [i, e] of entries.entries()) {
    const link = (j: number) => {
      const other = entries[j];
      return other ? { href: `${other.name}.html`, title: summaries[j]!.title } : null;
    };
    const pageOptions: Parameters<typeof renderNotebookPage>[1] = {
      name: e.name,
      prev: link(i - 1),
      next: link(i + 1),
      ipynbHref: writeNotebooks ? `notebooks/${e.name}.ipynb` : null,
      failedCell: e.failedCell ?? null,
    };
    if (options.siteTitle) pageOptions.siteTitle = options.siteTitle;
    const page = `${outDir}/${e.name}.html`;
    await Deno.writeTextFile(page, renderNotebookPage(e.notebook, pageOptions));
    files.pages.push(page);
    if (writeNotebooks) {
      const nb = `${outDir}/notebooks/${e.name}.ipynb`;
      await Deno.writeTextFile(nb, serializeNotebook(e.notebook));
      files.notebooks.push(nb);
    }
  }
  const index: IndexEntry[] = entries.map((e, i) => ({
    href: `${e.name}.html`,
    summary: summaries[i]!,
  }));
  const indexOptions: Parameters<typeof renderIndexPage>[1] = {};
  if (options.siteTitle) indexOptions.siteTitle = options.siteTitle;
  if (options.subtitle) indexOptions.subtitle = options.subtitle;
  await Deno.writeTextFile(files.index, renderIndexPage(index, indexOptions));

  // Remove pages and notebooks of an earlier build that are gone now.
  for await (const f of Deno.readDir(outDir)) {
    if (f.isFile && f.name.endsWith(".html") && f.name !== "index.html") {
      if (!names.has(f.name.slice(0, -5))) await Deno.remove(`${outDir}/${f.name}`);
    }
  }
  for await (const f of Deno.readDir(`${outDir}/notebooks`)) {
    if (
      f.isFile && f.name.endsWith(".ipynb") && !(writeNotebooks && names.has(f.name.slice(0, -6)))
    ) {
      await Deno.remove(`${outDir}/notebooks/${f.name}`);
    }
  }
  return files;
}
