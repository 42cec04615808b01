/**
 * Shared fixtures for the memory-model tests: a machine with 4 GiB of RAM and
 * a helper that hot-adds a ZONE_DEVICE range the way devm_memremap_pages does
 * (arch_add_memory + move_pfn_range_to_zone under the hotplug lock, then
 * memmap_init_zone_device).
 *
 * @module
 */
import { Machine } from "../../../lib/machine.ts";
import type { Kernel } from "../../../lib/kernel/kernel.ts";
import { Device } from "../../../lib/kernel/device.ts";
import {
  percpu_ref_get_many,
  percpu_ref_init,
  PercpuRef,
} from "../../../lib/kernel/percpu-refcount.ts";
import {
  arch_add_memory,
  arch_remove_memory,
  DevPagemap,
  mem_hotplug_begin,
  mem_hotplug_done,
  memmap_init_zone_device,
  type MemoryType,
  mm_init,
  type MmConfig,
  move_pfn_range_to_zone,
  NODE_DATA,
  PAGE_SIZE,
  pgmapDataPfns,
  type VmemAltmap,
  type Zone,
  ZONE_DEVICE,
} from "../../../lib/kernel/mm/mod.ts";
import type { KGen } from "../../../lib/sim/task.ts";

/** S = 4 GiB... the reference's S is 0x1_0000_0000; device ranges here sit at 16 GiB and up. */
export const GiB = 2 ** 30;
/** 128 MiB. */
export const SECTION = 2 ** 27;

/** A machine with 4 GiB of RAM on node 0 (or `cfg`). */
export function machine(cfg: MmConfig = { ram: [{ start: 0, end: 4 * GiB }] }): Machine {
  const m = new Machine();
  mm_init(m.k, cfg);
  return m;
}

/** ZONE_DEVICE of node 0. */
export function devZone(k: Kernel): Zone {
  return NODE_DATA(k, 0).node_zones[ZONE_DEVICE]!;
}

/** A pgmap over [start, start + size) with a live ref. */
export function pgmapOf(
  k: Kernel,
  start: number,
  size: number,
  type: MemoryType,
  opts: { altmap?: VmemAltmap; name?: string } = {},
): DevPagemap {
  const p = new DevPagemap();
  p.type = type;
  p.res = { start, end: start + size - 1 };
  p.dev = new Device(k, opts.name ?? `dev@${start.toString(16)}`);
  if (opts.altmap) {
    p.altmap = opts.altmap;
    p.altmap_valid = true;
  }
  const ref = new PercpuRef();
  percpu_ref_init(k, ref, function pgmap_ref_release() {}, 0, 0);
  p.ref = ref;
  return p;
}

/**
 * The hotplug half of v4.20 devm_memremap_pages for an aligned range: returns
 * arch_add_memory's result; on success the pages are initialised and the
 * data pages' refs taken. Sleeps.
 */
export function* hotAdd(k: Kernel, pgmap: DevPagemap): KGen<number> {
  const start = pgmap.res.start;
  const size = pgmap.res.end + 1 - start;
  const altmap = pgmap.altmap_valid ? pgmap.altmap : null;
  yield* mem_hotplug_begin(k);
  const err = arch_add_memory(k, 0, start, size, altmap, false);
  if (!err) move_pfn_range_to_zone(k, devZone(k), start / PAGE_SIZE, size / PAGE_SIZE, altmap);
  mem_hotplug_done(k);
  if (err) return err;
  memmap_init_zone_device(k, devZone(k), start / PAGE_SIZE, size / PAGE_SIZE, pgmap);
  const [first, end] = pgmapDataPfns(k, pgmap);
  percpu_ref_get_many(k, pgmap.ref!, end - first);
  return 0;
}

/** The arch_remove_memory half of the release. Sleeps. */
export function* hotRemove(k: Kernel, pgmap: DevPagemap): KGen<number> {
  const start = pgmap.res.start;
  const size = pgmap.res.end + 1 - start;
  yield* mem_hotplug_begin(k);
  const ret = arch_remove_memory(k, start, size, pgmap.altmap_valid ? pgmap.altmap : null);
  mem_hotplug_done(k);
  return ret;
}
