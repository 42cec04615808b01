/**
 * Scenario 4 (SCENARIOS.md): a successful map — page state and reference
 * accounting. An FS_DAX pgmap over 128 MiB of device memory, no altmap, a
 * live ref: devm_memremap_pages returns __va(res.start); all 32768 pages are
 * ZONE_DEVICE with page->pgmap = the pgmap and refcount 1; the ref count is
 * 1 + 32768; get_dev_pagemap inside the range returns the pgmap and takes one
 * reference, outside it returns NULL.
 *
 * @module
 */
import { Device } from "../kernel/device.ts";
import { devm_memremap_pages, get_dev_pagemap, put_dev_pagemap } from "../kernel/memremap.ts";
import { is_zone_device_page, page_pgmap, page_ref_count } from "../kernel/mm/memmap.ts";
import { MEMORY_DEVICE_FS_DAX } from "../kernel/mm/types.ts";
import type { Machine } from "../machine.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import {
  describeResult,
  DEVICE_BASE,
  SECTION,
  type SeriesPoint,
  type TestPgmap,
  testPgmap,
} from "./zone-device.ts";

/** What scenario 4 returns at one series point. */
export interface SuccessfulMap {
  /** The series label. */
  series: string;
  /** "__va(res.start)" on success. */
  ret: string;
  /** Pages checked. */
  pages: number;
  /** Pages that are not ZONE_DEVICE, pgmap'd to this pgmap, refcount 1 (0 expected). */
  badPages: number;
  /** The ref's logical count after the map. */
  refCount: number;
  /** get_dev_pagemap inside the range: the pgmap? and the count change. */
  inside: { same: boolean; delta: number };
  /** get_dev_pagemap just below and just above the range returned NULL. */
  outsideNull: boolean;
}

/** Maps the scenario's pgmap on `m` (shared with scenario 6). */
export function mapFsdaxSection(m: Machine, start = DEVICE_BASE): { t: TestPgmap; ret: string } {
  const t = testPgmap(m.k, start, SECTION, { type: MEMORY_DEVICE_FS_DAX });
  const r = m.call(
    devm_memremap_pages,
    new Device(m.k, `pmem@${start.toString(16)}`, "nd"),
    t.pgmap,
  );
  return { t, ret: describeResult(m.k, r, start) };
}

/**
 * Runs scenario 4 at one series point on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { successfulMap } from "./s04-successful-map.ts";
 * import { assertEquals } from "@std/assert";
 * const r = successfulMap("v5.0");
 * assertEquals([r.ret, r.badPages, r.refCount], ["__va(res.start)", 0, 1 + 32768]);
 * ```
 */
export function successfulMap(series: SeriesPoint): SuccessfulMap {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const { t, ret } = mapFsdaxSection(m);
  const first = DEVICE_BASE / 4096, pages = SECTION / 4096;
  let badPages = 0;
  for (let pfn = first; pfn < first + pages; pfn++) {
    if (
      !is_zone_device_page(k, pfn) || page_pgmap(k, pfn) !== t.pgmap ||
      page_ref_count(k, pfn) !== 1
    ) badPages++;
  }
  const refCount = t.ref.value;
  const g = get_dev_pagemap(k, first + 1234, null);
  const inside = { same: g === t.pgmap, delta: t.ref.value - refCount };
  put_dev_pagemap(k, g);
  const outsideNull = get_dev_pagemap(k, first - 1, null) === null &&
    get_dev_pagemap(k, first + pages, null) === null;
  return { series: k.series.label, ret, pages, badPages, refCount, inside, outsideNull };
}
