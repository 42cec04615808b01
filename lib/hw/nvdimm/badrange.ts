/**
 * Known-bad ranges, two ways, as libnvdimm keeps them (v4.20):
 *
 * - {@link Badrange} (drivers/nvdimm/badrange.c): an unsorted list of
 *   {start, length} byte ranges in system-physical address space. nfit_test
 *   keeps the injected errors in one; the bus keeps what ARS reported in
 *   another. `add` with the start of an existing entry only updates its
 *   length (the duplicate check ARS results rely on); `forget` trims,
 *   deletes or splits entries.
 * - {@link Badblocks} (block/badblocks.c): 512-byte sectors relative to a
 *   region or namespace, kept sorted and merged, each entry at most
 *   BB_MAX_LEN (512) sectors — what /sys/.../badblocks prints as
 *   "sector count" lines.
 *
 * @module
 */

/** One bad range: first byte and length in bytes. */
export interface BadrangeEntry {
  /** First byte (system-physical). */
  start: number;
  /** Length in bytes. */
  length: number;
}

/** struct badrange: a list of bad byte ranges. */
export class Badrange {
  /** The entries, in insertion order (the kernel appends). */
  readonly list: BadrangeEntry[] = [];

  /**
   * badrange_add(badrange, addr, length): appends a range, unless an entry
   * already starts at `addr`, whose length is then updated. Returns 0.
   *
   * @example
   * ```ts
   * import { Badrange } from "./badrange.ts";
   * import { assertEquals } from "@std/assert";
   * const b = new Badrange();
   * b.add(0x1000, 512);
   * b.add(0x1000, 1024); // same start: length updated
   * b.forget(0x1100, 256); // middle: split in two
   * assertEquals(b.list, [{ start: 0x1000, length: 256 }, { start: 0x1200, length: 512 }]);
   * ```
   */
  add(addr: number, length: number): number {
    for (const e of this.list) {
      if (e.start === addr) {
        e.length = length;
        return 0;
      }
    }
    this.list.push({ start: addr, length });
    return 0;
  }

  /**
   * badrange_forget(badrange, start, len): removes [start, start + len) from
   * every entry it intersects: wholly covered entries are deleted, partly
   * covered ones trimmed, and an entry covering both sides is split (the
   * right half appended).
   */
  forget(start: number, len: number): void {
    const clrEnd = start + len - 1;
    const n = this.list.length;
    for (let i = 0; i < n; i++) {
      const e = this.list[i]!;
      if (e.length === 0) continue;
      const eEnd = e.start + e.length - 1;
      if (eEnd < start || e.start > clrEnd) continue;
      if (e.start >= start && eEnd <= clrEnd) {
        e.length = 0;
        continue;
      }
      if (start <= e.start && clrEnd > e.start) {
        e.length -= clrEnd - e.start + 1;
        e.start = clrEnd + 1;
        continue;
      }
      if (e.start < start && eEnd <= clrEnd) {
        e.length = start - e.start;
        continue;
      }
      if (e.start < start && eEnd > clrEnd) {
        this.list.push({ start: clrEnd + 1, length: eEnd - clrEnd });
        e.length = start - e.start;
      }
    }
    for (let i = this.list.length - 1; i >= 0; i--) {
      if (this.list[i]!.length === 0) this.list.splice(i, 1);
    }
  }

  /** Whether any entry intersects [start, start + len). */
  intersects(start: number, len: number): boolean {
    for (const e of this.list) {
      if (e.start < start + len && start < e.start + e.length) return true;
    }
    return false;
  }

  /** The entries intersecting [addr, addr + len), clipped to it (nfit_test's post_ars_status). */
  clipped(addr: number, len: number): BadrangeEntry[] {
    const end = addr + len - 1;
    const out: BadrangeEntry[] = [];
    for (const e of this.list) {
      const eEnd = e.start + e.length - 1;
      if (eEnd < addr || e.start > end) continue;
      const s = Math.max(e.start, addr), t = Math.min(eEnd, end);
      out.push({ start: s, length: t - s + 1 });
    }
    return out;
  }

  /** Drops every entry. */
  clear(): void {
    this.list.length = 0;
  }

  /** A copy of the entries. */
  snapshot(): BadrangeEntry[] {
    return this.list.map((e) => ({ ...e }));
  }
}

/** BB_MAX_LEN: the longest extent one badblocks entry holds, in sectors. */
export const BB_MAX_LEN = 512;
/** MAX_BADBLOCKS: entries that fit in the one page a badblocks list has. */
export const MAX_BADBLOCKS = 512;

