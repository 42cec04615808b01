/**
 * A GPU's page table mirroring one process's address space: the data
 * structure an HMM mirror driver fills from hmm_vma_get_pfns / hmm_vma_fault
 * and clears from its sync_cpu_device_pagetables callback. Nothing here
 * decides what to map; the driver does.
 *
 * One entry per 4 KiB virtual page, packed in a Float64Array per 2 MiB VA
 * block (the nvidia-uvm va_block granule): `target × 8 + flags`, where the
 * target is a system pfn (a RAM or device-private struct page) or, with
 * {@link DPTE_VRAM}, a VRAM page index. 0 means "not mapped".
 *
 * @module
 */

/** The entry is valid. */
export const DPTE_VALID = 1;
/** The device may write through it. */
export const DPTE_WRITE = 2;
/** The target is a VRAM page index (else a system pfn). */
export const DPTE_VRAM = 4;

const BLOCK = 512; // 4 KiB pages per 2 MiB VA block

/** A decoded entry. */
export interface DevicePte {
  /** System pfn or VRAM page. */
  target: number;
  /** DPTE_* flags. */
  flags: number;
}

/** A device page table for one mirrored address space. */
export class DevicePageTable {
  #blocks = new Map<number, Float64Array>();
  #count = 0;
  // the block used last (a batch maps, invalidates and reads pages of one VA block)
  #lastKey = -1;
  #last: Float64Array | null = null;

  /** The block of VA block number `key`, or undefined. */
  #block(key: number): Float64Array | undefined {
    if (key === this.#lastKey) return this.#last!;
    const b = this.#blocks.get(key);
    if (b !== undefined) {
      this.#lastKey = key;
      this.#last = b;
    }
    return b;
  }

  /** Mapped pages. */
  get count(): number {
    return this.#count;
  }

  /** Maps the page containing `vaddr` to `target` with `flags` (DPTE_VALID is implied). */
  map(vaddr: number, target: number, flags: number): void {
    if (!(target >= 0 && target < 2 ** 45 && Math.floor(target) === target)) {
      throw new RangeError(
        `Cannot map ${vaddr.toString(16)} on the device: target ${target} is not a page number`,
      );
    }
    const vpn = Math.floor(vaddr / 4096);
    const key = Math.floor(vpn / BLOCK);
    let b = this.#block(key);
    if (b === undefined) {
      b = new Float64Array(BLOCK);
      this.#blocks.set(key, b);
    }
    const i = vpn - key * BLOCK; // vpn % BLOCK without a floating-point modulo (vpn > 2^31)
    if (b[i] === 0) this.#count++;
    b[i] = target * 8 + ((flags | DPTE_VALID) & 7);
  }

  /** The raw packed entry of the page containing `vaddr` (0 when unmapped). */
  raw(vaddr: number): number {
    const vpn = Math.floor(vaddr / 4096);
    const key = Math.floor(vpn / BLOCK);
    const b = this.#block(key);
    return b === undefined ? 0 : b[vpn - key * BLOCK]!;
  }

  /** The entry of the page containing `vaddr`, or null. */
  lookup(vaddr: number): DevicePte | null {
    const r = this.raw(vaddr);
    if (r === 0) return null;
    return { target: Math.floor(r / 8), flags: r % 8 };
  }

  /** Clears the entry of the page containing `vaddr`; whether one was there. */
  unmap(vaddr: number): boolean {
    const vpn = Math.floor(vaddr / 4096);
    const key = Math.floor(vpn / BLOCK);
    const b = this.#block(key);
    const i = vpn - key * BLOCK;
    if (b === undefined || b[i] === 0) return false;
    b[i] = 0;
    this.#count--;
    return true;
  }

  /** Clears every entry in [start, end) (an invalidation); returns how many were cleared. */
  invalidate(start: number, end: number): number {
    let n = 0;
    const first = Math.floor(start / 4096), last = Math.ceil(end / 4096);
    if ((last - first) / BLOCK > this.#blocks.size) {
      // a huge range (an exit, a big munmap): visit the populated blocks only
      for (const [key, b] of this.#blocks) {
        const lo = Math.max(first, key * BLOCK), hi = Math.min(last, (key + 1) * BLOCK);
        for (let v = lo - key * BLOCK, e = hi - key * BLOCK; v < e; v++) {
          if (b[v] !== 0) {
            b[v] = 0;
            n++;
          }
        }
      }
      this.#count -= n;
      return n;
    }
    for (let vpn = first; vpn < last;) {
      const key = Math.floor(vpn / BLOCK);
      const b = this.#block(key);
      const blockEnd = Math.min(last, (key + 1) * BLOCK);
      if (b !== undefined) {
        for (let v = vpn - key * BLOCK, e = blockEnd - key * BLOCK; v < e; v++) {
          if (b[v] !== 0) {
            b[v] = 0;
            n++;
          }
        }
      }
      vpn = blockEnd;
    }
    this.#count -= n;
    return n;
  }

  /** Every mapped page: [vaddr, entry], ascending. */
  entries(): Array<[number, DevicePte]> {
    const out: Array<[number, DevicePte]> = [];
    for (const key of [...this.#blocks.keys()].sort((a, b) => a - b)) {
      const b = this.#blocks.get(key)!;
      for (let i = 0; i < BLOCK; i++) {
        const r = b[i]!;
        if (r !== 0) {
          out.push([(key * BLOCK + i) * 4096, { target: Math.floor(r / 8), flags: r % 8 }]);
        }
      }
    }
    return out;
  }

  /** Forgets everything. */
  clear(): void {
    this.#blocks.clear();
    this.#count = 0;
    this.#lastKey = -1;
    this.#last = null;
  }
}
