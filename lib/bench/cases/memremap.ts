/**
 * kernel/memremap.c benchmark cases, shared by bench/memremap_bench.ts and
 * the notebooks.
 *
 * - `get-dev-pagemap-1` / `get-dev-pagemap-1000`: 1,024 slow-path lookups
 *   (get_dev_pagemap with cached = NULL) of seeded-random pfns inside the
 *   registered ranges of 1 or 1,000 pgmaps (1..4 sections each), each
 *   followed by put_dev_pagemap; tracing off. Target ≤ 15 ns per
 *   lookup + put.
 * - `memmap-register-1TiB` (4-level "ram-4g") and `memmap-register-64TiB`
 *   ("bench-64t", 5-level): one devm_memremap_pages of an fsdax range per
 *   iteration (an exception to the 1,024 rule), tracing off; the unbind that
 *   tears it down runs in the untimed check. Targets ≤ 10 ms and ≤ 1 s.
 *
 * @module
 */
import { Device, DEVICES } from "../../kernel/device.ts";
import { devres_release_all } from "../../kernel/devres.ts";
import { IS_ERR } from "../../kernel/errno.ts";
import { devm_memremap_pages, get_dev_pagemap, put_dev_pagemap } from "../../kernel/memremap.ts";
import { pfn_valid } from "../../kernel/mm/mmzone.ts";
import { DevPagemap, MEMORY_DEVICE_FS_DAX } from "../../kernel/mm/types.ts";
import {
  percpu_ref_exit,
  percpu_ref_init,
  percpu_ref_kill,
  PercpuRef,
} from "../../kernel/percpu-refcount.ts";
import type { Kernel } from "../../kernel/kernel.ts";
import type { Machine } from "../../machine.ts";
import { Prng } from "../../sim/prng.ts";
import { bootZoneDeviceMachine } from "../../scenarios/boot.ts";
import type { BenchCase } from "../harness.ts";

/** Lookups per iteration. */
export const LOOKUP_OPS = 1024;
const POOL = 1 << 16;
const SECTION = 2 ** 27;

/** A pgmap mapped with a live ref, v5.0-style (pgmap->kill = percpu_ref_kill). */
function mapPgmap(m: Machine, start: number, size: number): DevPagemap {
  const k = m.k;
  const pgmap = new DevPagemap();
  pgmap.type = MEMORY_DEVICE_FS_DAX;
  pgmap.res = { start, end: start + size - 1 };
  const ref = new PercpuRef();
  percpu_ref_init(k, ref, () => {}, 0, 0);
  pgmap.ref = ref;
  pgmap.kill = percpu_ref_kill;
  const r = m.call(devm_memremap_pages, new Device(k, `pmem@${start.toString(16)}`, "nd"), pgmap);
  if (IS_ERR(r)) throw new Error(`Cannot set up the bench: devm_memremap_pages gave ${r}`);
  return pgmap;
}

/** State of a lookup case. */
export interface LookupBenchState {
  /** The machine (tracing off). */
  m: Machine;
  /** The kernel. */
  k: Kernel;
  /** The registered pgmaps. */
  pgmaps: DevPagemap[];
  /** Their ref counts after setup. */
  counts: number[];
  /** Seeded-random pfns inside the registered ranges. */
  pfns: Float64Array;
  /** Where the next iteration starts in `pfns`. */
  cursor: number;
  /** Lookups that found their pgmap (a sink against dead-code elimination). */
  hits: number;
}

/** One iteration of a lookup case: one function for every case object (see {@link getDevPagemapCase}). */
function lookupRun(s: LookupBenchState): void {
  const k = s.k, pfns = s.pfns, base = s.cursor;
  let hits = 0;
  for (let i = 0; i < LOOKUP_OPS; i++) {
    const pgmap = get_dev_pagemap(k, pfns[(base + i) & (POOL - 1)]!, null);
    if (pgmap !== null) hits++;
    put_dev_pagemap(k, pgmap);
  }
  s.cursor = (base + LOOKUP_OPS) & (POOL - 1);
  s.hits += hits;
}

/**
 * `get-dev-pagemap-<n>`: n pgmaps of 1..4 sections (seeded), 1,024 lookups +
 * puts per iteration.
 */
