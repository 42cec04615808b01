/** page_add_anon_rmap / do_page_add_anon_rmap (mm/rmap.c, v4.20): the kernel's signatures. */
import { assert, assertEquals } from "@std/assert";
import { anon, proc } from "./_proc.ts";
import {
  do_page_add_anon_rmap,
  page_add_anon_rmap,
  page_anon_vma,
  remove_migration_ptes,
  RMAP_EXCLUSIVE,
  try_to_unmap,
  TTU_MIGRATION,
} from "../../../lib/kernel/mm/rmap.ts";
import { anon_vma_prepare, find_vma } from "../../../lib/kernel/mm/mm-types.ts";
import { get_page, put_page } from "../../../lib/kernel/mm/swap.ts";
import { alloc_page } from "../../../lib/kernel/mm/ram-alloc.ts";
import { page_mapcount } from "../../../lib/kernel/mm/page-ext.ts";
import {
  is_migration_entry,
  pte_index,
  pte_pfn,
  pte_present,
  pte_to_swp_entry,
} from "../../../lib/kernel/mm/pgtable.ts";

Deno.test("page_add_anon_rmap(page, vma, address, compound) has no exclusive flag; do_page_add_anon_rmap(page, vma, address, flags) takes RMAP_EXCLUSIVE", () => {
  const { k, p } = proc();
  const a = anon(p, 2);
  const vma = find_vma(p.mm, a)!;
  assertEquals(anon_vma_prepare(k, vma), 0);
  const page = alloc_page(k)!;
  // @ts-expect-error v4.20's page_add_anon_rmap has four arguments; RMAP_EXCLUSIVE goes through do_page_add_anon_rmap
  page_add_anon_rmap(k, page, vma, a, false, true);
  assertEquals(page_mapcount(k, page), 1);
  assert(page_anon_vma(k, page) === vma.anon_vma);
  const other = alloc_page(k)!;
  do_page_add_anon_rmap(k, other, vma, a + 4096, RMAP_EXCLUSIVE);
  do_page_add_anon_rmap(k, other, vma, a + 4096, 0);
  assertEquals(page_mapcount(k, other), 2);
  assert(page_anon_vma(k, other) === vma.anon_vma);
});

Deno.test("remove_migration_ptes(old, new, locked): v4.20's three arguments; the migration entry try_to_unmap left becomes the page again", () => {
  const { k, p } = proc();
  const a = anon(p, 1);
  p.store32(a, 5);
  const page = p.mm.pgd.lookup(a)!.ptes![pte_index(a)]!;
  const pfn = pte_pfn(page);
  get_page(k, pfn); // the migration's reference (migrate_vma_collect's)
  assert(try_to_unmap(k, pfn, TTU_MIGRATION));
  const e = p.mm.pgd.lookup(a)!.ptes![pte_index(a)]!;
  assert(!pte_present(e) && is_migration_entry(pte_to_swp_entry(e)));
  remove_migration_ptes(k, pfn, pfn, false);
  const back = p.mm.pgd.lookup(a)!.ptes![pte_index(a)]!;
  assertEquals([pte_present(back), pte_pfn(back)], [true, pfn]);
  put_page(k, pfn);
  assertEquals(p.load32(a), 5);
});
