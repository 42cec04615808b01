import { assert, assertEquals, assertThrows } from "@std/assert";
import { createChunkPool, PageStore } from "../../lib/hw/chunks.ts";
import { Kernel } from "../../lib/kernel/kernel.ts";
import { CONTENTS } from "../../lib/kernel/mm/page-contents.ts";

Deno.test("chunks: a never-written page has no chunk and reads as zeros", () => {
  const s = new PageStore(1 << 20, createChunkPool(), "s");
  assertEquals([s.pages, s.chunkCount, s.has(3)], [256, 0, false]);
  assertEquals(s.read(4096 * 3 + 10, 6), new Uint8Array(6));
  assert(s.isZero(0, s.size));
  s.zero(0, 4096); // zeroing nothing creates nothing
  assertEquals(s.chunkCount, 0);
});

Deno.test("chunks: byte writes across pages, words, fill and zero", () => {
  const s = new PageStore(4 * 4096, createChunkPool(), "s");
  const data = Uint8Array.from({ length: 6000 }, (_, i) => (i * 7) & 255);
  s.write(3000, data);
  assertEquals(s.read(3000, 6000), data);
  assertEquals(s.populatedPages(), [0, 1, 2]);
  s.writeU32(8192, 0xdeadbeef);
  assertEquals(s.readU32(8192), 0xdeadbeef);
  assertEquals(s.readWord(2, 0), 0xdeadbeef | 0);
  s.fill(4096, 4096, 0); // a whole page of zeros drops its chunk
  assertEquals(s.populatedPages(), [0, 2]);
  s.fill(3100, 10, 0xab);
  assertEquals(s.read(3100, 10), new Uint8Array(10).fill(0xab));
  assertEquals(s.read(3110, 4), data.subarray(110, 114));
});

Deno.test("chunks: whole-page copies share chunks, the first write copies", () => {
  const pool = createChunkPool();
  const a = new PageStore(8 * 4096, pool, "a"), b = new PageStore(8 * 4096, pool, "b");
  for (let p = 0; p < 4; p++) a.writeU32(p * 4096, 100 + p);
  b.copy(4096, a, 0, 4 * 4096);
  for (let p = 0; p < 4; p++) assertEquals(b.chunkId(p + 1), a.chunkId(p));
  assertEquals(b.stats(), { chunks: 4, shared: 4 });
  b.writeU32(4096, 7);
  assertEquals([a.readU32(0), b.readU32(4096)], [100, 7]);
  assert(b.chunkId(1) !== a.chunkId(0));
  assertEquals(pool.refcnt[a.chunkId(0)], 1);
  // unaligned copies move bytes
  b.copy(10, a, 4096 + 2, 8);
  assertEquals(b.read(10, 8), a.read(4096 + 2, 8));
  // within one store, overlapping like memmove
  a.copy(4096, a, 0, 3 * 4096);
  assertEquals([a.readU32(4096), a.readU32(8192), a.readU32(12288)], [100, 101, 102]);
});

Deno.test("chunks: copies between pools move words; clear drops references", () => {
  const k = new Kernel({ seed: 1 });
  const kpool = k.state(CONTENTS);
  const media = new PageStore(4 * 4096, createChunkPool(), "media");
  const vram = new PageStore(4 * 4096, kpool, "vram");
  media.write(0, new Uint8Array([1, 2, 3, 4]));
  vram.sharePage(0, media, 0);
  assertEquals(vram.read(0, 4), new Uint8Array([1, 2, 3, 4]));
  assertEquals(kpool.live, 1);
  vram.clear();
  assertEquals([vram.chunkCount, kpool.live], [0, 0]);
});

Deno.test("chunks: misuse is a RangeError naming the store", () => {
  const s = new PageStore(4096, createChunkPool(), "nmem0 media");
  assertThrows(
    () => s.read(4000, 200),
    RangeError,
    "Cannot read nmem0 media: [4000, 4200) is outside its 4096 bytes",
  );
  assertThrows(() => s.readU32(2), RangeError, "not a 4-byte aligned offset");
  assertThrows(
    () => new PageStore(1000, createChunkPool(), "x"),
    RangeError,
    "not a positive multiple of 4 KiB",
  );
});
