/**
 * GPU replayable far faults: the hardware fault buffer and the batch a
 * driver fetches from it. A device access to an unmapped page queues a fault
 * (address and access type); the driver fetches up to 256 at a time
 * (`gpu.faultsPerBatchMax`, the nvidia-uvm default), and the batch
 * de-duplicates them: one entry per 4 KiB page, a write beating a read,
 * sorted by address so pages of one 2 MiB VA block are adjacent. Servicing
 * (migration, mapping, replay) is the driver's.
 *
 * @module
 */

/** Read access. */
export const FAULT_READ = 0;
/** Write access. */
export const FAULT_WRITE = 1;

/** A de-duplicated batch of faults (reused between fetches: no allocation per batch). */
export class FaultBatch {
  /** Capacity. */
  readonly max: number;
  /** Page-aligned faulting addresses, ascending (first `n` valid). */
  readonly addrs: Float64Array;
  /** FAULT_READ / FAULT_WRITE per entry. */
  readonly access: Uint8Array;
  /** Distinct pages in the batch. */
  n = 0;
  /** Raw faults fetched (before de-duplication). */
  fetched = 0;
  // de-duplication: an open-addressing table stamped per fill (never cleared)
  readonly #bits: number;
  readonly #stamp: Int32Array;
  readonly #hkey: Float64Array;
  readonly #hidx: Int32Array;
  #gen = 0;
  // unique pages before sorting, and radix sort scratch
  readonly #vpn: Float64Array;
  readonly #acc: Uint8Array;
  readonly #key: Uint32Array;
  readonly #idxA: Uint16Array;
  readonly #idxB: Uint16Array;
  readonly #count = new Int32Array(257);

  /**
   * Creates an empty batch.
   * @param max capacity (256).
   */
  constructor(max = 256) {
    if (!Number.isInteger(max) || max < 1 || max > 65536) {
      throw new RangeError(`Cannot create a fault batch of ${max}: capacity is 1..65536`);
    }
    this.max = max;
    this.addrs = new Float64Array(max);
    this.access = new Uint8Array(max);
    let bits = 4;
    while (1 << bits < 4 * max) bits++;
    this.#bits = bits;
    this.#stamp = new Int32Array(1 << bits);
    this.#hkey = new Float64Array(1 << bits);
    this.#hidx = new Int32Array(1 << bits);
    this.#vpn = new Float64Array(max);
    this.#acc = new Uint8Array(max);
    this.#key = new Uint32Array(max);
    this.#idxA = new Uint16Array(max);
    this.#idxB = new Uint16Array(max);
  }

  /** Fills the batch from raw (address, access) pairs: one entry per page, writes win, ascending. */
  fill(addrs: Float64Array, access: Uint8Array, count: number): void {
    const gen = ++this.#gen;
    const mask = (1 << this.#bits) - 1, shift = 32 - this.#bits;
    const stamp = this.#stamp, hkey = this.#hkey, hidx = this.#hidx;
    const vpns = this.#vpn, acc = this.#acc;
    let n = 0, min = Infinity, max = -Infinity;
    for (let i = 0; i < count; i++) {
      const vpn = Math.floor(addrs[i]! / 4096);
      const w = access[i]! & 1;
      let h = Math.imul((vpn >>> 0) ^ ((vpn / 4294967296) | 0), 0x9e3779b1) >>> shift;
      for (;;) {
        if (stamp[h] !== gen) {
          stamp[h] = gen;
          hkey[h] = vpn;
          hidx[h] = n;
          vpns[n] = vpn;
          acc[n] = w;
          n++;
          if (vpn < min) min = vpn;
          if (vpn > max) max = vpn;
          break;
        }
        if (hkey[h] === vpn) {
          if (w) acc[hidx[h]!] = 1;
          break;
        }
        h = (h + 1) & mask;
      }
    }
    this.#sort(n, min, max);
    this.n = n;
    this.fetched = count;
  }

  /** Sorts the first `n` (vpn, access) pairs into addrs/access by vpn (LSD radix on vpn - min). */
  #sort(n: number, min: number, max: number): void {
    const out = this.addrs, outA = this.access, vpns = this.#vpn, acc = this.#acc;
    const range = max - min;
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) sorted = vpns[i - 1]! < vpns[i]!;
    if (sorted) {
      // faults usually arrive in address order: nothing to sort
      for (let i = 0; i < n; i++) {
        out[i] = vpns[i]! * 4096;
        outA[i] = acc[i]!;
      }
      return;
    }
    if (n <= 16 || range >= 4294967296) {
      // small batches, or pages spread over more than 16 TiB: a plain sort of indexes
      const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => vpns[a]! - vpns[b]!);
      for (let i = 0; i < n; i++) {
        out[i] = vpns[idx[i]!]! * 4096;
        outA[i] = acc[idx[i]!]!;
      }
      return;
    }
    let src = this.#idxA, dst = this.#idxB;
    const key = this.#key, count = this.#count;
    for (let i = 0; i < n; i++) {
      key[i] = vpns[i]! - min;
      src[i] = i;
    }
    for (let shift = 0; shift < 32 && range >>> shift !== 0; shift += 8) {
      count.fill(0);
      for (let i = 0; i < n; i++) count[((key[src[i]!]! >>> shift) & 255) + 1]!++;
      for (let d = 1; d <= 256; d++) count[d]! += count[d - 1]!;
      for (let i = 0; i < n; i++) {
        const j = src[i]!;
        dst[count[(key[j]! >>> shift) & 255]!++] = j;
      }
      const t = src;
      src = dst;
      dst = t;
    }
    for (let i = 0; i < n; i++) {
      out[i] = vpns[src[i]!]! * 4096;
      outA[i] = acc[src[i]!]!;
    }
  }
}

