import { assertEquals } from "@std/assert";
import { mirrorExports } from "../../lib/scenarios/s10-mirror-exports.ts";
import { Series } from "../../lib/series.ts";

Deno.test("scenario 10: the mirror and fault APIs and migrate_vma resolve for non-GPL modules at every level", () => {
  for (const s of [0, 1, 2, 3, 4, 5, 6, 7, "v4.20", "v5.0", "v5.2"] as const) {
    const r = mirrorExports(s);
    const level = new Series({ series: s }).level;
    const gplOnly = [
      ...(level < 1 ? [] : ["devm_memremap_pages"]),
      "get_dev_pagemap",
      ...(level < 7 ? [] : ["hmm_devmem_add", "hmm_devmem_add_resource"]),
    ];
    assertEquals(r.proprietaryUnknown, gplOnly, r.series);
    assertEquals(r.gplRet, 0, r.series);
    assertEquals(r.later, {
      hmm_range_fault: false,
      migrate_vma_setup: false,
      make_device_exclusive: false,
      migrate_device_range: false,
    }, r.series);
  }
});
