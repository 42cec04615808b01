/**
 * Scenario 32 (SCENARIOS.md): Logan Gunthorpe's two-BAR deadlock (29 Nov 2018).
 *
 * Variant `logan-wait-in-kill` is Logan's 27 Nov proposal: the memremap
 * release kills after its put loop, and p2pdma's kill waits for the ref to
 * reach zero. With one percpu_ref shared by two BARs (p2pdma up to v5.0) the
 * provider's unbind deadlocks: devres runs the releases newest first, so
 * BAR 4's release puts BAR 4's pages and then waits inside
 * pci_p2pdma_percpu_kill for a count that only BAR 2's release — queued
 * behind it in the same task — can drop.
 *
 * - `{ series: "v5.0", variants: ["logan-wait-in-kill"] }`: deadlock; the
 *   hang report shows the unbind task waiting on the device's completion, the
 *   shared ref killed with BAR 2's pages as its holders, and those dropped
 *   only by BAR 2's pending devm_memremap_pages_release in the same task.
 * - v5.0 without the variant, and v5.2 (1570175abd16 + 50f44ee7248a, one ref
 *   per BAR, the wait in `cleanup`): the unbind completes.
 * - v5.2 with the variant: a RangeError naming 50f44ee7248a (from Series).
 *
 * Releases run newest first, so "the first release" is BAR 4's (registered
 * last) and the holders are BAR 2's pages — SCENARIOS.md's "BAR1" is the BAR
 * registered first.
 *
 * @module
 */
import { bootMachine, exploreMachine, type Machine } from "../machine.ts";
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { type PciDev, pciDevByName } from "../drivers/pci/pci.ts";
import { p2pmemProviderDriver } from "../drivers/pci/p2pmem-provider.ts";
import type { Exploration } from "../sim/explore.ts";
import type { HangReport } from "../sim/sched.ts";
import type { SeriesPoint } from "./zone-device.ts";

/** What scenario 32 returns at one series point. */
export interface LoganTwoBarDeadlock {
  /** The series label. */
  series: string;
  /** The unbind finished. */
  unbindDone: boolean;
  /** The scheduler's hang report (null when the unbind finished). */
  hang: HangReport | null;
  /**
   * The wait-for chain, one link per line, from the trace and the hang
   * report: the blocked task and the function it waits in (with the BAR
   * whose release called it), the ref and its count, its holders and the
   * devres action that would drop them.
   */
  chain: string[];
  /** The BAR whose release was waiting (-1 if none). */
  waitingBar: number;
  /** The BAR whose pages held the ref (-1 if none). */
  holderBar: number;
  /** The shared ref's count at the end. */
  refCount: number;
  /** Every interleaving with the RCU grace periods: counts by outcome. */
  exploration: Exploration["counts"];
  /** Schedules explored. */
  schedules: number;
}

function prepare(series: SeriesPoint, variants: readonly string[]): { m: Machine; pdev: PciDev } {
  const m = bootMachine("p2p-rig", { series, variants });
  const pdev = pciDevByName(m.k, m.hw!.pci, "nvme0");
  m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2, 4] }), pdev);
  return { m, pdev };
}

/**
 * Runs scenario 32 at one series point with the given variants (the
 * variant's RangeError at v5.2 propagates).
 *
 * @example
 * ```ts
 * import { loganTwoBarDeadlock } from "./s32-logan-two-bar-deadlock.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 * assertEquals(loganTwoBarDeadlock("v5.0", ["logan-wait-in-kill"]).unbindDone, false);
 * assertEquals(loganTwoBarDeadlock("v5.2").unbindDone, true);
 * assertThrows(() => loganTwoBarDeadlock("v5.2", ["logan-wait-in-kill"]), RangeError);
 * ```
 */
export function loganTwoBarDeadlock(
  series: SeriesPoint,
  variants: readonly string[] = [],
): LoganTwoBarDeadlock {
  const { m, pdev } = prepare(series, variants);
  const k = m.k;
  const bars = pdev.p2pdma!.bars.slice();
  const barOfPgmap = (id: number) => bars.find((b) => b.pgmap.id === id)?.bar ?? -1;
  k.trace.on = true;
  const n0 = k.trace.events.length;
  const r = m.run(function* unbind(kk) {
    yield* device_release_driver(kk, pdev);
  });
  const events = k.trace.events.slice(n0);
  k.trace.on = false;

  // where the unbind waits: a p2pdma wait inside a memremap release is the kill's, else pci_p2pdma_release's
  let waitingBar = -1;
  let waitFn = "";
  let inRelease = -1;
  for (const e of events) {
    if (e.kind === "memremap" && e.op === "release") inRelease = e.pgmap;
    if (e.kind === "memremap" && e.op === "release_done") inRelease = -1;
    if (e.kind === "p2pdma" && e.op === "wait") {
      waitingBar = inRelease >= 0 ? barOfPgmap(inRelease) : -1;
      waitFn = inRelease >= 0
        ? `pci_p2pdma_percpu_kill (pgmap->kill, called by devm_memremap_pages_release of BAR ${waitingBar})`
        : "pci_p2pdma_release";
    }
    if (e.kind === "p2pdma" && e.op === "wait_done") waitingBar = -1;
  }
  const ref = bars[0]!.ref;
  let holderBar = -1;
  const chain: string[] = [];
  if (r.blocked !== null) {
    const text = r.blocked.text;
    const held = /(\d+) held by pages of pgmap (\d+) (\[mem [^\]]+\])/.exec(text);
    if (held) holderBar = barOfPgmap(Number(held[2]));
    const task = r.blocked.entries[0]!.task;
    chain.push(`task ${task} is blocked in ${waitFn}`);
    chain.push(
      `waiting for the release of percpu_ref '${ref.name}' #${ref.id} (shared by BARs ${
        bars.map((b) => b.bar).join(" and ")
      }), count ${ref.value}, ${ref.dead ? "killed" : "live"}`,
    );
    if (held) {
      chain.push(
        `${held[1]} of those references are held by the pages of BAR ${holderBar} ${held[3]}`,
      );
    }
    const pending =
      /dropped by devres action (\S+) of (\S+), still pending: task (\S+) runs it only after its current wait returns/
        .exec(text);
    if (pending) {
      chain.push(
        `they are dropped only by ${pending[1]} of BAR ${holderBar} (${
          pending[2]
        }), a devres action task ${pending[3]} runs after this wait returns`,
      );
    }
  }
  const x = exploreMachine(() => prepare(series, variants).m, (mm) => {
    const pd = pciDevByName(mm.k, mm.hw!.pci, "nvme0");
    mm.spawn("unbind", function* unbind(kk) {
      yield* device_release_driver(kk, pd);
    });
  });
  return {
    series: k.series.label,
    unbindDone: r.done,
    hang: r.blocked,
    chain,
    waitingBar,
    holderBar,
    refCount: ref.value,
    exploration: x.counts,
    schedules: x.schedules.length,
  };
}
