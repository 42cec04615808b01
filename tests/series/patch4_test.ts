/**
 * Patch 4/7 "mm, devm_memremap_pages: Add MEMORY_DEVICE_PRIVATE support":
 * from level 4 a MEMORY_DEVICE_PRIVATE pgmap gets struct pages through
 * add_pages — no linear map, no KASAN shadow — and is removed with
 * __remove_pages; at level 3 it goes through arch_add_memory like the rest.
 */
import { assertEquals } from "@std/assert";
import { createMachine } from "../../lib/machine.ts";
import { Device } from "../../lib/kernel/device.ts";
import { devres_release_all } from "../../lib/kernel/devres.ts";
import { IS_ERR } from "../../lib/kernel/errno.ts";
import { devm_memremap_pages } from "../../lib/kernel/memremap.ts";
import { linearMappedRange } from "../../lib/kernel/mm/init-64.ts";
import { is_zone_device_page, page_pgmap } from "../../lib/kernel/mm/memmap.ts";
import { MM, mm_init, pfn_valid } from "../../lib/kernel/mm/mmzone.ts";
import { MEMORY_DEVICE_FS_DAX, MEMORY_DEVICE_PRIVATE } from "../../lib/kernel/mm/types.ts";
import { DEVICE_BASE, SECTION, testPgmap } from "../../lib/scenarios/zone-device.ts";

function mapAndUnmap(series: number, type: 1 | 3) {
  const m = createMachine({ series });
  mm_init(m.k, { ram: [{ start: 0, end: 2 ** 32 }], kasan: true });
  const t = testPgmap(m.k, DEVICE_BASE, SECTION, { type, kill: true });
  const dev = new Device(m.k, "hmm0", "");
  const r = m.call(devm_memremap_pages, dev, t.pgmap);
  const mapped = {
    ok: !IS_ERR(r),
    structPages: pfn_valid(m.k, DEVICE_BASE / 4096) &&
      is_zone_device_page(m.k, DEVICE_BASE / 4096) &&
      page_pgmap(m.k, DEVICE_BASE / 4096 + 9) === t.pgmap,
    linearMap: linearMappedRange(m.k, DEVICE_BASE, DEVICE_BASE + SECTION),
    kasanShadow: m.k.state(MM).kasan.length,
  };
  m.call(devres_release_all, dev);
  const after = {
    structPages: pfn_valid(m.k, DEVICE_BASE / 4096),
    linearMap: linearMappedRange(m.k, DEVICE_BASE, DEVICE_BASE + SECTION),
    kasanShadow: m.k.state(MM).kasan.length,
  };
  return { mapped, after };
}

Deno.test("patch 4/7: MEMORY_DEVICE_PRIVATE — linear map + KASAN shadow at level 3, struct pages only at level 4", () => {
  assertEquals(mapAndUnmap(3, MEMORY_DEVICE_PRIVATE), {
    mapped: { ok: true, structPages: true, linearMap: true, kasanShadow: 1 },
    after: { structPages: false, linearMap: false, kasanShadow: 0 },
  });
  assertEquals(mapAndUnmap(4, MEMORY_DEVICE_PRIVATE), {
    mapped: { ok: true, structPages: true, linearMap: false, kasanShadow: 0 },
    after: { structPages: false, linearMap: false, kasanShadow: 0 },
  });
});

Deno.test("patch 4/7: other types are unchanged between levels 3 and 4", () => {
  assertEquals(mapAndUnmap(3, MEMORY_DEVICE_FS_DAX), mapAndUnmap(4, MEMORY_DEVICE_FS_DAX));
  assertEquals(mapAndUnmap(4, MEMORY_DEVICE_FS_DAX).mapped.linearMap, true);
});
