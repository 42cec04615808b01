import { assertEquals } from "@std/assert";
import { scenario16 } from "../../lib/scenarios/hmm-process.ts";

for (const series of ["v4.20", "v5.0", "v5.2"] as const) {
  Deno.test(`scenario 16: migrate_vma to device memory at ${series}`, () => {
    const r = scenario16(series);
    assertEquals(r.deviceSections, 1, "hmm_devmem_add(64 MiB) rounds up to one section");
    assertEquals(r.before, { calloc: 0, cfree: 0 });
    assertEquals(r.migrate, { ret: 0, cpages: 1024 });
    assertEquals(r.writableDevicePrivatePtes, 1024);
    assertEquals(r.after, { calloc: 1024, cfree: 0 });
    assertEquals(r.deviceCopyEqual, true);
    assertEquals(r.oldPagesUnmapped, 1024);
    assertEquals(
      r.ramDelta,
      0,
      "1024 system pages freed, 1024 taken as the dummy device's backing",
    );
    assertEquals(r.snapshot, ["VALID|WRITE|DEVICE_PRIVATE"]);
  });
}
