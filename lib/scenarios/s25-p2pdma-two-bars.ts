/**
 * Scenario 25 (SCENARIOS.md): p2pdma multi-BAR registration and teardown,
 * with percpu_ref sub-checks (presets v4.20 and v5.0).
 *
 * On the p2p-rig, the NVMe-like provider (0000:03:00.0) registers BARs 2 and
 * 4 — 128 MiB each, in different sections — with pci_p2pdma_add_resource.
 * Both pgmaps share the device's one percpu_ref, and each gets the kill
 * "percpu_ref_kill unless already dying": at v4.20 as a devm action after
 * each devm_memremap_pages, at v5.0 as `pgmap->kill`. A client allocates one
 * 4 KiB chunk; the provider is unbound while it is held; then the chunk is
 * freed. Separately: the distance from the provider to the GPU behind the
 * same switch and to the accelerator on another root port.
 *
 * The scenario records, from the trace: the kills (the second one a silent
 * no-op), what pci_alloc_p2pmem and a plain percpu_ref_tryget return right
 * after the first kill (probed when the first release starts removing its
 * memory) and while the unbind waits, the hang report while the chunk is
 * held, and after the free the release, percpu_ref_exit, gen_pool
 * destruction and sysfs removal, in order.
 *
 * Runs at any series point; the claims hold at v4.20 and v5.0 (at v5.2 each
 * BAR has its own ref and both kills are real).
 *
 * @module
 */
import { bootMachine } from "../machine.ts";
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import type { KernelEvent } from "../kernel/events.ts";
import { percpu_ref_put, percpu_ref_tryget, type PercpuRef } from "../kernel/percpu-refcount.ts";
import { pciDevByName } from "../drivers/pci/pci.ts";
import {
  p2pmem_attr_show,
  pci_alloc_p2pmem,
  pci_free_p2pmem,
  pci_p2pdma_distance,
  pci_p2pmem_virt_to_bus,
} from "../drivers/pci/p2pdma.ts";
import { type P2pmemProviderData, p2pmemProviderDriver } from "../drivers/pci/p2pmem-provider.ts";
import type { HangReport } from "../sim/sched.ts";
import type { Traced } from "../sim/trace.ts";
import { type SeriesPoint, teardownSteps, traceHash, warnings } from "./zone-device.ts";

/** One probe of the shared ref at a moment of the teardown. */
export interface RefProbe {
  /** pci_alloc_p2pmem(4096) returned NULL. */
  allocNull: boolean;
  /** A plain percpu_ref_tryget succeeded (the reference is put back at once). */
  tryget: boolean;
  /** The ref's logical count at that moment. */
  count: number;
}

/** What scenario 25 returns at one series point. */
export interface P2pdmaTwoBars {
  /** The series label. */
  series: string;
  /** pci_p2pdma_add_resource's result per BAR. */
  added: { bar: number; ret: number }[];
  /** Both pgmaps hold the same percpu_ref. */
  sharedRef: boolean;
  /** p2pmem/size after probe ("268435456\n" for 2 × 128 MiB). */
  sizeAttr: string | null;
  /** The chunk's bus address and the BAR it came from (the pool allocates from the chunk added last first). */
  chunk: { bus: number; bar: number };
  /** p2pdma kill calls during the unbind that killed, and that were no-ops. */
  kills: { killed: number; noops: number };
  /** WARN texts during the unbind (no "called more than once" expected). */
  warnings: string[];
  /** Right after the first kill (when its release starts removing memory). */
  afterFirstKill: RefProbe;
  /** Once the unbind is blocked with the chunk held. */
  whileBlocked: RefProbe;
  /** The hang report while the chunk is held (null if the unbind finished). */
  blocked: HangReport | null;
  /** Teardown steps of the unbind (teardownSteps plus "p2pdma <op>" and "gen_pool destroy"). */
  unbindSteps: string[];
  /** Steps after the chunk is freed. */
  freeSteps: string[];
  /** The ref's release calls at the end. */
  releases: number;
  /** percpu_ref_exit calls on the shared ref. */
  exits: number;
  /** The unbind finished after the free. */
  unbindDone: boolean;
  /** A tryget after the count reached 0 and the ref was exited. */
  trygetAtEnd: boolean;
  /** p2pmem group present after the unbind. */
  sysfsAtEnd: boolean;
  /** Distance to the GPU behind the same switch. */
  distanceSameSwitch: number;
  /** Distance to the accelerator on another root port. */
  distanceOtherRootPort: number;
  /** The verbose warning for the other root port. */
  distanceWarning: string;
  /** Hash of the whole trace (scenario 33). */
  traceHash: string;
  /** Simulated time at the end, ns. */
  simNs: number;
}

/** teardownSteps plus the p2pdma and gen_pool events. */
function steps(events: readonly Traced<KernelEvent>[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.kind === "p2pdma") out.push(`p2pdma ${e.op}`);
    else if (e.kind === "gen_pool" && e.op === "destroy") out.push("gen_pool destroy");
    else out.push(...teardownSteps([e]));
  }
  // merge the consecutive page puts teardownSteps would have merged
  const merged: string[] = [];
  for (const s of out) {
    const m = /^page put ×(\d+) → (-?\d+)$/.exec(s);
    const p = /^page put ×(\d+) → (-?\d+)$/.exec(merged.at(-1) ?? "");
    if (m && p && m[2] === p[2]) {
      merged[merged.length - 1] = `page put ×${+m[1]! + +p[1]!} → ${m[2]}`;
    } else merged.push(s);
  }
  return merged;
}

