/**
 * PAT memtype tracking for remapped pfn ranges (arch/x86/mm/pat.c, v4.20):
 * track_pfn_remap / untrack_pfn with a NULL vma, as devm_memremap_pages
 * uses them. Reservations are recorded per kernel (MmState.pat), so a test
 * can see one left behind.
 *
 * The model requests write-back (PAGE_KERNEL) only, so overlapping requests
 * never conflict. System RAM is not tracked: reserve_pfn_range takes its RAM
 * branch (returns 0, no reservation) whenever pat_pagerange_is_ram is
 * non-zero — which includes -1, a range mixing RAM and non-RAM. With PAT
 * disabled nothing is recorded.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EINVAL, ENOMEM } from "../errno.ts";
import { pr_info, WARN } from "../printk.ts";
import { PAGE_SIZE } from "./constants.ts";
import { MM } from "./mmzone.ts";

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/**
 * pat_pagerange_is_ram(start, end) (arch/x86/mm/pat.c, static): 1 all RAM,
 * 0 none, -1 mixed. (The kernel's legacy-ISA clamp is not modelled.)
 */
function pat_pagerange_is_ram(k: Kernel, start: number, end: number): number {
  let ram = 0;
  for (const r of k.state(MM).ram) {
    const a = Math.max(start, r.start);
    const b = Math.min(end, r.end);
    if (a < b) ram += b - a;
  }
  return ram === 0 ? 0 : ram === end - start ? 1 : -1;
}

/**
 * track_pfn_remap(vma, prot, pfn, addr, size): with vma NULL, reserves the
 * memtype of [pfn, pfn + size) for the whole chunk (reserve_pfn_range →
 * reserve_memtype). Returns 0; -EINVAL for an empty range (with a WARN);
 * -ENOMEM when the memtype node cannot be
 * allocated (fault point "track_pfn_remap").
 */
export function track_pfn_remap(
  k: Kernel,
  vma: null,
  _prot: unknown,
  pfn: number,
  _addr: number,
  size: number,
): number {
  if (vma !== null) throw new TypeError("Cannot track_pfn_remap with a vma: not modelled");
  const mm = k.state(MM);
  const start = pfn * PAGE_SIZE;
  const end = start + size;
  const is_ram = pat_pagerange_is_ram(k, start, end);
  if (is_ram !== 0) return 0; // the RAM branch (also taken for a mixed range): no reservation
  if (start >= end) {
    WARN(k, true, `reserve_memtype failed: [mem ${hex(start)}-${hex(end - 1)}], req write-back`);
    return -EINVAL;
  }
  if (!mm.patEnabled) return 0;
  let ret = 0;
  if (k.faults.shouldFail("track_pfn_remap")) ret = -ENOMEM;
  else mm.pat.push({ start, end, type: "write-back" });
  if (k.trace.on) k.trace.emit({ kind: "hotplug", op: "pat_track", start, size, ret });
  return ret;
}

/**
 * untrack_pfn(vma, pfn, size): with vma NULL, frees the reservation of exactly
 * [pfn, pfn + size); one that does not exist logs "x86/PAT: <comm>:<pid>
 * freeing invalid memtype [mem ...]" (free_memtype's -EINVAL, ignored).
 */
export function untrack_pfn(k: Kernel, vma: null, pfn: number, size: number): void {
  if (vma !== null) throw new TypeError("Cannot untrack_pfn with a vma: not modelled");
  const mm = k.state(MM);
  if (!mm.patEnabled) return;
  const start = pfn * PAGE_SIZE;
  const end = start + size;
  const is_ram = pat_pagerange_is_ram(k, start, end);
  if (is_ram !== 0) return;
  const i = mm.pat.findIndex((r) => r.start === start && r.end === end);
  let ret = 0;
  if (i < 0) {
    const { comm, pid } = k.currentDesc;
    pr_info(
      k,
      `x86/PAT: ${comm}:${pid} freeing invalid memtype [mem ${hex(start)}-${hex(end - 1)}]`,
    );
    ret = -EINVAL;
  } else {
    mm.pat.splice(i, 1);
  }
  if (k.trace.on) k.trace.emit({ kind: "hotplug", op: "pat_untrack", start, size, ret });
}
