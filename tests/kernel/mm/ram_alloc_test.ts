/**
 * The page allocator's kernel-named entry points keep the kernel's
 * signatures (ram-alloc.ts), after `k`.
 */
import { assert, assertEquals } from "@std/assert";
import { anon, proc } from "./_proc.ts";
import { is_zero_pfn, my_zero_pfn } from "../../../lib/kernel/mm/ram-alloc.ts";
import { pte_pfn, pteAt } from "../../../lib/kernel/mm/pgtable.ts";

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
