/**
 * x86_64 memory hotplug glue (arch/x86/mm/init_64.c, arch/x86/mm/init.c;
 * v4.20; v5.0's arch_remove_memory gains a leading, unused nid) and the
 * direct map (__va / __pa).
 *
 * The linear map is kept as merged physical byte ranges: init_memory_mapping
 * adds one, kernel_physical_mapping_remove cuts one out. Nothing else unmaps
 * it — in particular a failed arch_add_memory leaves its linear map behind.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { ENOMEM } from "../errno.ts";
import { pr_debug, WARN_ON_ONCE } from "../printk.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "./constants.ts";
import { page_zone, pfn_to_page } from "./memmap.ts";
import { __add_pages, __remove_pages } from "./memory-hotplug.ts";
import { MM, type MmState } from "./mmzone.ts";
import { vmem_altmap_offset } from "./sparse-vmemmap.ts";
import type { VmemAltmap } from "./types.ts";

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** Adds [start, end) to the direct map (sorted, merged). */
function mapRange(mm: MmState, start: number, end: number): void {
  const out: Array<[number, number]> = [];
  let s = start;
  let e = end;
  for (const [a, b] of mm.directMap) {
    if (b < s || a > e) out.push([a, b]);
    else {
      s = Math.min(s, a);
      e = Math.max(e, b);
    }
  }
  out.push([s, e]);
  out.sort((x, y) => x[0] - y[0]);
  mm.directMap = out;
}

/** Removes [start, end) from the direct map. */
function unmapRange(mm: MmState, start: number, end: number): void {
  const out: Array<[number, number]> = [];
  for (const [a, b] of mm.directMap) {
    if (b <= start || a >= end) out.push([a, b]);
    else {
      if (a < start) out.push([a, start]);
      if (b > end) out.push([end, b]);
    }
  }
  mm.directMap = out;
}

/** Whether physical byte `phys` is in the direct map. */
export function linearMapped(k: Kernel, phys: number): boolean {
  for (const [a, b] of k.state(MM).directMap) if (phys >= a && phys < b) return true;
  return false;
}

/** Whether all of [start, end) is in the direct map. */
export function linearMappedRange(k: Kernel, start: number, end: number): boolean {
  for (const [a, b] of k.state(MM).directMap) if (start >= a && end <= b) return true;
  return false;
}

/**
 * init_memory_mapping(start, end) (arch/x86/mm/init.c): creates the kernel
 * linear mapping of [start, end); returns the end pfn mapped.
 */
export function init_memory_mapping(k: Kernel, start: number, end: number): number {
  pr_debug(k, `init_memory_mapping: [mem ${hex(start)}-${hex(end - 1)}]`);
  mapRange(k.state(MM), start, end);
  if (k.trace.on) {
    k.trace.emit({ kind: "hotplug", op: "linear_map", start, size: end - start, ret: 0 });
  }
  return Math.floor(end / PAGE_SIZE);
}

/** kernel_physical_mapping_remove(start, end): tears down the linear mapping of [start, end). */
export function kernel_physical_mapping_remove(k: Kernel, start: number, end: number): void {
  unmapRange(k.state(MM), start, end);
  if (k.trace.on) {
    k.trace.emit({ kind: "hotplug", op: "linear_unmap", start, size: end - start, ret: 0 });
  }
}

/** update_end_of_memory_vars(start, size): raises max_pfn (high_memory) to cover the range. */
export function update_end_of_memory_vars(k: Kernel, start: number, size: number): void {
  const mm = k.state(MM);
  const end_pfn = Math.ceil((start + size) / PAGE_SIZE);
  if (end_pfn > mm.max_pfn) mm.max_pfn = end_pfn;
}

/** Simulator misuse of a hotplug range: not page-aligned integers, or empty. */
function checkHotplugRange(fn: string, start: number, size: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0) {
    throw new TypeError(
      `Cannot ${fn}(${start}, ${size}): start and size are non-negative integers`,
    );
  }
  if (size <= 0 || start % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) {
    throw new RangeError(
      `Cannot ${fn}(0x${
        start.toString(16)
      }, ${size}): the range must be non-empty and page aligned`,
    );
  }
}

/**
 * add_pages(nid, start_pfn, nr_pages, altmap, want_memblock) (x86): struct
 * pages only — __add_pages, WARN_ON_ONCE on its error, then max_pfn is raised
 * over the whole range whatever happened. No linear map.
 */
