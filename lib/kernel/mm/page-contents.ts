/**
 * Page contents: the bytes a page holds, as reference-counted 4 KiB chunks
 * with copy-on-write (the simulator's model of RAM and device-memory data;
 * kernel names only for the kernel's copy/clear helpers, include/linux/highmem.h).
 *
 * - A page never written has no chunk and reads as zeros.
 * - A simulated copy ({@link copy_highpage}: migration, COW source, DMA)
 *   makes the destination share the source's chunk and charges the copy's
 *   cost (dram.copy4KiB) to simulated time.
 * - The first write to a shared chunk copies it (host work only).
 * - Freeing or clearing a page drops its chunk reference.
 *
 * A chunk is stored compactly while at most four of its 32-bit words are
 * non-zero (a page holding a tag or a counter costs a few bytes of host
 * memory, so a million distinct pages stay cheap) and as a full 4 KiB
 * buffer after that. The representation is invisible through the API.
 *
 * Words are little-endian signed 32-bit integers (the hmm-tests buffers are
 * arrays of int).
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../kernel.ts";
import { PAGE_SIZE, PAGES_PER_SECTION } from "./constants.ts";
import { EXT_CHUNK, EXT_STRIDE, pageExt } from "./page-ext.ts";
import type { Page } from "./types.ts";
import type { VmAreaStruct } from "./mm-types.ts";
import { HUB } from "./hub.ts";
import { sectionOf } from "./mmzone.ts";

/** 32-bit words per page. */
export const WORDS_PER_PAGE: number = PAGE_SIZE / 4;
/** Words a compact chunk holds before it becomes a full buffer. */
const SMALL = 4;

/** The per-kernel chunk store. */
export class ChunkStore {
  /** Reference count per chunk id (0 = free slot). */
  refcnt: Int32Array = new Int32Array(1024);
  /** Number of non-zero words of a compact chunk; 255 = a full buffer. */
  smallN: Uint8Array = new Uint8Array(1024);
  /** Word indexes of compact chunks (SMALL per chunk). */
  smallIdx: Uint16Array = new Uint16Array(1024 * SMALL);
  /** Word values of compact chunks (SMALL per chunk). */
  smallVal: Int32Array = new Int32Array(1024 * SMALL);
  /** Full buffers by chunk id. */
  big: Array<Int32Array | undefined> = [];
  /** Free ids. */
  freeIds: number[] = [];
  /** Next never-used id (id 0 means "no chunk"). */
  nextId = 1;
  /** Live chunks. */
  live = 0;
  /** Simulated ns of one 4 KiB copy (dram.copy4KiB), read once. */
  copyNs: number;
  /** While > 0, copy_highpage charges no time (a caller charged a composite cost). */
  suppressCharge = 0;
  /** Copies performed (shares) and host copies made on write. */
  stats = { copies: 0, cowBreaks: 0 };

  /**
   * Creates an empty store.
   * @param copyNs simulated cost of one page copy.
   */
  constructor(copyNs: number) {
    this.copyNs = copyNs;
  }

  /** A fresh chunk id with refcount 1 and no content. */
  alloc(): number {
    let id = this.freeIds.pop();
    if (id === undefined) {
      id = this.nextId++;
      if (id >= this.refcnt.length) this.#grow(id + 1);
    }
    this.refcnt[id] = 1;
    this.smallN[id] = 0;
    this.live++;
    return id;
  }

