/**
 * Rendering without a browser: ANSI, escaping, trusted HTML/SVG, images,
 * markdown, pages (navigation, failure, print styles, self-contained) and
 * the index.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type { Notebook, Output } from "../../lib/notebook/mod.ts";
import {
  ansiToHtml,
  formatDuration,
  renderIndexPage,
  renderMarkdown,
  renderNotebookPage,
  renderOutput,
  summarizeNotebook,
  writeSite,
} from "../../lib/report/mod.ts";

Deno.test("ansiToHtml() converts SGR colours to spans, escapes text, drops other escapes", () => {
  assertEquals(ansiToHtml("plain <b>&"), "plain &lt;b&gt;&amp;");
  assertEquals(
    ansiToHtml("\x1b[1;31mbold red\x1b[0m"),
    '<span class="ansi-red-fg ansi-bold">bold red</span>',
  );
  assertEquals(ansiToHtml("\x1b[92mhi\x1b[39m"), '<span class="ansi-bright-green-fg">hi</span>');
  assertEquals(ansiToHtml("\x1b[38;5;196mx\x1b[0m"), '<span style="color:#ff0000">x</span>');
  assertEquals(ansiToHtml("\x1b[38;2;1;2;3mx\x1b[m"), '<span style="color:#010203">x</span>');
  assertEquals(ansiToHtml("\x1b[2K\x1b[1Aclear"), "clear");
  assertEquals(ansiToHtml("10%\r50%\r100%\ndone"), "100%\ndone");
  assertEquals(ansiToHtml("\x1b[31m"), "");
});

Deno.test("renderOutput() escapes text outputs and trusts HTML and SVG", () => {
  const script = "<script>alert(1)</script>";
  for (
    const o of [
      { output_type: "stream", name: "stdout", text: script },
      {
        output_type: "execute_result",
        execution_count: 1,
        data: { "text/plain": script },
        metadata: {},
      },
      { output_type: "error", ename: "Error", evalue: script, traceback: [script] },
      { output_type: "display_data", data: { "application/json": { s: script } }, metadata: {} },
    ] as Output[]
  ) {
    const html = renderOutput(o);
    assert(!html.includes("<script>"), `${o.output_type} must be escaped: ${html}`);
    assertStringIncludes(html, "&lt;script&gt;");
  }
  const rich = renderOutput({
    output_type: "display_data",
    data: { "text/html": "<b>trusted</b>", "text/plain": "fallback" },
    metadata: {},
  });
  assertEquals(rich, '<div class="output html"><b>trusted</b></div>');
  const svg = renderOutput({
    output_type: "display_data",
    data: { "image/svg+xml": ["<svg>\n", "<rect/></svg>"] },
    metadata: {},
  });
  assertEquals(svg, '<div class="output svg"><svg>\n<rect/></svg></div>');
  const png = renderOutput({
    output_type: "display_data",
    data: { "image/png": "iVBO\nRw0K", "text/plain": "a <plot>" },
    metadata: { "image/png": { width: 20 } },
  });
  assertEquals(
    png,
    '<div class="output image"><img src="data:image/png;base64,iVBORw0K" alt="a &lt;plot&gt;" width="20"></div>',
  );
  const err = renderOutput({
    output_type: "error",
    ename: "TypeError",
    evalue: "x",
    traceback: [],
  });
  assertStringIncludes(err, "TypeError: x");
});

Deno.test("renderMarkdown() renders headings with ids, tables, links and highlighted code", () => {
  const used = new Set<string>();
  const html = renderMarkdown(
    "# Patch 1: Hello\n\nSee [lore](https://lore.kernel.org/x).\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```ts\nconst x = 1;\n```\n\n# Patch 1: Hello\n",
    used,
  );
  assertStringIncludes(html, '<h1 id="patch-1-hello">Patch 1: Hello</h1>');
  assertStringIncludes(html, '<h1 id="patch-1-hello-2">');
  assertStringIncludes(html, '<a href="https://lore.kernel.org/x">lore</a>');
  assertStringIncludes(html, "<td>2</td>");
  assertStringIncludes(html, '<span class="hljs-keyword">const</span>');
});

const notebook: Notebook = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: {
      name: "deno-memremap",
      display_name: "Deno (memremap-lab)",
      language: "typescript",
    },
    memremap_run: {
      status: "failed",
      executed_at: "2026-01-01T00:00:00.000Z",
      duration_ms: 1234,
      executed_cells: 2,
      failure: 'x.ipynb: cell 3 ("boom()") raised Error: <boom>',
    },
  },
  cells: [
    {
      id: "a",
      cell_type: "markdown",
      metadata: {},
      source: "# The title\n\nFirst *paragraph*, see [next](02-next.ipynb#top).\n\nSecond.",
    },
    {
      id: "b",
      cell_type: "code",
      metadata: {},
      source: "1 + 1",
      outputs: [{
        output_type: "execute_result",
        execution_count: 1,
        data: { "text/plain": "2" },
        metadata: {},
      }],
      execution_count: 1,
    },
    {
      id: "c",
      cell_type: "code",
      metadata: {},
      source: "boom()",
      outputs: [{
        output_type: "error",
        ename: "Error",
        evalue: "<boom>",
        traceback: ["Error: <boom>"],
      }],
      execution_count: 2,
    },
  ],
};

Deno.test("summarizeNotebook() takes the title, first paragraph, counts and run status", () => {
  const s = summarizeNotebook(notebook, "x");
  assertEquals(s.title, "The title");
  assertEquals(s.firstParagraph, "First paragraph, see next.");
  assertEquals([s.cells, s.codeCells, s.status, s.durationMs], [3, 2, "failed", 1234]);
  assertEquals(formatDuration(1234), "1.2 s");
});

Deno.test("renderNotebookPage() is self-contained, navigable, printable and shows the failure", () => {
  const html = renderNotebookPage(notebook, {
    name: "01-x",
    prev: null,
    next: { href: "02-next.html", title: "Next <one>" },
    ipynbHref: "notebooks/01-x.ipynb",
    failedCell: 3,
  });
  assertMatch(html, /^<!doctype html>/);
  assertStringIncludes(html, "<title>The title · memremap-lab reports</title>");
  assertStringIncludes(html, '<a rel="next" href="02-next.html">Next &lt;one&gt; →</a>');
  assertStringIncludes(html, "← (first)");
  assertStringIncludes(html, 'href="02-next.html#top"'); // .ipynb links point at pages
  assertStringIncludes(html, '<a href="#cell-3">Go to cell 3</a>');
  assertStringIncludes(html, 'id="cell-3"');
  assertStringIncludes(html, "Error: &lt;boom&gt;");
  assertStringIncludes(html, "@media print");
  assertStringIncludes(html, "ran in 1.2 s");
  // No external resources: no <link>, <script src>, or http(s) src/url().
  assert(
    !/<link\b|<script\b[^>]*\bsrc=|\bsrc="https?:|url\(["']?https?:/i.test(html),
    "must be self-contained",
  );
});

Deno.test("renderIndexPage() lists notebooks with title, paragraph, cells, time and status", () => {
  const html = renderIndexPage([{ href: "01-x.html", summary: summarizeNotebook(notebook, "x") }], {
    subtitle: "Built today",
  });
  assertStringIncludes(html, '<a href="01-x.html">The title</a>');
  assertStringIncludes(html, "<p>First paragraph, see next.</p>");
  assertStringIncludes(html, "3 cells (2 code)");
  assertStringIncludes(html, "ran in 1.2 s");
  assertStringIncludes(html, '<span class="badge failed">failed</span>');
  assertStringIncludes(html, "1 notebooks, 0 ran cleanly.");
});

Deno.test("writeSite() writes pages, notebooks and index, and removes stale pages", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/old.html`, "stale");
    await Deno.writeTextFile(`${dir}/keep.txt`, "not ours");
    const files = await writeSite(dir, [
      { name: "01-x", notebook },
      { name: "02-next", notebook },
    ]);
    assertEquals(files.pages, [`${dir}/01-x.html`, `${dir}/02-next.html`]);
    assertEquals(files.notebooks, [
      `${dir}/notebooks/01-x.ipynb`,
      `${dir}/notebooks/02-next.ipynb`,
    ]);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, ["01-x.html", "02-next.html", "index.html", "keep.txt", "notebooks"]);
    assertStringIncludes(
      await Deno.readTextFile(`${dir}/02-next.html`),
      'rel="prev" href="01-x.html"',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("markdownToText keeps intraword underscores (kernel identifiers) and strips emphasis", async () => {
  const { markdownToText } = await import("../../lib/report/summary.ts");
  const { assertEquals } = await import("@std/assert");
  assertEquals(
    markdownToText("mm, devm_memremap_pages: Fix _shutdown_ handling of **pgmap->kill** `x`"),
    "mm, devm_memremap_pages: Fix shutdown handling of pgmap->kill x",
  );
});
