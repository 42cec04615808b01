/**
 * Scenario 2 (SCENARIOS.md): System RAM is refused (patch 2/7).
 *
 * RAM is [0, 4 GiB). X = [3 GiB, +128 MiB) is all RAM; Y = [4 GiB − 64 MiB,
 * 4 GiB + 64 MiB) also covers a top-level non-RAM "Persistent Memory"
 * resource [4 GiB, +64 MiB), so its section-aligned span is REGION_MIXED.
 * Map X, then Y, each with a live ref.
 *
 * @module
 */
import { Device } from "../kernel/device.ts";
import { devresNames } from "../kernel/devres.ts";
import { devm_memremap_pages } from "../kernel/memremap.ts";
import {
  insert_resource,
  iomem_resource,
  IORES_DESC_PERSISTENT_MEMORY,
  IORESOURCE_MEM,
  Resource,
} from "../kernel/resource.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import {
  arrayEntries,
  describeResult,
  GiB,
  MiB,
  SECTION,
  type SeriesPoint,
  testPgmap,
  warnings,
} from "./zone-device.ts";

/** One mapping attempt of scenario 2. */
export interface RamCase {
  /** "__va(res.start)", "-ENXIO", ... */
  ret: string;
  /** Calls of pgmap->kill. */
  kills: number;
  /** Whether the ref is dying (killed) afterwards. */
  refDying: boolean;
  /** The ref's logical count afterwards. */
  refCount: number;
  /** The device's devres nodes afterwards. */
  devres: string[];
  /** WARNs printed by this call. */
  warnings: string[];
}

/** What scenario 2 returns at one series point. */
export interface SystemRamRefused {
  /** The series label. */
  series: string;
  /** X, all RAM. */
  x: RamCase;
  /** Y, RAM and Persistent Memory. */
  y: RamCase;
  /** pgmap_array entries at the end. */
  arrayEntries: number;
}

/**
 * Runs scenario 2 at one series point on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { systemRamRefused } from "./s02-system-ram.ts";
 * import { assertEquals } from "@std/assert";
 * const r = systemRamRefused(2);
 * assertEquals([r.x.ret, r.y.ret], ["-ENXIO", "-ENXIO"]);
 * ```
 */
export function systemRamRefused(series: SeriesPoint): SystemRamRefused {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  insert_resource(
    k,
    iomem_resource(k),
    new Resource({
      name: "Persistent Memory",
      start: 4 * GiB,
      end: 4 * GiB + 64 * MiB - 1,
      flags: IORESOURCE_MEM,
      desc: IORES_DESC_PERSISTENT_MEMORY,
    }),
  );
  const one = (start: number, name: string): RamCase => {
    const t = testPgmap(k, start, SECTION);
    const dev = new Device(k, name, "nd");
    const before = warnings(k).length;
    const r = m.call(devm_memremap_pages, dev, t.pgmap);
    return {
      ret: describeResult(k, r, start),
      kills: t.kills,
      refDying: t.ref.dead,
      refCount: t.ref.value,
      devres: devresNames(dev),
      warnings: warnings(k).slice(before),
    };
  };
  const x = one(3 * GiB, "pmem0");
  const y = one(4 * GiB - 64 * MiB, "pmem1");
  return { series: k.series.label, x, y, arrayEntries: arrayEntries(k) };
}
