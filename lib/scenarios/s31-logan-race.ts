/**
 * Scenario 31 (SCENARIOS.md): Logan Gunthorpe's teardown race (29 Nov 2018),
 * at preset v5.0; clean at v5.2.
 *
 * The p2p-rig's provider registers one BAR (BAR 2, 128 MiB); a client
 * allocates one 4 KiB page of p2pmem (pci_p2pmem_alloc_sgl: one pgmap
 * reference). Then two tasks run concurrently:
 *
 * - "unbind": device_release_driver of the provider — devm_memremap_pages_release
 *   (kill, put every page, remove the memory, delete the lookup entries),
 *   then pci_p2pdma_release, which waits for the last reference;
 * - "client": pci_p2pdma_map_sg of its scatterlist for the GPU (reads the
 *   page's struct page), a preemption point, then pci_p2pmem_free_sgl.
 *
 * Up to v5.0 nothing waits for the client's reference before
 * arch_remove_memory: if the client's map_sg runs after the unbind removed
 * the section, it touches a removed struct page — an Oops naming it in the
 * client; the client never frees, and the unbind stays blocked in
 * pci_p2pdma_release. With 50f44ee7248a (v5.2) the release waits in
 * `cleanup` for the client's put before removing anything.
 *
 * {@link loganRaceExplore} runs every interleaving of the two tasks (and the
 * RCU grace periods) and checks, per schedule, that it crashed exactly when
 * the client's access came after the unbind's arch_remove_memory (and,
 * necessarily, before its free). {@link loganRaceSchedule} runs one named
 * schedule, "unbind runs to arch_remove_memory, then the client runs".
 *
 * @module
 */
import { bootMachine, exploreMachine, type Machine } from "../machine.ts";
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { vmemmapAddress } from "../kernel/mm/memmap.ts";
import { PAGE_FIELD } from "../kernel/mm/constants.ts";
import { preempt_point } from "../kernel/sched.ts";
import { pciDevByName } from "../drivers/pci/pci.ts";
import {
  DMA_TO_DEVICE,
  pci_p2pdma_map_sg,
  pci_p2pmem_alloc_sgl,
  pci_p2pmem_free_sgl,
  type Scatterlist,
} from "../drivers/pci/p2pdma.ts";
import { p2pmemProviderDriver } from "../drivers/pci/p2pmem-provider.ts";
import type { ScheduleOutcome } from "../sim/explore.ts";
import { choiceLabel, type OopsRecord, type SchedulePolicy } from "../sim/sched.ts";
import type { SeriesPoint } from "./zone-device.ts";

/** One run's machine and what the scenario watches in it. */
interface Run {
  m: Machine;
  pfn: number;
  /** "remove" (unbind's arch_remove_memory), "access" (client map_sg), "free" (client), in order. */
  log: string[];
}

/** A machine with the provider bound and the client's page allocated; the tasks not yet spawned. */
function prepare(series: SeriesPoint, variants: readonly string[]): Run {
  const m = bootMachine("p2p-rig", { series, variants });
  const k = m.k;
  const topo = m.hw!.pci;
  const pdev = pciDevByName(k, topo, "nvme0");
  const gpu = pciDevByName(k, topo, "gpu0");
  m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2] }), pdev);
  let sgl: Scatterlist[] | null = null;
  m.run(function client_alloc(kk) {
    sgl = pci_p2pmem_alloc_sgl(kk, pdev, { value: 0 }, 4096);
  });
  if (sgl === null) throw new Error("scenario 31: the client could not allocate p2pmem");
  const list: Scatterlist[] = sgl;
  const run: Run = { m, pfn: list[0]!.page, log: [] };
  k.trace.on = true;
  k.trace.subscribe((e) => {
    if (e.kind === "memremap" && e.op === "remove_memory") run.log.push("remove");
  });
  m.spawn("unbind", function* unbind(kk) {
    yield* device_release_driver(kk, pdev);
  });
  m.spawn("client", function* client(kk) {
    run.log.push("access");
    pci_p2pdma_map_sg(kk, gpu, list, 1, DMA_TO_DEVICE);
    yield* preempt_point(kk);
    run.log.push("free");
    pci_p2pmem_free_sgl(kk, pdev, list);
  });
  return run;
}

/** One explored schedule of scenario 31. */
export interface LoganSchedule {
  /** The labels chosen at each decision point. */
  schedule: string[];
  /** How it ended. */
  outcome: ScheduleOutcome;
  /** The order of the unbind's arch_remove_memory and the client's access and free. */
  order: string[];
  /** The client's access came after arch_remove_memory (and before its free). */
  accessAfterRemove: boolean;
}

