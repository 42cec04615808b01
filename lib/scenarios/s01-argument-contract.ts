/**
 * Scenario 1 (SCENARIOS.md): devm_memremap_pages' argument contract.
 *
 * (a) `ref` = NULL with `kill` set; (b) `ref` live with `kill` = NULL; over
 * an FS_DAX device range. From patch 3/7 both are -EINVAL before anything
 * happens — no lookup entries, no struct pages, no devres action, no kill,
 * and (b)'s ref stays live. At levels 0..2 there is no kill: (a) is -EINVAL
 * only after the conflict and RAM checks — shown by (a) over an all-RAM range
 * (levels 0..1: the RAM passthrough; level 2: -ENXIO) and (a) next to a live
 * pgmap in the same section (-ENOMEM) — and (b) succeeds.
 *
 * @module
 */
import { Device } from "../kernel/device.ts";
import { devresNames } from "../kernel/devres.ts";
import { devm_memremap_pages } from "../kernel/memremap.ts";
import { pfn_valid } from "../kernel/mm/mmzone.ts";
import { MEMORY_DEVICE_FS_DAX } from "../kernel/mm/types.ts";
import { percpu_ref_put, percpu_ref_tryget_live } from "../kernel/percpu-refcount.ts";
import type { Machine } from "../machine.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import {
  arrayEntries,
  describeResult,
  DEVICE_BASE,
  GiB,
  SECTION,
  type SeriesPoint,
  testPgmap,
  warnings,
} from "./zone-device.ts";

/** One call's outcome. */
export interface ArgCase {
  /** "-EINVAL", "__va(res.start)", ... */
  ret: string;
  /** pgmap_array entries after the call (all pgmaps of the machine). */
  arrayEntries: number;
  /** Whether the range's first section has struct pages after the call. */
  structPages: boolean;
  /** The device's devres nodes after the call. */
  devres: string[];
  /** Calls of pgmap->kill. */
  kills: number;
  /** Whether the ref is still live (tryget_live succeeds); null when the pgmap had no ref. */
  refLive: boolean | null;
}

/** What scenario 1 returns at one series point. */
export interface ArgumentContract {
  /** The series label. */
  series: string;
  /** (a) ref NULL, kill set. */
  a: ArgCase;
  /** (b) ref live, kill NULL. */
  b: ArgCase;
  /** (a) over [3 GiB, +128 MiB), all System RAM: where the NULL-ref check sits. */
  aOverRam: ArgCase;
  /** (a) in the section of a live pgmap: where the NULL-ref check sits. */
  aConflict: ArgCase;
  /** WARN messages printed during the scenario. */
  warnings: string[];
}

function runCase(
  m: Machine,
  start: number,
  size: number,
  opts: { ref: boolean; kill: boolean },
  name: string,
): ArgCase {
  const k = m.k;
  const t = testPgmap(k, start, size, {
    type: MEMORY_DEVICE_FS_DAX,
    ref: opts.ref,
    kill: opts.kill,
    cleanup: true,
  });
  const dev = new Device(k, name, "nd");
  const r = m.call(devm_memremap_pages, dev, t.pgmap);
  let refLive: boolean | null = null;
  if (opts.ref) {
    refLive = percpu_ref_tryget_live(k, t.ref);
    if (refLive) percpu_ref_put(k, t.ref);
  }
  return {
    ret: describeResult(k, r, start),
    arrayEntries: arrayEntries(k),
    structPages: pfn_valid(k, Math.floor(start / SECTION) * (SECTION / 4096)),
    devres: devresNames(dev),
    kills: t.kills,
    refLive,
  };
}

/**
 * Runs scenario 1 at one series point, each case on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { argumentContract } from "./s01-argument-contract.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(argumentContract("v5.0").b.ret, "-EINVAL");
 * assertEquals(argumentContract("v4.20").b.ret, "__va(res.start)");
 * ```
 */
export function argumentContract(series: SeriesPoint): ArgumentContract {
  const fresh = () => bootZoneDeviceMachine("ram-4g", { series });
  const m1 = fresh();
  const a = runCase(m1, DEVICE_BASE, SECTION, { ref: false, kill: true }, "dax0.0");
  const m2 = fresh();
  const b = runCase(m2, DEVICE_BASE, SECTION, { ref: true, kill: false }, "dax1.0");
  const m3 = fresh();
  const aOverRam = runCase(m3, 3 * GiB, SECTION, { ref: false, kill: true }, "dax2.0");
  const m4 = fresh();
  // a live neighbour in the section: A at [16 GiB, +64 MiB), complete for the level
  const nb = testPgmap(m4.k, DEVICE_BASE, SECTION / 2, {
    type: MEMORY_DEVICE_FS_DAX,
    kill: true,
    cleanup: true,
  });
  m4.call(devm_memremap_pages, new Device(m4.k, "dax3.0", "nd"), nb.pgmap);
  const aConflict = runCase(
    m4,
    DEVICE_BASE + SECTION / 2,
    SECTION / 2,
    { ref: false, kill: true },
    "dax3.1",
  );
  return {
    series: m1.k.series.label,
    a,
    b,
    aOverRam,
    aConflict,
    warnings: [m1, m2, m3, m4].flatMap((m) => warnings(m.k)),
  };
}
