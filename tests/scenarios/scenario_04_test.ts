import { assertEquals } from "@std/assert";
import { successfulMap } from "../../lib/scenarios/s04-successful-map.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";

Deno.test("scenario 4: a successful map — 32768 ZONE_DEVICE pages at refcount 1, ref count 1 + 32768, lookups", () => {
  for (const s of ALL_SERIES) {
    const r = successfulMap(s);
    assertEquals(r, {
      series: r.series,
      ret: "__va(res.start)",
      pages: 32768,
      badPages: 0,
      refCount: 1 + 32768,
      inside: { same: true, delta: 1 },
      outsideNull: true,
    });
  }
});
