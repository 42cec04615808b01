/**
 * The device-memory half of mm/hmm.c (include/linux/hmm.h): struct
 * hmm_devmem and its ops, hmm_devmem_add / hmm_devmem_add_resource /
 * hmm_devmem_remove, and the release paths — at every level of the series.
 *
 * - Levels 0..4 (v4.20): HMM carries its own copy of the hotplug logic,
 *   hmm_devmem_pages_create, with a radix tree of its own keyed by section
 *   number (`hmm_devmem_radix`, under the mutex `hmm_devmem_lock`), separate
 *   from memremap.c's pgmap_array: get_dev_pagemap never finds HMM memory, and
 *   HMM pages hold no pgmap references. The devmem is a devres node whose
 *   release is hmm_devmem_release; the ref's kill (which waits for the
 *   completion) and exit are devm actions that also unregister themselves, so
 *   each runs into a devm_remove_action WARN when devres runs it at unbind.
 * - Patch 5/7: devm semantics. The devmem is devm_kzalloc'd, registrations use
 *   devm_add_action_or_reset, the self-unregistering goes, hmm_devmem_remove
 *   goes — and hmm_devmem_add registers no kill at all (hmm_devmem_add_resource
 *   still registers hmm_devmem_ref_kill): a level-5 unbind of an
 *   hmm_devmem_add region removes the pages and exits a live ref.
 * - Patch 6/7: devm_memremap_pages replaces hmm_devmem_pages_create and
 *   hmm_devmem_release (the section radix is gone; the pfns enter pgmap_array
 *   and every page holds a pgmap ref); hmm_devmem_ref_kill becomes
 *   `pgmap->kill` and no longer waits; the wait moves into hmm_devmem_ref_exit,
 *   which devres runs after devm_memremap_pages_release has removed the memory.
 * - Patch 7/7: only the exports change (lib/kernel/exports.ts).
 * - hmm-page-fault-move (v5.0): the fault callback lives in
 *   `hmm_devmem->page_fault` instead of `pgmap->page_fault`.
 * - 50f44ee7248a (v5.2): hmm_devmem_ref_exit becomes `pgmap->cleanup`, run by
 *   the release before the memory is removed; no devm action for it.
 *
 * Known v4.20 defects modelled as they are: a collision leaves the section
 * keys this call already inserted in the radix (pointing at a freed devmem);
 * hmm_devmem_radix_release steps from the unaligned resource start, so a
 * resource that is not section aligned can leave its last section's key
 * behind; hmm_devmem_release removes ALIGN(resource size) from the aligned
 * start, which can leave the last section of a straddling resource present;
 * the hot-add error path untracks a PAT range that was never tracked.
 *
 * Not modelled: `page->mapping = NULL` in hmm_devmem_free (the memmap has no
 * mapping column), hmm_devmem_page_{set,get}_drvdata (no hmm_data column),
 * and hmm_device_new/put.
 *
 * @module
 */
import type { KGen } from "../sim/task.ts";
import { complete, Completion, wait_for_completion } from "./completion.ts";
import { dev_driver_string, dev_err, dev_name, type Device } from "./device.ts";
import {
  devm_add_action,
  devm_add_action_or_reset,
  devm_kzalloc,
  devm_remove_action,
  devres_add,
  type DevresNode,
  kzalloc,
} from "./devres.ts";
import {
  EBUSY,
  EINVAL,
  ENOENT,
  ENOMEM,
  ENXIO,
  ERANGE,
  ERR_PTR,
  type ErrPtr,
  IS_ERR,
} from "./errno.ts";
import type { HmmEvent } from "./events.ts";
import type { Kernel, SubsystemKey } from "./kernel.ts";
import { devm_memremap_pages } from "./memremap.ts";
import { Mutex, mutex_lock, mutex_unlock } from "./mutex.ts";
import {
  percpu_ref_exit,
  percpu_ref_init,
  percpu_ref_kill,
  percpu_ref_put,
  percpu_ref_tryget_live,
  PercpuRef,
} from "./percpu-refcount.ts";
import { WARN, WARN_ONCE } from "./printk.ts";
import {
  RADIX_TREE,
  radix_tree_delete,
  radix_tree_insert,
  radix_tree_lookup,
  type RadixTreeRoot,
} from "./radix-tree.ts";
import {
  hmm_find_free_region,
  IORES_DESC_DEVICE_PRIVATE_MEMORY,
  IORES_DESC_DEVICE_PUBLIC_MEMORY,
  IORES_DESC_NONE,
  IORESOURCE_SYSTEM_RAM,
  REGION_INTERSECTS,
  region_intersects,
  REGION_MIXED,
  Resource,
  resource_size,
  resource_string,
} from "./resource.ts";
import { devm_release_mem_region, devm_request_mem_region } from "./resource-devm.ts";
import {
  __remove_pages,
  add_pages,
  arch_add_memory,
  arch_remove_memory,
  dev_pagemap_get_ops,
  type DevPageFault,
  DevPagemap,
  mem_hotplug_begin,
  mem_hotplug_done,
  memmap_init_zone_device,
  MEMORY_DEVICE_PRIVATE,
  MEMORY_DEVICE_PUBLIC,
  MM,
  move_pfn_range_to_zone,
  NODE_DATA,
  type Page,
  page_pgmap,
  PAGE_SIZE,
  page_zone,
  PAGES_PER_SECTION,
  pfn_to_page,
  SECTION_SIZE,
  SECTION_SIZE_BITS,
  untrack_pfn,
  ZONE_DEVICE,
} from "./mm/mod.ts";

/**
 * struct hmm_devmem_ops (include/linux/hmm.h): the driver's callbacks.
 *
 * - `free(devmem, page)`: the page's refcount dropped to 1 — nobody but the
 *   driver holds it. Must not sleep (it runs inside put_page).
 * - `fault(devmem, vma, addr, page, flags, pmdp)`: a CPU access to a
 *   device-private page; migrate it back to system memory and return
 *   VM_FAULT_* (0/MINOR/MAJOR, SIGBUS, OOM). `page` is only a hint.
 */
