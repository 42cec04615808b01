/**
 * drivers/nvdimm/pmem.c: the pmem block driver (nd_pmem) for a raw
 * namespace or a pfn (fsdax) device, at every level of the series.
 *
 * pmem_attach_disk, in order: devm_kzalloc; for a pfn device
 * nvdimm_setup_pfn (pgmap->res and the altmap of map=dev); the namespace
 * region claimed with devm_request_mem_region (NULL → dev_warn "could not
 * reserve region %pR", -EBUSY); a request queue whose **q_usage_counter is
 * the pgmap ref**; then the mapping:
 * - pfn device: setup_pagemap_fsdax (dev_pagemap_get_ops and a devm action
 *   that puts it back; MEMORY_DEVICE_FS_DAX; page_free = fsdax_pagefree)
 *   and devm_memremap_pages — struct pages in RAM for map=mem, carved from
 *   the device for map=dev; data_offset = the info block's dataoff;
 * - a raw namespace of a region with ND_REGION_PAGEMAP (legacy e820
 *   memmap=): the same over the whole namespace;
 * - any other raw namespace: devm_memremap, no struct pages.
 * Then the disk, its badblocks, the dax_device (direct_access), and
 * device_add_disk (which switches q_usage_counter to percpu mode).
 *
 * Teardown by level (SCENARIOS.md, Conventions, pmem's in-tree form):
 * - levels 0..2: pmem_release_queue (blk_cleanup_queue: freeze and wait for
 *   q_usage_counter to reach zero, percpu_ref_exit) is registered before
 *   devm_memremap_pages and pmem_freeze_queue (blk_freeze_queue_start: the
 *   kill) after it — and before the IS_ERR(addr) check. Unbind (LIFO):
 *   pmem_release_disk → pmem_freeze_queue → memremap release → the pgmap
 *   ops put → pmem_release_queue (the wait) → the region.
 * - levels 3..7, v5.0 (patch 3/7): pgmap->kill = pmem_freeze_queue, no
 *   freeze action: the release kills first.
 * - v5.2 (50f44ee7248a): pgmap->cleanup = __pmem_release_queue; the devm
 *   pmem_release_queue action is registered only on the devm_memremap path,
 *   just before devm_memremap (the order 32b2397c1e56 later swapped).
 *
 * blk_cleanup_queue freezes the queue itself, so pmem never hangs for a
 * missing kill (kernel-reference §11 S7); it hangs when page references are
 * never dropped (S6) or a page is pinned at teardown (S8).
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import { dev_warn, type Device, Driver } from "../../kernel/device.ts";
import { devm_add_action_or_reset, devm_kzalloc } from "../../kernel/devres.ts";
import { EBUSY, EIO, ENOMEM, IS_ERR, PTR_ERR } from "../../kernel/errno.ts";
import { dev_pagemap_get_ops, dev_pagemap_put_ops } from "../../kernel/mm/devmap.ts";
import { DevPagemap, MEMORY_DEVICE_FS_DAX, type Page } from "../../kernel/mm/types.ts";
import type { PercpuRef } from "../../kernel/percpu-refcount.ts";
import { IORESOURCE_MEM, Resource } from "../../kernel/resource.ts";
import type { KGen } from "../../sim/task.ts";
import type { Namespace, PmemDisk } from "../../hw/nvdimm/namespace.ts";
import type { MemremapResult } from "../../kernel/memremap.ts";
import {
  blk_alloc_queue_node,
  blk_cleanup_queue,
  blk_freeze_queue_start,
  blk_register_queue,
  QueueUsageCounter,
  type RequestQueue,
} from "../block/blk-queue.ts";
import {
  alloc_dax,
  type DaxDevice,
  type DaxOperations,
  kill_dax,
  PFN_DEV,
  PFN_MAP,
  type PfnT,
  put_dax,
} from "../dax/super.ts";
import { ND_LINK, type NdLink } from "./link.ts";
import { ARCH_MEMREMAP_PMEM } from "./memremap-io.ts";
import { nd_claim_of, nvdimm_setup_pfn, to_ndns } from "./nd.ts";

/** struct pmem_device. */
export class PmemDevice {
  /** pmem->phys_addr: the namespace start. */
  phys_addr = 0;
  /** pmem->size: the namespace size. */
  size = 0;
  /** pmem->data_offset: the info block's dataoff (0 raw). */
  data_offset = 0;
  /** pmem->pfn_pad: namespace size minus the pgmap range (start_pad + end_trunc). */
  pfn_pad = 0;
  /** PFN_DEV, | PFN_MAP with struct pages. */
  pfn_flags = 0;
  /** pmem->virt_addr (a bigint address). */
  virt_addr: bigint = 0n;
  /** The embedded pgmap. */
  readonly pgmap: DevPagemap = new DevPagemap();
  /** The request queue. */
  queue: RequestQueue | null = null;
  /** The dax_device (direct_access). */
  dax_dev: DaxDevice | null = null;
  /** The gendisk (the namespace's block device of lib/hw). */
  disk: PmemDisk | null = null;
  /** How the driver is linked (real symbols or nfit_test's wrappers), held for the direct_access path. */
  link: NdLink | null = null;
  /**
   * Creates the driver data (devm_kzalloc'ed by pmem_attach_disk).
   * @param dev the namespace or pfn device.
   * @param ns its namespace.
   */
  constructor(readonly dev: Device, readonly ns: Namespace) {}
}

