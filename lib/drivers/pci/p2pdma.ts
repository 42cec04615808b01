/**
 * PCI peer-to-peer DMA (drivers/pci/p2pdma.c, include/linux/pci-p2pdma.h;
 * new in v4.20): a provider gives BAR memory ZONE_DEVICE struct pages with
 * devm_memremap_pages and hands it to a gen_pool; clients allocate from the
 * pool, map scatterlists to bus addresses, and find a provider by PCIe
 * distance.
 *
 * The reference counting, by series point (each change behind one guard):
 *
 * - v4.20 (and every level without `p2pdma-pgmap-kill`): one percpu_ref per
 *   *device* (`devmap_ref`), shared by every BAR; each successful
 *   pci_p2pdma_add_resource registers a devm kill action that kills the ref
 *   unless it is already dying. pci_p2pdma_release (a devm action registered
 *   at setup, so it runs last) waits for the ref to reach zero, exits it and
 *   destroys the pool. Two BARs: devres order p2p, release, pgmap1,
 *   memremap-release1, kill1, pgmap2, memremap-release2, kill2.
 * - From patch 3/7 the v4.20 call site is broken: its pgmap has no `kill`,
 *   so devm_memremap_pages returns -EINVAL (scenario 26), and the live ref
 *   then blocks the provider's unbind in pci_p2pdma_release for ever.
 * - `p2pdma-pgmap-kill` (v5.0): `pgmap->kill` = the is_dying-guarded kill;
 *   no kill action. The kill now runs first in each memremap release.
 * - `p2pdma-gen-pool-add-virt-fix` (v5.2): a failed gen_pool_add_virt first
 *   unmaps the pages (devm_memunmap_pages) before freeing the pgmap; before
 *   it the memremap release stays registered on a freed pgmap.
 * - `1570175abd16` (v5.2): one `struct p2pdma_pagemap` per BAR with its own
 *   percpu_ref and completion; each chunk's owner is that ref
 *   (genalloc-chunk-owners); pci_alloc_p2pmem takes a ref on the owning
 *   chunk's ref under rcu_read_lock; the kill is a plain percpu_ref_kill;
 *   the wait-and-exit (`pci_p2pdma_percpu_cleanup`) is a devm action
 *   registered before devm_memremap_pages; pci_p2pdma_release clears
 *   pdev->p2pdma, waits a grace period and destroys the pool.
 * - the drivers' half of `50f44ee7248a` (v5.2): the wait-and-exit becomes
 *   `pgmap->cleanup` (run by the release before any memory is removed).
 * - the p2pdma half of variant `logan-wait-in-kill` (27 Nov 2018, never
 *   merged): the guarded kill also waits for the completion, and
 *   pci_p2pdma_release no longer waits. With two BARs sharing the ref this
 *   deadlocks (scenario 32).
 *
 * Simulator-only bookkeeping (no kernel counterpart): each device's list of
 * BARs it registered, and each outstanding allocation (for hang reports:
 * "1 held by p2pmem allocation ...").
 *
 * @module
 */
import {
  complete,
  complete_all,
  Completion,
  wait_for_completion,
} from "../../kernel/completion.ts";
import { dev_warn, type Device } from "../../kernel/device.ts";
import {
  devm_add_action,
  devm_add_action_or_reset,
  devm_kfree,
  devm_kzalloc,
} from "../../kernel/devres.ts";
import { EINVAL, ENOMEM, IS_ERR, PTR_ERR } from "../../kernel/errno.ts";
import { REF_HOLDER_SOURCES, type RefHolders } from "../../kernel/explain.ts";
import {
  gen_pool_add_owner,
  gen_pool_add_virt,
  gen_pool_alloc,
  gen_pool_alloc_owner,
  gen_pool_avail,
  gen_pool_create,
  gen_pool_destroy,
  gen_pool_free,
  gen_pool_free_owner,
  gen_pool_size,
  gen_pool_virt_to_phys,
  type GenPool,
  type OwnerOut,
} from "../../kernel/genalloc.ts";
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import { devm_memremap_pages, devm_memunmap_pages } from "../../kernel/memremap.ts";
import { PAGE_FIELD, PAGE_SHIFT, PAGE_SIZE } from "../../kernel/mm/constants.ts";
import { __pa, __va } from "../../kernel/mm/init-64.ts";
import { nullDeref, page_pgmap, vmemmapFault } from "../../kernel/mm/memmap.ts";
import { MM, sectionOf } from "../../kernel/mm/mmzone.ts";
import {
  DevPagemap,
  MEMORY_DEVICE_PCI_P2PDMA,
  type Page,
  type PgmapResource,
} from "../../kernel/mm/types.ts";
import {
  percpu_ref_exit,
  percpu_ref_init,
  percpu_ref_is_dying,
  percpu_ref_kill,
  percpu_ref_put,
  percpu_ref_tryget_live,
  PercpuRef,
} from "../../kernel/percpu-refcount.ts";
import { IORESOURCE_MEM, Resource, resource_string } from "../../kernel/resource.ts";
import { rcu_read_lock, rcu_read_unlock, synchronize_rcu } from "../../kernel/sched.ts";
import { upstream_bridge_distance } from "../../hw/pcie/topology.ts";
import type { KGen } from "../../sim/task.ts";
import {
  dev_is_pci,
  pci_bus_address,
  pci_devices,
  pci_info,
  pci_name,
  pci_resource_flags,
  pci_resource_len,
  pci_resource_start,
  pci_warn,
  type PciDev,
} from "./pci.ts";

