/**
 * The claim of the aftermath notebook (notebooks/08-aftermath.ipynb): what
 * happened to the teardown problems Logan Gunthorpe found in his review of
 * patch 3/7 (27-30 Nov 2018), between preset v5.0 (the series as merged, with
 * p2pdma's `pgmap->kill`) and preset v5.2 (Dan Williams' 2019 "fix page
 * release race" series: devm_release_action / devm_memunmap_pages, genalloc
 * chunk owners, 1570175abd16, 50f44ee7248a).
 *
 * `observeAftermath(series)` gathers, on fresh machines, the scenarios the
 * notebook tells: scenario 31 (the p2pdma teardown race, every interleaving,
 * plus one crashing schedule replayed step by step), scenario 25 (two BARs,
 * an allocation held across the unbind), scenario 32 with and without
 * Logan's `logan-wait-in-kill` variant, the gen_pool_add_virt failure path,
 * and scenario 30 (HMM's version of the race, process side).
 * `claimAftermath(before, after)` asserts with node:assert/strict that
 * `before` shows the 2018 behaviour and `after` the 2019 one; it throws an
 * AssertionError when either side shows the other's.
 *
 * Two helpers stand in for what the scenario modules do not offer:
 * {@link loganRaceReplay} (scenario 31's setup is private to
 * s31-logan-race.ts; this rebuilds it to replay one explored schedule with
 * what each step did) and {@link genPoolAddVirtFailure} (kernel-reference
 * §11 S12, covered by tests/drivers only).
 *
 * @example
 * ```ts ignore
 * import { claimAftermath, observeAftermath } from "./claims-aftermath.ts";
 * claimAftermath(observeAftermath("v5.0"), observeAftermath("v5.2"));
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { bootMachine } from "../machine.ts";
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { devresHasAction } from "../kernel/devres.ts";
import type { KernelEvent } from "../kernel/events.ts";
import { devm_memremap_pages_release, pgmapArray } from "../kernel/memremap.ts";
import { vmemmapAddress } from "../kernel/mm/memmap.ts";
import { PAGE_FIELD } from "../kernel/mm/constants.ts";
import { pfn_valid } from "../kernel/mm/mmzone.ts";
import { preempt_point } from "../kernel/sched.ts";
import { xaEntries } from "../kernel/xarray.ts";
import { pci_resource_start, pciDevByName } from "../drivers/pci/pci.ts";
import {
  DMA_TO_DEVICE,
  P2PDMA,
  pci_p2pdma_add_resource,
  pci_p2pdma_map_sg,
  pci_p2pmem_alloc_sgl,
  pci_p2pmem_free_sgl,
  type Scatterlist,
} from "../drivers/pci/p2pdma.ts";
import { p2pmemProviderDriver } from "../drivers/pci/p2pmem-provider.ts";
import { type FollowupKey, FOLLOWUPS, Series } from "../series.ts";
import { choiceLabel, defaultPolicy, type SchedulePolicy } from "../sim/sched.ts";
import type { Traced } from "../sim/trace.ts";
import {
  type LoganRaceExploration,
  loganRaceExplore,
  type LoganRaceRun,
  loganRaceSchedule,
} from "./s31-logan-race.ts";
import { type LoganTwoBarDeadlock, loganTwoBarDeadlock } from "./s32-logan-two-bar-deadlock.ts";
import { type P2pdmaTwoBars, p2pdmaTwoBars } from "./s25-p2pdma-two-bars.ts";
import { type Scenario30, scenario30 } from "./s30-hmm-unbind-process.ts";
import type { SeriesPoint } from "./zone-device.ts";

/** Logan Gunthorpe's unmerged proposal (lib/series.ts VARIANTS). */
export const WAIT_IN_KILL = "logan-wait-in-kill";

/** The 2019 follow-ups of preset v5.2, in lib/series.ts order. */
export const FIXES_2019: readonly FollowupKey[] = (Object.keys(FOLLOWUPS) as FollowupKey[])
  .filter((key) => FOLLOWUPS[key].preset === "v5.2");

// ---------------------------------------------------------------------------
// Scenario 31 replayed step by step

/** One decision of a replayed schedule and what ran because of it. */
export interface RaceStep {
  /** 1-based decision number; 0 for what ran with no choice left (a single runnable option). */
  step: number;
  /** The choice: a task name or "gp" (an RCU grace period ends); "(no choice)" for step 0. */
  runs: string;
  /** What it did, from the trace, in order ("arch_remove_memory: section 262146 removed", ...). */
  did: string[];
}