/** Per-kernel record of fsdax_pagefree's wake-ups (wake_up_var(&page->_refcount)), in order. */
export const FSDAX_PAGEFREE: SubsystemKey<Page[]> = { name: "fsdax-pagefree", create: () => [] };

/** The request queue behind pmem's pgmap ref (container_of), or the queue itself. */
function queueOf(data: RequestQueue | PercpuRef): RequestQueue {
  return data instanceof QueueUsageCounter ? data.q : data as RequestQueue;
}

/**
 * pmem_release_queue(q) — the devm action: blk_cleanup_queue. From
 * 50f44ee7248a its argument is the ref (container_of to the queue), as
 * __pmem_release_queue's. Sleeps.
 */
export function* pmem_release_queue(k: Kernel, q: RequestQueue | PercpuRef): KGen<void> {
  yield* blk_cleanup_queue(k, queueOf(q));
}

/** __pmem_release_queue(ref) (50f44ee7248a): pgmap->cleanup = blk_cleanup_queue of the ref's queue. Sleeps. */
export function* __pmem_release_queue(k: Kernel, ref: PercpuRef): KGen<void> {
  yield* blk_cleanup_queue(k, queueOf(ref));
}

/**
 * pmem_freeze_queue: blk_freeze_queue_start — the kill of q_usage_counter.
 * A devm action taking the queue at levels 0..2; from patch 3/7
 * pgmap->kill, taking the ref (container_of to the queue).
 */
export function pmem_freeze_queue(k: Kernel, q: RequestQueue | PercpuRef): void {
  blk_freeze_queue_start(k, queueOf(q));
}

/** pmem_release_disk: kill_dax, put_dax, del_gendisk, put_disk (devm action). Sleeps (kill_dax). */
export function* pmem_release_disk(k: Kernel, pmem: PmemDevice): KGen<void> {
  yield* kill_dax(k, pmem.dax_dev);
  put_dax(k, pmem.dax_dev);
  pmem.disk = null; // del_gendisk + put_disk: the block device goes away
}

/** pmem_release_pgmap_ops: dev_pagemap_put_ops (devm action of setup_pagemap_fsdax). */
export function pmem_release_pgmap_ops(k: Kernel, _pgmap: DevPagemap): void {
  dev_pagemap_put_ops(k);
}

/** fsdax_pagefree(page, data): wake_up_var(&page->_refcount) — recorded in {@link FSDAX_PAGEFREE}. */
export function fsdax_pagefree(k: Kernel, page: Page, _data: unknown): void {
  k.state(FSDAX_PAGEFREE).push(page);
}

/**
 * setup_pagemap_fsdax(dev, pgmap): dev_pagemap_get_ops (the devmap_managed
 * key), a devm action that puts it back (-ENOMEM if that cannot be
 * registered: it runs at once), type MEMORY_DEVICE_FS_DAX, page_free =
 * fsdax_pagefree. Sleeps only on that failure.
 */
export function* setup_pagemap_fsdax(k: Kernel, dev: Device, pgmap: DevPagemap): KGen<number> {
  dev_pagemap_get_ops(k);
  if ((yield* devm_add_action_or_reset(k, dev, pmem_release_pgmap_ops, pgmap)) !== 0) {
    return -ENOMEM;
  }
  pgmap.type = MEMORY_DEVICE_FS_DAX;
  pgmap.page_free = fsdax_pagefree;
  return 0;
}

