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
