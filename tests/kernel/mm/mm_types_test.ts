/** vma_link (mm/mmap.c, v4.20): the mm first, as vma_link(mm, vma, prev, rb_link, rb_parent) has it. */
import { assert } from "@std/assert";
import { proc } from "./_proc.ts";
import { find_vma, VM_READ, vma_link, VmAreaStruct } from "../../../lib/kernel/mm/mm-types.ts";

Deno.test("vma_link(mm, vma): the VMA joins mm's sorted list, where find_vma finds it", () => {
  const { k, p } = proc();
  const vma = new VmAreaStruct(p.mm, 2 ** 30, 2 ** 30 + 8192, VM_READ, 2 ** 30 / 4096);
  vma_link(k, p.mm, vma);
  assert(find_vma(p.mm, 2 ** 30 + 4096) === vma);
  assert(p.mm.vmas.includes(vma));
});
