/**
 * kernel/memremap.c: devm_memremap_pages and its release, the pfn → pgmap
 * registry (pgmap_array) and get_dev_pagemap — at every level of the series
 * (v4.20 = level 0, patches 1/7..4/7 touch this file), at preset v5.0, and
 * with the 2019 fixes of preset v5.2 (devm_memunmap_pages, 50f44ee7248a).
 *
 * What each level gets wrong is modelled, not smoothed over:
 * - levels 0..2: the final devm_add_action's result is ignored (patch 3/7);
 *   the caller kills the ref before the release and waits after it;
 * - levels 0..1: a range that is all System RAM "succeeds" with nothing set
 *   up and returns __va(res->start) (patch 2/7);
 * - all levels and presets: the same-section conflict check probes only the
 *   two section-aligned ends of the range;
 * - up to v5.0: nothing waits for the ref to reach zero before the memory is
 *   removed, and the conflict path returns before `kill` (both fixed by
 *   50f44ee7248a, preset v5.2).
 *
 * One v5.0 line is not modelled: devm_memremap_pages_release computes
 * `nid = page_to_nid(first page of the aligned range)` for the nid argument
 * that 2c2a5af6fed2 ("mm, memory_hotplug: add nid parameter to
 * arch_remove_memory", v5.0-rc1, not part of the series) added. x86 ignores
 * that nid; but with an altmap the page is a never-initialised reserve page,
 * which a CONFIG_DEBUG_VM_PGFLAGS kernel (the memory model's page_to_nid)
 * turns into "kernel BUG at include/linux/mm.h" — fixed only in late 2019
 * by "mm/memunmap: don't access uninitialized memmap in memunmap_pages()"
 * (Fixes: 2c2a5af6fed2, Cc: stable 5.0+). No series key exists for it yet.
 *
 * @module
 */
import { isGenerator } from "../sim/sched.ts";
import type { KGen } from "../sim/task.ts";
import { dev_driver_string, dev_name, type Device } from "./device.ts";
import { devm_add_action, devm_add_action_or_reset, devm_release_action } from "./devres.ts";
import { EINVAL, ENOMEM, ENXIO, ERR_PTR, type ErrPtr } from "./errno.ts";
import type { MemremapEvent } from "./events.ts";
import type { Kernel, SubsystemKey } from "./kernel.ts";
import {
  percpu_ref_get_many,
  percpu_ref_put,
  percpu_ref_tryget_live,
  type PercpuRef,
} from "./percpu-refcount.ts";
import { WARN, WARN_ONCE } from "./printk.ts";
import {
  IORES_DESC_NONE,
  IORESOURCE_MEM,
  IORESOURCE_SYSTEM_RAM,
  REGION_DISJOINT,
  REGION_INTERSECTS,
  region_intersects,
  REGION_MIXED,
  Resource,
  resource_string,
} from "./resource.ts";
import { rcu_read_lock, rcu_read_unlock, synchronize_rcu } from "./sched.ts";
import { xa_err, xa_load, xa_store_range, XArray } from "./xarray.ts";
import { PAGE_SIZE, SECTION_SIZE, ZONE_DEVICE } from "./mm/constants.ts";
import { put_dev_pagemap } from "./mm/devmap.ts";
import { __va, add_pages, arch_add_memory, arch_remove_memory } from "./mm/init-64.ts";
import { kasan_add_zero_shadow, kasan_remove_zero_shadow } from "./mm/kasan.ts";
import { checkPfn, nullDeref, page_zone, pfn_to_page } from "./mm/memmap.ts";
import {
  __remove_pages,
  mem_hotplug_begin,
  mem_hotplug_done,
  move_pfn_range_to_zone,
} from "./mm/memory-hotplug.ts";
import { MM, NODE_DATA } from "./mm/mmzone.ts";
import { memmap_init_zone_device } from "./mm/page-alloc.ts";
import { track_pfn_remap, untrack_pfn } from "./mm/pat.ts";
import { put_page_range } from "./mm/swap.ts";
import { vmem_altmap_offset } from "./mm/sparse-vmemmap.ts";
import {
  type DevPagemap,
  type DevPagemapRefOp,
  MEMORY_DEVICE_PRIVATE,
  type PgmapResource,
} from "./mm/types.ts";