export interface HmmDevmemOps {
  /** Called when a device page becomes free (refcount 1). */
  free(k: Kernel, devmem: HmmDevmem, page: Page): void;
  /** Called on a CPU fault on a device-private page; returns VM_FAULT_*. */
  fault(
    k: Kernel,
    devmem: HmmDevmem,
    vma: unknown,
    addr: number,
    page: Page,
    flags: number,
    pmdp: unknown,
  ): number;
}

/** The devmem's percpu_ref: container_of(ref, struct hmm_devmem, ref). */
class HmmDevmemRef extends PercpuRef {
  constructor(readonly devmem: HmmDevmem) {
    super();
  }
}

/** The devmem's embedded dev_pagemap: container_of(pgmap, struct hmm_devmem, pagemap). */
class HmmDevmemPagemap extends DevPagemap {
  constructor(readonly devmem: HmmDevmem) {
    super();
  }
}

/**
 * struct hmm_devmem (include/linux/hmm.h): completion, pfn_first, pfn_last
 * (exclusive), resource, device, the embedded dev_pagemap, ops, the
 * percpu_ref — and, with hmm-page-fault-move, page_fault.
 *
 * Allocated by hmm_devmem_add / hmm_devmem_add_resource only.
 */
export class HmmDevmem {
  /** Signalled by the ref's release (hmm_devmem_ref_release). */
  readonly completion: Completion;
  /** First pfn of the resource; -1 (the kernel's -1UL) until a range is known. */
  pfn_first: number = -1;
  /** One past the last pfn; -1 until known. */
  pfn_last: number = -1;
  /** The physical range: HMM's own request (add) or the caller's resource (add_resource). */
  resource: Resource | null = null;
  /** The device it is bound to. */
  readonly device: Device;
  /** The embedded dev_pagemap. */
  readonly pagemap: DevPagemap;
  /** The driver's callbacks. */
  readonly ops: HmmDevmemOps;
  /** The embedded percpu_ref. */
  readonly ref: PercpuRef;
  /** hmm-page-fault-move: the fault callback (null before that change). */
  page_fault: DevPageFault | null = null;
  /** Simulator: the memory was freed (devres_free / devm release); a stale radix key still points here. */
  freed = false;

  /** @internal use hmm_devmem_add / hmm_devmem_add_resource. */
  constructor(device: Device, ops: HmmDevmemOps, completionName: string) {
    this.device = device;
    this.ops = ops;
    this.completion = new Completion(completionName);
    this.ref = new HmmDevmemRef(this);
    this.completion.completer = this.ref;
    this.pagemap = new HmmDevmemPagemap(this);
  }
}

/** mm/hmm.c's device-memory globals. */
export interface HmmState {
  /** `static RADIX_TREE(hmm_devmem_radix, GFP_KERNEL)`: section number → devmem (levels 0..5). */
  readonly hmm_devmem_radix: RadixTreeRoot<HmmDevmem>;
  /** `static DEFINE_MUTEX(hmm_devmem_lock)`. */
  readonly hmm_devmem_lock: Mutex;
  /** Simulated cost of one radix node visit (the XArray's xarray.levelCostWarm: same nodes). */
  readonly nodeNs: number;
  /** Simulator: every devmem allocated, in order (including failed and freed ones). */
  readonly devmems: HmmDevmem[];
}

/** The HMM globals of a kernel, created on first use. */
export const HMM: SubsystemKey<HmmState> = {
  name: "hmm",
  create: (k: Kernel) => ({
    hmm_devmem_radix: RADIX_TREE<HmmDevmem>(k),
    hmm_devmem_lock: new Mutex("hmm_devmem_lock"),
    nodeNs: k.cost.get("xarray.levelCostWarm"),
    devmems: [],
  }),
};

/**
 * Every devmem this kernel allocated, in order — including those whose
 * registration failed (the kernel returns only an ERR_PTR for them) — for
 * tests and notebooks; `device` narrows to one device.
 */
export function hmmDevmems(k: Kernel, device?: Device): HmmDevmem[] {
  const all = k.state(HMM).devmems;
  return device === undefined ? [...all] : all.filter((d) => d.device === device);
}

/** The section radix of a kernel (levels 0..5; empty from patch 6 on). */
export function hmmDevmemRadix(k: Kernel): RadixTreeRoot<HmmDevmem> {
  return k.state(HMM).hmm_devmem_radix;
}

/**
 * container_of(pgmap, struct hmm_devmem, pagemap): the devmem embedding
 * `pgmap`, or null when the pgmap is not an HMM one. This is what
 * device_private_entry_fault does with hmm-page-fault-move.
 */
export function to_hmm_devmem(pgmap: DevPagemap | null): HmmDevmem | null {
  return pgmap instanceof HmmDevmemPagemap ? pgmap.devmem : null;
}

function devmemOfRef(ref: PercpuRef): HmmDevmem {
  if (!(ref instanceof HmmDevmemRef)) {
    throw new TypeError("Cannot find the hmm_devmem of this percpu_ref: it is not a devmem's ref");
  }
  return ref.devmem;
}

function emit(
  k: Kernel,
  op: HmmEvent["op"],
  devmem: HmmDevmem,
  fn: string,
  start: number,
  n: number,
  ret: number,
  other = "",
): void {
  k.trace.emit({ kind: "hmm", op, dev: devmem.device.name, fn, start, n, other, ret });
}

/** dev_WARN(dev, fmt): WARN(1, "%s %s: " fmt, dev_driver_string(dev), dev_name(dev)). */
function dev_WARN(k: Kernel, dev: Device, msg: string): void {
  WARN(k, true, `${dev_driver_string(dev)} ${dev_name(dev)}: ${msg}`);
}

