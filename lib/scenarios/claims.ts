/**
 * The claim of each patch of the series, as an observation and an assertion
 * — what the notebooks 01..07 close with.
 *
 * `observePatchN(series)` runs the patch's demonstration on a fresh machine
 * at one series point and returns plain data (results, log lines, figure
 * inputs). `claimPatchN(before, after)` asserts, with node:assert/strict,
 * what patch N changes: `before` must show the old behaviour and `after` the
 * new one, so the claim holds for (N-1, N) and throws an AssertionError for
 * (N, N) and (N-1, N-1) — it cannot pass vacuously.
 *
 * @example Patch 1/7 in two lines
 * ```ts
 * import { claimPatch1, observePatch1 } from "./claims.ts";
 * claimPatch1(observePatch1(0), observePatch1(1));
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  Device,
  device_release_driver,
  type Driver,
  driver_probe_device,
} from "../kernel/device.ts";
import { devresHasAction, devresNames } from "../kernel/devres.ts";
import { ENOENT, errname } from "../kernel/errno.ts";
import type { KernelEvent } from "../kernel/events.ts";
import { type ExportKind, exportKind } from "../kernel/exports.ts";
import { hmmDevmemRadix, hmmDevmems } from "../kernel/hmm.ts";
import type { Kernel } from "../kernel/kernel.ts";
import {
  devm_memremap_pages,
  devm_memremap_pages_release,
  get_dev_pagemap,
  pgmapArray,
  put_dev_pagemap,
} from "../kernel/memremap.ts";
import { linearMapped } from "../kernel/mm/init-64.ts";
import { is_zone_device_page } from "../kernel/mm/memmap.ts";
import { MM, pfn_valid } from "../kernel/mm/mmzone.ts";
import { MEMORY_DEVICE_PRIVATE } from "../kernel/mm/types.ts";
import { insmod, type ModuleInfo } from "../kernel/module.ts";
import { radixTreeEntries } from "../kernel/radix-tree.ts";
import {
  insert_resource,
  iomem_resource,
  IORES_DESC_PERSISTENT_MEMORY,
  IORESOURCE_MEM,
  Resource,
} from "../kernel/resource.ts";
import type { Machine } from "../machine.ts";
import type { Traced } from "../sim/trace.ts";
import { sectionsOf } from "../viz/sections-of.ts";
import type { SectionMapInput } from "../viz/sections.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import { TestDaxDevice, testDaxPmemDriver } from "./driver.ts";
import {
  HmmTestDevice,
  hmmTestDriver,
  insertDeviceMemoryResource,
  warnHeaders,
} from "./hmm-driver.ts";
import {
  type DevmemMemory,
  type HmmDevmemRemove,
  hmmDevmemRemove,
} from "./s28-hmm-devmem-remove.ts";
import { type HmmSameSection, hmmSameSection } from "./s27-hmm-same-section.ts";
import { type HmmUnbindWait, hmmUnbindWait } from "./s30-hmm-unbind-wait.ts";
import { cpuLoadDirectMap } from "./s29-device-private.ts";
import { exportResolution, PUT_PAGE_SYMBOLS, type Resolution } from "./s10-export-matrix.ts";
import {
  arrayEntries,
  describeResult,
  DEVICE_BASE,
  GiB,
  MiB,
  SECTION,
  type SeriesPoint,
  teardownSteps,
  testPgmap,
  warnings,
} from "./zone-device.ts";

/** Sections per row of the figures' section maps (2 GiB a row). */
const COLUMNS = 16;

/**
 * A section map without pgmap ids: ids are handed out per machine, so two
 * machines' maps differ in them even where the mappings are alike.
 */
function withoutPgmapIds(input: SectionMapInput): SectionMapInput {
  return {
    sections: input.sections.map(({ pgmapId: _id, ...cell }) => cell),
  };
}

/** The percpu_ref events of a trace (what refcountTimeline draws without page lines). */
function refEvents(events: readonly Traced<KernelEvent>[]): Traced<KernelEvent>[] {
  return events.filter((e) => e.kind === "percpu_ref");
}

// ---------------------------------------------------------------------------
// Patch 1/7: devm_memremap_pages becomes EXPORT_SYMBOL_GPL

/** One module load of {@link observePatch1}. */
export interface ModuleLoad {
  /** load_module's result (0 or -errno). */
  ret: number;
  /** What load_module printed. */
  log: string[];
  /** Whether its init ran and bound its namespace (struct pages created). */
  mapped: boolean;
}

/** What {@link observePatch1} sees at one series point. */
export interface Patch1Observation {
  /** The series label. */
  series: string;
  /** How vmlinux exports devm_memremap_pages. */
  exportedAs: ExportKind;
  /** A proprietary module ("nvblob") importing devm_memremap_pages and put_page's symbols, binding a namespace at 16 GiB. */
  proprietary: ModuleLoad;
  /** The same module under MODULE_LICENSE("GPL") ("nvgpl"), binding a namespace at 17 GiB. */
  gpl: ModuleLoad;
  /** The kernel's taint flags afterwards. */
  taints: string[];
  /** The section map afterwards. */
  sections: SectionMapInput;
}

