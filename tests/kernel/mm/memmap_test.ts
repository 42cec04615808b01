import { assert, assertEquals, assertLessOrEqual, assertThrows } from "@std/assert";
import {
  __nr_to_section,
  arch_add_memory,
  get_page,
  memmap_init_zone_device,
  memmapFootprint,
  MEMORY_DEVICE_FS_DAX,
  MEMORY_DEVICE_PCI_P2PDMA,
  move_pfn_range_to_zone,
  NODE_DATA,
  page_pgmap,
  page_ref_count,
  page_zonenum,
  PagePoisoned,
  PageReserved,
  pfn_to_page,
  set_page_count,
  ZONE_DEVICE,
  ZONE_NORMAL,
} from "../../../lib/kernel/mm/mod.ts";
import { devZone, GiB, hotAdd, machine, pgmapOf, SECTION } from "./_setup.ts";

const S = 16 * GiB;
const PFN = S / 4096;

Deno.test("memmap_init_zone_device: one descriptor per section, pages read as refcount 1 / pgmap / DEVICE / reserved", () => {
  const m = machine();
  const k = m.k;
  k.trace.on = true;
  const pgmap = pgmapOf(k, S, 8 * SECTION, MEMORY_DEVICE_FS_DAX, { name: "pmem0" });
  assertEquals(m.call(hotAdd, pgmap), 0);
  const fp = memmapFootprint(k);
  assertEquals(fp.materialisedSections, 1, "only boot section 0 (DMA|DMA32) has per-page words");
  for (const pfn of [PFN, PFN + 12345, PFN + 8 * 32768 - 1]) {
    assertEquals(page_ref_count(k, pfn), 1);
    assert(page_pgmap(k, pfn) === pgmap);
    assertEquals(page_zonenum(k, pfn), ZONE_DEVICE);
    assert(PageReserved(k, pfn));
  }
  const ev = k.trace.filter("memmap").filter((e) => e.op === "init_zone_device");
  assertEquals(ev.map((e) => [e.start_pfn, e.nr_pages, e.pgmap]), [[PFN, 8 * 32768, pgmap.id]]);
  assertEquals(k.dmesg.grep(/^pmem0 initialised, 262144 pages in \d+ms$/).length, 1);
  // simulated time: 8 whole sections at memmap.initPerSection
  assert(k.clock.now >= 8 * k.cost.get("memmap.initPerSection"));
  // a write to one page materialises that section only
  get_page(k, pfn_to_page(k, PFN + 40000));
  assertEquals(memmapFootprint(k).materialisedSections, 2);
  assertEquals(page_ref_count(k, PFN + 40000), 2);
  assertEquals(page_ref_count(k, PFN + 40001), 1);
  assert(page_pgmap(k, PFN + 40001) === pgmap);
  assertEquals(k.trace.filter("memmap").filter((e) => e.op === "materialise").length, 1);
});

Deno.test("memmap: bytes per materialised page ≤ 4 (64 sections)", () => {
  const m = machine();
  const k = m.k;
  const pgmap = pgmapOf(k, S, 64 * SECTION, MEMORY_DEVICE_FS_DAX);
  assertEquals(m.call(hotAdd, pgmap), 0);
  for (let i = 0; i < 64; i++) get_page(k, PFN + i * 32768 + 7);
  const fp = memmapFootprint(k);
  let bytes = 0;
  let pages = 0;
  for (let i = 0; i < 64; i++) {
    const s = __nr_to_section(k, 128 + i)!;
    assert(s.words !== null);
    bytes += s.words.byteLength;
    pages += 32768;
  }
  assertEquals(fp.materialisedSections, 65); // + boot section 0
  const perPage = bytes / pages;
  assertLessOrEqual(perPage, 4);
  assertEquals(perPage, 4);
  assertEquals(fp.bytes / fp.materialisedPages, 4);
});

