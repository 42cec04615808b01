/**
 * Fault-path benchmark cases (1,024 faults per iteration):
 *
 * - `devpriv-cpu-fault`: CPU loads, in a seeded random order, of distinct
 *   device-private pages (≥ 1 Mi pages of 4 KiB — 4 GiB of DEVICE_PRIVATE
 *   memory of the dmirror driver — each holding its own tag word); every
 *   load faults (do_swap_page → device_private_entry_fault → the driver's
 *   fault handler → migrate_vma of that page back to system memory). Between
 *   iterations, outside the timed region, the 1,024 pages are migrated back
 *   to the device.
 * - `anon-minor-fault`: CPU stores to 1,024 untouched anonymous pages (write
 *   faults: do_anonymous_page); MADV_DONTNEED zaps them between iterations.
 *
 * After each iteration the case checks that the kernel's fault counters
 * grew by exactly 1,024 and that every fault took the intended path; at
 * teardown the device case reads back 1,000 sampled pages' tags.
 *
 * @module
 */
import { bootMachine, type Machine } from "../../machine.ts";
import type { Kernel } from "../../kernel/kernel.ts";
import { Prng } from "../../sim/prng.ts";
import {
  type Dmirror,
  dmirror_create,
  dmirror_migrate,
  dmirror_open,
  type DmirrorDevice,
} from "../../drivers/dmirror.ts";
import { HUB } from "../../kernel/mm/hub.ts";
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "../../kernel/mm/mm-types.ts";
import { Process } from "../../kernel/mm/process.ts";
import type { BenchCase } from "../harness.ts";

/** Faults per iteration. */
export const FAULT_OPS = 1024;

/** State of `devpriv-cpu-fault`. */
export interface DevprivState {
  /** The machine. */
  m: Machine;
  /** Its kernel. */
  k: Kernel;
  /** The process. */
  p: Process;
  /** The device. */
  md: DmirrorDevice;
  /** The process's mirror on it. */
  d: Dmirror;
  /** First address of the buffer. */
  base: number;
  /** Pages in the buffer. */
  npages: number;
  /** Seeded random order of page indexes. */
  order: Int32Array;
  /** Next position in `order`. */
  pos: number;
  /** Addresses the last iteration faulted (re-migrated by prepare). */
  last: Float64Array;
  /** Device-private faults counted before the first iteration. */
  faults0: number;
  /** Driver CPU faults before the first iteration. */
  driverFaults0: number;
  /** All page faults (PGFAULT) before the first iteration. */
  pgfault0: number;
  /** Iterations run. */
  iterations: number;
}

/** The tag word page `i` of the buffer holds (distinct per page). */
export function devprivTag(i: number): number {
  return (i * 2654435761 + 1) | 0 || 1;
}

/** The machine of the device case: 16 GiB of RAM (the 2018 driver backs each device page with a system page). */
const DEVPRIV_MACHINE = {
  name: "bench-devpriv",
  description: "16 GiB of RAM for ≥ 4 GiB of dmirror device memory backed by system pages",
  cpus: 2,
  paging: "4-level",
  ram: [{ start: "0", size: "3GiB" }, { start: "4GiB", size: "13GiB" }],
};

/**
 * `devpriv-cpu-fault`. `npages` (default 2^20) is the buffer size; the
 * device gets `npages` pages of memory rounded up to sections.
 */