/** A module whose init binds a test namespace at `start` (the test dax_pmem driver calls devm_memremap_pages). */
function namespaceModule(
  m: Machine,
  name: string,
  license: string,
  start: number,
  state: { mapped: boolean },
): ModuleInfo {
  const drv = testDaxPmemDriver();
  return {
    name,
    license,
    imports: ["devm_memremap_pages", ...PUT_PAGE_SYMBOLS],
    init(k) {
      const dev = new TestDaxDevice(k, `${name}.0`, { start, size: SECTION });
      const rc = m.call(driver_probe_device, drv, dev);
      state.mapped = rc === 0;
      return rc;
    },
  };
}

/**
 * Patch 1/7 at one series point: load a proprietary module and then a GPL
 * module, each importing devm_memremap_pages (and the symbols the inline
 * put_page needs) and mapping one 128 MiB namespace from its init.
 */
export function observePatch1(series: SeriesPoint): Patch1Observation {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const load = (name: string, license: string, start: number): ModuleLoad => {
    const state = { mapped: false };
    const r = insmod(k, namespaceModule(m, name, license, start, state));
    return { ret: r.ret, log: r.log.filter((l) => !l.startsWith("Failed to find")), ...state };
  };
  const proprietary = load("nvblob", "Proprietary", DEVICE_BASE);
  const gpl = load("nvgpl", "GPL", DEVICE_BASE + 8 * SECTION);
  return {
    series: k.series.label,
    exportedAs: exportKind(k, "devm_memremap_pages"),
    proprietary,
    gpl,
    taints: [...k.taints].sort(),
    sections: withoutPgmapIds(sectionsOf(m, { columns: COLUMNS })),
  };
}

/**
 * Patch 1/7: before, devm_memremap_pages is EXPORT_SYMBOL and the
 * proprietary module loads and maps its namespace; after, it is
 * EXPORT_SYMBOL_GPL and the proprietary module fails with -ENOENT and
 * "Unknown symbol devm_memremap_pages" — while the GPL module loads in both.
 */
export function claimPatch1(before: Patch1Observation, after: Patch1Observation): void {
  assert.equal(before.exportedAs, "non-GPL", "before: devm_memremap_pages is EXPORT_SYMBOL");
  assert.equal(before.proprietary.ret, 0, "before: the proprietary module loads");
  assert.ok(before.proprietary.mapped, "before: the proprietary module maps its namespace");
  assert.equal(after.exportedAs, "GPL", "after: devm_memremap_pages is EXPORT_SYMBOL_GPL");
  assert.equal(after.proprietary.ret, -ENOENT, "after: the proprietary module fails with -ENOENT");
  assert.ok(
    after.proprietary.log.includes("nvblob: Unknown symbol devm_memremap_pages (err -2)"),
    "after: the loader names the GPL-only symbol",
  );
  assert.ok(!after.proprietary.mapped, "after: nothing is mapped for the proprietary module");
  for (const o of [before, after]) {
    assert.equal(o.gpl.ret, 0, `${o.series}: the GPL module loads`);
    assert.ok(o.gpl.mapped, `${o.series}: the GPL module maps its namespace`);
  }
}

// ---------------------------------------------------------------------------
// Patch 2/7: no more "System RAM" passthrough

/** One devm_memremap_pages call of {@link observePatch2}. */
export interface RamAttempt {
  /** "__va(res.start)", "-ENXIO", ... */
  ret: string;
  /** WARN lines this call printed. */
  warnings: string[];
  /** The device's devres nodes afterwards (the release action, if registered). */
  devres: string[];
  /** The ref's logical count afterwards (1 = no page references taken). */
  refCount: number;
  /** get_dev_pagemap on the range's first pfn found a pgmap. */
  lookup: boolean;
  /** The first page of the range is a ZONE_DEVICE page. */
  zoneDevice: boolean;
}

/** What {@link observePatch2} sees at one series point. */
export interface Patch2Observation {
  /** The series label. */
  series: string;
  /** X = [3 GiB, +128 MiB), all System RAM. */
  x: RamAttempt;
  /** X again, on the same machine: a WARN_ONCE site prints once per boot. */
  xAgain: RamAttempt;
  /** Y = [4 GiB − 64 MiB, +128 MiB) on a fresh machine: RAM and a "Persistent Memory" resource (REGION_MIXED). */
  y: RamAttempt;
  /** Z = [16 GiB, +128 MiB), device memory: the control that does get struct pages. */
  z: RamAttempt;
  /** The section map before the calls on X and Z, and after. */
  sections: { before: SectionMapInput; after: SectionMapInput };
}

function ramAttempt(m: Machine, start: number, name: string): RamAttempt {
  const k = m.k;
  const t = testPgmap(k, start, SECTION);
  const dev = new Device(k, name, "nd");
  const w = warnings(k).length;
  const r = m.call(devm_memremap_pages, dev, t.pgmap);
  const pfn = start / 4096;
  const g = get_dev_pagemap(k, pfn, null);
  put_dev_pagemap(k, g);
  return {
    ret: describeResult(k, r, start),
    warnings: warnings(k).slice(w),
    devres: devresNames(dev),
    refCount: t.ref.value,
    lookup: g !== null,
    zoneDevice: pfn_valid(k, pfn) && is_zone_device_page(k, pfn),
  };
}