/** The hardware fault buffer of one GPU (a ring). */
export class FaultBuffer {
  /** Capacity of the ring. */
  readonly capacity: number;
  readonly #addrs: Float64Array;
  readonly #access: Uint8Array;
  #head = 0;
  #len = 0;
  /** Faults dropped because the ring was full. */
  overflows = 0;
  /** Faults raised since power-on. */
  raised = 0;
  readonly #scratchA: Float64Array;
  readonly #scratchW: Uint8Array;

  /**
   * Creates an empty buffer.
   * @param capacity ring entries (default 8192).
   */
  constructor(capacity = 8192) {
    this.capacity = capacity;
    this.#addrs = new Float64Array(capacity);
    this.#access = new Uint8Array(capacity);
    this.#scratchA = new Float64Array(capacity);
    this.#scratchW = new Uint8Array(capacity);
  }

  /** Faults waiting. */
  get pending(): number {
    return this.#len;
  }

  /** Queues a fault at `vaddr`; false (counted as an overflow) when the ring is full. */
  raise(vaddr: number, access: number): boolean {
    this.raised++;
    if (this.#len === this.capacity) {
      this.overflows++;
      return false;
    }
    const i = (this.#head + this.#len) % this.capacity;
    this.#addrs[i] = vaddr;
    this.#access[i] = access;
    this.#len++;
    return true;
  }

  /**
   * Moves up to `batch.max` faults into `batch`, de-duplicated. Returns the
   * number of distinct pages.
   *
   * @example 300 faults on 3 pages make one batch of 3 pages (256 fetched)
   * ```ts
   * import { FAULT_READ, FAULT_WRITE, FaultBatch, FaultBuffer } from "./faults.ts";
   * import { assertEquals } from "@std/assert";
   * const fb = new FaultBuffer();
   * for (let i = 0; i < 300; i++) fb.raise(0x10000 + (i % 3) * 4096 + 8, i === 4 ? FAULT_WRITE : FAULT_READ);
   * const b = new FaultBatch(256);
   * assertEquals([fb.fetch(b), b.fetched, fb.pending], [3, 256, 44]);
   * assertEquals([...b.addrs.subarray(0, 3)], [0x10000, 0x11000, 0x12000]);
   * assertEquals([...b.access.subarray(0, 3)], [FAULT_READ, FAULT_WRITE, FAULT_READ]);
   * ```
   */
  fetch(batch: FaultBatch): number {
    const count = Math.min(batch.max, this.#len);
    for (let j = 0; j < count; j++) {
      const i = (this.#head + j) % this.capacity;
      this.#scratchA[j] = this.#addrs[i]!;
      this.#scratchW[j] = this.#access[i]!;
    }
    this.#head = (this.#head + count) % this.capacity;
    this.#len -= count;
    batch.fill(this.#scratchA, this.#scratchW, count);
    return batch.n;
  }

  /** Drops every pending fault (power-on). */
  reset(): void {
    this.#head = 0;
    this.#len = 0;
    this.overflows = 0;
    this.raised = 0;
  }
}
