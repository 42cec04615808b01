/**
 * Which ZONE_DEVICE symbols vmlinux exports, and how, at each point of the
 * series — as a table keyed by symbol. {@link export_kernel_symbols} walks
 * it once per kernel and calls EXPORT_SYMBOL / EXPORT_SYMBOL_GPL
 * (lib/kernel/module.ts), so the module loader sees the tree the series
 * describes: a non-GPL module importing a GPL-only symbol fails to load with
 * "Unknown symbol".
 *
 * Verified in the sources: v4.20 (kernel/memremap.c, mm/hmm.c, mm/swap.c,
 * mm/migrate.c), v5.0 (the same files), v5.2 (kernel/memremap.c).
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "./kernel.ts";
import { EXPORT_SYMBOL, EXPORT_SYMBOL_GPL } from "./module.ts";
import type { Series } from "../series.ts";

/** How a symbol is exported: EXPORT_SYMBOL_GPL, EXPORT_SYMBOL, or not at all (null). */
export type ExportKind = "GPL" | "non-GPL" | null;

/** One row of the table. */
export interface ExportRow {
  /** The kernel file holding the EXPORT_SYMBOL line. */
  readonly file: string;
  /** How the symbol is exported in the tree `s` describes. */
  readonly kind: (s: Series) => ExportKind;
}

/**
 * The exported symbols, by name. Each row's `kind` is one guard naming the
 * patch or follow-up that changed the export.
 *
 * The fault-path issue adds the mirror and migrate_vma rows here. Verified
 * for them: hmm_mirror_register, hmm_mirror_unregister, hmm_vma_get_pfns,
 * hmm_vma_range_done, hmm_vma_fault, hmm_vma_alloc_locked_page (mm/hmm.c) and
 * migrate_vma (mm/migrate.c) are EXPORT_SYMBOL in both v4.20 and v5.0.
 */