/**
 * pmem_should_map_pages(dev) (drivers/nvdimm/namespace_devs.c): struct
 * pages for a raw namespace only on a region with ND_REGION_PAGEMAP — the
 * legacy e820 (memmap=) pmem ranges, provider "e820" here — and not for a
 * pfn device (is_nd_pfn) or with force_raw.
 */
export function pmem_should_map_pages(k: Kernel, dev: Device): boolean {
  const ns = to_ndns(k, dev);
  if (ns.bus.provider !== "e820") return false;
  if (nd_claim_of(k, dev)?.kind === "pfn" || ns.forceRaw) return false;
  return true;
}

/**
 * __pmem_direct_access(pmem, pgoff, nr_pages, kaddr, pfn): -EIO when a
 * known bad block lies in the pages asked for; otherwise the pfn of
 * phys_addr + data_offset + pgoff pages (pmem->pfn_flags) and the pages
 * available from there (nr_pages when the disk has any badblocks).
 * nfit_test's override (tools/testing/nvdimm/pmem-dax.c) limits its fake
 * ranges to one page per call. The out-parameter `kaddr` is left out, as
 * in dax_direct_access.
 */
export function __pmem_direct_access(
  k: Kernel,
  pmem: PmemDevice,
  pgoff: number,
  nr_pages: number,
  pfn: PfnT,
): number {
  const offset = pgoff * 4096 + pmem.data_offset;
  const disk = pmem.disk;
  const bb = disk !== null ? disk.bb : null;
  // is_bad_pmem: badblocks_check only when the list is not empty
  if (bb !== null && bb.count !== 0 && bb.isBad(pgoff * 8, nr_pages * 4096)) return -EIO;
  const link = pmem.link!;
  link.phys_to_pfn_t(k, pmem.phys_addr + offset, pmem.pfn_flags, pfn);
  if (link.nfitTest && (pfn.flags & PFN_MAP) === 0) return 1;
  if (bb !== null && bb.count !== 0) return nr_pages;
  return Math.floor((pmem.size - pmem.pfn_pad - offset) / 4096);
}

/** pmem_dax_ops: ->direct_access = pmem_dax_direct_access. */
export const pmem_dax_ops: DaxOperations = {
  direct_access(k, dax_dev, pgoff, nr_pages, pfn) {
    return __pmem_direct_access(k, dax_dev.private as PmemDevice, pgoff, nr_pages, pfn);
  },
};

/**
 * pmem_attach_disk(dev, ndns) (static): see the module doc. Returns 0 or
 * -errno; on failure the probe's devres unwinds what was registered.
 * Sleeps: call with `yield*`.
 */
