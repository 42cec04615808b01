/**
 * Deterministic inputs for the figure tests and the figures fixture notebook:
 * a small exploration with all three outcomes, a hand-made section list,
 * fixed latency samples and a machine with RAM and two ZONE_DEVICE ranges.
 *
 * @module
 */
import { createMachine, exploreMachine, Machine } from "../../lib/machine.ts";
import { Mutex, mutex_lock, mutex_unlock } from "../../lib/kernel/mutex.ts";
import { preempt_point } from "../../lib/kernel/sched.ts";
import type { Exploration } from "../../lib/sim/explore.ts";
import type { SectionCell, SectionMapInput } from "../../lib/viz/mod.ts";
import { Device } from "../../lib/kernel/device.ts";
import {
  add_pages,
  arch_add_memory,
  DevPagemap,
  memmap_init_zone_device,
  MEMORY_DEVICE_FS_DAX,
  MEMORY_DEVICE_PRIVATE,
  type MemoryType,
  mm_init,
  move_pfn_range_to_zone,
  NODE_DATA,
  PAGE_SIZE,
  SECTION_SIZE,
  VmemAltmap,
  ZONE_DEVICE,
} from "../../lib/kernel/mm/mod.ts";

const GiB = 2 ** 30;

/**
 * A two-task teardown race in miniature, explored exhaustively: "unbind"
 * takes lock a then b and frees the object; "fault" takes b then a and uses
 * it. Some orders deadlock (ABBA), some Oops (use after free), some are clean.
 */
export function raceExploration(): Exploration {
  return exploreMachine(() => createMachine({ cpus: 2 }), (m) => {
    const a = new Mutex("a"), b = new Mutex("b");
    let freed = false;
    m.spawn("unbind", function* (k) {
      yield* mutex_lock(k, a);
      yield* preempt_point(k);
      yield* mutex_lock(k, b);
      freed = true;
      mutex_unlock(k, b);
      mutex_unlock(k, a);
    });
    m.spawn("fault", function* (k) {
      yield* mutex_lock(k, b);
      yield* preempt_point(k);
      if (freed) k.oops("BUG: unable to handle page fault (use after free)");
      yield* mutex_lock(k, a);
      mutex_unlock(k, a);
      mutex_unlock(k, b);
    });
  });
}

const S = 2 ** 27;

function cell(nr: number, c: Partial<SectionCell>): SectionCell {
  return { nr, start: nr * S, kind: "free", linearMap: false, memmap: "none", ...c };
}

/**
 * 4 GiB of RAM (sections 0-31), an fsdax namespace at 16 GiB with its
 * memmap on the device (pgmap 3), device-private memory without a linear
 * map (pgmap 5), and one leaked section; 16 sections a row.
 */
export function handSections(): SectionMapInput {
  const sections: SectionCell[] = [];
  for (let nr = 0; nr < 32; nr++) {
    sections.push(cell(nr, { kind: "ram", linearMap: true, memmap: "ram" }));
  }
  for (let nr = 128; nr < 160; nr++) {
    if (nr < 136) {
      sections.push(cell(nr, {
        kind: "device",
        type: "MEMORY_DEVICE_FS_DAX",
        pgmapId: 3,
        linearMap: true,
        memmap: "device",
      }));
    } else if (nr >= 144 && nr < 148) {
      sections.push(cell(nr, {
        kind: "device",
        type: "MEMORY_DEVICE_PRIVATE",
        pgmapId: 5,
        linearMap: false,
        memmap: "ram",
      }));
    } else if (nr === 150) {
      sections.push(cell(nr, { linearMap: true, leaked: true }));
    } else {
      sections.push(cell(nr, {}));
    }
  }
  return { sections };
}

/** The same map before the device-private range and the leak. */
export function handSectionsBefore(): SectionMapInput {
  return {
    sections: handSections().sections.map((s) => s.nr >= 144 && s.nr < 151 ? cell(s.nr, {}) : s),
  };
}

/** Fixed latency samples (ns) for three paths: fast, slow with a tail, and one with a zero sample. */
export function latencySamples(): Record<string, number[]> {
  const fast = Array.from({ length: 64 }, (_, i) => 180 + ((i * 37) % 41));
  const slow = Array.from(
    { length: 64 },
    (_, i) => 2400 + ((i * 53) % 97) * 11 + (i % 16 === 0 ? 9000 : 0),
  );
  const pgmap = Array.from(
    { length: 64 },
    (_, i) => (i === 0 ? 0 : 30_000 + ((i * 71) % 113) * 90),
  );
  return {
    "percpu_ref_get/put": fast,
    "device-private fault": slow,
    "get_dev_pagemap (1,000 pgmaps)": pgmap,
  };
}

function devicePgmap(
  m: Machine,
  name: string,
  start: number,
  size: number,
  type: MemoryType,
  altmap: boolean,
) {
  const p = new DevPagemap();
  p.type = type;
  p.res = { start, end: start + size - 1 };
  p.dev = new Device(m.k, name);
  if (altmap) {
    // 2 reserved pages, then one 2 MiB vmemmap block (512 pages) per section,
    // plus the padding that aligns the first block to 2 MiB
    p.altmap = new VmemAltmap(start / PAGE_SIZE, 2, (size / SECTION_SIZE + 1) * 512);
    p.altmap_valid = true;
  }
  return p;
}

/** Hot-adds a ZONE_DEVICE range as devm_memremap_pages does (lock elided), with or without a linear map. */
function hotAdd(m: Machine, pgmap: DevPagemap, linear: boolean): number {
  const k = m.k;
  const start = pgmap.res.start, size = pgmap.res.end + 1 - start;
  const altmap = pgmap.altmap_valid ? pgmap.altmap : null;
  const err = linear
    ? arch_add_memory(k, 0, start, size, altmap, false)
    : add_pages(k, 0, start / PAGE_SIZE, size / PAGE_SIZE, altmap, false);
  if (err) return err;
  const zone = NODE_DATA(k, 0).node_zones[ZONE_DEVICE]!;
  move_pfn_range_to_zone(k, zone, start / PAGE_SIZE, size / PAGE_SIZE, altmap);
  memmap_init_zone_device(k, zone, start / PAGE_SIZE, size / PAGE_SIZE, pgmap);
  return 0;
}

/**
 * A machine at two moments: `before` has 4 GiB of RAM and an fsdax
 * namespace at 16 GiB (1 GiB, memmap on the device); `after` also has 512
 * MiB of device-private memory at 18 GiB (no linear map) and the remains of
 * a hot-add at 20 GiB that failed at its third section (two sections and
 * the whole linear map left behind).
 */
export function deviceMachine(stage: "before" | "after"): Machine {
  const m = new Machine({ cpus: 2 });
  mm_init(m.k, { ram: [{ start: 0, end: 4 * GiB }] });
  hotAdd(m, devicePgmap(m, "pmem0", 16 * GiB, GiB, MEMORY_DEVICE_FS_DAX, true), true);
  if (stage === "after") {
    hotAdd(m, devicePgmap(m, "gpu0", 18 * GiB, GiB / 2, MEMORY_DEVICE_PRIVATE, false), false);
    m.k.faults.arm("sparse_add_one_section", { nth: 3 });
    hotAdd(m, devicePgmap(m, "pmem1", 20 * GiB, GiB / 2, MEMORY_DEVICE_FS_DAX, false), true);
  }
  return m;
}
