import { assertEquals } from "@std/assert";
import { argumentContract } from "../../lib/scenarios/s01-argument-contract.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";

const nothingSetUp = { arrayEntries: 0, structPages: false, devres: [], kills: 0 };

Deno.test("scenario 1: argument contract — from patch 3/7 a NULL ref or kill is -EINVAL before anything happens", () => {
  for (const s of ALL_SERIES) {
    const r = argumentContract(s);
    const level = typeof s === "number" ? s : s === "v4.20" ? 0 : 7;
    if (level >= 3) {
      const { ret: _a, refLive: _ra, ...a } = r.a;
      const { ret: _b, refLive: _rb, ...b } = r.b;
      assertEquals([r.a.ret, r.b.ret], ["-EINVAL", "-EINVAL"], r.series);
      assertEquals(a, nothingSetUp, `${r.series} (a)`);
      assertEquals(b, nothingSetUp, `${r.series} (b)`);
      assertEquals(r.b.refLive, true, `${r.series}: (b)'s ref is still live`);
      // the NULL-ref check comes first: RAM and conflict paths never reached
      assertEquals([r.aOverRam.ret, r.aConflict.ret], ["-EINVAL", "-EINVAL"], r.series);
      assertEquals([r.aOverRam.kills, r.aConflict.kills], [0, 0], r.series);
      const missing = r.warnings.filter((w) => w === "Missing reference count teardown definition");
      assertEquals(missing.length, s === "v5.2" ? 4 : 0, `${r.series}: 50f44ee7248a's WARN`);
    } else {
      assertEquals(r.a.ret, "-EINVAL", r.series);
      assertEquals(r.a.arrayEntries + r.a.devres.length, 0, r.series);
      // (b): no kill member yet: it maps
      assertEquals(r.b.ret, "__va(res.start)", r.series);
      assertEquals([r.b.arrayEntries, r.b.structPages, r.b.devres], [
        1,
        true,
        ["devm_memremap_pages_release"],
      ], r.series);
      assertEquals(r.b.refLive, true, r.series);
      // (a) is -EINVAL only after the RAM and conflict checks
      assertEquals(r.aOverRam.ret, level < 2 ? "__va(res.start)" : "-ENXIO", r.series);
      assertEquals(r.aConflict.ret, "-ENOMEM", r.series);
      assertEquals([r.aOverRam.kills, r.aConflict.kills, r.a.kills, r.b.kills], [0, 0, 0, 0]);
    }
  }
});
