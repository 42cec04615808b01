/** vma_link (mm/mmap.c) and calc_vm_prot_bits (include/linux/mman.h) against v4.20's signatures. */
import { assert, assertEquals } from "@std/assert";
import { calc_vm_prot_bits } from "../../../lib/kernel/mm/mmap.ts";
import { proc } from "./_proc.ts";
import {
  find_vma,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_EXEC,
  VM_READ,
  VM_WRITE,
  vma_link,
  VmAreaStruct,
} from "../../../lib/kernel/mm/mm-types.ts";

Deno.test("vma_link(mm, vma): the VMA joins mm's sorted list, where find_vma finds it", () => {
  const { k, p } = proc();
  const vma = new VmAreaStruct(p.mm, 2 ** 30, 2 ** 30 + 8192, VM_READ, 2 ** 30 / 4096);
  vma_link(k, p.mm, vma);
  assert(find_vma(p.mm, 2 ** 30 + 4096) === vma);
  assert(p.mm.vmas.includes(vma));
});

Deno.test("calc_vm_prot_bits(prot, pkey): v4.20's two arguments (include/linux/mman.h:117)", () => {
  assertEquals(calc_vm_prot_bits(PROT_READ | PROT_WRITE, 0), VM_READ | VM_WRITE);
  assertEquals(calc_vm_prot_bits(PROT_EXEC, 0), VM_EXEC);
});
