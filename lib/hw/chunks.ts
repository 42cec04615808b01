/**
 * Device memory as pages of real bytes: a {@link PageStore} maps the 4 KiB
 * pages of one medium (pmem DIMM media, a label area, GPU VRAM, BAR memory)
 * to chunks of a {@link ChunkStore} — the reference-counted, copy-on-write
 * chunk pool of lib/kernel/mm/page-contents.ts, which also holds the
 * contents of struct pages. One chunk model, two ways to address it: by
 * struct page (page-contents) or by device page (here).
 *
 * - A page never written has no chunk and reads as zeros.
 * - A copy of whole pages between stores of the same pool
 *   ({@link PageStore.sharePage}, {@link PageStore.copy}) shares the chunk:
 *   no bytes move. Between pools the bytes are copied.
 * - The first write to a shared chunk copies it.
 * - The store knows nothing of time: whoever copies charges the cost model.
 *
 * Which pool: volatile device memory that exchanges pages with RAM (VRAM)
 * uses the kernel's pool (`k.state(CONTENTS)`), so migration shares chunks
 * with struct pages, and is cleared at power-on together with that pool.
 * Persistent media owns a private pool, so it outlives every kernel.
 *
 * Misuse (an offset outside the store, a misaligned word) throws a
 * RangeError "Cannot <action> <store>: <detail>".
 *
 * @module
 */
import { ChunkStore, WORDS_PER_PAGE } from "../kernel/mm/page-contents.ts";

export { ChunkStore };

/** Bytes per page and per chunk. */
export const PAGE_BYTES = 4096;
const LEAF_SHIFT = 12; // 4096 pages (16 MiB) per directory leaf
const LEAF = 1 << LEAF_SHIFT;

/** A private chunk pool for media that must outlive the kernel (no copy cost attached). */
export function createChunkPool(): ChunkStore {
  return new ChunkStore(0);
}

/** What a store holds. */
export interface PageStoreStats {
  /** Pages with a chunk. */
  chunks: number;
  /** Of those, pages whose chunk is shared. */
  shared: number;
}

/** A sparse page-indexed view of one medium over a chunk pool. */
export class PageStore {
  /** Name used in messages ("nmem0 media", "gpu0 VRAM"). */
  readonly name: string;
  /** Number of 4 KiB pages. */
  readonly pages: number;
  #pool: ChunkStore;
  #dir = new Map<number, Int32Array>();
  #count = 0;