/**
 * Patch 2/7 at one series point (scenario 2's ranges on "ram-4g"): map X,
 * all System RAM, twice; a device range Z as a control; and, on a fresh
 * machine, Y, which straddles RAM and a Persistent Memory resource.
 */
export function observePatch2(series: SeriesPoint): Patch2Observation {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const before = sectionsOf(m, { columns: COLUMNS, to: 143 });
  const x = ramAttempt(m, 3 * GiB, "pmem0");
  const xAgain = ramAttempt(m, 3 * GiB, "pmem1");
  const z = ramAttempt(m, DEVICE_BASE, "pmem2");
  const after = sectionsOf(m, { columns: COLUMNS, to: 143 });
  // Y on its own machine, so that its WARN is not swallowed by X's WARN_ONCE
  const my = bootZoneDeviceMachine("ram-4g", { series });
  insert_resource(
    my.k,
    iomem_resource(my.k),
    new Resource({
      name: "Persistent Memory",
      start: 4 * GiB,
      end: 4 * GiB + 64 * MiB - 1,
      flags: IORESOURCE_MEM,
      desc: IORES_DESC_PERSISTENT_MEMORY,
    }),
  );
  const y = ramAttempt(my, 4 * GiB - 64 * MiB, "pmem3");
  return { series: m.k.series.label, x, xAgain, y, z, sections: { before, after } };
}

/**
 * Patch 2/7: before, a range that is all System RAM "succeeds" with
 * `__va(res.start)` and nothing set up (no release action, no page
 * references, no lookup entry, no ZONE_DEVICE page); after, it is -ENXIO with
 * a WARN_ONCE naming the ram region, printed once per boot. A mixed range
 * is -ENXIO with a WARN in both; real device memory maps in both.
 */
export function claimPatch2(before: Patch2Observation, after: Patch2Observation): void {
  const b = before.x;
  assert.equal(b.ret, "__va(res.start)", "before: System RAM returns __va(res.start)");
  assert.deepEqual(b.devres, [], "before: no release action is registered");
  assert.equal(b.refCount, 1, "before: no page reference is taken");
  assert.ok(!b.lookup && !b.zoneDevice, "before: no pgmap, no ZONE_DEVICE page");
  assert.deepEqual(b.warnings, [], "before: no warning");
  assert.equal(after.x.ret, "-ENXIO", "after: System RAM is -ENXIO");
  assert.ok(
    after.x.warnings.length === 1 && after.x.warnings[0]!.includes("attempted on ram region"),
    "after: one WARN names the ram region",
  );
  assert.equal(after.xAgain.ret, "-ENXIO", "after: the second attempt is -ENXIO too");
  assert.deepEqual(after.xAgain.warnings, [], "after: WARN_ONCE stays quiet the second time");
  for (const o of [before, after]) {
    assert.equal(o.y.ret, "-ENXIO", `${o.series}: a mixed range is -ENXIO`);
    assert.ok(o.y.warnings.some((w) => w.includes("mixed region")), `${o.series}: mixed WARN`);
    assert.ok(o.z.ret === "__va(res.start)" && o.z.zoneDevice, `${o.series}: device memory maps`);
  }
}

// ---------------------------------------------------------------------------
// Patch 3/7: check the final devres registration; the release kills the ref

/** The memory state a namespace leaves behind. */
export interface NamespaceState {
  /** The range's section still has struct pages. */
  sections: boolean;
  /** PAT memtype reservations on the machine. */
  pat: number;
  /** pgmap_array entries (multi-index entries). */
  arrayEntries: number;
}

/** What {@link observePatch3} sees at one series point. */
export interface Patch3Observation {
  /** The series label. */
  series: string;
  /** A clean bind of the test dax_pmem driver, no fault: its devres actions, oldest first. */
  boundDevres: string[];
  /** The clean device's unbind, step by step (teardownSteps). */
  cleanUnbind: string[];
  /** A pgmap with a ref but no `kill` (p2pdma's v4.20 call site, in miniature): devm_memremap_pages' result. */
  withoutKill: string;
  /** With the final devm_add_action failing: the probe's result ("0" or "-ENOMEM"). */
  probe: string;
  /** What devm_memremap_pages returned to that probe. */
  memremap: string;
  /** Whether devm_memremap_pages_release is registered after the probe. */
  releaseRegistered: boolean;
  /** The probe's steps (teardownSteps): the immediate teardown from patch 3/7. */
  probeSteps: string[];
  /** The memory state right after the probe. */
  afterProbe: NamespaceState;
  /** The ref's logical count right after the probe. */
  refAfterProbe: number;
  /** The unbind of the bound device (null when the probe failed): finished?, hang report, state. */
  unbind: { done: boolean; hang: string | null; after: NamespaceState } | null;
  /** Enabling the namespace again: re-probing the same device, or (while it is stuck) a new device on the range. */
  reenable: string;
  /** Levels 0..2: devm_memremap_pages of the same range with a fresh ref, as a driver without an iomem claim would (null otherwise). */
  remapDirect: string | null;
  /** percpu_ref events of the whole run (for refcountTimeline). */
  refEvents: Traced<KernelEvent>[];
}