/** enum dma_data_direction: DMA_BIDIRECTIONAL. */
export const DMA_BIDIRECTIONAL = 0;
/** enum dma_data_direction: DMA_TO_DEVICE. */
export const DMA_TO_DEVICE = 1;
/** enum dma_data_direction: DMA_FROM_DEVICE. */
export const DMA_FROM_DEVICE = 2;

/** NUMA_NO_NODE: dev_to_node of a pci_dev without firmware affinity. */
const NUMA_NO_NODE = -1;
/** offsetof(struct pci_p2pdma, pool) on x86_64 without lock debugging (after the ref and completion). */
const P2PDMA_POOL_OFFSET_V420 = 0x50;
/** offsetof(struct dev_pagemap, pci_p2pdma_bus_offset), v4.20 layout. */
const PGMAP_BUS_OFFSET_OFFSET = 0xa0;

/**
 * A p2pdma percpu_ref: `devmap_ref` of struct pci_p2pdma (up to v5.0) or
 * `ref` of struct p2pdma_pagemap (1570175abd16). `done` is what its release
 * completes (container_of in the kernel).
 */
export class P2pdmaRef extends PercpuRef {
  /**
   * Creates the ref (percpu_ref_init it before use).
   * @param k the kernel (the release callback runs without one).
   * @param done devmap_ref_done / ref_done.
   * @param pdev the provider.
   * @param bar the BAR of a per-BAR ref (1570175abd16), -1 for the device's ref.
   */
  constructor(
    readonly k: Kernel,
    readonly done: Completion,
    readonly pdev: PciDev,
    readonly bar: number,
  ) {
    super();
  }
}

/** One BAR a device registered (simulator bookkeeping, in registration order). */
export interface P2pdmaBar {
  /** BAR index. */
  bar: number;
  /** Its pgmap. */
  pgmap: DevPagemap;
  /** The ref its pages hold (the device's ref up to v5.0, its own with 1570175abd16). */
  ref: PercpuRef;
}

/** struct pci_p2pdma: pdev->p2pdma. */
export class PciP2pdma {
  /** devmap_ref: the device-wide ref (null with 1570175abd16, which moves it into each p2pdma_pagemap). */
  devmap_ref: P2pdmaRef | null = null;
  /** devmap_ref_done (null with 1570175abd16). */
  devmap_ref_done: Completion | null = null;
  /** The pool every BAR's memory is added to. */
  pool: GenPool | null = null;
  /** p2pmem_published. */
  p2pmem_published = false;
  /** Simulator: the BARs added so far. */
  readonly bars: P2pdmaBar[] = [];

  /**
   * Creates the struct (devm_kzalloc'ed by pci_p2pdma_setup).
   * @param pdev the provider (simulator back-pointer).
   */
  constructor(readonly pdev: PciDev) {}
}

/** struct p2pdma_pagemap (1570175abd16): a pgmap with its own ref and completion. */
export class P2pdmaPagemap {
  /** The embedded pgmap. */
  readonly pgmap: DevPagemap = new DevPagemap();
  /** ref_done, completed by the ref's release. */
  readonly ref_done: Completion;
  /** The per-BAR ref. */
  readonly ref: P2pdmaRef;

  /**
   * Creates the struct (devm_kzalloc'ed by pci_p2pdma_add_resource).
   * @param k the kernel.
   * @param pdev the provider.
   * @param bar the BAR.
   */
  constructor(k: Kernel, pdev: PciDev, bar: number) {
    this.ref_done = new Completion(`p2pdma ref_done ${pdev.name} BAR ${bar}`);
    this.ref = new P2pdmaRef(k, this.ref_done, pdev, bar);
    this.ref_done.completer = this.ref;
  }
}

/** A struct scatterlist entry: a page, an offset and a length, and its DMA mapping. */
export interface Scatterlist {
  /** sg_page(sg): the struct page (its pfn). */
  page: Page;
  /** Offset into the page. */
  offset: number;
  /** Bytes. */
  length: number;
  /** sg->dma_address after mapping. */
  dma_address: number;
  /** sg_dma_len(sg) after mapping. */
  dma_length: number;
}

/** One p2pmem allocation: what it came from and its pgmap reference. */
export interface Allocation {
  /** The provider. */
  pdev: PciDev;
  /** Bytes. */
  size: number;
  /** The pgmap reference the allocation holds. */
  ref: PercpuRef;
  /** Its bus address. */
  bus: number;
  /** Who allocated it (task name). */
  by: string;
}

/** Per-kernel p2pdma bookkeeping. */
export interface P2pdmaState {
  /** Outstanding pci_alloc_p2pmem allocations by address (simulator: for hang reports). */
  readonly allocations: Map<bigint, Allocation>;
  /** pgmaps pci_p2pdma_add_resource freed while their memremap release stayed registered (v4.20 gen_pool_add_virt failure). */
  readonly danglingPgmaps: DevPagemap[];
}

/** The p2pdma state of a kernel; creating it registers the allocation holder source. */
export const P2PDMA: SubsystemKey<P2pdmaState> = {
  name: "p2pdma",
  create(k: Kernel): P2pdmaState {
    const st: P2pdmaState = { allocations: new Map(), danglingPgmaps: [] };
    k.state(REF_HOLDER_SOURCES).push((ref) => {
      const out: RefHolders[] = [];
      for (const a of st.allocations.values()) {
        if (a.ref !== ref) continue;
        out.push({
          count: 1,
          what: `p2pmem allocation [bus 0x${a.bus.toString(16)}, ${a.size} bytes] of ${
            pci_name(a.pdev)
          } (pci_alloc_p2pmem by ${a.by}; only pci_free_p2pmem drops it)`,
        });
      }
      return out;
    });
    return st;
  },
};