/** What the exploration of scenario 31 at one series point found. */
export interface LoganRaceExploration {
  /** The series label. */
  series: string;
  /** Every schedule, in exploration order. */
  schedules: LoganSchedule[];
  /** Counts by outcome. */
  counts: Record<ScheduleOutcome, number>;
  /** The search was exhaustive. */
  complete: boolean;
  /** Every crashing schedule has the access after arch_remove_memory, and every such schedule crashes. */
  crashesExactlyWhenAccessAfterRemove: boolean;
  /** In every schedule the memory was removed only after the client's free (v5.2's claim). */
  removalAfterFreeAlways: boolean;
  /** Host time the exploration took, ms. */
  ms: number;
}

/**
 * Explores every interleaving of scenario 31's two tasks at one series point
 * (stateless re-execution on a fresh machine per schedule).
 *
 * @example
 * ```ts
 * import { loganRaceExplore } from "./s31-logan-race.ts";
 * import { assert } from "@std/assert";
 * const x = loganRaceExplore("v5.0");
 * assert(x.complete && x.counts.oops > 0 && x.crashesExactlyWhenAccessAfterRemove);
 * ```
 */
export function loganRaceExplore(
  series: SeriesPoint,
  opts: { maxSchedules?: number; variants?: readonly string[] } = {},
): LoganRaceExploration {
  const runs: Run[] = [];
  const t0 = performance.now();
  let label = "";
  const x = exploreMachine(
    () => {
      const run = prepare(series, opts.variants ?? []);
      runs.push(run);
      label = run.m.k.series.label;
      return run.m;
    },
    () => {},
    opts.maxSchedules === undefined ? {} : { maxSchedules: opts.maxSchedules },
  );
  const ms = performance.now() - t0;
  const schedules: LoganSchedule[] = x.schedules.map((s, i) => {
    const order = runs[i]!.log;
    const remove = order.indexOf("remove");
    const access = order.indexOf("access");
    return {
      schedule: s.schedule,
      outcome: s.outcome,
      order,
      accessAfterRemove: remove >= 0 && access > remove,
    };
  });
  return {
    series: label,
    schedules,
    counts: x.counts,
    complete: x.complete,
    crashesExactlyWhenAccessAfterRemove: schedules.every((s) =>
      (s.outcome === "oops") === s.accessAfterRemove
    ),
    removalAfterFreeAlways: schedules.every((s) => {
      const r = s.order.indexOf("remove");
      const f = s.order.indexOf("free");
      return f >= 0 && r > f;
    }),
    ms,
  };
}

/** What one named schedule of scenario 31 did. */
export interface LoganRaceRun {
  /** The series label. */
  series: string;
  /** The decision labels taken. */
  schedule: string[];
  /** The order of remove / access / free. */
  order: string[];
  /** Oopses (the client's, when the race is lost). */
  oopses: OopsRecord[];
  /** The hang report at the end (the unbind blocked in pci_p2pdma_release), or null. */
  hang: string | null;
  /** The page's pfn. */
  pfn: number;
  /** The address an Oops on the page's page->pgmap names. */
  pgmapFieldAddress: string;
  /** The unbind finished. */
  unbindDone: boolean;
}

/**
 * The schedule "unbind runs to the arch_remove_memory step, then the client
 * runs": the unbind (and the grace periods it needs) runs until the memory is
 * removed; from then on the client goes first whenever it can.
 */
function unbindThenClient(run: Run): SchedulePolicy {
  return {
    choose(options) {
      const want = run.log.includes("remove") ? "client" : "unbind";
      const i = options.findIndex((o) => choiceLabel(o) === want);
      if (i >= 0) return i;
      const gp = options.findIndex((o) => o.kind === "gp");
      return gp >= 0 ? gp : 0;
    },
  };
}

/**
 * Runs scenario 31 once under "unbind runs to arch_remove_memory, then the
 * client runs" (or the given policy).
 *
 * @example
 * ```ts
 * import { loganRaceSchedule } from "./s31-logan-race.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(loganRaceSchedule("v5.0").oopses.length, 1);
 * assertEquals(loganRaceSchedule("v5.2").oopses.length, 0);
 * ```
 */
export function loganRaceSchedule(
  series: SeriesPoint,
  opts: { variants?: readonly string[] } = {},
): LoganRaceRun {
  const run = prepare(series, opts.variants ?? []);
  const { m } = run;
  const r = m.runAll({ schedule: unbindThenClient(run) });
  const unbind = m.k.sched.tasks.find((t) => t.name === "unbind")!;
  return {
    series: m.k.series.label,
    schedule: r.schedule,
    order: run.log,
    oopses: r.oopses,
    hang: r.blocked?.text ?? null,
    pfn: run.pfn,
    pgmapFieldAddress: vmemmapAddress(m.k, run.pfn, PAGE_FIELD.pgmap),
    unbindDone: unbind.state === "done",
  };
}
