/** vmf_insert_pfn_pmd / vmf_insert_pfn_pud (mm/huge_memory.c, v4.20 / v5.0): the kernel's argument order. */
import { assertEquals } from "@std/assert";
import { proc } from "./_proc.ts";
import {
  devmapTables,
  vmf_insert_pfn_pmd,
  vmf_insert_pfn_pud,
} from "../../../lib/kernel/mm/devmap-mm.ts";
import {
  find_vma,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  VM_FAULT_NOPAGE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { PFN_DEV, PFN_MAP, PfnT } from "../../../lib/kernel/mm/pfn-t.ts";
import { pte_devmap, pte_pfn, pte_write } from "../../../lib/kernel/mm/pgtable.ts";

const GiB = 2 ** 30;

Deno.test("vmf_insert_pfn_pmd(vma, addr, pmd, pfn, write) and vmf_insert_pfn_pud(vma, addr, pud, pfn, write): pmd / pud third, as in v4.20 and v5.0", () => {
  const { k, p } = proc();
  const base = p.mmap(0, 3 * GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const a = Math.ceil(base / GiB) * GiB;
  const vma = find_vma(p.mm, a)!;
  const pfn = new PfnT();
  pfn.pfn = 2 ** 22; // 16 GiB
  pfn.flags = PFN_DEV | PFN_MAP;
  assertEquals(vmf_insert_pfn_pmd(k, vma, a, null, pfn, true), VM_FAULT_NOPAGE);
  const pmd = devmapTables(k, p.mm).pmds.get(a / 2 ** 21)!;
  assertEquals([pte_pfn(pmd), pte_devmap(pmd), pte_write(pmd)], [2 ** 22, true, true]);
  assertEquals(vmf_insert_pfn_pud(k, vma, a + GiB, null, pfn, false), VM_FAULT_NOPAGE);
  const pud = devmapTables(k, p.mm).puds.get(a / GiB + 1)!;
  assertEquals([pte_pfn(pud), pte_devmap(pud), pte_write(pud)], [2 ** 22, true, false]);
});