function emit(
  k: Kernel,
  op: import("../../kernel/events.ts").P2pdmaEvent["op"],
  dev: string,
  bar: number,
  addr: number,
  size: number,
  ret: number,
): void {
  k.trace.emit({ kind: "p2pdma", op, dev, bar, addr, size, ret });
}

function barOf(pdev: PciDev, ref: PercpuRef): number {
  return pdev.p2pdma?.bars.find((b) => b.ref === ref)?.bar ?? -1;
}

/**
 * pci_p2pdma_percpu_release(ref) (static): the ref reached zero —
 * complete_all(devmap_ref_done); with 1570175abd16 complete(ref_done).
 * Must not sleep (it may run from an RCU callback).
 */
export function pci_p2pdma_percpu_release(ref: PercpuRef): void {
  const r = ref as P2pdmaRef;
  // 1570175abd16: the per-BAR ref's release completes once (complete, not complete_all)
  if (r.k.fixed("1570175abd16")) complete(r.k, r.done);
  else complete_all(r.k, r.done);
}

/**
 * pci_p2pdma_percpu_kill(ref) (static): a devm action (data = the device's
 * ref) up to v4.20's call site, `pgmap->kill` from p2pdma-pgmap-kill.
 *
 * - Up to v5.0: returns at once if the ref is already dying
 *   (pci_p2pdma_add_resource may run for several BARs, each registering a
 *   kill; only the first may kill), else percpu_ref_kill.
 * - variant logan-wait-in-kill: after killing, waits for the ref to reach
 *   zero (wait_for_completion on devmap_ref_done).
 * - 1570175abd16: a plain percpu_ref_kill (one ref per BAR, killed once).
 *
 * Sleeps (under the variant): call with `yield*`.
 */
export function* pci_p2pdma_percpu_kill(k: Kernel, ref: PercpuRef): KGen<void> {
  const r = ref as P2pdmaRef;
  const owner = r.pdev.name;
  // 1570175abd16: the is_dying guard goes; every BAR kills its own ref
  if (k.fixed("1570175abd16")) {
    if (k.trace.on) emit(k, "kill", owner, r.bar, 0, 0, 0);
    percpu_ref_kill(k, ref);
    return;
  }
  if (percpu_ref_is_dying(ref)) {
    if (k.trace.on) emit(k, "kill_noop", owner, -1, 0, 0, 0);
    return;
  }
  if (k.trace.on) emit(k, "kill", owner, -1, 0, 0, 0);
  percpu_ref_kill(k, ref);
  // variant logan-wait-in-kill: wait for the last reference here, before memory is removed
  if (k.variant("logan-wait-in-kill")) {
    if (k.trace.on) emit(k, "wait", owner, -1, 0, 0, 0);
    yield* wait_for_completion(k, r.done);
    if (k.trace.on) emit(k, "wait_done", owner, -1, 0, 0, 0);
  }
}

/**
 * pci_p2pdma_percpu_cleanup(ref) (static, 1570175abd16): wait for the BAR's
 * ref to reach zero, then percpu_ref_exit. A devm action registered before
 * devm_memremap_pages (so it runs after the release), or `pgmap->cleanup`
 * with 50f44ee7248a (run by the release before removal).
 * Sleeps: call with `yield*`.
 */
export function* pci_p2pdma_percpu_cleanup(k: Kernel, ref: PercpuRef): KGen<void> {
  const r = ref as P2pdmaRef;
  if (k.trace.on) emit(k, "cleanup", r.pdev.name, r.bar, 0, 0, 0);
  yield* wait_for_completion(k, r.done);
  percpu_ref_exit(k, ref);
  if (k.trace.on) emit(k, "cleanup_done", r.pdev.name, r.bar, 0, 0, 0);
}

/**
 * pci_p2pdma_release(pdev) (static devm action, registered by setup, so it
 * runs after every BAR's teardown). Nothing to do without pdev->p2pdma.
 *
 * - Up to v5.0: wait_for_completion(devmap_ref_done) — every allocation and
 *   page reference of every BAR must be gone — then percpu_ref_exit,
 *   gen_pool_destroy, remove the "p2pmem" group, pdev->p2pdma = NULL.
 * - variant logan-wait-in-kill: no wait here (the kill waited).
 * - 1570175abd16: pdev->p2pdma = NULL, synchronize_rcu() (no
 *   pci_alloc_p2pmem still inside its read side), gen_pool_destroy, remove
 *   the group. The per-BAR refs were reaped by their cleanups.
 *
 * gen_pool_destroy BUGs if memory is still allocated. Sleeps: call with `yield*`.
 */