/**
 * Runs scenario 25 at one series point on a fresh "p2p-rig".
 *
 * @example
 * ```ts
 * import { p2pdmaTwoBars } from "./s25-p2pdma-two-bars.ts";
 * import { assertEquals } from "@std/assert";
 * const r = p2pdmaTwoBars("v5.0");
 * assertEquals([r.kills.killed, r.kills.noops, r.releases, r.exits], [1, 1, 1, 1]);
 * ```
 */
export function p2pdmaTwoBars(series: SeriesPoint, opts: { seed?: number } = {}): P2pdmaTwoBars {
  const m = bootMachine("p2p-rig", { series, seed: opts.seed ?? 0 });
  const k = m.k;
  k.trace.on = true;
  const topo = m.hw!.pci;
  const pdev = pciDevByName(k, topo, "nvme0");
  m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2, 4] }), pdev);
  const data = pdev.driver_data as P2pmemProviderData;
  const p2p = pdev.p2pdma!;
  const refs = p2p.bars.map((b) => b.ref);
  const ref: PercpuRef = refs[refs.length - 1]!;
  const sizeAttr = p2pmem_attr_show(k, pdev, "size");

  let addr = 0n;
  m.run(function client(kk) {
    addr = pci_alloc_p2pmem(kk, pdev, 4096);
  });
  const bus = pci_p2pmem_virt_to_bus(k, pdev, addr);
  const chunkBar = p2p.bars.find((b) => bus >= b.pgmap.res.start && bus <= b.pgmap.res.end)!.bar;

  const probe = (r: PercpuRef): RefProbe => {
    const allocNull = pci_alloc_p2pmem(k, pdev, 4096) === 0n;
    const count = r.value;
    const tryget = percpu_ref_tryget(k, r);
    if (tryget) percpu_ref_put(k, r);
    return { allocNull, tryget, count };
  };

  // probe once the first kill has run: when the first release starts removing memory
  let afterFirstKill: RefProbe | null = null;
  let probing = false;
  const unsubscribe = k.trace.subscribe((e) => {
    if (afterFirstKill !== null || probing) return;
    if (e.kind === "memremap" && e.op === "remove_memory") {
      // an observer on another CPU: its own calls stay out of the trace
      probing = true;
      k.trace.on = false;
      afterFirstKill = probe(ref);
      k.trace.on = true;
      probing = false;
    }
  });
  const warnBefore = warnings(k).length;
  const n0 = k.trace.events.length;
  const r1 = m.run(function* unbind(kk) {
    yield* device_release_driver(kk, pdev);
  });
  unsubscribe();
  const unbindEvents = k.trace.events.slice(n0);
  k.trace.on = false;
  const whileBlocked = probe(ref);
  k.trace.on = true;
  const n1 = k.trace.events.length;
  m.run(function client_free(kk) {
    pci_free_p2pmem(kk, pdev, addr, 4096);
  });
  const r3 = m.runAll();
  const freeEvents = k.trace.events.slice(n1);
  let kills = 0, noops = 0;
  for (const e of unbindEvents) {
    if (e.kind === "p2pdma" && e.op === "kill") kills++;
    if (e.kind === "p2pdma" && e.op === "kill_noop") noops++;
  }
  const exits =
    k.trace.events.filter((e) => e.kind === "percpu_ref" && e.op === "exit" && e.ref === ref.id)
      .length;
  const trygetAtEnd = percpu_ref_tryget(k, ref);

  const gpu = pciDevByName(k, topo, "gpu0");
  const accel = pciDevByName(k, topo, "accel0");
  const distanceSameSwitch = pci_p2pdma_distance(k, pdev, gpu, false);
  const lines = k.dmesg.lines.length;
  const distanceOtherRootPort = pci_p2pdma_distance(k, pdev, accel, true);
  const distanceWarning = k.dmesg.lines.slice(lines).map((l) => l.text).join("\n");
  k.trace.on = false;
  return {
    series: k.series.label,
    added: data.results,
    sharedRef: refs.length === 2 && refs[0] === refs[1],
    sizeAttr,
    chunk: { bus, bar: chunkBar },
    kills: { killed: kills, noops },
    warnings: warnings(k).slice(warnBefore),
    afterFirstKill: afterFirstKill ?? { allocNull: false, tryget: false, count: -1 },
    whileBlocked,
    blocked: r1.blocked,
    unbindSteps: steps(unbindEvents),
    freeSteps: steps(freeEvents),
    releases: ref.releaseFired,
    exits,
    unbindDone: r3.blocked === null && pdev.driver === null,
    trygetAtEnd,
    sysfsAtEnd: pdev.sysfsGroups.has("p2pmem"),
    distanceSameSwitch,
    distanceOtherRootPort,
    distanceWarning,
    traceHash: traceHash(k.trace.events),
    simNs: k.clock.now,
  };
}
