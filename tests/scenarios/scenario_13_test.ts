import { assert, assertEquals } from "@std/assert";
import { scenario13 } from "../../lib/scenarios/hmm-process.ts";

for (const series of ["v4.20", "v5.0", "v5.2"] as const) {
  Deno.test(`scenario 13: mirror read of mixed anonymous states (anon_read) at ${series}`, () => {
    const r = scenario13(series);
    assertEquals(r.ret, 0);
    assertEquals(r.copied, 1024);
    assert(r.firstTwoZero, "pages 0 (untouched) and 1 (zero page) read as zeros");
    assert(r.page1IsZeroPage, "the CPU-read page is mapped to the zero page");
    assert(r.indexOk, "every other word holds its index");
    assertEquals(r.rangeDone, true);
    assertEquals(r.faultPasses, 1);
    assertEquals(r.driver, { ret: 0, cpages: 1024, faults: 1, dataOk: true });
  });
}
