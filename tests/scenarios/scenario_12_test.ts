import { assertEquals } from "@std/assert";
import { devicePublic } from "../../lib/scenarios/s12-device-public.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";

Deno.test("scenario 12: hmm_devmem_add_resource refuses a non-DEVICE_PUBLIC resource and maps a DEVICE_PUBLIC one CPU-addressable", () => {
  for (const s of ALL_SERIES) {
    const r = devicePublic(s);
    assertEquals([r.r1, r.r1Devmems], ["-EINVAL", 0], `${r.series}: R1 refused before allocating`);
    assertEquals(r.r2, "ok", r.series);
    assertEquals(r.type, "MEMORY_DEVICE_PUBLIC", r.series);
    assertEquals(r.linearMap, true, `${r.series}: linear map created`);
    assertEquals(r.pfns, r.resPfns, `${r.series}: pfn range equals R2`);
    assertEquals(r.pageRefcount, 1, `${r.series}: pages start free`);
  }
});
