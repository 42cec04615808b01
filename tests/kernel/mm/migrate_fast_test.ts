/**
 * Differential tests of migrate_vma's specialised paths
 * (FaultState.migrateFastPaths: the per-pte collect, the fused
 * prepare/unmap check and the one-lookup finalize in
 * lib/kernel/mm/migrate.ts): the same seeded workload runs on two identical
 * machines, one with the fast paths and one without, and everything
 * observable must come out identical — every present section's memmap words,
 * spilled counts and page records, the page tables and the contents of the
 * mapped pages, rss and fault counters, the driver's counters and device page
 * tables, dmesg, the injected faults, the trace (tracing on) and the
 * simulated clock.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import type { Kernel } from "../../../lib/kernel/kernel.ts";
import { bootMachine } from "../../../lib/machine.ts";
import { HUB } from "../../../lib/kernel/mm/hub.ts";
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { Process, SignalDelivered } from "../../../lib/kernel/mm/process.ts";
import { Prng } from "../../../lib/sim/prng.ts";
import { machineSnapshot } from "./_snapshot.ts";
import { dmirror_create, dmirror_migrate, dmirror_open } from "../../../lib/drivers/dmirror.ts";
import { nouveau_bind } from "../../../lib/drivers/gpu/drm.ts";
import { nouveau_svm_fault, nouveau_svmm_init } from "../../../lib/drivers/gpu/svm.ts";
import { FAULT_READ, FAULT_WRITE } from "../../../lib/hw/gpu/faults.ts";
import { gpuBenchMachine } from "../../../lib/bench/cases/gpu.ts";
import { mmu_notifier_register, MmuNotifier } from "../../../lib/kernel/mm/mmu-notifier.ts";
import {
  device_private_entry_to_page,
  is_device_private_entry,
  pte_present,
  pte_to_swp_entry,
  pteAt,
} from "../../../lib/kernel/mm/pgtable.ts";
import { get_page, put_page } from "../../../lib/kernel/mm/swap.ts";

/** Everything observable (see _snapshot.ts), with the driver's counters and device page tables. */
function snapshot(k: Kernel, procs: Process[], driver: unknown): unknown {
  return { ...machineSnapshot(k, procs), driver };
}

/**
 * The dmirror workload: a private buffer filled with stores, migrated to the
 * device in random ranges (64-page batches), CPU loads and stores faulting
 * pages back, a fork part way (pages mapped twice: the general prepare/unmap
 * must run), the child's stores and exit, and device and RAM allocation
 * failures injected during migrations and faults.
 */
function runDmirror(fast: boolean, tracing: boolean, seed: number): unknown {
  const m = bootMachine("small", { series: "v5.0", seed });
  const k = m.k;
  k.state(HUB).faults.migrateFastPaths = fast;
  k.trace.on = tracing;
  const md = m.call(dmirror_create, { size: 4096 * 4096 });
  if (typeof md === "number") throw new Error(`dmirror_create: ${md}`);
  const p = new Process(k, "diff");
  const d = dmirror_open(k, md, p.mm);
  if (typeof d === "number") throw new Error(`dmirror_open: ${d}`);
  const n = 1500;
  const base = p.mmap(0, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < n; i += 2) p.store32(base + i * 4096, i + 1); // odd pages stay empty
  const prng = new Prng(seed);
  const procs = [p];
  let child: Process | null = null;
  const migrated: number[] = [];
  for (let step = 0; step < 600; step++) {
    if (step === 200) {
      child = p.fork("child");
      procs.push(child);
    }
    if (step === 380 && child !== null) child.exit();
    if (step === 420) k.faults.arm("device_page_alloc", { nth: 4 });
    if (step === 460) k.faults.arm("alloc_page", { nth: 3 });
    if (step === 500) k.faults.disarmAll();
    const op = prng.next();
    const who = child !== null && !child.exited && prng.chance(0.3) ? child : p;
    const page = prng.int(n);
    try {
      if (op < 0.35) {
        const cnt = 1 + prng.int(Math.min(200, n - page));
        migrated.push(dmirror_migrate(k, d, base + page * 4096, cnt).cpages);
      } else if (op < 0.7) who.load32(base + page * 4096 + prng.int(1024) * 4);
      else who.store32(base + page * 4096 + prng.int(1024) * 4, prng.nextU32() | 0);
    } catch (e) {
      if (!(e instanceof SignalDelivered)) throw e;
      k.dmesg.printk("info", `workload: step ${step}: ${e.message}`);
      if (who === p) break;
    }
  }
  const driver = {
    calloc: md.calloc,
    cfree: md.cfree,
    cpuFaults: md.cpuFaults,
    cpuFaultsFailed: md.cpuFaultsFailed,
    migrated,
  };
  return snapshot(k, procs, driver);
}

