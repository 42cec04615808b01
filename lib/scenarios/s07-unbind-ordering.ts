/**
 * Scenario 7 (SCENARIOS.md): unbind ordering with no outstanding users.
 *
 * The Conventions' driver (lib/scenarios/driver.ts) binds an FS_DAX pgmap
 * over 128 MiB of device memory; nothing else holds a page. Unbind, then
 * re-probe the same range. The trace gives the order: kill, the 32768 page
 * puts, the ref's release (after an RCU grace period), memory removal,
 * untrack_pfn and the lookup deletion, the driver's wait and percpu_ref_exit.
 *
 * The grace period that completes the kill's switch to atomic mode can land
 * anywhere after the kill: the default schedule completes it only when no
 * task can run (inside pgmap_array_delete's synchronize_rcu, so the release
 * comes after the removal); `deferred: false` — the schedule ["gp"] —
 * completes it at the first preemption point (mem_hotplug_begin), before the
 * removal.
 *
 * `driver: "pmem" | "dax_pmem"` runs the same story on the real drivers
 * (nvdimm-rig.ts): a 128 MiB namespace over the whole pmem region at 16 GiB,
 * fsdax (nd_pmem, the queue's q_usage_counter as ref) or devdax (dax_pmem),
 * unbound with the nd bus's unbind and re-enabled through ndctl. The real
 * drivers' own devres actions come first (pmem_release_disk;
 * unregister_dev_dax and dax_region_unregister), and pmem's wait is
 * blk_cleanup_queue's freeze wait (devres pmem_release_queue, or its
 * pgmap->cleanup at v5.2).
 *
 * @module
 */
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { MEMORY_DEVICE_FS_DAX } from "../kernel/mm/types.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import { TestDaxDevice, testDaxPmemDriver } from "./driver.ts";
import { disableNamespace } from "../hw/nvdimm/namespace.ts";
import { nd_unbind_namespace } from "../drivers/nvdimm/bind.ts";
import { bootRig, createRigNamespace, type RealDriver, rigPgmap } from "./nvdimm-rig.ts";
import {
  DEVICE_BASE,
  SECTION,
  type SeriesPoint,
  teardownSteps,
  traceHash,
  warnings,
} from "./zone-device.ts";

/** What scenario 7 returns at one series point. */
export interface UnbindOrdering {
  /** The series label. */
  series: string;
  /** The bind's probe result. */
  probe: number;
  /** The unbind's steps (teardownSteps of its trace). */
  steps: string[];
  /** Whether the unbind finished (no task left blocked, no Oops). */
  unbindDone: boolean;
  /** The ref's release calls. */
  released: number;
  /** Whether the ref was percpu_ref_exit'ed. */
  refExited: boolean;
  /** WARNs during the unbind. */
  warnings: string[];
  /** The re-probe's result, and its ref count (1 + 32768 on success). */
  reprobe: { ret: number; refCount: number };
  /** The schedule's decisions during the unbind. */
  schedule: string[];
  /** Hash of the unbind's trace (scenario 33). */
  traceHash: string;
  /** Simulated time at the end of the unbind, ns. */
  simNs: number;
}

/**
 * Runs scenario 7 at one series point on a fresh "ram-4g" machine.
 * `early`: complete the grace period at the first chance (before memory
 * removal) instead of the default schedule's last chance.
 *
 * @example
 * ```ts
 * import { unbindOrdering } from "./s07-unbind-ordering.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const r = unbindOrdering("v5.0");
 * assertEquals([r.unbindDone, r.released, r.reprobe.ret], [true, 1, 0]);
 * assert(r.steps.indexOf("memremap kill") < r.steps.indexOf("sections removed"));
 * ```
 */
export function unbindOrdering(
  series: SeriesPoint,
  opts: { early?: boolean; seed?: number; driver?: "test" | RealDriver } = {},
): UnbindOrdering {
  if (opts.driver !== undefined && opts.driver !== "test") {
    return unbindOrderingReal(series, opts.driver, opts);
  }
  const m = bootZoneDeviceMachine("ram-4g", { series, seed: opts.seed ?? 0 });
  const k = m.k;
  const drv = testDaxPmemDriver();
  const dev = new TestDaxDevice(k, "dax0.0", {
    start: DEVICE_BASE,
    size: SECTION,
    type: MEMORY_DEVICE_FS_DAX,
  });
  const probe = m.call(driver_probe_device, drv, dev);
  const dax = dev.last!;
  const warnBefore = warnings(k).length;
  k.trace.on = true;
  const r = m.run(function* unbind(kk) {
    yield* device_release_driver(kk, dev);
  }, opts.early ? { schedule: ["gp"] } : {});
  k.trace.on = false;
  const events = [...k.trace.events];
  k.trace.clear();
  const reprobeRet = m.call(driver_probe_device, drv, dev);
  return {
    series: k.series.label,
    probe,
    steps: teardownSteps(events),
    unbindDone: r.done && r.blocked === null && r.oopses.length === 0,
    released: dax.ref.releaseFired,
    refExited: dax.ref.pcpu === null,
    warnings: warnings(k).slice(warnBefore),
    reprobe: { ret: reprobeRet, refCount: dev.last!.ref.value },
    schedule: r.schedule,
    traceHash: traceHash(events),
    simNs: k.clock.now,
  };
}

/** Scenario 7 on a real driver (see the module doc). */
function unbindOrderingReal(
  series: SeriesPoint,
  driver: RealDriver,
  opts: { early?: boolean; seed?: number },
): UnbindOrdering {
  const m = bootRig(series, opts.seed ?? 0);
  const k = m.k;
  const rig = createRigNamespace(m, driver);
  const probe = rig.created.ok ? 0 : rig.created.rc;
  const ns = rig.ns!, dev = rig.dev!;
  const { ref } = rigPgmap(m, driver, dev)!;
  const warnBefore = warnings(k).length;
  k.trace.on = true;
  const r = m.run(function* unbind(kk) {
    yield* nd_unbind_namespace(kk, ns);
  }, opts.early ? { schedule: ["gp"] } : {});
  k.trace.on = false;
  const events = [...k.trace.events];
  k.trace.clear();
  disableNamespace(ns); // what ndctl's disable-namespace does once the unbind returned
  const re = m.hw!.ndctl!.enableNamespace(ns.name);
  const again = rigPgmap(m, driver, dev);
  return {
    series: k.series.label,
    probe,
    steps: teardownSteps(events),
    unbindDone: r.done && r.blocked === null && r.oopses.length === 0,
    released: ref.releaseFired,
    refExited: ref.pcpu === null,
    warnings: warnings(k).slice(warnBefore),
    reprobe: { ret: re.rc, refCount: again === null || again.ref === ref ? -1 : again.ref.value },
    schedule: r.schedule,
    traceHash: traceHash(events),
    simNs: k.clock.now,
  };
}
