/**
 * Scenario 12 (SCENARIOS.md): hmm_devmem_add_resource requires a
 * DEVICE_PUBLIC resource. R1 (desc IORES_DESC_NONE) is refused with -EINVAL
 * before anything is set up; R2 (desc IORES_DESC_DEVICE_PUBLIC_MEMORY)
 * registers as MEMORY_DEVICE_PUBLIC memory that the CPU can address (a
 * linear map is created), whose pfn range is exactly R2. Holds at every
 * level and preset (verified in v4.20 and v5.0 mm/hmm.c: the desc check is
 * the function's first statement at both).
 *
 * @module
 */
import { Device } from "../kernel/device.ts";
import { errname, IS_ERR } from "../kernel/errno.ts";
import { hmm_devmem_add_resource, hmmDevmems } from "../kernel/hmm.ts";
import { linearMappedRange } from "../kernel/mm/init-64.ts";
import { page_pgmap, page_ref_count } from "../kernel/mm/memmap.ts";
import { memoryTypeName } from "../kernel/mm/types.ts";
import { IORES_DESC_NONE, resource_size } from "../kernel/resource.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import { HmmTestGpu, insertDeviceMemoryResource } from "./hmm-driver.ts";
import { GiB, SECTION, type SeriesPoint } from "./zone-device.ts";

/** What scenario 12 returns at one series point. */
export interface DevicePublic {
  /** The series label. */
  series: string;
  /** hmm_devmem_add_resource(R1) (desc NONE). */
  r1: string;
  /** Devmems R1's call allocated (0: refused before allocating). */
  r1Devmems: number;
  /** hmm_devmem_add_resource(R2) (desc DEVICE_PUBLIC). */
  r2: string;
  /** The pgmap type of R2's pages ("MEMORY_DEVICE_PUBLIC"). */
  type: string;
  /** R2 is in the kernel's linear map (CPU-addressable). */
  linearMap: boolean;
  /** devmem->pfn_first and pfn_last (exclusive). */
  pfns: [number, number];
  /** R2's pfn range [first, end). */
  resPfns: [number, number];
  /** Refcount of R2's first page (1: free). */
  pageRefcount: number;
}

/**
 * Runs scenario 12 at one series point on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { devicePublic } from "./s12-device-public.ts";
 * import { assertEquals } from "@std/assert";
 * const r = devicePublic("v4.20");
 * assertEquals([r.r1, r.r2, r.type, r.linearMap], ["-EINVAL", "ok", "MEMORY_DEVICE_PUBLIC", true]);
 * ```
 */
export function devicePublic(series: SeriesPoint): DevicePublic {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const R1 = insertDeviceMemoryResource(k, "cdm0", 16 * GiB, SECTION, IORES_DESC_NONE);
  const R2 = insertDeviceMemoryResource(k, "cdm1", 32 * GiB, 2 * SECTION);
  const d1 = new Device(k, "cdm-dev0", "platform");
  const d2 = new Device(k, "cdm-dev1", "platform");
  const r1 = m.call(hmm_devmem_add_resource, new HmmTestGpu().ops, d1, R1);
  const r2 = m.call(hmm_devmem_add_resource, new HmmTestGpu().ops, d2, R2);
  const first = R2.start / 4096;
  const end = first + resource_size(R2) / 4096;
  const ok = !IS_ERR(r2);
  return {
    series: k.series.label,
    r1: IS_ERR(r1) ? errname(r1.err) : "ok",
    r1Devmems: hmmDevmems(k, d1).length,
    r2: IS_ERR(r2) ? errname(r2.err) : "ok",
    type: ok ? memoryTypeName(page_pgmap(k, first)!.type) : "none",
    linearMap: linearMappedRange(k, R2.start, R2.end + 1),
    pfns: ok ? [r2.pfn_first, r2.pfn_last] : [-1, -1],
    resPfns: [first, end],
    pageRefcount: ok ? page_ref_count(k, first) : -1,
  };
}