function namespaceState(k: Kernel): NamespaceState {
  return {
    sections: pfn_valid(k, DEVICE_BASE / 4096),
    pat: k.state(MM).pat.length,
    arrayEntries: arrayEntries(k),
  };
}

/** Binds and unbinds a namespace without faults: the devres actions and the unbind steps. */
function cleanBind(series: SeriesPoint): { devres: string[]; unbind: string[] } {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const dev = new TestDaxDevice(k, "dax0.0", { start: DEVICE_BASE, size: SECTION });
  m.call(driver_probe_device, testDaxPmemDriver(), dev);
  const devres = devresNames(dev);
  k.trace.on = true;
  m.call(device_release_driver, dev);
  return { devres, unbind: teardownSteps(k.trace.events) };
}

/**
 * Patch 3/7 at one series point (scenario 8): the test dax_pmem driver binds
 * a 128 MiB namespace while the final devm_add_action inside
 * devm_memremap_pages fails (fault point "devm_add_action", caller
 * "devm_memremap_pages"); then the device is unbound (if it bound) and the
 * namespace enabled again. Also a clean bind and unbind, and a pgmap
 * without `kill`.
 */
export function observePatch3(series: SeriesPoint): Patch3Observation {
  const clean = cleanBind(series);
  const m0 = bootZoneDeviceMachine("ram-4g", { series });
  const t = testPgmap(m0.k, DEVICE_BASE, SECTION, { kill: false });
  const withoutKill = describeResult(
    m0.k,
    m0.call(devm_memremap_pages, new Device(m0.k, "p2p0", "pci"), t.pgmap),
    DEVICE_BASE,
  );

  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const drv: Driver = testDaxPmemDriver();
  const cfg = { start: DEVICE_BASE, size: SECTION };
  const dev = new TestDaxDevice(k, "dax0.0", cfg);
  k.trace.on = true;
  k.faults.arm("devm_add_action", { nth: 1, caller: "devm_memremap_pages" });
  const from = k.trace.events.length;
  const probe = m.call(driver_probe_device, drv, dev);
  k.faults.disarm("devm_add_action");
  const dax = dev.probes[0]!;
  const out: Patch3Observation = {
    series: k.series.label,
    boundDevres: clean.devres,
    cleanUnbind: clean.unbind,
    withoutKill,
    probe: errname(probe),
    memremap: describeResult(k, dax.addr!, DEVICE_BASE),
    releaseRegistered: devresHasAction(dev, devm_memremap_pages_release, dax.pgmap),
    probeSteps: teardownSteps(k.trace.events.slice(from)),
    afterProbe: namespaceState(k),
    refAfterProbe: dax.ref.value,
    unbind: null,
    reenable: "",
    remapDirect: null,
    refEvents: [],
  };
  if (probe !== 0) {
    // the probe failed cleanly: enable the same namespace again, then disable it
    out.reenable = errname(m.call(driver_probe_device, drv, dev));
    m.call(device_release_driver, dev);
  } else {
    const r = m.run(function* unbind(kk) {
      yield* device_release_driver(kk, dev);
    });
    out.unbind = { done: r.done, hang: r.blocked?.text ?? null, after: namespaceState(k) };
    // the stuck device still holds its iomem claim: a second device on the range
    const dev2 = new TestDaxDevice(k, "dax1.0", cfg);
    out.reenable = errname(m.call(driver_probe_device, drv, dev2));
    const fresh = testPgmap(k, DEVICE_BASE, SECTION);
    const ret = m.call(devm_memremap_pages, new Device(k, "dax2.0", "nd"), fresh.pgmap);
    out.remapDirect = describeResult(k, ret, DEVICE_BASE);
  }
  out.refEvents = refEvents(k.trace.events).filter((e) =>
    e.kind === "percpu_ref" && e.name === "dax_pmem_percpu_release"
  );
  return out;
}

/**
 * Patch 3/7: before, a failed final devm_add_action goes unnoticed — the
 * probe succeeds with no release registered, and the unbind blocks for ever
 * with the sections, the PAT reservation and the lookup entry left behind;
 * the driver kills its ref from a devm action of its own, and a pgmap
 * without `kill` maps. After, devm_memremap_pages tears everything down at
 * once and returns -ENOMEM, the namespace can be enabled again, the
 * release kills the ref itself (pgmap->kill), and a pgmap without `kill`
 * is -EINVAL.
 */