export function* pci_p2pdma_release(k: Kernel, pdev: PciDev): KGen<void> {
  const p2pdma = pdev.p2pdma;
  if (p2pdma === null) return;
  if (k.trace.on) emit(k, "release", pdev.name, -1, 0, 0, 0);
  // 1570175abd16: flush and disable pci_alloc_p2pmem instead of waiting on a device ref
  if (k.fixed("1570175abd16")) {
    pdev.p2pdma = null;
    yield* synchronize_rcu(k);
    gen_pool_destroy(k, p2pdma.pool!);
    sysfs_remove_p2pmem(k, pdev);
  } else {
    const ref = p2pdma.devmap_ref!;
    // variant logan-wait-in-kill: the wait moved into pci_p2pdma_percpu_kill
    if (!k.variant("logan-wait-in-kill")) {
      if (k.trace.on) emit(k, "wait", pdev.name, -1, 0, 0, 0);
      yield* wait_for_completion(k, p2pdma.devmap_ref_done!);
      if (k.trace.on) emit(k, "wait_done", pdev.name, -1, 0, 0, 0);
    }
    percpu_ref_exit(k, ref);
    gen_pool_destroy(k, p2pdma.pool!);
    sysfs_remove_p2pmem(k, pdev);
    pdev.p2pdma = null;
  }
  if (k.trace.on) emit(k, "release_done", pdev.name, -1, 0, 0, 0);
}

/** sysfs_remove_group(&pdev->dev.kobj, &p2pmem_group): the "p2pmem" group goes (a model helper, not a kernel function). */
function sysfs_remove_p2pmem(k: Kernel, pdev: PciDev): void {
  pdev.sysfsGroups.delete("p2pmem");
  if (k.trace.on) emit(k, "sysfs_remove", pdev.name, -1, 0, 0, 0);
}

/**
 * pci_p2pdma_setup(pdev) (static): devm_kzalloc the struct, a pool with 4
 * KiB granules (gen_pool_create(PAGE_SHIFT)), up to v5.0 the device's
 * completion and percpu_ref (1570175abd16 moves them per BAR), the
 * pci_p2pdma_release devm action (_or_reset), pdev->p2pdma, and the
 * "p2pmem" sysfs group. 0 or -ENOMEM / the error; on failure the pool is
 * destroyed and the struct freed. Sleeps: call with `yield*`.
 */
export function* pci_p2pdma_setup(k: Kernel, pdev: PciDev): KGen<number> {
  k.state(P2PDMA);
  const p2p = devm_kzalloc(k, pdev, () => new PciP2pdma(pdev));
  if (p2p === null) return -ENOMEM;
  let error = -ENOMEM;
  p2p.pool = gen_pool_create(k, PAGE_SHIFT, NUMA_NO_NODE);
  if (p2p.pool === null) {
    devm_kfree(k, pdev, p2p);
    return error;
  }
  // 1570175abd16: the ref and its completion move into each p2pdma_pagemap
  if (!k.fixed("1570175abd16")) {
    const done = new Completion(`p2pdma devmap_ref_done ${pdev.name}`);
    const ref = new P2pdmaRef(k, done, pdev, -1);
    done.completer = ref;
    p2p.devmap_ref_done = done;
    p2p.devmap_ref = ref;
    error = percpu_ref_init(k, ref, pci_p2pdma_percpu_release, 0, 0);
    if (error) return out_pool_destroy(k, pdev, p2p, error);
  }
  error = yield* devm_add_action_or_reset(k, pdev, pci_p2pdma_release, pdev);
  if (error) return out_pool_destroy(k, pdev, p2p, error);
  pdev.p2pdma = p2p;
  // sysfs_create_group(&pdev->dev.kobj, &p2pmem_group): cannot fail in the model
  pdev.sysfsGroups.add("p2pmem");
  if (k.trace.on) {
    emit(k, "setup", pdev.name, -1, 0, 0, 0);
    emit(k, "sysfs_create", pdev.name, -1, 0, 0, 0);
  }
  return 0;
}

function out_pool_destroy(k: Kernel, pdev: PciDev, p2p: PciP2pdma, error: number): number {
  pdev.p2pdma = null;
  gen_pool_destroy(k, p2p.pool!);
  devm_kfree(k, pdev, p2p);
  return error;
}

/**
 * pci_p2pdma_add_resource(pdev, bar, size, offset) (drivers/pci/p2pdma.c,
 * EXPORT_SYMBOL_GPL): give [BAR start + offset, + size) struct pages and add
 * it to the device's pool. `size` 0 means the rest of the BAR. Returns 0 or
 * -errno.
 *
 * Contract and order: the BAR must be memory (-EINVAL), offset < BAR length
 * and size + offset ≤ length (-EINVAL); the device's p2pdma is set up on
 * first use; then the pgmap (devm_kzalloc; with 1570175abd16 a
 * p2pdma_pagemap with its own ref), devm_memremap_pages (its ERR_PTR is
 * returned), the pool chunk (bus address as its "phys"; with 1570175abd16
 * gen_pool_add_owner with the BAR's ref as owner), and — at v4.20's call
 * site only — the kill devm action. dmesg "added peer-to-peer DMA memory %pR".
 * Failure paths, by series point: see the module doc (the v4.20
 * gen_pool_add_virt failure frees the pgmap while its memremap release stays
 * registered; the kill action's own failure kills the shared ref at once).
 * Sleeps: call with `yield*` or `machine.call`.
 *
 * @example Two BARs on the p2p-rig at v5.0: one ref for both
 * ```ts
 * import { bootMachine } from "../../machine.ts";
 * import { pciDevByName } from "./pci.ts";
 * import { pci_p2pdma_add_resource, p2pmem_attr_show } from "./p2pdma.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootMachine("p2p-rig", { series: "v5.0" });
 * const pdev = pciDevByName(m.k, m.hw!.pci, "nvme0");
 * assertEquals(m.call(pci_p2pdma_add_resource, pdev, 2, 0, 0), 0);
 * assertEquals(m.call(pci_p2pdma_add_resource, pdev, 4, 0, 0), 0);
 * assertEquals(p2pmem_attr_show(m.k, pdev, "size"), `${2 ** 28}\n`);
 * assertEquals(pdev.p2pdma!.devmap_ref!.value, 1 + 2 * 32768);
 * ```
 */
