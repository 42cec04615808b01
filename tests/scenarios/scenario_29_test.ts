import { assertEquals } from "@std/assert";
import { devicePrivateMap } from "../../lib/scenarios/s29-device-private.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";
import { Series } from "../../lib/series.ts";

Deno.test("scenario 29: device-private memory gets a linear map before patch 4 and struct pages only from patch 4", () => {
  for (const s of ALL_SERIES) {
    const level = new Series({ series: s }).level;
    const r = devicePrivateMap(s);
    assertEquals([r.map, r.structPages], ["__va(res.start)", true], r.series);
    if (level < 4) {
      assertEquals(r.linearMap, true, r.series);
      assertEquals(r.section, { present: true, valid: true, linear: true }, r.series);
      assertEquals([r.read, r.oops], ["0xffffffffffffffff", null], r.series);
    } else {
      assertEquals(r.linearMap, false, r.series);
      assertEquals(r.section, { present: true, valid: true, linear: false }, r.series);
      assertEquals(r.read, null, r.series);
      // __va(16 GiB + 4 KiB) on 4-level paging
      assertEquals(
        r.oops,
        "BUG: unable to handle kernel paging request at ffff888400001000",
        r.series,
      );
    }
  }
});
