import { assert, assertEquals } from "@std/assert";
import { proc, words } from "./_proc.ts";
import {
  find_vma,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  vm_get_page_prot,
  VM_READ,
} from "../../../lib/kernel/mm/mm-types.ts";
import {
  change_huge_pmd,
  copy_huge_pmd,
  HUGE,
  set_transparent_hugepage,
  split_huge_page,
  split_huge_pmd,
  zap_huge_pmd,
} from "../../../lib/kernel/mm/huge-memory.ts";
import { is_huge_zero_page, ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";
import { pte_pfn, pte_write, PteTable } from "../../../lib/kernel/mm/pgtable.ts";
import { change_protection } from "../../../lib/kernel/mm/mprotect.ts";
import { copy_page_range, MmuGather, tlb_finish_mmu } from "../../../lib/kernel/mm/memory.ts";
import { page_count } from "../../../lib/kernel/mm/memmap.ts";
import { compound_order, trylock_page, unlock_page } from "../../../lib/kernel/mm/page-ext.ts";
import { FOLL_WRITE, get_user_pages_remote } from "../../../lib/kernel/mm/gup.ts";
import { get_page, put_page } from "../../../lib/kernel/mm/swap.ts";
import { Process } from "../../../lib/kernel/mm/process.ts";

const TWOMEG = 2 ** 21;

function thpRegion(p: Process): number {
  const base = p.mmap(0, 2 * TWOMEG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const map = Math.ceil(base / TWOMEG) * TWOMEG;
  assertEquals(p.madvise(map, TWOMEG, MADV_HUGEPAGE), 0);
  return map;
}

Deno.test("THP: a read maps the huge zero page; a write to it allocates a THP (madvise mode)", () => {
  const { k, p } = proc();
  const map = thpRegion(p);
  assertEquals(p.load32(map + 12345 * 4), 0);
  const t = p.mm.pgd.lookup(map)!;
  assert(t.huge !== 0 && is_huge_zero_page(k, pte_pfn(t.huge)));
  p.store32(map, 1);
  const head = pte_pfn(p.mm.pgd.lookup(map)!.huge);
  assertEquals(compound_order(k, head), 9);
  assertEquals(k.state(HUGE).stats.thpFault, 1);
  set_transparent_hugepage(k, "never");
  const other = p.mmap(0, 2 * TWOMEG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  p.madvise(Math.ceil(other / TWOMEG) * TWOMEG, TWOMEG, MADV_HUGEPAGE);
  p.store32(Math.ceil(other / TWOMEG) * TWOMEG, 1);
  assertEquals(p.mm.pgd.lookup(Math.ceil(other / TWOMEG) * TWOMEG)!.huge, 0, "never: small pages");
});

Deno.test("THP: MADV_DONTNEED of part of a THP splits the pmd, the rest keeps its data", () => {
  const { k, p } = proc();
  const map = thpRegion(p);
  p.writeWords(map, words(512 * 1024));
  assertEquals(p.madvise(map, 4096 * 10, MADV_DONTNEED), 0);
  assertEquals(p.mm.pgd.lookup(map)!.huge, 0, "the pmd is now a pte table");
  assertEquals(p.load32(map), 0);
  assertEquals(p.load32(map + 20 * 4096), 20 * 1024);
  assertEquals(k.state(HUGE).stats.splitPmd, 1);
});

Deno.test("THP: fork shares the THP; a write copies it into a new THP, or into 512 pages if none is free", () => {
  const { k, p } = proc();
  const map = thpRegion(p);
  p.writeWords(map, words(512 * 1024));
  const c = p.fork();
  c.store32(map, -1);
  assertEquals([p.load32(map), c.load32(map), c.load32(map + 4096)], [0, -1, 1024]);
  assert(c.mm.pgd.lookup(map)!.huge !== 0, "the child's copy is a THP");
  const d = p.fork();
  k.faults.arm("alloc_page", { nth: 1, caller: "do_huge_pmd_wp_page" });
  d.store32(map + 4, -2);
  assertEquals(d.mm.pgd.lookup(map)!.huge, 0, "fallback: 512 small pages");
  assertEquals([p.load32(map + 4), d.load32(map + 4), d.load32(map + 511 * 4096)], [
    1,
    -2,
    511 * 1024,
  ]);
  c.exit();
  d.exit();
  p.exit();
  assertEquals(ramStats(k).allocated, 0, "nothing leaks");
});

Deno.test("THP: split_huge_page fails with -EBUSY while a GUP pin holds the THP", () => {
  const { k, p } = proc();
  const map = thpRegion(p);
  p.writeWords(map, words(512 * 1024));
  const pages: number[] = [];
  assertEquals(get_user_pages_remote(k, null, p.mm, map, 1, FOLL_WRITE, pages), 1);
  const head = pte_pfn(p.mm.pgd.lookup(map)!.huge);
  get_page(k, head);
  trylock_page(k, head);
  assertEquals(split_huge_page(k, head), -16);
  put_page(k, pages[0]!);
  assertEquals(split_huge_page(k, head), 0);
  unlock_page(k, head);
  put_page(k, head);
  assertEquals(compound_order(k, head), 0);
  assertEquals(p.load32(map + 100 * 4096 + 8), 100 * 1024 + 2);
});

Deno.test("copy_huge_pmd(dst_mm, src_mm, dst_pmd, src_pmd, addr, vma) and copy_page_range(dst_mm, src_mm, vma): v4.20's argument order (mm/huge_memory.c, mm/memory.c)", () => {
  const { k, p } = proc();
  const map = thpRegion(p);
  p.store32(map, 7);
  const vma = find_vma(p.mm, map)!;
  const q = new Process(k, "child");
  const src = p.mm.pgd.lookup(map)!;
  const dst = q.mm.pgd.alloc(map);
  const head = pte_pfn(src.huge);
  const refs = page_count(k, head);
  assertEquals(copy_huge_pmd(k, q.mm, p.mm, dst, src, map, vma), 0);
  assertEquals([dst.ptes, pte_pfn(dst.huge), page_count(k, head)], [null, head, refs + 1]);
  assert(!pte_write(src.huge) && !pte_write(dst.huge), "both pmds read-only");
  const r = new Process(k, "child2");
  assertEquals(copy_page_range(k, r.mm, p.mm, vma), 0);
  assertEquals(pte_pfn(r.mm.pgd.lookup(map)!.huge), head);
});

Deno.test("zap_huge_pmd(tlb, vma, pmd, addr): v4.20's arguments and int return (mm/huge_memory.c) — 1 for a huge pmd, 0 for a pte table", () => {
  const { k, p } = proc();
  const map = thpRegion(p);
  p.store32(map, 7);
  const vma = find_vma(p.mm, map)!;
  const t = p.mm.pgd.lookup(map)!;
  const head = pte_pfn(t.huge);
  const tlb = new MmuGather(p.mm, false);
  assertEquals(zap_huge_pmd(k, tlb, vma, t, map), 1);
  assertEquals([p.mm.pgd.lookup(map), tlb.pages], [undefined, [head]]);
  tlb_finish_mmu(k, tlb, map, map + TWOMEG);
  const small = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  p.store32(small, 1);
  const st = p.mm.pgd.lookup(small)!;
  assertEquals(zap_huge_pmd(k, tlb, find_vma(p.mm, small)!, st, small), 0);
  assert(p.mm.pgd.lookup(small) === st, "a pte table is left alone");
});

Deno.test("split_huge_pmd(vma, pmd, address): v4.20's arguments (include/linux/huge_mm.h) — the given pmd becomes a pte table of the THP's subpages", () => {
  const { k, p } = proc();
  const map = thpRegion(p);
  p.store32(map + 4096, 9);
  const t = p.mm.pgd.lookup(map)!;
  const head = pte_pfn(t.huge);
  split_huge_pmd(k, find_vma(p.mm, map)!, t, map + 4096);
  assertEquals([t.huge, pte_pfn(t.ptes![1]!)], [0, head + 1]);
  assertEquals(p.load32(map + 4096), 9);
});

Deno.test("change_protection(vma, start, end, newprot, dirty_accountable, prot_numa) and change_huge_pmd(vma, pmd, addr, newprot, prot_numa): v4.20's arguments (mm/mprotect.c, mm/huge_memory.c)", () => {
  const { k, p } = proc();
  const map = thpRegion(p);
  p.store32(map, 3);
  const vma = find_vma(p.mm, map)!;
  const t = p.mm.pgd.lookup(map)!;
  assert(pte_write(t.huge));
  const ro = vm_get_page_prot(VM_READ);
  assertEquals(change_protection(k, vma, map, map + TWOMEG, ro, 0, 0), 512);
  assert(!pte_write(t.huge), "read-only now");
  assertEquals(change_huge_pmd(k, vma, t, map, ro, 0), 512);
  assertEquals(change_huge_pmd(k, vma, new PteTable(), map, ro, 0), 0, "not a huge pmd");
});
