import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { loganTwoBarDeadlock } from "../../lib/scenarios/s32-logan-two-bar-deadlock.ts";

Deno.test("scenario 32: Logan's wait-in-kill with two BARs on one ref deadlocks the unbind; the hang report names the chain", () => {
  const r = loganTwoBarDeadlock("v5.0", ["logan-wait-in-kill"]);
  assertEquals(r.unbindDone, false);
  assertEquals(r.exploration, { oops: 0, "deadlock/hang": r.schedules, clean: 0 });
  // the first release (BAR 4, registered last) waits in the kill; BAR 2's pages hold the ref
  assertEquals([r.waitingBar, r.holderBar, r.refCount], [4, 2, 32768]);
  const text = r.hang!.text;
  assertStringIncludes(text, "task unbind[");
  assertStringIncludes(text, "wait_for_completion 'p2pdma devmap_ref_done 0000:03:00.0' (done=0)");
  assertStringIncludes(text, "percpu_ref 'pci_p2pdma_percpu_release'");
  assertStringIncludes(text, "count 32768, killed");
  assertStringIncludes(text, "32768 held by pages of pgmap");
  assertStringIncludes(text, "[mem 0x200010000000-0x200017ffffff]"); // BAR 2
  assertStringIncludes(
    text,
    "dropped by devres action devm_memremap_pages_release of 0000:03:00.0, still pending",
  );
  assertStringIncludes(text, "runs it only after its current wait returns");
  // the chain, link by link: unbind → wait in BAR 4's kill → ref held by BAR 2's pages → a later devres action
  assertEquals(r.chain.length, 4);
  assertStringIncludes(r.chain[0]!, "is blocked in pci_p2pdma_percpu_kill");
  assertStringIncludes(r.chain[0]!, "devm_memremap_pages_release of BAR 4");
  assertStringIncludes(r.chain[1]!, "shared by BARs 2 and 4), count 32768, killed");
  assertStringIncludes(r.chain[2]!, "held by the pages of BAR 2");
  assertStringIncludes(r.chain[3]!, "devm_memremap_pages_release of BAR 2");
  assertStringIncludes(r.chain[3]!, "runs after this wait returns");
});

Deno.test("scenario 32: without the variant (v5.0), and at v5.2 (1570175abd16 + 50f44ee7248a), the unbind completes", () => {
  for (const series of ["v5.0", "v5.2"] as const) {
    const r = loganTwoBarDeadlock(series);
    assert(r.unbindDone, series);
    assertEquals(r.hang, null);
    assertEquals(r.exploration.clean, r.schedules);
  }
  assertThrows(
    () => loganTwoBarDeadlock("v5.2", ["logan-wait-in-kill"]),
    RangeError,
    "50f44ee7248a",
  );
});
