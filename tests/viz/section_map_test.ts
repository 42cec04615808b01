/// <reference lib="dom" />
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  diffSections,
  memoryTypeKey,
  SECTION_CATEGORIES,
  SECTION_COLORS,
  sectionCategory,
  sectionMap,
  sectionMapDiff,
} from "../../lib/viz/mod.ts";
import { handSections, handSectionsBefore } from "./_fixtures.ts";
import { assertSnapshot, assertSvgShape, legendEntries, parseFigure } from "./_snapshot.ts";

const S = 2 ** 27;

function cellsOf(html: string): number {
  const { svgs } = parseFigure(html);
  // the first cell mark of each panel: one rect per section
  return svgs.map((s) =>
    s.querySelectorAll('g[aria-label="cell"]')[0]?.querySelectorAll("rect").length ?? 0
  )
    .reduce((a, b) => a + b, 0);
}

Deno.test("sectionMap(): a hand-made map — one cell per section, the fixed legend, snapshot", async () => {
  const input = handSections();
  const fig = sectionMap(input, { columns: 16 });
  assertSvgShape(fig.html!);
  assertEquals(legendEntries(fig.html!), [...SECTION_CATEGORIES]);
  const { document } = parseFigure(fig.html!);
  const cellRects = [
    ...document.querySelectorAll('g[aria-label="cell"]')[0]!.querySelectorAll("rect"),
  ];
  assertEquals(cellRects.length, input.sections.length);
  // fills come from the fixed palette
  const fills = new Set(cellRects.map((r) => r.getAttribute("fill")));
  for (const f of fills) assert(Object.values(SECTION_COLORS).includes(f!), `unexpected fill ${f}`);
  assert(fills.has(SECTION_COLORS["device fs_dax"]) && fills.has(SECTION_COLORS.leaked));
  // linear-map bars: RAM 32 + fsdax 8 + the leaked section; altmap dots: the 8 fsdax sections
  assertEquals(
    document.querySelectorAll('g[aria-label="cell"]')[1]!.querySelectorAll("rect").length,
    41,
  );
  assertEquals(document.querySelectorAll('g[aria-label="dot"] circle').length, 8);
  assertEquals(
    fig.text,
    "section map: 64 sections (System RAM 32, device fs_dax 8, device private 4, free 19, leaked 1)",
  );
  await assertSnapshot("section-map-hand", fig.html!);
});

Deno.test("sectionMapDiff(): two panels, changed sections outlined, the change list as text, snapshot", async () => {
  const fig = sectionMapDiff(handSectionsBefore(), handSections(), {
    columns: 16,
    labels: ["v4.20", "v5.0"],
  });
  const svgs = assertSvgShape(fig.html!);
  assertEquals(svgs.length, 1);
  assertEquals(cellsOf(fig.html!), 2 * 64);
  const { document } = parseFigure(fig.html!);
  const facets = [...document.querySelectorAll('g[aria-label="fx-axis tick label"] text')].map((
    t,
  ) => t.textContent);
  assertEquals(facets, ["v4.20", "v5.0"]);
  // 4 private sections + the leaked one, outlined in both panels
  const outline = [...document.querySelectorAll('g[aria-label="cell"]')].at(-1)!;
  assertEquals(outline.querySelectorAll('g[stroke="#111"] rect').length, 2 * 5);
  assert(fig.text.startsWith("section map diff v4.20 → v5.0: 5 sections differ"));
  assert(fig.text.includes("section 150: linear map added, leaked"));
  await assertSnapshot("section-map-diff-hand", fig.html!);
});

Deno.test("diffSections(): compares by number; absent means free; words for each change", () => {
  const ram = { nr: 0, start: 0, kind: "ram" as const, linearMap: true, memmap: "ram" as const };
  const dev = {
    nr: 2,
    start: 2 * S,
    kind: "device" as const,
    type: "fs_dax",
    pgmapId: 1,
    linearMap: true,
    memmap: "device" as const,
  };
  assertEquals(diffSections({ sections: [ram] }, { sections: [ram] }), []);
  const [c] = diffSections({ sections: [ram, dev] }, { sections: [ram] });
  assertEquals([c!.nr, c!.what], [2, [
    "removed",
    "pgmap 1 gone",
    "linear map removed",
    "memmap device → none",
  ]]);
  assertEquals(c!.after.kind, "free");
  const moved = diffSections({ sections: [dev] }, {
    sections: [{ ...dev, pgmapId: 4, memmap: "ram" }],
  });
  assertEquals(moved[0]!.what, ["pgmap 1 → 4", "memmap device → ram"]);
});

Deno.test("sectionCategory() / memoryTypeKey(): kernel names and short names map to the same category", () => {
  assertEquals(
    [
      "MEMORY_DEVICE_FS_DAX",
      "fsdax",
      "0",
      "MEMORY_DEVICE_PRIVATE",
      "public",
      "MEMORY_DEVICE_PCI_P2PDMA",
      "x",
      undefined,
    ]
      .map(memoryTypeKey),
    ["fs_dax", "fs_dax", "devdax", "private", "public", "p2pdma", "other", "other"],
  );
  const base = { nr: 1, start: S, linearMap: false, memmap: "ram" as const };
  assertEquals(sectionCategory({ ...base, kind: "device", type: "0" }), "device devdax");
  assertEquals(sectionCategory({ ...base, kind: "device", leaked: true }), "leaked");
  assertEquals(sectionCategory({ ...base, kind: "ram" }), "System RAM");
});

Deno.test("sectionMap(): clear errors for malformed input, nothing to draw and too many cells", () => {
  const ok = { nr: 1, start: S, kind: "ram" as const, linearMap: true, memmap: "ram" as const };
  assertThrows(() => sectionMap({ sections: [] }), RangeError, "no sections to draw");
  assertThrows(() => sectionMap({} as never), TypeError, "expected { sections: [...] }");
  assertThrows(
    () => sectionMap({ sections: [{ ...ok, start: 0 }] }),
    RangeError,
    "sections[0].start must be nr × 128 MiB",
  );
  assertThrows(
    () => sectionMap({ sections: [{ ...ok, kind: "x" as never }] }),
    TypeError,
    "sections[0].kind",
  );
  assertThrows(() => sectionMap({ sections: [ok, ok] }), RangeError, "section 1 appears twice");
  assertThrows(
    () => sectionMap({ sections: [ok] }, { columns: 0 }),
    RangeError,
    "columns must be a positive integer",
  );
  assertThrows(
    () => sectionMap(handSections(), { maxCells: 10 }),
    RangeError,
    "64 cells exceed maxCells 10",
  );
  assertThrows(
    () => sectionMapDiff({ sections: [ok] }, { sections: [ok] }, { labels: ["a", "a"] }),
    RangeError,
    "both",
  );
});

Deno.test("sectionMap(): deterministic markup", () => {
  assertEquals(sectionMap(handSections()).html, sectionMap(handSections()).html);
});