export function* pci_p2pdma_add_resource(
  k: Kernel,
  pdev: PciDev,
  bar: number,
  size: number,
  offset: number,
): KGen<number> {
  if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM)) return -EINVAL;
  const len = pci_resource_len(pdev, bar);
  if (offset >= len) return -EINVAL;
  if (!size) size = len - offset;
  if (size + offset > len) return -EINVAL;
  let error: number;
  if (pdev.p2pdma === null) {
    error = yield* pci_p2pdma_setup(k, pdev);
    if (error) return error;
  }
  const p2p = pdev.p2pdma!;
  let p2p_pgmap: P2pdmaPagemap | null = null;
  let pgmap: DevPagemap;
  let ref: P2pdmaRef;
  // 1570175abd16: a p2pdma_pagemap per BAR, with its own ref and completion
  if (k.fixed("1570175abd16")) {
    p2p_pgmap = devm_kzalloc(k, pdev, () => new P2pdmaPagemap(k, pdev, bar));
    if (p2p_pgmap === null) return -ENOMEM;
    ref = p2p_pgmap.ref;
    error = percpu_ref_init(k, ref, pci_p2pdma_percpu_release, 0, 0);
    if (error) return pgmap_free(k, pdev, p2p_pgmap, error);
    // 50f44ee7248a: the wait-and-exit becomes pgmap->cleanup instead of a devm action
    if (!k.fixed("50f44ee7248a")) {
      error = devm_add_action(k, pdev, pci_p2pdma_percpu_cleanup, ref as PercpuRef);
      if (error) return ref_cleanup(k, pdev, p2p_pgmap, error);
    }
    pgmap = p2p_pgmap.pgmap;
  } else {
    const pg = devm_kzalloc(k, pdev, () => new DevPagemap());
    if (pg === null) return -ENOMEM;
    pgmap = pg;
    ref = p2p.devmap_ref!;
  }
  const start = pci_resource_start(pdev, bar) + offset;
  const res: PgmapResource & { flags: number } = {
    start,
    end: start + size - 1,
    flags: pci_resource_flags(pdev, bar),
  };
  pgmap.res = res;
  pgmap.ref = ref;
  pgmap.type = MEMORY_DEVICE_PCI_P2PDMA;
  pgmap.pci_p2pdma_bus_offset = pci_bus_address(pdev, bar) - pci_resource_start(pdev, bar);
  // p2pdma-pgmap-kill: the guarded kill becomes pgmap->kill (no separate kill action)
  if (k.fixed("p2pdma-pgmap-kill")) pgmap.kill = pci_p2pdma_percpu_kill;
  // 50f44ee7248a: the release calls cleanup (wait for zero, exit) before removing memory
  if (k.fixed("50f44ee7248a")) pgmap.cleanup = pci_p2pdma_percpu_cleanup;

  const addr = yield* devm_memremap_pages(k, pdev, pgmap);
  if (IS_ERR(addr)) {
    error = PTR_ERR(addr);
    if (k.trace.on) emit(k, "add_resource", pdev.name, bar, start, size, error);
    // 1570175abd16 (before 50f44ee7248a): the ref is exited on the way out
    if (p2p_pgmap !== null && !k.fixed("50f44ee7248a")) {
      return ref_cleanup(k, pdev, p2p_pgmap, error);
    }
    return pgmap_free(k, pdev, p2p_pgmap ?? pgmap, error);
  }

  const bus = pci_bus_address(pdev, bar) + offset;
  // 1570175abd16: each chunk records its BAR's ref as owner for alloc and free
  error = k.fixed("1570175abd16")
    ? gen_pool_add_owner(k, p2p.pool!, addr as bigint, bus, size, NUMA_NO_NODE, ref)
    : gen_pool_add_virt(k, p2p.pool!, addr as bigint, bus, size, NUMA_NO_NODE);
  if (error) {
    if (k.trace.on) emit(k, "add_resource", pdev.name, bar, start, size, error);
    // p2pdma-gen-pool-add-virt-fix: unmap the pages before the pgmap is freed
    if (k.fixed("p2pdma-gen-pool-add-virt-fix")) yield* devm_memunmap_pages(k, pdev, pgmap);
    else k.state(P2PDMA).danglingPgmaps.push(pgmap);
    if (p2p_pgmap !== null && !k.fixed("50f44ee7248a")) {
      return ref_cleanup(k, pdev, p2p_pgmap, error);
    }
    return pgmap_free(k, pdev, p2p_pgmap ?? pgmap, error);
  }
  p2p.bars.push({ bar, pgmap, ref });

  // p2pdma-pgmap-kill: no kill action any more (the release calls pgmap->kill)
  if (!k.fixed("p2pdma-pgmap-kill")) {
    error = yield* devm_add_action_or_reset(k, pdev, pci_p2pdma_percpu_kill, ref as PercpuRef);
    if (error) {
      if (k.trace.on) emit(k, "add_resource", pdev.name, bar, start, size, error);
      k.state(P2PDMA).danglingPgmaps.push(pgmap);
      return pgmap_free(k, pdev, pgmap, error);
    }
  }
  pci_info(
    k,
    pdev,
    `added peer-to-peer DMA memory ${
      resource_string(new Resource({ name: null, start, end: res.end, flags: res.flags }), "R")
    }`,
  );
  if (k.trace.on) emit(k, "add_resource", pdev.name, bar, start, size, 0);
  return 0;
}

