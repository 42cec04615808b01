/**
 * The page allocator's kernel-named entry points keep the kernel's
 * signatures (ram-alloc.ts): my_zero_pfn(addr) and
 * alloc_zeroed_user_highpage_movable(vma, vaddr), each after `k`.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import { anon, proc } from "./_proc.ts";
import {
  __free_page,
  alloc_page,
  alloc_zeroed_user_highpage_movable,
  is_zero_pfn,
  my_zero_pfn,
} from "../../../lib/kernel/mm/ram-alloc.ts";
import { pte_pfn, pteAt } from "../../../lib/kernel/mm/pgtable.ts";
import { pageReadWord } from "../../../lib/kernel/mm/page-contents.ts";
import { page_ref_count, set_page_count } from "../../../lib/kernel/mm/memmap.ts";
import { find_vma } from "../../../lib/kernel/mm/mm-types.ts";

Deno.test("my_zero_pfn(addr): takes the user address after k, as include/asm-generic/pgtable.h's does; the pfn a read fault maps there", () => {
  assertEquals(my_zero_pfn.length, 2, "my_zero_pfn(k, addr)");
  const { k, p } = proc();
  const a = anon(p, 2);
  assertEquals(p.load32(a + 4096), 0); // a read fault maps the zero page
  const pfn = my_zero_pfn(k, a + 4096);
  assertEquals(pte_pfn(pteAt(p.mm.pgd, a + 4096)), pfn);
  assert(is_zero_pfn(k, pfn));
  assertEquals(my_zero_pfn(k, a), pfn, "x86 has one zero page whatever the address");
});

Deno.test("alloc_zeroed_user_highpage_movable(vma, vaddr): takes the VMA and the user address after k, as include/linux/highmem.h's does; a zeroed page with one reference", () => {
  assertEquals(alloc_zeroed_user_highpage_movable.length, 3, "(k, vma, vaddr)");
  const { k, p } = proc();
  const a = anon(p, 1);
  const vma = find_vma(p.mm, a)!;
  const page = alloc_zeroed_user_highpage_movable(k, vma, a);
  assert(page !== null);
  assertEquals(page_ref_count(k, page), 1);
  assertEquals(pageReadWord(k, page, 0), 0);
  assertEquals(pageReadWord(k, page, 1023), 0);
});

Deno.test('bad_page(page, reason, bad_flags): a free page handed out with a nonzero count says why, as check_new_page_bad\'s "nonzero _count" does', () => {
  const { k } = proc();
  const a = alloc_page(k)!;
  __free_page(k, a);
  set_page_count(k, a, 1); // a stray reference on a free page
  assertThrows(() => alloc_page(k));
  const lines = k.dmesg.lines.map((l) => l.text);
  assert(lines.some((t) => t.startsWith("BUG: Bad page state in process ")), lines.join("\n"));
  assert(lines.includes("page dumped because: nonzero _count"), lines.join("\n"));
});