/** What {@link loganRaceReplay} returns. */
export interface RaceReplay {
  /** The series label. */
  series: string;
  /** The decisions taken (equal to the requested schedule when it was replayable). */
  schedule: string[];
  /** Decision by decision, each followed by what ran without a choice. */
  steps: RaceStep[];
  /** The printed Oops (dmesg, from "BUG:" to the end-of-trace line), or [] if none. */
  oops: string[];
  /** The address page->pgmap of the client's page would be read from. */
  pgmapFieldAddress: string;
  /** The hang report at the end, or null. */
  hang: string | null;
  /** "remove" / "access" / "free", as scenario 31 logs them. */
  order: string[];
}

/**
 * Turns a trace into short lines, leaving out what the step table does not
 * need. Keeps, per ref, the previous percpu_ref operation, to name the puts
 * that percpu_ref_kill and its grace period make.
 */
class Describer {
  #lastRefOp = new Map<number, string>();
  constructor(private readonly names: ReadonlyMap<number, string>) {}

  #task(id: number): string {
    return this.names.get(id) ?? "a task";
  }

  line(e: Traced<KernelEvent>): string | null {
    switch (e.kind) {
      case "device":
        return e.op === "remove" ? `device_release_driver(${e.dev}) unbinds the driver` : null;
      case "devres":
        return e.op === "release" && e.name !== "devm_kzalloc" ? `devres runs ${e.name}` : null;
      case "memremap":
        if (e.op === "kill") return "pgmap->kill";
        if (e.op === "cleanup") return "pgmap->cleanup: wait for the ref";
        if (e.op === "remove_memory") return "arch_remove_memory";
        if (e.op === "array_delete") return "pgmap_array_delete, then synchronize_rcu";
        return null;
      case "p2pdma":
        if (e.op === "kill") return "pci_p2pdma_percpu_kill";
        if (e.op === "kill_noop") return "pci_p2pdma_percpu_kill: already dying, nothing to do";
        if (e.op === "map_sg") return "pci_p2pdma_map_sg reads the page's pgmap: fine";
        if (e.op === "free") return "pci_free_p2pmem";
        if (e.op === "wait") return "pci_p2pdma_release waits for the ref to reach zero";
        if (e.op === "wait_done") return "the wait returns";
        return null;
      case "percpu_ref": {
        const prev = this.#lastRefOp.get(e.ref);
        this.#lastRefOp.set(e.ref, e.op);
        const count = e.count.toLocaleString("en-US");
        if (e.op === "kill") return "percpu_ref_kill";
        if (e.op === "put" && prev === "switch_to_atomic") {
          return `the initial reference goes: count ${count}`;
        }
        if (e.op === "put" && prev === "confirm") {
          return `the kill's grace period is over; its own reference goes: count ${count}`;
        }
        if (e.op === "put" && e.n > 1) {
          return `put_page loop: ${e.n.toLocaleString("en-US")} page references go, count ${count}`;
        }
        if (e.op === "put") return `percpu_ref_put: count ${count}`;
        if (e.op === "release") return "the ref reaches zero: release";
        if (e.op === "exit") return "percpu_ref_exit";
        return null;
      }
      case "section":
        return e.op === "remove" ? `section ${e.nr} removed: its struct pages are gone` : null;
      case "rcu":
        return e.op === "gp_end" ? `RCU grace period ${e.gp} ends` : null;
      case "sched":
        if (e.op === "block") return `${this.#task(e.target)} blocks in ${e.what}`;
        if (e.op === "wake") return `${this.#task(e.target)} wakes`;
        if (e.op === "oops") return `Oops in ${this.#task(e.target)}: ${e.what}`;
        return null;
      default:
        return null;
    }
  }
}

/**
 * Replays one schedule of scenario 31 (s31-logan-race.ts: the provider with
 * BAR 2, a client holding one 4 KiB page of p2pmem, the tasks "unbind" and
 * "client") and reports what each decision ran. The setup mirrors
 * s31-logan-race.ts's `prepare`, which that module does not export; the
 * test checks that the replay agrees with `loganRaceSchedule`.
 *
 * @param series the series point.
 * @param schedule decision labels, as `loganRaceExplore` records them; after
 *   them the scheduler's default policy decides.
 * @throws {Error} when a label names no runnable option at its decision.
 */
