import { assertEquals } from "@std/assert";
import { lookupLiveness } from "../../lib/scenarios/s06-lookup-liveness.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";

Deno.test("scenario 6: get_dev_pagemap liveness — +1/−1, NULL once killed, the cached fast path", () => {
  for (const s of ALL_SERIES) {
    const r = lookupLiveness(s);
    assertEquals(r.a, { same: true, afterGet: 1, afterPut: 0 }, r.series);
    assertEquals(r.b, { entryExists: true, lookupNull: true }, r.series);
    assertEquals(r.c, {
      coveringSame: true,
      coveringDelta: 0,
      otherReturned: true,
      cachedDelta: -1,
      otherDelta: 1,
    }, r.series);
  }
});