/**
 * `nid = dev_to_node(device); if (nid < 0) nid = numa_mem_id();` — the
 * model's devices carry no node (NUMA_NO_NODE) and every CPU is on node 0.
 */
function devNid(_dev: Device): number {
  return 0;
}

/** The section-aligned span of a resource (the ALIGN arithmetic of hmm_devmem_pages_create). */
function alignedSpan(res: Resource): { align_start: number; align_size: number } {
  const align_start = Math.floor(res.start / SECTION_SIZE) * SECTION_SIZE;
  const align_size = Math.ceil((res.start + resource_size(res)) / SECTION_SIZE) * SECTION_SIZE -
    align_start;
  return { align_start, align_size };
}

/**
 * wait_for_completion(&devmem->completion) inside `fn`, with trace events
 * around it (which function the task blocks in, and for how long).
 */
function* waitDevmem(k: Kernel, devmem: HmmDevmem, fn: string): KGen<void> {
  const t0 = k.clock.now;
  if (k.trace.on) emit(k, "wait", devmem, fn, devmem.resource?.start ?? 0, 0, 0);
  yield* wait_for_completion(k, devmem.completion);
  if (k.trace.on) emit(k, "woken", devmem, fn, devmem.resource?.start ?? 0, k.clock.now - t0, 0);
}

/**
 * hmm_devmem_ref_kill (mm/hmm.c). Levels 0..5 a devm action on `&devmem->ref`;
 * from patch 6/7 `pgmap->kill`. Kills the ref; before patch 6 it then waits
 * for the completion (the last reference) and, before patch 5, unregisters its
 * own devm action — which WARNs when devres is the one running it (the node is
 * already off the list) or when it was never registered (the error paths).
 * Sleeps: call with `yield*`.
 */
export function* hmm_devmem_ref_kill(k: Kernel, ref: PercpuRef): KGen<void> {
  const devmem = devmemOfRef(ref);
  percpu_ref_kill(k, ref);
  // patch 6/7: the wait for the last reference moves to hmm_devmem_ref_exit
  if (!k.applied(6)) yield* waitDevmem(k, devmem, "hmm_devmem_ref_kill");
  // patch 5/7: devm semantics; the action no longer unregisters itself
  if (!k.applied(5)) devm_remove_action(k, devmem.device, hmm_devmem_ref_kill, ref);
}

/**
 * hmm_devmem_ref_exit (mm/hmm.c). A devm action on `&devmem->ref` up to v5.0;
 * `pgmap->cleanup` with 50f44ee7248a. From patch 6/7 it first waits for the
 * completion (all references gone); then percpu_ref_exit; before patch 5 it
 * unregisters its own devm action (WARN when devres runs it, none when
 * hmm_devmem_remove or an error path calls it while it is registered).
 * Sleeps: call with `yield*`.
 */
export function* hmm_devmem_ref_exit(k: Kernel, ref: PercpuRef): KGen<void> {
  const devmem = devmemOfRef(ref);
  // patch 6/7: wait here, now that devm_memremap_pages_release drops the page refs
  if (k.applied(6)) yield* waitDevmem(k, devmem, "hmm_devmem_ref_exit");
  percpu_ref_exit(k, ref);
  // patch 5/7: devm semantics; the action no longer unregisters itself
  if (!k.applied(5)) devm_remove_action(k, devmem.device, hmm_devmem_ref_exit, ref);
}

/**
 * hmm_devmem_fault (mm/hmm.c, static): the dev_page_fault_t HMM installs —
 * `page->pgmap->data` is the devmem; forwards to `ops->fault`. Reading
 * page->pgmap of a removed section Oopses.
 */
export function hmm_devmem_fault(
  k: Kernel,
  vma: unknown,
  addr: number,
  page: Page,
  flags: number,
  pmdp: unknown,
): number {
  const devmem = page_pgmap(k, page)!.data as HmmDevmem;
  return devmem.ops.fault(k, devmem, vma, addr, page, flags, pmdp);
}

/**
 * hmm_devmem_free (mm/hmm.c, static): `pgmap->page_free` — clears
 * page->mapping (not modelled) and forwards to `ops->free(devmem, page)`.
 */
export function hmm_devmem_free(k: Kernel, page: Page, data: unknown): void {
  const devmem = data as HmmDevmem;
  if (k.trace.on) emit(k, "page_free", devmem, "hmm_devmem_free", page * PAGE_SIZE, 1, 0);
  devmem.ops.free(k, devmem, page);
}

/**
 * The fault handler device_private_entry_fault (kernel/memremap.c) calls for
 * a device-private `page`: `page->pgmap->page_fault` before
 * hmm-page-fault-move, `container_of(page->pgmap, hmm_devmem,
 * pagemap)->page_fault` with it. The hook the CPU fault path uses.
 */
export function devicePrivateFaultHandler(k: Kernel, page: Page): DevPageFault | null {
  const pgmap = page_pgmap(k, page);
  // hmm-page-fault-move: device_private_entry_fault goes through the devmem
  if (k.fixed("hmm-page-fault-move")) return to_hmm_devmem(pgmap)?.page_fault ?? null;
  return pgmap?.page_fault ?? null;
}

/**
 * hmm_devmem_radix_release(resource) (mm/hmm.c, static, levels 0..5): under
 * hmm_devmem_lock, deletes the keys resource->start >> 27,
 * (start + 128 MiB) >> 27, ... while the key is ≤ resource->end. It steps from
 * the UNALIGNED start: for a resource that is not section aligned and ends in
 * a section its steps skip, that last section's key stays behind.
 * Sleeps: call with `yield*`.
 */
