import { assert, assertEquals, assertThrows } from "@std/assert";
import { Machine } from "../../lib/machine.ts";
import { mm_init } from "../../lib/kernel/mm/mod.ts";
import { sectionMap, sectionMapDiff, sectionsOf } from "../../lib/viz/mod.ts";
import { deviceMachine } from "./_fixtures.ts";
import { assertSnapshot, assertSvgShape } from "./_snapshot.ts";

const byNr = (m: Machine, opts = {}) =>
  new Map(sectionsOf(m, { columns: 16, ...opts }).sections.map((s) => [s.nr, s]));

Deno.test("sectionsOf(): RAM, fsdax with its memmap on the device, private memory without a linear map", () => {
  const s = byNr(deviceMachine("after"));
  // rows 0-1 (RAM), 8 (16 GiB: fsdax), 9 (18 GiB: private), 10 (20 GiB: the failed hot-add)
  assertEquals([...s.keys()].length, 5 * 16);
  assertEquals([s.get(0)!.kind, s.get(31)!.kind, s.get(0)!.linearMap, s.get(0)!.memmap], [
    "ram",
    "ram",
    true,
    "ram",
  ]);
  const fsdax = s.get(128)!;
  assertEquals(
    [fsdax.kind, fsdax.type, fsdax.linearMap, fsdax.memmap, fsdax.leaked],
    ["device", "MEMORY_DEVICE_FS_DAX", true, "device", undefined],
  );
  assertEquals(fsdax.note, "pmem0");
  const priv = s.get(144)!;
  assertEquals(
    [priv.kind, priv.type, priv.linearMap, priv.memmap],
    ["device", "MEMORY_DEVICE_PRIVATE", false, "ram"],
  );
  assert(priv.pgmapId !== undefined && priv.pgmapId !== fsdax.pgmapId);
  assertEquals([s.get(136)!.kind, s.get(136)!.linearMap, s.get(136)!.leaked], [
    "free",
    false,
    undefined,
  ]);
});

Deno.test("sectionsOf(): a hot-add that failed part-way leaves leaked sections and a leaked linear map", () => {
  const s = byNr(deviceMachine("after"));
  assertEquals([s.get(160)!.kind, s.get(160)!.leaked, s.get(161)!.leaked], ["device", true, true]);
  assert(s.get(160)!.note!.includes("failed __add_pages (-12)"));
  assertEquals([s.get(162)!.kind, s.get(162)!.linearMap, s.get(162)!.leaked], ["free", true, true]);
  assertEquals(s.get(164)!.leaked, undefined);
});

Deno.test("sectionsOf(): livePgmaps marks a device section whose pgmap is not live", () => {
  const m = deviceMachine("after");
  const fsdax = byNr(m).get(128)!.pgmapId!;
  const s = byNr(m, { livePgmaps: [fsdax] });
  assertEquals([s.get(128)!.leaked, s.get(144)!.leaked], [undefined, true]);
});

Deno.test("sectionsOf(): windows and free rows", () => {
  const m = deviceMachine("before");
  assertEquals(sectionsOf(m, { columns: 16 }).sections.length, 3 * 16); // rows 0, 1 and 8
  const all = sectionsOf(m, { columns: 16, skipFreeRows: false }).sections;
  assertEquals([all.length, all.at(-1)!.nr], [9 * 16, 143]);
  const win = sectionsOf(m, { from: 130, to: 133 }).sections;
  assertEquals(win.map((c) => c.nr), [130, 131, 132, 133]);
  assertThrows(() => sectionsOf(m, { from: 5, to: 4 }), RangeError, "from ≤ to");
  assertThrows(() => sectionsOf(m, { to: 2 ** 19 }), RangeError, "NR_MEM_SECTIONS");
  assertThrows(() => sectionsOf(new Machine()), RangeError, "mm_init has not run");
  assertThrows(() => sectionsOf({} as never), TypeError, "expected a Machine or a Kernel");
  const k = new Machine().k;
  mm_init(k, { ram: [{ start: 0, end: 2 ** 30 }] });
  assertEquals(sectionsOf(k, { columns: 8 }).sections.length, 8); // a Kernel works too
});

Deno.test("sectionMap(sectionsOf(machine)): snapshots of a machine's map and of its change", async () => {
  const after = sectionsOf(deviceMachine("after"), { columns: 16 });
  const fig = sectionMap(after, { columns: 16, title: "deviceMachine after" });
  assertSvgShape(fig.html!);
  await assertSnapshot("section-map-machine", fig.html!);
  const before = sectionsOf(deviceMachine("before"), { columns: 16 });
  const diff = sectionMapDiff(before, after, { columns: 16 });
  assert(diff.text.startsWith("section map diff before → after: 8 sections differ"));
  await assertSnapshot("section-map-machine-diff", diff.html!);
});
