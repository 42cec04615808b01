/**
 * Scenario 30 (SCENARIOS.md): where HMM waits, and for what, across patches
 * 5 and 6. A GPU driver (hmm_devmem_add, 128 MiB device-private) has one
 * device page allocated and mapped in a process when the device is unbound;
 * the process unmaps it afterwards.
 *
 * - Levels 0..4: unbind blocks in hmm_devmem_ref_kill for one RCU grace
 *   period — the pages hold no references on the devmem's ref, so the wait
 *   does not track the mapped page — then hmm_devmem_release removes the
 *   section under it; two devm_remove_action WARNs (ref_kill and ref_exit
 *   each try to unregister themselves). The unmap Oopses on the removed struct
 *   page.
 * - Level 5: hmm_devmem_add registers no kill (patch 5 dropped the action,
 *   patch 6 brings it back as pgmap->kill): no kill, no wait, the pages are
 *   removed and percpu_ref_exit runs on a live ref; no WARN. The unmap Oopses.
 * - Levels 6..7, v5.0: pgmap->kill returns at once; the release's put loop
 *   takes the mapped page 2 → 1, which runs the driver's `free` for a page
 *   still mapped; the memory is removed; unbind blocks in
 *   hmm_devmem_ref_exit for the page's pgmap reference; the unmap that would
 *   drop it Oopses on the removed struct page, so unbind never returns.
 * - v5.2: the wait (pgmap->cleanup = hmm_devmem_ref_exit) runs before the
 *   memory is removed; the unmap drops the last reference and unbind
 *   completes.
 *
 * @module
 */
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { pfn_valid } from "../kernel/mm/mmzone.ts";
import { get_page, put_page } from "../kernel/mm/swap.ts";
import type { Page } from "../kernel/mm/types.ts";
import { msleep } from "../kernel/sched.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import {
  HmmTestDevice,
  hmmTestDriver,
  type HmmWait,
  hmmWaits,
  removeActionWarns,
} from "./hmm-driver.ts";
import { SECTION, type SeriesPoint } from "./zone-device.ts";

/** What scenario 30 returns at one series point. */
export interface HmmUnbindWait {
  /** The series label. */
  series: string;
  /** The device page the process had mapped. */
  page: Page;
  /** The waits of hmm_devmem_ref_kill / hmm_devmem_ref_exit, in order (ns null: never returned). */
  waits: HmmWait[];
  /** The function the unbinding task is left blocked in, or null. */
  blockedIn: string | null;
  /** The page's section was gone after unbind ran, before the process unmapped it. */
  removedWhileMapped: boolean;
  /** Pages the driver's `free` was called for during unbind (before the unmap). */
  freedDuringUnbind: Page[];
  /** WARNs from devm_remove_action. */
  removeActionWarns: number;
  /** The devmem's ref was killed. */
  killed: boolean;
  /** percpu_ref_exit ran on the ref before any kill. */
  exitedLive: boolean;
  /** The Oops of the process's unmap, or null. */
  unmapOops: string | null;
  /** Whether unbind finished. */
  unbindDone: boolean;
  /** The hang report at the end, or null. */
  hang: string | null;
}

/**
 * Runs scenario 30 at one series point on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { hmmUnbindWait } from "./s30-hmm-unbind-wait.ts";
 * import { assertEquals } from "@std/assert";
 * const r = hmmUnbindWait(5);
 * assertEquals([r.killed, r.exitedLive, r.waits.length], [false, true, 0]);
 * ```
 */
export function hmmUnbindWait(series: SeriesPoint): HmmUnbindWait {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  k.trace.on = true;
  const gpu = new HmmTestDevice(k, "gpu0", { size: SECTION });
  const rc = m.call(driver_probe_device, hmmTestDriver(), gpu);
  if (rc !== 0) throw new Error(`scenario 30: probe failed with ${rc}`);
  const devmem = gpu.last!.devmem!;
  const page = devmem.pfn_first + 7;
  // the process faults the page in: the driver allocates it and maps it (refcount 1 → 2)
  m.run(function process_map(kk) {
    get_page(kk, page);
  }, { name: "process" });

  const unbind = m.spawn("unbind", (kk) => device_release_driver(kk, gpu));
  m.runAll();
  const removedWhileMapped = !pfn_valid(k, page);
  const freedDuringUnbind = [...gpu.last!.frees];

  // later, the process unmaps the page (zap_pte_range: put_page)
  const proc = m.spawn("process", function* process_unmap(kk) {
    yield* msleep(kk, 1);
    put_page(kk, page);
  });
  const r = m.runAll();

  const events = k.trace.events;
  const refId = devmem.ref.id;
  let killed = false, exitedLive = false;
  for (const e of events) {
    if (e.kind !== "percpu_ref" || e.ref !== refId) continue;
    if (e.op === "kill") killed = true;
    if (e.op === "exit" && !killed) exitedLive = true;
  }
  const waits = hmmWaits(events);
  const open = waits.find((w) => w.ns === null && w.dev === gpu.name);
  return {
    series: k.series.label,
    page,
    waits,
    blockedIn: unbind.state === "blocked" ? open?.fn ?? "?" : null,
    removedWhileMapped,
    freedDuringUnbind,
    removeActionWarns: removeActionWarns(k),
    killed,
    exitedLive,
    unmapOops: r.oopses.find((o) => o.taskId === proc.id)?.message ?? null,
    unbindDone: unbind.state === "done",
    hang: r.blocked?.text ?? null,
  };
}