export function claimPatch3(before: Patch3Observation, after: Patch3Observation): void {
  assert.equal(before.probe, "0", "before: the probe succeeds despite the failure");
  assert.equal(before.memremap, "__va(res.start)", "before: devm_memremap_pages 'succeeds'");
  assert.ok(!before.releaseRegistered, "before: no release is registered");
  assert.ok(before.unbind !== null && !before.unbind.done, "before: the unbind never finishes");
  assert.ok(before.unbind.hang !== null, "before: the scheduler reports the blocked unbind");
  assert.deepEqual(
    before.unbind.after,
    { sections: true, pat: 1, arrayEntries: 1 },
    "before: sections, PAT and lookup entry stay",
  );
  assert.notEqual(before.reenable, "0", "before: the namespace cannot be enabled again");
  assert.ok(before.boundDevres.includes("dax_pmem_percpu_kill"), "before: the driver kills");
  assert.equal(before.withoutKill, "__va(res.start)", "before: no kill is needed");

  assert.equal(after.probe, "-ENOMEM", "after: the probe fails with -ENOMEM");
  assert.equal(after.memremap, "-ENOMEM", "after: devm_memremap_pages returns -ENOMEM");
  assert.deepEqual(
    after.afterProbe,
    { sections: false, pat: 0, arrayEntries: 0 },
    "after: everything is torn down at once",
  );
  assert.equal(after.refAfterProbe, 0, "after: every page reference is dropped");
  assert.ok(
    after.probeSteps.indexOf("memremap kill") > after.probeSteps.indexOf("memremap release") &&
      after.probeSteps.includes("sections removed"),
    "after: the release runs inside the failing call and kills first",
  );
  assert.equal(after.reenable, "0", "after: the namespace can be enabled again");
  assert.ok(!after.boundDevres.includes("dax_pmem_percpu_kill"), "after: no kill action");
  const k0 = after.cleanUnbind.indexOf("memremap release");
  assert.ok(k0 >= 0 && after.cleanUnbind[k0 + 1] === "memremap kill", "after: release kills");
  assert.equal(after.withoutKill, "-EINVAL", "after: kill is required");
}

// ---------------------------------------------------------------------------
// Patch 4/7: MEMORY_DEVICE_PRIVATE through add_pages

/** What {@link observePatch4} sees at one series point. */
export interface Patch4Observation {
  /** The series label. */
  series: string;
  /** devm_memremap_pages' result for the device-private pgmap. */
  map: string;
  /** The hotplug side effects of the bind, in order (pat_track, kasan_add, linear_map, ...). */
  hotplug: string[];
  /** The range has struct pages (pfn_valid). */
  structPages: boolean;
  /** The range is in the kernel's linear map. */
  linearMap: boolean;
  /** A kernel load through `__va()` of the range: the value read (hex), or null if it Oopsed. */
  read: string | null;
  /** That load's Oops, or null. */
  oops: string | null;
  /** The section map after the bind. */
  sections: SectionMapInput;
}

/**
 * Patch 4/7 at one series point (scenario 29): the test driver binds a
 * MEMORY_DEVICE_PRIVATE pgmap over [16 GiB, +128 MiB); then a kernel task
 * loads 8 bytes through `__va()` of the range.
 */
export function observePatch4(series: SeriesPoint): Patch4Observation {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const dev = new TestDaxDevice(k, "dax0.0", {
    start: DEVICE_BASE,
    size: SECTION,
    type: MEMORY_DEVICE_PRIVATE,
  });
  k.trace.on = true;
  const rc = m.call(driver_probe_device, testDaxPmemDriver(), dev);
  if (rc !== 0) throw new Error(`observePatch4: the probe failed with ${errname(rc)}`);
  const hotplug = k.trace.events.flatMap((e) =>
    e.kind === "hotplug" && e.op !== "lock" && e.op !== "unlock" ? [e.op] : []
  );
  k.trace.on = false;
  const phys = DEVICE_BASE + 4096;
  const r = m.run(function cpu_load(kk) {
    return cpuLoadDirectMap(kk, phys);
  }, { name: "reader" });
  return {
    series: k.series.label,
    map: describeResult(k, dev.last!.addr!, DEVICE_BASE),
    hotplug,
    structPages: pfn_valid(k, DEVICE_BASE / 4096),
    linearMap: linearMapped(k, phys),
    read: r.done ? `0x${r.value!.toString(16)}` : null,
    oops: r.oopses[0]?.message ?? null,
    sections: withoutPgmapIds(sectionsOf(m, { columns: COLUMNS })),
  };
}

/**
 * Patch 4/7: device-private memory gets struct pages at both points; before,
 * arch_add_memory also puts it in the linear map (a kernel load through
 * `__va()` reads the device range), after, add_pages leaves it out (the same
 * load is a paging-request Oops).
 */
export function claimPatch4(before: Patch4Observation, after: Patch4Observation): void {
  for (const o of [before, after]) {
    assert.equal(o.map, "__va(res.start)", `${o.series}: the map succeeds`);
    assert.ok(o.structPages, `${o.series}: struct pages exist`);
  }
  assert.ok(before.linearMap, "before: the range is in the linear map");
  assert.ok(before.hotplug.includes("linear_map"), "before: arch_add_memory maps it");
  assert.ok(before.read !== null && before.oops === null, "before: a load through __va reads");
  assert.ok(!after.linearMap, "after: no linear map");
  assert.ok(!after.hotplug.includes("linear_map"), "after: add_pages maps nothing");
  assert.ok(!after.hotplug.includes("kasan_add"), "after: no KASAN shadow either");
  assert.ok(
    after.read === null && after.oops?.includes("unable to handle kernel paging request"),
    "after: a load through __va is an Oops",
  );
}

// ---------------------------------------------------------------------------
// Patch 5/7: devm semantics for hmm_devmem_{add,remove}

