import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { Device } from "../../lib/kernel/device.ts";
import { devres_release_all, devresHasAction, devresNames } from "../../lib/kernel/devres.ts";
import { IS_ERR, PTR_ERR } from "../../lib/kernel/errno.ts";
import { wait_for_completion } from "../../lib/kernel/completion.ts";
import { exportKind, EXPORTS } from "../../lib/kernel/exports.ts";
import {
  devm_memremap_pages,
  devm_memremap_pages_release,
  devm_memunmap_pages,
  get_dev_pagemap,
  pfn_end,
  pfn_first,
  pgmapArray,
  put_dev_pagemap,
} from "../../lib/kernel/memremap.ts";
import { insmod } from "../../lib/kernel/module.ts";
import { __va } from "../../lib/kernel/mm/init-64.ts";
import { page_pgmap, page_ref_count } from "../../lib/kernel/mm/memmap.ts";
import { MM, pfn_valid } from "../../lib/kernel/mm/mmzone.ts";
import { MEMORY_DEVICE_FS_DAX, VmemAltmap } from "../../lib/kernel/mm/types.ts";
import { percpu_ref_kill } from "../../lib/kernel/percpu-refcount.ts";
import { xa_load, xaWalkLoad } from "../../lib/kernel/xarray.ts";
import { Prng } from "../../lib/sim/prng.ts";
import type { Machine } from "../../lib/machine.ts";
import { runCase } from "../../lib/bench/harness.ts";
import { getDevPagemapCase, memmapRegister1TiB } from "../../lib/bench/cases/memremap.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";
import {
  ALL_SERIES,
  arrayEntries,
  DEVICE_BASE,
  MiB,
  SECTION,
  teardownSteps,
  testPgmap,
  warnings,
} from "../../lib/scenarios/zone-device.ts";

const PFN = DEVICE_BASE / 4096;

function map(m: Machine, t: ReturnType<typeof testPgmap>, name = "pmem0") {
  const dev = new Device(m.k, name, "nd");
  return { dev, r: m.call(devm_memremap_pages, dev, t.pgmap) };
}

Deno.test("devm_memremap_pages: an unaligned range widens to its section; refs and entries cover res only (S2)", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v4.20" });
  const k = m.k;
  const start = DEVICE_BASE + 16 * MiB;
  const t = testPgmap(k, start, 32 * MiB, { type: MEMORY_DEVICE_FS_DAX });
  const { r } = map(m, t);
  assertEquals(r, __va(k, start));
  assertEquals(t.ref.value, 1 + 8192);
  // the whole section's struct pages are initialised with this pgmap
  assertEquals([page_pgmap(k, PFN), page_ref_count(k, PFN)], [t.pgmap, 1]);
  assertEquals(page_pgmap(k, PFN + 32767), t.pgmap);
  // lookup entries only for res: the section's first pfn is valid but not found
  assert(pfn_valid(k, PFN));
  assertEquals(get_dev_pagemap(k, PFN, null), null);
  assertEquals(xa_load(pgmapArray(k), PFN + 4096), t.pgmap);
  assertEquals(xa_load(pgmapArray(k), PFN + 4096 + 8192), null);
  assertEquals([pfn_first(k, t.pgmap), pfn_end(k, t.pgmap)], [PFN + 4096, PFN + 4096 + 8192]);
});

Deno.test("devm_memremap_pages: with an altmap one ref per data page, and the release gives the memmap back", () => {
  for (const series of ["v4.20", "v5.0", "v5.2"] as const) {
    const m = bootZoneDeviceMachine("ram-4g", { series });
    const k = m.k;
    const t = testPgmap(k, DEVICE_BASE, SECTION, { type: MEMORY_DEVICE_FS_DAX });
    t.pgmap.altmap = new VmemAltmap(PFN, 2, 1022);
    t.pgmap.altmap_valid = true;
    const { dev, r } = map(m, t);
    assert(!IS_ERR(r), series);
    assertEquals(pfn_first(k, t.pgmap), PFN + 1024);
    assertEquals(t.ref.value, 1 + 32768 - 1024, series);
    assertEquals(t.pgmap.altmap.alloc, 512, series);
    if (series === "v4.20") percpu_ref_kill(k, t.ref); // the caller's kill before the release
    m.call(devres_release_all, dev);
    assertEquals([t.pgmap.altmap.alloc, warnings(k)], [0, []], series);
    assertEquals(pfn_valid(k, PFN), false, series);
  }
});