export function loganRaceReplay(
  series: SeriesPoint,
  schedule: readonly string[],
  opts: { variants?: readonly string[] } = {},
): RaceReplay {
  const m = bootMachine("p2p-rig", { series, variants: opts.variants ?? [] });
  const k = m.k;
  const pdev = pciDevByName(k, m.hw!.pci, "nvme0");
  const gpu = pciDevByName(k, m.hw!.pci, "gpu0");
  m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2] }), pdev);
  let sgl: Scatterlist[] | null = null;
  m.run(function client_alloc(kk) {
    sgl = pci_p2pmem_alloc_sgl(kk, pdev, { value: 0 }, 4096);
  });
  if (sgl === null) throw new Error("Cannot replay scenario 31: the client could not allocate");
  const list: Scatterlist[] = sgl;
  const order: string[] = [];
  k.trace.on = true;
  k.trace.subscribe((e) => {
    if (e.kind === "memremap" && e.op === "remove_memory") order.push("remove");
  });
  const unbind = m.spawn("unbind", function* unbind(kk) {
    yield* device_release_driver(kk, pdev);
  });
  const client = m.spawn("client", function* client(kk) {
    order.push("access");
    pci_p2pdma_map_sg(kk, gpu, list, 1, DMA_TO_DEVICE);
    yield* preempt_point(kk);
    order.push("free");
    pci_p2pmem_free_sgl(kk, pdev, list);
  });
  const names = new Map([[unbind.id, "unbind"], [client.id, "client"]]);
  const d0 = k.dmesg.lines.length;
  const marks: { at: number; label: string }[] = [];
  const policy: SchedulePolicy = {
    choose(options, current) {
      const i = marks.length;
      let pick: number;
      if (i < schedule.length) {
        pick = options.findIndex((o) => choiceLabel(o) === schedule[i]);
        if (pick < 0) {
          throw new Error(
            `Cannot replay schedule: decision ${i + 1} wants "${schedule[i]}", the options are ${
              options.map(choiceLabel).join(", ")
            }`,
          );
        }
      } else pick = defaultPolicy.choose(options, current);
      marks.push({ at: k.trace.events.length, label: choiceLabel(options[pick]!) });
      return pick;
    },
  };
  const r = m.runAll({ schedule: policy });
  const events = k.trace.events;
  k.trace.on = false;

  const describer = new Describer(names);
  const started = new Set<string>();
  const steps: RaceStep[] = [];
  marks.forEach((mark, i) => {
    const end = marks[i + 1]?.at ?? events.length;
    const slice = events.slice(mark.at, end);
    // the chosen actor's own events come first; the rest ran because nothing else could
    const mine = (e: Traced<KernelEvent>) =>
      mark.label === "gp"
        ? e.task <= 0
        : e.task === [...names].find(([, n]) => n === mark.label)?.[0];
    let split = slice.findIndex((e) => !mine(e));
    if (split < 0) split = slice.length;
    const lines = (evs: readonly Traced<KernelEvent>[]) =>
      evs.map((e) => describer.line(e)).filter((s): s is string => s !== null);
    const own = lines(slice.slice(0, split));
    const first = !started.has(mark.label);
    started.add(mark.label);
    steps.push({
      step: i + 1,
      runs: mark.label,
      did: own.length > 0 ? own : [
        first ? "starts; stops at its first preemption point" : "runs to its next preemption point",
      ],
    });
    const rest = lines(slice.slice(split));
    if (rest.length > 0) steps.push({ step: 0, runs: "(no choice)", did: rest });
  });

  const printed = k.dmesg.lines.slice(d0).map((l) => l.text);
  const from = printed.findIndex((l) => l.startsWith("BUG:"));
  const to = printed.findIndex((l, i) => i >= from && l.startsWith("---[ end trace"));
  return {
    series: k.series.label,
    schedule: r.schedule,
    steps,
    oops: from < 0 ? [] : printed.slice(from, to < 0 ? undefined : to + 1),
    pgmapFieldAddress: vmemmapAddress(k, list[0]!.page, PAGE_FIELD.pgmap),
    hang: r.blocked?.text ?? null,
    order,
  };
}

// ---------------------------------------------------------------------------
// The gen_pool_add_virt failure path (devm_release_action / devm_memunmap_pages)