export function add_pages(
  k: Kernel,
  nid: number,
  start_pfn: number,
  nr_pages: number,
  altmap: VmemAltmap | null,
  want_memblock: boolean,
): number {
  const ret = __add_pages(k, nid, start_pfn, nr_pages, altmap, want_memblock);
  WARN_ON_ONCE(k, ret !== 0);
  update_end_of_memory_vars(k, start_pfn * PAGE_SIZE, nr_pages * PAGE_SIZE);
  return ret;
}

/**
 * arch_add_memory(nid, start, size, altmap, want_memblock) (x86): the linear
 * map of [start, start+size), then add_pages. On failure nothing is undone:
 * the linear map and any sections added before the failing one stay.
 * The "arch_add_memory" fault point fails it at entry with -ENOMEM (a
 * simulator convenience, before anything changes).
 *
 * @example Failure part-way leaves the earlier sections
 * ```ts
 * import { Kernel } from "../kernel.ts";
 * import { arch_add_memory, linearMapped } from "./init-64.ts";
 * import { mm_init, pfn_valid } from "./mmzone.ts";
 * import { ENOMEM } from "../errno.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel();
 * mm_init(k);
 * k.faults.arm("sparse_add_one_section", { nth: 3 });
 * assertEquals(arch_add_memory(k, 0, 2 ** 34, 4 * 2 ** 27, null, false), -ENOMEM);
 * assertEquals([0, 1, 2, 3].map((i) => pfn_valid(k, 0x400000 + i * 32768)), [true, true, false, false]);
 * assertEquals(linearMapped(k, 2 ** 34 + 3 * 2 ** 27), true);
 * ```
 */
export function arch_add_memory(
  k: Kernel,
  nid: number,
  start: number,
  size: number,
  altmap: VmemAltmap | null,
  want_memblock: boolean,
): number {
  checkHotplugRange("arch_add_memory", start, size);
  if (k.faults.shouldFail("arch_add_memory")) return -ENOMEM;
  const start_pfn = Math.floor(start / 2 ** PAGE_SHIFT);
  const nr_pages = Math.floor(size / 2 ** PAGE_SHIFT);
  init_memory_mapping(k, start, start + size);
  return add_pages(k, nid, start_pfn, nr_pages, altmap, want_memblock);
}

/**
 * arch_remove_memory(start, size, altmap) (x86, v4.20). v5.0 adds a leading
 * nid that x86 ignores; the model keeps the v4.20 signature for both. Finds the zone through the first
 * data page's struct page (skipping vmem_altmap_offset pages with an altmap):
 * if that section's memmap is already gone this is the kernel's Oops. Then
 * __remove_pages (WARN_ON_ONCE on error) and the linear map comes down.
 */
export function arch_remove_memory(
  k: Kernel,
  start: number,
  size: number,
  altmap: VmemAltmap | null,
): number {
  checkHotplugRange("arch_remove_memory", start, size);
  const start_pfn = Math.floor(start / PAGE_SIZE);
  const nr_pages = Math.floor(size / PAGE_SIZE);
  let page = pfn_to_page(k, start_pfn);
  if (altmap !== null) page += vmem_altmap_offset(k, altmap);
  const zone = page_zone(k, page);
  const ret = __remove_pages(k, zone, start_pfn, nr_pages, altmap);
  WARN_ON_ONCE(k, ret !== 0);
  kernel_physical_mapping_remove(k, start, start + size);
  return ret;
}

/**
 * __va(phys): the direct-map virtual address, PAGE_OFFSET + phys, as a
 * BigInt (kernel virtual addresses do not fit a Number). Pure arithmetic:
 * like the kernel, it does not check that the address is mapped (see
 * {@link linearMapped}); a RangeError only for something that is not a
 * physical address of this machine (simulator misuse).
 */
export function __va(k: Kernel, phys: number): bigint {
  const mm = k.state(MM);
  if (!Number.isSafeInteger(phys) || phys < 0 || phys >= 2 ** mm.MAX_PHYSMEM_BITS) {
    throw new RangeError(
      `Cannot take __va(${phys}): not a physical address below 2^${mm.MAX_PHYSMEM_BITS}`,
    );
  }
  return mm.pageOffset + BigInt(phys);
}

/** __pa(va): the physical address of a direct-map address; a RangeError outside the direct-map window. */
export function __pa(k: Kernel, va: bigint): number {
  const mm = k.state(MM);
  const off = va - mm.pageOffset;
  if (off < 0n || off >= 2n ** BigInt(mm.MAX_PHYSMEM_BITS)) {
    throw new RangeError(`Cannot take __pa(0x${va.toString(16)}): not a direct-map address`);
  }
  return Number(off);
}