/** One badblocks entry: first sector and sector count. */
export interface BadblocksEntry {
  /** First 512-byte sector. */
  sector: number;
  /** Sectors (1..512). */
  count: number;
}

/**
 * struct badblocks: sorted, merged bad sector extents. The model keeps the
 * union of bad sectors and splits each maximal run into entries of at most
 * 512 sectors, which is what the kernel's merge produces for the ranges
 * libnvdimm sets (all acknowledged).
 */
export class Badblocks {
  #runs: Array<[number, number]> = []; // [start, end) sorted, disjoint, non-adjacent

  /** Number of entries (bb->count). */
  get count(): number {
    if (this.#runs.length === 0) return 0; // the common case, on the DAX fault path
    return this.entries().length;
  }

  /** badblocks_set(bb, s, sectors, 1): marks [s, s + sectors) bad. */
  set(s: number, sectors: number): void {
    if (sectors <= 0) return;
    let a = s, b = s + sectors;
    const out: Array<[number, number]> = [];
    for (const [x, y] of this.#runs) {
      if (y < a || x > b) out.push([x, y]);
      else {
        a = Math.min(a, x);
        b = Math.max(b, y);
      }
    }
    out.push([a, b]);
    out.sort((p, q) => p[0] - q[0]);
    this.#runs = out;
  }

  /** badblocks_clear(bb, s, sectors): marks [s, s + sectors) good again. */
  clear(s: number, sectors: number): void {
    if (sectors <= 0) return;
    const e = s + sectors;
    const out: Array<[number, number]> = [];
    for (const [x, y] of this.#runs) {
      if (y <= s || x >= e) out.push([x, y]);
      else {
        if (x < s) out.push([x, s]);
        if (y > e) out.push([e, y]);
      }
    }
    this.#runs = out;
  }

  /**
   * badblocks_check(bb, s, sectors): 0 if no bad sector lies in
   * [s, s + sectors), else 1 with the lowest overlapping entry's first
   * sector and length.
   */
  check(s: number, sectors: number): { rc: 0 | 1; firstBad: number; badSectors: number } {
    for (const en of this.entries()) {
      if (en.sector < s + sectors && s < en.sector + en.count) {
        return { rc: 1, firstBad: en.sector, badSectors: en.count };
      }
    }
    return { rc: 0, firstBad: 0, badSectors: 0 };
  }

  /** is_bad_pmem(bb, sector, len): whether any of `len` bytes from `sector` is bad. */
  isBad(sector: number, len: number): boolean {
    const n = Math.ceil(len / 512);
    for (const [x, y] of this.#runs) if (x < sector + n && sector < y) return true;
    return false;
  }

  /** The entries, as /sys/.../badblocks lists them. */
  entries(): BadblocksEntry[] {
    const out: BadblocksEntry[] = [];
    for (const [x, y] of this.#runs) {
      for (let s = x; s < y; s += BB_MAX_LEN) {
        out.push({ sector: s, count: Math.min(BB_MAX_LEN, y - s) });
      }
    }
    return out;
  }

  /** badblocks_show: "sector count\n" per entry. */
  show(): string {
    return this.entries().map((e) => `${e.sector} ${e.count}\n`).join("");
  }

  /** Forgets every entry (devm_exit_badblocks + a fresh init). */
  reset(): void {
    this.#runs = [];
  }
}

/**
 * __add_badblock_range + badblocks_populate (drivers/nvdimm/badrange.c):
 * adds every `badrange` entry intersecting [resStart, resEnd] to `bb`, in
 * sectors relative to `resStart` (start rounded down, end rounded up).
 */
export function badblocksPopulate(
  badrange: Badrange,
  bb: Badblocks,
  resStart: number,
  resEnd: number,
): void {
  const size = resEnd - resStart + 1;
  for (const e of badrange.list) {
    const eEnd = e.start + e.length - 1;
    if (eEnd < resStart || e.start > resEnd) continue;
    let off: number, len: number;
    if (e.start >= resStart) {
      off = e.start - resStart;
      len = eEnd <= resEnd ? e.length : resStart + size - e.start;
    } else {
      off = 0;
      len = eEnd < resEnd ? e.start + e.length - resStart : size;
    }
    const s = Math.floor(off / 512);
    const t = Math.ceil((off + len) / 512);
    bb.set(s, t - s);
  }
}