Deno.test("devm_memremap_pages: error unwinding — each injected failure leaves nothing behind", () => {
  for (
    const point of ["xa_store_range", "track_pfn_remap", "arch_add_memory", "vmemmap_populate"]
  ) {
    for (const series of ["v4.20", "v5.0"] as const) {
      const m = bootZoneDeviceMachine("ram-4g", { series });
      const k = m.k;
      const t = testPgmap(k, DEVICE_BASE, SECTION, { kill: true });
      k.faults.arm(point, { nth: 1 });
      const { dev, r } = map(m, t);
      const what = `${point} at ${series}`;
      assert(IS_ERR(r), what);
      assertEquals(PTR_ERR(r), -12, what);
      assertEquals([arrayEntries(k), k.state(MM).pat.length, devresNames(dev)], [0, 0, []], what);
      assertEquals(t.kills, series === "v5.0" ? 1 : 0, what);
    }
  }
});

Deno.test("devm_memremap_pages: KASAN shadow is added with the memory and removed at release or on failure", () => {
  // kasan is not in machine descriptions: boot the memory model by hand
  const run = (fail: boolean) => {
    const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0" });
    const k = m.k;
    k.state(MM).kasanEnabled = true;
    const t = testPgmap(k, DEVICE_BASE, SECTION);
    if (fail) k.faults.arm("arch_add_memory", { nth: 1 });
    const { dev, r } = map(m, t);
    const during = k.state(MM).kasan.length;
    if (!IS_ERR(r)) m.call(devres_release_all, dev);
    return [IS_ERR(r), during, k.state(MM).kasan.length];
  };
  assertEquals(run(false), [false, 1, 0]);
  assertEquals(run(true), [true, 0, 0]);
});

Deno.test("get_dev_pagemap: cached covering → as is; cached elsewhere → put + slow path; killed → NULL; simulated cost", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0" });
  const k = m.k;
  const t = testPgmap(k, DEVICE_BASE, SECTION);
  map(m, t);
  const base = t.ref.value;
  const t0 = k.clock.now;
  const g = get_dev_pagemap(k, PFN + 3, null);
  assertEquals([g === t.pgmap, t.ref.value - base], [true, 1]);
  assertEquals(k.clock.now - t0, k.cost.get("getDevPagemap.slowWarm"));
  // inclusive end of res
  assertEquals(get_dev_pagemap(k, PFN + 32767, g), g);
  assertEquals(t.ref.value - base, 1);
  // not covering and not device memory: the cached ref is dropped, NULL
  assertEquals(get_dev_pagemap(k, 0x1000, g), null);
  assertEquals(t.ref.value - base, 0);
  percpu_ref_kill(k, t.ref);
  assertEquals(get_dev_pagemap(k, PFN + 3, null), null);
  put_dev_pagemap(k, null); // a NULL pgmap is fine
});