export { put_dev_pagemap } from "./mm/devmap.ts";
export { vmem_altmap_free, vmem_altmap_offset } from "./mm/sparse-vmemmap.ts";

/** What the kernel's `void *` result of devm_memremap_pages is here: a direct-map address or an ERR_PTR. */
export type MemremapResult = bigint | ErrPtr;

/** memremap.c's per-kernel globals. */
export interface MemremapState {
  /** `static DEFINE_XARRAY(pgmap_array)`: every pfn of each registered pgmap->res → the pgmap. */
  readonly pgmap_array: XArray<DevPagemap>;
  /** pgmaps devm_memremap_pages has set up whose release has not started: their pages' refs are the release's to drop. */
  readonly mapped: WeakSet<DevPagemap>;
  /** Simulated cost of one get_dev_pagemap slow path (cost model getDevPagemap.slowWarm, whole ns), read once. */
  readonly slowLookupNs: number;
}

/** The memremap.c globals of a kernel, created on first use. */
export const MEMREMAP: SubsystemKey<MemremapState> = {
  name: "memremap",
  create(k: Kernel): MemremapState {
    const mapped = new WeakSet<DevPagemap>();
    // tell the memmap's ref-holder source which devres action drops a pgmap's page refs
    k.state(MM).pageRefsDroppedBy = (pgmap) =>
      mapped.has(pgmap) ? { fn: devm_memremap_pages_release as never, data: pgmap } : undefined;
    return {
      pgmap_array: new XArray<DevPagemap>(),
      mapped,
      slowLookupNs: Math.max(0, Math.round(k.cost.get("getDevPagemap.slowWarm"))),
    };
  },
};

/** The pgmap_array of a kernel (for tests, plots and invariant checks). */
export function pgmapArray(k: Kernel): XArray<DevPagemap> {
  return k.state(MEMREMAP).pgmap_array;
}

function emit(k: Kernel, op: MemremapEvent["op"], pgmap: DevPagemap, ret: number): void {
  k.trace.emit({
    kind: "memremap",
    op,
    pgmap: pgmap.id,
    start: pgmap.res.start,
    end: pgmap.res.end,
    ret,
  });
}

/** PHYS_PFN(x). */
function PHYS_PFN(x: number): number {
  return Math.floor(x / PAGE_SIZE);
}

/** resource_size(res) of a pgmap's embedded resource. */
function res_size(res: PgmapResource): number {
  return res.end - res.start + 1;
}

/** The section-aligned span of a pgmap's range: [align_start, align_start + align_size). */
export function pgmapAlignedRange(pgmap: DevPagemap): { align_start: number; align_size: number } {
  const res = pgmap.res;
  const align_start = Math.floor(res.start / SECTION_SIZE) * SECTION_SIZE;
  const align_size = Math.ceil((res.start + res_size(res)) / SECTION_SIZE) * SECTION_SIZE -
    align_start;
  return { align_start, align_size };
}

/** "%pr" of pgmap->res (the embedded struct resource; flags default to IORESOURCE_MEM as every in-tree caller copies a memory resource). */
function res_pr(res: PgmapResource): string {
  const flags = (res as { flags?: number }).flags ?? IORESOURCE_MEM;
  return resource_string(new Resource({ name: null, start: res.start, end: res.end, flags }), "r");
}

/** The "%s %s: " prefix of dev_WARN / dev_WARN_ONCE (include/linux/device.h). */
function devPrefix(dev: Device | null): string {
  if (dev === null) return "(NULL device *): ";
  return `${dev_driver_string(dev)} ${dev_name(dev)}: `;
}

/** NUMA_NO_NODE. */
const NUMA_NO_NODE = -1;

/**
 * dev_to_node(dev): the model's devices carry no NUMA node (NUMA_NO_NODE),
 * as platform and nd devices without a firmware node affinity.
 */
function dev_to_node(_dev: Device): number {
  return NUMA_NO_NODE;
}