  #grow(min: number): void {
    let n = this.refcnt.length;
    while (n < min) n *= 2;
    const r = new Int32Array(n);
    r.set(this.refcnt);
    this.refcnt = r;
    const sn = new Uint8Array(n);
    sn.set(this.smallN);
    this.smallN = sn;
    const si = new Uint16Array(n * SMALL);
    si.set(this.smallIdx);
    this.smallIdx = si;
    const sv = new Int32Array(n * SMALL);
    sv.set(this.smallVal);
    this.smallVal = sv;
  }

  /** Drops one reference. */
  put(id: number): void {
    if (--this.refcnt[id]! === 0) {
      this.big[id] = undefined;
      this.smallN[id] = 0;
      this.freeIds.push(id);
      this.live--;
    }
  }

  /** Word `w` of chunk `id`. */
  read(id: number, w: number): number {
    const n = this.smallN[id]!;
    if (n === 255) return this.big[id]![w]!;
    const base = id * SMALL;
    for (let j = 0; j < n; j++) if (this.smallIdx[base + j] === w) return this.smallVal[base + j]!;
    return 0;
  }

  /** A private copy of chunk `id` (host copy), refcount 1. */
  clone(id: number): number {
    const c = this.alloc();
    const n = this.smallN[id]!;
    if (n === 255) {
      this.big[c] = this.big[id]!.slice();
      this.smallN[c] = 255;
    } else {
      this.smallN[c] = n;
      const a = id * SMALL, b = c * SMALL;
      for (let j = 0; j < n; j++) {
        this.smallIdx[b + j] = this.smallIdx[a + j]!;
        this.smallVal[b + j] = this.smallVal[a + j]!;
      }
    }
    this.stats.cowBreaks++;
    return c;
  }

  /** Writes word `w` of an unshared chunk. */
  write(id: number, w: number, v: number): void {
    const n = this.smallN[id]!;
    if (n === 255) {
      this.big[id]![w] = v;
      return;
    }
    const base = id * SMALL;
    for (let j = 0; j < n; j++) {
      if (this.smallIdx[base + j] === w) {
        if (v !== 0) this.smallVal[base + j] = v;
        else {
          // drop the pair: move the last one here
          this.smallIdx[base + j] = this.smallIdx[base + n - 1]!;
          this.smallVal[base + j] = this.smallVal[base + n - 1]!;
          this.smallN[id] = n - 1;
        }
        return;
      }
    }
    if (v === 0) return;
    if (n < SMALL) {
      this.smallIdx[base + n] = w;
      this.smallVal[base + n] = v;
      this.smallN[id] = n + 1;
      return;
    }
    const buf = new Int32Array(WORDS_PER_PAGE);
    for (let j = 0; j < n; j++) buf[this.smallIdx[base + j]!] = this.smallVal[base + j]!;
    buf[w] = v;
    this.big[id] = buf;
    this.smallN[id] = 255;
  }

  /** Makes chunk `id` a full buffer and returns it (for bulk writes). */
  full(id: number): Int32Array {
    const n = this.smallN[id]!;
    if (n === 255) return this.big[id]!;
    const buf = new Int32Array(WORDS_PER_PAGE);
    const base = id * SMALL;
    for (let j = 0; j < n; j++) buf[this.smallIdx[base + j]!] = this.smallVal[base + j]!;
    this.big[id] = buf;
    this.smallN[id] = 255;
    return buf;
  }
}

/** The chunk store of a kernel. */
export const CONTENTS: SubsystemKey<ChunkStore> = {
  name: "page-contents",
  create: (k: Kernel) => k.state(HUB).cs,
};

/** The chunk id of `page` (0: reads as zeros). */
export function pageChunk(k: Kernel, page: Page): number {
  const s = sectionOf(k.state(HUB).mm, page);
  const e = s === null ? pageExt(k, page, 0) : s.ext; // no memmap: pageExt Oopses
  const r = e === null ? null : e.rec;
  return r === null ? 0 : r[(page & (PAGES_PER_SECTION - 1)) * EXT_STRIDE + EXT_CHUNK]!;
}

function setChunk(k: Kernel, page: Page, id: number): void {
  pageExt(k, page, 0).records()[(page & (PAGES_PER_SECTION - 1)) * EXT_STRIDE + EXT_CHUNK] = id;
}

/** An unshared chunk for `page`, created or copied as needed (the write path). */
function writableChunk(k: Kernel, cs: ChunkStore, page: Page): number {
  const col = pageExt(k, page, 0).records();
  const i = (page & (PAGES_PER_SECTION - 1)) * EXT_STRIDE + EXT_CHUNK;
  let id = col[i]!;
  if (id === 0) {
    id = cs.alloc();
    col[i] = id;
  } else if (cs.refcnt[id]! > 1) {
    const c = cs.clone(id);
    cs.put(id);
    id = c;
    col[i] = id;
  }
  return id;
}

function checkWord(w: number): void {
  if (!(Number.isInteger(w) && w >= 0 && w < WORDS_PER_PAGE)) {
    throw new RangeError(`Cannot access word ${w} of a page: words are 0..${WORDS_PER_PAGE - 1}`);
  }
}

