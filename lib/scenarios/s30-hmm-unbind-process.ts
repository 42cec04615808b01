/**
 * Scenario 30 of SCENARIOS.md, process side: where HMM's unbind waits, and
 * for what, across patches 5 and 6 — a device driver (the dmirror stand-in
 * for the GPU driver) has one device page allocated and mapped in a real
 * process (a device-private swap entry in its page table) when the device is
 * unbound; later the process munmaps the page, and the zap's put_page of the
 * device-private entry is what touches the struct page. (s30-hmm-unbind-wait.ts
 * tells the device side with a get_page/put_page stand-in for the mapping.)
 *
 * What the model shows (and where it comes from):
 * - levels 0..4 (v4.20 HMM): hmm_devmem_ref_kill kills the ref and waits for
 *   its completion — an RCU grace period, since v4.20 HMM pages hold no
 *   pgmap references — then hmm_devmem_release removes the pages while one
 *   is still mapped; each self-unregistering action WARNs. The process's
 *   later unmap reads the removed struct page (Oops naming its vmemmap
 *   address, i.e. its pfn).
 * - level 5: no kill registered (patch 5 dropped it), no wait; the pages are
 *   removed and a live ref exited; no WARNs. The unmap Oopses.
 * - levels 6..7 and v5.0: pgmap->kill returns at once; the release's put loop
 *   drops the mapped page 2 → 1, so the driver's free runs for a page the
 *   process still maps; the memory is removed; the unbind blocks in
 *   hmm_devmem_ref_exit for the page's pgmap reference — forever, since the
 *   unmap that would drop it Oopses on the removed struct page.
 * - v5.2: cleanup (hmm_devmem_ref_exit) waits before anything is removed;
 *   the unmap drops the last reference and the unbind completes.
 *
 * @module
 */
import { bootMachine } from "../machine.ts";
import type { SeriesOptions } from "../series.ts";
import type { Kernel } from "../kernel/kernel.ts";
import {
  type Dmirror,
  dmirror_create,
  dmirror_migrate,
  dmirror_open,
  dmirror_unbind,
  type DmirrorDevice,
} from "../drivers/dmirror.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../kernel/mm/mm-types.ts";
import { MM, sectionOf } from "../kernel/mm/mmzone.ts";
import {
  device_private_entry_to_page,
  is_device_private_entry,
  pte_to_swp_entry,
  pteAt,
} from "../kernel/mm/pgtable.ts";
import { Process } from "../kernel/mm/process.ts";

/** Scenario 30's observations at one series level. */
export interface Scenario30 {
  /** The series label. */
  series: string;
  /** The device page the process maps. */
  page: number;
  /** Whether the unbind task finished. */
  unbindDone: boolean;
  /** Functions the unbinding task waited in, with how long (simulated ns; -1: still waiting). */
  waits: Array<{ fn: string; ns: number }>;
  /** The function a still-blocked unbind waits in (from the trace), else null. */
  blockedIn: string | null;
  /** The hang report's first line for the unbind task, else null. */
  hang: string | null;
  /** Whether the driver's free callback ran for the page while the process still mapped it. */
  freeWhileMapped: boolean;
  /** Whether the page's section was gone while the process still mapped the page. */
  removedWhileMapped: boolean;
  /** WARNs printed during the unbind. */
  warns: number;
  /** Whether percpu_ref_exit ran on the devmem's ref while it still counted references. */
  refExitedLive: boolean;
  /** The Oops the later unmap hit, else null. */
  oops: string | null;
  /** Whether the Oops names the page's struct page (its vmemmap address). */
  oopsNamesPage: boolean;
  /** Whether the unmap task finished. */
  unmapDone: boolean;
}

function vmemmapAddr(k: Kernel, pfn: number): string {
  const a = k.state(MM).vmemmapStart + BigInt(pfn) * 64n;
  return (a & 0xffffffffffffffffn).toString(16).padStart(16, "0");
}

/**
 * Runs scenario 30 at `series`: map one device page in a process, unbind
 * the device (a task), then unmap the page (another task).
 */
export function scenario30(series: SeriesOptions["series"]): Scenario30 {
  const m = bootMachine("small", series === undefined ? {} : { series });
  const k = m.k;
  k.trace.on = true;
  const md = m.call(dmirror_create, {}) as DmirrorDevice;
  const p = new Process(k, "gpu-user");
  const d = dmirror_open(k, md, p.mm) as Dmirror;
  const a = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  p.store32(a, 42);
  dmirror_migrate(k, d, a, 1);
  const e = pte_to_swp_entry(pteAt(p.mm.pgd, a));
  if (!is_device_private_entry(e)) {
    throw new Error("Cannot run scenario 30: the page did not migrate");
  }
  const page = device_private_entry_to_page(e);
  const cfree0 = md.cfree;
  const warns0 = k.dmesg.grep("WARNING:").length;
  const ev0 = k.trace.events.length;
  const r1 = m.run(function* unbind(kk: Kernel) {
    yield* dmirror_unbind(kk, md);
  }, { name: "unbind" });
  const freeWhileMapped = md.cfree > cfree0;
  const removedWhileMapped = sectionOf(k.state(MM), page) === null;
  const warns = k.dmesg.grep("WARNING:").length - warns0;
  const r2 = m.run(function unmap() {
    return p.munmap(a, 4096);
  }, { name: "unmap" });
  const waits: Array<{ fn: string; ns: number }> = [];
  const open = new Map<string, number>();
  for (const ev of k.trace.events.slice(ev0)) {
    if (ev.kind !== "hmm") continue;
    if (ev.op === "wait") open.set(ev.fn, waits.push({ fn: ev.fn, ns: -1 }) - 1);
    if (ev.op === "woken") {
      const i = open.get(ev.fn);
      if (i !== undefined) waits[i]!.ns = ev.n;
      open.delete(ev.fn);
    }
  }
  const still = waits.find((w) => w.ns < 0) ?? null;
  const hangEntry = r2.blocked?.entries.find((x) => x.task.startsWith("unbind")) ?? null;
  const unbindDone = r1.done || hangEntry === null;
  const oops = r2.oopses.find((o) => o.task.startsWith("unmap")) ?? null;
  const refExitedLive = k.trace.events.slice(ev0).some((ev) =>
    ev.kind === "percpu_ref" && ev.op === "exit" && ev.name === "hmm_devmem_ref_release" &&
    ev.count > 0
  );
  return {
    series: k.series.label,
    page,
    unbindDone,
    waits,
    blockedIn: hangEntry !== null ? still?.fn ?? null : null,
    hang: hangEntry !== null ? r2.blocked!.text.split("\n").slice(0, 2).join(" / ") : null,
    freeWhileMapped,
    removedWhileMapped,
    warns,
    refExitedLive,
    oops: oops?.message ?? null,
    oopsNamesPage: oops !== null && oops.message.includes(vmemmapAddr(k, page).slice(0, 12)),
    unmapDone: r2.done,
  };
}
