import { assert, assertEquals } from "@std/assert";
import { ENOMEM } from "../../../lib/kernel/errno.ts";
import {
  __nr_to_section,
  altmap_alloc_block_buf,
  is_zone_device_page,
  MEMORY_DEVICE_FS_DAX,
  MM,
  page_pgmap,
  page_ref_count,
  PagePoisoned,
  PageReserved,
  pfn_valid,
  pgmapDataPfns,
  vmem_altmap_offset,
  VmemAltmap,
} from "../../../lib/kernel/mm/mod.ts";
import { GiB, hotAdd, hotRemove, machine, pgmapOf, SECTION } from "./_setup.ts";

const S = 16 * GiB; // pfn 0x400000, section-aligned
const BASE = S / 4096;

Deno.test("altmap (S20): a 16 GiB --map=dev namespace carves its memmap from the device", () => {
  const m = machine();
  const k = m.k;
  const altmap = new VmemAltmap(BASE, 2, 66046);
  const pgmap = pgmapOf(k, S, 16 * GiB, MEMORY_DEVICE_FS_DAX, { altmap });
  assertEquals(m.call(hotAdd, pgmap), 0);
  assertEquals([altmap.alloc, altmap.align], [65536, 510]);
  assertEquals(vmem_altmap_offset(k, altmap), 66048);
  assertEquals(pgmapDataPfns(k, pgmap), [BASE + 66048, BASE + 4194304]);
  // each section's 2 MiB of struct pages sits on the device: first block aligned to 512
  assertEquals(__nr_to_section(k, 128)!.vmemmapPfn, BASE + 512);
  assertEquals(__nr_to_section(k, 129)!.vmemmapPfn, BASE + 1024);
  assertEquals(__nr_to_section(k, 255)!.vmemmapPfn, BASE + 512 * 128);
  // the data pages start after the memmap
  assertEquals(k.state(MM).pgmaps.has(pgmap), true);
  assertEquals(page_ref_count(k, BASE + 66048), 1);
  assert(page_pgmap(k, BASE + 66048) === pgmap);
  // the altmap's own pages: initialised by memmap_init_zone, no pgmap
  assertEquals(page_pgmap(k, BASE + 2), null);
  assert(is_zone_device_page(k, BASE + 2) && PageReserved(k, BASE + 2));
  assertEquals(page_ref_count(k, BASE + 2), 1);
  // the reserve (info block) is never initialised
  assert(PagePoisoned(k, BASE) && PagePoisoned(k, BASE + 1));
  assertEquals(page_ref_count(k, BASE), -1);
  // the release: all blocks go back, alignment padding stays lost
  assertEquals(m.call(hotRemove, pgmap), 0);
  assertEquals([altmap.alloc, altmap.align], [0, 510]);
  assertEquals(pfn_valid(k, BASE), false);
});

Deno.test("altmap (S20): a shrunken free runs out; the last sections fail with -ENOMEM, no RAM fallback", () => {
  const m = machine();
  const k = m.k;
  const altmap = new VmemAltmap(BASE, 2, 65000);
  const pgmap = pgmapOf(k, S, 16 * GiB, MEMORY_DEVICE_FS_DAX, { altmap });
  assertEquals(m.call(hotAdd, pgmap), -ENOMEM);
  // (65000 - 510) / 512 = 125 whole blocks fit
  const present = Array.from({ length: 128 }, (_, i) => pfn_valid(k, BASE + i * 32768));
  assertEquals(present.filter(Boolean).length, 125);
  assertEquals(present.slice(124, 127), [true, false, false]);
  assertEquals(altmap.alloc, 125 * 512);
  assertEquals(k.dmesg.grep("vmemmap alloc failure").length, 0); // altmap failures are silent
});

Deno.test("altmap_alloc_block_buf: alignment to the request, exhaustion, non-page sizes", () => {
  const m = machine();
  const k = m.k;
  const a = new VmemAltmap(1000, 3, 1200);
  // next pfn 1003; a 512-page block aligns to 1024: padding 21
  assertEquals(altmap_alloc_block_buf(k, 2 * 2 ** 20, a), 1024);
  assertEquals([a.alloc, a.align], [512, 21]);
  // 1200 - 533 = 667 free: a second 512 block needs 0 padding (1536) and fits
  assertEquals(altmap_alloc_block_buf(k, 2 * 2 ** 20, a), 1536);
  // 155 left: no third block
  assertEquals(altmap_alloc_block_buf(k, 2 * 2 ** 20, a), null);
  assertEquals([a.alloc, a.align], [1024, 21]);
  // a 3-page request aligns to 1 page
  assertEquals(altmap_alloc_block_buf(k, 3 * 4096, a), 2048);
  assertEquals(altmap_alloc_block_buf(k, 100, a), null);
  assertEquals(altmap_alloc_block_buf(k, 100, a), null);
  assertEquals(k.dmesg.grep("allocations must be multiple of PAGE_SIZE (100)").length, 1);
});

Deno.test("altmap: a usemap failure gives the memmap block back but not its padding", () => {
  const m = machine();
  const k = m.k;
  const altmap = new VmemAltmap(BASE, 2, 4096);
  const pgmap = pgmapOf(k, S, 2 * SECTION, MEMORY_DEVICE_FS_DAX, { altmap });
  k.faults.arm("sparse_add_one_section", { nth: 1 });
  assertEquals(m.call(hotAdd, pgmap), -ENOMEM);
  assertEquals([altmap.alloc, altmap.align], [0, 510]);
  assertEquals(pfn_valid(k, BASE), false);
});
