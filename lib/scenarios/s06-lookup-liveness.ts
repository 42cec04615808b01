/**
 * Scenario 6 (SCENARIOS.md): get_dev_pagemap liveness, on the mapped pgmap
 * of scenario 4. (a) a lookup takes one reference and put_dev_pagemap drops
 * it; (b) after `kill`, without any release, the lookup is NULL although the
 * pfn → pgmap entry still exists (tryget_live fails on a dying ref); (c) a
 * cached pgmap covering the pfn is returned with no new reference, one not
 * covering it is put and a fresh lookup is done.
 *
 * @module
 */
import { get_dev_pagemap, pgmapArray, put_dev_pagemap } from "../kernel/memremap.ts";
import { percpu_ref_kill } from "../kernel/percpu-refcount.ts";
import { xa_load } from "../kernel/xarray.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import { mapFsdaxSection } from "./s04-successful-map.ts";
import { DEVICE_BASE, SECTION, type SeriesPoint } from "./zone-device.ts";

/** What scenario 6 returns at one series point. */
export interface LookupLiveness {
  /** The series label. */
  series: string;
  /** (a) the lookup returned the pgmap; count change after get, then after put. */
  a: { same: boolean; afterGet: number; afterPut: number };
  /** (b) after kill: the entry still exists, the lookup is NULL. */
  b: { entryExists: boolean; lookupNull: boolean };
  /** (c) cached covering: same pgmap, no count change; cached not covering: its count −1, the other pgmap +1. */
  c: {
    coveringSame: boolean;
    coveringDelta: number;
    otherReturned: boolean;
    cachedDelta: number;
    otherDelta: number;
  };
}

/**
 * Runs scenario 6 at one series point on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { lookupLiveness } from "./s06-lookup-liveness.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(lookupLiveness("v5.0").b, { entryExists: true, lookupNull: true });
 * ```
 */
export function lookupLiveness(series: SeriesPoint): LookupLiveness {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const { t } = mapFsdaxSection(m);
  const other = mapFsdaxSection(m, DEVICE_BASE + SECTION).t;
  const pfn = DEVICE_BASE / 4096 + 77;
  const otherPfn = (DEVICE_BASE + SECTION) / 4096 + 5;
  // (a)
  const c0 = t.ref.value;
  const g = get_dev_pagemap(k, pfn, null);
  const afterGet = t.ref.value - c0;
  put_dev_pagemap(k, g);
  const a = { same: g === t.pgmap, afterGet, afterPut: t.ref.value - c0 };
  // (c) before the kill
  const held = get_dev_pagemap(k, pfn, null)!;
  const h0 = t.ref.value, o0 = other.ref.value;
  const covering = get_dev_pagemap(k, pfn + 1000, held);
  const coveringDelta = t.ref.value - h0;
  const moved = get_dev_pagemap(k, otherPfn, held);
  const c = {
    coveringSame: covering === held,
    coveringDelta,
    otherReturned: moved === other.pgmap,
    cachedDelta: t.ref.value - h0,
    otherDelta: other.ref.value - o0,
  };
  put_dev_pagemap(k, moved);
  // (b)
  percpu_ref_kill(k, t.ref);
  const b = {
    entryExists: xa_load(pgmapArray(k), pfn) === t.pgmap,
    lookupNull: get_dev_pagemap(k, pfn, null) === null,
  };
  return { series: k.series.label, a, b, c };
}