/** numa_mem_id(): the node of the current CPU — node 0 (the kernel layer keeps every CPU on node 0). */
function numa_mem_id(_k: Kernel): number {
  return 0;
}

/** Runs a pgmap->kill / ->cleanup callback, sleeping if it does; a NULL one is a NULL call (Oops). */
function* callRefOp(k: Kernel, op: DevPagemapRefOp | null, ref: PercpuRef | null): KGen<void> {
  if (op === null) nullDeref(k, 0, 1); // call *NULL
  const r = op(k, ref as PercpuRef);
  if (isGenerator(r)) yield* r;
}

/**
 * pfn_first(pgmap) (kernel/memremap.c, static): the first data pfn —
 * PHYS_PFN(res->start), plus vmem_altmap_offset when the altmap is in use.
 */
export function pfn_first(k: Kernel, pgmap: DevPagemap): number {
  let pfn = PHYS_PFN(pgmap.res.start);
  if (pgmap.altmap_valid) pfn += vmem_altmap_offset(k, pgmap.altmap);
  return pfn;
}

/** pfn_end(pgmap) (kernel/memremap.c, static): PHYS_PFN(res->start + resource_size(res)). */
export function pfn_end(_k: Kernel, pgmap: DevPagemap): number {
  return PHYS_PFN(pgmap.res.start + res_size(pgmap.res));
}

/**
 * pgmap_array_delete(res) (kernel/memremap.c, static): stores NULL over
 * every pfn of `res`, then synchronize_rcu() so that no get_dev_pagemap
 * still holds the old entry. Sleeps: call with `yield*`.
 */
export function* pgmap_array_delete(k: Kernel, res: PgmapResource): KGen<void> {
  xa_store_range(k, k.state(MEMREMAP).pgmap_array, PHYS_PFN(res.start), PHYS_PFN(res.end), null, 0);
  yield* synchronize_rcu(k);
}

/**
 * devm_memremap_pages_release(data) (kernel/memremap.c, static): the devres
 * action devm_memremap_pages registers. Order, by level:
 *
 * - levels 0..2: put_page on every data pfn (each page 1 → 0 drops one pgmap
 *   ref; a managed page still held elsewhere goes 2 → 1 and its page_free
 *   runs); if percpu_ref_tryget_live still succeeds, dev_WARN "page mapping
 *   is still live!" and put it back (the caller was to kill the ref first);
 *   remove the memory (mem_hotplug_begin, arch_remove_memory,
 *   kasan_remove_zero_shadow, mem_hotplug_done); untrack_pfn;
 *   pgmap_array_delete; dev_WARN_ONCE if the altmap still has pages allocated.
 * - patch 3/7 on: `pgmap->kill(ref)` first, then the puts; no "still live" check.
 * - patch 4/7 on: MEMORY_DEVICE_PRIVATE is removed with __remove_pages (no
 *   linear map to tear down, no KASAN shadow).
 * - 50f44ee7248a (v5.2): after the puts, `pgmap->cleanup(ref)` — which waits
 *   for the ref to reach zero — before any memory is removed.
 * - variant logan-wait-in-kill: the kill runs after the put loop.
 *
 * Until 50f44ee7248a nothing waits here: memory is removed while pages may
 * still be referenced (the 2018 teardown race). The put loop's cond_resched
 * every 1,024 pfns is not a preemption point in the model (it runs per
 * uniform run of pages, see put_page_range). Sleeps: call with `yield*`.
 */
