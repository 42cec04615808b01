import { assertEquals, assertStringIncludes } from "@std/assert";
import { hmmDevmemRemove } from "../../lib/scenarios/s28-hmm-devmem-remove.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";
import { Series } from "../../lib/series.ts";

const GONE = { sectionPresent: false, regionClaimed: false, radixKeys: 0 };

Deno.test("scenario 28: before patch 5 hmm_devmem_remove frees the range at once; from patch 5 it does not exist", () => {
  for (const s of ALL_SERIES) {
    const level = new Series({ series: s }).level;
    const r = hmmDevmemRemove(s);
    assertEquals(r.registered, {
      sectionPresent: true,
      regionClaimed: true,
      radixKeys: level <= 5 ? 1 : 0, // the section radix is gone with patch 6
    }, r.series);
    if (level <= 4) {
      assertEquals(r.module.ret, 0, r.series);
      assertEquals(r.remove, "ok", r.series);
      assertEquals(r.afterRemove, GONE, r.series);
      assertEquals(r.readdStart, 2 ** 46 - 2 ** 27, `${r.series}: the same slot is free again`);
      assertEquals([r.removeWarns, r.unbindWarns], [0, 0], r.series);
    } else {
      assertEquals(r.module.ret, -2, r.series);
      assertStringIncludes(
        r.module.log.join("\n"),
        "gpu_remove: Unknown symbol hmm_devmem_remove (err -2)",
      );
      assertStringIncludes(r.remove, "patch 5/7 removed it");
      assertEquals([r.afterRemove, r.readdStart], [null, null], r.series);
      assertEquals(r.unbindWarns, 0, r.series);
    }
    // the memory goes away at unbind in every case
    assertEquals(r.afterUnbind, GONE, r.series);
  }
});
