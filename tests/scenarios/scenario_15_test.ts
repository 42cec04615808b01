import { assert, assertEquals } from "@std/assert";
import { scenario15 } from "../../lib/scenarios/hmm-process.ts";

for (const series of ["v4.20", "v5.0", "v5.2"] as const) {
  Deno.test(`scenario 15: invalidation against an in-flight snapshot (anon_teardown) at ${series}`, () => {
    const r = scenario15(series);
    // every mirror gets exactly one INVALIDATE, for exactly the unmapped interval
    assertEquals(r.syncsPerMirror, [[r.unmapped], [r.unmapped]]);
    assertEquals(r.rangeValidAfterMunmap, false);
    assert(r.staleEntriesZeroed, "the invalidated part of the snapshot is zeroed");
    assertEquals(r.rangeDone, false, "the driver must not commit the stale pfns");
    assertEquals(r.deviceEntriesInInterval, [0, 0]);
    assertEquals(r.deviceEntriesBelow, [512, 512]);
    assertEquals(r.retryLower, { ret: 0, rangeDone: true });
    assertEquals(r.retryFull, { ret: -22 }, "the VMA no longer covers the full range: -EINVAL");
  });
}
