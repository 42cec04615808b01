/**
 * Scenario 3 (SCENARIOS.md): the conflict check is per section; there are no
 * sub-sections in 2018.
 *
 * A = [16 GiB, +64 MiB) is mapped; B = [16 GiB + 64 MiB, +64 MiB), in the same
 * section, with a live ref, is refused: -ENOMEM and "Conflicting mapping in
 * same section" (the probe of the section's first pfn finds A live). A is
 * untouched. Up to v5.0 the path returns before `kill`, so B's ref stays
 * live; 50f44ee7248a (v5.2) kills and cleans it up. The ndctl sub-section.sh
 * peer (two 2 MiB-aligned namespaces in one section) fails the same way at
 * every level: sub-section hotplug is v5.3.
 *
 * @module
 */
import { Device } from "../kernel/device.ts";
import { get_dev_pagemap, put_dev_pagemap } from "../kernel/memremap.ts";
import { devm_memremap_pages } from "../kernel/memremap.ts";
import { page_pgmap, page_ref_count } from "../kernel/mm/memmap.ts";
import { MEMORY_DEVICE_FS_DAX } from "../kernel/mm/types.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import {
  describeResult,
  DEVICE_BASE,
  MiB,
  SECTION,
  type SeriesPoint,
  testPgmap,
  warnings,
} from "./zone-device.ts";

/** What scenario 3 returns at one series point. */
export interface SectionConflict {
  /** The series label. */
  series: string;
  /** A's mapping. */
  a: string;
  /** B's mapping. */
  b: string;
  /** WARNs printed by B's attempt. */
  bWarnings: string[];
  /** get_dev_pagemap on A's first and last pfn returned A. */
  lookupA: boolean;
  /** Every page of A still has page->pgmap = A and refcount 1. */
  aPagesIntact: boolean;
  /** A's ref count (1 + its pages) after B's attempt. */
  aRefCount: number;
  /** B's ref is still live (not killed). */
  bRefLive: boolean;
  /** B's kill calls. */
  bKills: number;
  /** B's cleanup calls. */
  bCleanups: number;
  /** B's ref was percpu_ref_exit'ed. */
  bRefExited: boolean;
  /** The sub-section peer: a second 2 MiB namespace right after a first one. */
  subSection: { first: string; second: string };
}

/**
 * Runs scenario 3 at one series point on fresh "ram-4g" machines.
 *
 * @example
 * ```ts
 * import { sectionConflict } from "./s03-section-conflict.ts";
 * import { assertEquals } from "@std/assert";
 * const r = sectionConflict("v5.0");
 * assertEquals([r.b, r.bRefLive], ["-ENOMEM", true]);
 * ```
 */
export function sectionConflict(series: SeriesPoint): SectionConflict {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const half = SECTION / 2;
  const A = testPgmap(k, DEVICE_BASE, half, { type: MEMORY_DEVICE_FS_DAX });
  const B = testPgmap(k, DEVICE_BASE + half, half, { type: MEMORY_DEVICE_FS_DAX });
  const a = m.call(devm_memremap_pages, new Device(k, "pmem0", "nd"), A.pgmap);
  const before = warnings(k).length;
  const b = m.call(devm_memremap_pages, new Device(k, "pmem1", "nd"), B.pgmap);
  const bWarnings = warnings(k).slice(before);
  const first = DEVICE_BASE / 4096, last = first + half / 4096 - 1;
  const g1 = get_dev_pagemap(k, first, null), g2 = get_dev_pagemap(k, last, null);
  const lookupA = g1 === A.pgmap && g2 === A.pgmap;
  put_dev_pagemap(k, g1);
  put_dev_pagemap(k, g2);
  let aPagesIntact = true;
  for (let pfn = first; pfn <= last; pfn++) {
    if (page_pgmap(k, pfn) !== A.pgmap || page_ref_count(k, pfn) !== 1) aPagesIntact = false;
  }
  // ndctl sub-section.sh: two 2 MiB-aligned namespaces in one section
  const m2 = bootZoneDeviceMachine("ram-4g", { series });
  const s1 = testPgmap(m2.k, DEVICE_BASE, 2 * MiB, { type: MEMORY_DEVICE_FS_DAX });
  const s2 = testPgmap(m2.k, DEVICE_BASE + 2 * MiB, 2 * MiB, { type: MEMORY_DEVICE_FS_DAX });
  const r1 = m2.call(devm_memremap_pages, new Device(m2.k, "pmem0", "nd"), s1.pgmap);
  const r2 = m2.call(devm_memremap_pages, new Device(m2.k, "pmem1", "nd"), s2.pgmap);
  return {
    series: k.series.label,
    a: describeResult(k, a, DEVICE_BASE),
    b: describeResult(k, b, DEVICE_BASE + half),
    bWarnings,
    lookupA,
    aPagesIntact,
    aRefCount: A.ref.value,
    bRefLive: !B.ref.dead,
    bKills: B.kills,
    bCleanups: B.cleanups,
    bRefExited: B.ref.pcpu === null,
    subSection: {
      first: describeResult(m2.k, r1, DEVICE_BASE),
      second: describeResult(m2.k, r2, DEVICE_BASE + 2 * MiB),
    },
  };
}
