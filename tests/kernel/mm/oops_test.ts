import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Machine } from "../../../lib/machine.ts";
import {
  arch_add_memory,
  arch_remove_memory,
  get_page,
  MEMORY_DEVICE_PCI_P2PDMA,
  mm_init,
  page_pgmap,
  page_ref_count,
  pfn_to_page,
  put_page,
  vmemmapAddress,
} from "../../../lib/kernel/mm/mod.ts";
import { GiB, hotAdd, hotRemove, machine, pgmapOf, SECTION } from "./_setup.ts";

const S = 16 * GiB; // pfn 0x400000: struct page at ffffea0010000000
const PFN = S / 4096;

Deno.test("a removed section's struct page: touching it Oopses at the vmemmap address the kernel computes", () => {
  const m = machine();
  const pgmap = pgmapOf(m.k, S, SECTION, MEMORY_DEVICE_PCI_P2PDMA);
  assertEquals(m.call(hotAdd, pgmap), 0);
  const page = pfn_to_page(m.k, PFN + 1);
  assertEquals(m.call(hotRemove, pgmap), 0);
  // pfn_to_page is arithmetic: it never faults
  assertEquals(pfn_to_page(m.k, PFN + 1), page);
  const r = m.run(function* p2pdma_map_sg(k) {
    yield* [];
    return page_ref_count(k, page);
  });
  assertEquals(r.done, false);
  assertEquals(r.oopses.length, 1);
  assertEquals(
    r.oopses[0]!.message,
    "BUG: unable to handle kernel paging request at ffffea0010000074",
  );
  // the chain starts at the accessor (the test's own frames are outside lib/)
  assertEquals(r.oopses[0]!.chain, ["page_ref_count"]);
  const log = m.k.dmesg.toString();
  assertStringIncludes(log, "BUG: unable to handle kernel paging request at ffffea0010000074");
  assertStringIncludes(log, "Oops: 0000 [#1] SMP PTI");
  assert(m.k.taints.has("D"));
  // get_page / put_page read compound_head first (+0x8); page->pgmap is the same slot
  const r2 = m.run(function* (k) {
    yield* [];
    get_page(k, page);
  });
  const r3 = m.run(function* (k) {
    yield* [];
    put_page(k, page);
  });
  const r4 = m.run(function* (k) {
    yield* [];
    page_pgmap(k, page);
  });
  assertEquals(
    [r2, r3, r4].map((r) => r.oopses[0]?.message),
    Array(3).fill("BUG: unable to handle kernel paging request at ffffea0010000048"),
  );
});

Deno.test("5-level paging: the vmemmap starts at ffd4000000000000", () => {
  const m = new Machine();
  mm_init(m.k, { paging: "5-level" });
  const pfn = 2 ** 38; // 1 PiB
  assertEquals(vmemmapAddress(m.k, pfn), "ffd4100000000000");
  const r = m.run(function* (k) {
    yield* [];
    page_ref_count(k, pfn);
  });
  assertEquals(
    r.oopses[0]!.message,
    "BUG: unable to handle kernel paging request at ffd4100000000034",
  );
});

Deno.test("S3b tail: a second arch_remove_memory of a removed range Oopses reading the first page's zone", () => {
  const m = machine();
  const k = m.k;
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), 0);
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_PCI_P2PDMA);
  m.call(hotAdd, pgmap); // -EEXIST swallowed, initialised
  assertEquals(m.call(hotRemove, pgmap), 0);
  const r = m.run(function* devm_memremap_pages_release(k) {
    yield* [];
    arch_remove_memory(k, S, SECTION, null);
  });
  assertEquals(
    r.oopses[0]!.message,
    "BUG: unable to handle kernel paging request at ffffea0010000000",
  );
});

Deno.test("a section added but never initialised: page_zone is the debug kernel's poisoned-page BUG", () => {
  const m = machine();
  const k = m.k;
  assertEquals(arch_add_memory(k, 0, S, SECTION, null, false), 0);
  const r = m.run(function* (k) {
    yield* [];
    arch_remove_memory(k, S, SECTION, null);
  });
  assertEquals(r.oopses[0]!.message, "kernel BUG at include/linux/mm.h:page_to_nid!");
  assertEquals(k.dmesg.grep("page:ffffea0010000000 is uninitialized and poisoned").length, 1);
});
