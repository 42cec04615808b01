/**
 * Scenario 8 (SCENARIOS.md): the final devres registration inside
 * devm_memremap_pages fails (patch 3/7's fix).
 *
 * Fault point "devm_add_action" is armed once with the caller filter
 * `{ caller: "devm_memremap_pages" }`, and the Conventions' driver probes a
 * 128 MiB device range (type 0, as dax_pmem leaves it).
 *
 * - Patch 3/7 on: devm_add_action_or_reset runs the release at once — kill,
 *   the page puts, memory removal, lookup deletion — and devm_memremap_pages
 *   returns -ENOMEM; the probe fails, its devres unwinds without hanging,
 *   and probing again succeeds.
 * - Levels 0..2: the result is ignored, devm_memremap_pages "succeeds" with
 *   no release registered. What the model then does (kernel-reference §11
 *   S6): at unbind the driver's kill runs but nobody puts the per-page refs,
 *   so the wait in dax_pmem_percpu_exit blocks forever; the sections, the PAT
 *   reservation and the lookup entries stay. A second device cannot claim
 *   the range (the stuck one still holds its iomem region: -EBUSY), while a
 *   direct devm_memremap_pages of the same range succeeds: the stale entry's
 *   ref is dead, so the conflict probe ignores it, xa_store_range overwrites
 *   it, and __add_pages swallows -EEXIST. (The changelog's "fail forever" is
 *   the pre-XArray radix tree's -EEXIST, ≤ v4.19.)
 *
 * @module
 */