/** What {@link genPoolAddVirtFailure} returns. */
export interface GenPoolAddVirtFailure {
  /** The series label. */
  series: string;
  /** pci_p2pdma_add_resource's result for BAR 4 (gen_pool_add_virt fails once). */
  ret: number;
  /** p2pdma freed BAR 4's pgmap while its memremap release stayed registered. */
  releaseOnFreedPgmap: boolean;
  /** BAR 4's section is still present after the failed call. */
  sectionPresent: boolean;
  /** Lookup entries (pgmap_array ranges) left: BAR 2's, and BAR 4's if it was not unmapped. */
  lookupEntries: number;
}

/**
 * kernel-reference §11 S12 on the p2p-rig: BAR 2 is added; then BAR 4's
 * gen_pool_add_virt fails once. Up to v5.0 p2pdma frees the pgmap but
 * leaves devm_memremap_pages' release (and the mapping) registered on it;
 * with p2pdma-gen-pool-add-virt-fix (v5.2) devm_memunmap_pages — built on
 * devm_release_action — tears the mapping down first.
 */
export function genPoolAddVirtFailure(series: SeriesPoint): GenPoolAddVirtFailure {
  const m = bootMachine("p2p-rig", { series });
  const k = m.k;
  const pdev = pciDevByName(k, m.hw!.pci, "nvme0");
  const bar2 = m.call(pci_p2pdma_add_resource, pdev, 2, 0, 0);
  if (bar2 !== 0) throw new Error(`Cannot run the gen_pool_add_virt case: BAR 2 gave ${bar2}`);
  k.faults.arm("gen_pool_add_virt", { nth: 1 });
  const ret = m.call(pci_p2pdma_add_resource, pdev, 4, 0, 0) as number;
  const dangling = k.state(P2PDMA).danglingPgmaps;
  let lookupEntries = 0;
  for (const _ of xaEntries(pgmapArray(k))) lookupEntries++;
  return {
    series: k.series.label,
    ret,
    releaseOnFreedPgmap: dangling.some((p) =>
      devresHasAction(pdev, devm_memremap_pages_release, p)
    ),
    sectionPresent: pfn_valid(k, Math.floor(pci_resource_start(pdev, 4) / 4096)),
    lookupEntries,
  };
}

// ---------------------------------------------------------------------------
// The observation and the claim

/** Logan's variant where it can be applied: one BAR (the race) and two BARs (the deadlock). */
export interface WaitInKill {
  /** Scenario 31 with the variant, every interleaving. */
  race: LoganRaceExploration;
  /** Scenario 32 with the variant: two BARs sharing one ref. */
  twoBars: LoganTwoBarDeadlock;
  /** Scenario 32 without it, for comparison. */
  withoutVariant: LoganTwoBarDeadlock;
}

/** What {@link observeAftermath} sees at one series point. */
export interface AftermathObservation {
  /** The series label. */
  series: string;
  /** The 2019 follow-ups ({@link FIXES_2019}) active at this point. */
  fixes: FollowupKey[];
  /** Scenario 31: every interleaving of the unbind and the client. */
  race: LoganRaceExploration;
  /** The first crashing schedule of {@link race}, replayed step by step (null if none crashed). */
  crash: RaceReplay | null;
  /** Scenario 31 under "unbind runs to arch_remove_memory, then the client runs". */
  adversary: LoganRaceRun;
  /** Scenario 25: two BARs, a chunk held across the unbind, then freed. */
  twoBars: P2pdmaTwoBars;
  /** Logan's variant, or the RangeError's message where the series rejects it. */
  waitInKill: WaitInKill | { rejected: string };
  /** The gen_pool_add_virt failure path. */
  genPool: GenPoolAddVirtFailure;
  /** Scenario 30, process side: HMM's version of the race. */
  hmm: Scenario30;
}

/**
 * Runs the aftermath's scenarios at one series point (presets v5.0 and v5.2
 * are the notebook's pair); each scenario on fresh machines. Under a second
 * on the 2-core machine at v5.0.
 */
