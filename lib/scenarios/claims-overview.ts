/**
 * The claim of the overview notebook (notebooks/00-overview.ipynb): the
 * `workstation-2018` machine after boot, and the life of one fsdax
 * namespace on it from probe to unbind.
 *
 * `observeOverview()` boots the machine (preset v5.0 unless told otherwise),
 * records its /proc/iomem and its sections, then, with the trace on, creates
 * a 1 GiB fsdax namespace with its memmap on the device (`ndctl
 * create-namespace -m fsdax -M dev -s 1G`, which probes nd_pmem) and
 * disables it again (`ndctl disable-namespace`, which unbinds it). It
 * returns the three moments (boot, bound, after the unbind), the devres
 * actions in the order they were added and released, the steps of the
 * unbind, and the events of the pgmap's percpu_ref (the block queue's
 * `q_usage_counter`) for refcountTimeline.
 *
 * `claimOverview(o)` asserts, with node:assert/strict, what the notebook
 * says: boot maps System RAM and nothing of the pmem region; the probe
 * claims the namespace in /proc/iomem and adds its sections as fs_dax
 * ZONE_DEVICE memory, linearly mapped, with their memmap on the device, one
 * pgmap reference per data page plus the initial one; the unbind releases
 * the devres actions in exactly the reverse order of their addition, kills
 * the ref before the memory goes, exits it only after its release, and
 * leaves /proc/iomem and the section map as boot left them.
 *
 * @example
 * ```ts ignore
 * import { claimOverview, observeOverview } from "./claims-overview.ts";
 * claimOverview(observeOverview());
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { bootMachine } from "../machine.ts";
import { iomemTree } from "../kernel/resource.ts";
import type { KernelEvent } from "../kernel/events.ts";
import type { Traced } from "../sim/trace.ts";
import { nd_bound_device } from "../drivers/nvdimm/bind.ts";
import { pmemOf } from "../drivers/nvdimm/pmem.ts";
import { sectionsOf } from "../viz/sections-of.ts";
import type { SectionCell, SectionMapInput } from "../viz/sections.ts";
import type { TimelineEvent } from "../viz/refcount-timeline.ts";
import { type SeriesPoint, teardownSteps } from "./zone-device.ts";

const SECTION = 2 ** 27;
const PAGE = 4096;

/** The namespace the overview creates: ndctl create-namespace's options. */
export const OVERVIEW_NAMESPACE = { mode: "fsdax", map: "dev", size: "1G" } as const;

/** What {@link observeOverview} records. */
export interface OverviewObservation {
  /** The machine's name. */
  machine: string;
  /** Its description (from data/machines). */
  description: string;
  /** The series label the machine was booted at. */
  series: string;
  /** CPUs. */
  cpus: number;
  /** Bytes of System RAM in the description. */
  ramBytes: number;
  /** The pmem regions: name, first byte, size. */
  regions: { name: string; start: number; size: number }[];
  /** /proc/iomem after boot, while the namespace is bound, and after the unbind. */
  iomem: { boot: string; bound: string; after: string };
  /** The sections at the same three moments (sectionsOf). */
  sections: { boot: SectionMapInput; bound: SectionMapInput; after: SectionMapInput };
  /** What ndctl created. */
  namespace: {
    /** ndctl's result: 0 or -errno. */
    rc: number;
    /** "namespace0.0". */
    name: string;
    /** The device nd_pmem bound to ("pfn0.0"). */
    device: string;
    /** The block device ("pmem0"). */
    blockdev: string;
    /** Namespace size, bytes. */
    size: number;
    /** The pgmap's range: first and last byte. */
    pgmapStart: number;
    pgmapEnd: number;
    /** Pages of the pgmap range whose struct pages hold a reference (the data pages). */
    dataPages: number;
    /** Pages of the pgmap range before the data: the info block and the memmap (map=dev). */
    reservedPages: number;
  };
  /** devres actions of the device: names in the order added (probe) and released (unbind). */
  devres: { added: string[]; released: string[] };
  /** The unbind's steps (teardownSteps of its trace). */
  unbindSteps: string[];
  /** The unbind: whether it returned, and Oopses. */
  unbind: { done: boolean; oopses: number };
  /** The pgmap's percpu_ref. */
  ref: {
    /** Its name (the release function's). */
    name: string;
    /** Its count once the probe returned. */
    afterProbe: number;
    /**
     * Its events from init to exit, for refcountTimeline; consecutive puts at
     * one simulated instant are merged into one (the count after the last).
     */
    events: TimelineEvent[];
    /** Simulated time (ns) of its kill, release and exit (-1: none). */
    killT: number;
    releaseT: number;
    exitT: number;
    /** Its count at the release. */
    releaseCount: number;
  };
}