/** An hmm_devmem_add whose memory region request fails, inside the test GPU's probe. */
export interface HmmAddFailure {
  /** The probe's result. */
  probe: string;
  /** WARNs printed (all of them devm_remove_action's before patch 5). */
  warns: number;
  /** Steps of the failure (teardownSteps): who killed, exited and freed what. */
  steps: string[];
  /** Devres nodes left on the device. */
  devresLeft: string[];
  /** Whether the probe finished (false: it blocked). */
  done: boolean;
  /** The function the probe is left blocked in, or null. */
  blockedIn: string | null;
}

/** What {@link observePatch5} sees at one series point. */
export interface Patch5Observation {
  /** The series label. */
  series: string;
  /** Scenario 28: hmm_devmem_remove before and after patch 5. */
  remove: HmmDevmemRemove;
  /** hmm_devmem_add failing at devm_request_mem_region (fault point "request_mem_region"). */
  failure: HmmAddFailure;
  /** Scenario 30: unbinding a GPU with one device page mapped. */
  unbind: HmmUnbindWait;
  /** percpu_ref events of a plain bind and unbind of the test GPU (for refcountTimeline). */
  refEvents: Traced<KernelEvent>[];
}

/** The test GPU's probe with the devm_request_mem_region of hmm_devmem_add failing. */
export function hmmAddFailure(series: SeriesPoint): HmmAddFailure {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const gpu = new HmmTestDevice(k, "gpu0", { size: SECTION });
  k.trace.on = true;
  k.faults.arm("request_mem_region", { nth: 1, caller: "hmm_devmem_add" });
  const r = m.run(function* probe(kk) {
    return yield* driver_probe_device(kk, hmmTestDriver(), gpu);
  });
  const open = k.trace.events.findLast((e) => e.kind === "hmm" && e.op === "wait");
  return {
    probe: r.done ? errname(r.value!) : "blocked",
    warns: warnHeaders(k).length,
    steps: teardownSteps(k.trace.events),
    devresLeft: devresNames(gpu),
    done: r.done,
    blockedIn: r.done ? null : open?.kind === "hmm" ? open.fn : "?",
  };
}

/** Binds the test GPU (128 MiB, hmm_devmem_add) and unbinds it, tracing the unbind's ref events. */
function hmmBindUnbindRefs(series: SeriesPoint): Traced<KernelEvent>[] {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const gpu = new HmmTestDevice(k, "gpu0", { size: SECTION });
  k.trace.on = true;
  m.call(driver_probe_device, hmmTestDriver(), gpu);
  m.run(function* unbind(kk) {
    yield* device_release_driver(kk, gpu);
  });
  return refEvents(k.trace.events);
}

/**
 * Patch 5/7 at one series point: scenario 28 (hmm_devmem_remove), an
 * hmm_devmem_add that fails part-way, scenario 30 (unbind with a page
 * mapped) and a plain bind/unbind for the ref's timeline.
 */
export function observePatch5(series: SeriesPoint): Patch5Observation {
  const remove = hmmDevmemRemove(series);
  return {
    series: remove.series,
    remove,
    failure: hmmAddFailure(series),
    unbind: hmmUnbindWait(series),
    refEvents: hmmBindUnbindRefs(series),
  };
}

/**
 * Patch 5/7: before, a driver can remove its device memory with
 * hmm_devmem_remove (the range is free again), a failed hmm_devmem_add
 * unwinds by hand with a devm_remove_action WARN, and unbind kills and waits;
 * after, hmm_devmem_remove is gone (a module importing it fails to load),
 * the failure is unwound by devres with no WARN, and hmm_devmem_add's unbind
 * no longer kills the ref: percpu_ref_exit runs on a live ref.
 */
export function claimPatch5(before: Patch5Observation, after: Patch5Observation): void {
  const rb = before.remove;
  assert.equal(rb.module.ret, 0, "before: a module importing hmm_devmem_remove loads");
  assert.equal(rb.remove, "ok", "before: hmm_devmem_remove runs");
  assert.deepEqual(
    rb.afterRemove,
    { sectionPresent: false, regionClaimed: false, radixKeys: 0 } satisfies DevmemMemory,
    "before: the memory is gone at once",
  );
  assert.ok(rb.readdStart !== null, "before: the range can be registered again");
  const ra = after.remove;
  assert.equal(ra.module.ret, -ENOENT, "after: a module importing hmm_devmem_remove fails");
  assert.ok(
    ra.module.log.some((l) => l.includes("Unknown symbol hmm_devmem_remove")),
    "after: the loader names it",
  );
  assert.equal(ra.afterRemove, null, "after: there is no hmm_devmem_remove to call");

  assert.equal(before.failure.probe, "-ENOMEM", "before: the add fails");
  assert.ok(before.failure.warns >= 1, "before: the hand-written unwind WARNs");
  assert.ok(!before.failure.steps.some((s) => s.startsWith("devres ")), "before: by hand");
  assert.equal(after.failure.probe, "-ENOMEM", "after: the add fails");
  assert.equal(after.failure.warns, 0, "after: no WARN");
  assert.ok(after.failure.steps.includes("devres hmm_devmem_ref_exit"), "after: devres unwinds");
  assert.ok(after.failure.steps.includes("devres devm_kzalloc"), "after: devres frees the devmem");
  assert.deepEqual(after.failure.devresLeft, [], "after: nothing is left");

  assert.ok(before.unbind.killed, "before: unbind kills the devmem's ref");
  assert.ok(before.unbind.removeActionWarns > 0, "before: the self-removing actions WARN");
  assert.ok(!after.unbind.killed && after.unbind.exitedLive, "after: no kill, exit on a live ref");
  assert.equal(after.unbind.removeActionWarns, 0, "after: no devm_remove_action WARN");
}

