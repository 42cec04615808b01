import { assertEquals, assertStringIncludes } from "@std/assert";
import { systemRamRefused } from "../../lib/scenarios/s02-system-ram.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";

Deno.test("scenario 2: System RAM is refused (patch 2/7); from patch 3/7 each refusal kills the ref once", () => {
  for (const s of ALL_SERIES) {
    const r = systemRamRefused(s);
    const level = typeof s === "number" ? s : s === "v4.20" ? 0 : 7;
    assertEquals(r.arrayEntries, 0, r.series);
    assertEquals([r.x.devres, r.y.devres], [[], []], r.series);
    if (level < 2) {
      // X: the passthrough, nothing set up; Y: mixed
      assertEquals([r.x.ret, r.y.ret], ["__va(res.start)", "-ENXIO"], r.series);
      assertEquals([r.x.refCount, r.x.refDying], [1, false], r.series);
      assertEquals(r.x.warnings, [], r.series);
      assertEquals(r.y.warnings.length, 1, r.series);
      assertStringIncludes(
        r.y.warnings[0]!,
        "devm_memremap_pages attempted on mixed region [mem 0xfc000000-0x103ffffff",
      );
    } else {
      assertEquals([r.x.ret, r.y.ret], ["-ENXIO", "-ENXIO"], r.series);
      // one WARN_ONCE site: it prints for X ("ram") and never again
      assertEquals(r.x.warnings, [
        "devm_memremap_pages attempted on ram region [mem 0xc0000000-0xc7ffffff flags 0x200]",
      ], r.series);
      assertEquals(r.y.warnings, [], r.series);
    }
    const killed = level >= 3;
    assertEquals([r.x.kills, r.y.kills], killed ? [1, 1] : [0, 0], r.series);
    assertEquals([r.x.refDying, r.y.refDying], [killed, killed], r.series);
    // a killed ref with no other holders reaches 0 after the grace period
    if (killed) assertEquals([r.x.refCount, r.y.refCount], [0, 0], r.series);
  }
});
