/**
 * Scenario 23 (SCENARIOS.md): the device-dax lifecycle of ndctl's
 * test/device-dax.c, on the real drivers and real devm_memremap_pages.
 *
 * On "workstation-2018" a 4 GiB raw pmem namespace is the test device. For
 * one alignment A (4 KiB, 2 MiB or 1 GiB):
 *
 * 1. setup_pmem_fsdax_mode: `create-namespace -m fsdax -M dev -f -a A -e`;
 *    write 2×A bytes of the salted pattern (word j of the 4 KiB chunk at
 *    byte i holds salt + i + j) through the pmem block device; fsync.
 * 2. setup_device_dax: `-m devdax -M dev -f -a A -e`; open /dev/daxX.Y
 *    read-only. A MAP_PRIVATE mmap must fail; a MAP_SHARED read-only one
 *    must succeed (placed by dax_get_unmapped_area).
 * 3. verify_data: read the 2×A bytes through the mapping and compare; the
 *    loop's simulated time must stay within ALIGN(A, 2 MiB) / 4 KiB × 30 µs.
 * 4. munmap, reopen read-write, map 2×A read-write shared.
 * 5. reset_device_dax (`-m raw -f -e`) while that mapping is live, then
 *    store at buf + A: SIGBUS (the teardown zapped the mapping; the dead dax
 *    device refuses the fault).
 * 6. reset again (the test's `out:` label).
 *
 * Left out of the ndctl test: the O_DIRECT cases (test_dax_directio), the
 * poison cases (test_dax_poison) and reading /proc/self/smaps.
 *
 * The 1 GiB case writes 2 GiB of pattern in the real test; by default the
 * model writes (and checks) one 4 KiB chunk in `stride` (512 for 1 GiB,
 * every chunk otherwise; MEMREMAP_FULL=1 or `stride: 1` writes all), while
 * the verify loop still reads — and is timed over — all 2×A bytes.
 *
 * @module
 */
