import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import {
  dev_pagemap_get_ops,
  dev_pagemap_put_ops,
  devmap_managed_key_enabled,
  get_page,
  is_device_private_page,
  is_pci_p2pdma_page,
  MEMORY_DEVICE_FS_DAX,
  MEMORY_DEVICE_PCI_P2PDMA,
  MEMORY_DEVICE_PRIVATE,
  type MemoryType,
  page_ref_count,
  PageActive,
  put_page,
  put_page_range,
  SetPageActive,
  VmemAltmap,
} from "../../../lib/kernel/mm/mod.ts";
import { percpu_ref_kill } from "../../../lib/kernel/percpu-refcount.ts";
import { GiB, hotAdd, machine, pgmapOf, SECTION } from "./_setup.ts";

const S = 16 * GiB;
const PFN = S / 4096;

Deno.test("put_page: a managed (device-private) page is free at refcount 1: page_free runs, PG_active cleared", () => {
  const m = machine();
  const k = m.k;
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_PRIVATE);
  const freed: Array<[number, unknown]> = [];
  pgmap.data = "drvdata";
  pgmap.page_free = (_k, page, data) => void freed.push([page, data]);
  m.call(hotAdd, pgmap);
  dev_pagemap_get_ops(k);
  assert(devmap_managed_key_enabled(k));
  assert(is_device_private_page(k, PFN + 9));
  const before = pgmap.ref!.value;
  get_page(k, PFN + 9);
  SetPageActive(k, PFN + 9);
  put_page(k, PFN + 9);
  assertEquals(page_ref_count(k, PFN + 9), 1);
  assertEquals(freed, [[PFN + 9, "drvdata"]]);
  assertEquals(PageActive(k, PFN + 9), false);
  assertEquals(pgmap.ref!.value, before, "no pgmap ref moves at 2 -> 1");
  // 1 -> 0 goes to __put_page: one pgmap put
  put_page(k, PFN + 9);
  assertEquals([page_ref_count(k, PFN + 9), pgmap.ref!.value], [0, before - 1]);
  assertEquals(freed.length, 1);
});

Deno.test("put_page: an FS_DAX page at 0 drops one pgmap ref, with the devmap key on and off", () => {
  for (const key of [true, false]) {
    const m = machine();
    const k = m.k;
    const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_FS_DAX);
    let woken = 0;
    pgmap.page_free = () => void woken++; // fsdax_pagefree: wake_up_var
    m.call(hotAdd, pgmap);
    if (key) dev_pagemap_get_ops(k);
    assertEquals(pgmap.ref!.value, 1 + 32768);
    put_page(k, PFN + 1);
    assertEquals([page_ref_count(k, PFN + 1), pgmap.ref!.value], [0, 32768]);
    // 2 -> 1 calls page_free only through the managed path
    get_page(k, PFN + 2);
    put_page(k, PFN + 2);
    assertEquals(woken, key ? 1 : 0);
  }
});

Deno.test("put_page: P2PDMA and device-dax (type 0) pages are never managed: no page_free", () => {
  for (const type of [MEMORY_DEVICE_PCI_P2PDMA, 0] as MemoryType[]) {
    const m = machine();
    const k = m.k;
    const pgmap = pgmapOf(k, S, SECTION, type);
    let called = 0;
    pgmap.page_free = () => void called++;
    m.call(hotAdd, pgmap);
    dev_pagemap_get_ops(k);
    assertEquals(is_pci_p2pdma_page(k, PFN), type === MEMORY_DEVICE_PCI_P2PDMA);
    get_page(k, PFN);
    put_page(k, PFN);
    put_page(k, PFN);
    assertEquals([called, pgmap.ref!.value], [0, 32768]);
    dev_pagemap_put_ops(k);
    assertEquals(devmap_managed_key_enabled(k), false);
  }
});

Deno.test("put_page: an altmap page (ZONE_DEVICE, page->pgmap NULL) Oopses in the managed path", () => {
  const m = machine();
  const k = m.k;
  const altmap = new VmemAltmap(PFN, 0, 1024);
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_FS_DAX, { altmap });
  m.call(hotAdd, pgmap);
  dev_pagemap_get_ops(k);
  const r = m.run(function* (k) {
    yield* [];
    put_page(k, PFN + 3);
  });
  assertEquals(r.oopses.map((o) => o.message), [
    "BUG: unable to handle kernel NULL pointer dereference at 0000000000000098",
  ]);
  // with the key off, __put_page's put_dev_pagemap(NULL) is a no-op
  dev_pagemap_put_ops(k);
  put_page(k, PFN + 4);
  assertEquals(page_ref_count(k, PFN + 4), 0);
});

