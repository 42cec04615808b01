import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { p2pdmaTwoBars } from "../../lib/scenarios/s25-p2pdma-two-bars.ts";

const KILL = {
  "v4.20": "devres pci_p2pdma_percpu_kill", // the kill is a devm action, run before each release
  "v5.0": "memremap kill", // pgmap->kill, the release's first step
} as const;

Deno.test("scenario 25: p2pdma with two BARs sharing one percpu_ref — registration and teardown (v4.20, v5.0)", () => {
  for (const series of ["v4.20", "v5.0"] as const) {
    const r = p2pdmaTwoBars(series);
    assertEquals(r.added, [{ bar: 2, ret: 0 }, { bar: 4, ret: 0 }], series);
    assert(r.sharedRef, series);
    assertEquals(r.sizeAttr, `${2 * 2 ** 27}\n`, series); // p2pmem/size is the sum
    assertEquals(r.chunk.bar, 4, series); // the pool hands out the chunk added last first

    // two kills, the second a silent no-op
    assertEquals(r.kills, { killed: 1, noops: 1 }, series);
    assertEquals(r.warnings.filter((w) => w.includes("called more than once")), [], series);
    const first = r.unbindSteps.indexOf("p2pdma kill");
    const second = r.unbindSteps.indexOf("p2pdma kill_noop");
    assert(first >= 0 && second > first, series);
    assertEquals(r.unbindSteps.filter((s) => s === KILL[series]).length, 2, series);

    // after the first kill: pci_alloc_p2pmem is NULL (tryget_live fails), a plain tryget works
    assertEquals(r.afterFirstKill.allocNull, true, series);
    assertEquals(r.afterFirstKill.tryget, true, series);
    assert(r.afterFirstKill.count > 1, series);
    assertEquals([r.whileBlocked.allocNull, r.whileBlocked.tryget, r.whileBlocked.count], [
      true,
      true,
      1,
    ], series);

    // teardown waits in pci_p2pdma_release for the held chunk
    assertEquals(r.unbindSteps.at(-1), "p2pdma wait", series);
    assertStringIncludes(r.blocked!.text, "p2pdma devmap_ref_done 0000:03:00.0");
    assertStringIncludes(
      r.blocked!.text,
      "1 held by p2pmem allocation [bus 0x200018000000, 4096 bytes]",
    );
    assertEquals(r.unbindSteps.filter((s) => s === "sections removed").length, 2, series);

    // the free: one release, then one percpu_ref_exit, the pool destroyed, the group removed
    assertEquals(r.freeSteps.slice(0, 7), [
      "p2pdma free",
      "ref release",
      "p2pdma wait_done",
      "ref exit",
      "gen_pool destroy",
      "p2pdma sysfs_remove",
      "p2pdma release_done",
    ], series);
    assertEquals([r.releases, r.exits, r.unbindDone, r.sysfsAtEnd], [1, 1, true, false], series);
    assertEquals(r.trygetAtEnd, false, series); // the count reached 0

    // distance: same switch ≥ 0, another root port -1 (no root-complex whitelist in 2018)
    assertEquals(r.distanceSameSwitch, 4, series);
    assertEquals(r.distanceOtherRootPort, -1, series);
    assertStringIncludes(r.distanceWarning, "do not share an upstream bridge");
  }
});

Deno.test("scenario 25: the same provider at v5.2 — one ref per BAR, each killed for real", () => {
  const r = p2pdmaTwoBars("v5.2");
  assertEquals(r.sharedRef, false);
  assertEquals(r.kills.noops, 0);
  // the release waits in cleanup before removing BAR 4's memory
  assertEquals(r.unbindSteps.at(-1), "p2pdma cleanup");
  assertEquals(r.unbindSteps.includes("sections removed"), false);
  assert(r.unbindDone);
});