import { bootMachine } from "../machine.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { errname } from "../kernel/errno.ts";
import {
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../kernel/mm/mm-types.ts";
import { Process, SIGBUS, SignalDelivered } from "../kernel/mm/process.ts";
import type { KernelEvent } from "../kernel/events.ts";
import type { Traced } from "../sim/trace.ts";
import { dax_get_unmapped_area, dax_open, type DaxFile } from "../drivers/dax/device.ts";
import { userReadInto, userStore32 } from "../drivers/dax/uaccess.ts";
import type { NamespaceInfo, NdctlResult } from "../hw/nvdimm/ndctl.ts";
import type { SeriesPoint } from "./zone-device.ts";
import { warnings } from "./zone-device.ts";

const SZ_4K = 4096;
const SZ_2M = 2 ** 21;

/** VERIFY_TIME(A) of device-dax.c, in ns: ALIGN(A, 2 MiB) / 4 KiB × 30 µs. */
export function verifyBudgetNs(align: number): number {
  return (Math.ceil(align / SZ_2M) * SZ_2M / SZ_4K) * 30_000;
}

/** What one alignment's run of scenario 23 returns. */
export interface DeviceDaxRun {
  /** The series label. */
  series: string;
  /** The alignment. */
  align: number;
  /** Every ndctl step, "<what>: ok" or "<what>: <errno> <message>". */
  steps: string[];
  /** The fsdax and devdax namespaces' ndctl info. */
  fsdax: NamespaceInfo | null;
  /** The devdax namespace's info. */
  devdax: NamespaceInfo | null;
  /** 4 KiB chunks of pattern written through the block device. */
  patternChunks: number;
  /** The MAP_PRIVATE mmap's result ("-EINVAL" expected). */
  privateMmap: string;
  /** Whether the MAP_SHARED read-only mmap succeeded. */
  sharedMmap: boolean;
  /** Whether every pattern chunk read back intact through the mapping. */
  patternIntact: boolean;
  /** The first mismatch, "@ offset expected x got y", or null. */
  mismatch: string | null;
  /** Simulated ns of the verify loop. */
  verifyNs: number;
  /** Its budget, VERIFY_TIME(A). */
  verifyBudgetNs: number;
  /** DAX faults that mapped something during the verify loop, by size. */
  verifyFaults: { pte: number; pmd: number; pud: number };
  /** The store at buf + A after the reset: the signal's name or "none". */
  storeAfterReset: string;
  /** Whether the process was killed by that signal. */
  killed: boolean;
  /** devm_memremap_pages mappings set up and released over the run (memremap map / release_done). */
  pgmaps: { mapped: number; released: number; failed: number };
  /** WARNs printed during the run. */
  warnings: string[];
  /** Hang report text if anything stayed blocked, else null. */
  hang: string | null;
  /** Simulated time at the end, ns. */
  simNs: number;
}

function step(steps: string[], what: string, r: NdctlResult<NamespaceInfo>): NamespaceInfo | null {
  steps.push(r.ok ? `${what}: ok` : `${what}: ${errname(r.rc)} ${r.error}`);
  return r.ok ? r : null;
}

function countFaults(
  events: readonly Traced<KernelEvent>[],
): { pte: number; pmd: number; pud: number } {
  const c = { pte: 0, pmd: 0, pud: 0 };
  for (const e of events) {
    if (e.kind !== "dax" || e.ret !== 0x100) continue; // VM_FAULT_NOPAGE: something was mapped
    if (e.op === "pte_fault") c.pte++;
    else if (e.op === "pmd_fault") c.pmd++;
    else if (e.op === "pud_fault") c.pud++;
  }
  return c;
}

/** The pattern word of byte offset `i`, word `j`. */
function patternWord(salt: number, i: number, j: number): number {
  return (salt + i + j) >>> 0;
}

/**
 * Runs scenario 23 for one alignment at one series point on a fresh
 * "workstation-2018".
 *
 * @example The 2 MiB case at v5.0
 * ```ts
 * import { deviceDaxLifecycle } from "./s23-device-dax.ts";
 * import { assertEquals } from "@std/assert";
 * const r = deviceDaxLifecycle("v5.0", 2 ** 21);
 * assertEquals([r.privateMmap, r.sharedMmap, r.patternIntact, r.storeAfterReset], ["-EINVAL", true, true, "SIGBUS"]);
 * assertEquals(r.verifyFaults, { pte: 0, pmd: 2, pud: 0 });
 * ```
 */
export function deviceDaxLifecycle(
  series: SeriesPoint,
  align: number,
  opts: { stride?: number; seed?: number } = {},
): DeviceDaxRun {
  const full = Deno.env.get("MEMREMAP_FULL") === "1";
  const stride = opts.stride ?? (full ? 1 : align >= 2 ** 30 ? 512 : 1);
  const m = bootMachine("workstation-2018", { series, seed: opts.seed ?? 0 });
  const k: Kernel = m.k;
  const nd = m.hw!.ndctl!;
  const steps: string[] = [];
  k.trace.on = true;
  const warnBefore = warnings(k).length;
  const out: DeviceDaxRun = {
    series: k.series.label,
    align,
    steps,
    fsdax: null,
    devdax: null,
    patternChunks: 0,
    privateMmap: "",
    sharedMmap: false,
    patternIntact: false,
    mismatch: null,
    verifyNs: 0,
    verifyBudgetNs: verifyBudgetNs(align),
    verifyFaults: { pte: 0, pmd: 0, pud: 0 },
    storeAfterReset: "none",
    killed: false,
    pgmaps: { mapped: 0, released: 0, failed: 0 },
    warnings: [],
    hang: null,
    simNs: 0,
  };
  const finish = (): DeviceDaxRun => {
    const events = k.trace.events;
    for (const e of events) {
      if (e.kind !== "memremap") continue;
      if (e.op === "map") out.pgmaps.mapped++;
      else if (e.op === "release_done") out.pgmaps.released++;
      else if (e.op === "map_failed") out.pgmaps.failed++;
    }
    k.trace.on = false;
    out.warnings = warnings(k).slice(warnBefore);
    out.hang = k.sched.hangReport()?.text ?? null;
    out.simNs = k.now;
    return out;
  };
  // the test device: a raw namespace (ndctl_get_test_dev)
  const raw = step(steps, "create raw 4G", nd.createNamespace({ mode: "raw", size: "4G" }));
  if (raw === null) return finish();
  let dev = raw.dev;
  const reset = (what: string) => {
    const r = step(steps, what, nd.createNamespace({ reconfigure: dev, mode: "raw", force: true }));
    if (r !== null) dev = r.dev;
  };
  // 1. fsdax, and the pattern through the block device
  out.fsdax = step(
    steps,
    "setup_pmem_fsdax_mode",
    nd.createNamespace({ reconfigure: dev, mode: "fsdax", map: "dev", force: true, align }),
  );
  if (out.fsdax === null) return finish();
  dev = out.fsdax.dev;
  const disk = nd.namespace(dev)!.disk!;
  const p = new Process(k, "device-dax");
  const salt = k.prng.int(0x7fffffff);
  const chunk = new Uint8Array(SZ_4K);
  const words = new Uint32Array(chunk.buffer);
  const verifySize = 2 * align;
  for (let i = 0; i < verifySize; i += SZ_4K) {
    if ((i / SZ_4K) % stride !== 0) continue;
    for (let j = 0; j < SZ_4K / 4; j++) words[j] = patternWord(salt, i, j);
    const rc = disk.write(i / 512, chunk);
    if (rc !== 0) {
      steps.push(`pattern write @ ${i}: ${errname(rc)}`);
      return finish();
    }
    out.patternChunks++;
  }
  // 2. devdax; the private map must fail, the shared one must work
  out.devdax = step(
    steps,
    "setup_device_dax",
    nd.createNamespace({ reconfigure: dev, mode: "devdax", map: "dev", force: true, align }),
  );
  if (out.devdax === null) return finish();
  dev = out.devdax.dev;
  const path = `/dev/${out.devdax.chardev}`;
  let f: DaxFile | null = dax_open(k, path, false);
  if (f === null) {
    steps.push(`open ${path}: -ENXIO`);
    return finish();
  }
  const priv = p.mmap(0, verifySize, PROT_READ, MAP_PRIVATE, f, 0);
  out.privateMmap = priv < 0 ? errname(priv) : "mapped";
  if (priv >= 0) p.munmap(priv, verifySize);
  let buf = p.mmap(
    dax_get_unmapped_area(k, p.mm, f, 0, verifySize, 0, 0),
    verifySize,
    PROT_READ,
    MAP_SHARED | MAP_FIXED,
    f,
    0,
  );
  out.sharedMmap = buf >= 0;
  if (buf < 0) return finish();
  // 3. verify_data
  const n0 = k.trace.events.length;
  const t0 = k.now;
  out.patternIntact = true;
  for (let i = 0; i < verifySize; i += SZ_4K) {
    userReadInto(k, p, buf + i, chunk);
    if ((i / SZ_4K) % stride !== 0) continue;
    for (let j = 0; j < SZ_4K / 4; j++) {
      if (words[j] !== patternWord(salt, i, j)) {
        out.patternIntact = false;
        out.mismatch ??= `@ 0x${i.toString(16)} expected 0x${
          patternWord(salt, i, j).toString(16)
        } got 0x${words[j]!.toString(16)}`;
        break;
      }
    }
  }
  out.verifyNs = k.now - t0;
  out.verifyFaults = countFaults(k.trace.events.slice(n0));
  // 4. a writable mapping
  p.munmap(buf, verifySize);
  f = dax_open(k, path, true)!;
  buf = p.mmap(
    dax_get_unmapped_area(k, p.mm, f, 0, verifySize, 0, 0),
    verifySize,
    PROT_READ | PROT_WRITE,
    MAP_SHARED | MAP_FIXED,
    f,
    0,
  );
  if (buf < 0) {
    steps.push(`mmap rw: ${errname(buf)}`);
    return finish();
  }
  // 5. reset under the live mapping, then store
  reset("reset_device_dax");
  try {
    userStore32(k, p, buf + align, 0xff);
  } catch (e) {
    if (!(e instanceof SignalDelivered)) throw e;
    out.storeAfterReset = e.signo === SIGBUS ? "SIGBUS" : `signal ${e.signo}`;
    out.killed = p.exited && p.killedBy === e.signo;
  }
  // 6. out:
  reset("reset_device_dax (out)");
  return finish();
}