// ---------------------------------------------------------------------------
// Patch 6/7: hmm_devmem_pages_create replaced by devm_memremap_pages

/** One HMM registration of {@link observePatch6}: N sections (default 8) of DEVICE_PUBLIC memory at 1 TiB, through hmm_devmem_add_resource. */
export interface HmmRegistration {
  /** Sections registered. */
  sections: number;
  /** get_dev_pagemap on the region's first pfn found the devmem's pgmap. */
  lookup: boolean;
  /** The devmem's ref after registration (1 + one per device page from patch 6). */
  refCount: number;
  /** Device pages. */
  pages: number;
  /** Keys in HMM's section radix. */
  radixKeys: number;
  /** Entries in memremap.c's pgmap_array (one multi-index entry per pgmap). */
  arrayEntries: number;
  /** Radix tree nodes the registration visited (a lookup and an insert per section). */
  radixNodes: number;
  /** XArray nodes the registration's store visited. */
  xarrayNodes: number;
}

/** What {@link observePatch6} sees at one series point. */
export interface Patch6Observation {
  /** The series label. */
  series: string;
  /** A 1 GiB device-private registration. */
  registration: HmmRegistration;
  /** Scenario 30: where the unbind waits, with one device page mapped. */
  unbind: HmmUnbindWait;
  /** hmm_devmem_add failing at devm_request_mem_region, inside a probe. */
  failure: HmmAddFailure;
  /** Scenario 27: two DEVICE_PUBLIC resources in one section, layouts (a) and (b). */
  sameSection: { a: HmmSameSection; b: HmmSameSection };
}

/** Registers N sections of DEVICE_PUBLIC memory at 1 TiB with hmm_devmem_add_resource and reads what changed. */
export function hmmRegistration(series: SeriesPoint, n = 8): HmmRegistration {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const res = insertDeviceMemoryResource(k, "cdm0", 2 ** 40, n * SECTION);
  const dev = new HmmTestDevice(k, "cdm0", { res });
  const radix = hmmDevmemRadix(k), xa = pgmapArray(k);
  const r0 = radix.nodesTouched, x0 = xa.nodesTouched;
  if (m.call(driver_probe_device, hmmTestDriver(), dev) !== 0) {
    throw new Error("hmmRegistration: the probe failed");
  }
  const radixNodes = radix.nodesTouched - r0, xarrayNodes = xa.nodesTouched - x0;
  const devmem = hmmDevmems(k, dev)[0]!;
  const g = get_dev_pagemap(k, devmem.pfn_first, null);
  const lookup = g !== null && g === devmem.pagemap;
  put_dev_pagemap(k, g);
  return {
    sections: n,
    lookup,
    refCount: devmem.ref.value,
    pages: devmem.pfn_last - devmem.pfn_first,
    radixKeys: [...radixTreeEntries(radix)].length,
    arrayEntries: arrayEntries(k),
    radixNodes,
    xarrayNodes,
  };
}

/**
 * Patch 6/7 at one series point: an 8-section registration, scenario 30's
 * unbind, an hmm_devmem_add failing part-way, and scenario 27 (a) and (b).
 */
export function observePatch6(series: SeriesPoint): Patch6Observation {
  const unbind = hmmUnbindWait(series);
  return {
    series: unbind.series,
    registration: hmmRegistration(series),
    unbind,
    failure: hmmAddFailure(series),
    sameSection: { a: hmmSameSection(series, "a"), b: hmmSameSection(series, "b") },
  };
}

/**
 * Patch 6/7: before, HMM keeps its own section radix (one key per section),
 * get_dev_pagemap cannot see HMM memory and device pages hold no pgmap
 * reference; nothing waits at unbind (patch 5 dropped the kill); every
 * section is checked for collisions. After, the region is one pgmap_array
 * entry found by get_dev_pagemap, each device page holds a reference, the
 * unbind waits in hmm_devmem_ref_exit — also on an early failure, where
 * nothing killed the ref, so the probe blocks — and only the two
 * section-aligned ends are checked: a neighbour in the middle of a section
 * goes unnoticed and takes over the section's struct pages.
 */