export function observeAftermath(series: SeriesPoint): AftermathObservation {
  const s = new Series({ series });
  const race = loganRaceExplore(series);
  const first = race.schedules.find((x) => x.outcome === "oops");
  let waitInKill: WaitInKill | { rejected: string };
  try {
    new Series({ series, variants: [WAIT_IN_KILL] });
    waitInKill = {
      race: loganRaceExplore(series, { variants: [WAIT_IN_KILL] }),
      twoBars: loganTwoBarDeadlock(series, [WAIT_IN_KILL]),
      withoutVariant: loganTwoBarDeadlock(series),
    };
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    waitInKill = { rejected: e.message };
  }
  return {
    series: s.label,
    fixes: FIXES_2019.filter((f) => s.fixed(f)),
    race,
    crash: first === undefined ? null : loganRaceReplay(series, first.schedule),
    adversary: loganRaceSchedule(series),
    twoBars: p2pdmaTwoBars(series),
    waitInKill,
    genPool: genPoolAddVirtFailure(series),
    hmm: scenario30(series),
  };
}

/** The index of the first step equal to `step` (-1 if none). */
function indexOf(steps: readonly string[], step: string): number {
  return steps.indexOf(step);
}

function assertRace2018(o: AftermathObservation): void {
  const x = o.race;
  assert.ok(x.complete, `${o.series}: the race exploration must be exhaustive`);
  assert.ok(x.counts.oops > 0, `${o.series}: some interleaving must Oops on a removed struct page`);
  assert.ok(
    x.crashesExactlyWhenAccessAfterRemove,
    `${o.series}: a schedule must crash exactly when the client's access follows arch_remove_memory`,
  );
  assert.equal(x.removalAfterFreeAlways, false, `${o.series}: memory must go before the free`);
  const c = o.crash;
  assert.ok(c !== null, `${o.series}: a crashing schedule must be replayed`);
  assert.ok(
    x.schedules.some((s) => s.outcome === "oops" && s.schedule.join() === c.schedule.join()),
    `${o.series}: the replayed schedule must be one of the crashing ones`,
  );
  assert.ok(
    c.oops[0]?.includes(c.pgmapFieldAddress),
    `${o.series}: the Oops must name the address of the page's pgmap field`,
  );
  assert.deepEqual(c.order.slice(0, 2), ["remove", "access"]);
  const a = o.adversary;
  assert.equal(a.oopses.length, 1, `${o.series}: the adversarial schedule must Oops once`);
  assert.ok(a.oopses[0]!.message.includes(a.pgmapFieldAddress));
  assert.equal(a.unbindDone, false, `${o.series}: the unbind must stay blocked`);
  assert.ok(a.hang?.includes("pci_p2pdma_release"), `${o.series}: blocked in pci_p2pdma_release`);
}

function assertRace2019(o: AftermathObservation): void {
  const x = o.race;
  assert.ok(x.complete, `${o.series}: the race exploration must be exhaustive`);
  assert.equal(x.counts.oops, 0, `${o.series}: no interleaving may Oops`);
  assert.equal(x.counts["deadlock/hang"], 0, `${o.series}: no interleaving may hang`);
  assert.ok(x.removalAfterFreeAlways, `${o.series}: memory must be removed only after the free`);
  assert.equal(o.crash, null, `${o.series}: there is no crashing schedule to replay`);
  const a = o.adversary;
  assert.equal(a.oopses.length, 0, `${o.series}: the adversarial schedule must not Oops`);
  assert.ok(a.unbindDone, `${o.series}: the unbind must finish`);
  assert.deepEqual(a.order, ["access", "free", "remove"]);
}

function assertTwoBars2018(o: AftermathObservation): void {
  const t = o.twoBars;
  assert.ok(t.sharedRef, `${o.series}: both BARs must share the device's ref`);
  assert.deepEqual(t.kills, { killed: 1, noops: 1 }, `${o.series}: one kill and one no-op`);
  const removed = t.unbindSteps.filter((s) => s === "sections removed").length;
  assert.equal(removed, 2, `${o.series}: both BARs' memory must go while the chunk is held`);
  assert.ok(
    t.blocked?.text.includes("pci_p2pdma_release"),
    `${o.series}: the unbind must wait in pci_p2pdma_release, after the removals`,
  );
  assert.ok(t.unbindDone, `${o.series}: the free must let the unbind finish`);
}

function assertTwoBars2019(o: AftermathObservation): void {
  const t = o.twoBars;
  assert.equal(t.sharedRef, false, `${o.series}: each BAR must have its own ref`);
  assert.equal(t.kills.noops, 0, `${o.series}: no kill may be a no-op`);
  assert.equal(
    indexOf(t.unbindSteps, "sections removed"),
    -1,
    `${o.series}: nothing may be removed while the chunk is held`,
  );
  assert.ok(
    t.blocked?.text.includes("pci_p2pdma_percpu_cleanup") &&
      t.blocked.text.includes(`BAR ${t.chunk.bar}`),
    `${o.series}: the unbind must wait in the cleanup of the chunk's own BAR`,
  );
  assert.ok(t.unbindDone, `${o.series}: the free must let the unbind finish`);
}