export function* hmm_devmem_radix_release(k: Kernel, resource: Resource): KGen<void> {
  const st = k.state(HMM);
  yield* mutex_lock(k, st.hmm_devmem_lock);
  let n = 0;
  let first = -1;
  for (let key = resource.start; key <= resource.end; key += SECTION_SIZE) {
    const nr = Math.floor(key / SECTION_SIZE);
    const old = radix_tree_delete(st.hmm_devmem_radix, nr);
    k.clock.advance(st.hmm_devmem_radix.lastNodesTouched * st.nodeNs);
    if (old !== null) {
      if (first < 0) first = nr;
      n++;
    }
  }
  mutex_unlock(k, st.hmm_devmem_lock);
  if (k.trace.on) {
    k.trace.emit({
      kind: "hmm",
      op: "radix_delete",
      dev: resource.name ?? "",
      fn: "hmm_devmem_radix_release",
      start: Math.max(first, 0) * SECTION_SIZE,
      n,
      other: "",
      ret: 0,
    });
  }
}

/**
 * hmm_devmem_release (mm/hmm.c, static, levels 0..5). Before patch 5 the
 * devres release of the devmem node — `(dev, data)` in the kernel; the model
 * takes the devmem and uses devmem->device as `dev` — and from patch 5 a devm
 * action on the devmem. Before patch 5: dev_WARN "hmm_devmem_release: page
 * mapping is still live!" if percpu_ref_tryget_live succeeds (the ref was not
 * killed), and put it back. Then removes ALIGN(resource_size, 128 MiB) bytes
 * from the section-aligned start — __remove_pages for DEVICE_PRIVATE (by
 * resource desc), arch_remove_memory otherwise — under the hotplug lock, and
 * deletes the section keys (hmm_devmem_radix_release). Nothing waits for page
 * users: HMM pages hold no references on the devmem's ref at these levels.
 * Sleeps: call with `yield*`.
 */
export function* hmm_devmem_release(k: Kernel, data: HmmDevmem): KGen<void> {
  const devmem = data;
  const resource = devmem.resource!;
  // patch 5/7: the "still live" check goes (devm semantics)
  if (!k.applied(5)) {
    if (percpu_ref_tryget_live(k, devmem.ref)) {
      dev_WARN(k, devmem.device, "hmm_devmem_release: page mapping is still live!");
      percpu_ref_put(k, devmem.ref);
    }
  }
  if (k.trace.on) emit(k, "release", devmem, "hmm_devmem_release", resource.start, 0, 0);
  // pages are dead and unused (so the code assumes): undo the arch mapping
  const start_pfn = Math.floor(resource.start / SECTION_SIZE) * PAGES_PER_SECTION;
  const npages = Math.ceil(resource_size(resource) / SECTION_SIZE) * PAGES_PER_SECTION;
  const zone = page_zone(k, pfn_to_page(k, start_pfn));
  yield* mem_hotplug_begin(k);
  if (resource.desc === IORES_DESC_DEVICE_PRIVATE_MEMORY) {
    __remove_pages(k, zone, start_pfn, npages, null);
  } else {
    arch_remove_memory(k, start_pfn * PAGE_SIZE, npages * PAGE_SIZE, null);
  }
  mem_hotplug_done(k);
  yield* hmm_devmem_radix_release(k, resource);
}

/**
 * hmm_devmem_pages_create(devmem) (mm/hmm.c, static, levels 0..5): HMM's own
 * copy of the hotplug half of devm_memremap_pages. 0 or -errno:
 *
 * 1. Align to sections; region_intersects against System RAM: mixed →
 *    WARN_ONCE "hmm_devmem_pages_create attempted on mixed region %pr",
 *    -ENXIO; RAM → -ENXIO.
 * 2. pagemap: type PUBLIC if the resource's desc is DEVICE_PUBLIC_MEMORY, else
 *    PRIVATE; res = a copy of the resource; page_fault, page_free, dev, ref
 *    (&devmem->ref), data (devmem).
 * 3. Under hmm_devmem_lock, for every section key of the aligned range: a
 *    devmem already there → dev_err "hmm_devmem_pages_create: collides with
 *    mapping for <its device>", -EBUSY — the keys this call inserted stay; else
 *    radix_tree_insert (failure: dev_err "...: failed: <err>", keys released
 *    from the unaligned start, the error returned).
 * 4. Under the hotplug lock: PUBLIC → arch_add_memory (linear map), PRIVATE →
 *    add_pages (struct pages only); failure → untrack_pfn of a range never
 *    tracked, keys released, error; then move_pfn_range_to_zone(ZONE_DEVICE).
 * 5. memmap_init_zone_device over the aligned range (outside the lock).
 *
 * No percpu_ref_get_many, no track_pfn_remap, no KASAN shadow, no pgmap_array.
 * Sleeps: call with `yield*`.
 */
