/**
 * Scenario 28 (SCENARIOS.md): hmm_devmem_remove across patch 5/7.
 *
 * Before patch 5 a driver can remove its device memory explicitly —
 * hmm_devmem_remove kills the ref and waits, exits it, releases the devmem
 * (sections removed, section keys deleted) and releases the memory region —
 * and the range is free again: the next hmm_devmem_add gets the same slot.
 * No WARN: each action finds its own devres node. From patch 5 the function
 * does not exist: a module importing it fails to load ("Unknown symbol
 * hmm_devmem_remove"), calling it is a RangeError in the model, and the
 * memory goes away only at unbind.
 *
 * @module
 */
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { hmm_devmem_remove, hmmDevmemRadix } from "../kernel/hmm.ts";
import type { HmmDevmem } from "../kernel/hmm.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { pfn_valid } from "../kernel/mm/mmzone.ts";
import { insmod } from "../kernel/module.ts";
import { radixTreeEntries } from "../kernel/radix-tree.ts";
import { iomem_resource, lookup_resource } from "../kernel/resource.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import { HmmTestDevice, hmmTestDriver, warnHeaders } from "./hmm-driver.ts";
import { SECTION, type SeriesPoint } from "./zone-device.ts";

/** Where a devmem's memory stands. */
export interface DevmemMemory {
  /** Its first section still has struct pages. */
  sectionPresent: boolean;
  /** Its physical range is still claimed in iomem. */
  regionClaimed: boolean;
  /** Keys in HMM's section radix (levels 0..5). */
  radixKeys: number;
}

/** What scenario 28 returns at one series point. */
export interface HmmDevmemRemove {
  /** The series label. */
  series: string;
  /** A GPL module importing hmm_devmem_add and hmm_devmem_remove: load_module's result and log. */
  module: { ret: number; log: string[] };
  /** "ok", or the RangeError's message when the function does not exist. */
  remove: string;
  /** Right after the registration. */
  registered: DevmemMemory;
  /** After hmm_devmem_remove (null when it does not exist). */
  afterRemove: DevmemMemory | null;
  /** Start of a second device's hmm_devmem_add after the remove (null when not tried). */
  readdStart: number | null;
  /** After gpu0's (and the re-added gpu1's) unbind. */
  afterUnbind: DevmemMemory;
  /** WARNs printed by hmm_devmem_remove. */
  removeWarns: number;
  /** WARNs printed by gpu0's unbind. */
  unbindWarns: number;
}

function memoryOf(k: Kernel, devmem: HmmDevmem): DevmemMemory {
  return {
    sectionPresent: pfn_valid(k, devmem.pfn_first),
    regionClaimed: lookup_resource(iomem_resource(k), devmem.resource!.start) !== null,
    radixKeys: [...radixTreeEntries(hmmDevmemRadix(k))].length,
  };
}

/**
 * Runs scenario 28 at one series point on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { hmmDevmemRemove } from "./s28-hmm-devmem-remove.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(hmmDevmemRemove(4).afterRemove?.sectionPresent, false);
 * assertEquals(hmmDevmemRemove(5).module.ret, -2);
 * ```
 */
export function hmmDevmemRemove(series: SeriesPoint): HmmDevmemRemove {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const module = insmod(k, {
    name: "gpu_remove",
    license: "GPL",
    imports: ["hmm_devmem_add", "hmm_devmem_remove"],
  });
  const gpu = new HmmTestDevice(k, "gpu0", { size: SECTION });
  const drv = hmmTestDriver();
  if (m.call(driver_probe_device, drv, gpu) !== 0) throw new Error("scenario 28: probe failed");
  const devmem = gpu.last!.devmem!;
  const registered = memoryOf(k, devmem);
  let remove = "ok";
  let afterRemove: DevmemMemory | null = null;
  let readdStart: number | null = null;
  let removeWarns = 0;
  const gpu1 = new HmmTestDevice(k, "gpu1", { size: SECTION });
  try {
    const w = warnHeaders(k).length;
    m.call(hmm_devmem_remove, devmem);
    removeWarns = warnHeaders(k).length - w;
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    remove = e.message; // the function does not exist at this level
  }
  if (remove === "ok") {
    afterRemove = memoryOf(k, devmem);
    if (m.call(driver_probe_device, drv, gpu1) === 0) {
      readdStart = gpu1.last!.devmem!.resource!.start;
    }
  }
  const w = warnHeaders(k).length;
  m.call(device_release_driver, gpu);
  const unbindWarns = warnHeaders(k).length - w;
  m.call(device_release_driver, gpu1);
  const afterUnbind = memoryOf(k, devmem);
  return {
    series: k.series.label,
    module,
    remove,
    registered,
    afterRemove,
    readdStart,
    afterUnbind,
    removeWarns,
    unbindWarns,
  };
}
