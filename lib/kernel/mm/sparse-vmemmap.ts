/**
 * The virtual memmap and the vmem_altmap (mm/sparse-vmemmap.c,
 * include/linux/memremap.h, arch/x86/mm/init_64.c vmemmap_populate and
 * vmemmap_free; v4.20 = v5.0).
 *
 * x86_64 with PSE maps the memmap in 2 MiB PMD blocks; one block holds the
 * 32768 struct pages of exactly one section. A block comes from the altmap
 * when one is given (the memmap is carved out of the device itself, with no
 * fallback to RAM) and from RAM otherwise. The model keeps the populated
 * blocks by block number with the device pfn each came from (-1: RAM); RAM
 * blocks are not accounted against RAM.
 *
 * Addresses in the vmemmap are passed as byte offsets from VMEMMAP_START
 * (pfn × 64, exact in a Number), where the kernel passes virtual addresses.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { pr_debug, pr_warn } from "../printk.ts";
import { ENOMEM } from "../errno.ts";
import { PAGE_SIZE, PAGES_PER_SECTION, PMD_SIZE, STRUCT_PAGE_SIZE } from "./constants.ts";
import { MM } from "./mmzone.ts";
import type { VmemAltmap } from "./types.ts";

/** What the model returns for a vmemmap block allocated from RAM (the kernel returns its address). */
export const VMEMMAP_BLOCK_IN_RAM: number = -1;

/** pr_warn_once / pr_err_once at one site. */
function onceAt(k: Kernel, site: string): boolean {
  return k.dmesg.firstAt(`mm:${site}`);
}

/**
 * vmem_altmap_offset(altmap) (include/linux/memremap.h): reserve + free —
 * the pfns at the start of the range that are not data pages.
 *
 * @example
 * ```ts
 * import { Kernel } from "../kernel.ts";
 * import { VmemAltmap } from "./types.ts";
 * import { vmem_altmap_offset } from "./sparse-vmemmap.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(vmem_altmap_offset(new Kernel(), new VmemAltmap(0x100000, 2, 66046)), 66048);
 * ```
 */
export function vmem_altmap_offset(_k: Kernel, altmap: VmemAltmap): number {
  return altmap.reserve + altmap.free;
}

/** vmem_altmap_free(altmap, nr_pfns): gives back memmap pages (alignment padding stays lost). */
export function vmem_altmap_free(_k: Kernel, altmap: VmemAltmap, nr_pfns: number): void {
  altmap.alloc -= nr_pfns;
}

/** vmem_altmap_next_pfn(altmap): base + reserve + alloc + align. */
export function vmem_altmap_next_pfn(_k: Kernel, altmap: VmemAltmap): number {
  return altmap.base_pfn + altmap.reserve + altmap.alloc + altmap.align;
}

/** vmem_altmap_nr_free(altmap): free - (alloc + align), not below 0. */
export function vmem_altmap_nr_free(_k: Kernel, altmap: VmemAltmap): number {
  const allocated = altmap.alloc + altmap.align;
  return altmap.free > allocated ? altmap.free - allocated : 0;
}

/**
 * altmap_alloc_block_buf(size, altmap) (mm/sparse-vmemmap.c): carves `size`
 * bytes of memmap out of the device. Returns the first pfn of the block (the
 * kernel returns its __va), or null when the altmap is exhausted. The block is
 * aligned to the lowest set bit of its size in pages (512 for a PMD block);
 * the padding is charged to `align` and never given back. A size that is not
 * a multiple of PAGE_SIZE warns once and fails.
 */
export function altmap_alloc_block_buf(k: Kernel, size: number, altmap: VmemAltmap): number | null {
  if (size % PAGE_SIZE !== 0) {
    if (onceAt(k, "altmap_alloc_block_buf")) {
      pr_warn(k, `altmap_alloc_block_buf: allocations must be multiple of PAGE_SIZE (${size})`);
    }
    return null;
  }
  let pfn = vmem_altmap_next_pfn(k, altmap);
  const nr_pfns = size / PAGE_SIZE;
  const lowBit = nr_pfns & -nr_pfns; // 1 << find_first_bit(&nr_pfns)
  const nr_align = Math.ceil(pfn / lowBit) * lowBit - pfn;
  if (nr_pfns + nr_align > vmem_altmap_nr_free(k, altmap)) return null;
  altmap.alloc += nr_pfns;
  altmap.align += nr_align;
  pfn += nr_align;
  pr_debug(
    k,
    `altmap_alloc_block_buf: pfn: 0x${
      pfn.toString(16)
    } alloc: ${altmap.alloc} align: ${altmap.align} nr: 0x${nr_pfns.toString(16)}`,
  );
  return pfn;
}