export function* hmm_devmem_pages_create(k: Kernel, devmem: HmmDevmem): KGen<number> {
  const device = devmem.device;
  const resource = devmem.resource!;
  const { align_start, align_size } = alignedSpan(resource);

  const is_ram = region_intersects(
    k,
    align_start,
    align_size,
    IORESOURCE_SYSTEM_RAM,
    IORES_DESC_NONE,
  );
  if (is_ram === REGION_MIXED) {
    WARN_ONCE(
      k,
      true,
      `hmm_devmem_pages_create attempted on mixed region ${resource_string(resource, "r")}`,
    );
    return -ENXIO;
  }
  if (is_ram === REGION_INTERSECTS) return -ENXIO;

  const pagemap = devmem.pagemap;
  pagemap.type = resource.desc === IORES_DESC_DEVICE_PUBLIC_MEMORY
    ? MEMORY_DEVICE_PUBLIC
    : MEMORY_DEVICE_PRIVATE;
  pagemap.res = copyResource(resource);
  pagemap.page_fault = hmm_devmem_fault;
  pagemap.page_free = hmm_devmem_free;
  pagemap.dev = device;
  pagemap.ref = devmem.ref;
  pagemap.data = devmem;

  const st = k.state(HMM);
  yield* mutex_lock(k, st.hmm_devmem_lock);
  const align_end = align_start + align_size - 1;
  let inserted = 0;
  for (let key = align_start; key <= align_end; key += SECTION_SIZE) {
    const nr = Math.floor(key / SECTION_SIZE);
    const dup = radix_tree_lookup(st.hmm_devmem_radix, nr);
    k.clock.advance(st.hmm_devmem_radix.lastNodesTouched * st.nodeNs);
    if (dup !== null) {
      const other = dev_name(dup.device); // a stale key: dup may be freed
      dev_err(k, device, `hmm_devmem_pages_create: collides with mapping for ${other}`);
      mutex_unlock(k, st.hmm_devmem_lock);
      if (k.trace.on) emitRadix(k, devmem, "collide", align_start, inserted, -EBUSY, other);
      return -EBUSY; // goto error: the keys inserted so far stay
    }
    const ret = radix_tree_insert(k, st.hmm_devmem_radix, nr, devmem);
    k.clock.advance(st.hmm_devmem_radix.lastNodesTouched * st.nodeNs);
    if (ret) {
      dev_err(k, device, `hmm_devmem_pages_create: failed: ${ret}`);
      mutex_unlock(k, st.hmm_devmem_lock);
      yield* hmm_devmem_radix_release(k, resource);
      return ret;
    }
    inserted++;
  }
  mutex_unlock(k, st.hmm_devmem_lock);
  if (k.trace.on) emitRadix(k, devmem, "radix_insert", align_start, inserted, 0, "");

  const nid = devNid(device);
  const start_pfn = align_start / PAGE_SIZE;
  const nr_pages = align_size / PAGE_SIZE;
  yield* mem_hotplug_begin(k);
  let ret: number;
  if (pagemap.type === MEMORY_DEVICE_PUBLIC) {
    ret = arch_add_memory(k, nid, align_start, align_size, null, false);
  } else {
    ret = add_pages(k, nid, start_pfn, nr_pages, null, false);
  }
  if (ret) {
    mem_hotplug_done(k);
    untrack_pfn(k, null, start_pfn, align_size); // error_add_memory: never tracked
    yield* hmm_devmem_radix_release(k, resource);
    return ret;
  }
  const zone = NODE_DATA(k, nid).node_zones[ZONE_DEVICE]!;
  move_pfn_range_to_zone(k, zone, start_pfn, nr_pages, null);
  mem_hotplug_done(k);
  // struct page init outside the hotplug lock
  memmap_init_zone_device(k, zone, start_pfn, nr_pages, pagemap);
  return 0;
}

function emitRadix(
  k: Kernel,
  devmem: HmmDevmem,
  op: "radix_insert" | "collide",
  start: number,
  n: number,
  ret: number,
  other: string,
): void {
  emit(k, op, devmem, "hmm_devmem_pages_create", start, n, ret, other);
}

/** `pagemap.res = *resource`: an unlinked copy of the resource. */
function copyResource(r: Resource): Resource {
  return new Resource({ name: r.name, start: r.start, end: r.end, flags: r.flags, desc: r.desc });
}

/** hmm_devmem_match (mm/hmm.c, static, levels 0..4): the devres node of the devmem owning `resource`. */
function hmm_devmem_match(_dev: Device, data: unknown, match_data: unknown): boolean {
  return (data as HmmDevmem).resource === match_data;
}

/**
 * The devres node of a v4.20 devmem: devres_alloc_node(hmm_devmem_release,
 * ...) added with devres_add on success; its release is hmm_devmem_release,
 * after which the devmem memory is freed.
 */
function devmemNode(devmem: HmmDevmem): DevresNode {
  return {
    kind: "alloc",
    name: "hmm_devmem_release",
    fn: null,
    data: devmem,
    release: function* (kk: Kernel): KGen<void> {
      yield* hmm_devmem_release(kk, devmem);
      devmem.freed = true;
    },
    group: null,
  };
}

/**
 * devres_release(dev, hmm_devmem_release, hmm_devmem_match, resource)
 * (drivers/base/devres.c): find the newest hmm_devmem_release node whose
 * devmem owns `resource`, unlink it, run its release, free it; -ENOENT (no
 * WARN) when there is none. Sleeps: call with `yield*`.
 */
function* devres_release_devmem(k: Kernel, dev: Device, resource: Resource): KGen<number> {
  const i = dev.devres.findLastIndex((n) =>
    n.kind === "alloc" && n.name === "hmm_devmem_release" && hmm_devmem_match(dev, n.data, resource)
  );
  if (i < 0) return -ENOENT;
  const [node] = dev.devres.splice(i, 1);
  if (k.trace.on) k.trace.emit({ kind: "devres", op: "release", dev: dev.name, name: node!.name });
  yield* (node!.release!(k) as KGen<void>);
  return 0;
}

/** hmm_devmem_pages_remove(devmem) (mm/hmm.c, static, levels 0..4). Sleeps. */
function* hmm_devmem_pages_remove(k: Kernel, devmem: HmmDevmem): KGen<void> {
  yield* devres_release_devmem(k, devmem.device, devmem.resource!);
}

/**
 * The error labels of v4.20 hmm_devmem_add / hmm_devmem_add_resource
 * (levels 0..4), entered at `label` and falling through: error_pages releases
 * the memory region; error_no_resource / error_devm_add_action kill the ref —
 * waiting for the completion — and exit it, each also calling
 * devm_remove_action on itself (the kill was never registered: a WARN; the
 * exit WARNs too if its own registration is what failed); error_percpu_ref
 * frees the devmem (devres_free). Sleeps.
 */