export function* pmem_attach_disk(k: Kernel, dev: Device, ns: Namespace): KGen<number> {
  const link = k.state(ND_LINK);
  const claim = nd_claim_of(k, dev);
  const is_nd_pfn = claim !== null && claim.kind === "pfn";
  const pmem = devm_kzalloc(k, dev, () => new PmemDevice(dev, ns));
  if (pmem === null) return -ENOMEM;
  pmem.link = link;
  const probes = k.state(PMEM_PROBES);
  if (!probes.has(dev)) probes.set(dev, []);
  probes.get(dev)!.push(pmem);
  const pgmap = pmem.pgmap;
  // while nsio_rw_bytes is active, parse a pfn info block if present
  if (is_nd_pfn) {
    const rc = nvdimm_setup_pfn(k, claim, pgmap);
    if (rc) return rc;
  }
  dev.driver_data = pmem;
  pmem.phys_addr = ns.start;
  pmem.size = ns.size;
  if (link.devm_request_mem_region(k, dev, ns.start, ns.size, ns.name) === null) {
    const r = new Resource({ name: null, start: ns.start, end: ns.end, flags: IORESOURCE_MEM });
    dev_warn(k, dev, `could not reserve region ${r}`);
    return -EBUSY;
  }
  const q = blk_alloc_queue_node(k, 0, -1, null, ns.disk?.name ?? dev.name);
  if (q === null) return -ENOMEM;
  pmem.queue = q;
  // 50f44ee7248a: the queue's blk_cleanup_queue moves into pgmap->cleanup
  if (!k.fixed("50f44ee7248a")) {
    if ((yield* devm_add_action_or_reset(k, dev, pmem_release_queue, q)) !== 0) return -ENOMEM;
  }
  pmem.pfn_flags = PFN_DEV;
  pgmap.ref = q.q_usage_counter;
  // patch 3/7: the queue freeze is the pgmap's kill
  if (k.applied(3)) pgmap.kill = pmem_freeze_queue;
  // 50f44ee7248a: ... and blk_cleanup_queue its cleanup
  if (k.fixed("50f44ee7248a")) pgmap.cleanup = __pmem_release_queue;
  let addr: MemremapResult;
  let bbStart: number, bbEnd: number;
  if (is_nd_pfn) {
    if ((yield* setup_pagemap_fsdax(k, dev, pgmap)) !== 0) return -ENOMEM;
    addr = yield* link.devm_memremap_pages(k, dev, pgmap);
    pmem.data_offset = claim.sb!.dataoff;
    pmem.pfn_pad = ns.size - (pgmap.res.end - pgmap.res.start + 1);
    pmem.pfn_flags |= PFN_MAP;
    bbStart = pgmap.res.start + pmem.data_offset;
    bbEnd = pgmap.res.end;
  } else if (pmem_should_map_pages(k, dev)) {
    pgmap.res = { start: ns.start, end: ns.end };
    pgmap.altmap_valid = false;
    if ((yield* setup_pagemap_fsdax(k, dev, pgmap)) !== 0) return -ENOMEM;
    addr = yield* link.devm_memremap_pages(k, dev, pgmap);
    pmem.pfn_flags |= PFN_MAP;
    bbStart = pgmap.res.start;
    bbEnd = pgmap.res.end;
  } else {
    // 50f44ee7248a: without struct pages there is no cleanup, so the queue keeps its devm action
    if (k.fixed("50f44ee7248a")) {
      if ((yield* devm_add_action_or_reset(k, dev, pmem_release_queue, q.q_usage_counter)) !== 0) {
        return -ENOMEM;
      }
    }
    addr = yield* link.devm_memremap(k, dev, pmem.phys_addr, pmem.size, ARCH_MEMREMAP_PMEM);
    bbStart = ns.start;
    bbEnd = ns.end;
  }
  // patch 3/7: no separate freeze action (levels 0..2 register it after the mapping, before the error check)
  if (!k.applied(3)) {
    if ((yield* devm_add_action_or_reset(k, dev, pmem_freeze_queue, q)) !== 0) return -ENOMEM;
  }
  if (IS_ERR(addr)) return PTR_ERR(addr);
  pmem.virt_addr = addr;
  q.dax = (pmem.pfn_flags & PFN_MAP) !== 0;
  q.queuedata = pmem;
  // alloc_disk_node, set_capacity, the badblocks over [bbStart, bbEnd]: the libnvdimm half built the disk
  void bbStart;
  void bbEnd;
  pmem.disk = ns.disk;
  pmem.dax_dev = alloc_dax(k, pmem, ns.disk?.name ?? dev.name, pmem_dax_ops);
  blk_register_queue(k, q); // device_add_disk
  if ((yield* devm_add_action_or_reset(k, dev, pmem_release_disk, pmem)) !== 0) return -ENOMEM;
  return 0;
}

/**
 * nd_pmem_probe(dev) (drivers/nvdimm/pmem.c): a pfn device or a namespace
 * that stayed raw gets a disk (pmem_attach_disk). Claim autodetection (a
 * namespace with a valid pfn/dax/btt info block "comes back as that
 * personality", -ENXIO) already happened in the libnvdimm half, which binds
 * the claim's device instead. Sleeps.
 */
export function* nd_pmem_probe(k: Kernel, dev: Device): KGen<number> {
  const ns = to_ndns(k, dev);
  return yield* pmem_attach_disk(k, dev, ns);
}

/** nd_pmem_remove(dev): nvdimm_flush (nothing to model); devres does the rest. 0, as the kernel's. */
export function nd_pmem_remove(_k: Kernel, _dev: Device): number {
  return 0;
}

/** The nd_pmem driver (one per kernel is enough; it carries no state). */
export function ndPmemDriver(): Driver {
  return new Driver("nd_pmem", nd_pmem_probe, nd_pmem_remove);
}

/** Every pmem_device a device was probed with, in order (kept after unbind, for inspection). */
export const PMEM_PROBES: SubsystemKey<WeakMap<Device, PmemDevice[]>> = {
  name: "pmem-probes",
  create: () => new WeakMap(),
};

/** The driver data of `dev`'s last pmem probe, or null. */
export function pmemOf(k: Kernel, dev: Device): PmemDevice | null {
  return k.state(PMEM_PROBES).get(dev)?.at(-1) ?? null;
}