/** Reads 32-bit word `w` (0..1023) of `page`, signed. */
export function pageReadWord(k: Kernel, page: Page, w: number): number {
  checkWord(w);
  const id = pageChunk(k, page);
  return id === 0 ? 0 : k.state(HUB).cs.read(id, w);
}

/** Writes 32-bit word `w` of `page` (the value is truncated to int32). */
export function pageWriteWord(k: Kernel, page: Page, w: number, v: number): void {
  checkWord(w);
  v |= 0;
  const cs = k.state(HUB).cs;
  if (v === 0 && pageChunk(k, page) === 0) return;
  cs.write(writableChunk(k, cs, page), w, v);
}

/** Copies the whole page into `dst` (1024 words). */
export function pageReadWords(k: Kernel, page: Page, dst: Int32Array, dstOff = 0): void {
  const id = pageChunk(k, page);
  if (id === 0) {
    dst.fill(0, dstOff, dstOff + WORDS_PER_PAGE);
    return;
  }
  const cs = k.state(HUB).cs;
  if (cs.smallN[id] === 255) {
    dst.set(cs.big[id]!, dstOff);
    return;
  }
  dst.fill(0, dstOff, dstOff + WORDS_PER_PAGE);
  const n = cs.smallN[id]!, base = id * 4;
  for (let j = 0; j < n; j++) dst[dstOff + cs.smallIdx[base + j]!] = cs.smallVal[base + j]!;
}

/** Overwrites the whole page from `src` (1024 words from `srcOff`). */
export function pageWriteWords(k: Kernel, page: Page, src: Int32Array, srcOff = 0): void {
  const cs = k.state(HUB).cs;
  let nz = 0;
  for (let j = 0; j < WORDS_PER_PAGE; j++) if (src[srcOff + j] !== 0) nz++;
  if (nz === 0) {
    clear_highpage(k, page);
    return;
  }
  const id = writableChunk(k, cs, page);
  if (nz <= SMALL) {
    // rebuild compactly
    if (cs.smallN[id] === 255) {
      cs.big[id] = undefined;
    }
    cs.smallN[id] = 0;
    for (let j = 0; j < WORDS_PER_PAGE; j++) {
      const v = src[srcOff + j]!;
      if (v !== 0) cs.write(id, j, v);
    }
    return;
  }
  cs.full(id).set(src.subarray(srcOff, srcOff + WORDS_PER_PAGE));
}

/** Reads `len` bytes at byte offset `off` of `page`. */
export function pageReadBytes(k: Kernel, page: Page, off: number, len: number): Uint8Array {
  const words = new Int32Array(WORDS_PER_PAGE);
  pageReadWords(k, page, words);
  return new Uint8Array(words.buffer).slice(off, off + len);
}

/** Writes `data` at byte offset `off` of `page`. */
export function pageWriteBytes(k: Kernel, page: Page, off: number, data: Uint8Array): void {
  if (off < 0 || off + data.length > PAGE_SIZE) {
    throw new RangeError(
      `Cannot write ${data.length} bytes at offset ${off}: a page is 4096 bytes`,
    );
  }
  const words = new Int32Array(WORDS_PER_PAGE);
  pageReadWords(k, page, words);
  new Uint8Array(words.buffer).set(data, off);
  pageWriteWords(k, page, words);
}

/** Whether two pages hold the same bytes (shared chunks compare in O(1)). */
export function pagesEqual(k: Kernel, a: Page, b: Page): boolean {
  const ia = pageChunk(k, a), ib = pageChunk(k, b);
  if (ia === ib) return true;
  const wa = new Int32Array(WORDS_PER_PAGE), wb = new Int32Array(WORDS_PER_PAGE);
  pageReadWords(k, a, wa);
  pageReadWords(k, b, wb);
  for (let j = 0; j < WORDS_PER_PAGE; j++) if (wa[j] !== wb[j]) return false;
  return true;
}

/**
 * copy_highpage(to, from) (include/linux/highmem.h): `to` now holds what
 * `from` holds. The model shares the chunk (no host copy) and charges
 * dram.copy4KiB of simulated time (unless a caller charging a composite
 * cost suppressed it).
 */
