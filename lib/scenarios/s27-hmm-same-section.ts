/**
 * Scenario 27 (SCENARIOS.md): two DEVICE_PUBLIC resources in one section S =
 * [16 GiB, +128 MiB), registered with hmm_devmem_add_resource by devices D1
 * and then D2 — the per-section collision check patch 6/7 gives up.
 *
 * - (a) R1 = [S, S+64 MiB), R2 = [S+64 MiB, S+128 MiB);
 * - (b) R1 = [S+32 MiB, S+64 MiB), R2 = [S+64 MiB, S+96 MiB).
 *
 * Levels 0..5: HMM's own radix holds one key per section, so D2 collides in
 * both cases: -EBUSY and dev_err "hmm_devmem_pages_create: collides with
 * mapping for D1"; at levels 0..4 the error path's kill also WARNs in
 * devm_remove_action. From patch 6/7 devm_memremap_pages probes only the two
 * section-aligned ends: (a) -ENOMEM "Conflicting mapping in same section",
 * returned before `kill` up to v5.0 — D2's ref stays live and D2's unbind
 * blocks forever in hmm_devmem_ref_exit (v5.2: killed and cleaned up, unbind
 * completes); (b) goes undetected: R2 registers and re-initialises the whole
 * section's struct pages with page->pgmap = R2's pgmap, while get_dev_pagemap
 * on R1's pfns still returns R1's.
 *
 * D2's driver treats device memory as optional (probe succeeds without it),
 * so that D2 stays bound and its unbind can be observed.
 *
 * @module
 */
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { hmmDevmems } from "../kernel/hmm.ts";
import { get_dev_pagemap, put_dev_pagemap } from "../kernel/memremap.ts";
import { page_pgmap } from "../kernel/mm/memmap.ts";
import { pfn_valid } from "../kernel/mm/mmzone.ts";
import type { DevPagemap } from "../kernel/mm/types.ts";
import type { PercpuRef } from "../kernel/percpu-refcount.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import {
  describeDevmem,
  HmmTestDevice,
  hmmTestDriver,
  hmmWaits,
  insertDeviceMemoryResource,
  removeActionWarns,
} from "./hmm-driver.ts";
import { DEVICE_BASE, MiB, type SeriesPoint } from "./zone-device.ts";

/** Which layout of scenario 27. */
export type SameSectionCase = "a" | "b";

/** What scenario 27 returns at one series point. */
export interface HmmSameSection {
  /** The series label. */
  series: string;
  /** The layout. */
  layout: SameSectionCase;
  /** D1's registration ("ok" or "-E..."). */
  r1: string;
  /** D2's registration. */
  r2: string;
  /** dev_err lines of hmm_devmem_pages_create's collision check. */
  collisions: string[];
  /** How many "Conflicting mapping in same section" WARNs D2's attempt printed. */
  conflictWarns: number;
  /** devm_remove_action WARNs during D2's registration. */
  removeActionWarns: number;
  /** D2's ref right after its registration: "live", "killed" or "exited". */
  d2Ref: "live" | "killed" | "exited";
  /** Whose pgmap the struct page of R1's first pfn points to. */
  r1PagePgmap: "D1" | "D2" | "none";
  /** Whose pgmap get_dev_pagemap returns for R1's first pfn (null: none). */
  r1Lookup: "D1" | "D2" | null;
  /** R1's struct pages still exist after D2's unbind (D2's release removes the shared section at 6..7 in layout b). */
  r1SectionAfterD2Unbind: boolean;
  /** D2's unbind finished. */
  d2UnbindDone: boolean;
  /** The function D2's unbind is left blocked in, or null. */
  d2BlockedIn: string | null;
  /** The hang report after D2's unbind, or null. */
  hang: string | null;
}

function refState(ref: PercpuRef): "live" | "killed" | "exited" {
  return ref.pcpu === null ? "exited" : ref.dead ? "killed" : "live";
}

/**
 * Runs scenario 27 (layout `layout`) at one series point on a fresh
 * "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { hmmSameSection } from "./s27-hmm-same-section.ts";
 * import { assertEquals } from "@std/assert";
 * const r = hmmSameSection("v5.0", "b");
 * assertEquals([r.r2, r.r1PagePgmap, r.r1Lookup], ["ok", "D2", "D1"]);
 * ```
 */
export function hmmSameSection(series: SeriesPoint, layout: SameSectionCase): HmmSameSection {
  const m = bootZoneDeviceMachine("ram-4g", { series });
  const k = m.k;
  k.trace.on = true;
  const S = DEVICE_BASE;
  const [a1, s1, a2, s2] = layout === "a"
    ? [S, 64 * MiB, S + 64 * MiB, 64 * MiB]
    : [S + 32 * MiB, 32 * MiB, S + 64 * MiB, 32 * MiB];
  const res1 = insertDeviceMemoryResource(k, "cdm-D1", a1, s1);
  const res2 = insertDeviceMemoryResource(k, "cdm-D2", a2, s2);
  const d1 = new HmmTestDevice(k, "D1", { res: res1 });
  const d2 = new HmmTestDevice(k, "D2", { res: res2, optional: true });
  const drv = hmmTestDriver();
  if (m.call(driver_probe_device, drv, d1) !== 0) throw new Error("scenario 27: D1 failed");
  const dmesgBefore = k.dmesg.lines.length;
  const warnsBefore = removeActionWarns(k);
  m.call(driver_probe_device, drv, d2);
  const d2Lines = k.dmesg.lines.slice(dmesgBefore).map((l) => l.text);
  const dm1 = hmmDevmems(k, d1)[0]!;
  const dm2 = hmmDevmems(k, d2)[0]!;
  const who = (p: DevPagemap | null): "D1" | "D2" | null =>
    p === null ? null : p === dm1.pagemap ? "D1" : p === dm2.pagemap ? "D2" : null;
  const pfn = a1 / 4096;
  const g = get_dev_pagemap(k, pfn, null);
  const r1Lookup = who(g);
  put_dev_pagemap(k, g);
  const d2Ref = refState(dm2.ref);
  const r1PagePgmap = who(page_pgmap(k, pfn)) ?? "none";

  const unbind = m.spawn("unbind-D2", (kk) => device_release_driver(kk, d2));
  const r = m.runAll();
  const open = hmmWaits(k.trace.events).find((w) => w.ns === null && w.dev === "D2");
  return {
    series: k.series.label,
    layout,
    r1: describeDevmem(d1.last!.result),
    r2: describeDevmem(d2.last!.result),
    collisions: d2Lines.filter((l) => l.includes("collides with mapping for")),
    conflictWarns: d2Lines.filter((l) => l.includes("Conflicting mapping in same section")).length,
    removeActionWarns: removeActionWarns(k) - warnsBefore,
    d2Ref,
    r1PagePgmap,
    r1SectionAfterD2Unbind: pfn_valid(k, pfn),
    r1Lookup,
    d2UnbindDone: unbind.state === "done",
    d2BlockedIn: unbind.state === "blocked" ? open?.fn ?? "?" : null,
    hang: r.blocked?.text ?? null,
  };
}
