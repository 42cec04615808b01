/**
 * Scenario 10 (SCENARIOS.md), the memremap and HMM device-memory part: the
 * GPL-only export matrix of patches 1/7 and 7/7, and put_page() from a
 * non-GPL module. (The mirror and migrate_vma rows come with the fault-path
 * issue's exports.)
 *
 * Verified in the sources (kernel/memremap.c, mm/hmm.c, v4.20 and v5.0):
 * devm_memremap_pages EXPORT_SYMBOL → EXPORT_SYMBOL_GPL (patch 1/7);
 * get_dev_pagemap EXPORT_SYMBOL_GPL at every level; hmm_devmem_add and
 * hmm_devmem_add_resource EXPORT_SYMBOL → EXPORT_SYMBOL_GPL (patch 7/7);
 * hmm_devmem_remove EXPORT_SYMBOL until patch 5/7 deletes it;
 * devmap_managed_key, __put_devmap_managed_page (kernel/memremap.c) and
 * __put_page (mm/swap.c) EXPORT_SYMBOL throughout, so the inline put_page()
 * works from any module.
 *
 * @module
 */
import { driver_probe_device } from "../kernel/device.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { get_page, put_page } from "../kernel/mm/swap.ts";
import { insmod, load_module } from "../kernel/module.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import { HmmTestDevice, hmmTestDriver } from "./hmm-driver.ts";
import { SECTION, type SeriesPoint } from "./zone-device.ts";

/** The four device-memory entry points a proprietary GPU module would want. */
export const DEVMEM_SYMBOLS: readonly string[] = [
  "devm_memremap_pages",
  "get_dev_pagemap",
  "hmm_devmem_add",
  "hmm_devmem_add_resource",
];

/** What a module calling the inline put_page() references. */
export const PUT_PAGE_SYMBOLS: readonly string[] = [
  "devmap_managed_key",
  "__put_devmap_managed_page",
  "__put_page",
];

/** How a symbol resolves for modules: for any module, for GPL modules only, or not at all. */
export type Resolution = "any" | "GPL-only" | "absent";

function resolve(k: Kernel, sym: string, n: number): Resolution {
  const anyOk = load_module(k, { name: `blob${n}`, license: "Proprietary", imports: [sym] }) === 0;
  const gplOk = load_module(k, { name: `gpl${n}`, license: "GPL", imports: [sym] }) === 0;
  return anyOk ? "any" : gplOk ? "GPL-only" : "absent";
}

/**
 * How each device-memory symbol (plus hmm_devmem_remove and the put_page
 * symbols) resolves at one series point, found by loading a proprietary and
 * a GPL module that import it.
 *
 * @example
 * ```ts
 * import { exportResolution } from "./s10-export-matrix.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(exportResolution(6).hmm_devmem_add, "any");
 * assertEquals(exportResolution(7).hmm_devmem_add, "GPL-only");
 * ```
 */
export function exportResolution(series: SeriesPoint): Record<string, Resolution> {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const out: Record<string, Resolution> = {};
  const syms = [...DEVMEM_SYMBOLS, "hmm_devmem_remove", ...PUT_PAGE_SYMBOLS];
  syms.forEach((sym, i) => out[sym] = resolve(m.k, sym, i));
  return out;
}

/** What loading the proprietary GPU module does at one series point. */
export interface ProprietaryGpuModule {
  /** The series label. */
  series: string;
  /** load_module of a proprietary module importing the four and the put_page symbols. */
  ret: number;
  /** The symbols its load reported as unknown, in order. */
  unknown: string[];
  /** A proprietary module importing only the put_page symbols, whose init put_page()s a ZONE_DEVICE page. */
  putPage: { ret: number; pageFreed: boolean };
  /** The same imports as `ret`'s module, declared GPL. */
  gplRet: number;
}

/**
 * Scenario 10 at one series point: a proprietary GPU module referencing
 * {@link DEVMEM_SYMBOLS} and the put_page symbols; one referencing only the
 * latter and putting a device page (an HMM page the test GPU mapped:
 * refcount 2 → 1 runs the driver's free); the same module declared GPL.
 *
 * @example
 * ```ts
 * import { proprietaryGpuModule } from "./s10-export-matrix.ts";
 * import { assertEquals } from "@std/assert";
 * const r = proprietaryGpuModule("v5.0");
 * assertEquals(r.unknown.length, 4);
 * assertEquals(r.putPage, { ret: 0, pageFreed: true });
 * ```
 */
export function proprietaryGpuModule(series: SeriesPoint): ProprietaryGpuModule {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const gpu = new HmmTestDevice(k, "gpu0", { size: SECTION });
  if (m.call(driver_probe_device, hmmTestDriver(), gpu) !== 0) {
    throw new Error("scenario 10: the test GPU failed to probe");
  }
  const page = gpu.last!.devmem!.pfn_first;
  get_page(k, page); // a page the GPU handed out: refcount 2
  const imports = [...DEVMEM_SYMBOLS, ...PUT_PAGE_SYMBOLS];
  const blob = insmod(k, { name: "gpu_blob", license: "Proprietary", imports });
  const unknown = blob.log.flatMap((l) => {
    const x = /^gpu_blob: Unknown symbol (\S+) /.exec(l);
    return x === null ? [] : [x[1]!];
  });
  const put = load_module(k, {
    name: "gpu_blob_put",
    license: "Proprietary",
    imports: PUT_PAGE_SYMBOLS,
    init(kk) {
      put_page(kk, page);
      return 0;
    },
  });
  const gplRet = load_module(k, { name: "gpu_gpl", license: "GPL", imports });
  return {
    series: k.series.label,
    ret: blob.ret,
    unknown,
    putPage: { ret: put, pageFreed: gpu.last!.frees.includes(page) },
    gplRet,
  };
}
