/** Kernel-named functions of lib/kernel/mm/memory.ts against v4.20's signatures (mm/memory.c). */
import { assert, assertEquals } from "@std/assert";
import { anon, proc } from "./_proc.ts";
import { find_vma } from "../../../lib/kernel/mm/mm-types.ts";
import { MmuGather, print_bad_pte, tlb_finish_mmu } from "../../../lib/kernel/mm/memory.ts";
import { alloc_page } from "../../../lib/kernel/mm/ram-alloc.ts";
import { get_page } from "../../../lib/kernel/mm/swap.ts";
import { page_ref_count } from "../../../lib/kernel/mm/memmap.ts";

Deno.test("tlb_finish_mmu(tlb, start, end): v4.20's range arguments; the gathered pages lose the pte's reference", () => {
  const { k, p } = proc();
  const page = alloc_page(k)!;
  get_page(k, page); // the pte's reference
  const tlb = new MmuGather(p.mm, false);
  tlb.pages.push(page);
  tlb_finish_mmu(k, tlb, 0, 4096);
  assertEquals([page_ref_count(k, page), tlb.pages.length], [1, 0]);
});

Deno.test("print_bad_pte(vma, addr, pte, page): v4.20's four arguments; the report goes to dmesg and taints B", () => {
  const { k, p } = proc();
  const a = anon(p, 1);
  const vma = find_vma(p.mm, a)!;
  print_bad_pte(k, vma, a, 0x1234, null);
  assertEquals(k.dmesg.grep("BUG: Bad page map in process test  pte:1234").length, 1);
  assert(k.taints.has("B"));
});
