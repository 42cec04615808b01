/** get_user_pages_longterm (mm/gup.c, v4.20): pins like get_user_pages, refuses fsdax, allows device-dax. */
import { assert, assertEquals } from "@std/assert";
import { devdax, fsdaxFile, mapDax } from "../../drivers/dax/_rig.ts";
import {
  FOLL_DUMP,
  FOLL_WRITE,
  follow_page_mask,
  type FollowPageContext,
  get_user_pages_longterm,
  get_user_pages_remote,
} from "../../../lib/kernel/mm/gup.ts";
import { vma_is_dax, vma_is_fsdax } from "../../../lib/kernel/mm/devmap-mm.ts";
import { userTouch } from "../../../lib/drivers/dax/uaccess.ts";
import { page_ref_count } from "../../../lib/kernel/mm/memmap.ts";
import { put_page } from "../../../lib/kernel/mm/swap.ts";
import { pte_index, pte_pfn } from "../../../lib/kernel/mm/pgtable.ts";
import {
  find_vma,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  type VmAreaStruct,
} from "../../../lib/kernel/mm/mm-types.ts";
import { EFAULT, EINVAL, EOPNOTSUPP, IS_ERR, PTR_ERR } from "../../../lib/kernel/errno.ts";
import { Kernel } from "../../../lib/kernel/kernel.ts";
import { export_kernel_symbols, exportKind } from "../../../lib/kernel/exports.ts";
import { load_module } from "../../../lib/kernel/module.ts";

Deno.test("get_user_pages_remote(tsk, mm, start, nr_pages, gup_flags, pages, vmas): the kernel's argument order, a NULL tsk allowed, a VMA per page", () => {
  const t = fsdaxFile("v4.20");
  const addr = t.p.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const pages: number[] = [];
  const vmas: VmAreaStruct[] = [];
  assertEquals(get_user_pages_remote(t.k, null, t.p.mm, addr, 4, FOLL_WRITE, pages, vmas), 4);
  assertEquals([pages.length, vmas.length], [4, 4]);
  for (const v of vmas) assert(v === find_vma(t.p.mm, addr));
  for (const p of pages) assertEquals(page_ref_count(t.k, p), 2); // faulted in, then pinned
  for (const p of pages) put_page(t.k, p);
});

Deno.test("get_user_pages_longterm: anonymous memory is pinned as get_user_pages pins it — a reference and a VMA per page", () => {
  const t = fsdaxFile("v4.20");
  const addr = t.p.mmap(0, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const pages: number[] = [];
  const vmas: VmAreaStruct[] = [];
  assertEquals(get_user_pages_longterm(t.k, t.p.mm, addr, 16, FOLL_WRITE, pages, vmas), 16);
  assertEquals(pages.length, 16);
  assertEquals(new Set(pages).size, 16);
  const vma = find_vma(t.p.mm, addr)!;
  assertEquals(vmas.length, 16);
  for (const v of vmas) assert(v === vma);
  for (const p of pages) assertEquals(page_ref_count(t.k, p), 2); // the mapping's and the pin
  for (const p of pages) put_page(t.k, p);
  for (const p of pages) assertEquals(page_ref_count(t.k, p), 1);
});

Deno.test("get_user_pages_longterm: an fsdax file is -EOPNOTSUPP, every page reference it took dropped again", () => {
  const t = fsdaxFile("v4.20");
  const addr = t.p.mmap(0, 2 ** 22, PROT_READ | PROT_WRITE, MAP_SHARED, t.f, 0);
  t.p.madvise(addr, 2 ** 22, MADV_NOHUGEPAGE);
  for (let i = 0; i < 8; i++) assertEquals(userTouch(t.k, t.p, addr + i * 4096, true), 0);
  const vma = find_vma(t.p.mm, addr)!;
  assert(vma_is_dax(t.k, vma) && vma_is_fsdax(t.k, vma));
  // the pages the range maps, read from the ptes (no pin), and their counts before the call
  const mapped: number[] = [];
  for (let i = 0; i < 8; i++) {
    const a = addr + i * 4096;
    const tbl = t.p.mm.pgd.lookup(a)!;
    mapped.push(pte_pfn(tbl.ptes![pte_index(a)]!));
  }
  const counts = (): number[] => mapped.map((p) => page_ref_count(t.k, p));
  const before = counts();
  assertEquals(before, new Array(8).fill(1));
  const ref = t.pmem.pgmap.ref!;
  const refBefore = ref.value;
  const pages: number[] = [7]; // an earlier entry of the caller's array stays
  const vmas: VmAreaStruct[] = [];
  t.k.trace.on = true;
  assertEquals(get_user_pages_longterm(t.k, t.p.mm, addr, 8, FOLL_WRITE, pages, vmas), -EOPNOTSUPP);
  // get_user_pages did pin all eight (its trace event) before the refusal put them back
  const gup = t.k.trace.events.filter((e) => e.kind === "dax" && e.op === "gup");
  assertEquals(gup.map((e) => (e as { ret: number }).ret), [8]);
  assertEquals(counts(), before);
  assertEquals(pages, [7]);
  assertEquals(vmas, []);
  assertEquals(ref.value, refBefore);
});

Deno.test("get_user_pages_longterm: device-dax (a character device) is allowed", () => {
  const d = devdax(2 ** 21, "v4.20");
  const base = mapDax(d, 2 ** 21);
  userTouch(d.k, d.p, base, true);
  const vma = find_vma(d.p.mm, base)!;
  assert(vma_is_dax(d.k, vma));
  assert(!vma_is_fsdax(d.k, vma));
  const pages: number[] = [];
  assertEquals(get_user_pages_longterm(d.k, d.p.mm, base, 4, FOLL_WRITE, pages), 4);
  assertEquals(pages.length, 4);
  for (const p of pages) assertEquals(page_ref_count(d.k, p), 2);
  for (const p of pages) put_page(d.k, p);
  for (const p of pages) assertEquals(page_ref_count(d.k, p), 1);
});

Deno.test("get_user_pages_longterm: no pages array is -EINVAL", () => {
  const t = fsdaxFile("v4.20");
  const addr = t.p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  assertEquals(get_user_pages_longterm(t.k, t.p.mm, addr, 1, 0, null), -EINVAL);
});

Deno.test("get_user_pages_longterm is EXPORT_SYMBOL: a non-GPL module links against it", () => {
  const k = new Kernel({ series: "v4.20" });
  export_kernel_symbols(k);
  assertEquals(exportKind(k, "get_user_pages_longterm"), "non-GPL");
  const mod = { name: "rdma_blob", license: "Proprietary", imports: ["get_user_pages_longterm"] };
  assertEquals(load_module(k, mod), 0);
});

Deno.test("follow_page_mask(vma, address, flags, ctx) returns the kernel's ERR_PTR for an error: FOLL_DUMP of the zero page is ERR_PTR(-EFAULT)", () => {
  const t = fsdaxFile("v4.20");
  const addr = t.p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  assertEquals(t.p.load32(addr), 0); // a read fault maps the zero page
  const ctx: FollowPageContext = { pgmap: null, page_mask: 0 };
  const r = follow_page_mask(t.k, find_vma(t.p.mm, addr)!, addr, FOLL_DUMP, ctx);
  assert(IS_ERR(r));
  assertEquals(PTR_ERR(r), -EFAULT);
});
