import { assert, assertEquals } from "@std/assert";
import { sectionConflict } from "../../lib/scenarios/s03-section-conflict.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";

Deno.test("scenario 3: a second pgmap in a mapped section is -ENOMEM; the conflict path kills only with 50f44ee7248a", () => {
  for (const s of ALL_SERIES) {
    const r = sectionConflict(s);
    assertEquals([r.a, r.b], ["__va(res.start)", "-ENOMEM"], r.series);
    assertEquals(r.bWarnings, ["nd pmem1: Conflicting mapping in same section"], r.series);
    assert(r.lookupA && r.aPagesIntact, `${r.series}: A untouched`);
    assertEquals(r.aRefCount, 1 + 16384, `${r.series}: A's count (the probe's get was put back)`);
    if (s === "v5.2") {
      assertEquals([r.bRefLive, r.bKills, r.bCleanups, r.bRefExited], [false, 1, 1, true]);
    } else {
      // the series' code returns before kill: B's ref stays live
      assertEquals(
        [r.bRefLive, r.bKills, r.bCleanups, r.bRefExited],
        [true, 0, 0, false],
        r.series,
      );
    }
  }
});

Deno.test("scenario 3: ndctl sub-section.sh (two 2 MiB namespaces in one section) fails at every level and preset", () => {
  for (const s of ALL_SERIES) {
    const r = sectionConflict(s);
    assertEquals(r.subSection, { first: "__va(res.start)", second: "-ENOMEM" }, r.series);
  }
});
