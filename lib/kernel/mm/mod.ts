/**
 * The memory model: sparse sections, the memmap, memory hotplug, the
 * vmem_altmap, ZONE_DEVICE memmap init and page references (x86_64, v4.20 /
 * v5.0). See each file for its kernel counterpart.
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