  /**
   * Creates an empty store (every page reads as zeros).
   * @param bytes size: a positive multiple of 4 KiB.
   * @param pool the chunk pool.
   * @param name how messages name the store.
   *
   * @example Copy-on-write sharing between two stores
   * ```ts
   * import { createChunkPool, PageStore } from "./chunks.ts";
   * import { assertEquals } from "@std/assert";
   * const pool = createChunkPool();
   * const a = new PageStore(8192, pool, "a"), b = new PageStore(8192, pool, "b");
   * a.writeU32(0, 42);
   * b.copy(0, a, 0, 4096);      // shares the chunk: no bytes move
   * assertEquals(b.chunkId(0), a.chunkId(0));
   * b.writeU32(0, 7);           // the first write copies it
   * assertEquals([a.readU32(0), b.readU32(0)], [42, 7]);
   * ```
   */
  constructor(bytes: number, pool: ChunkStore, name = "store") {
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % PAGE_BYTES !== 0) {
      throw new RangeError(
        `Cannot create page store "${name}": size ${bytes} is not a positive multiple of 4 KiB`,
      );
    }
    this.name = name;
    this.pages = bytes / PAGE_BYTES;
    this.#pool = pool;
  }

  /** The chunk pool. */
  get pool(): ChunkStore {
    return this.#pool;
  }

  /** Size in bytes. */
  get size(): number {
    return this.pages * PAGE_BYTES;
  }

  /** Pages holding a chunk. */
  get chunkCount(): number {
    return this.#count;
  }

  #checkPage(action: string, page: number): void {
    if (!Number.isInteger(page) || page < 0 || page >= this.pages) {
      throw new RangeError(
        `Cannot ${action} ${this.name}: page ${page} is outside its ${this.pages} pages`,
      );
    }
  }

  #checkRange(action: string, offset: number, length: number): void {
    if (
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
      offset + length > this.size
    ) {
      throw new RangeError(
        `Cannot ${action} ${this.name}: [${offset}, ${
          offset + length
        }) is outside its ${this.size} bytes`,
      );
    }
  }

  /** The chunk id of `page` (0: no chunk, reads as zeros). */
  chunkId(page: number): number {
    const leaf = this.#dir.get(page >>> LEAF_SHIFT);
    return leaf === undefined ? 0 : leaf[page & (LEAF - 1)]!;
  }

  #set(page: number, id: number): void {
    let leaf = this.#dir.get(page >>> LEAF_SHIFT);
    if (leaf === undefined) {
      if (id === 0) return;
      leaf = new Int32Array(LEAF);
      this.#dir.set(page >>> LEAF_SHIFT, leaf);
    }
    const i = page & (LEAF - 1);
    const old = leaf[i]!;
    if (old === 0 && id !== 0) this.#count++;
    else if (old !== 0 && id === 0) this.#count--;
    leaf[i] = id;
  }

  /**
   * Makes `page` hold chunk `id` of this store's pool (taking a reference;
   * 0 makes the page read as zeros). The old chunk's reference is dropped.
   */
  adoptChunk(page: number, id: number): void {
    this.#checkPage("set a page of", page);
    const old = this.chunkId(page);
    if (old === id) return;
    if (id !== 0) this.#pool.refcnt[id]!++;
    this.#set(page, id);
    if (old !== 0) this.#pool.put(old);
  }

  /** Whether `page` holds a chunk. */
  has(page: number): boolean {
    return this.chunkId(page) !== 0;
  }

  /** Pages holding a chunk, ascending. */
  populatedPages(): number[] {
    const out: number[] = [];
    for (const [hi, leaf] of [...this.#dir.entries()].sort((a, b) => a[0] - b[0])) {
      for (let i = 0; i < LEAF; i++) if (leaf[i] !== 0) out.push(hi * LEAF + i);
    }
    return out;
  }

  /** An unshared chunk for `page`, allocated or copied as needed (the write path). */
  writableChunk(page: number): number {
    const pool = this.#pool;
    let id = this.chunkId(page);
    if (id === 0) {
      this.#checkPage("write", page);
      id = pool.alloc();
      this.#set(page, id);
    } else if (pool.refcnt[id]! > 1) {
      const c = pool.clone(id);
      pool.put(id);
      id = c;
      this.#set(page, id);
    }
    return id;
  }

  /** Makes `page` read as zeros (drops its chunk reference). */
  dropPage(page: number): void {
    const id = this.chunkId(page);
    if (id === 0) return;
    this.#set(page, 0);
    this.#pool.put(id);
  }

  /**
   * `page` now holds what `src`'s `srcPage` holds: the chunk is shared when
   * both stores use one pool, else the page's words are copied.
   */
  sharePage(page: number, src: PageStore, srcPage: number): void {
    this.#checkPage("copy into", page);
    src.#checkPage("copy from", srcPage);
    const id = src.chunkId(srcPage);
    if (src.#pool === this.#pool) {
      this.adoptChunk(page, id);
      return;
    }
    if (id === 0) {
      this.dropPage(page);
      return;
    }
    const words = new Int32Array(WORDS_PER_PAGE);
    src.readPageWords(srcPage, words);
    this.writePageWords(page, words);
  }

  /** Copies the 1024 words of `page` into `dst`. */
  readPageWords(page: number, dst: Int32Array): void {
    const id = this.chunkId(page);
    dst.fill(0, 0, WORDS_PER_PAGE);
    if (id === 0) return;
    const pool = this.#pool;
    const n = pool.smallN[id]!;
    if (n === 255) {
      dst.set(pool.big[id]!);
      return;
    }
    const base = id * 4;
    for (let j = 0; j < n; j++) dst[pool.smallIdx[base + j]!] = pool.smallVal[base + j]!;
  }

  /** Overwrites `page` with 1024 words (all zeros drops the chunk). */
  writePageWords(page: number, src: Int32Array): void {
    let nz = false;
    for (let j = 0; j < WORDS_PER_PAGE; j++) {
      if (src[j] !== 0) {
        nz = true;
        break;
      }
    }
    if (!nz) {
      this.dropPage(page);
      return;
    }
    const id = this.writableChunk(page);
    this.#pool.full(id).set(src.subarray(0, WORDS_PER_PAGE));
  }

  /** Signed 32-bit word `w` (0..1023) of `page` (page-contents' word view). */
  readWord(page: number, w: number): number {
    const id = this.chunkId(page);
    return id === 0 ? 0 : this.#pool.read(id, w);
  }

  /** Writes signed 32-bit word `w` of `page`. */
  writeWord(page: number, w: number, v: number): void {
    v |= 0;
    if (v === 0 && this.chunkId(page) === 0) return;
    this.#pool.write(this.writableChunk(page), w, v);
  }

  #checkWord(action: string, offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % 4 !== 0 || offset + 4 > this.size) {
      throw new RangeError(
        `Cannot ${action} ${this.name}: offset ${offset} is not a 4-byte aligned offset inside its ${this.size} bytes`,
      );
    }
  }

  /** The unsigned little-endian 32-bit word at byte `offset` (4-byte aligned). */
  readU32(offset: number): number {
    this.#checkWord("read a word of", offset);
    return this.readWord(Math.floor(offset / PAGE_BYTES), (offset % PAGE_BYTES) >>> 2) >>> 0;
  }

  /** Stores the 32-bit word `value` at byte `offset` (4-byte aligned). */
  writeU32(offset: number, value: number): void {
    this.#checkWord("write a word to", offset);
    this.writeWord(Math.floor(offset / PAGE_BYTES), (offset % PAGE_BYTES) >>> 2, value);
  }

  /** Copies `length` bytes at `offset` into a new array. */
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(offset, out);
    return out;
  }

  /** Copies `dst.length` bytes at `offset` into `dst`. */
  readInto(offset: number, dst: Uint8Array): void {
    this.#checkRange("read", offset, dst.length);
    const words = new Int32Array(WORDS_PER_PAGE);
    const bytes = new Uint8Array(words.buffer);
    let done = 0;
    while (done < dst.length) {
      const o = offset + done;
      const page = Math.floor(o / PAGE_BYTES), within = o % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, dst.length - done);
      if (this.chunkId(page) === 0) dst.fill(0, done, done + n);
      else {
        this.readPageWords(page, words);
        dst.set(bytes.subarray(within, within + n), done);
      }
      done += n;
    }
  }

  /** Writes `src` at `offset` (copying shared chunks first). */
  write(offset: number, src: Uint8Array): void {
    this.#checkRange("write", offset, src.length);
    let done = 0;
    while (done < src.length) {
      const o = offset + done;
      const page = Math.floor(o / PAGE_BYTES), within = o % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, src.length - done);
      const buf = this.#pool.full(this.writableChunk(page));
      new Uint8Array(buf.buffer, buf.byteOffset, PAGE_BYTES).set(
        src.subarray(done, done + n),
        within,
      );
      done += n;
    }
  }

  /** Sets `length` bytes at `offset` to `value`; whole pages of zeros drop their chunks. */
  fill(offset: number, length: number, value: number): void {
    this.#checkRange("fill", offset, length);
    const v = value & 0xff;
    let done = 0;
    while (done < length) {
      const o = offset + done;
      const page = Math.floor(o / PAGE_BYTES), within = o % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, length - done);
      if (n === PAGE_BYTES && v === 0) this.dropPage(page);
      else if (v !== 0 || this.chunkId(page) !== 0) {
        const buf = this.#pool.full(this.writableChunk(page));
        new Uint8Array(buf.buffer, buf.byteOffset, PAGE_BYTES).fill(v, within, within + n);
      }
      done += n;
    }
  }

  /** Zeroes `length` bytes at `offset`. */
  zero(offset: number, length: number): void {
    this.fill(offset, length, 0);
  }

  /**
   * Copies `length` bytes from `src` at `srcOffset` to `dstOffset`. Whole
   * aligned pages share chunks (same pool); the rest is copied byte-wise.
   * Overlapping copies within one store behave like memmove.
   */
  copy(dstOffset: number, src: PageStore, srcOffset: number, length: number): void {
    this.#checkRange("copy into", dstOffset, length);
    src.#checkRange("copy from", srcOffset, length);
    if (length === 0) return;
    if (dstOffset % PAGE_BYTES === 0 && srcOffset % PAGE_BYTES === 0 && length % PAGE_BYTES === 0) {
      const n = length / PAGE_BYTES, d = dstOffset / PAGE_BYTES, s = srcOffset / PAGE_BYTES;
      if (src === this && d > s) {
        for (let i = n - 1; i >= 0; i--) this.sharePage(d + i, src, s + i);
      } else for (let i = 0; i < n; i++) this.sharePage(d + i, src, s + i);
      return;
    }
    this.write(dstOffset, src.read(srcOffset, length));
  }

  /** Whether `length` bytes at `offset` are all zero. */
  isZero(offset: number, length: number): boolean {
    const b = this.read(offset, length);
    for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
    return true;
  }

  /** Drops every chunk (volatile memory losing power). */
  clear(): void {
    for (const leaf of this.#dir.values()) {
      for (let i = 0; i < LEAF; i++) if (leaf[i] !== 0) this.#pool.put(leaf[i]!);
    }
    this.#dir.clear();
    this.#count = 0;
  }

  /**
   * Power-on for volatile memory on the kernel's pool: forgets every page
   * (without touching the old pool, which died with its kernel) and
   * switches to `pool`.
   */
  rebind(pool: ChunkStore): void {
    this.#dir.clear();
    this.#count = 0;
    this.#pool = pool;
  }

  /** How many pages hold a chunk and how many of those share it. */
  stats(): PageStoreStats {
    let shared = 0;
    for (const leaf of this.#dir.values()) {
      for (let i = 0; i < LEAF; i++) {
        const id = leaf[i]!;
        if (id !== 0 && this.#pool.refcnt[id]! > 1) shared++;
      }
    }
    return { chunks: this.#count, shared };
  }
}
