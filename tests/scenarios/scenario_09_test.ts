import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { pinnedTeardown } from "../../lib/scenarios/s09-pinned-teardown.ts";
import { stepAt } from "../../lib/scenarios/zone-device.ts";

Deno.test("scenario 9: teardown while a page is pinned — memory removed under the pin, the unpin Oopses (up to v5.0)", () => {
  for (const s of ["v4.20", "v5.0", 0, 2, 3, 7] as const) {
    const r = pinnedTeardown(s);
    const first = (s === "v4.20" || (typeof s === "number" && s < 3))
      ? "devres dax_pmem_percpu_kill" // the driver's kill action
      : "devres devm_memremap_pages_release"; // the release's first step
    assertEquals(r.unbindSteps[0], first, r.series);
    // every page is put: P goes 2 -> 1 and its page_free runs although it is pinned
    assert(r.pageFreeForP, r.series);
    const pf = stepAt(r.unbindSteps, `page_free ${r.pfn}`);
    assert(
      pf > stepAt(r.unbindSteps, "ref kill") && pf < stepAt(r.unbindSteps, "sections removed"),
    );
    // memory is removed while P is referenced; the driver's wait blocks
    assert(r.removedBeforeUnpin, r.series);
    assert(r.hangAfterUnbind !== null, r.series);
    assertStringIncludes(r.hangAfterUnbind.text, "task unbind[");
    assertStringIncludes(r.hangAfterUnbind.text, "wait_for_completion 'dax_pmem pmem0 ref'");
    // the unpin touches P's removed struct page: an Oops in the unpinning task, naming P
    assertEquals(r.unpinOopses.length, 1, r.series);
    assertEquals(r.unpinOopses[0]!.task.startsWith("unpin["), true);
    assertEquals(
      r.unpinOopses[0]!.message,
      `BUG: unable to handle kernel paging request at ${
        (BigInt("0x" + r.structPage) + 8n).toString(16)
      }`,
    );
    assertEquals(r.unpinOopses[0]!.chain[0], "put_page");
    // no release, no completion; the unbind stays blocked
    assertEquals([r.released, r.waitReturned], [0, false], r.series);
    assert(r.hangAfterUnpin !== null && r.hangAfterUnpin.text.includes("task unbind["), r.series);
  }
});

Deno.test("scenario 9: at v5.2 (50f44ee7248a) the release waits; memory goes only after the unpin, no Oops", () => {
  const r = pinnedTeardown("v5.2");
  assert(r.pageFreeForP);
  assertEquals(r.removedBeforeUnpin, false);
  assertEquals(r.unbindSteps.at(-1), "memremap cleanup"); // blocked in cleanup, nothing removed
  assertStringIncludes(r.hangAfterUnbind!.text, "1 held by pages of pgmap");
  assertEquals(r.unpinOopses, []);
  assertEquals(r.hangAfterUnpin, null);
  assertEquals([r.released, r.waitReturned, r.removedAtEnd], [1, true, true]);
  assertEquals(r.unpinSteps.slice(0, 6), [
    "page put ×1 → 0",
    "ref release",
    "ref exit",
    "memremap cleanup_done",
    "memremap remove_memory",
    "sections removed",
  ]);
});

Deno.test("scenario 9: on the real drivers with a real get_user_pages pin — the Oops up to v5.0, the wait before removal at v5.2", () => {
  for (const driver of ["pmem", "dax_pmem"] as const) {
    for (const s of ["v4.20", "v5.0", "v5.2", 0, 3] as const) {
      const r = pinnedTeardown(s, { driver });
      const what = `${driver} ${r.series}`;
      // the pin: P's count 2; get_dev_pagemap's reference was only held during the walk
      assertEquals([r.gup!.ret, r.gup!.count], [1, 2], what);
      assertEquals(r.gup!.refAfter, r.gup!.refBefore, what);
      // every page is put: P 2 → 1 (page_free only for the devmap-managed FS_DAX pages of pmem)
      assert(stepAt(r.unbindSteps, "page put ×1 → 1") >= 0, what);
      assertEquals(r.pageFreeForP, driver === "pmem", what);
      if (s === "v5.2") {
        assertEquals(r.unbindSteps.at(-1), "memremap cleanup", what);
        assertEquals(
          [r.removedBeforeUnpin, r.unpinOopses, r.hangAfterUnpin],
          [false, [], null],
          what,
        );
        assertStringIncludes(r.hangAfterUnbind!.text, "1 held by pages of pgmap");
        assertEquals([r.released, r.waitReturned, r.removedAtEnd], [1, true, true], what);
        assertEquals(r.unpinSteps.slice(0, 6), [
          "page put ×1 → 0",
          "ref release",
          "ref exit",
          "memremap cleanup_done",
          "memremap remove_memory",
          "sections removed",
        ], what);
        continue;
      }
      // memory removed while P is pinned; the unbind blocks in the driver's wait
      assert(r.removedBeforeUnpin, what);
      assertStringIncludes(
        r.hangAfterUnbind!.text,
        driver === "pmem"
          ? "blk_mq_freeze_queue_wait on queue 'pmem0'"
          : "wait_for_completion 'dax_pmem dax0.0 ref'",
      );
      // the unpin touches P's removed struct page
      assertEquals(r.unpinOopses.length, 1, what);
      assertEquals(r.unpinOopses[0]!.task.startsWith("unpin["), true, what);
      assertEquals(
        r.unpinOopses[0]!.message,
        `BUG: unable to handle kernel paging request at ${
          (BigInt("0x" + r.structPage) + 8n).toString(16)
        }`,
        what,
      );
      assertEquals([r.released, r.waitReturned], [0, false], what);
      assert(r.hangAfterUnpin !== null && r.hangAfterUnpin.text.includes("task unbind["), what);
    }
  }
});