Deno.test("put_page_range: the release's put loop in O(sections), the ref reaching zero exactly", () => {
  const m = machine();
  const k = m.k;
  const pgmap = pgmapOf(k, S, 64 * SECTION, MEMORY_DEVICE_FS_DAX);
  let released = 0;
  let freed = 0;
  pgmap.ref!.release = () => void released++;
  pgmap.page_free = () => void freed++; // the held page goes 2 -> 1 in the loop
  m.call(hotAdd, pgmap);
  dev_pagemap_get_ops(k);
  percpu_ref_kill(k, pgmap.ref!);
  k.sched.runUntilQuiescent(); // the grace period: the ref is atomic now
  assertEquals(pgmap.ref!.value, 64 * 32768);
  get_page(k, PFN + 100); // a user still holds one page
  const t0 = performance.now();
  put_page_range(k, PFN, 64 * 32768);
  const ms = performance.now() - t0;
  assertEquals(pgmap.ref!.value, 1, "the held page keeps one ref");
  assertEquals([released, freed], [0, 1]);
  assertEquals(page_ref_count(k, PFN + 100), 1);
  assertEquals(page_ref_count(k, PFN + 101), 0);
  put_page(k, PFN + 100); // 1 -> 0: the last ref
  assertEquals([pgmap.ref!.value, released], [0, 1]);
  assert(ms < 200, `put_page_range took ${ms} ms`);
});

Deno.test("put_page_range: release fires at the exact put even when the batch overshoots", () => {
  const m = machine();
  const k = m.k;
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_FS_DAX);
  const seen: number[] = [];
  m.call(hotAdd, pgmap);
  pgmap.ref!.release = (ref) => void seen.push(ref.count);
  percpu_ref_kill(k, pgmap.ref!);
  k.sched.runUntilQuiescent();
  // drop 100 of the page refs by hand: the loop's puts cross zero 100 pages early
  pgmap.ref!.count -= 100;
  put_page_range(k, PFN, 32768);
  assertEquals(seen, [0]);
  assertEquals(pgmap.ref!.count, -100);
});

Deno.test("put_page_range ≡ a put_page loop (property)", () => {
  const types: MemoryType[] = [
    MEMORY_DEVICE_FS_DAX,
    MEMORY_DEVICE_PRIVATE,
    MEMORY_DEVICE_PCI_P2PDMA,
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...types),
      fc.boolean(),
      fc.array(fc.integer({ min: 0, max: 3 * 32768 - 1 }), { maxLength: 20 }),
      fc.integer({ min: 0, max: 2 * 32768 }),
      fc.integer({ min: 1, max: 32768 }),
      (type, key, gets, from, len) => {
        const run = (bulk: boolean) => {
          const m = machine();
          const k = m.k;
          const pgmap = pgmapOf(k, S, 3 * SECTION, type);
          const freed: number[] = [];
          pgmap.page_free = (_k, p) => void freed.push(p);
          m.call(hotAdd, pgmap);
          if (key) dev_pagemap_get_ops(k);
          for (const g of gets) get_page(k, PFN + g);
          if (bulk) put_page_range(k, PFN + from, len);
          else for (let p = PFN + from; p < PFN + from + len; p++) put_page(k, p);
          const probe = [...gets, from, from + len - 1, 0, 3 * 32768 - 1].map((i) =>
            page_ref_count(k, PFN + i)
          );
          return { probe, ref: pgmap.ref!.value, freed: freed.sort((a, b) => a - b) };
        };
        assertEquals(run(true), run(false));
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("put_page_range: a materialised section goes by runs of equal words, as the per-page loop would", () => {
  const run = (bulk: boolean) => {
    const m = machine();
    const k = m.k;
    const pgmap = pgmapOf(k, S, 2 * SECTION, MEMORY_DEVICE_FS_DAX);
    let freed = 0;
    pgmap.page_free = () => void freed++;
    m.call(hotAdd, pgmap);
    dev_pagemap_get_ops(k);
    percpu_ref_kill(k, pgmap.ref!);
    k.sched.runUntilQuiescent();
    // users hold pages here and there: the first section has per-page words
    for (const i of [3, 4, 5, 4000, 32767]) get_page(k, PFN + i);
    get_page(k, PFN + 4);
    if (bulk) put_page_range(k, PFN, 2 * 32768);
    else for (let i = 0; i < 2 * 32768; i++) put_page(k, PFN + i);
    return {
      counts: [0, 2, 3, 4, 5, 6, 3999, 4000, 4001, 32767, 32768].map((i) =>
        page_ref_count(k, PFN + i)
      ),
      ref: pgmap.ref!.value,
      freed,
    };
  };
  const perPage = run(false);
  assertEquals(perPage.counts, [0, 0, 1, 2, 1, 0, 0, 1, 0, 1, 0]);
  assertEquals(run(true), perPage);
});
