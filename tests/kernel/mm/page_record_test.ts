/**
 * The interleaved struct page record (page-ext.ts) and sectionOf's
 * remembered sections (mmzone.ts): values survive the 32-bit split, fields
 * of neighbouring pages stay apart, and a section that was removed or
 * re-added is never answered from the cache.
 */
import { assert, assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import {
  __nr_to_section,
  EXT_STRIDE,
  get_page,
  head_mapping_raw,
  linkSection,
  MEMORY_DEVICE_PCI_P2PDMA,
  MM,
  page_index,
  page_linear_index,
  page_mapcount,
  page_mapping_raw,
  page_private,
  page_ref_count,
  pageFlags2,
  raw_mapcount,
  raw_mapcount_add,
  resetPageExt,
  sectionOf,
  set_page_anon_raw,
  set_page_index,
  set_page_mapping_raw,
  set_page_private,
  setPageFlag2,
  unlinkSection,
} from "../../../lib/kernel/mm/mod.ts";
import { copy_page_anon_state } from "../../../lib/kernel/mm/page-ext.ts";
import { GiB, hotAdd, hotRemove, machine, pgmapOf, SECTION } from "./_setup.ts";

Deno.test("page record: index and private keep every safe integer, apart from their neighbours", () => {
  const m = machine();
  const k = m.k;
  const page = 0x12345; // RAM
  const values = [
    0,
    1,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    2 ** 32,
    2 ** 35 + 12345, // a device pfn, a 47-bit user address's page index
    Number.MAX_SAFE_INTEGER,
    -1,
    -(2 ** 40) - 3,
  ];
  for (const v of values) {
    set_page_index(k, page, v);
    set_page_private(k, page, -v);
    assertEquals(page_index(k, page), v, `index ${v}`);
    assertEquals(page_private(k, page), -v === 0 ? 0 : -v, `private ${-v}`);
    // the neighbours' fields are untouched
    assertEquals(page_index(k, page - 1), 0);
    assertEquals(page_private(k, page + 1), 0);
    assertEquals(raw_mapcount(k, page + 1), -1);
  }
  // anything else would be truncated: refused
  assertThrows(() => set_page_index(k, page, 1.5), TypeError, "must be an integer");
  assertThrows(() => set_page_private(k, page, 2 ** 60), TypeError, "must be an integer");
  const s = sectionOf(k.state(MM), page)!;
  assertEquals(s.ext!.rec!.length, 32768 * EXT_STRIDE);
});

Deno.test("page record: mapping, mapcount and flags share a record; reset clears exactly one page", () => {
  const m = machine();
  const k = m.k;
  const a = 0x20000, b = a + 1;
  set_page_mapping_raw(k, a, 7);
  set_page_mapping_raw(k, b, 9);
  assertEquals(raw_mapcount_add(k, a, 1), 0);
  assertEquals(raw_mapcount_add(k, a, 1), 1);
  setPageFlag2(k, a, 1 | 8, true);
  setPageFlag2(k, a, 128, true); // the hugetlb bit, still one byte
  setPageFlag2(k, a, 8, false);
  set_page_anon_raw(k, b, 11, 2 ** 33);
  assertEquals(
    [page_mapping_raw(k, a), page_mapcount(k, a), pageFlags2(k, a)],
    [7, 2, 1 | 128],
  );
  assertEquals([head_mapping_raw(k, b), page_index(k, b), page_linear_index(k, b)], [
    11,
    2 ** 33,
    2 ** 33,
  ]);
  copy_page_anon_state(k, a + 2, a, 1);
  assertEquals([page_mapping_raw(k, a + 2), pageFlags2(k, a + 2)], [7, 1]);
  resetPageExt(k, a);
  assertEquals([page_mapping_raw(k, a), raw_mapcount(k, a), pageFlags2(k, a)], [0, -1, 0]);
  assertEquals([page_mapping_raw(k, b), page_index(k, b)], [11, 2 ** 33]);
});

Deno.test("sectionOf: a removed section is not answered from the cache; a re-added one is the new section", () => {
  const m = machine();
  const k = m.k;
  const mm = k.state(MM);
  const S = 16 * GiB, PFN = S / 4096;
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_PCI_P2PDMA);
  assertEquals(m.call(hotAdd, pgmap), 0);
  const first = sectionOf(mm, PFN + 5)!;
  assertStrictEquals(sectionOf(mm, 0x100), __nr_to_section(k, 0)); // fills the second slot
  assertStrictEquals(sectionOf(mm, PFN + 32767), first);
  get_page(k, PFN + 5);
  assertEquals(page_ref_count(k, PFN + 5), 2);
  assertEquals(m.call(hotRemove, pgmap), 0);
  assertEquals(sectionOf(mm, PFN + 5), null);
  const again = pgmapOf(k, S, SECTION, MEMORY_DEVICE_PCI_P2PDMA);
  assertEquals(m.call(hotAdd, again), 0);
  const second = sectionOf(mm, PFN + 5)!;
  assert(second !== first, "the re-added section is a new object");
  assertEquals(page_ref_count(k, PFN + 5), 1);
  // unlinking is what forgets: with the section in both slots, unlink it directly
  assertStrictEquals(sectionOf(mm, PFN + 1), second);
  assertStrictEquals(sectionOf(mm, PFN + 2), second);
  unlinkSection(mm, second);
  assertEquals(sectionOf(mm, PFN + 1), null);
  linkSection(mm, second);
  assertStrictEquals(sectionOf(mm, PFN + 1), second);
  // outside every section, and not a pfn at all
  assertEquals(sectionOf(mm, mm.maxSectionPfn), null);
  assertEquals(sectionOf(mm, -1), null);
  assertEquals(sectionOf(mm, Number.NaN), null);
});