/**
 * The GPU workload: far-fault batches of up to 256 faults (reads and
 * writes, duplicates) over a 2 MiB block of which some pages were never
 * touched and some are already in VRAM, CPU stores moving pages back, a
 * fork part way, and copy-engine and device-page failures injected.
 */
function runGpu(fast: boolean, tracing: boolean, seed: number): unknown {
  const m = bootMachine(gpuBenchMachine(4), { series: "v5.0", seed });
  const k = m.k;
  k.state(HUB).faults.migrateFastPaths = fast;
  k.trace.on = tracing;
  const drm = m.call(nouveau_bind, m.hw!, "gpu0");
  if (typeof drm === "number" || drm.dmem === null) throw new Error(`nouveau_bind: ${drm}`);
  const p = new Process(k, "diff");
  const svmm = nouveau_svmm_init(k, drm, p.mm);
  if (typeof svmm === "number") throw new Error(`nouveau_svmm_init: ${svmm}`);
  const block = 2 * 2 ** 20;
  const raw = p.mmap(0, 2 * block, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const base = Math.ceil(raw / block) * block;
  for (let i = 0; i < 512; i += 3) p.store32(base + i * 4096, i + 7);
  const prng = new Prng(seed);
  const procs = [p];
  let child: Process | null = null;
  const serviced: number[] = [];
  for (let batch = 0; batch < 40; batch++) {
    if (batch === 12) {
      child = p.fork("child");
      procs.push(child);
    }
    if (batch === 20 && child !== null) child.exit();
    if (batch === 26) k.faults.arm("gpu_copy", { nth: 5 });
    if (batch === 30) k.faults.arm("device_page_alloc", { nth: 17 });
    if (batch === 34) k.faults.disarmAll();
    try {
      for (let j = 0, cnt = prng.int(64); j < cnt; j++) {
        const who = child !== null && !child.exited && prng.chance(0.5) ? child : p;
        who.store32(base + prng.int(512) * 4096, prng.nextU32() | 0);
      }
    } catch (e) {
      if (!(e instanceof SignalDelivered)) throw e;
      k.dmesg.printk("info", `workload: batch ${batch}: ${e.message}`);
      if (p.exited) break;
    }
    const nf = 1 + prng.int(256);
    for (let j = 0; j < nf; j++) {
      drm.gpu.raiseFault(
        base + prng.int(512) * 4096 + prng.int(512) * 8,
        prng.chance(0.5) ? FAULT_WRITE : FAULT_READ,
      );
    }
    serviced.push(nouveau_svm_fault(k, drm));
  }
  const d = drm.dmem!;
  const vram: number[] = [];
  for (let i = 0; i < 512; i++) vram.push(drm.gpu.pageTable.raw(base + i * 4096));
  const driver = {
    allocated: d.allocated,
    freed: d.freed,
    faults: d.faults,
    cancelled: drm.svm!.cancelled,
    serviced,
    vram,
  };
  return snapshot(k, procs, driver);
}

/**
 * The one-page workload of the device's CPU fault (migrate_vma of one page
 * on the scratch struct migrate_vma): a buffer moved to the device, CPU
 * loads and stores faulting single pages back, single-page migrations to
 * the device, a fork part way (the device-private entries are then mapped
 * twice: the general prepare/unmap must run), the child's exit, and
 * allocation failures injected. With `notifier`, a second (non-HMM) mmu
 * notifier on the mm logs every invalidation and, on every fifth
 * invalidate_range_start, takes a reference on the device page under the
 * range (dropped on the next invalidate_range_end): the collected page is
 * then pinned (migrate_page's count check fails) and invalidate_range_end
 * is no longer only HMM's (prepareUnmapFast must check every page).
 */
function runOnePage(fast: boolean, notifier: boolean, seed: number): unknown {
  const m = bootMachine("small", { series: "v5.0", seed });
  const k = m.k;
  k.state(HUB).faults.migrateFastPaths = fast;
  const md = m.call(dmirror_create, { size: 1024 * 4096 });
  if (typeof md === "number") throw new Error(`dmirror_create: ${md}`);
  const p = new Process(k, "one");
  const d = dmirror_open(k, md, p.mm);
  if (typeof d === "number") throw new Error(`dmirror_open: ${d}`);
  const n = 300;
  const base = p.mmap(0, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < n; i++) p.store32(base + i * 4096, i * 7 + 1);
  const log: string[] = [];
  if (notifier) {
    let starts = 0;
    const held: number[] = [];
    const mn = new MmuNotifier({
      invalidate_range_start(kk, _mn, mm, start, end) {
        log.push(`start ${start.toString(16)}-${end.toString(16)}`);
        const pte = pteAt(mm.pgd, start);
        if (++starts % 5 === 0 && pte !== 0 && !pte_present(pte)) {
          const entry = pte_to_swp_entry(pte);
          if (is_device_private_entry(entry)) {
            const page = device_private_entry_to_page(entry);
            get_page(kk, page);
            held.push(page);
            log.push(`pinned ${page}`);
          }
        }
        return 0;
      },
      invalidate_range_end(kk, _mn, _mm, start, end) {
        log.push(`end ${start.toString(16)}-${end.toString(16)}`);
        const page = held.pop();
        if (page !== undefined) put_page(kk, page);
      },
    });
    mmu_notifier_register(k, mn, p.mm);
  }
  const prng = new Prng(seed);
  const procs = [p];
  let child: Process | null = null;
  const migrated: number[] = [];
  migrated.push(dmirror_migrate(k, d, base, n).cpages);
  for (let step = 0; step < 1500; step++) {
    if (step === 500) {
      child = p.fork("child");
      procs.push(child);
    }
    if (step === 800 && child !== null) child.exit();
    if (step === 1000) k.faults.arm("alloc_page", { nth: 3 });
    if (step === 1100) k.faults.disarmAll();
    const who = child !== null && !child.exited && prng.chance(0.3) ? child : p;
    const page = prng.int(n);
    const op = prng.next();
    try {
      if (op < 0.3) migrated.push(dmirror_migrate(k, d, base + page * 4096, 1).cpages);
      else if (op < 0.7) who.load32(base + page * 4096 + prng.int(1024) * 4);
      else who.store32(base + page * 4096 + prng.int(1024) * 4, prng.nextU32() | 0);
    } catch (e) {
      if (!(e instanceof SignalDelivered)) throw e;
      k.dmesg.printk("info", `workload: step ${step}: ${e.message}`);
      if (who === p) break;
    }
  }
  const driver = {
    calloc: md.calloc,
    cfree: md.cfree,
    cpuFaults: md.cpuFaults,
    cpuFaultsFailed: md.cpuFaultsFailed,
    migrated,
    log,
  };
  return snapshot(k, procs, driver);
}

Deno.test("migrate_vma fast paths: the one-page device-private fault ends identical with and without them — with fork, injected failures, and a second notifier that pins pages mid-collect", () => {
  for (const notifier of [false, true]) {
    for (const seed of [5, 20181120]) {
      const fast = runOnePage(true, notifier, seed) as {
        faults: { devicePrivate: number; devicePrivateFailed: number };
        injected: unknown[];
        driver: { log: string[]; migrated: number[] };
      };
      assertEquals(fast, runOnePage(false, notifier, seed));
      assert(
        fast.faults.devicePrivate > 300,
        `device-private faults: ${fast.faults.devicePrivate}`,
      );
      assert(fast.injected.length > 0);
      assert(fast.driver.migrated.filter((c) => c === 1).length > 200);
      if (notifier) assert(fast.driver.log.filter((l) => l.startsWith("pinned")).length > 20);
    }
  }
});

Deno.test("migrate_vma fast paths: a seeded dmirror workload (migrations, CPU faults back, fork, injected failures) ends identical with and without them", () => {
  for (const seed of [1, 20181120]) {
    const fast = runDmirror(true, false, seed) as {
      faults: { devicePrivate: number };
      driver: { migrated: number[] };
    };
    assertEquals(fast, runDmirror(false, false, seed));
    // the comparison has teeth: pages moved both ways
    assert(fast.faults.devicePrivate > 50, `device-private faults: ${fast.faults.devicePrivate}`);
    assert(fast.driver.migrated.reduce((a, b) => a + b, 0) > 1000);
  }
});

Deno.test("migrate_vma fast paths: the dmirror workload with tracing on — identical trace, dmesg and clock", () => {
  const fast = runDmirror(true, true, 7) as { trace: string[]; injected: unknown[] };
  assertEquals(fast, runDmirror(false, true, 7));
  assert(fast.trace.some((e) => e.includes('"kind":"migrate_vma"')));
  assert(fast.injected.length > 0);
});

Deno.test("migrate_vma fast paths: a seeded GPU far-fault workload (batches, CPU faults back, fork, injected copy and allocation failures) ends identical with and without them", () => {
  for (const seed of [3, 20181120]) {
    const fast = runGpu(true, false, seed) as {
      faults: { devicePrivate: number };
      injected: unknown[];
      driver: { serviced: number[] };
    };
    assertEquals(fast, runGpu(false, false, seed));
    assert(fast.faults.devicePrivate > 100, `device-private faults: ${fast.faults.devicePrivate}`);
    assert(fast.driver.serviced.reduce((a, b) => a + b, 0) > 1000);
    assert(fast.injected.length > 0);
  }
});
