/**
 * The shapes of include/linux/memremap.h (v4.20, with the v5.0 and v5.2
 * additions): struct vmem_altmap, enum memory_type, struct dev_pagemap — and
 * the model's struct page pointer.
 *
 * @module
 */
import type { KGen } from "../../sim/task.ts";
import type { Device } from "../device.ts";
import type { Kernel } from "../kernel.ts";
import type { PercpuRef } from "../percpu-refcount.ts";

/**
 * A `struct page *`. The model's struct page pointer is the page's pfn: the
 * memmap is virtually contiguous (SPARSEMEM_VMEMMAP), so `pfn_to_page` and
 * `page_to_pfn` are pure arithmetic in the kernel as here, and the vmemmap
 * address the kernel would dereference is `VMEMMAP_START + pfn * 64`. A page
 * value stays valid as a number after its section is removed — touching the
 * struct page through it is what Oopses, as in the kernel.
 */
export type Page = number;

/**
 * enum memory_type (include/linux/memremap.h, v4.20 and v5.0). Type 0 is what
 * device-dax (dax_pmem) leaves in the zeroed pgmap: no type.
 * There is no MEMORY_DEVICE_COHERENT in these kernels.
 */
export const MEMORY_DEVICE_PRIVATE = 1;
/** Device memory the CPU can access coherently (HMM public). */
export const MEMORY_DEVICE_PUBLIC = 2;
/** Persistent memory used by the filesystem DAX path (pmem). */
export const MEMORY_DEVICE_FS_DAX = 3;
/** PCI peer-to-peer memory (p2pdma, new in v4.20). */
export const MEMORY_DEVICE_PCI_P2PDMA = 4;
/** enum memory_type as a number (0 = none, device-dax). */
export type MemoryType = 0 | 1 | 2 | 3 | 4;

/** "MEMORY_DEVICE_FS_DAX" for 3, ... */
export function memoryTypeName(t: number): string {
  return ["0", "MEMORY_DEVICE_PRIVATE", "MEMORY_DEVICE_PUBLIC", "MEMORY_DEVICE_FS_DAX"][t] ??
    (t === 4 ? "MEMORY_DEVICE_PCI_P2PDMA" : String(t));
}

/**
 * struct vmem_altmap (include/linux/memremap.h): struct pages carved out of
 * the device itself. `base_pfn` and `reserve` are const in the kernel.
 *
 * - `base_pfn`: first pfn of the mapped range (must equal the first pfn added).
 * - `reserve`: pages at the start not available for memmap (info block, padding).
 * - `free`: pages available for memmap after the reserve.
 * - `align`: pages lost to alignment padding (never given back).
 * - `alloc`: pages currently handed out as memmap.
 */
export class VmemAltmap {
  /** Pages lost to aligning vmemmap blocks; vmem_altmap_free never gives them back. */
  align = 0;
  /** Pages currently allocated as memmap. */
  alloc = 0;
  /**
   * Creates an altmap (align and alloc start at 0).
   * @param base_pfn first pfn of the range the altmap backs.
   * @param reserve pages at base_pfn not usable for memmap.
   * @param free pages usable for memmap after the reserve.
   */
  constructor(readonly base_pfn: number, readonly reserve: number, public free: number) {
    for (const [n, v] of [["base_pfn", base_pfn], ["reserve", reserve], ["free", free]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new RangeError(`Cannot create vmem_altmap: ${n} must be a non-negative integer`);
      }
    }
  }
}

/**
 * dev_page_fault_t (v4.20; removed from dev_pagemap by the Dec 2018
 * hmm-page-fault-move change, v5.0). The vma/pmd arguments are whatever the
 * fault-path model passes. Returns a VM_FAULT_* code.
 */
export type DevPageFault = (
  k: Kernel,
  vma: unknown,
  addr: number,
  page: Page,
  flags: number,
  pmdp: unknown,
) => number;

/** dev_page_free_t: called when a managed device page's refcount drops to 1. Must not sleep. */
export type DevPageFree = (k: Kernel, page: Page, data: unknown) => void;

/** pgmap->kill (v5.0, patch 3) and pgmap->cleanup (v5.2, 50f44ee7248a). May sleep (a generator). */
export type DevPagemapRefOp = (k: Kernel, ref: PercpuRef) => KGen<void> | void;

/** The part of a struct resource a pgmap needs: physical bytes [start, end], end inclusive. */
export interface PgmapResource {
  /** First byte. */
  start: number;
  /** Last byte (inclusive, as struct resource). */
  end: number;
}

/**
 * struct dev_pagemap (include/linux/memremap.h). Fields by release:
 *
 * - v4.20: page_fault, page_free, altmap, altmap_valid, res, ref, dev, data,
 *   type, pci_p2pdma_bus_offset.
 * - v5.0: + kill (patch 3: "Fix shutdown handling"); page_fault moves into
 *   struct hmm_devmem (hmm-page-fault-move) — callers at that level leave it null.
 * - v5.2: + cleanup (50f44ee7248a, "fix final page put race").
 *
 * Plus `id`, a simulator-only handle for traces and hang reports (0 until
 * the creator or the memmap assigns one with `k.newId()`).
 */
export class DevPagemap {
  // ref first: the lookup reads it right after the object's map word (one host cache line)
  /** The percpu_ref each data page holds one count of. */
  ref: PercpuRef | null = null;
  /** Simulator id (0 = not yet assigned). */
  id = 0;
  /** page_fault (v4.20 only; null after hmm-page-fault-move). */
  page_fault: DevPageFault | null = null;
  /** page_free: called by put_page for managed types when the refcount drops to 1. */
  page_free: DevPageFree | null = null;
  /** The embedded altmap (meaningful only when altmap_valid). */
  altmap: VmemAltmap = new VmemAltmap(0, 0, 0);
  /** Whether `altmap` is in use. */
  altmap_valid = false;
  /** The physical range (end inclusive). */
  res: PgmapResource = { start: 0, end: -1 };
  /** kill (v5.0, patch 3). */
  kill: DevPagemapRefOp | null = null;
  /** cleanup (v5.2, 50f44ee7248a). */
  cleanup: DevPagemapRefOp | null = null;
  /** The owning device (set by devm_memremap_pages). */
  dev: Device | null = null;
  /** Driver data passed to page_free. */
  data: unknown = null;
  /** enum memory_type. */
  type: MemoryType = 0;
  /** pci_p2pdma_bus_offset. */
  pci_p2pdma_bus_offset = 0;
}