function assertWaitInKill2018(o: AftermathObservation): void {
  const w = o.waitInKill;
  assert.ok(!("rejected" in w), `${o.series}: Logan's variant must apply here`);
  assert.ok(w.race.complete && w.race.counts.oops === 0 && w.race.counts["deadlock/hang"] === 0);
  assert.ok(w.race.removalAfterFreeAlways, `${o.series}: with one BAR the variant closes the race`);
  const d = w.twoBars;
  assert.equal(d.unbindDone, false, `${o.series}: with two BARs the variant must deadlock`);
  assert.equal(d.exploration.clean + d.exploration.oops, 0, "every interleaving must deadlock");
  assert.ok(d.waitingBar >= 0 && d.holderBar >= 0 && d.waitingBar !== d.holderBar);
  assert.ok(d.chain[0]?.includes("pci_p2pdma_percpu_kill"), "the wait must be inside the kill");
  assert.ok(
    d.hang?.text.includes("devm_memremap_pages_release") && d.hang.text.includes("still pending"),
    "the holders must be dropped only by a devres action still pending in the same task",
  );
  assert.ok(w.withoutVariant.unbindDone, `${o.series}: without the variant the unbind finishes`);
}

function assertWaitInKill2019(o: AftermathObservation): void {
  const w = o.waitInKill;
  assert.ok(
    "rejected" in w && w.rejected.includes("50f44ee7248a"),
    `${o.series}: the variant must be rejected as incompatible with 50f44ee7248a`,
  );
}

/**
 * Asserts what the 2019 fixes changed: `before` (v5.0) has none of them, an
 * exhaustive exploration of scenario 31 in which exactly the schedules that
 * access the page after arch_remove_memory Oops (with one replayed), both
 * BARs' memory removed while a chunk is held, Logan's wait-in-kill closing
 * the one-BAR race but deadlocking two BARs that share a ref, a pgmap freed
 * under its registered release when gen_pool_add_virt fails, and HMM's unmap
 * Oopsing on a removed struct page with the unbind stuck in
 * hmm_devmem_ref_exit. `after` (v5.2) has all of them, no crashing or
 * hanging interleaving, removal only after the free, a wait in the held
 * chunk's own BAR's cleanup before anything is removed, the variant rejected
 * (it conflicts with 50f44ee7248a), the failed BAR unmapped, and HMM's
 * teardown waiting for the unmap.
 *
 * @throws {AssertionError} when either side does not show its behaviour.
 */
export function claimAftermath(before: AftermathObservation, after: AftermathObservation): void {
  assert.deepEqual(before.fixes, [], `${before.series}: none of the 2019 fixes`);
  assert.deepEqual(after.fixes, [...FIXES_2019], `${after.series}: every 2019 fix`);

  assertRace2018(before);
  assertRace2019(after);
  assertTwoBars2018(before);
  assertTwoBars2019(after);
  assertWaitInKill2018(before);
  assertWaitInKill2019(after);

  const g0 = before.genPool, g1 = after.genPool;
  assert.ok(
    g0.ret < 0 && g0.releaseOnFreedPgmap && g0.sectionPresent && g0.lookupEntries === 2,
    `${before.series}: a failed gen_pool_add_virt must leave BAR 4 mapped under a freed pgmap`,
  );
  assert.ok(
    g1.ret < 0 && !g1.releaseOnFreedPgmap && !g1.sectionPresent && g1.lookupEntries === 1,
    `${after.series}: a failed gen_pool_add_virt must unmap BAR 4 before freeing its pgmap`,
  );

  const h0 = before.hmm, h1 = after.hmm;
  assert.ok(h0.removedWhileMapped && h0.oops !== null && h0.oopsNamesPage, "HMM: the unmap Oopses");
  assert.equal(h0.unbindDone, false, `${before.series}: HMM's unbind stays blocked`);
  assert.equal(h0.blockedIn, "hmm_devmem_ref_exit");
  assert.ok(!h1.removedWhileMapped && h1.oops === null, `${after.series}: HMM's unmap is fine`);
  assert.ok(h1.unbindDone && h1.unmapDone, `${after.series}: HMM's unbind waits, then finishes`);
}
