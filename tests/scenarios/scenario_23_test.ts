import { assert, assertEquals } from "@std/assert";
import { deviceDaxLifecycle } from "../../lib/scenarios/s23-device-dax.ts";

Deno.test("scenario 23: device-dax lifecycle (ndctl device-dax.c) at 4 KiB, 2 MiB and 1 GiB, at every preset", () => {
  for (const series of ["v4.20", "v5.0", "v5.2"] as const) {
    for (const [align, fault] of [[4096, "pte"], [2 ** 21, "pmd"], [2 ** 30, "pud"]] as const) {
      const r = deviceDaxLifecycle(series, align);
      const what = `${r.series} align ${align}`;
      assertEquals(r.steps.filter((s) => !s.endsWith(": ok")), [], what);
      assertEquals([r.fsdax?.mode, r.fsdax?.map, r.fsdax?.align], ["fsdax", "dev", align], what);
      assertEquals([r.devdax?.mode, r.devdax?.align, r.devdax?.chardev], [
        "devdax",
        align,
        "dax0.0",
      ], what);
      // the pattern written through fsdax is intact through the devdax mapping
      assert(r.patternChunks > 0, what);
      assertEquals([r.patternIntact, r.mismatch], [true, null], what);
      // MAP_PRIVATE fails, MAP_SHARED works
      assertEquals([r.privateMmap, r.sharedMmap], ["-EINVAL", true], what);
      // the verify loop is as fast as a cacheable mapping, and faults at the device's align
      assert(
        r.verifyNs > 0 && r.verifyNs <= r.verifyBudgetNs,
        `${what}: ${r.verifyNs} > ${r.verifyBudgetNs}`,
      );
      assertEquals(r.verifyFaults, { pte: 0, pmd: 0, pud: 0, [fault]: 2 }, what);
      // the store after the reset to raw: SIGBUS
      assertEquals([r.storeAfterReset, r.killed], ["SIGBUS", true], what);
      // the pgmap is torn down and re-created at each mode change without errors
      assertEquals(r.pgmaps, { mapped: 2, released: 2, failed: 0 }, what);
      assertEquals([r.warnings, r.hang], [[], null], what);
    }
  }
});
