/**
 * Fixtures for the process-side tests: a kernel with 4 GiB of RAM and a process.
 *
 * @module
 */
import { Kernel } from "../../../lib/kernel/kernel.ts";
import { mm_init } from "../../../lib/kernel/mm/mmzone.ts";
import { Process } from "../../../lib/kernel/mm/process.ts";
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";

/** A kernel (series `series`) with [0, 3 GiB) and [4, 5 GiB) of RAM and a process. */
export function proc(series: "v4.20" | "v5.0" | "v5.2" = "v5.0"): { k: Kernel; p: Process } {
  const k = new Kernel({ series });
  mm_init(k, { ram: [{ start: 0, end: 3 * 2 ** 30 }, { start: 4 * 2 ** 30, end: 5 * 2 ** 30 }] });
  return { k, p: new Process(k, "test") };
}

/** A private anonymous read-write mapping of `npages`. */
export function anon(p: Process, npages: number, prot = PROT_READ | PROT_WRITE): number {
  const a = p.mmap(0, npages * 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS);
  if (a < 0) throw new Error(`mmap ${a}`);
  return a;
}

/** i + c in every word. */
export function words(n: number, c = 0): Int32Array {
  const w = new Int32Array(n);
  for (let i = 0; i < n; i++) w[i] = i + c;
  return w;
}
