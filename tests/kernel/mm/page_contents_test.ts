import { assert, assertEquals, assertThrows } from "@std/assert";
import { anon, proc } from "./_proc.ts";
import { find_vma } from "../../../lib/kernel/mm/mm-types.ts";
import {
  clear_highpage,
  CONTENTS,
  contentsFootprint,
  copy_highpage,
  copy_user_highpage,
  pageChunk,
  pageReadWord,
  pageReadWords,
  pagesEqual,
  pageWriteWord,
  pageWriteWords,
} from "../../../lib/kernel/mm/page-contents.ts";
import { alloc_page, ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";
import { put_page } from "../../../lib/kernel/mm/swap.ts";

Deno.test("page contents: a never-written page has no chunk and reads as zeros", () => {
  const { k } = proc();
  const p = alloc_page(k)!;
  assertEquals(pageChunk(k, p), 0);
  assertEquals(pageReadWord(k, p, 17), 0);
  pageWriteWord(k, p, 17, 0); // writing zero creates nothing
  assertEquals(pageChunk(k, p), 0);
});

Deno.test("page contents: a copy shares the chunk and charges dram.copy4KiB; the first write copies", () => {
  const { k } = proc();
  const a = alloc_page(k)!, b = alloc_page(k)!;
  pageWriteWords(
    k,
    a,
    (() => {
      const w = new Int32Array(1024);
      for (let i = 0; i < 1024; i++) w[i] = i * 3;
      return w;
    })(),
  );
  const t0 = k.clock.now;
  copy_highpage(k, b, a);
  assertEquals(k.clock.now - t0, k.cost.get("dram.copy4KiB"));
  assertEquals(pageChunk(k, a), pageChunk(k, b), "shared");
  assertEquals(k.state(CONTENTS).refcnt[pageChunk(k, a)], 2);
  pageWriteWord(k, b, 5, -1);
  assert(pageChunk(k, a) !== pageChunk(k, b), "the write broke the sharing");
  assertEquals([pageReadWord(k, a, 5), pageReadWord(k, b, 5), pageReadWord(k, b, 6)], [15, -1, 18]);
  assertEquals(pagesEqual(k, a, b), false);
});

Deno.test("page contents: compact chunks grow into full buffers; a freed page drops its chunk", () => {
  const { k } = proc();
  const p = alloc_page(k)!;
  for (let i = 0; i < 4; i++) pageWriteWord(k, p, i * 100, i + 1);
  assertEquals(contentsFootprint(k).fullBuffers, 0, "four words stay compact");
  pageWriteWord(k, p, 1023, 9);
  assertEquals(contentsFootprint(k).fullBuffers, 1);
  const w = new Int32Array(1024);
  pageReadWords(k, p, w);
  assertEquals([w[0], w[100], w[300], w[1023], w[1]], [1, 2, 4, 9, 0]);
  const chunks = ramStats(k).chunks;
  put_page(k, p);
  assertEquals(ramStats(k).chunks, chunks - 1);
  clear_highpage(k, p);
  assertThrows(() => pageReadWord(k, p, 1024), RangeError);
});

Deno.test("copy_user_highpage(to, from, vaddr, vma): takes the user address and VMA after the pages, as include/linux/highmem.h's does; the copy is copy_highpage's", () => {
  assertEquals(copy_user_highpage.length, 5, "(k, to, from, vaddr, vma)");
  const { k, p } = proc();
  const addr = anon(p, 1);
  const vma = find_vma(p.mm, addr)!;
  const a = alloc_page(k)!, b = alloc_page(k)!;
  pageWriteWord(k, a, 5, 42);
  copy_user_highpage(k, b, a, addr, vma);
  assert(pagesEqual(k, a, b));
  assertEquals(pageReadWord(k, b, 5), 42);
  put_page(k, a);
  put_page(k, b);
});