Deno.test("get_dev_pagemap agrees with a walk of pgmap_array after random register/unregister sequences", () => {
  for (const seed of [1, 2, 3]) {
    const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0", seed });
    const k = m.k;
    const prng = new Prng(seed);
    const live: { t: ReturnType<typeof testPgmap>; dev: Device; slots: number[] }[] = [];
    const slots = 48; // 48 section slots above DEVICE_BASE
    const used = new Set<number>();
    for (let step = 0; step < 30; step++) {
      if (live.length > 0 && prng.chance(0.4)) {
        const gone = live.splice(prng.int(live.length), 1)[0]!;
        m.call(devres_release_all, gone.dev);
        for (const i of gone.slots) used.delete(i);
        continue;
      }
      const slot = prng.int(slots), sections = 1 + prng.int(3);
      let free = slot + sections <= slots;
      for (let i = slot; i < slot + sections && free; i++) free = !used.has(i);
      if (!free) continue;
      // whole sections, or (S2-like) a range starting 16 MiB into its first
      // section, or one starting and ending on odd pages
      const odd = prng.chance(0.25);
      const skew = odd ? (2 * prng.int(1000) + 1) * 4096 : prng.chance(0.3) ? 16 * MiB : 0;
      const trim = odd ? (2 * prng.int(1000) + 1) * 4096 : 0;
      const t = testPgmap(
        k,
        DEVICE_BASE + slot * SECTION + skew,
        sections * SECTION - skew - trim,
      );
      const { dev, r } = map(m, t, `pmem${step}`);
      assert(!IS_ERR(r), `seed ${seed} step ${step}: ${String(r)}`);
      const taken = Array.from({ length: sections }, (_, i) => slot + i);
      for (const i of taken) used.add(i);
      live.push({ t, dev, slots: taken });
    }
    assert(live.length > 0, `seed ${seed}: something is registered`);
    const before = live.map(({ t }) => t.ref.value);
    const t0 = k.clock.now;
    const array = pgmapArray(k);
    let lookups = 0, hits = 0;
    for (let i = 0; i < 400; i++) {
      const pfn = PFN + prng.int((slots + 1) * (SECTION / 4096));
      const want = xaWalkLoad(array, pfn);
      const got = get_dev_pagemap(k, pfn, null);
      lookups++;
      assertEquals(got, want, `seed ${seed}: pfn ${pfn}`);
      if (want !== null) {
        hits++;
        const owner = live.find(({ t }) => t.pgmap === want);
        assert(owner !== undefined, "only live pgmaps are found");
        const res = owner.t.pgmap.res;
        assert(res.start <= pfn * 4096 && pfn * 4096 <= res.end);
      }
      put_dev_pagemap(k, got);
    }
    assert(hits > 20 && hits < lookups - 20, `seed ${seed}: hits and misses (${hits}/${lookups})`);
    assertEquals(live.map(({ t }) => t.ref.value), before, "every lookup's ref was put back");
    assertEquals(k.clock.now - t0, lookups * k.cost.get("getDevPagemap.slowWarm"));
  }
});

Deno.test("devm_memremap_pages: the hang report names the pending release as what drops the page refs", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v4.20" });
  const k = m.k;
  const t = testPgmap(k, DEVICE_BASE, SECTION);
  map(m, t, "dax0.0");
  percpu_ref_kill(k, t.ref);
  const r = m.run(function* waiter(kk) {
    yield* wait_for_completion(kk, t.done);
  });
  assert(r.blocked !== null);
  assertStringIncludes(r.blocked.text, "32768 held by pages of pgmap");
  assertStringIncludes(
    r.blocked.text,
    "dropped by devres action devm_memremap_pages_release of dax0.0, which runs when dax0.0 is unbound",
  );
});

Deno.test("devm_memunmap_pages: exists only with the follow-up; runs the release now and unregisters it", () => {
  const m0 = bootZoneDeviceMachine("ram-4g", { series: "v5.0" });
  const t0 = testPgmap(m0.k, DEVICE_BASE, SECTION);
  const { dev: dev0 } = map(m0, t0);
  assertThrows(
    () => m0.call(devm_memunmap_pages, dev0, t0.pgmap),
    RangeError,
    "devm_memunmap_pages",
  );
  const m = bootZoneDeviceMachine("ram-4g", { series: "v5.2" });
  const t = testPgmap(m.k, DEVICE_BASE, SECTION);
  const { dev } = map(m, t);
  assert(devresHasAction(dev, devm_memremap_pages_release, t.pgmap));
  m.call(devm_memunmap_pages, dev, t.pgmap);
  assertEquals(devresNames(dev), []);
  assertEquals([pfn_valid(m.k, PFN), arrayEntries(m.k), t.kills, t.cleanups], [false, 0, 1, 1]);
  assertEquals(t.ref.pcpu, null); // the cleanup reaped it
});

Deno.test("50f44ee7248a: a missing cleanup is a WARN and -EINVAL, with no kill", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v5.2" });
  const t = testPgmap(m.k, DEVICE_BASE, SECTION, { cleanup: false });
  const { r } = map(m, t);
  assertEquals(IS_ERR(r) ? PTR_ERR(r) : 0, -22);
  assertEquals(t.kills, 0);
  assertEquals(warnings(m.k), ["Missing reference count teardown definition"]);
});

