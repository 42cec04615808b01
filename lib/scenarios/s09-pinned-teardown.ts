/**
 * Scenario 9 (SCENARIOS.md): teardown while a page is pinned — the 2018
 * race oracle.
 *
 * The Conventions' driver binds an FS_DAX pgmap over 128 MiB. A second task
 * ("gup") takes one extra reference on page P (get_page; the hardware issue
 * reruns this with get_user_pages), so P's refcount is 2. Unbind; later the
 * "unpin" task drops the pin (put_page).
 *
 * Up to v5.0 (at v4.20 the kill is the driver's devres action, from patch
 * 3/7 the release's first step): every page is put — P goes 2 → 1, which
 * runs page_free although P is pinned — and the memory is removed while P is
 * referenced; the unbind then blocks in the driver's wait. The unpin touches
 * P's removed struct page: an Oops naming it, in the unpinning task; no
 * release, no completion; the unbind stays blocked. With 50f44ee7248a
 * (v5.2) the release waits in `cleanup` before removing anything; the unpin
 * drops the last reference, the wait returns, the memory goes, unbind ends.
 *
 * @module
 */
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { vmemmapAddress } from "../kernel/mm/memmap.ts";
import { pfn_valid } from "../kernel/mm/mmzone.ts";
import { get_page, put_page } from "../kernel/mm/swap.ts";
import { MEMORY_DEVICE_FS_DAX } from "../kernel/mm/types.ts";
import type { HangReport, OopsRecord } from "../sim/sched.ts";
import { bootZoneDeviceMachine } from "./boot.ts";
import { TestDaxDevice, testDaxPmemDriver } from "./driver.ts";
import { DEVICE_BASE, SECTION, type SeriesPoint, teardownSteps, traceHash } from "./zone-device.ts";

/** What scenario 9 returns at one series point. */
export interface PinnedTeardown {
  /** The series label. */
  series: string;
  /** P's pfn. */
  pfn: number;
  /** The vmemmap address of P's struct page (what an Oops on it names, + field offset). */
  structPage: string;
  /** Steps of the unbind, before the unpin. */
  unbindSteps: string[];
  /** Steps of the unpin. */
  unpinSteps: string[];
  /** page_free ran for P during the unbind's put loop. */
  pageFreeForP: boolean;
  /** P's section was gone once the unbind had run as far as it could (before the unpin). */
  removedBeforeUnpin: boolean;
  /** The hang report after the unbind ran as far as it could (null if it finished). */
  hangAfterUnbind: HangReport | null;
  /** Oopses of the unpin. */
  unpinOopses: OopsRecord[];
  /** The hang report after the unpin (null if nothing is blocked). */
  hangAfterUnpin: HangReport | null;
  /** The ref's release calls at the end. */
  released: number;
  /** The driver's wait returned (percpu_ref_exit ran after it). */
  waitReturned: boolean;
  /** P's section is gone at the end. */
  removedAtEnd: boolean;
  /** Hash of the whole trace (scenario 33). */
  traceHash: string;
  /** Simulated time at the end, ns. */
  simNs: number;
}

/**
 * Runs scenario 9 at one series point on a fresh "ram-4g" machine.
 *
 * @example
 * ```ts
 * import { pinnedTeardown } from "./s09-pinned-teardown.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(pinnedTeardown("v5.0").unpinOopses.length, 1);
 * assertEquals(pinnedTeardown("v5.2").unpinOopses.length, 0);
 * ```
 */
export function pinnedTeardown(
  series: SeriesPoint,
  opts: { seed?: number } = {},
): PinnedTeardown {
  const m = bootZoneDeviceMachine("ram-4g", { series, seed: opts.seed ?? 0 });
  const k = m.k;
  const dev = new TestDaxDevice(k, "pmem0", {
    start: DEVICE_BASE,
    size: SECTION,
    type: MEMORY_DEVICE_FS_DAX,
  });
  m.call(driver_probe_device, testDaxPmemDriver(), dev);
  const dax = dev.last!;
  const P = DEVICE_BASE / 4096 + 100;
  m.run(function gup(kk) {
    get_page(kk, P);
  });
  k.trace.on = true;
  m.spawn("unbind", function* unbind(kk) {
    yield* device_release_driver(kk, dev);
  });
  const r1 = m.runAll();
  const unbindSteps = teardownSteps(k.trace.events);
  const n1 = k.trace.events.length;
  const removedBeforeUnpin = !pfn_valid(k, P);
  m.spawn("unpin", function unpin(kk) {
    put_page(kk, P);
  });
  const r2 = m.runAll();
  k.trace.on = false;
  return {
    series: k.series.label,
    pfn: P,
    structPage: vmemmapAddress(k, P),
    unbindSteps,
    unpinSteps: teardownSteps(k.trace.events.slice(n1)),
    pageFreeForP: dax.pageFrees.includes(P),
    removedBeforeUnpin,
    hangAfterUnbind: r1.blocked,
    unpinOopses: r2.oopses,
    hangAfterUnpin: r2.blocked,
    released: dax.ref.releaseFired,
    waitReturned: dax.ref.pcpu === null,
    removedAtEnd: !pfn_valid(k, P),
    traceHash: traceHash(k.trace.events),
    simNs: k.clock.now,
  };
}