/** The ref's events with consecutive same-instant puts merged (see OverviewObservation.ref.events). */
function refEvents(events: readonly Traced<KernelEvent>[], refId: number): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  for (const e of events) {
    if (e.kind !== "percpu_ref" || e.ref !== refId) continue;
    const ev: TimelineEvent = {
      kind: e.kind,
      t: e.t,
      op: e.op,
      ref: e.ref,
      name: e.name,
      count: e.count,
    };
    const last = out[out.length - 1];
    if (ev.op === "put" && last?.op === "put" && last.t === ev.t) out[out.length - 1] = ev;
    else out.push(ev);
  }
  return out;
}

/**
 * Boots `workstation-2018` at `series` (default v5.0), creates the 1 GiB
 * fsdax namespace ({@link OVERVIEW_NAMESPACE}) and disables it, recording
 * the trace of both.
 */
export function observeOverview(series: SeriesPoint = "v5.0"): OverviewObservation {
  const m = bootMachine("workstation-2018", { series, seed: 0 });
  const k = m.k;
  const d = m.description!;
  const nd = m.hw!.ndctl!;
  const iomemBoot = iomemTree(k);
  const sectionsBoot = sectionsOf(m);

  k.trace.on = true;
  const created = nd.createNamespace({ ...OVERVIEW_NAMESPACE });
  if (!created.ok) throw new Error(`Cannot observe the overview: ndctl failed: ${created.error}`);
  const probeEnd = k.trace.events.length;
  const ns = nd.namespace(created.dev)!;
  const dev = nd_bound_device(k, ns)!;
  const pmem = pmemOf(k, dev)!;
  const ref = pmem.pgmap.ref!;
  const refAfterProbe = ref.value;
  const iomemBound = iomemTree(k);
  const sectionsBound = sectionsOf(m);
  const oopses0 = k.trace.events.filter((e) => e.kind === "log" && e.op === "oops").length;
  const disabled = nd.disableNamespace(created.dev);
  k.trace.on = false;
  const events = [...k.trace.events];
  k.trace.clear();

  const unbindEvents = events.slice(probeEnd);
  const devres = (op: string) =>
    events.filter((e) => e.kind === "devres" && e.op === op && e.dev === dev.name)
      .map((e) => (e as { name: string }).name);
  const refEv = refEvents(events, ref.id);
  const tOf = (op: string) => refEv.find((e) => e.op === op)?.t ?? -1;
  const release = refEv.find((e) => e.op === "release");
  const res = pmem.pgmap.res;
  return {
    machine: d.name,
    description: d.description ?? "",
    series: k.series.label,
    cpus: d.cpus,
    ramBytes: d.ram.reduce((a, r) => a + r.size, 0),
    regions: nd.regions().map((r) => ({ name: r.name, start: r.start, size: r.size })),
    iomem: { boot: iomemBoot, bound: iomemBound, after: iomemTree(k) },
    sections: { boot: sectionsBoot, bound: sectionsBound, after: sectionsOf(m) },
    namespace: {
      rc: created.rc,
      name: created.dev,
      device: dev.name,
      blockdev: created.blockdev ?? "",
      size: created.size,
      pgmapStart: res.start,
      pgmapEnd: res.end,
      dataPages: refAfterProbe - 1,
      reservedPages: (pmem.phys_addr + pmem.data_offset - res.start) / PAGE,
    },
    devres: { added: devres("add"), released: devres("release") },
    unbindSteps: teardownSteps(unbindEvents),
    unbind: {
      done: disabled.ok,
      oopses: events.filter((e) => e.kind === "log" && e.op === "oops").length - oopses0,
    },
    ref: {
      name: ref.name,
      afterProbe: refAfterProbe,
      events: refEv,
      killT: tOf("kill"),
      releaseT: tOf("release"),
      exitT: tOf("exit"),
      releaseCount: release?.count ?? -1,
    },
  };
}

const device = (s: SectionMapInput) => s.sections.filter((c) => c.kind === "device");
const ram = (s: SectionMapInput) => s.sections.filter((c) => c.kind === "ram");
const iomemLine = (tree: string, name: string) =>
  tree.split("\n").find((l) => l.trimStart().split(" : ")[1] === name);