Deno.test("memmap: counts beyond 24 bits go to the side table and come back", () => {
  const m = machine();
  const k = m.k;
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_FS_DAX);
  m.call(hotAdd, pgmap);
  set_page_count(k, PFN + 3, 2 ** 31 - 1);
  assertEquals(page_ref_count(k, PFN + 3), 2 ** 31 - 1);
  assertEquals(memmapFootprint(k).spilled, 1);
  set_page_count(k, PFN + 3, -9_000_000);
  assertEquals(page_ref_count(k, PFN + 3), -9_000_000);
  set_page_count(k, PFN + 3, 5);
  assertEquals([page_ref_count(k, PFN + 3), memmapFootprint(k).spilled], [5, 0]);
  set_page_count(k, PFN + 4, 0x800000);
  get_page(k, PFN + 4);
  assertEquals(page_ref_count(k, PFN + 4), 0x800001);
  assertEquals(page_ref_count(k, PFN + 5), 1);
});

Deno.test("memmap (S2): an unaligned resource gets its whole section initialised with its pgmap", () => {
  const m = machine();
  const k = m.k;
  const MiB = 2 ** 20;
  const pgmap = pgmapOf(k, S + 16 * MiB, 32 * MiB, MEMORY_DEVICE_FS_DAX);
  const zone = devZone(k);
  // devm_memremap_pages widens [S+16M, S+48M) to the section
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), 0);
  move_pfn_range_to_zone(k, zone, PFN, 32768, null);
  memmap_init_zone_device(k, zone, PFN, 32768, pgmap);
  // every page of the section, inside res or not
  assert(page_pgmap(k, PFN) === pgmap);
  assert(page_pgmap(k, PFN + 32767) === pgmap);
  assertEquals(memmapFootprint(k).materialisedSections, 1);
});

Deno.test("memmap (S3b): a second pgmap's init rewrites the whole shared section", () => {
  const m = machine();
  const k = m.k;
  const MiB = 2 ** 20;
  const a = pgmapOf(k, S + 64 * MiB, 16 * MiB, MEMORY_DEVICE_PCI_P2PDMA, { name: "A" });
  const b = pgmapOf(k, S + 16 * MiB, 16 * MiB, MEMORY_DEVICE_PCI_P2PDMA, { name: "B" });
  const zone = devZone(k);
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), 0);
  memmap_init_zone_device(k, zone, PFN, 32768, a);
  const P = PFN + 64 * 256; // a page of A
  get_page(k, P);
  assertEquals(page_ref_count(k, P), 2);
  // B's add: __add_section says -EEXIST, swallowed; its init covers the section
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), 0);
  memmap_init_zone_device(k, zone, PFN, 32768, b);
  assertEquals(page_ref_count(k, P), 1, "P's extra reference is wiped");
  assert(page_pgmap(k, P) === b, "A's pages now point at B");
  assertEquals(memmapFootprint(k).materialisedSections, 1, "whole-section init is uniform again");
});

Deno.test("memmap: pgmap runs within a section", () => {
  const m = machine();
  const k = m.k;
  const zone = devZone(k);
  const a = pgmapOf(k, S, SECTION, MEMORY_DEVICE_FS_DAX);
  const b = pgmapOf(k, S, SECTION, MEMORY_DEVICE_FS_DAX);
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), 0);
  memmap_init_zone_device(k, zone, PFN, 32768, a);
  memmap_init_zone_device(k, zone, PFN + 100, 200, b);
  assert(page_pgmap(k, PFN + 99) === a);
  assert(page_pgmap(k, PFN + 100) === b);
  assert(page_pgmap(k, PFN + 299) === b);
  assert(page_pgmap(k, PFN + 300) === a);
  memmap_init_zone_device(k, zone, PFN + 50, 300, a);
  assertEquals(__nr_to_section(k, 128)!.runs, null, "runs merge back to one pgmap");
  assertThrows(() => pfn_to_page(k, -1), TypeError, "pfn_to_page");
});

Deno.test("memmap_init_zone_device: WARN_ON_ONCE for a NULL pgmap or a non-device zone", () => {
  const m = machine();
  const k = m.k;
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_FS_DAX);
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), 0);
  memmap_init_zone_device(k, NODE_DATA(k, 0).node_zones[ZONE_NORMAL]!, PFN, 32768, pgmap);
  memmap_init_zone_device(k, devZone(k), PFN, 32768, null);
  assertEquals(k.dmesg.grep("WARNING").length, 1);
  assertEquals(PagePoisoned(k, PFN), true);
});
