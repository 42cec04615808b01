import { assert, assertEquals, assertThrows } from "@std/assert";
import { EINVAL, ENOMEM } from "../../../lib/kernel/errno.ts";
import {
  __add_pages,
  __nr_to_section,
  __pfn_to_section,
  __remove_pages,
  add_pages,
  arch_add_memory,
  arch_remove_memory,
  linearMapped,
  MEMORY_DEVICE_FS_DAX,
  MM,
  mm_init,
  NODE_DATA,
  online_section,
  PAGE_POISON_WORD,
  page_ref_count,
  page_zonenum,
  pfn_to_online_page,
  pfn_valid,
  present_section,
  presentSections,
  SECTION_HAS_MEM_MAP,
  SECTION_IS_ONLINE,
  SECTION_MARKED_PRESENT,
  sectionState,
  valid_section,
  ZONE_DEVICE,
  ZONE_DMA,
  ZONE_DMA32,
  ZONE_NORMAL,
} from "../../../lib/kernel/mm/mod.ts";
import { Kernel } from "../../../lib/kernel/kernel.ts";
import { devZone, GiB, hotAdd, hotRemove, machine, pgmapOf, SECTION } from "./_setup.ts";

const S = 16 * GiB; // section 128, pfn 0x400000
const PFN = S / 4096;

Deno.test("mm_init: RAM sections are present, valid, online, in DMA/DMA32/Normal by address", () => {
  const m = machine({ ram: [{ start: 0, end: 6 * GiB }] });
  const k = m.k;
  const mm = k.state(MM);
  assertEquals([mm.MAX_PHYSMEM_BITS, mm.NR_MEM_SECTIONS], [46, 2 ** 19]);
  assertEquals(mm.presentSections, 48);
  const s0 = __nr_to_section(k, 0)!;
  assertEquals(
    s0.flags,
    SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE,
  );
  assertEquals(page_zonenum(k, 0x10), ZONE_DMA);
  assertEquals(page_zonenum(k, 0x2000), ZONE_DMA32);
  assertEquals(page_zonenum(k, 0x140000), ZONE_NORMAL);
  assertEquals(page_ref_count(k, 0x140000), 0);
  assertEquals(pfn_to_online_page(k, 0x140000), 0x140000);
  assertEquals(pfn_valid(k, 6 * GiB / 4096), false);
  assertEquals(NODE_DATA(k, 0).node_zones[ZONE_NORMAL]!.spanned_pages, 2 * GiB / 4096);
  assert(linearMapped(k, 5 * GiB));
  // only section 0 (DMA | DMA32) needed per-page words
  assert(s0.words !== null);
  assertEquals(__nr_to_section(k, 40)!.words, null);
});

Deno.test("mm_init: 5-level paging has 2^25 sections without allocating them", () => {
  const m = machine({ paging: "5-level", ram: [{ start: 0, end: GiB }] });
  const mm = m.k.state(MM);
  assertEquals([mm.MAX_PHYSMEM_BITS, mm.NR_MEM_SECTIONS, mm.roots.length], [52, 2 ** 25, 2 ** 17]);
  // a range far above 4-level's limit
  assertEquals(arch_add_memory(m.k, 0, 2 ** 50, 2 * SECTION, null, false), 0);
  assert(pfn_valid(m.k, 2 ** 38));
  assertThrows(() => mm_init(m.k, {}), TypeError, "already ran");
  assertThrows(
    () => mm_init(new Kernel(), { ram: [{ start: 0, end: 2 ** 47 }] }),
    RangeError,
    "MAX_PHYSMEM_BITS",
  );
});

Deno.test("arch_add_memory: ZONE_DEVICE sections are present + valid, never online, linear-mapped; remove undoes it", () => {
  const m = machine();
  const k = m.k;
  const pgmap = pgmapOf(k, S, 2 * SECTION, MEMORY_DEVICE_FS_DAX);
  assertEquals(m.call(hotAdd, pgmap), 0);
  for (const nr of [128, 129]) {
    const ms = __nr_to_section(k, nr);
    assert(present_section(k, ms) && valid_section(k, ms));
    assertEquals(online_section(k, ms), false);
    assertEquals(ms!.memblock, false); // want_memblock = false
    assertEquals(ms!.vmemmapPfn, -1); // memmap in RAM (no altmap)
  }
  assertEquals(pfn_to_online_page(k, PFN), null);
  assert(linearMapped(k, S + SECTION));
  assertEquals(page_zonenum(k, PFN + 5), ZONE_DEVICE);
  assertEquals(devZone(k).zone_start_pfn, PFN);
  assertEquals(devZone(k).spanned_pages, 65536);
  assertEquals(k.state(MM).max_pfn, (S + 2 * SECTION) / 4096);
  assertEquals(sectionState(k, 129), {
    nr: 129,
    present: true,
    valid: true,
    online: false,
    linear: true,
    zone: ZONE_DEVICE,
    nid: 0,
    memblock: false,
    memmap: "ram",
    pgmaps: [pgmap.id],
    materialised: false,
    addedBy: k.state(MM).hotplugLog.at(-1)!.id,
  });
  assertEquals(presentSections(k, 100, 200).map((s) => s.nr), [128, 129]);
  assertEquals(m.call(hotRemove, pgmap), 0);
  assertEquals([pfn_valid(k, PFN), pfn_valid(k, PFN + 32768)], [false, false]);
  assertEquals(sectionState(k, 128).present, false);
  assertEquals(__pfn_to_section(k, PFN), null);
  assertEquals(linearMapped(k, S), false);
  assertEquals(devZone(k).spanned_pages, 0);
  assertEquals(k.state(MM).vmemmapBlocks.size, 0);
  // still linear-mapped RAM untouched
  assert(linearMapped(k, GiB));
});

