import { assert, assertEquals } from "@std/assert";
import { devdax, fsdaxFile, mapDax } from "./_rig.ts";
import { FOLL_WRITE, get_user_pages, get_user_pages_fast } from "../../../lib/kernel/mm/gup.ts";
import { userTouch } from "../../../lib/drivers/dax/uaccess.ts";
import { page_ref_count } from "../../../lib/kernel/mm/memmap.ts";
import { put_page } from "../../../lib/kernel/mm/swap.ts";
import { percpu_ref_kill } from "../../../lib/kernel/percpu-refcount.ts";
import {
  MADV_NOHUGEPAGE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";

Deno.test("gup: get_user_pages faults a DAX file in and pins its devmap pages — a page reference each, the pgmap reference only while walking", () => {
  const t = fsdaxFile();
  const addr = t.p.mmap(0, 2 ** 22, PROT_READ | PROT_WRITE, MAP_SHARED, t.f, 0);
  t.p.madvise(addr, 2 ** 22, MADV_NOHUGEPAGE);
  const ref = t.pmem.pgmap.ref!;
  const before = ref.value;
  const pages: number[] = [];
  assertEquals(get_user_pages(t.k, t.p.mm, addr, 16, FOLL_WRITE, pages), 16);
  assertEquals(pages.length, 16);
  for (const p of pages) assertEquals(page_ref_count(t.k, p), 2);
  assertEquals(ref.value, before); // get_dev_pagemap's reference was put at the end of the walk
  for (const p of pages) put_page(t.k, p);
  for (const p of pages) assertEquals(page_ref_count(t.k, p), 1);
});

Deno.test("gup: the cached pgmap — one slow get_dev_pagemap lookup for a run of pages in the same pgmap", () => {
  const t = fsdaxFile();
  const addr = t.p.mmap(0, 2 ** 22, PROT_READ | PROT_WRITE, MAP_SHARED, t.f, 0);
  t.p.madvise(addr, 2 ** 22, MADV_NOHUGEPAGE);
  for (let i = 0; i < 64; i++) assertEquals(userTouch(t.k, t.p, addr + i * 4096, true), 0);
  const slow = Math.round(t.k.cost.get("getDevPagemap.slowWarm"));
  const cost = (n: number): number => {
    const pages: number[] = [];
    const t0 = t.k.now;
    assertEquals(get_user_pages(t.k, t.p.mm, addr, n, 0, pages), n);
    const dt = t.k.now - t0;
    for (const p of pages) put_page(t.k, p);
    return dt;
  };
  // no faults: the walk's only simulated cost is the lookup, done once however many pages
  assertEquals([cost(1), cost(64)], [slow, slow]);
});

Deno.test("gup: get_user_pages_fast pins pte- and pmd-mapped devmap pages; a dying pgmap makes it pin nothing", () => {
  // pte: a DAX file without huge pages
  const t = fsdaxFile();
  const addr = t.p.mmap(0, 2 ** 22, PROT_READ | PROT_WRITE, MAP_SHARED, t.f, 0);
  t.p.madvise(addr, 2 ** 22, MADV_NOHUGEPAGE);
  for (let i = 0; i < 8; i++) userTouch(t.k, t.p, addr + i * 4096, true);
  const pages: number[] = [];
  assertEquals(get_user_pages_fast(t.k, t.p.mm, addr, 8, true, pages), 8);
  for (const p of pages.splice(0)) put_page(t.k, p);
  // the pgmap dies (its kill ran): the lockless walk undoes and the slow walk finds no live pgmap;
  // 4.20 would retry the fault forever (until a fatal signal), the model gives up with -EFAULT
  percpu_ref_kill(t.k, t.pmem.pgmap.ref!);
  assertEquals(get_user_pages_fast(t.k, t.p.mm, addr, 8, true, pages), -14);
  assertEquals(pages.length, 0);
  // pmd: device-dax at 2 MiB
  const d = devdax(2 ** 21);
  const base = mapDax(d, 2 ** 22);
  userTouch(d.k, d.p, base, true);
  userTouch(d.k, d.p, base + 2 ** 21, true);
  const huge: number[] = [];
  assertEquals(get_user_pages_fast(d.k, d.p.mm, base + 2 ** 21 - 4096, 2, true, huge), 2);
  assertEquals(huge[1]! - huge[0]!, 1); // the last page of one devmap pmd and the first of the next
  for (const p of huge) assertEquals(page_ref_count(d.k, p), 2);
});

Deno.test("gup: without FOLL_GET a devmap entry is -EEXIST (skipped, counted): populate only, no reference", () => {
  const d = devdax(2 ** 21);
  const base = mapDax(d, 2 ** 21);
  assertEquals(get_user_pages(d.k, d.p.mm, base, 4, 0, null), 4);
  const pfn = d.p.pfnAt(base);
  assert(pfn === -1 || page_ref_count(d.k, pfn) === 1);
});

Deno.test("gup: a 1 GiB devmap pud pins through follow_devmap_pud and __gup_device_huge_pud", () => {
  const d = devdax(2 ** 30);
  const base = mapDax(d, 2 ** 30);
  const pages: number[] = [];
  assertEquals(get_user_pages(d.k, d.p.mm, base + 5 * 4096, 3, FOLL_WRITE, pages), 3);
  assertEquals(pages[2]! - pages[0]!, 2);
  const fast: number[] = [];
  assertEquals(get_user_pages_fast(d.k, d.p.mm, base, 4, false, fast), 4);
  assertEquals(page_ref_count(d.k, pages[0]!), 2);
  assertEquals(page_ref_count(d.k, fast[0]!), 2);
});
