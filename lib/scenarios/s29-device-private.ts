/**
 * Scenario 29 (SCENARIOS.md): device-private memory through
 * devm_memremap_pages, across patch 4/7.
 *
 * A pgmap of type MEMORY_DEVICE_PRIVATE over [16 GiB, +128 MiB) is mapped by
 * the Conventions' driver of the level. Before patch 4 devm_memremap_pages
 * treats it like any other type: arch_add_memory gives the range a linear
 * map, so a kernel load through `__va()` reaches the device range and reads
 * what the model says unbacked device memory returns (all ones). From patch
 * 4 it calls add_pages: struct pages exist, no linear map, and the same load
 * is an Oops — "BUG: unable to handle kernel paging request at <addr>" (the
 * v4.20 / v5.0 wording of arch/x86/mm/fault.c). The section map shows the
 * difference: present and valid at every level, linear only before patch 4.
 *
 * @module
 */
import { driver_probe_device } from "../kernel/device.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { __va, linearMapped } from "../kernel/mm/init-64.ts";
import { pfn_valid } from "../kernel/mm/mmzone.ts";
import { sectionState } from "../kernel/mm/section-info.ts";
import { MEMORY_DEVICE_PRIVATE } from "../kernel/mm/types.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import { TestDaxDevice, testDaxPmemDriver } from "./driver.ts";
import { describeResult, DEVICE_BASE, SECTION, type SeriesPoint } from "./zone-device.ts";

/**
 * What a CPU load from device memory with nothing behind it returns in the
 * model: all ones, as a PCIe read nobody completes does. (A placeholder until
 * the hardware issue gives device memory contents.)
 */
export const UNBACKED_DEVICE_MEMORY = 0xffff_ffff_ffff_ffffn;

/**
 * A kernel load of 8 bytes through the direct map, `*(u64 *)__va(phys)`
 * (simulator, not a kernel function): the value, or — when `phys` has no
 * linear map — the x86 page-fault Oops "BUG: unable to handle kernel paging
 * request at <__va(phys)>". Device memory reads {@link UNBACKED_DEVICE_MEMORY}.
 */
export function cpuLoadDirectMap(k: Kernel, phys: number): bigint {
  const va = __va(k, phys);
  if (!linearMapped(k, phys)) {
    k.oops(`BUG: unable to handle kernel paging request at ${va.toString(16).padStart(16, "0")}`);
  }
  return UNBACKED_DEVICE_MEMORY;
}

/** What scenario 29 returns at one series point. */
export interface DevicePrivateMap {
  /** The series label. */
  series: string;
  /** devm_memremap_pages' result ("__va(res.start)" or "-E..."). */
  map: string;
  /** The section has struct pages (pfn_valid). */
  structPages: boolean;
  /** The range is in the linear map. */
  linearMap: boolean;
  /** The section map's view of the section: present, valid, linear. */
  section: { present: boolean; valid: boolean; linear: boolean };
  /** The value a load through __va read (hex), or null if it Oopsed. */
  read: string | null;
  /** The Oops of the load, or null. */
  oops: string | null;
}

/**
 * Runs scenario 29 at one series point on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { devicePrivateMap } from "./s29-device-private.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(devicePrivateMap(3).linearMap, true);
 * assertEquals(devicePrivateMap(4).linearMap, false);
 * ```
 */
export function devicePrivateMap(series: SeriesPoint): DevicePrivateMap {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const dev = new TestDaxDevice(k, "dax0.0", {
    start: DEVICE_BASE,
    size: SECTION,
    type: MEMORY_DEVICE_PRIVATE,
  });
  const rc = m.call(driver_probe_device, testDaxPmemDriver(), dev);
  if (rc !== 0) throw new Error(`scenario 29: probe failed with ${rc}`);
  const phys = DEVICE_BASE + 4096;
  const r = m.run(function cpu_load(kk) {
    return cpuLoadDirectMap(kk, phys);
  }, { name: "reader" });
  const st = sectionState(k, DEVICE_BASE / SECTION);
  return {
    series: k.series.label,
    map: describeResult(k, dev.last!.addr!, DEVICE_BASE),
    structPages: pfn_valid(k, DEVICE_BASE / 4096),
    linearMap: linearMapped(k, phys),
    section: { present: st.present, valid: st.valid, linear: st.linear },
    read: r.done ? `0x${r.value!.toString(16)}` : null,
    oops: r.oopses[0]?.message ?? null,
  };
}