function* hmm_devmem_add_unwind(
  k: Kernel,
  devmem: HmmDevmem,
  label: "error_pages" | "error_no_resource" | "error_devm_add_action" | "error_percpu_ref",
  ret: number,
  fn: string,
): KGen<ErrPtr> {
  if (label === "error_pages") {
    const r = devmem.resource!;
    devm_release_mem_region(k, devmem.device, r.start, resource_size(r));
  }
  if (label !== "error_percpu_ref") {
    yield* hmm_devmem_ref_kill(k, devmem.ref);
    yield* hmm_devmem_ref_exit(k, devmem.ref);
  }
  devmem.freed = true; // devres_free(devmem)
  return failed(k, devmem, ret, fn);
}

function failed(k: Kernel, devmem: HmmDevmem, ret: number, fn: string): ErrPtr {
  if (k.trace.on) emit(k, "add_failed", devmem, fn, devmem.resource?.start ?? 0, 0, ret);
  return ERR_PTR(ret);
}

/**
 * Allocates and initialises a devmem: before patch 5 a devres node of
 * hmm_devmem_release not yet added (kzalloc; fault point "kmalloc"), from
 * patch 5 devm_kzalloc (fault point "devm_kmalloc"). NULL on failure.
 */
function hmm_devmem_alloc(
  k: Kernel,
  device: Device,
  ops: HmmDevmemOps,
  res: Resource | null,
): HmmDevmem | null {
  // patch 6/7 moves the wait: the completion is named after the function that waits on it
  const waiter = k.applied(6) ? "hmm_devmem_ref_exit" : "hmm_devmem_ref_kill";
  const make = () => {
    const devmem = new HmmDevmem(device, ops, `devmem->completion of ${device.name} (${waiter})`);
    devmem.resource = res;
    k.state(HMM).devmems.push(devmem);
    return devmem;
  };
  // patch 5/7: devm_kzalloc (freed with the device's devres) instead of devres_alloc_node
  if (k.applied(5)) return devm_kzalloc(k, device, make);
  return kzalloc(k, make);
}

/**
 * The devm_memremap_pages half of hmm_devmem_add / hmm_devmem_add_resource
 * from patch 6/7: fill the pagemap (type, a copy of the resource, page_free,
 * no altmap, ref, data, kill = hmm_devmem_ref_kill; page_fault in the pagemap
 * or — hmm-page-fault-move — in the devmem; cleanup with 50f44ee7248a) and map
 * it. Returns the devmem or devm_memremap_pages' ERR_PTR. Sleeps.
 */
function* hmm_devmem_memremap(
  k: Kernel,
  devmem: HmmDevmem,
  type: typeof MEMORY_DEVICE_PRIVATE | typeof MEMORY_DEVICE_PUBLIC,
  fn: string,
): KGen<HmmDevmem | ErrPtr> {
  const pagemap = devmem.pagemap;
  // hmm-page-fault-move: dev_page_fault_t lives in hmm_devmem, not in dev_pagemap
  if (k.fixed("hmm-page-fault-move")) devmem.page_fault = hmm_devmem_fault;
  else pagemap.page_fault = hmm_devmem_fault;
  pagemap.type = type;
  pagemap.res = copyResource(devmem.resource!);
  pagemap.page_free = hmm_devmem_free;
  pagemap.altmap_valid = false;
  pagemap.ref = devmem.ref;
  pagemap.data = devmem;
  pagemap.kill = hmm_devmem_ref_kill;
  // 50f44ee7248a: the wait-and-exit becomes pgmap->cleanup, run before the memory goes
  if (k.fixed("50f44ee7248a")) pagemap.cleanup = hmm_devmem_ref_exit;
  const result = yield* devm_memremap_pages(k, devmem.device, pagemap);
  if (IS_ERR(result)) {
    failed(k, devmem, result.err, fn);
    return result;
  }
  return added(k, devmem, fn);
}

function added(k: Kernel, devmem: HmmDevmem, fn: string): HmmDevmem {
  if (k.trace.on) {
    const r = devmem.resource!;
    emit(k, "add", devmem, fn, r.start, Math.ceil(resource_size(r) / SECTION_SIZE), 0);
  }
  return devmem;
}

/**
 * Registers hmm_devmem_ref_exit as a devm action on `&devmem->ref`: up to
 * v5.0 (50f44ee7248a makes it pgmap->cleanup instead). Before patch 5 a plain
 * devm_add_action; from patch 5 devm_add_action_or_reset — whose failure runs
 * the exit at once (from patch 6 that exit first waits for a ref nobody has
 * killed). Returns 0 or -errno. Sleeps.
 */
function* registerRefExit(k: Kernel, devmem: HmmDevmem): KGen<number> {
  // 50f44ee7248a: no devm action; the exit is pgmap->cleanup
  if (k.fixed("50f44ee7248a")) return 0;
  // patch 5/7: devm_add_action_or_reset
  if (k.applied(5)) {
    return yield* devm_add_action_or_reset(k, devmem.device, hmm_devmem_ref_exit, devmem.ref);
  }
  return devm_add_action(k, devmem.device, hmm_devmem_ref_exit, devmem.ref);
}