export function claimPatch6(before: Patch6Observation, after: Patch6Observation): void {
  const b = before.registration, a = after.registration;
  assert.ok(!b.lookup, "before: get_dev_pagemap does not find HMM memory");
  assert.equal(b.refCount, 1, "before: device pages hold no pgmap reference");
  assert.equal(b.radixKeys, b.sections, "before: one radix key per section");
  assert.equal(b.arrayEntries, 0, "before: nothing in pgmap_array");
  assert.ok(a.lookup, "after: get_dev_pagemap finds the devmem's pgmap");
  assert.equal(a.refCount, 1 + a.pages, "after: each device page holds a reference");
  assert.equal(a.radixKeys, 0, "after: the section radix is unused");
  assert.equal(a.arrayEntries, 1, "after: one multi-index pgmap_array entry");
  assert.ok(b.radixNodes >= 2 * b.sections && a.radixNodes === 0, "registry: radix → XArray");

  assert.ok(
    !before.unbind.waits.some((w) => w.fn === "hmm_devmem_ref_exit"),
    "before: nothing waits in hmm_devmem_ref_exit",
  );
  assert.equal(after.unbind.waits[0]?.fn, "hmm_devmem_ref_exit", "after: the wait is in ref_exit");
  assert.ok(before.failure.done, "before: a failed add unwinds");
  assert.equal(after.failure.blockedIn, "hmm_devmem_ref_exit", "after: it waits on a live ref");

  for (const l of ["a", "b"] as const) {
    const s = before.sameSection[l];
    assert.equal(s.r2, "-EBUSY", `before (${l}): the per-section check refuses D2`);
    assert.equal(s.collisions.length, 1, `before (${l}): "collides with mapping for D1"`);
  }
  const sa = after.sameSection.a, sb = after.sameSection.b;
  assert.ok(sa.r2 === "-ENOMEM" && sa.conflictWarns === 1, "after (a): caught at an aligned end");
  assert.equal(sb.r2, "ok", "after (b): the neighbour in the middle goes unnoticed");
  assert.equal(sb.r1PagePgmap, "D2", "after (b): D1's struct pages now point at D2's pgmap");
}

// ---------------------------------------------------------------------------
// Patch 7/7: hmm_devmem_add and hmm_devmem_add_resource become EXPORT_SYMBOL_GPL

/** What {@link observePatch7} sees at one series point. */
export interface Patch7Observation {
  /** The series label. */
  series: string;
  /** Scenario 10: how each device-memory symbol resolves for modules ("any", "GPL-only", "absent"). */
  resolution: Record<string, Resolution>;
  /** A proprietary GPU module ("gpublob") importing hmm_devmem_add, hmm_devmem_add_resource and put_page's symbols, registering 128 MiB from its init. */
  proprietary: ModuleLoad;
  /** The same module under MODULE_LICENSE("GPL") ("gpugpl"). */
  gpl: ModuleLoad;
  /** The section map afterwards, from the top row of the address space. */
  sections: SectionMapInput;
}

/** The HMM entry points patch 7/7 re-exports. */
export const HMM_ENTRY_POINTS: readonly string[] = ["hmm_devmem_add", "hmm_devmem_add_resource"];

/**
 * Patch 7/7 at one series point: scenario 10's export resolution, then a
 * proprietary and a GPL GPU module whose init binds the test GPU
 * (hmm_devmem_add of 128 MiB).
 */
export function observePatch7(series: SeriesPoint): Patch7Observation {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  const load = (name: string, license: string): ModuleLoad => {
    const state = { mapped: false };
    const r = insmod(k, {
      name,
      license,
      imports: [...HMM_ENTRY_POINTS, ...PUT_PAGE_SYMBOLS],
      init(kk) {
        const gpu = new HmmTestDevice(kk, `${name}0`, { size: SECTION });
        const rc = m.call(driver_probe_device, hmmTestDriver(), gpu);
        state.mapped = rc === 0;
        return rc;
      },
    });
    return { ret: r.ret, log: r.log.filter((l) => !l.startsWith("Failed to find")), ...state };
  };
  const proprietary = load("gpublob", "Proprietary");
  const gpl = load("gpugpl", "GPL");
  const top = k.state(MM).NR_MEM_SECTIONS;
  return {
    series: k.series.label,
    resolution: exportResolution(series),
    proprietary,
    gpl,
    sections: withoutPgmapIds(
      sectionsOf(m, { columns: COLUMNS, from: top - COLUMNS, to: top - 1 }),
    ),
  };
}

/**
 * Patch 7/7: before, hmm_devmem_add and hmm_devmem_add_resource resolve for
 * any module and the proprietary GPU module registers its memory; after,
 * both are GPL-only and that module fails to load with "Unknown symbol" for
 * each — while the GPL module works in both, and put_page's symbols stay
 * open to every module.
 */
export function claimPatch7(before: Patch7Observation, after: Patch7Observation): void {
  for (const sym of HMM_ENTRY_POINTS) {
    assert.equal(before.resolution[sym], "any", `before: ${sym} is EXPORT_SYMBOL`);
    assert.equal(after.resolution[sym], "GPL-only", `after: ${sym} is EXPORT_SYMBOL_GPL`);
    assert.ok(
      after.proprietary.log.includes(`gpublob: Unknown symbol ${sym} (err -2)`),
      `after: the loader names ${sym}`,
    );
  }
  assert.ok(before.proprietary.ret === 0 && before.proprietary.mapped, "before: it registers");
  assert.equal(after.proprietary.ret, -ENOENT, "after: the proprietary module fails");
  assert.ok(!after.proprietary.mapped, "after: no device memory for it");
  for (const o of [before, after]) {
    assert.ok(o.gpl.ret === 0 && o.gpl.mapped, `${o.series}: the GPL module registers`);
    for (const sym of PUT_PAGE_SYMBOLS) {
      assert.equal(o.resolution[sym], "any", `${o.series}: ${sym} stays open`);
    }
  }
}
