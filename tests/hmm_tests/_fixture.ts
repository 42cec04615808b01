/**
 * The hmm-tests fixtures on the simulator: FIXTURE(hmm) is one dmirror device
 * opened by a process, FIXTURE(hmm2) two. Buffers are 1024 pages (4 MiB) of
 * int words, like HMM_BUFFER_SIZE; `mirror` is the test's bounce buffer.
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import { hmmFixture } from "../../lib/scenarios/hmm-process.ts";
import type { FaultState } from "../../lib/kernel/mm/memory.ts";
import {
  type Dmirror,
  dmirror_migrate,
  dmirror_open,
  dmirror_read,
  dmirror_release,
  dmirror_write,
  type DmirrorDevice,
  type DmirrorResult,
} from "../../lib/drivers/dmirror.ts";
import type { Kernel } from "../../lib/kernel/kernel.ts";
import type { Machine } from "../../lib/machine.ts";
import type { Process } from "../../lib/kernel/mm/process.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../lib/kernel/mm/mm-types.ts";
import { HUB } from "../../lib/kernel/mm/hub.ts";

/** HMM_BUFFER_SIZE / page size. */
export const NPAGES = 1024;
/** Words per page. */
export const WPP = 1024;
/** NTIMES. */
export const NTIMES = 10;
/** TWOMEG. */
export const TWOMEG = 2 ** 21;

/** A test fixture: a machine, the test process, its devices and mirrors. */
export interface Fixture {
  /** Machine. */
  m: Machine;
  /** Kernel. */
  k: Kernel;
  /** The test process. */
  p: Process;
  /** dmirror0 (and dmirror1 for hmm2). */
  dev: DmirrorDevice[];
  /** The process's open mirrors. */
  fd: Dmirror[];
}

/** FIXTURE_SETUP(hmm) / (hmm2) at the default preset. */
export function setup(ndev = 1, series: "v4.20" | "v5.0" | "v5.2" = "v5.0"): Fixture {
  const f = hmmFixture(series, ndev);
  return { m: f.m, k: f.k, p: f.p, dev: f.devices, fd: f.mirrors };
}

/** FIXTURE_TEARDOWN: the process exits (closing its device files); no device page may leak. */
export function teardown(f: Fixture): void {
  if (!f.p.exited) f.p.exit();
  for (const md of f.dev) assertEquals(md.calloc, md.cfree, `${md.dev.name}: DEVICE PAGE leak`);
}

/** Opens device `md` in process `p` (the child's own mirror). */
export function hmmOpen(f: Fixture, p: Process, md: DmirrorDevice): Dmirror {
  const d = dmirror_open(f.k, md, p.mm);
  if (typeof d === "number") throw new Error(`open failed: ${d}`);
  p.open(`/dev/${md.dev.name}`, (kk) => dmirror_release(kk, d));
  return d;
}

/** mmap of `npages` anonymous private RW pages. */
export function anonBuffer(
  p: Process,
  npages = NPAGES,
  prot = PROT_READ | PROT_WRITE,
  flags = MAP_PRIVATE | MAP_ANONYMOUS,
): number {
  const a = p.mmap(0, npages * 4096, prot, flags);
  if (a < 0) throw new Error(`mmap: ${a}`);
  return a;
}

/** i + c for every word. */
export function pattern(nwords: number, c = 0, sign = 1): Int32Array {
  const w = new Int32Array(nwords);
  for (let i = 0; i < nwords; i++) w[i] = sign * i + c;
  return w;
}

/** Asserts every word of `got` equals `sign * i + c`. */
export function assertPattern(got: Int32Array, c = 0, sign = 1, msg = ""): void {
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== sign * i + c) {
      throw new Error(`${msg} word ${i}: ${got[i]}, expected ${sign * i + c}`);
    }
  }
}

/** HMM_DMIRROR_READ into a fresh mirror buffer. */
export function read(
  f: Fixture,
  d: Dmirror,
  addr: number,
  npages: number,
): DmirrorResult & { mirror: Int32Array } {
  const mirror = new Int32Array(npages * WPP);
  return { ...dmirror_read(f.k, d, addr, npages, mirror), mirror };
}

/** HMM_DMIRROR_WRITE of `data`. */
export function write(
  f: Fixture,
  d: Dmirror,
  addr: number,
  npages: number,
  data: Int32Array,
): DmirrorResult {
  return dmirror_write(f.k, d, addr, npages, data);
}

/** hmm_migrate_sys_to_dev. */
export function migrate(f: Fixture, d: Dmirror, addr: number, npages: number): DmirrorResult {
  return dmirror_migrate(f.k, d, addr, npages);
}

/** A 2 MiB-aligned address inside a 2 × 2 MiB buffer (the tests' ALIGN(ptr, TWOMEG)). */
export function alignedTwoMeg(p: Process): { base: number; map: number } {
  const base = anonBuffer(p, (2 * TWOMEG) / 4096);
  return { base, map: Math.ceil(base / TWOMEG) * TWOMEG };
}

/** The kernel's fault counters. */
export function faults(f: Fixture): FaultState {
  return f.k.state(HUB).faults;
}
