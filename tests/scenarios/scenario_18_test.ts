import { assertEquals } from "@std/assert";
import { scenario18 } from "../../lib/scenarios/hmm-process.ts";

for (const series of ["v4.20", "v5.0", "v5.2"] as const) {
  Deno.test(`scenario 18: shared anonymous memory is not migrated (migrate_shared) at ${series}`, () => {
    const r = scenario18(series);
    assertEquals(r.migrateVmaRet, 0);
    assertEquals(r.offered, 1024, "the empty entries are offered to the driver");
    assertEquals(r.moved, 0, "insertion into a non-anonymous VMA aborts");
    assertEquals(r.ptesUnchanged, true);
    assertEquals(r.allocs, r.frees, "every device page allocated comes back through ->free");
    assertEquals(r.allocs, 1024);
    assertEquals(r.driver, { ret: -2, cpages: 0 }, "the hmm-tests-style driver reports -ENOENT");
    // mapping-backed (shmem) pages: collected, MIGRATE cleared, restored
    assertEquals(r.touched, {
      collected: 1024,
      moved: 0,
      ptesUnchanged: true,
      allocs: 1024,
      frees: 1024,
    });
  });
}