import { Device, device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { devresHasAction } from "../kernel/devres.ts";
import { errname } from "../kernel/errno.ts";
import {
  devm_memremap_pages,
  devm_memremap_pages_release,
  get_dev_pagemap,
  put_dev_pagemap,
} from "../kernel/memremap.ts";
import { MM, pfn_valid } from "../kernel/mm/mmzone.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import { TestDaxDevice, testDaxPmemDriver } from "./driver.ts";
import { nd_unbind_namespace } from "../drivers/nvdimm/bind.ts";
import { bootRig, createRigNamespace, type RealDriver, rigPgmap } from "./nvdimm-rig.ts";
import {
  arrayEntries,
  describeResult,
  DEVICE_BASE,
  SECTION,
  type SeriesPoint,
  teardownSteps,
  testPgmap,
} from "./zone-device.ts";

/** The memory state a failed or stuck mapping leaves. */
export interface LeftBehind {
  /** The range's section still has struct pages. */
  sections: boolean;
  /** PAT memtype reservations on the machine. */
  pat: number;
  /** pgmap_array entries. */
  arrayEntries: number;
}

/** What scenario 8 returns at one series point. */
export interface DevresFailure {
  /** The series label. */
  series: string;
  /** The first probe's result ("0" or "-ENOMEM"). */
  first: string;
  /** What devm_memremap_pages returned to it. */
  firstAddr: string;
  /** Whether devm_memremap_pages_release is registered on the device after the first probe. */
  releaseRegistered: boolean;
  /** The first probe's steps (teardownSteps): the immediate release from patch 3/7. */
  firstSteps: string[];
  /** The memory state after the first probe. */
  afterFirst: LeftBehind;
  /** Levels 0..2: the unbind of the "successfully" bound device (null from patch 3/7). */
  unbind: { done: boolean; hang: string | null; after: LeftBehind } | null;
  /** The second mapping through the driver: the same device re-probed (patch 3/7 on), or a second device on the range (levels 0..2). */
  second: string;
  /** Levels 0..2: a direct devm_memremap_pages of the range with a fresh live ref (null from patch 3/7). */
  remapDirect: { ret: string; lookupIsNew: boolean } | null;
}

function leftBehind(m: { k: import("../kernel/kernel.ts").Kernel }): LeftBehind {
  return {
    sections: pfn_valid(m.k, DEVICE_BASE / 4096),
    pat: m.k.state(MM).pat.length,
    arrayEntries: arrayEntries(m.k),
  };
}

/**
 * Runs scenario 8 at one series point on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { devresFailure } from "./s08-devres-failure.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals([devresFailure("v5.0").first, devresFailure("v5.0").second], ["-ENOMEM", "0"]);
 * assertEquals(devresFailure("v4.20").first, "0");
 * ```
 */
export function devresFailure(
  series: SeriesPoint,
  opts: { driver?: "test" | RealDriver } = {},
): DevresFailure {
  if (opts.driver !== undefined && opts.driver !== "test") {
    return devresFailureReal(series, opts.driver);
  }
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const drv = testDaxPmemDriver();
  const cfg = { start: DEVICE_BASE, size: SECTION };
  const dev = new TestDaxDevice(k, "dax0.0", cfg);
  k.faults.arm("devm_add_action", { nth: 1, caller: "devm_memremap_pages" });
  k.trace.on = true;
  const first = m.call(driver_probe_device, drv, dev);
  k.trace.on = false;
  const firstSteps = teardownSteps(k.trace.events);
  k.trace.clear();
  k.faults.disarm("devm_add_action");
  const dax = dev.last!;
  const out: DevresFailure = {
    series: k.series.label,
    first: errname(first),
    firstAddr: describeResult(k, dax.addr!, DEVICE_BASE),
    releaseRegistered: devresHasAction(dev, devm_memremap_pages_release, dax.pgmap),
    firstSteps,
    afterFirst: leftBehind(m),
    unbind: null,
    second: "",
    remapDirect: null,
  };
  if (first !== 0) {
    // patch 3/7: the probe failed cleanly; the same device probes again
    out.second = errname(m.call(driver_probe_device, drv, dev));
    return out;
  }
  const r = m.run(function* unbind(kk) {
    yield* device_release_driver(kk, dev);
  });
  out.unbind = { done: r.done, hang: r.blocked?.text ?? null, after: leftBehind(m) };
  const dev2 = new TestDaxDevice(k, "dax1.0", cfg);
  out.second = errname(m.call(driver_probe_device, drv, dev2));
  const t = testPgmap(k, DEVICE_BASE, SECTION);
  const ret = m.call(devm_memremap_pages, new Device(k, "dax2.0", "nd"), t.pgmap);
  const g = get_dev_pagemap(k, DEVICE_BASE / 4096, null);
  out.remapDirect = { ret: describeResult(k, ret, DEVICE_BASE), lookupIsNew: g === t.pgmap };
  put_dev_pagemap(k, g);
  return out;
}

/** Scenario 8 on a real driver (see the module doc). */
function devresFailureReal(series: SeriesPoint, driver: RealDriver): DevresFailure {
  const m = bootRig(series);
  const k = m.k;
  k.faults.arm("devm_add_action", { nth: 1, caller: "devm_memremap_pages" });
  k.trace.on = true;
  const rig = createRigNamespace(m, driver);
  k.trace.on = false;
  const events = [...k.trace.events];
  k.trace.clear();
  k.faults.disarm("devm_add_action");
  const failed = events.find((e) => e.kind === "memremap" && e.op === "map_failed");
  const ns = rig.ns!;
  const pg = rig.dev === null ? null : rigPgmap(m, driver, rig.dev);
  const out: DevresFailure = {
    series: k.series.label,
    first: rig.created.ok ? "0" : errname(rig.created.rc),
    firstAddr: failed !== undefined && failed.kind === "memremap"
      ? errname(failed.ret)
      : "__va(res.start)",
    releaseRegistered: rig.dev !== null && pg !== null &&
      devresHasAction(rig.dev, devm_memremap_pages_release, pg.pgmap),
    firstSteps: teardownSteps(events),
    afterFirst: leftBehind(m),
    unbind: null,
    second: "",
    remapDirect: null,
  };
  if (!rig.created.ok) {
    // patch 3/7: the probe failed cleanly; enabling the namespace again binds
    out.second = errname(m.hw!.ndctl!.enableNamespace(ns.name).rc);
    return out;
  }
  const r = m.run(function* unbind(kk) {
    yield* nd_unbind_namespace(kk, ns);
  });
  out.unbind = { done: r.done, hang: r.blocked?.text ?? null, after: leftBehind(m) };
  out.second = r.done ? "0" : "blocked";
  const t = testPgmap(k, DEVICE_BASE, SECTION);
  const ret = m.call(devm_memremap_pages, new Device(k, "dax2.0", "nd"), t.pgmap);
  const g = get_dev_pagemap(k, DEVICE_BASE / 4096, null);
  out.remapDirect = { ret: describeResult(k, ret, DEVICE_BASE), lookupIsNew: g === t.pgmap };
  put_dev_pagemap(k, g);
  return out;
}