/**
 * hmm_devmem_add(ops, device, size) (mm/hmm.c): finds a free physical range
 * at the top of the address space, claims it for `device` and hotplugs it as
 * MEMORY_DEVICE_PRIVATE ZONE_DEVICE memory. Returns the devmem or an ERR_PTR.
 *
 * Order: dev_pagemap_get_ops (never undone); allocate the devmem (-ENOMEM);
 * percpu_ref_init(hmm_devmem_ref_release); register hmm_devmem_ref_exit (up
 * to v5.0); the top-down search (resource.ts hmm_find_free_region) with
 * size = ALIGN(size, 128 MiB), devm_request_mem_region on the first free slot
 * (NULL: -ENOMEM, no retry; no free slot: -ERANGE); desc =
 * DEVICE_PRIVATE_MEMORY, pfn_first / pfn_last; then
 *
 * - levels 0..4: hmm_devmem_pages_create; devres_add(devmem); devm_add_action
 *   (hmm_devmem_ref_kill) — failure: hmm_devmem_remove. Every error before
 *   devres_add unwinds through the error labels: kill + wait + exit, with a
 *   devm_remove_action WARN for the kill never registered (none for a
 *   percpu_ref_init failure, two if the exit's own registration failed).
 * - level 5: errors return directly (devm unwinds at probe failure);
 *   devm_add_action_or_reset(hmm_devmem_release) — and NO kill action: until
 *   patch 6 nothing kills this ref at unbind.
 * - patch 6/7 on: devm_memremap_pages with pgmap->kill = hmm_devmem_ref_kill.
 *
 * Sleeps: call with `yield*` or `machine.call`.
 *
 * @example A 1 GiB region at the top of a 46-bit address space
 * ```ts
 * import { createMachine } from "../machine.ts";
 * import { Device } from "./device.ts";
 * import { IS_ERR } from "./errno.ts";
 * import { hmm_devmem_add, type HmmDevmem } from "./hmm.ts";
 * import { mm_init } from "./mm/mod.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const m = createMachine({ series: "v4.20" });
 * mm_init(m.k, { ram: [{ start: 0, end: 2 ** 32 }] });
 * const ops = { free() {}, fault: () => 0 };
 * const devmem = m.call(hmm_devmem_add, ops, new Device(m.k, "gpu0"), 2 ** 30);
 * assert(!IS_ERR(devmem));
 * assertEquals((devmem as HmmDevmem).resource!.start, 0x3fffc0000000);
 * assertEquals((devmem as HmmDevmem).pfn_first, 0x3fffc0000);
 * ```
 */
export function* hmm_devmem_add(
  k: Kernel,
  ops: HmmDevmemOps,
  device: Device,
  size: number,
): KGen<HmmDevmem | ErrPtr> {
  dev_pagemap_get_ops(k);
  const devmem = hmm_devmem_alloc(k, device, ops, null);
  if (devmem === null) return ERR_PTR(-ENOMEM);
  const hmm_devmem_ref_release = (_ref: PercpuRef) => complete(k, devmem.completion);
  let ret = percpu_ref_init(k, devmem.ref, hmm_devmem_ref_release, 0, 0);
  if (ret) {
    // patch 5/7: errors return directly; devm unwinds what was registered
    if (k.applied(5)) return failed(k, devmem, ret, "hmm_devmem_add");
    return yield* hmm_devmem_add_unwind(k, devmem, "error_percpu_ref", ret, "hmm_devmem_add");
  }
  ret = yield* registerRefExit(k, devmem);
  if (ret) {
    // patch 5/7: errors return directly
    if (k.applied(5)) return failed(k, devmem, ret, "hmm_devmem_add");
    return yield* hmm_devmem_add_unwind(k, devmem, "error_devm_add_action", ret, "hmm_devmem_add");
  }

  const mm = k.state(MM);
  const addr = hmm_find_free_region(k, size, mm.MAX_PHYSMEM_BITS);
  size = Math.ceil(size / SECTION_SIZE) * SECTION_SIZE;
  if (addr >= 0) {
    devmem.resource = devm_request_mem_region(k, device, addr, size, dev_name(device));
    if (devmem.resource === null) {
      // patch 5/7: errors return directly
      if (k.applied(5)) return failed(k, devmem, -ENOMEM, "hmm_devmem_add");
      return yield* hmm_devmem_add_unwind(
        k,
        devmem,
        "error_no_resource",
        -ENOMEM,
        "hmm_devmem_add",
      );
    }
  } else {
    // patch 5/7: errors return directly
    if (k.applied(5)) return failed(k, devmem, -ERANGE, "hmm_devmem_add");
    return yield* hmm_devmem_add_unwind(k, devmem, "error_no_resource", -ERANGE, "hmm_devmem_add");
  }
  devmem.resource.desc = IORES_DESC_DEVICE_PRIVATE_MEMORY;
  devmem.pfn_first = devmem.resource.start / PAGE_SIZE;
  devmem.pfn_last = devmem.pfn_first + resource_size(devmem.resource) / PAGE_SIZE;

  // patch 6/7: devm_memremap_pages replaces hmm_devmem_pages_create
  if (k.applied(6)) {
    return yield* hmm_devmem_memremap(k, devmem, MEMORY_DEVICE_PRIVATE, "hmm_devmem_add");
  }

  ret = yield* hmm_devmem_pages_create(k, devmem);
  if (ret) {
    // patch 5/7: errors return directly
    if (k.applied(5)) return failed(k, devmem, ret, "hmm_devmem_add");
    return yield* hmm_devmem_add_unwind(k, devmem, "error_pages", ret, "hmm_devmem_add");
  }
  // patch 5/7: hmm_devmem_release becomes a devm action, and no kill is registered
  if (k.applied(5)) {
    ret = yield* devm_add_action_or_reset(k, device, hmm_devmem_release, devmem);
    if (ret) return failed(k, devmem, ret, "hmm_devmem_add");
    return added(k, devmem, "hmm_devmem_add");
  }
  devres_add(k, device, devmemNode(devmem));
  ret = devm_add_action(k, device, hmm_devmem_ref_kill, devmem.ref);
  if (ret) {
    yield* hmm_devmem_remove(k, devmem);
    return failed(k, devmem, ret, "hmm_devmem_add");
  }
  return added(k, devmem, "hmm_devmem_add");
}

