/// <reference lib="dom" />
import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import {
  Display,
  display,
  html,
  JUPYTER_DISPLAY,
  show,
  SVG_NS,
  table,
  text,
  withSvgNamespace,
} from "../../lib/viz/mod.ts";
import { assertSvgShape } from "./_snapshot.ts";

const plotDocument = () =>
  (parseHTML("<!doctype html><html><body></body></html>") as unknown as { document: Document })
    .document;

Deno.test("display(): a Plot SVGElement becomes text/html with xmlns, never image/svg+xml", () => {
  const svg = Plot.plot({ document: plotDocument(), marks: [Plot.dot([[1, 2], [3, 4]])] });
  const b = display(svg)[JUPYTER_DISPLAY]();
  assertEquals(Object.keys(b).sort(), ["text/html", "text/plain"]);
  assert(b["text/html"]!.startsWith(`<svg xmlns="${SVG_NS}"`));
  assertEquals(b["text/plain"], "[figure]");
  assertSvgShape(b["text/html"]!);
});

Deno.test("display(): a Plot figure with a title and legend: every svg (swatches too) gets xmlns; alt from the title", () => {
  const fig = Plot.plot({
    document: plotDocument(),
    title: "Counts",
    color: { legend: true, domain: ["a", "b"], range: ["red", "blue"] },
    marks: [Plot.barY([{ k: "a", v: 1 }, { k: "b", v: 2 }], { x: "k", y: "v", fill: "k" })],
  });
  const d = display(fig);
  assertEquals(d.text, "[figure: Counts]");
  assertEquals(d.html!.match(/<svg /g)!.length, 3);
  assertEquals(d.html!.match(/<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g)!.length, 3);
  assertEquals(display(fig, { alt: "two bars" }).text, "two bars");
});

Deno.test("display(): Display passes through; other displayables keep their bundle; records become a table; the rest text", () => {
  const d = text("x");
  assert(display(d) === d);
  const foreign = {
    [Symbol.for("Jupyter.display")]: () => ({ "text/html": "<svg></svg>", "text/plain": "f" }),
  };
  assertEquals(display(foreign).bundle, {
    "text/html": `<svg xmlns="${SVG_NS}"></svg>`,
    "text/plain": "f",
  });
  assertEquals(display([{ a: 1, b: "x" }]).text, "a  b\n1  x");
  assertEquals(display("plain").bundle, { "text/plain": "plain" });
  assertEquals(display({ n: 1 }).text, "{ n: 1 }");
  assertEquals(display(42).text, "42");
});

Deno.test("withSvgNamespace(): adds xmlns once, and a size from viewBox only when both are missing", () => {
  assertEquals(
    withSvgNamespace(`<svg xmlns="${SVG_NS}" width="1" height="2"></svg>`),
    `<svg xmlns="${SVG_NS}" width="1" height="2"></svg>`,
  );
  assertEquals(
    withSvgNamespace('<svg viewBox="0 0 300 150" class="p">'),
    `<svg xmlns="${SVG_NS}" width="300" height="150" viewBox="0 0 300 150" class="p">`,
  );
  assertEquals(withSvgNamespace("<svgx><p>no svg</p>"), "<svgx><p>no svg</p>");
});

Deno.test("table(): escapes cells, right-aligns numeric columns, honours columns, caption and format", () => {
  const t = table(
    [{ name: "<pmem0>", size: 1024, note: "a&b" }, { name: "pmem1", size: 2 ** 30 }],
    { columns: ["name", "size"], caption: "namespaces", format: { size: (v) => `${v} B` } },
  );
  assertStringIncludes(t.html!, "<caption>namespaces</caption>");
  assertStringIncludes(t.html!, "<td>&lt;pmem0&gt;</td>");
  assertStringIncludes(t.html!, '<td class="num">1024 B</td>');
  assert(!t.html!.includes("a&b"));
  assertEquals(
    t.text,
    "namespaces\nname             size\n<pmem0>        1024 B\npmem1    1073741824 B",
  );
  assertEquals(table([]).text, "");
  assertThrows(() => table("x" as never), TypeError, "Cannot make a table");
});

Deno.test("Display: requires text/plain; the bundle is a copy", () => {
  assertThrows(() => new Display({} as never), TypeError, "no text/plain");
  const d = html("<b>x</b>", "x");
  const b = d.bundle;
  b["text/plain"] = "changed";
  assertEquals(d.text, "x");
});

Deno.test("show(): outside a kernel prints each value's text/plain, in order, and does not sleep", async () => {
  const printed: unknown[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => printed.push(a.join(" "));
  // the helper must never sleep: count the timers it schedules (a wall-time bound would flake under load)
  const realSetTimeout = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => {
    timers++;
    return realSetTimeout(...a);
  }) as typeof setTimeout;
  try {
    await show(text("one"), [{ a: 1 }], "three");
  } finally {
    console.log = log;
    globalThis.setTimeout = realSetTimeout;
  }
  assertEquals(printed, ["one", "a\n1", "three"]);
  assertEquals(timers, 0, "show() scheduled a timer");
});
