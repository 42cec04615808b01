/**
 * The devmap-managed page hooks: devmap_managed_key and its users
 * (kernel/memremap.c CONFIG_DEV_PAGEMAP_OPS part, include/linux/mm.h and
 * memremap.h inlines, v4.20 = v5.0 here).
 *
 * devmap_managed_key is a static key counted by dev_pagemap_get_ops /
 * dev_pagemap_put_ops. In v4.20 its callers are pmem (fsdax: pmem_attach_disk
 * takes it, its release drops it) and HMM (hmm_devmem_add and
 * hmm_devmem_add_resource) — not "any device-private pgmap": a kernel with
 * only device-dax or p2pdma leaves it off. While it is on, put_page routes
 * PRIVATE, PUBLIC and FS_DAX pages through __put_devmap_managed_page.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { percpu_ref_put, percpu_ref_put_many, type PercpuRef } from "../percpu-refcount.ts";
import { DEV_PAGEMAP_TYPE_OFFSET } from "./constants.ts";
import { is_zone_device_page, nullDeref, page_pgmap } from "./memmap.ts";
import { MM } from "./mmzone.ts";
import {
  type DevPagemap,
  MEMORY_DEVICE_PCI_P2PDMA,
  MEMORY_DEVICE_PRIVATE,
  MEMORY_DEVICE_PUBLIC,
  type Page,
} from "./types.ts";

/** offsetof(struct percpu_ref, percpu_count_ptr): what percpu_ref_put(NULL) faults on. */
const PERCPU_COUNT_PTR_OFFSET = 0x8;

/**
 * dev_pagemap_get_ops() (kernel/memremap.c): the first user turns
 * devmap_managed_key on. EXPORT_SYMBOL_GPL.
 */
export function dev_pagemap_get_ops(k: Kernel): void {
  const mm = k.state(MM);
  if (++mm.devmapEnable === 1) mm.devmapManagedKey = true;
}

/** dev_pagemap_put_ops(): the last user turns the key off. EXPORT_SYMBOL_GPL. */
export function dev_pagemap_put_ops(k: Kernel): void {
  const mm = k.state(MM);
  if (--mm.devmapEnable === 0) mm.devmapManagedKey = false;
}

/** static_branch_unlikely(&devmap_managed_key). */
export function devmap_managed_key_enabled(k: Kernel): boolean {
  return k.state(MM).devmapManagedKey;
}

/** page->pgmap->type, Oopsing on a NULL page->pgmap as the kernel would. */
export function pageMemoryType(k: Kernel, page: Page): number {
  const pgmap = page_pgmap(k, page);
  if (pgmap === null) nullDeref(k, DEV_PAGEMAP_TYPE_OFFSET, 1);
  return pgmap.type;
}

/** is_device_private_page(page). */
export function is_device_private_page(k: Kernel, page: Page): boolean {
  return is_zone_device_page(k, page) && pageMemoryType(k, page) === MEMORY_DEVICE_PRIVATE;
}

/** is_device_public_page(page). */
export function is_device_public_page(k: Kernel, page: Page): boolean {
  return is_zone_device_page(k, page) && pageMemoryType(k, page) === MEMORY_DEVICE_PUBLIC;
}

/** is_pci_p2pdma_page(page) (CONFIG_PCI_P2PDMA). */
export function is_pci_p2pdma_page(k: Kernel, page: Page): boolean {
  return is_zone_device_page(k, page) && pageMemoryType(k, page) === MEMORY_DEVICE_PCI_P2PDMA;
}

/**
 * put_dev_pagemap(pgmap) (include/linux/memremap.h): percpu_ref_put of
 * pgmap->ref; a NULL pgmap is a no-op. A pgmap whose ref is NULL Oopses
 * inside percpu_ref_put.
 */
export function put_dev_pagemap(k: Kernel, pgmap: DevPagemap | null): void {
  if (pgmap === null) return;
  const ref = pgmap.ref;
  if (ref === null) nullDeref(k, PERCPU_COUNT_PTR_OFFSET); // inside percpu_ref_put
  percpu_ref_put(k, ref);
}

/** @internal `n` puts of pgmap->ref as one batch, exact about the put that reaches zero. */
export function putDevPagemapMany(k: Kernel, pgmap: DevPagemap, n: number): void {
  const ref = pgmap.ref;
  if (ref === null) nullDeref(k, PERCPU_COUNT_PTR_OFFSET);
  if (n <= 0) return;
  const atomicMode = ref.atomic || ref.dead;
  if (atomicMode && !ref.bias && ref.count > 0 && ref.count < n) {
    // n single puts would hit exactly zero after ref.count of them: release there
    const first = ref.count;
    percpu_ref_put_many_exact(k, ref, first);
    percpu_ref_put_many_exact(k, ref, n - first);
  } else {
    percpu_ref_put_many_exact(k, ref, n);
  }
}

function percpu_ref_put_many_exact(k: Kernel, ref: PercpuRef, n: number): void {
  if (n === 1) percpu_ref_put(k, ref);
  else percpu_ref_put_many(k, ref, n);
}