/**
 * vmemmap_alloc_block_buf(size, node): a memmap block from RAM. Only the
 * "vmemmap_populate" fault point makes it fail; the first failure prints
 * the allocation-failure warning once, as vmemmap_alloc_block does.
 */
export function vmemmap_alloc_block_buf(k: Kernel, size: number, node: number): number | null {
  if (k.faults.shouldFail("vmemmap_populate")) {
    if (onceAt(k, "vmemmap_alloc_block")) {
      const order = Math.log2(size / PAGE_SIZE);
      pr_warn(
        k,
        `${k.currentDesc.comm}: vmemmap alloc failure: order:${order}, mode:(GFP_KERNEL|__GFP_RETRY_MAYFAIL), nodemask=(null)`,
      );
    }
    void node;
    return null;
  }
  return VMEMMAP_BLOCK_IN_RAM;
}

/**
 * vmemmap_populate(start, end, node, altmap) (arch/x86/mm/init_64.c, with
 * PSE: vmemmap_populate_hugepages): maps every 2 MiB block of the vmemmap
 * range [start, end) (byte offsets from VMEMMAP_START). An already mapped
 * block is reused. A block that cannot be allocated returns -ENOMEM — with an
 * altmap there is no fallback to RAM; blocks mapped before the failure stay
 * mapped (the kernel does not unwind them either).
 */
export function vmemmap_populate(
  k: Kernel,
  start: number,
  end: number,
  node: number,
  altmap: VmemAltmap | null,
): number {
  const mm = k.state(MM);
  for (let addr = start; addr < end;) {
    const block = Math.floor(addr / PMD_SIZE);
    const next = Math.min((block + 1) * PMD_SIZE, end);
    if (!mm.vmemmapBlocks.has(block)) {
      let p: number | null;
      if (altmap !== null) {
        p = k.faults.shouldFail("vmemmap_populate")
          ? null
          : altmap_alloc_block_buf(k, PMD_SIZE, altmap);
        if (p === null) return -ENOMEM; // no fallback
      } else {
        p = vmemmap_alloc_block_buf(k, PMD_SIZE, node);
        // the kernel falls back to base pages, which need the same RAM: fails too
        if (p === null) return -ENOMEM;
      }
      mm.vmemmapBlocks.set(block, p);
    }
    addr = next;
  }
  return 0;
}

/**
 * sparse_mem_map_populate(pnum, nid, altmap) (mm/sparse-vmemmap.c): maps the
 * memmap of section `pnum`; returns its first struct page (the section's first
 * pfn) or null.
 */
export function sparse_mem_map_populate(
  k: Kernel,
  pnum: number,
  nid: number,
  altmap: VmemAltmap | null,
): number | null {
  const map = pnum * PAGES_PER_SECTION;
  const start = map * STRUCT_PAGE_SIZE;
  const end = (map + PAGES_PER_SECTION) * STRUCT_PAGE_SIZE;
  if (vmemmap_populate(k, start, end, nid, altmap) !== 0) return null;
  return map;
}

/**
 * vmemmap_free(start, end, altmap) (arch/x86/mm/init_64.c remove_pagetable):
 * unmaps the whole 2 MiB blocks in [start, end). With an altmap every freed
 * block goes back through vmem_altmap_free(altmap, 512) — whatever it was
 * allocated from, as free_hugepage_table does.
 */
export function vmemmap_free(
  k: Kernel,
  start: number,
  end: number,
  altmap: VmemAltmap | null,
): void {
  const mm = k.state(MM);
  for (let addr = start; addr < end; addr += PMD_SIZE) {
    const block = Math.floor(addr / PMD_SIZE);
    if (!mm.vmemmapBlocks.delete(block)) continue;
    if (altmap !== null) vmem_altmap_free(k, altmap, PMD_SIZE / PAGE_SIZE);
  }
}