/**
 * hmm_devmem_add_resource(ops, device, res) (mm/hmm.c): hotplugs the
 * caller's resource as MEMORY_DEVICE_PUBLIC (CPU-addressable, linear map)
 * ZONE_DEVICE memory. `res->desc` must be IORES_DESC_DEVICE_PUBLIC_MEMORY,
 * else ERR_PTR(-EINVAL) before anything else. Same flow as hmm_devmem_add
 * without the search (the resource stays the caller's):
 *
 * - levels 0..4: a hmm_devmem_pages_create failure (e.g. -EBUSY on a section
 *   another devmem holds) unwinds through kill + wait + exit: one
 *   devm_remove_action WARN (the kill was never registered); the devmem is
 *   freed but keys it inserted before the collision stay in the radix.
 * - level 5: errors return directly; on success the release AND a kill
 *   (hmm_devmem_ref_kill, still waiting for the completion) are registered
 *   with devm_add_action_or_reset — unlike hmm_devmem_add.
 * - patch 6/7 on: devm_memremap_pages (same-section conflicts are then only
 *   found at the two aligned ends, and returned before any kill up to v5.0).
 *
 * Sleeps: call with `yield*` or `machine.call`.
 */
export function* hmm_devmem_add_resource(
  k: Kernel,
  ops: HmmDevmemOps,
  device: Device,
  res: Resource,
): KGen<HmmDevmem | ErrPtr> {
  if (res.desc !== IORES_DESC_DEVICE_PUBLIC_MEMORY) return ERR_PTR(-EINVAL);
  dev_pagemap_get_ops(k);
  const devmem = hmm_devmem_alloc(k, device, ops, res);
  if (devmem === null) return ERR_PTR(-ENOMEM);
  const hmm_devmem_ref_release = (_ref: PercpuRef) => complete(k, devmem.completion);
  let ret = percpu_ref_init(k, devmem.ref, hmm_devmem_ref_release, 0, 0);
  if (ret) {
    // patch 5/7: errors return directly
    if (k.applied(5)) return failed(k, devmem, ret, "hmm_devmem_add_resource");
    return yield* hmm_devmem_add_unwind(
      k,
      devmem,
      "error_percpu_ref",
      ret,
      "hmm_devmem_add_resource",
    );
  }
  ret = yield* registerRefExit(k, devmem);
  if (ret) {
    // patch 5/7: errors return directly
    if (k.applied(5)) return failed(k, devmem, ret, "hmm_devmem_add_resource");
    return yield* hmm_devmem_add_unwind(
      k,
      devmem,
      "error_devm_add_action",
      ret,
      "hmm_devmem_add_resource",
    );
  }
  devmem.pfn_first = res.start / PAGE_SIZE;
  devmem.pfn_last = devmem.pfn_first + resource_size(res) / PAGE_SIZE;

  // patch 6/7: devm_memremap_pages replaces hmm_devmem_pages_create
  if (k.applied(6)) {
    return yield* hmm_devmem_memremap(k, devmem, MEMORY_DEVICE_PUBLIC, "hmm_devmem_add_resource");
  }

  ret = yield* hmm_devmem_pages_create(k, devmem);
  if (ret) {
    // patch 5/7: errors return directly
    if (k.applied(5)) return failed(k, devmem, ret, "hmm_devmem_add_resource");
    return yield* hmm_devmem_add_unwind(
      k,
      devmem,
      "error_devm_add_action",
      ret,
      "hmm_devmem_add_resource",
    );
  }
  // patch 5/7: release and kill become devm_add_action_or_reset actions
  if (k.applied(5)) {
    ret = yield* devm_add_action_or_reset(k, device, hmm_devmem_release, devmem);
    if (ret) return failed(k, devmem, ret, "hmm_devmem_add_resource");
    ret = yield* devm_add_action_or_reset(k, device, hmm_devmem_ref_kill, devmem.ref);
    if (ret) return failed(k, devmem, ret, "hmm_devmem_add_resource");
    return added(k, devmem, "hmm_devmem_add_resource");
  }
  devres_add(k, device, devmemNode(devmem));
  ret = devm_add_action(k, device, hmm_devmem_ref_kill, devmem.ref);
  if (ret) {
    yield* hmm_devmem_remove(k, devmem);
    return failed(k, devmem, ret, "hmm_devmem_add_resource");
  }
  return added(k, devmem, "hmm_devmem_add_resource");
}

/**
 * hmm_devmem_remove(devmem) (mm/hmm.c, levels 0..4; EXPORT_SYMBOL): removes
 * device memory before unbind. NULL does nothing. Kills the ref and waits for
 * the completion, exits it (both find their own devm actions: no WARN),
 * releases the devmem's devres node (hmm_devmem_release: pages, section
 * keys), and — unless the memory is DEVICE_PUBLIC — releases the memory
 * region, so the range is free for the next hmm_devmem_add.
 *
 * Patch 5/7 deleted it: calling it at level ≥ 5 is a RangeError (a module
 * importing it fails to load: "Unknown symbol hmm_devmem_remove").
 * Sleeps: call with `yield*` or `machine.call`.
 */
export function* hmm_devmem_remove(k: Kernel, devmem: HmmDevmem | null): KGen<void> {
  // patch 5/7: hmm_devmem_remove is deleted (devm semantics)
  if (k.applied(5)) {
    throw new RangeError(
      `Cannot call hmm_devmem_remove at ${k.series.label}: patch 5/7 removed it (the memory goes at unbind)`,
    );
  }
  if (devmem === null) return;
  const device = devmem.device;
  const resource = devmem.resource!;
  const start = resource.start;
  const size = resource_size(resource);
  const cdm = resource.desc === IORES_DESC_DEVICE_PUBLIC_MEMORY;
  yield* hmm_devmem_ref_kill(k, devmem.ref);
  yield* hmm_devmem_ref_exit(k, devmem.ref);
  yield* hmm_devmem_pages_remove(k, devmem);
  if (!cdm) devm_release_mem_region(k, device, start, size);
  if (k.trace.on) emit(k, "remove", devmem, "hmm_devmem_remove", start, 0, 0);
}

/** The section number (resource address >> PA_SECTION_SHIFT) of a physical address. */
export function hmmSectionKey(phys: number): number {
  return Math.floor(phys / 2 ** SECTION_SIZE_BITS);
}
