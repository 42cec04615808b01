import { assertEquals } from "@std/assert";
import { exportResolution, proprietaryGpuModule } from "../../lib/scenarios/s10-export-matrix.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";
import { Series } from "../../lib/series.ts";

Deno.test("scenario 10: a proprietary module cannot resolve the four device-memory entry points at level 7 and the presets; put_page still works", () => {
  for (const s of [7, "v5.0", "v5.2"] as const) {
    const r = proprietaryGpuModule(s);
    assertEquals(r.ret, -2, r.series);
    assertEquals(r.unknown, [
      "devm_memremap_pages",
      "get_dev_pagemap",
      "hmm_devmem_add",
      "hmm_devmem_add_resource",
    ], r.series);
    // devmap_managed_key, __put_devmap_managed_page and __put_page stay EXPORT_SYMBOL
    assertEquals(r.putPage, { ret: 0, pageFreed: true }, r.series);
    assertEquals(r.gplRet, 0, `${r.series}: the same module declared GPL resolves everything`);
  }
});

Deno.test("scenario 10: export matrix over levels 0..7 and the presets", () => {
  for (const s of ALL_SERIES) {
    const level = new Series({ series: s }).level;
    const r = exportResolution(s);
    assertEquals(r, {
      // patch 1/7
      devm_memremap_pages: level >= 1 ? "GPL-only" : "any",
      // EXPORT_SYMBOL_GPL already in v4.20 kernel/memremap.c
      get_dev_pagemap: "GPL-only",
      // patch 7/7
      hmm_devmem_add: level >= 7 ? "GPL-only" : "any",
      hmm_devmem_add_resource: level >= 7 ? "GPL-only" : "any",
      // patch 5/7 deletes it
      hmm_devmem_remove: level >= 5 ? "absent" : "any",
      devmap_managed_key: "any",
      __put_devmap_managed_page: "any",
      __put_page: "any",
    }, String(s));
  }
});

Deno.test("scenario 10: before patch 7 a proprietary GPU module fails on devm_memremap_pages and get_dev_pagemap only", () => {
  assertEquals(proprietaryGpuModule("v4.20").unknown, ["get_dev_pagemap"]);
  assertEquals(proprietaryGpuModule(6).unknown, ["devm_memremap_pages", "get_dev_pagemap"]);
});