export function getDevPagemapCase(n: 1 | 1000): BenchCase<LookupBenchState> {
  return {
    name: `get-dev-pagemap-${n}`,
    group: "get-dev-pagemap",
    ...(n === 1 ? { baseline: true } : {}),
    ops: LOOKUP_OPS,
    setup() {
      const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0", seed: 1 });
      const prng = new Prng(42);
      const pgmaps: DevPagemap[] = [];
      let at = 16 * 2 ** 30;
      for (let i = 0; i < n; i++) {
        at += prng.int(3) * SECTION; // gaps of 0..2 sections
        const sections = 1 + prng.int(4);
        pgmaps.push(mapPgmap(m, at, sections * SECTION));
        at += sections * SECTION;
      }
      const pfns = new Float64Array(POOL);
      for (let i = 0; i < POOL; i++) {
        const p = pgmaps[prng.int(pgmaps.length)]!;
        const first = p.res.start / 4096;
        const pages = (p.res.end + 1 - p.res.start) / 4096;
        pfns[i] = first + prng.int(pages);
      }
      return {
        m,
        k: m.k,
        pgmaps,
        counts: pgmaps.map((p) => p.ref!.value),
        pfns,
        cursor: 0,
        hits: 0,
      };
    },
    run: lookupRun,
    check(s) {
      for (let i = 0; i < s.pgmaps.length; i++) {
        if (s.pgmaps[i]!.ref!.value !== s.counts[i]) {
          throw new Error(`pgmap ${i}'s ref count drifted to ${s.pgmaps[i]!.ref!.value}`);
        }
      }
    },
    simNow: (s) => s.k.clock.now,
  };
}

/** State of a registration case. */
export interface RegisterBenchState {
  /** The machine. */
  m: Machine;
  /** The kernel. */
  k: Kernel;
  /** The pgmap of the current iteration. */
  pgmap: DevPagemap;
  /** Its device. */
  dev: Device;
  /** What the last devm_memremap_pages returned. */
  ret: unknown;
}

/**
 * `memmap-register-<label>`: one devm_memremap_pages of `size` bytes at
 * `start` per iteration on machine `machine`; the unbind (devres release of
 * the device, which kills the ref from v5.0) runs in the untimed check.
 */
export function memmapRegisterCase(
  label: string,
  machine: string,
  start: number,
  size: number,
): BenchCase<RegisterBenchState> {
  const fresh = (s: RegisterBenchState) => {
    const k = s.k;
    const pgmap = new DevPagemap();
    pgmap.type = MEMORY_DEVICE_FS_DAX;
    pgmap.res = { start, end: start + size - 1 };
    const ref = new PercpuRef();
    percpu_ref_init(k, ref, () => {}, 0, 0);
    pgmap.ref = ref;
    pgmap.kill = percpu_ref_kill;
    s.pgmap = pgmap;
    s.dev = new Device(k, "pmem0", "nd");
    // the bench creates a device per iteration: keep the device list short
    const devs = k.state(DEVICES);
    if (devs.length > 64) devs.splice(0, devs.length - 64);
  };
  return {
    name: `memmap-register-${label}`,
    ops: 1,
    setup() {
      const m = bootZoneDeviceMachine(machine, { series: "v5.0", seed: 1 });
      return { m, k: m.k, pgmap: new DevPagemap(), dev: new Device(m.k, "pmem0", "nd"), ret: null };
    },
    prepare: fresh,
    run(s) {
      s.ret = s.m.call(devm_memremap_pages, s.dev, s.pgmap);
    },
    check(s) {
      if (IS_ERR(s.ret)) throw new Error(`devm_memremap_pages failed: ${s.ret}`);
      const want = 1 + size / 4096;
      if (s.pgmap.ref!.value !== want) {
        throw new Error(`ref count ${s.pgmap.ref!.value}, expected ${want}`);
      }
      s.m.call(devres_release_all, s.dev);
      percpu_ref_exit(s.k, s.pgmap.ref!);
      if (pfn_valid(s.k, start / 4096) || pfn_valid(s.k, (start + size) / 4096 - 1)) {
        throw new Error("the unbind left the range's sections behind");
      }
    },
    simNow: (s) => s.k.clock.now,
  };
}

/** `memmap-register-1TiB`: 1 TiB at 1 TiB on the 4-level "ram-4g" machine. */
export function memmapRegister1TiB(): BenchCase<RegisterBenchState> {
  return memmapRegisterCase("1TiB", "ram-4g", 2 ** 40, 2 ** 40);
}

/** `memmap-register-64TiB`: 64 TiB at 64 TiB on the 5-level "bench-64t" machine. */
export function memmapRegister64TiB(): BenchCase<RegisterBenchState> {
  return memmapRegisterCase("64TiB", "bench-64t", 64 * 2 ** 40, 64 * 2 ** 40);
}