/** The ref_cleanup label (1570175abd16 before 50f44ee7248a): percpu_ref_exit, then pgmap_free. */
function ref_cleanup(k: Kernel, pdev: PciDev, p2p_pgmap: P2pdmaPagemap, error: number): number {
  percpu_ref_exit(k, p2p_pgmap.ref);
  return pgmap_free(k, pdev, p2p_pgmap, error);
}

/** The pgmap_free label: devm_kfree of the pgmap (or the p2pdma_pagemap). */
function pgmap_free(k: Kernel, pdev: PciDev, p: unknown, error: number): number {
  devm_kfree(k, pdev, p);
  return error;
}

/**
 * find_parent_pci_dev(dev) (static): `dev` or its nearest ancestor that is a
 * PCI function, or null.
 */
export function find_parent_pci_dev(dev: Device): PciDev | null {
  for (let d: Device | null = dev; d !== null; d = d.parent) {
    if (dev_is_pci(d)) return d;
  }
  return null;
}

/**
 * upstream_bridge_distance_warn(provider, client) (static): the distance,
 * with the warnings the verbose callers print: ACS redirect (-2: the
 * offending functions as "pci=disable_acs_redir=a;b") or no common upstream
 * bridge (-1). -ENOMEM if the list buffer cannot be allocated (fault point "kmalloc").
 */
function upstream_bridge_distance_warn(k: Kernel, provider: PciDev, client: PciDev): number {
  if (k.faults.shouldFail("kmalloc")) return -ENOMEM;
  const d = upstream_bridge_distance(provider.hw, client.hw);
  if (d.distance === -2) {
    pci_warn(
      k,
      client,
      `cannot be used for peer-to-peer DMA as ACS redirect is set between the client and provider (${
        pci_name(provider)
      })`,
    );
    pci_warn(
      k,
      client,
      `to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=${
        d.acs.map((x) => x.bdf).join(";")
      }`,
    );
  } else if (d.distance < 0) {
    pci_warn(
      k,
      client,
      `cannot be used for peer-to-peer DMA as the client and provider (${
        pci_name(provider)
      }) do not share an upstream bridge`,
    );
  }
  return d.distance;
}

/**
 * pci_p2pdma_distance_many(provider, clients, num_clients, verbose)
 * (EXPORT_SYMBOL_GPL): the sum of upstream_bridge_distance from the provider
 * to each client's PCI function — 0 for the same function, 2 for two
 * functions under one port, 4 for two devices on one switch — or -1 if
 * num_clients is 0, a client has no PCI parent, or any client is
 * unreachable (no common upstream bridge: v4.20 and v5.0 have no root-complex
 * whitelist; ACS redirect on the path). Verbose prints why, for every client.
 *
 * @example Same switch → 4; another root port → -1
 * ```ts
 * import { bootMachine } from "../../machine.ts";
 * import { pciDevByName } from "./pci.ts";
 * import { pci_p2pdma_distance } from "./p2pdma.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootMachine("p2p-rig", { series: "v4.20" });
 * const [nvme, gpu, accel] = ["nvme0", "gpu0", "accel0"].map((n) => pciDevByName(m.k, m.hw!.pci, n));
 * assertEquals(pci_p2pdma_distance(m.k, nvme!, gpu!, false), 4);
 * assertEquals(pci_p2pdma_distance(m.k, nvme!, accel!, false), -1);
 * ```
 */
export function pci_p2pdma_distance_many(
  k: Kernel,
  provider: PciDev,
  clients: readonly Device[],
  num_clients: number,
  verbose: boolean,
): number {
  if (num_clients === 0) return -1;
  let not_supported = false;
  let distance = 0;
  for (let i = 0; i < num_clients; i++) {
    const client = clients[i]!;
    const pci_client = find_parent_pci_dev(client);
    if (pci_client === null) {
      if (verbose) {
        dev_warn(k, client, "cannot be used for peer-to-peer DMA as it is not a PCI device");
      }
      return -1;
    }
    const ret = verbose
      ? upstream_bridge_distance_warn(k, provider, pci_client)
      : upstream_bridge_distance(provider.hw, pci_client.hw).distance;
    if (ret < 0) not_supported = true;
    if (not_supported && !verbose) break;
    distance += ret;
  }
  return not_supported ? -1 : distance;
}

/** pci_p2pdma_distance(provider, client, verbose) (include/linux/pci-p2pdma.h inline): one client. */
export function pci_p2pdma_distance(
  k: Kernel,
  provider: PciDev,
  client: Device,
  verbose: boolean,
): number {
  return pci_p2pdma_distance_many(k, provider, [client], 1, verbose);
}

/** pci_has_p2pmem(pdev) (EXPORT_SYMBOL_GPL): p2pdma set up and published. */
export function pci_has_p2pmem(pdev: PciDev): boolean {
  return pdev.p2pdma !== null && pdev.p2pdma.p2pmem_published;
}

/**
 * pci_p2pmem_find_many(clients, num_clients) (EXPORT_SYMBOL_GPL): among the
 * functions with published p2pmem (in pci_get_device order), those at the
 * smallest non-negative distance to all clients (at most PAGE_SIZE / 8 =
 * 512 kept), one picked at random (prandom_u32_max, the machine's PRNG);
 * null if none.
 */