export function devprivCpuFault(
  opts: { npages?: number; seed?: number } = {},
): BenchCase<DevprivState> {
  const npages = opts.npages ?? 1 << 20;
  const seed = opts.seed ?? 20181120;
  if (npages < FAULT_OPS * 2) {
    throw new RangeError(
      `Cannot run devpriv-cpu-fault over ${npages} pages: it needs ≥ ${FAULT_OPS * 2}`,
    );
  }
  return {
    name: "devpriv-cpu-fault",
    group: "fault",
    ops: FAULT_OPS,
    setup() {
      const m = bootMachine(DEVPRIV_MACHINE, { series: "v5.0", seed });
      const k = m.k;
      const md = m.call(dmirror_create, { size: npages * 4096 });
      if (typeof md === "number") throw new Error(`dmirror probe failed: ${md}`);
      const p = new Process(k, "bench");
      const d = dmirror_open(k, md, p.mm);
      if (typeof d === "number") throw new Error(`dmirror open failed: ${d}`);
      const base = p.mmap(0, npages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      for (let i = 0; i < npages; i++) p.store32(base + i * 4096, devprivTag(i));
      const r = dmirror_migrate(k, d, base, npages);
      if (r.ret !== 0 || r.cpages !== npages) {
        throw new Error(`initial migration moved ${r.cpages}`);
      }
      const order = new Int32Array(npages);
      for (let i = 0; i < npages; i++) order[i] = i;
      const prng = new Prng(seed);
      for (let i = npages - 1; i > 0; i--) {
        const j = Math.floor(prng.next() * (i + 1));
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      const f = k.state(HUB).faults;
      return {
        m,
        k,
        p,
        md,
        d,
        base,
        npages,
        order,
        pos: 0,
        last: new Float64Array(0),
        faults0: f.devicePrivate,
        driverFaults0: md.cpuFaults,
        pgfault0: f.pgfault,
        iterations: 0,
      };
    },
    prepare(s) {
      // put the previous iteration's pages back on the device (untimed)
      for (let j = 0; j < s.last.length; j++) {
        const r = dmirror_migrate(s.k, s.d, s.last[j]!, 1);
        if (r.ret !== 0) {
          throw new Error(`re-migration of 0x${s.last[j]!.toString(16)} failed: ${r.ret}`);
        }
      }
      if (s.pos + FAULT_OPS > s.npages) s.pos = 0;
      const last = new Float64Array(FAULT_OPS);
      for (let j = 0; j < FAULT_OPS; j++) last[j] = s.base + s.order[s.pos + j]! * 4096;
      s.last = last;
      s.pos += FAULT_OPS;
    },
    run(s) {
      const p = s.p, last = s.last;
      for (let j = 0; j < FAULT_OPS; j++) p.touch(last[j]!, false);
    },
    check(s) {
      s.iterations++;
      const f = s.k.state(HUB).faults;
      const want = FAULT_OPS * s.iterations;
      if (f.devicePrivate - s.faults0 !== want) {
        throw new Error(`device-private faults: ${f.devicePrivate - s.faults0}, expected ${want}`);
      }
      if (s.md.cpuFaults - s.driverFaults0 !== want || f.pgfault - s.pgfault0 !== want) {
        throw new Error(
          `not every fault took the device-private path: pgfault ${
            f.pgfault - s.pgfault0
          }, driver ${s.md.cpuFaults - s.driverFaults0}, expected ${want}`,
        );
      }
      if (f.devicePrivateFailed !== 0) {
        throw new Error(`${f.devicePrivateFailed} device faults failed`);
      }
    },
    teardown(s) {
      const prng = new Prng(s.iterations + 1);
      for (let n = 0; n < 1000; n++) {
        const i = Math.floor(prng.next() * s.npages);
        const v = s.p.load32(s.base + i * 4096);
        if (v !== devprivTag(i)) throw new Error(`page ${i} reads ${v}, expected ${devprivTag(i)}`);
      }
    },
    simNow: (s) => s.k.clock.now,
  };
}

/** State of `anon-minor-fault`. */
export interface AnonState {
  /** The kernel. */
  k: Kernel;
  /** The process. */
  p: Process;
  /** The buffer. */
  base: number;
  /** Anonymous faults before the first iteration. */
  anon0: number;
  /** PGFAULT before. */
  pgfault0: number;
  /** Iterations run. */
  iterations: number;
  /** Whether the buffer holds pages (zap before the next iteration). */
  dirty: boolean;
}

/** `anon-minor-fault`. */
export function anonMinorFault(): BenchCase<AnonState> {
  return {
    name: "anon-minor-fault",
    group: "fault",
    ops: FAULT_OPS,
    setup() {
      const m = bootMachine("small", { series: "v5.0" });
      const k = m.k;
      const p = new Process(k, "bench");
      const base = p.mmap(0, FAULT_OPS * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      const f = k.state(HUB).faults;
      return { k, p, base, anon0: f.anon, pgfault0: f.pgfault, iterations: 0, dirty: false };
    },
    prepare(s) {
      if (s.dirty) s.p.madvise(s.base, FAULT_OPS * 4096, MADV_DONTNEED);
      s.dirty = true;
    },
    run(s) {
      const p = s.p, base = s.base;
      for (let j = 0; j < FAULT_OPS; j++) p.touch(base + j * 4096, true);
    },
    check(s) {
      s.iterations++;
      const f = s.k.state(HUB).faults;
      const want = FAULT_OPS * s.iterations;
      if (f.anon - s.anon0 !== want || f.pgfault - s.pgfault0 !== want) {
        throw new Error(
          `anonymous faults ${f.anon - s.anon0}, page faults ${
            f.pgfault - s.pgfault0
          }, expected ${want}`,
        );
      }
    },
    simNow: (s) => s.k.clock.now,
  };
}