export const EXPORTS: Readonly<Record<string, ExportRow>> = {
  // kernel/memremap.c
  devm_memremap_pages: {
    file: "kernel/memremap.c",
    // patch 1/7: devm_memremap_pages becomes EXPORT_SYMBOL_GPL
    kind: (s) => s.applied(1) ? "GPL" : "non-GPL",
  },
  devm_memunmap_pages: {
    file: "kernel/memremap.c",
    // devm_memunmap_pages: new in the 2019 fix series, EXPORT_SYMBOL_GPL
    kind: (s) => s.fixed("devm_memunmap_pages") ? "GPL" : null,
  },
  get_dev_pagemap: {
    file: "kernel/memremap.c",
    kind: () => "GPL", // EXPORT_SYMBOL_GPL already in v4.20
  },
  device_private_entry_fault: {
    file: "kernel/memremap.c",
    // EXPORT_SYMBOL in v4.20 and v5.0 (the v5.2 tree no longer exports it;
    // that change is not one of the preset's modelled fixes)
    kind: () => "non-GPL",
  },
  devmap_managed_key: {
    file: "kernel/memremap.c",
    kind: () => "non-GPL", // put_page() is inline: every module that puts pages needs it
  },
  __put_devmap_managed_page: {
    file: "kernel/memremap.c",
    kind: () => "non-GPL",
  },
  dev_pagemap_get_ops: {
    file: "kernel/memremap.c",
    kind: () => "GPL",
  },
  dev_pagemap_put_ops: {
    file: "kernel/memremap.c",
    kind: () => "GPL",
  },
  // mm/swap.c: put_page()'s slow path
  __put_page: {
    file: "mm/swap.c",
    kind: () => "non-GPL",
  },
  // drivers/base/devres.c
  devm_release_action: {
    file: "drivers/base/devres.c",
    // devm_release_action: new in the 2019 fix series, EXPORT_SYMBOL_GPL
    kind: (s) => s.fixed("devm_release_action") ? "GPL" : null,
  },
  // mm/hmm.c, device memory
  hmm_devmem_add: {
    file: "mm/hmm.c",
    // patch 7/7: hmm_devmem_add becomes EXPORT_SYMBOL_GPL
    kind: (s) => s.applied(7) ? "GPL" : "non-GPL",
  },
  hmm_devmem_add_resource: {
    file: "mm/hmm.c",
    // patch 7/7: hmm_devmem_add_resource becomes EXPORT_SYMBOL_GPL
    kind: (s) => s.applied(7) ? "GPL" : "non-GPL",
  },
  hmm_devmem_remove: {
    file: "mm/hmm.c",
    // patch 5/7: hmm_devmem_remove is deleted (devm semantics)
    kind: (s) => s.applied(5) ? null : "non-GPL",
  },
  // mm/hmm.c and mm/migrate.c, mirror and migration: the fault-path issue's rows go here
  // (EXPORT_SYMBOL in v4.20 and v5.0 alike: the series did not touch them)
  hmm_mirror_register: { file: "mm/hmm.c", kind: () => "non-GPL" },
  hmm_mirror_unregister: { file: "mm/hmm.c", kind: () => "non-GPL" },
  hmm_vma_get_pfns: { file: "mm/hmm.c", kind: () => "non-GPL" },
  hmm_vma_range_done: { file: "mm/hmm.c", kind: () => "non-GPL" },
  hmm_vma_fault: { file: "mm/hmm.c", kind: () => "non-GPL" },
  hmm_vma_alloc_locked_page: { file: "mm/hmm.c", kind: () => "non-GPL" },
  migrate_vma: { file: "mm/migrate.c", kind: () => "non-GPL" },
  // mm/gup.c: get_user_pages_longterm is EXPORT_SYMBOL (under CONFIG_FS_DAX) in v4.20; the series
  // does not touch it (its later fold into FOLL_LONGTERM is not one of the preset's modelled fixes)
  get_user_pages_longterm: { file: "mm/gup.c", kind: () => "non-GPL" },
  // drivers/pci/p2pdma.c (new in v4.20): every export is EXPORT_SYMBOL_GPL, unchanged through
  // v5.2 (verified in v4.20, v5.0 and v5.2)
  pci_p2pdma_add_resource: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_p2pdma_distance_many: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_has_p2pmem: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_p2pmem_find_many: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_alloc_p2pmem: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_free_p2pmem: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_p2pmem_virt_to_bus: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_p2pmem_alloc_sgl: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_p2pmem_free_sgl: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_p2pmem_publish: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_p2pdma_map_sg: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_p2pdma_enable_store: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  pci_p2pdma_enable_show: { file: "drivers/pci/p2pdma.c", kind: () => "GPL" },
  // lib/genalloc.c: EXPORT_SYMBOL, except gen_pool_avail / gen_pool_size (EXPORT_SYMBOL_GPL)
  gen_pool_create: { file: "lib/genalloc.c", kind: () => "non-GPL" },
  gen_pool_virt_to_phys: { file: "lib/genalloc.c", kind: () => "non-GPL" },
  gen_pool_destroy: { file: "lib/genalloc.c", kind: () => "non-GPL" },
  gen_pool_avail: { file: "lib/genalloc.c", kind: () => "GPL" },
  gen_pool_size: { file: "lib/genalloc.c", kind: () => "GPL" },
  gen_pool_add_virt: {
    file: "lib/genalloc.c",
    // genalloc-chunk-owners: gen_pool_add_virt becomes an inline wrapper of gen_pool_add_owner
    kind: (s) => s.fixed("genalloc-chunk-owners") ? null : "non-GPL",
  },
  gen_pool_add_owner: {
    file: "lib/genalloc.c",
    // genalloc-chunk-owners: new, EXPORT_SYMBOL
    kind: (s) => s.fixed("genalloc-chunk-owners") ? "non-GPL" : null,
  },
  gen_pool_alloc: {
    file: "lib/genalloc.c",
    // genalloc-chunk-owners: gen_pool_alloc becomes inline (gen_pool_alloc_algo_owner is exported)
    kind: (s) => s.fixed("genalloc-chunk-owners") ? null : "non-GPL",
  },
  gen_pool_alloc_algo_owner: {
    file: "lib/genalloc.c",
    // genalloc-chunk-owners: new, EXPORT_SYMBOL
    kind: (s) => s.fixed("genalloc-chunk-owners") ? "non-GPL" : null,
  },
  gen_pool_free: {
    file: "lib/genalloc.c",
    // genalloc-chunk-owners: gen_pool_free becomes inline (gen_pool_free_owner is exported)
    kind: (s) => s.fixed("genalloc-chunk-owners") ? null : "non-GPL",
  },
  gen_pool_free_owner: {
    file: "lib/genalloc.c",
    // genalloc-chunk-owners: new, EXPORT_SYMBOL
    kind: (s) => s.fixed("genalloc-chunk-owners") ? "non-GPL" : null,
  },
};

const EXPORTED: SubsystemKey<{ done: boolean }> = {
  name: "exports",
  create: () => ({ done: false }),
};

/** How `name` is exported at this kernel's series level (null: not exported, or not in the table). */
export function exportKind(k: Kernel, name: string): ExportKind {
  const row = EXPORTS[name];
  return row === undefined ? null : row.kind(k.series);
}

/**
 * Exports every symbol of {@link EXPORTS} the kernel's series has, with
 * EXPORT_SYMBOL or EXPORT_SYMBOL_GPL. Idempotent; call once at kernel
 * creation, before any module loads.
 *
 * @example Patch 1/7 in the module loader
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { export_kernel_symbols } from "./exports.ts";
 * import { load_module } from "./module.ts";
 * import { assertEquals } from "@std/assert";
 * const blob = { name: "blob", license: "Proprietary", imports: ["devm_memremap_pages"] };
 * const k0 = new Kernel({ series: 0 });
 * export_kernel_symbols(k0);
 * assertEquals(load_module(k0, blob), 0);
 * const k1 = new Kernel({ series: 1 });
 * export_kernel_symbols(k1);
 * assertEquals(load_module(k1, blob), -2);
 * ```
 */
export function export_kernel_symbols(k: Kernel): void {
  const st = k.state(EXPORTED);
  if (st.done) return;
  st.done = true;
  for (const [name, row] of Object.entries(EXPORTS)) {
    const kind = row.kind(k.series);
    if (kind === "GPL") EXPORT_SYMBOL_GPL(k, name);
    else if (kind === "non-GPL") EXPORT_SYMBOL(k, name);
  }
}
