/// <reference lib="dom" />
/**
 * The report site in a real browser (Debian's chromium via playwright-core),
 * opened from file://: every page loads without console errors or network
 * requests, every figure (svg, img) has a non-zero box, every link resolves,
 * and a screenshot is not blank.
 */
import { assert, assertEquals } from "@std/assert";
import { chromium } from "playwright-core";
import { ensureReportBuild } from "./_build.ts";
import { decodePng, distinctColours } from "./_png.ts";
import { haveTool } from "./_tools.ts";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

Deno.test("report site in Chromium: pages, figures, links, screenshot", async () => {
  if (!(await haveTool("chromium", "the report site in a browser"))) return;
  const build = await ensureReportBuild();
  assertEquals(build.code, 0, `tools/report.ts failed:\n${build.stderr}`);
  const dir = await Deno.realPath(build.dir);
  const pages = [
    "index.html",
    ...build.build.notebooks.map((n: { name: string }) => `${n.name}.html`),
  ];
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const problems: string[] = [];
    let current = "";
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`${current}: console error: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`${current}: page error: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`${current}: request failed: ${r.url()}`));
    page.on("request", (r) => {
      if (!/^(file|data|about):/.test(r.url())) {
        problems.push(`${current}: network request: ${r.url()}`);
      }
    });
    const anchors = new Map<string, Set<string>>(); // page -> ids
    const links: { from: string; href: string }[] = [];
    let figures = 0;
    for (const name of pages) {
      current = name;
      await page.goto(`file://${dir}/${name}`, { waitUntil: "load" });
      const info = await page.evaluate(() => {
        const boxes = [...document.querySelectorAll(".output svg, .output img, svg, img")]
          .filter((el) => !el.parentElement?.closest("svg"))
          .map((el) => {
            const r = el.getBoundingClientRect();
            return { tag: el.tagName, w: r.width, h: r.height };
          });
        return {
          ids: [...document.querySelectorAll("[id]")].map((el) => el.id),
          hrefs: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")!),
          boxes,
          title: document.title,
          printRules: [...document.styleSheets].some((s) =>
            [...s.cssRules].some((r) =>
              r instanceof CSSMediaRule && r.conditionText.includes("print")
            )
          ),
        };
      });
      anchors.set(name, new Set(info.ids));
      links.push(...info.hrefs.map((href) => ({ from: name, href })));
      for (const b of info.boxes) {
        figures++;
        assert(b.w > 0 && b.h > 0, `${name}: a ${b.tag} has an empty box (${b.w}x${b.h})`);
      }
      assert(info.title.length > 0, `${name}: no title`);
      assert(info.printRules, `${name}: no print stylesheet`);
    }
    assert(figures >= 3, `expected figures in the fixtures, found ${figures}`);
    let external = 0;
    for (const { from, href } of links) {
      if (/^https?:/.test(href)) {
        external++;
        assert(URL.canParse(href), `${from}: bad URL ${href}`);
        continue;
      }
      const [file, hash] = href.split("#") as [string, string | undefined];
      const target = file === "" ? from : file;
      const stat = await Deno.stat(`${dir}/${target}`).catch(() => null);
      assert(stat?.isFile, `${from}: link ${href} points to a missing file`);
      if (hash && target.endsWith(".html")) {
        assert(
          anchors.get(target)?.has(decodeURIComponent(hash)),
          `${from}: link ${href}: no #${hash}`,
        );
      }
    }
    assert(links.length > pages.length * 2, "expected navigation links");
    assert(external >= 1, "the fixtures link to lore");

    // One screenshot, checked for content: a blank page has 1 colour.
    current = pages[1]!;
    await page.goto(`file://${dir}/${pages[1]}`);
    const png = await page.screenshot({ fullPage: false });
    const image = decodePng(new Uint8Array(png));
    assertEquals([image.width, image.height], [1100, 900]);
    const colours = distinctColours(image);
    assert(colours > 50, `screenshot looks blank: ${colours} colours`);
    assertEquals(problems, []);
  } finally {
    await browser.close();
  }
});