export function* devm_memremap_pages_release(k: Kernel, pgmap: DevPagemap): KGen<void> {
  const dev = pgmap.dev;
  const res = pgmap.res;
  k.state(MEMREMAP).mapped.delete(pgmap);
  if (k.trace.on) emit(k, "release", pgmap, 0);
  let killAfterPuts = false;
  // patch 3/7: the release kills the ref itself, before the put loop
  if (k.applied(3)) {
    // variant logan-wait-in-kill: kill after the put loop instead
    killAfterPuts = k.variant("logan-wait-in-kill");
    if (!killAfterPuts) {
      if (k.trace.on) emit(k, "kill", pgmap, 0);
      yield* callRefOp(k, pgmap.kill, pgmap.ref);
    }
  }
  // for_each_device_pfn(pfn, pgmap) put_page(pfn_to_page(pfn)), per uniform run
  const first = pfn_first(k, pgmap);
  put_page_range(k, first, pfn_end(k, pgmap) - first);
  if (killAfterPuts) {
    if (k.trace.on) emit(k, "kill", pgmap, 0);
    yield* callRefOp(k, pgmap.kill, pgmap.ref);
  }
  // patch 3/7: the "still live" check goes with the kill moving in here
  if (!k.applied(3)) {
    const ref = pgmap.ref!;
    if (percpu_ref_tryget_live(k, ref)) {
      if (k.trace.on) emit(k, "still_live", pgmap, 0);
      WARN(k, true, `${devPrefix(dev)}devm_memremap_pages_release: page mapping is still live!`);
      percpu_ref_put(k, ref);
    }
  }
  // 50f44ee7248a: wait for the ref to go idle (and reap it) before removing memory
  if (k.fixed("50f44ee7248a")) {
    if (k.trace.on) emit(k, "cleanup", pgmap, 0);
    yield* callRefOp(k, pgmap.cleanup, pgmap.ref);
    if (k.trace.on) emit(k, "cleanup_done", pgmap, 0);
  }

  // pages are dead and unused (or so the 2018 code assumes): undo the arch mapping
  const { align_start, align_size } = pgmapAlignedRange(pgmap);
  yield* mem_hotplug_begin(k);
  if (k.trace.on) emit(k, "remove_memory", pgmap, 0);
  // patch 4/7: device-private memory has struct pages but no linear map
  if (k.applied(4) && pgmap.type === MEMORY_DEVICE_PRIVATE) {
    const pfn = PHYS_PFN(align_start);
    __remove_pages(k, page_zone(k, pfn_to_page(k, pfn)), pfn, PHYS_PFN(align_size), null);
  } else {
    arch_remove_memory(k, align_start, align_size, pgmap.altmap_valid ? pgmap.altmap : null);
    kasan_remove_zero_shadow(k, __va(k, align_start), align_size);
  }
  mem_hotplug_done(k);

  untrack_pfn(k, null, PHYS_PFN(align_start), align_size);
  if (k.trace.on) emit(k, "array_delete", pgmap, 0);
  yield* pgmap_array_delete(k, res);
  WARN_ONCE(
    k,
    pgmap.altmap.alloc !== 0,
    `${devPrefix(dev)}devm_memremap_pages_release: failed to free all reserved pages`,
  );
  if (k.trace.on) emit(k, "release_done", pgmap, 0);
}

