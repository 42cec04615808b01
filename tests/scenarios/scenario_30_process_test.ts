import { assert, assertEquals } from "@std/assert";
import { scenario30 } from "../../lib/scenarios/s30-hmm-unbind-process.ts";

const RCU_GP = 10_000_000;

for (const level of [0, 1, 2, 3, 4] as const) {
  Deno.test(`scenario 30: process side, level ${level} — unbind waits one grace period in hmm_devmem_ref_kill, then the unmap Oopses`, () => {
    const r = scenario30(level);
    assertEquals(r.waits, [{ fn: "hmm_devmem_ref_kill", ns: RCU_GP }]);
    assertEquals(r.unbindDone, true);
    assertEquals(
      r.freeWhileMapped,
      false,
      "v4.20 HMM pages hold no pgmap reference: no put, no free",
    );
    assertEquals(r.removedWhileMapped, true);
    assertEquals(r.warns, 2, "the two self-unregistering actions WARN");
    assert(r.oops?.startsWith("BUG: unable to handle kernel paging request at"));
    assert(r.oopsNamesPage, "the Oops address is the removed struct page of the mapped pfn");
    assertEquals(r.unmapDone, false);
  });
}

Deno.test("scenario 30: process side, level 5 — no kill, no wait, a live ref exited, pages removed, the unmap Oopses", () => {
  const r = scenario30(5);
  assertEquals(r.waits, []);
  assertEquals(r.unbindDone, true);
  assertEquals(r.warns, 0);
  assertEquals(r.refExitedLive, true);
  assertEquals(r.removedWhileMapped, true);
  assert(r.oopsNamesPage);
});

for (const level of [6, 7, "v5.0"] as const) {
  Deno.test(`scenario 30: process side, ${level} — free runs for the mapped page, memory removed, unbind blocks in hmm_devmem_ref_exit`, () => {
    const r = scenario30(level);
    assertEquals(r.freeWhileMapped, true, "the put loop takes the mapped page 2 -> 1: ->free");
    assertEquals(r.removedWhileMapped, true);
    assertEquals(r.unbindDone, false);
    assertEquals(r.blockedIn, "hmm_devmem_ref_exit");
    assertEquals(r.waits, [{ fn: "hmm_devmem_ref_exit", ns: -1 }]);
    assert(r.hang?.includes("unbind"));
    assert(r.oopsNamesPage, "the unmap that would drop the last reference Oopses");
    assertEquals(r.warns, 0);
  });
}

Deno.test("scenario 30: process side, v5.2 — cleanup waits before removal; the unmap lets the unbind complete", () => {
  const r = scenario30("v5.2");
  assertEquals(r.removedWhileMapped, false);
  assertEquals(r.unmapDone, true);
  assertEquals(r.oops, null);
  assertEquals(r.unbindDone, true);
  assertEquals(r.waits.length, 1);
  assertEquals(r.waits[0]!.fn, "hmm_devmem_ref_exit");
  assert(r.waits[0]!.ns > 0);
});