export function pci_p2pmem_find_many(
  k: Kernel,
  clients: readonly Device[],
  num_clients: number,
): PciDev | null {
  const max_devs = PAGE_SIZE / 8;
  let closest_distance = Number.MAX_SAFE_INTEGER;
  let closest: PciDev[] = [];
  for (const pdev of pci_devices(k)) {
    if (!pci_has_p2pmem(pdev)) continue;
    const distance = pci_p2pdma_distance_many(k, pdev, clients, num_clients, false);
    if (distance < 0 || distance > closest_distance) continue;
    if (distance === closest_distance && closest.length >= max_devs) continue;
    if (distance < closest_distance) {
      closest = [];
      closest_distance = distance;
    }
    closest.push(pdev);
  }
  return closest.length > 0 ? closest[k.prng.int(closest.length)]! : null;
}

/** pci_p2pmem_find(client) (include/linux/pci-p2pdma.h inline): one client. */
export function pci_p2pmem_find(k: Kernel, client: Device): PciDev | null {
  return pci_p2pmem_find_many(k, [client], 1);
}

/**
 * pci_alloc_p2pmem(pdev, size) (EXPORT_SYMBOL_GPL): `size` bytes of the
 * provider's p2pmem (the kernel virtual address), or NULL (0n). Takes one
 * pgmap reference per allocation (not per page), which pci_free_p2pmem drops.
 *
 * - Up to v5.0: NULL without p2pdma; percpu_ref_tryget_live on the device's
 *   ref (NULL once it is killed — the first BAR's kill kills it for all);
 *   gen_pool_alloc; on failure the ref is put back.
 * - 1570175abd16: under rcu_read_lock (pairs with pci_p2pdma_release's
 *   synchronize_rcu), gen_pool_alloc_owner, then tryget_live on the owning
 *   chunk's ref; if that BAR is dying the memory is freed again and NULL
 *   returned.
 */
export function pci_alloc_p2pmem(k: Kernel, pdev: PciDev, size: number): bigint {
  const st = k.state(P2PDMA);
  let ret = 0n;
  let ref: PercpuRef | null = null;
  // 1570175abd16: take the reference on the owning chunk's (BAR's) ref, after allocating
  if (k.fixed("1570175abd16")) {
    rcu_read_lock(k);
    const p2pdma = pdev.p2pdma;
    if (p2pdma !== null) {
      const owner: OwnerOut<PercpuRef> = { value: null };
      ret = gen_pool_alloc_owner(k, p2pdma.pool!, size, owner as OwnerOut);
      if (ret !== 0n) {
        ref = owner.value;
        if (!percpu_ref_tryget_live(k, ref!)) {
          gen_pool_free(k, p2pdma.pool!, ret, size);
          ret = 0n;
        }
      }
    }
    rcu_read_unlock(k);
  } else {
    const p2pdma = pdev.p2pdma;
    if (p2pdma !== null && percpu_ref_tryget_live(k, p2pdma.devmap_ref!)) {
      ref = p2pdma.devmap_ref!;
      ret = gen_pool_alloc(k, p2pdma.pool!, size);
      if (ret === 0n) percpu_ref_put(k, ref);
    }
  }
  if (ret === 0n) {
    if (k.trace.on) emit(k, "alloc_fail", pdev.name, -1, 0, size, 0);
    return 0n;
  }
  const bus = gen_pool_virt_to_phys(k, pdev.p2pdma!.pool!, ret);
  st.allocations.set(ret, {
    pdev,
    size,
    ref: ref!,
    bus,
    by: k.current === null ? "(no task)" : `task ${k.current}`,
  });
  if (k.trace.on) emit(k, "alloc", pdev.name, barOf(pdev, ref!), bus, size, 0);
  return ret;
}

/**
 * pci_free_p2pmem(pdev, addr, size) (EXPORT_SYMBOL_GPL): gen_pool_free, then
 * percpu_ref_put — of the device's ref up to v5.0, of the chunk owner's ref
 * with 1570175abd16. The put may be the last: the release then completes the
 * teardown's wait. After pci_p2pdma_release has cleared pdev->p2pdma this is
 * a NULL pointer dereference (an Oops).
 */
export function pci_free_p2pmem(k: Kernel, pdev: PciDev, addr: bigint, size: number): void {
  const p2pdma = pdev.p2pdma;
  let ref: PercpuRef;
  // 1570175abd16: the chunk's owner says which BAR's ref to put
  if (k.fixed("1570175abd16")) {
    if (p2pdma === null) nullDeref(k, 0); // pdev->p2pdma->pool, pool is the first member
    const owner: OwnerOut<PercpuRef> = { value: null };
    gen_pool_free_owner(k, p2pdma.pool!, addr, size, owner as OwnerOut);
    ref = owner.value!;
  } else {
    if (p2pdma === null) nullDeref(k, P2PDMA_POOL_OFFSET_V420);
    gen_pool_free(k, p2pdma.pool!, addr, size);
    ref = p2pdma.devmap_ref!;
  }
  const a = k.state(P2PDMA).allocations.get(addr);
  k.state(P2PDMA).allocations.delete(addr);
  if (k.trace.on) emit(k, "free", pdev.name, barOf(pdev, ref), a?.bus ?? 0, size, 0);
  percpu_ref_put(k, ref);
}