/**
 * devm_memremap_pages(dev, pgmap) (kernel/memremap.c): creates struct pages
 * (ZONE_DEVICE) for pgmap->res, widened to whole 128 MiB sections, registers
 * every pfn of res in pgmap_array, takes one pgmap->ref reference per data
 * page, and registers devm_memremap_pages_release on `dev`. Returns the
 * direct-map address of res->start (`__va`, a bigint) or an ERR_PTR.
 *
 * Contract (kernel-doc notes): res, ref and type are filled in by the
 * caller; altmap only with altmap_valid; the ref is live on entry.
 * - Levels 0..2: the caller must kill the ref before the release runs and
 *   wait for it and percpu_ref_exit it after. A NULL ref is -EINVAL, but only
 *   after the conflict and RAM checks.
 * - Patch 3/7 on: ref and kill are required (-EINVAL first, nothing killed);
 *   the ref is killed at release time or if this routine fails — except on
 *   the same-section conflict path, which returns -ENOMEM without kill up to
 *   v5.0.
 * - 50f44ee7248a: cleanup is required too (WARN "Missing reference count
 *   teardown definition", -EINVAL); every failure after the check, the
 *   conflict path included, kills and cleans up.
 *
 * Steps: conflict probes at the two aligned ends (get_dev_pagemap; a live
 * pgmap there → dev_WARN "Conflicting mapping in same section", -ENOMEM);
 * region_intersects against System RAM (levels 0..1: mixed → WARN_ONCE,
 * -ENXIO, all RAM → `__va(res->start)` with nothing set up; patch 2/7 on:
 * either → WARN_ONCE "... attempted on ram|mixed region", -ENXIO);
 * xa_store_range; track_pfn_remap of the aligned range; under the hotplug
 * lock, kasan_add_zero_shadow + arch_add_memory (patch 4/7 on, for
 * MEMORY_DEVICE_PRIVATE: add_pages, no linear map) and
 * move_pfn_range_to_zone(ZONE_DEVICE); memmap_init_zone_device over the whole
 * aligned range (outside the lock); percpu_ref_get_many(pfn_end - pfn_first);
 * the devres action — levels 0..2 ignore devm_add_action's result, patch 3/7
 * on uses devm_add_action_or_reset and returns its error after the release
 * has run. Error unwinding: kasan shadow, untrack_pfn, pgmap_array_delete, in
 * that order; sections a failed hot-add already added stay.
 *
 * The final devres registration is fault point "devm_add_action" with
 * `{ caller: "devm_memremap_pages" }`. Sleeps: call with `yield*` or `machine.call`.
 *
 * @example Map 128 MiB of device memory at v5.0 and look a pfn up
 * ```ts
 * import { createMachine } from "../machine.ts";
 * import { Device } from "./device.ts";
 * import { IS_ERR } from "./errno.ts";
 * import { percpu_ref_init, percpu_ref_kill, PercpuRef } from "./percpu-refcount.ts";
 * import { DevPagemap, MEMORY_DEVICE_FS_DAX, mm_init } from "./mm/mod.ts";
 * import { devm_memremap_pages, get_dev_pagemap, put_dev_pagemap } from "./memremap.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const m = createMachine({ series: "v5.0" });
 * mm_init(m.k, { ram: [{ start: 0, end: 2 ** 32 }] });
 * const pgmap = new DevPagemap();
 * pgmap.type = MEMORY_DEVICE_FS_DAX;
 * pgmap.res = { start: 2 ** 34, end: 2 ** 34 + 2 ** 27 - 1 };
 * pgmap.ref = new PercpuRef();
 * percpu_ref_init(m.k, pgmap.ref, () => {}, 0, 0);
 * pgmap.kill = percpu_ref_kill;
 * const addr = m.call(devm_memremap_pages, new Device(m.k, "pmem0"), pgmap);
 * assert(!IS_ERR(addr));
 * assertEquals(pgmap.ref.value, 1 + 32768);
 * assert(get_dev_pagemap(m.k, 2 ** 22 + 5, null) === pgmap);
 * put_dev_pagemap(m.k, pgmap);
 * ```
 */
