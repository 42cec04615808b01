/**
 * The overview claim (lib/scenarios/claims-overview.ts): it holds for the
 * real observation of workstation-2018, is deterministic, and throws an
 * AssertionError when any observed fact is swapped or altered — the three
 * moments exchanged, the devres order not reversed, the ref killed late or
 * counted wrong, the memmap in RAM, the unbind not returning — so no part of
 * it passes vacuously.
 */
import { assertEquals, AssertionError, assertThrows } from "@std/assert";
import {
  claimOverview,
  observeOverview,
  type OverviewObservation,
} from "../../lib/scenarios/claims-overview.ts";

const o = observeOverview();

Deno.test("claimOverview: holds for workstation-2018 at v5.0", () => {
  claimOverview(o);
});

Deno.test("observeOverview: what the notebook shows", () => {
  assertEquals(o.namespace.device, "pfn0.0");
  assertEquals(o.devres.added, [
    "devm_kzalloc",
    "devm_region_release",
    "pmem_release_queue",
    "pmem_release_pgmap_ops",
    "devm_memremap_pages_release",
    "pmem_release_disk",
  ]);
  assertEquals(o.sections.bound.sections.filter((c) => c.kind === "device").length, 8);
  assertEquals(o.ref.afterProbe, o.namespace.dataPages + 1);
  assertEquals(o.ref.events.map((e) => e.op).filter((op) => op !== "put" && op !== "get"), [
    "init",
    "switch_to_percpu",
    "kill",
    "switch_to_atomic",
    "confirm",
    "release",
    "exit",
  ]);
});

Deno.test("observeOverview: deterministic", () => {
  assertEquals(observeOverview(), o);
});

const clone = (): OverviewObservation => structuredClone(o);

Deno.test("claimOverview: fails on swapped or altered observations", () => {
  const cases: Array<[string, (x: OverviewObservation) => void]> = [
    ["iomem boot ↔ bound", (x) => [x.iomem.boot, x.iomem.bound] = [x.iomem.bound, x.iomem.boot]],
    ["iomem after = bound", (x) => x.iomem.after = x.iomem.bound],
    ["sections boot ↔ bound", (x) => {
      [x.sections.boot, x.sections.bound] = [x.sections.bound, x.sections.boot];
    }],
    ["sections after = bound", (x) => x.sections.after = x.sections.bound],
    ["memmap in RAM", (x) => {
      const c = x.sections.bound.sections.find((s) => s.kind === "device")!;
      c.memmap = "ram";
    }],
    ["a device section off the linear map", (x) => {
      x.sections.bound.sections.filter((s) => s.kind === "device").at(-1)!.linearMap = false;
    }],
    ["devres released in added order", (x) => x.devres.released = [...x.devres.added]],
    ["two devres releases swapped", (x) => {
      const r = x.devres.released;
      [r[1], r[2]] = [r[2]!, r[1]!];
    }],
    ["one reference too many", (x) => x.ref.afterProbe += 1],
    ["one data page fewer", (x) => x.namespace.dataPages -= 1],
    ["kill after the removal", (x) => {
      const s = x.unbindSteps;
      const i = s.indexOf("ref kill"), j = s.indexOf("sections removed");
      [s[i], s[j]] = [s[j]!, s[i]!];
    }],
    ["exit before the removal", (x) => {
      const s = x.unbindSteps.filter((v) => v !== "ref exit");
      s.splice(s.indexOf("sections removed"), 0, "ref exit");
      x.unbindSteps = s;
    }],
    ["kill ↔ exit times", (x) => [x.ref.killT, x.ref.exitT] = [x.ref.exitT, x.ref.killT]],
    ["released above zero", (x) => x.ref.releaseCount = 1],
    ["a count rising after the kill", (x) => {
      const puts = x.ref.events.filter((e) => e.op === "put" && e.t >= x.ref.killT);
      const last = puts.at(-1)! as { count: number };
      last.count = 1e9;
    }],
    ["the unbind does not return", (x) => x.unbind.done = false],
    ["an Oops", (x) => x.unbind.oopses = 1],
    ["ndctl failed", (x) => x.namespace.rc = -12],
  ];
  for (const [what, alter] of cases) {
    const x = clone();
    alter(x);
    assertThrows(() => claimOverview(x), AssertionError, undefined, what);
  }
});
