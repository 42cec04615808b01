import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { hmmSameSection } from "../../lib/scenarios/s27-hmm-same-section.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";
import { Series } from "../../lib/series.ts";

const COLLISION = "hmm_gpu D2: hmm_devmem_pages_create: collides with mapping for D1";

Deno.test("scenario 27: levels 0..5 — HMM's section radix refuses R2 in both layouts with -EBUSY", () => {
  for (const s of ALL_SERIES) {
    const level = new Series({ series: s }).level;
    if (level >= 6) continue;
    for (const layout of ["a", "b"] as const) {
      const r = hmmSameSection(s, layout);
      const at = `${r.series} (${layout})`;
      assertEquals([r.r1, r.r2], ["ok", "-EBUSY"], at);
      assertEquals(r.collisions, [COLLISION], at);
      assertEquals(r.conflictWarns, 0, at);
      // levels 0..4: the error path's kill runs devm_remove_action on an action never registered
      assertEquals(r.removeActionWarns, level <= 4 ? 1 : 0, at);
      // levels 0..4 unwind the ref (kill, wait, exit); level 5 leaves it to devm
      assertEquals(r.d2Ref, level <= 4 ? "exited" : "live", at);
      assertEquals(r.r1PagePgmap, "D1", at);
      assertEquals(r.r1Lookup, null, `${at}: HMM memory is not in pgmap_array before patch 6`);
      assert(r.d2UnbindDone, at);
    }
  }
});

Deno.test("scenario 27: levels 6..7 and v5.0 — (a) -ENOMEM before kill, D2's unbind hangs in hmm_devmem_ref_exit", () => {
  for (const s of [6, 7, "v5.0"] as const) {
    const r = hmmSameSection(s, "a");
    assertEquals([r.r1, r.r2], ["ok", "-ENOMEM"], r.series);
    assertEquals(r.collisions, [], r.series);
    assertEquals(r.conflictWarns, 1, r.series);
    assertEquals(r.d2Ref, "live", `${r.series}: returned before kill`);
    assertEquals([r.d2UnbindDone, r.d2BlockedIn], [false, "hmm_devmem_ref_exit"], r.series);
    assertStringIncludes(r.hang!, "devmem->completion of D2 (hmm_devmem_ref_exit)");
    assertStringIncludes(r.hang!, "live (never killed)");
    assertEquals([r.r1PagePgmap, r.r1Lookup], ["D1", "D1"], r.series);
  }
});

Deno.test("scenario 27b: levels 6..7 and the presets — R2 between the probed ends goes undetected and takes over R1's struct pages", () => {
  for (const s of [6, 7, "v5.0", "v5.2"] as const) {
    const r = hmmSameSection(s, "b");
    assertEquals([r.r1, r.r2], ["ok", "ok"], r.series);
    assertEquals([r.collisions, r.conflictWarns], [[], 0], r.series);
    // memmap_init_zone_device re-initialised the whole section for R2 ...
    assertEquals(r.r1PagePgmap, "D2", r.series);
    // ... while pgmap_array still maps R1's pfns to R1
    assertEquals(r.r1Lookup, "D1", r.series);
    // and D2's release removes the section R1 still uses
    assertEquals([r.d2UnbindDone, r.r1SectionAfterD2Unbind], [true, false], r.series);
  }
});

Deno.test("scenario 27: v5.2 — (a) -ENOMEM with D2's ref killed and cleaned up; its unbind completes", () => {
  const r = hmmSameSection("v5.2", "a");
  assertEquals([r.r2, r.conflictWarns, r.d2Ref], ["-ENOMEM", 1, "exited"]);
  assertEquals([r.d2UnbindDone, r.d2BlockedIn, r.hang], [true, null, null]);
});