export function* devm_memremap_pages(
  k: Kernel,
  dev: Device,
  pgmap: DevPagemap,
): KGen<MemremapResult> {
  const altmap = pgmap.altmap_valid ? pgmap.altmap : null;
  const res = pgmap.res;
  checkPgmapRange(k, pgmap);
  const st = k.state(MEMREMAP);
  if (pgmap.id === 0) pgmap.id = k.newId();
  // hmm-page-fault-move: dev_pagemap has no page_fault member any more (it lives in hmm_devmem)
  if (k.fixed("hmm-page-fault-move") && pgmap.page_fault !== null) {
    throw new TypeError(
      `Cannot map pgmap ${pgmap.id} with page_fault set at ${k.series.label}: struct dev_pagemap has no page_fault member since hmm-page-fault-move (it is hmm_devmem->page_fault)`,
    );
  }
  // patch 3/7: ref and kill are required, checked before anything else (nothing to kill yet)
  if (k.applied(3)) {
    // 50f44ee7248a: cleanup is required too, and a missing member WARNs
    if (k.fixed("50f44ee7248a")) {
      if (pgmap.ref === null || pgmap.kill === null || pgmap.cleanup === null) {
        WARN(k, true, "Missing reference count teardown definition");
        return fail(k, pgmap, ERR_PTR(-EINVAL));
      }
    } else if (pgmap.ref === null || pgmap.kill === null) {
      return fail(k, pgmap, ERR_PTR(-EINVAL));
    }
  }

  const { align_start, align_size } = pgmapAlignedRange(pgmap);
  const align_end = align_start + align_size - 1;
  let error = 0;

  // the same-section conflict check: only the two aligned ends are probed
  for (const probe of [align_start, align_end]) {
    const conflict_pgmap = get_dev_pagemap(k, PHYS_PFN(probe), null);
    if (conflict_pgmap !== null) {
      if (k.trace.on) emit(k, "conflict", pgmap, -ENOMEM);
      WARN(k, true, `${devPrefix(dev)}Conflicting mapping in same section`);
      put_dev_pagemap(k, conflict_pgmap);
      // 50f44ee7248a: the conflict paths kill and clean up like every other failure
      if (k.fixed("50f44ee7248a")) return yield* err_array(k, pgmap, -ENOMEM);
      return fail(k, pgmap, ERR_PTR(-ENOMEM));
    }
  }

  const is_ram = region_intersects(
    k,
    align_start,
    align_size,
    IORESOURCE_SYSTEM_RAM,
    IORES_DESC_NONE,
  );
  // patch 2/7: any overlap with System RAM is an explicit -ENXIO
  if (k.applied(2)) {
    if (is_ram !== REGION_DISJOINT) {
      WARN_ONCE(
        k,
        true,
        `devm_memremap_pages attempted on ${is_ram === REGION_MIXED ? "mixed" : "ram"} region ${
          res_pr(res)
        }`,
      );
      return yield* err_array(k, pgmap, -ENXIO);
    }
  } else {
    if (is_ram === REGION_MIXED) {
      WARN_ONCE(k, true, `devm_memremap_pages attempted on mixed region ${res_pr(res)}`);
      return fail(k, pgmap, ERR_PTR(-ENXIO));
    }
    if (is_ram === REGION_INTERSECTS) {
      // "System RAM" passthrough: nothing registered, no struct pages, no refs, no devres
      if (k.trace.on) emit(k, "ram_passthrough", pgmap, 0);
      return __va(k, res.start);
    }
  }

  // patch 3/7: the NULL-ref check moved to the top
  if (!k.applied(3) && pgmap.ref === null) return fail(k, pgmap, ERR_PTR(-EINVAL));
  const ref = pgmap.ref!;

  pgmap.dev = dev;

  error = xa_err(
    xa_store_range(k, st.pgmap_array, PHYS_PFN(res.start), PHYS_PFN(res.end), pgmap, 0),
  );
  if (error) return yield* err_array(k, pgmap, error);
  if (k.trace.on) emit(k, "array_store", pgmap, 0);

  let nid = dev_to_node(dev);
  if (nid < 0) nid = numa_mem_id(k);

  error = track_pfn_remap(k, null, "PAGE_KERNEL", PHYS_PFN(align_start), 0, align_size);
  if (error) return yield* err_pfn_remap(k, pgmap, error);

  yield* mem_hotplug_begin(k);
  // patch 4/7: device-private memory gets struct pages only (add_pages), no linear map
  if (k.applied(4) && pgmap.type === MEMORY_DEVICE_PRIVATE) {
    error = add_pages(k, nid, PHYS_PFN(align_start), PHYS_PFN(align_size), null, false);
  } else {
    error = kasan_add_zero_shadow(k, __va(k, align_start), align_size);
    if (error) {
      mem_hotplug_done(k);
      return yield* err_kasan(k, pgmap, error);
    }
    error = arch_add_memory(k, nid, align_start, align_size, altmap, false);
  }
  const zone = NODE_DATA(k, nid).node_zones[ZONE_DEVICE]!;
  if (!error) {
    move_pfn_range_to_zone(k, zone, PHYS_PFN(align_start), PHYS_PFN(align_size), altmap);
  }
  mem_hotplug_done(k);
  if (error) return yield* err_add_memory(k, pgmap, error);

  // struct page init is deferred until here, outside the hotplug lock
  memmap_init_zone_device(k, zone, PHYS_PFN(align_start), PHYS_PFN(align_size), pgmap);
  percpu_ref_get_many(k, ref, pfn_end(k, pgmap) - pfn_first(k, pgmap));
  st.mapped.add(pgmap);

  // patch 3/7: check the final devres registration with _or_reset
  if (k.applied(3)) {
    error = yield* devm_add_action_or_reset(k, dev, devm_memremap_pages_release, pgmap);
    if (error) return fail(k, pgmap, ERR_PTR(error));
  } else {
    devm_add_action(k, dev, devm_memremap_pages_release, pgmap); // result ignored
  }
  if (k.trace.on) emit(k, "map", pgmap, 0);
  return __va(k, res.start);
}

