/** Kernel-named functions of lib/kernel/mm/memory.ts against v4.20's signatures (mm/memory.c). */
import { assertEquals } from "@std/assert";
import { proc } from "./_proc.ts";
import { MmuGather, tlb_finish_mmu } from "../../../lib/kernel/mm/memory.ts";
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
