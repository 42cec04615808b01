import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { devresFailure } from "../../lib/scenarios/s08-devres-failure.ts";
import { ALL_SERIES, stepAt } from "../../lib/scenarios/zone-device.ts";

Deno.test("scenario 8: the final devres registration fails — from patch 3/7 the full release runs and -ENOMEM is returned", () => {
  for (const s of ALL_SERIES) {
    const level = typeof s === "number" ? s : s === "v4.20" ? 0 : 7;
    if (level < 3) continue;
    const r = devresFailure(s);
    assertEquals(
      [r.first, r.firstAddr, r.releaseRegistered],
      ["-ENOMEM", "-ENOMEM", false],
      r.series,
    );
    // kill, page puts, memory removal, lookup deletion — then the error
    const at = [
      "memremap kill",
      "page put ×32768 → 0",
      "sections removed",
      "untrack_pfn",
      "memremap array_delete",
      "memremap map_failed",
    ].map((l) => stepAt(r.firstSteps, l));
    assert(
      at.every((x, i) => x >= 0 && (i === 0 || x > at[i - 1]!)),
      `${r.series}: ${r.firstSteps}`,
    );
    assertEquals(r.afterFirst, { sections: false, pat: 0, arrayEntries: 0 }, r.series);
    assertEquals([r.unbind, r.second, r.remapDirect], [null, "0", null], r.series);
  }
});

Deno.test("scenario 8: levels 0..2 — success with no release registered; unbind hangs in the driver's wait, state is left behind", () => {
  for (const s of [0, 1, 2, "v4.20"] as const) {
    const r = devresFailure(s);
    assertEquals(
      [r.first, r.firstAddr, r.releaseRegistered],
      ["0", "__va(res.start)", false],
      r.series,
    );
    assertEquals(r.afterFirst, { sections: true, pat: 1, arrayEntries: 1 }, r.series);
    assertEquals(r.unbind?.done, false, r.series);
    const hang = r.unbind!.hang!;
    assertStringIncludes(hang, "task unbind[");
    assertStringIncludes(hang, "wait_for_completion 'dax_pmem dax0.0 ref'");
    assertStringIncludes(hang, "32768 held by pages of pgmap");
    assertStringIncludes(hang, "devm_memremap_pages_release is not on any device's list");
    // sections, PAT reservation and lookup entries remain
    assertEquals(r.unbind!.after, { sections: true, pat: 1, arrayEntries: 1 }, r.series);
    // another device cannot claim the range (the stuck one holds its region) ...
    assertEquals(r.second, "-EBUSY", r.series);
    // ... but a direct re-map "succeeds" over the stale entries (XArray overwrite, -EEXIST swallowed)
    assertEquals(r.remapDirect, { ret: "__va(res.start)", lookupIsNew: true }, r.series);
  }
});

Deno.test("scenario 8: on the real drivers — patch 3/7's -ENOMEM after the full release, and the level 0..2 hang in each driver's own wait", () => {
  for (const driver of ["pmem", "dax_pmem"] as const) {
    for (const s of [0, 2, 3, 7, "v4.20", "v5.0", "v5.2"] as const) {
      const level = typeof s === "number" ? s : s === "v4.20" ? 0 : 7;
      const r = devresFailure(s, { driver });
      const what = `${driver} ${r.series}`;
      assertEquals(r.releaseRegistered, false, what);
      if (level >= 3) {
        assertEquals([r.first, r.firstAddr, r.second], ["-ENOMEM", "-ENOMEM", "0"], what);
        const at = [
          "memremap kill",
          "page put ×32768 → 0",
          "sections removed",
          "untrack_pfn",
          "memremap array_delete",
          "memremap map_failed",
        ]
          .map((l) => stepAt(r.firstSteps, l));
        assert(
          at.every((x, i) => x >= 0 && (i === 0 || x > at[i - 1]!)),
          `${what}: ${r.firstSteps}`,
        );
        assertEquals(r.afterFirst, { sections: false, pat: 0, arrayEntries: 0 }, what);
        continue;
      }
      assertEquals([r.first, r.firstAddr], ["0", "__va(res.start)"], what);
      assertEquals(r.afterFirst, { sections: true, pat: 1, arrayEntries: 1 }, what);
      assertEquals([r.unbind?.done, r.second], [false, "blocked"], what);
      const hang = r.unbind!.hang!;
      assertStringIncludes(
        hang,
        driver === "pmem"
          ? "blk_mq_freeze_queue_wait on queue 'pmem0'"
          : "wait_for_completion 'dax_pmem dax0.0 ref'",
      );
      assertStringIncludes(hang, "32768 held by pages of pgmap");
      assertEquals(r.unbind!.after, { sections: true, pat: 1, arrayEntries: 1 }, what);
      assertEquals(r.remapDirect, { ret: "__va(res.start)", lookupIsNew: true }, what);
    }
  }
});