export function copy_highpage(k: Kernel, to: Page, from: Page): void {
  const hub = k.state(HUB);
  const cs = hub.cs;
  // the common case: both struct pages present, `to` has its record — one read, one write
  const fs = sectionOf(hub.mm, from), ts = sectionOf(hub.mm, to);
  if (fs !== null && ts !== null) {
    const te = ts.ext;
    const trec = te === null ? null : te.rec;
    if (trec !== null) {
      const fe = fs.ext;
      const frec = fe === null ? null : fe.rec;
      const src = frec === null
        ? 0
        : frec[(from & (PAGES_PER_SECTION - 1)) * EXT_STRIDE + EXT_CHUNK]!;
      const o = (to & (PAGES_PER_SECTION - 1)) * EXT_STRIDE + EXT_CHUNK;
      const old = trec[o]!;
      if (src !== old) {
        if (src !== 0) cs.refcnt[src]!++;
        trec[o] = src;
        if (old !== 0) cs.put(old);
      }
      cs.stats.copies++;
      if (cs.suppressCharge === 0) k.clock.advance(cs.copyNs);
      return;
    }
  }
  const src = pageChunk(k, from);
  const rec = pageExt(k, to, 0).rec;
  const o = (to & (PAGES_PER_SECTION - 1)) * EXT_STRIDE + EXT_CHUNK;
  const old = rec === null ? 0 : rec[o]!;
  if (src !== old) {
    if (src !== 0) cs.refcnt[src]!++;
    if (rec !== null) rec[o] = src;
    else setChunk(k, to, src);
    if (old !== 0) cs.put(old);
  }
  cs.stats.copies++;
  if (cs.suppressCharge === 0) k.clock.advance(cs.copyNs);
}

/**
 * copy_user_highpage(to, from, vaddr, vma) (include/linux/highmem.h):
 * copy_highpage on x86. `vaddr` and `vma` are the user mapping the copy is
 * for; they matter only to architectures with aliasing caches, so the model
 * does not use them (as x86 does not).
 */
export function copy_user_highpage(
  k: Kernel,
  to: Page,
  from: Page,
  _vaddr: number,
  _vma: VmAreaStruct,
): void {
  copy_highpage(k, to, from);
}

/** clear_highpage(page): the page reads as zeros (its chunk reference is dropped). */
export function clear_highpage(k: Kernel, page: Page): void {
  const rec = pageExt(k, page, 0).rec;
  if (rec === null) return;
  const o = (page & (PAGES_PER_SECTION - 1)) * EXT_STRIDE + EXT_CHUNK;
  const id = rec[o]!;
  if (id !== 0) {
    k.state(HUB).cs.put(id);
    rec[o] = 0;
  }
}

/**
 * The page allocator's free of one page: clear_highpage (the chunk
 * reference is dropped) then resetPageExt, with one section lookup.
 */
export function clear_highpage_reset(k: Kernel, page: Page): void {
  const rec = pageExt(k, page, 0).rec;
  if (rec !== null) clearRecordAt(k, rec, (page & (PAGES_PER_SECTION - 1)) * EXT_STRIDE);
}

/**
 * @internal clear_highpage_reset on a record already in hand (`rec` at
 * offset `o`): drops the chunk reference, then zeroes the record's
 * EXT_STRIDE (8) slots without a call to fill.
 */
export function clearRecordAt(k: Kernel, rec: Int32Array, o: number): void {
  const id = rec[o + EXT_CHUNK]!;
  if (id !== 0) k.state(HUB).cs.put(id);
  rec[o] = 0;
  rec[o + 1] = 0;
  rec[o + 2] = 0;
  rec[o + 3] = 0;
  rec[o + 4] = 0;
  rec[o + 5] = 0;
  rec[o + 6] = 0;
  rec[o + 7] = 0;
}

/** Host bytes the chunk store holds (full buffers plus compact slots). */
export function contentsFootprint(
  k: Kernel,
): { chunks: number; fullBuffers: number; bytes: number } {
  const cs = k.state(HUB).cs;
  let full = 0;
  for (const b of cs.big) if (b !== undefined) full++;
  return {
    chunks: cs.live,
    fullBuffers: full,
    bytes: full * PAGE_SIZE + cs.refcnt.byteLength + cs.smallN.byteLength +
      cs.smallIdx.byteLength + cs.smallVal.byteLength,
  };
}
