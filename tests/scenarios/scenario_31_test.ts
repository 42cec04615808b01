import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { loganRaceExplore, loganRaceSchedule } from "../../lib/scenarios/s31-logan-race.ts";

Deno.test("scenario 31: Logan's race at v5.0 — the client's map_sg after arch_remove_memory Oopses on the removed struct page", () => {
  const r = loganRaceSchedule("v5.0");
  assertEquals(r.order, ["remove", "access"]);
  assertEquals(r.oopses.length, 1);
  const o = r.oopses[0]!;
  assert(o.task.startsWith("client["));
  // sg_page(s)->pgmap: the page->pgmap field of the removed struct page
  assertEquals(o.message, `BUG: unable to handle kernel paging request at ${r.pgmapFieldAddress}`);
  assertEquals(o.chain[0], "pci_p2pdma_map_sg");
  assertEquals(r.pfn, 0x2000_1000_0000 / 4096);
  // no free, no completion: the unbind stays blocked in pci_p2pdma_release
  assertEquals(r.unbindDone, false);
  assert(r.hang!.includes("task unbind[") && r.hang!.includes("p2pdma devmap_ref_done"));
  assert(r.hang!.includes("1 held by p2pmem allocation"));
});

Deno.test("scenario 31: exhaustive exploration — some Oops at v5.0 exactly when the access follows arch_remove_memory; all clean at v5.2", () => {
  const t0 = performance.now();
  const x = loganRaceExplore("v5.0");
  const ms50 = performance.now() - t0;
  assertLessOrEqual(ms50, 2000);
  assert(x.complete);
  assertEquals(x.schedules.length, x.counts.oops + x.counts.clean + x.counts["deadlock/hang"]);
  assertEquals(x.counts, { oops: 7, "deadlock/hang": 0, clean: 40 });
  assert(x.crashesExactlyWhenAccessAfterRemove);
  for (const s of x.schedules.filter((s) => s.outcome === "oops")) {
    assertEquals(s.order, ["remove", "access"]); // after arch_remove_memory, and no free ever came
  }

  const t1 = performance.now();
  const y = loganRaceExplore("v5.2");
  const ms52 = performance.now() - t1;
  assertLessOrEqual(ms52, 2000);
  assert(y.complete);
  assertEquals(y.counts.oops, 0);
  assertEquals(y.counts["deadlock/hang"], 0);
  assertEquals(y.counts.clean, y.schedules.length);
  assert(y.schedules.length > 1);
  // the release waits for the client's put: memory is removed only after the free
  assert(y.removalAfterFreeAlways);
  assertEquals(loganRaceSchedule("v5.2").oopses, []);
});

Deno.test("scenario 31: v4.20 has the same race; Logan's wait-in-kill closes it for one BAR", () => {
  const x = loganRaceExplore("v4.20");
  assert(x.counts.oops > 0 && x.crashesExactlyWhenAccessAfterRemove);
  const v = loganRaceExplore("v5.0", { variants: ["logan-wait-in-kill"] });
  assertEquals(v.counts.oops, 0);
  assert(v.removalAfterFreeAlways);
});