/** Asserts the overview's claim about `o` (module doc); throws an AssertionError if any part fails. */
export function claimOverview(o: OverviewObservation): void {
  const n = o.namespace;
  // boot: System RAM in sections and in iomem; the pmem region is a resource with nothing in it
  assert.equal(o.machine, "workstation-2018");
  assert.equal(
    ram(o.sections.boot).length,
    o.ramBytes / SECTION,
    "boot: one RAM section per 128 MiB",
  );
  assert.equal(device(o.sections.boot).length, 0, "boot: no ZONE_DEVICE section");
  assert.ok(iomemLine(o.iomem.boot, "System RAM"), "boot: iomem has System RAM");
  assert.ok(iomemLine(o.iomem.boot, "Persistent Memory"), "boot: iomem has the pmem region");
  assert.equal(iomemLine(o.iomem.boot, n.name), undefined, "boot: no namespace claimed yet");

  // probe: the namespace in iomem, its sections fs_dax, mapped, memmap on the device
  assert.equal(n.rc, 0, "ndctl create-namespace must succeed");
  const claimed = iomemLine(o.iomem.bound, n.name);
  assert.ok(
    claimed?.startsWith("  "),
    "bound: the namespace sits under Persistent Memory in iomem",
  );
  const region = o.regions[0]!;
  assert.ok(n.pgmapStart >= region.start && n.pgmapEnd < region.start + region.size);
  const dev = device(o.sections.bound);
  assert.equal(dev.length, Math.ceil(n.size / SECTION), "bound: one device section per 128 MiB");
  assert.equal(ram(o.sections.bound).length, ram(o.sections.boot).length, "RAM is untouched");
  const first = dev[0]!;
  assert.equal(first.start, region.start, "bound: the sections start at the region");
  for (const c of dev) {
    assert.ok(/fs_dax|FS_DAX/.test(c.type ?? ""), `section ${c.nr}: fs_dax`);
    assert.equal(c.pgmapId, first.pgmapId, `section ${c.nr}: one pgmap`);
    assert.ok(c.linearMap, `section ${c.nr}: in the linear map`);
    assert.equal(c.memmap, "device", `section ${c.nr}: memmap on the device (map=dev)`);
  }
  assert.ok(n.reservedPages > 0, "map=dev: the memmap takes pages at the start of the namespace");
  assert.equal(
    n.dataPages,
    (n.pgmapEnd + 1 - n.pgmapStart) / PAGE - n.reservedPages,
    "one reference per data page",
  );
  assert.equal(
    o.ref.afterProbe,
    n.dataPages + 1,
    "the ref holds the initial count and one per page",
  );

  // unbind: devres last in, first out
  assert.ok(o.devres.added.includes("devm_memremap_pages_release"));
  assert.deepEqual(o.devres.released, [...o.devres.added].reverse(), "devres unwinds in reverse");
  assert.ok(o.unbind.done && o.unbind.oopses === 0, "the unbind returns, without an Oops");

  // the ref: killed before the memory goes, released at zero, exited last
  const step = (s: string) => o.unbindSteps.indexOf(s);
  assert.ok(step("ref kill") >= 0 && step("sections removed") >= 0 && step("ref exit") >= 0);
  assert.ok(step("ref kill") < step("sections removed"), "the kill precedes the removal");
  assert.ok(step("sections removed") < step("ref exit"), "the exit follows the removal");
  assert.ok(
    o.ref.killT >= 0 && o.ref.killT <= o.ref.releaseT && o.ref.releaseT <= o.ref.exitT,
    "kill, then release, then exit",
  );
  assert.equal(o.ref.releaseCount, 0, "released at zero");
  const counts = o.ref.events.filter((e) => e.t >= o.ref.killT && e.op === "put");
  for (let i = 1; i < counts.length; i++) {
    assert.ok(counts[i]!.count! < counts[i - 1]!.count!, "after the kill the count only falls");
  }

  // afterwards: as boot left it
  assert.equal(o.iomem.after, o.iomem.boot, "after: /proc/iomem as at boot");
  assert.deepEqual(
    o.sections.after.sections.map(key),
    o.sections.boot.sections.map(key),
    "after: the section map as at boot",
  );
}

function key(c: SectionCell): string {
  return `${c.nr}:${c.kind}:${c.linearMap}:${c.memmap}`;
}