/**
 * pci_p2pmem_virt_to_bus(pdev, addr) (EXPORT_SYMBOL_GPL): the PCI bus
 * address of p2pmem `addr` — gen_pool_virt_to_phys, because the pool stores
 * bus addresses. 0 for NULL or a device without p2pdma.
 */
export function pci_p2pmem_virt_to_bus(k: Kernel, pdev: PciDev, addr: bigint): number {
  if (addr === 0n) return 0;
  if (pdev.p2pdma === null) return 0;
  return gen_pool_virt_to_phys(k, pdev.p2pdma.pool!, addr);
}

/** sg_set_buf(sg, buf, buflen): page = virt_to_page(buf), offset within it. */
export function sg_set_buf(k: Kernel, sg: Scatterlist, buf: bigint, buflen: number): void {
  const phys = __pa(k, buf);
  sg.page = Math.floor(phys / PAGE_SIZE);
  sg.offset = phys % PAGE_SIZE;
  sg.length = buflen;
}

/** sg_phys(sg): page_to_phys(sg_page(sg)) + offset (arithmetic: no struct page is read). */
export function sg_phys(sg: Scatterlist): number {
  return sg.page * PAGE_SIZE + sg.offset;
}

/** sg_virt(sg): the direct-map address of the entry. */
export function sg_virt(k: Kernel, sg: Scatterlist): bigint {
  return __va(k, sg_phys(sg));
}

/**
 * pci_p2pmem_alloc_sgl(pdev, nents, length) (EXPORT_SYMBOL_GPL): a
 * one-entry scatterlist over a fresh pci_alloc_p2pmem(length), *nents = 1;
 * null when either allocation fails (fault point "kmalloc" for the list).
 */
export function pci_p2pmem_alloc_sgl(
  k: Kernel,
  pdev: PciDev,
  nents: { value: number },
  length: number,
): Scatterlist[] | null {
  if (k.faults.shouldFail("kmalloc")) return null;
  const sg: Scatterlist = { page: 0, offset: 0, length: 0, dma_address: 0, dma_length: 0 };
  const addr = pci_alloc_p2pmem(k, pdev, length);
  if (addr === 0n) return null;
  sg_set_buf(k, sg, addr, length);
  nents.value = 1;
  return [sg];
}

/** pci_p2pmem_free_sgl(pdev, sgl) (EXPORT_SYMBOL_GPL): pci_free_p2pmem of every entry. */
export function pci_p2pmem_free_sgl(k: Kernel, pdev: PciDev, sgl: readonly Scatterlist[]): void {
  for (const sg of sgl) pci_free_p2pmem(k, pdev, sg_virt(k, sg), sg.length);
}

/** pci_p2pmem_publish(pdev, publish) (EXPORT_SYMBOL_GPL): (un)publish for pci_p2pmem_find. */
export function pci_p2pmem_publish(k: Kernel, pdev: PciDev, publish: boolean): void {
  if (pdev.p2pdma !== null) {
    pdev.p2pdma.p2pmem_published = publish;
    if (k.trace.on) emit(k, "publish", pdev.name, -1, 0, publish ? 1 : 0, 0);
  }
}

/**
 * pci_p2pdma_map_sg(dev, sg, nents, dir) (EXPORT_SYMBOL_GPL): for each entry,
 * reads `sg_page(s)->pgmap` — the struct page itself — and sets
 * dma_address = sg_phys(s) - pgmap->pci_p2pdma_bus_offset and the DMA length.
 * Returns nents. (The subtraction is the 2018 code's sign, wrong when bus !=
 * CPU address; kernel-reference §11 S24.) A page whose section was removed
 * is an Oops here, in the caller's task: Logan's teardown race (scenario 31).
 * `dir` is not used. A plain function.
 */
export function pci_p2pdma_map_sg(
  k: Kernel,
  dev: Device,
  sg: Scatterlist[],
  nents: number,
  _dir: number,
): number {
  const mm = k.state(MM);
  for (let i = 0; i < nents; i++) {
    const s = sg[i]!;
    // sg_page(s)->pgmap: the first read of the struct page
    if (sectionOf(mm, s.page) === null) vmemmapFault(k, s.page, PAGE_FIELD.pgmap);
    const pgmap = page_pgmap(k, s.page);
    if (pgmap === null) nullDeref(k, PGMAP_BUS_OFFSET_OFFSET);
    s.dma_address = sg_phys(s) - pgmap.pci_p2pdma_bus_offset;
    s.dma_length = s.length;
  }
  if (k.trace.on) emit(k, "map_sg", dev.name, -1, nents > 0 ? sg[0]!.dma_address : 0, nents, nents);
  return nents;
}

/**
 * The p2pmem sysfs attributes (size_show, available_show, published_show):
 * the text a read of /sys/bus/pci/devices/<bdf>/p2pmem/<attr> returns, or
 * null when the group does not exist (the file is not there).
 */
export function p2pmem_attr_show(
  k: Kernel,
  pdev: PciDev,
  attr: "size" | "available" | "published",
): string | null {
  if (!pdev.sysfsGroups.has("p2pmem")) return null;
  const p2pdma = pdev.p2pdma;
  if (p2pdma === null) nullDeref(k, P2PDMA_POOL_OFFSET_V420);
  switch (attr) {
    case "size":
      return `${p2pdma.pool ? gen_pool_size(k, p2pdma.pool) : 0}\n`;
    case "available":
      return `${p2pdma.pool ? gen_pool_avail(k, p2pdma.pool) : 0}\n`;
    case "published":
      return `${p2pdma.p2pmem_published ? 1 : 0}\n`;
  }
}