Deno.test("__add_pages: an already-present section is -EEXIST, swallowed: success, memmap shared", () => {
  const m = machine();
  const k = m.k;
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), 0);
  const first = __nr_to_section(k, 128)!;
  // sections 128 (present) and 129 (new)
  assertEquals(__add_pages(k, 0, PFN, 65536, null, false), 0);
  assert(__nr_to_section(k, 128) === first, "the present section keeps its memmap");
  assert(pfn_valid(k, PFN + 32768));
  const log = k.state(MM).hotplugLog;
  assertEquals(log.map((r) => [r.added, r.existing, r.ret]), [[1, 0, 0], [1, 1, 0]]);
  assertEquals(first.addedBy, log[0]!.id);
  assertEquals(__nr_to_section(k, 129)!.addedBy, log[1]!.id);
  assertEquals(k.dmesg.grep("WARNING").length, 0);
});

Deno.test("__add_pages: a failure part-way keeps the earlier sections (memmap, linear map, no owner) and add_pages WARNs once", () => {
  const m = machine();
  const k = m.k;
  k.faults.arm("sparse_add_one_section", { nth: 3 });
  assertEquals(arch_add_memory(k, 0, S, 4 * SECTION, null, false), -ENOMEM);
  assertEquals([0, 1, 2, 3].map((i) => pfn_valid(k, PFN + i * 32768)), [true, true, false, false]);
  // the leaked sections: present, memmap never initialised, linear map still there
  const leaked = __nr_to_section(k, 129)!;
  assertEquals(leaked.fill, PAGE_POISON_WORD);
  assertEquals(leaked.pgmap, null);
  assert(linearMapped(k, S + 3 * SECTION), "the linear map of the whole range stays");
  const rec = k.state(MM).hotplugLog.at(-1)!;
  assertEquals([rec.added, rec.ret], [2, -ENOMEM]);
  assertEquals(leaked.addedBy, rec.id);
  assertEquals(k.dmesg.grep(/^WARNING: CPU: \d+ PID: \d+ at .*add_pages/).length, 1);
  // max_pfn is raised over the whole range anyway
  assertEquals(k.state(MM).max_pfn, (S + 4 * SECTION) / 4096);
  // WARN_ON_ONCE: a second failure prints nothing more
  k.faults.arm("sparse_add_one_section", { nth: 1 });
  assertEquals(add_pages(k, 0, PFN + 3 * 32768, 32768, null, false), -ENOMEM);
  assertEquals(k.dmesg.grep("WARNING").length, 1);
});

Deno.test("vmemmap_populate failure: -ENOMEM, warn_alloc once for RAM memmap", () => {
  const m = machine();
  const k = m.k;
  k.faults.arm("vmemmap_populate", { nth: 2 });
  assertEquals(arch_add_memory(k, 0, S, 2 * SECTION, null, false), -ENOMEM);
  assertEquals([pfn_valid(k, PFN), pfn_valid(k, PFN + 32768)], [true, false]);
  assertEquals(k.dmesg.grep("vmemmap alloc failure: order:9").length, 1);
});

Deno.test("arch_add_memory fault point: fails at entry with nothing changed", () => {
  const m = machine();
  const k = m.k;
  k.faults.arm("arch_add_memory", { nth: 1 });
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), -ENOMEM);
  assertEquals([pfn_valid(k, PFN), linearMapped(k, S)], [false, false]);
});

Deno.test("__remove_pages: BUG on a partial section; -EINVAL on a section without memmap, WARN in arch_remove_memory", () => {
  const m = machine();
  const k = m.k;
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), 0);
  const r = m.run(function* (k) {
    __remove_pages(k, devZone(k), PFN, 4096, null);
    yield* [];
  });
  assertEquals(r.oopses.length, 1);
  assertEquals(r.oopses[0]!.message, "kernel BUG at mm/memory_hotplug.c:__remove_pages!");
  // a range whose second section was never added: first removed, then -EINVAL
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_FS_DAX);
  m.call(hotAdd, pgmap);
  const ret = m.call(arch_remove_memory, S, 2 * SECTION, null);
  assertEquals(ret, -EINVAL);
  assertEquals(pfn_valid(k, PFN), false);
  assertEquals(k.dmesg.grep(/WARNING: .* arch_remove_memory/).length, 1);
});

Deno.test("__add_pages: an invalid altmap is -EINVAL with pr_warn_once", async (t) => {
  const { VmemAltmap } = await import("../../../lib/kernel/mm/types.ts");
  const m = machine();
  const k = m.k;
  await t.step("base_pfn must be the first pfn added", () => {
    const alt = new VmemAltmap(PFN + 1, 0, 512);
    assertEquals(arch_add_memory(k, 0, S, SECTION, alt, false), -EINVAL);
  });
  await t.step("offset must not exceed nr_pages", () => {
    const alt = new VmemAltmap(PFN, 2, 32767);
    assertEquals(arch_add_memory(k, 0, S, SECTION, alt, false), -EINVAL);
  });
  assertEquals(k.dmesg.grep("memory add fail, invalid altmap").length, 1);
  assertEquals(pfn_valid(k, PFN), false);
});
