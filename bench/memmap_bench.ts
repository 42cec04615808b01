/**
 * Memory-model bring-up benchmarks: the hotplug half of devm_memremap_pages
 * for an fsdax range without altmap — mem_hotplug_begin, arch_add_memory,
 * move_pfn_range_to_zone, mem_hotplug_done, memmap_init_zone_device — over
 * 1 TiB (8,192 sections, 4-level) and 64 TiB (524,288 sections, 5-level).
 * One bring-up per iteration (an exception to the 1,024-operation rule);
 * the tear-down (put loop + arch_remove_memory) runs outside the timed region.
 * Tracing is off. Targets (issue 3): ≤ 10 ms and ≤ 1 s.
 *
 * The devm_memremap_pages benchmarks (`memmap-register-*`) will supersede these.
 *
 * @module
 */
import { Machine } from "../lib/machine.ts";
import { Device } from "../lib/kernel/device.ts";
import { percpu_ref_init, PercpuRef } from "../lib/kernel/percpu-refcount.ts";
import {
  arch_add_memory,
  arch_remove_memory,
  DevPagemap,
  mem_hotplug_begin,
  mem_hotplug_done,
  memmap_init_zone_device,
  MEMORY_DEVICE_FS_DAX,
  mm_init,
  type MmConfig,
  move_pfn_range_to_zone,
  NODE_DATA,
  put_page_range,
  ZONE_DEVICE,
} from "../lib/kernel/mm/mod.ts";
import type { Kernel } from "../lib/kernel/kernel.ts";

const GiB = 2 ** 30;
const TiB = 2 ** 40;

function setup(cfg: MmConfig, start: number, size: number) {
  const m = new Machine();
  mm_init(m.k, cfg);
  const pgmap = new DevPagemap();
  pgmap.type = MEMORY_DEVICE_FS_DAX;
  pgmap.res = { start, end: start + size - 1 };
  pgmap.dev = new Device(m.k, "pmem0");
  pgmap.page_free = () => {};
  const ref = new PercpuRef();
  percpu_ref_init(m.k, ref, function pgmap_release() {}, 0, 0);
  pgmap.ref = ref;
  const zone = NODE_DATA(m.k, 0).node_zones[ZONE_DEVICE]!;
  const add = function* (k: Kernel) {
    yield* mem_hotplug_begin(k);
    const err = arch_add_memory(k, 0, start, size, null, false);
    if (!err) move_pfn_range_to_zone(k, zone, start / 4096, size / 4096, null);
    mem_hotplug_done(k);
    if (err) throw new Error(`arch_add_memory: ${err}`);
    memmap_init_zone_device(k, zone, start / 4096, size / 4096, pgmap);
  };
  const remove = function* (k: Kernel) {
    put_page_range(k, start / 4096, size / 4096);
    yield* mem_hotplug_begin(k);
    arch_remove_memory(k, start, size, null);
    mem_hotplug_done(k);
  };
  return { m, add, remove };
}

function bench(name: string, cfg: MmConfig, start: number, size: number) {
  const s = setup(cfg, start, size);
  Deno.bench({
    name,
    group: "mm-hotplug",
    n: name.endsWith("64TiB") ? 10 : 100,
    warmup: name.endsWith("64TiB") ? 2 : 10,
    fn(b) {
      b.start();
      s.m.call(s.add);
      b.end();
      s.m.call(s.remove);
    },
  });
}

bench("mm-hotplug-1TiB", { ram: [{ start: 0, end: 16 * GiB }] }, 1 * TiB, 1 * TiB);
bench(
  "mm-hotplug-64TiB",
  // the layout of data/machines/bench-64t.json (until bootMachine calls mm_init)
  {
    paging: "5-level",
    ram: [{ start: 0, end: 2 * GiB }, { start: 4 * GiB, end: 6 * GiB }],
  },
  256 * TiB,
  64 * TiB,
);