/**
 * Simulator misuse of pgmap->res (never a kernel outcome): not integers, an
 * empty or inverted range, or one beyond the physical address space.
 */
function checkPgmapRange(k: Kernel, pgmap: DevPagemap): void {
  const { start, end } = pgmap.res;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
    throw new TypeError(
      `Cannot map pgmap with res { start: ${start}, end: ${end} }: res.start and res.end are integer byte addresses`,
    );
  }
  const hx = (n: number) => (n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);
  const what = `Cannot map pgmap [mem ${hx(start)}-${hx(end)}]`;
  if (start < 0) throw new RangeError(`${what}: a physical address is not negative`);
  if (end < start) {
    throw new RangeError(
      `${what}: the range is empty or inverted (res.end is the last byte, inclusive)`,
    );
  }
  const bits = k.state(MM).MAX_PHYSMEM_BITS;
  if (end >= 2 ** bits) {
    throw new RangeError(
      `${what}: it ends beyond the physical address space (2^${bits} bytes)`,
    );
  }
}

/** The trace entry of a failed devm_memremap_pages; returns the ERR_PTR. */
function fail(k: Kernel, pgmap: DevPagemap, p: ErrPtr): ErrPtr {
  if (k.trace.on) emit(k, "map_failed", pgmap, p.err);
  return p;
}

/** The err_add_memory label: kasan_remove_zero_shadow, then on down. */
function* err_add_memory(k: Kernel, pgmap: DevPagemap, error: number): KGen<ErrPtr> {
  const { align_start, align_size } = pgmapAlignedRange(pgmap);
  kasan_remove_zero_shadow(k, __va(k, align_start), align_size);
  return yield* err_kasan(k, pgmap, error);
}

/** The err_kasan label: untrack_pfn, then on down. */
function* err_kasan(k: Kernel, pgmap: DevPagemap, error: number): KGen<ErrPtr> {
  const { align_start, align_size } = pgmapAlignedRange(pgmap);
  untrack_pfn(k, null, PHYS_PFN(align_start), align_size);
  return yield* err_pfn_remap(k, pgmap, error);
}

/** The err_pfn_remap label: pgmap_array_delete, then err_array. */
function* err_pfn_remap(k: Kernel, pgmap: DevPagemap, error: number): KGen<ErrPtr> {
  yield* pgmap_array_delete(k, pgmap.res);
  return yield* err_array(k, pgmap, error);
}

/** The err_array label: kill (patch 3/7) and cleanup (50f44ee7248a), then ERR_PTR(error). */
function* err_array(k: Kernel, pgmap: DevPagemap, error: number): KGen<ErrPtr> {
  // patch 3/7: every failure after the argument check kills the ref
  if (k.applied(3)) {
    if (k.trace.on) emit(k, "kill", pgmap, error);
    yield* callRefOp(k, pgmap.kill, pgmap.ref);
  }
  // 50f44ee7248a: ... and waits for it and reaps it
  if (k.fixed("50f44ee7248a")) {
    if (k.trace.on) emit(k, "cleanup", pgmap, error);
    yield* callRefOp(k, pgmap.cleanup, pgmap.ref);
    if (k.trace.on) emit(k, "cleanup_done", pgmap, error);
  }
  return fail(k, pgmap, ERR_PTR(error));
}

/**
 * devm_memunmap_pages(dev, pgmap) (kernel/memremap.c, 2019, follow-up
 * "devm_memunmap_pages"): devm_release_action(dev, devm_memremap_pages_release,
 * pgmap) — run the release now and unregister it (WARN if it was not
 * registered). A RangeError at a level without the follow-up (the function
 * does not exist there). Sleeps: call with `yield*` or `machine.call`.
 */