Deno.test("variant logan-wait-in-kill: the release kills after the put loop", () => {
  const order = (variants: string[]) => {
    const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0", variants });
    const t = testPgmap(m.k, DEVICE_BASE, SECTION);
    const { dev } = map(m, t);
    m.k.trace.on = true;
    m.call(devres_release_all, dev);
    const steps = teardownSteps(m.k.trace.events);
    return steps.filter((s) => s === "memremap kill" || s.startsWith("page put"));
  };
  assertEquals(order([]), ["memremap kill", "page put ×32768 → 0"]);
  assertEquals(order(["logan-wait-in-kill"]), ["page put ×32768 → 0", "memremap kill"]);
});

Deno.test("hmm-page-fault-move: dev_pagemap has no page_fault member any more", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0" });
  const t = testPgmap(m.k, DEVICE_BASE, SECTION);
  t.pgmap.page_fault = () => 0;
  assertThrows(() => map(m, t), TypeError, "no page_fault member");
  const m7 = bootZoneDeviceMachine("ram-4g", { series: 7 });
  const t7 = testPgmap(m7.k, DEVICE_BASE, SECTION);
  t7.pgmap.page_fault = () => 0;
  assert(!IS_ERR(map(m7, t7).r));
});

Deno.test("the release oopses on a NULL pgmap->kill (a driver that clears it after mapping)", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0" });
  const t = testPgmap(m.k, DEVICE_BASE, SECTION);
  const { dev } = map(m, t);
  t.pgmap.kill = null;
  const r = m.run(function* unbind(k) {
    yield* devres_release_all(k, dev);
  });
  assertEquals(
    r.oopses[0]?.message,
    "BUG: unable to handle kernel NULL pointer dereference at 0000000000000000",
  );
  assertEquals(r.oopses[0]?.chain[0], "devm_memremap_pages_release");
});

Deno.test("exports: the memremap / HMM device-memory export matrix over the series", () => {
  for (const s of ALL_SERIES) {
    const k = bootZoneDeviceMachine("ram-4g", { series: s }).k;
    const level = k.series.level;
    const what = k.series.label;
    assertEquals(exportKind(k, "devm_memremap_pages"), level >= 1 ? "GPL" : "non-GPL", what);
    assertEquals(exportKind(k, "get_dev_pagemap"), "GPL", what);
    assertEquals(exportKind(k, "hmm_devmem_add"), level >= 7 ? "GPL" : "non-GPL", what);
    assertEquals(exportKind(k, "hmm_devmem_add_resource"), level >= 7 ? "GPL" : "non-GPL", what);
    assertEquals(exportKind(k, "hmm_devmem_remove"), level >= 5 ? null : "non-GPL", what);
    assertEquals(exportKind(k, "devm_memunmap_pages"), s === "v5.2" ? "GPL" : null, what);
    // put_page() on a ZONE_DEVICE page works from a non-GPL module at every level
    const r = insmod(k, {
      name: "putter",
      license: "Proprietary",
      imports: ["devmap_managed_key", "__put_devmap_managed_page", "__put_page"],
    });
    assertEquals(r.ret, 0, what);
  }
  assert(Object.keys(EXPORTS).length >= 13);
});

Deno.test("the release's order at v5.0: kill → puts → removal → untrack → lookup deletion (release in its synchronize_rcu)", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0" });
  const k = m.k;
  const t = testPgmap(k, DEVICE_BASE, SECTION);
  const { dev } = map(m, t);
  k.trace.on = true;
  m.call(devres_release_all, dev);
  const steps = teardownSteps(k.trace.events);
  assertEquals(steps, [
    "devres devm_memremap_pages_release",
    "memremap release",
    "memremap kill",
    "ref kill",
    "page put ×32768 → 0",
    "memremap remove_memory",
    "sections removed",
    "untrack_pfn",
    "memremap array_delete",
    "ref release",
    "memremap release_done",
  ]);
});

Deno.test("bench cases: get-dev-pagemap-1 and memmap-register-1TiB run and check through the harness", () => {
  const a = runCase(getDevPagemapCase(1), { iterations: 2, warmup: 0 });
  assertEquals(a.ops, 1024);
  // every lookup is a slow path: 1,024 × getDevPagemap.slowWarm of simulated time
  assertEquals(a.simNs!.p50, 1024 * 25);
  const b = runCase(memmapRegister1TiB(), { iterations: 2, warmup: 0 });
  assertEquals(b.ops, 1);
});
