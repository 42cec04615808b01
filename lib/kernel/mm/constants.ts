/**
 * x86_64 memory-model constants (arch/x86/include/asm/sparsemem.h,
 * page_64_types.h, pgtable_64_types.h; include/linux/mmzone.h, mm_types.h;
 * v4.20). Values that depend on the paging mode (MAX_PHYSMEM_BITS,
 * NR_MEM_SECTIONS, VMEMMAP_START, PAGE_OFFSET) are per kernel: see
 * {@link MmConfig} in mmzone.ts.
 *
 * @module
 */

/** PAGE_SHIFT: 4 KiB pages. */
export const PAGE_SHIFT = 12;
/** PAGE_SIZE. */
export const PAGE_SIZE = 4096;
/** SECTION_SIZE_BITS (= PA_SECTION_SHIFT): 128 MiB sections. */
export const SECTION_SIZE_BITS = 27;
/** Bytes per memory section (memremap.c's private SECTION_SIZE). */
export const SECTION_SIZE = 2 ** SECTION_SIZE_BITS;
/** PFN_SECTION_SHIFT = SECTION_SIZE_BITS - PAGE_SHIFT. */
export const PFN_SECTION_SHIFT = SECTION_SIZE_BITS - PAGE_SHIFT;
/** PAGES_PER_SECTION = 32768. */
export const PAGES_PER_SECTION = 2 ** PFN_SECTION_SHIFT;
/** pageblock_order (HUGETLB_PAGE_ORDER on x86_64): 2 MiB pageblocks. */
export const pageblock_order = 9;
/** pageblock_nr_pages. */
export const pageblock_nr_pages = 2 ** pageblock_order;
/** sizeof(struct page) on x86_64 (v4.20, no WANT_PAGE_VIRTUAL). */
export const STRUCT_PAGE_SIZE = 64;
/** PMD_SIZE: one vmemmap block, the memmap of exactly one section (32768 × 64 B). */
export const PMD_SIZE = 2 * 1024 * 1024;
/** MAX_PHYSMEM_BITS with 4-level paging. */
export const MAX_PHYSMEM_BITS_L4 = 46;
/** MAX_PHYSMEM_BITS with 5-level paging (CONFIG_X86_5LEVEL, LA57). */
export const MAX_PHYSMEM_BITS_L5 = 52;
/**
 * SECTIONS_PER_ROOT under SPARSEMEM_EXTREME: PAGE_SIZE / sizeof(struct
 * mem_section) = 4096 / 16. The model's section table uses the same split.
 */
export const SECTIONS_PER_ROOT = 256;
/** __VMEMMAP_BASE_L4 (pgtable_64_types.h, v4.20; no KASLR). */
export const VMEMMAP_BASE_L4 = 0xffffea0000000000n;
/** __VMEMMAP_BASE_L5. */
export const VMEMMAP_BASE_L5 = 0xffd4000000000000n;
/** __PAGE_OFFSET_BASE_L4 (page_64_types.h, v4.20; no KASLR). */
export const PAGE_OFFSET_BASE_L4 = 0xffff888000000000n;
/** __PAGE_OFFSET_BASE_L5. */
export const PAGE_OFFSET_BASE_L5 = 0xff11000000000000n;

/** Offsets in struct page (v4.20 x86_64) of the fields the model reads: the first access faults. */
export const PAGE_FIELD = {
  /** page->flags. */
  flags: 0x0,
  /** page->compound_head / page->pgmap / page->lru.next (one union slot). */
  compound_head: 0x8,
  /** page->pgmap (same slot as compound_head for ZONE_DEVICE pages). */
  pgmap: 0x8,
  /** page->_mapcount. */
  _mapcount: 0x30,
  /** page->_refcount. */
  _refcount: 0x34,
} as const;

/**
 * offsetof(struct dev_pagemap, type) on x86_64: 0x98 in v4.20 (page_fault,
 * page_free, altmap, altmap_valid, res, ref, dev, data, type) and in v5.0
 * (page_fault gone, kill added): the NULL-pgmap dereference address.
 */
export const DEV_PAGEMAP_TYPE_OFFSET = 0x98;

/** enum zone_type on x86_64 with ZONE_DMA, ZONE_DMA32 and ZONE_DEVICE (no HIGHMEM). */
export const ZONE_DMA = 0;
/** ZONE_DMA32: below 4 GiB. */
export const ZONE_DMA32 = 1;
/** ZONE_NORMAL. */
export const ZONE_NORMAL = 2;
/** ZONE_MOVABLE. */
export const ZONE_MOVABLE = 3;
/** ZONE_DEVICE. */
export const ZONE_DEVICE = 4;
/** __MAX_NR_ZONES. */
export const MAX_NR_ZONES = 5;
/** Zone names as /proc/zoneinfo prints them. */
export const ZONE_NAMES: readonly string[] = ["DMA", "DMA32", "Normal", "Movable", "Device"];
