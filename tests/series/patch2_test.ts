/**
 * Patch 2/7 "mm, devm_memremap_pages: Kill mapping "System RAM" support": a
 * range that is all System RAM "succeeds" at level 1 (with nothing set up)
 * and is -ENXIO with a WARN_ONCE at level 2.
 */
import { assertEquals } from "@std/assert";
import { Device } from "../../lib/kernel/device.ts";
import { devresNames } from "../../lib/kernel/devres.ts";
import { devm_memremap_pages } from "../../lib/kernel/memremap.ts";
import { __va } from "../../lib/kernel/mm/init-64.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";
import {
  arrayEntries,
  GiB,
  SECTION,
  testPgmap,
  warnings,
} from "../../lib/scenarios/zone-device.ts";

Deno.test("patch 2/7: an all-RAM range — __va passthrough at level 1, -ENXIO + WARN_ONCE 'ram' at level 2", () => {
  const out = [1, 2].map((series) => {
    const m = bootZoneDeviceMachine("ram-4g", { series });
    const t = testPgmap(m.k, 2 * GiB, SECTION);
    const dev = new Device(m.k, "pmem0", "nd");
    const r = m.call(devm_memremap_pages, dev, t.pgmap);
    return {
      ret: typeof r === "bigint" ? (r === __va(m.k, 2 * GiB) ? "__va" : "?") : String(r),
      entries: arrayEntries(m.k),
      devres: devresNames(dev),
      count: t.ref.value,
      warnings: warnings(m.k),
    };
  });
  assertEquals(out[0], { ret: "__va", entries: 0, devres: [], count: 1, warnings: [] });
  assertEquals(out[1], {
    ret: "ERR_PTR(-ENXIO)",
    entries: 0,
    devres: [],
    count: 1,
    warnings: [
      "devm_memremap_pages attempted on ram region [mem 0x80000000-0x87ffffff flags 0x200]",
    ],
  });
});