export function* devm_memunmap_pages(k: Kernel, dev: Device, pgmap: DevPagemap): KGen<void> {
  if (!k.fixed("devm_memunmap_pages")) {
    throw new RangeError(
      `Cannot call devm_memunmap_pages at ${k.series.label}: it exists only with the follow-up "devm_memunmap_pages" (preset v5.2)`,
    );
  }
  yield* devm_release_action(k, dev, devm_memremap_pages_release, pgmap);
}

/**
 * get_dev_pagemap's cached case: whether `pfn` lies in `pgmap` (the caller's
 * reference is kept); if not, the reference is dropped (put_dev_pagemap).
 */
function cachedHit(k: Kernel, pfn: number, pgmap: DevPagemap): boolean {
  const phys = pfn * PAGE_SIZE;
  if (phys >= pgmap.res.start && phys <= pgmap.res.end) return true;
  put_dev_pagemap(k, pgmap);
  return false;
}

/**
 * get_dev_pagemap(pfn, pgmap) (kernel/memremap.c): a new live reference on
 * the dev_pagemap of `pfn`, or NULL.
 *
 * - If `pgmap` (a pgmap the caller already holds a reference on) covers
 *   PFN_PHYS(pfn) — within res.start..res.end inclusive — it is returned as
 *   it is: no new reference.
 * - Otherwise that reference is dropped (put_dev_pagemap) and the slow path
 *   runs: under rcu_read_lock, xa_load(pgmap_array, pfn); the entry is
 *   returned only if percpu_ref_tryget_live succeeds (+1), so a pgmap whose
 *   ref has been killed is NULL even while its entries still exist.
 *
 * A plain function (the hot path): charges getDevPagemap.slowWarm of
 * simulated time per slow lookup.
 *
 * @example The cached fast path takes no reference
 * ```ts
 * import { createMachine } from "../machine.ts";
 * import { Device } from "./device.ts";
 * import { percpu_ref_init, percpu_ref_kill, PercpuRef } from "./percpu-refcount.ts";
 * import { DevPagemap, mm_init } from "./mm/mod.ts";
 * import { devm_memremap_pages, get_dev_pagemap } from "./memremap.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const m = createMachine({ series: "v5.0" });
 * mm_init(m.k, {});
 * const pgmap = new DevPagemap();
 * pgmap.res = { start: 2 ** 34, end: 2 ** 34 + 2 ** 27 - 1 };
 * pgmap.ref = new PercpuRef();
 * percpu_ref_init(m.k, pgmap.ref, () => {}, 0, 0);
 * pgmap.kill = percpu_ref_kill;
 * m.call(devm_memremap_pages, new Device(m.k, "dax0.0"), pgmap);
 * const held = get_dev_pagemap(m.k, 2 ** 22, null)!;
 * const before = pgmap.ref.value;
 * assert(get_dev_pagemap(m.k, 2 ** 22 + 1, held) === held);
 * assertEquals(pgmap.ref.value, before);
 * assertEquals(get_dev_pagemap(m.k, 1, held), null); // not device memory: the cached ref is dropped
 * assertEquals(pgmap.ref.value, before - 1);
 * ```
 */
export function get_dev_pagemap(
  k: Kernel,
  pfn: number,
  pgmap: DevPagemap | null,
): DevPagemap | null {
  // one comparison on the common path: a pfn that is not a uint32 is checked for misuse
  if (pfn >>> 0 !== pfn) checkPfn(k, pfn, "look up the pgmap of");
  // In the cached case the caller already holds a live reference.
  if (pgmap !== null && cachedHit(k, pfn, pgmap)) return pgmap;
  // fall back to the slow path lookup
  const st = k.state(MEMREMAP);
  k.clock.now += st.slowLookupNs; // Clock.advance, inlined: a whole, non-negative ns count
  rcu_read_lock(k);
  let found = xa_load(st.pgmap_array, pfn);
  if (found !== null && !percpu_ref_tryget_live(k, found.ref!)) found = null;
  rcu_read_unlock(k);
  return found;
}
