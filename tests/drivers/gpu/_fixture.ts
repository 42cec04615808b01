/**
 * The GPU's test fixture: the "fuzz" machine (a GPU with 512 MiB of VRAM)
 * at a series preset, nouveau bound, a process whose address space the GPU
 * mirrors (closing its device file unregisters the mirror), and
 * hmm-tests-style helpers (1024-page buffers of int words).
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import { type GpuFixture, gpuFixture } from "../../../lib/scenarios/gpu-hmm.ts";
import {
  nouveau_gpu_read,
  nouveau_gpu_write,
  nouveau_svmm_bind,
  type NouveauSvmm,
  type SvmResult,
} from "../../../lib/drivers/gpu/svm.ts";
import type { Process } from "../../../lib/kernel/mm/process.ts";
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";

export type { GpuFixture };
/** HMM_BUFFER_SIZE / page size. */
export const NPAGES = 1024;
/** Words per page. */
export const WPP = 1024;
/** NTIMES. */
export const NTIMES = 10;
/** -EFAULT. */
export const EFAULT = 14;
/** The presets. */
export const PRESETS = ["v4.20", "v5.0", "v5.2"] as const;

/** The fixture at `series` (default v5.0). */
export function setup(series: "v4.20" | "v5.0" | "v5.2" = "v5.0"): GpuFixture {
  return gpuFixture(series);
}

/** The process exits; no device page may leak, no fault may have been cancelled unexpectedly. */
export function teardown(f: GpuFixture): void {
  if (!f.p.exited) f.p.exit();
  const d = f.drm.dmem!;
  assertEquals(d.allocated, d.freed, "device pages leaked");
}

/** mmap of `npages` anonymous pages. */
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

/** sign × i + c for every word. */
export function pattern(nwords: number, c = 0, sign = 1): Int32Array {
  const w = new Int32Array(nwords);
  for (let i = 0; i < nwords; i++) w[i] = sign * i + c;
  return w;
}

/** Asserts every word of `got` equals sign × i + c. */
export function assertPattern(got: Int32Array, c = 0, sign = 1, msg = ""): void {
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== sign * i + c) {
      throw new Error(`${msg} word ${i}: ${got[i]}, expected ${sign * i + c}`);
    }
  }
}

/** A GPU read into a fresh buffer. */
export function gpuRead(
  f: GpuFixture,
  addr: number,
  npages: number,
  svmm: NouveauSvmm = f.svmm,
): SvmResult & { mirror: Int32Array } {
  const mirror = new Int32Array(npages * WPP);
  return { ...nouveau_gpu_read(f.k, svmm, addr, npages, mirror), mirror };
}

/** A GPU write. */
export function gpuWrite(
  f: GpuFixture,
  addr: number,
  npages: number,
  data: Int32Array,
  svmm: NouveauSvmm = f.svmm,
): SvmResult {
  return nouveau_gpu_write(f.k, svmm, addr, npages, data);
}

/** The explicit migration to VRAM. */
export function bind(f: GpuFixture, addr: number, npages: number): SvmResult {
  return nouveau_svmm_bind(f.k, f.svmm, addr, npages);
}
