import { assert, assertEquals } from "@std/assert";
import { unbindOrdering } from "../../lib/scenarios/s07-unbind-ordering.ts";
import { ALL_SERIES, stepAt } from "../../lib/scenarios/zone-device.ts";

function inOrder(steps: readonly string[], labels: readonly string[], what: string): void {
  const at = labels.map((l) => stepAt(steps, l));
  for (let i = 0; i < at.length; i++) {
    assert(at[i]! >= 0, `${what}: no step "${labels[i]}" in ${steps}`);
  }
  for (let i = 1; i < at.length; i++) {
    assert(
      at[i - 1]! < at[i]!,
      `${what}: "${labels[i - 1]}" is not before "${labels[i]}" in ${steps}`,
    );
  }
}

Deno.test("scenario 7: unbind with no outstanding users — the order of kill, puts, release, removal, exit at every level", () => {
  for (const s of ALL_SERIES) {
    for (const early of [false, true]) {
      const r = unbindOrdering(s, { early });
      const what = `${r.series}${early ? " (grace period early)" : ""}`;
      const level = typeof s === "number" ? s : s === "v4.20" ? 0 : 7;
      assertEquals([r.probe, r.unbindDone, r.released, r.refExited], [0, true, 1, true], what);
      assertEquals(r.warnings, [], what);
      assertEquals(stepAt(r.steps, "page put ×32768 → 0") >= 0, true, `${what}: one put per page`);
      // re-probing the same range afterwards succeeds
      assertEquals(r.reprobe, { ret: 0, refCount: 1 + 32768 }, what);
      if (s === "v5.2") {
        // nothing is removed before the ref reaches zero
        inOrder(r.steps, [
          "memremap kill",
          "page put ×32768 → 0",
          "memremap cleanup",
          "ref release",
          "ref exit",
          "memremap cleanup_done",
          "sections removed",
          "untrack_pfn",
          "memremap array_delete",
        ], what);
        assertEquals(stepAt(r.steps, "devres dax_pmem_percpu_exit"), -1, what);
        continue;
      }
      if (level >= 3) {
        assertEquals(r.steps.slice(0, 4), [
          "devres devm_memremap_pages_release",
          "memremap release",
          "memremap kill",
          "ref kill",
        ], what);
        assertEquals(stepAt(r.steps, "ref tryget_fail"), -1, `${what}: no "still live" check`);
      } else {
        // the driver's own kill action runs before the memremap release
        assertEquals(r.steps.slice(0, 4), [
          "devres dax_pmem_percpu_kill",
          "ref kill",
          "devres devm_memremap_pages_release",
          "memremap release",
        ], what);
        // the "still live" tryget_live check fails silently
        inOrder(r.steps, ["page put ×32768 → 0", "ref tryget_fail", "sections removed"], what);
      }
      inOrder(r.steps, [
        "page put ×32768 → 0",
        "sections removed",
        "untrack_pfn",
        "memremap array_delete",
        "devres dax_pmem_percpu_exit",
        "ref exit",
      ], what);
      // the release lands after the puts and before the driver's wait returns; where
      // exactly depends on when the grace period completes
      inOrder(r.steps, ["page put ×32768 → 0", "ref release", "ref exit"], what);
      if (early) inOrder(r.steps, ["ref release", "sections removed"], what);
      else {inOrder(
          r.steps,
          ["memremap array_delete", "ref release", "memremap release_done"],
          what,
        );}
    }
  }
});
