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
 * `driver: "pmem" | "dax_pmem"` runs it on the real drivers (nvdimm-rig.ts)
 * with a real GUP pin: a process maps the namespace — a DAX file on the
 * fsdax block device, MADV_NOHUGEPAGE so that P is pte-mapped (pmem), or
 * /dev/dax0.0 at its 2 MiB align (dax_pmem) — stores to P, and
 * get_user_pages pins it (follow_page_pte or follow_devmap_pmd:
 * get_dev_pagemap with the cached pgmap, then get_page: P's count 2). The
 * unbind is the nd bus's; the unpin is put_page(P), as the GUP user does.
 * dax_pmem's pages are type 0, not devmap-managed: the put loop takes P
 * 2 → 1 without page_free; unregister_dev_dax zapped the mapping first.
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
import { nd_unbind_namespace } from "../drivers/nvdimm/bind.ts";
import { FSDAX_PAGEFREE, pmemOf } from "../drivers/nvdimm/pmem.ts";
import { dax_fs_create, dax_fs_open } from "../drivers/dax/fsdax.ts";
import { dax_get_unmapped_area, dax_open } from "../drivers/dax/device.ts";
import { FOLL_WRITE, get_user_pages } from "../kernel/mm/gup.ts";
import { userStore32 } from "../drivers/dax/uaccess.ts";
import { Process } from "../kernel/mm/process.ts";
import { page_ref_count } from "../kernel/mm/memmap.ts";
import {
  MADV_NOHUGEPAGE,
  MAP_FIXED,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../kernel/mm/mm-types.ts";
import { bootRig, createRigNamespace, type RealDriver, rigPgmap } from "./nvdimm-rig.ts";

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
  /** Real drivers: what get_user_pages returned, P's count after it, and the pgmap ref's count before and after it. */
  gup?: { ret: number; count: number; refBefore: number; refAfter: number };
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
  opts: { seed?: number; driver?: "test" | RealDriver } = {},
): PinnedTeardown {
  if (opts.driver !== undefined && opts.driver !== "test") {
    return pinnedTeardownReal(series, opts.driver, opts);
  }
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

/** Scenario 9 on a real driver with a real GUP pin (see the module doc). */
function pinnedTeardownReal(
  series: SeriesPoint,
  driver: RealDriver,
  opts: { seed?: number },
): PinnedTeardown {
  const m = bootRig(series, opts.seed ?? 0);
  const k = m.k;
  const rig = createRigNamespace(m, driver);
  const ns = rig.ns!, dev = rig.dev!;
  const { ref } = rigPgmap(m, driver, dev)!;
  const p = new Process(k, "app");
  let addr: number;
  if (driver === "pmem") {
    const ino = dax_fs_create(k, pmemOf(k, dev)!, "file", 0, 2 ** 21);
    const f = dax_fs_open(k, ino);
    addr = p.mmap(0, 2 ** 21, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    p.madvise(addr, 2 ** 21, MADV_NOHUGEPAGE);
  } else {
    const f = dax_open(k, `/dev/${m.hw!.ndctl!.info(ns).chardev}`, true)!;
    const len = 2 ** 21;
    addr = p.mmap(
      dax_get_unmapped_area(k, p.mm, f, 0, len, 0, 0),
      len,
      PROT_READ | PROT_WRITE,
      MAP_SHARED | MAP_FIXED,
      f,
      0,
    );
  }
  const at = addr + 100 * 4096;
  userStore32(k, p, at, 0x5a5a);
  const refBefore = ref.value;
  const pages: number[] = [];
  let gupRet = 0;
  m.run(function gup(kk) {
    gupRet = get_user_pages(kk, p.mm, at, 1, FOLL_WRITE, pages);
  });
  const P = pages[0]!;
  const gup = { ret: gupRet, count: page_ref_count(k, P), refBefore, refAfter: ref.value };
  k.trace.on = true;
  m.spawn("unbind", function* unbind(kk) {
    yield* nd_unbind_namespace(kk, ns);
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
    pageFreeForP: k.state(FSDAX_PAGEFREE).includes(P),
    removedBeforeUnpin,
    hangAfterUnbind: r1.blocked,
    unpinOopses: r2.oopses,
    hangAfterUnpin: r2.blocked,
    released: ref.releaseFired,
    waitReturned: ref.pcpu === null,
    removedAtEnd: !pfn_valid(k, P),
    traceHash: traceHash(k.trace.events),
    simNs: k.clock.now,
    gup,
  };
}
