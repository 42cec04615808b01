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

Deno.test("scenario 7: on the real drivers (nd_pmem fsdax, dax_pmem devdax) — the same order behind the drivers' own first actions", () => {
  for (const driver of ["pmem", "dax_pmem"] as const) {
    for (const s of [0, 2, 3, 7, "v4.20", "v5.0", "v5.2"] as const) {
      for (const early of [false, true]) {
        const r = unbindOrdering(s, { driver, early });
        const what = `${driver} ${r.series}${early ? " (grace period early)" : ""}`;
        const level = typeof s === "number" ? s : s === "v4.20" ? 0 : 7;
        assertEquals([r.probe, r.unbindDone, r.released, r.refExited], [0, true, 1, true], what);
        assertEquals(r.warnings, [], what);
        assertEquals(r.reprobe, { ret: 0, refCount: 1 + 32768 }, what);
        // the driver's own teardown comes first: the disk (kill_dax), or the dax instance (zap) and region
        const first = driver === "pmem"
          ? ["devres pmem_release_disk"]
          : ["devres unregister_dev_dax", "devres dax_region_unregister"];
        assertEquals(r.steps.slice(0, first.length), first, what);
        const kill = driver === "pmem" ? "devres pmem_freeze_queue" : "devres dax_pmem_percpu_kill";
        const wait = driver === "pmem"
          ? "devres pmem_release_queue"
          : "devres dax_pmem_percpu_exit";
        if (s === "v5.2") {
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
          assertEquals(stepAt(r.steps, wait), -1, what);
          continue;
        }
        if (level >= 3) {
          assertEquals(stepAt(r.steps, kill), -1, what);
          inOrder(r.steps, [
            "devres devm_memremap_pages_release",
            "memremap kill",
            "ref kill",
            "page put ×32768 → 0",
          ], what);
        } else {
          inOrder(r.steps, [
            kill,
            "ref kill",
            "devres devm_memremap_pages_release",
            "page put ×32768 → 0",
            "ref tryget_fail",
          ], what);
        }
        inOrder(r.steps, [
          "page put ×32768 → 0",
          "sections removed",
          "untrack_pfn",
          "memremap array_delete",
          wait,
          "ref exit",
        ], what);
        inOrder(r.steps, ["page put ×32768 → 0", "ref release", "ref exit"], what);
        if (early) inOrder(r.steps, ["ref release", "sections removed"], what);
        else {inOrder(
            r.steps,
            ["memremap array_delete", "ref release", "memremap release_done"],
            what,
          );}
      }
    }
  }
});
