/**
 * The memory model and the process side of mm (x86_64, v4.20 / v5.0): sparse
 * sections, the memmap, memory hotplug, the vmem_altmap, ZONE_DEVICE memmap
 * init, page references (one get_page / put_page for every page kind), and
 * processes — address spaces, page tables, the page allocator, page
 * contents, the fault path, rmap, THP, shmem, fork, migrate_vma, mmu
 * notifiers and the 2018 HMM mirror API. See each file for its kernel
 * counterpart. (mm_init comes through mmzone.ts; section.ts's exports too.)
 *
 * @module
 */
export * from "./constants.ts";
export * from "./types.ts";
export * from "./page-flags.ts";
export * from "./mmzone.ts";
export * from "./memmap.ts";
export * from "./sparse-vmemmap.ts";
export * from "./sparse.ts";
export * from "./page-alloc.ts";
export * from "./memory-hotplug.ts";
export * from "./init-64.ts";
export * from "./pat.ts";
export * from "./kasan.ts";
export * from "./devmap.ts";
export * from "./swap.ts";
export * from "./holders.ts";
export * from "./section-info.ts";
// the process side
export * from "./hub.ts";
export * from "./page-ext.ts";
export * from "./page-contents.ts";
export * from "./pgtable.ts";
export * from "./mm-types.ts";
export * from "./ram-alloc.ts";
export * from "./rmap.ts";
export * from "./mmu-notifier.ts";
export * from "./memory.ts";
export * from "./mmap.ts";
export * from "./mprotect.ts";
export * from "./mremap.ts";
export * from "./madvise.ts";
export * from "./fork.ts";
export * from "./gup.ts";
export * from "./huge-memory.ts";
export * from "./shmem.ts";
export * from "./migrate.ts";
export * from "./hmm-mirror.ts";
export * from "./process.ts";
