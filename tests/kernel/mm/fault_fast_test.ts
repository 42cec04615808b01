/**
 * Differential tests of the fault path's specialised fast paths
 * (FaultState.fastPaths): the same seeded workload runs on two identical
 * kernels, one with the fast paths and one without, and everything the
 * kernel can observe must come out identical — page tables, every present
 * section's memmap words and page-ext columns, rss counters, fault counters,
 * page contents, the allocator, dmesg, the trace (tracing on) and the
 * simulated clock.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { Kernel } from "../../../lib/kernel/kernel.ts";
import { mm_init } from "../../../lib/kernel/mm/mmzone.ts";
import { HUB } from "../../../lib/kernel/mm/hub.ts";
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { pte_index, pte_pfn } from "../../../lib/kernel/mm/pgtable.ts";
import { anonWriteFaultFused } from "../../../lib/kernel/mm/memory.ts";
import { Process, SignalDelivered } from "../../../lib/kernel/mm/process.ts";
import { Prng } from "../../../lib/sim/prng.ts";
import { machineSnapshot } from "./_snapshot.ts";

/** A region of the workload: where, how many pages, whether stores are allowed. */
interface Region {
  base: number;
  npages: number;
  writable: boolean;
}

/** Everything observable (see _snapshot.ts). */
function snapshot(k: Kernel, procs: Process[]): unknown {
  return machineSnapshot(k, procs);
}

/**
 * The seeded workload: anonymous private, read-only, shared and THP
 * regions; stores, loads, MADV_DONTNEED, a fork and the child's exit, and
 * allocation failures injected (one with a caller filter) part way.
 */
function run(fast: boolean, tracing: boolean, seed: number): unknown {
  const k = new Kernel({ series: "v5.0", seed });
  mm_init(k, { ram: [{ start: 0, end: 2 ** 30 }, { start: 4 * 2 ** 30, end: 5 * 2 ** 30 }] });
  k.state(HUB).faults.fastPaths = fast;
  k.trace.on = tracing;
  const p = new Process(k, "diff");
  const procs = [p];
  const rw = PROT_READ | PROT_WRITE;
  const map = (proc: Process, n: number, prot: number, flags: number): Region => {
    const base = proc.mmap(0, n * 4096, prot, flags);
    assert(base > 0, `mmap: ${base}`);
    return { base, npages: n, writable: (prot & PROT_WRITE) !== 0 };
  };
  const regions = [
    map(p, 700, rw, MAP_PRIVATE | MAP_ANONYMOUS), // crosses 2 MiB boundaries
    map(p, 64, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS),
    map(p, 96, rw, MAP_SHARED | MAP_ANONYMOUS),
    map(p, 1024, rw, MAP_PRIVATE | MAP_ANONYMOUS),
  ];
  assertEquals(p.madvise(regions[3]!.base, 1024 * 4096, MADV_HUGEPAGE), 0);
  const prng = new Prng(seed);
  let child: Process | null = null;
  for (let step = 0; step < 4000; step++) {
    if (step === 1200) {
      child = p.fork("child");
      procs.push(child);
    }
    if (step === 2600 && child !== null) child.exit();
    if (step === 1800) k.faults.arm("alloc_page", { nth: 3 });
    if (step === 2200) k.faults.arm("alloc_page", { nth: 2, caller: "do_anonymous_page" });
    if (step === 2400) k.faults.disarmAll();
    const who = child !== null && !child.exited && prng.chance(0.3) ? child : p;
    const r = regions[prng.int(regions.length)]!;
    const addr = r.base + prng.int(r.npages) * 4096 + prng.int(1024) * 4;
    const op = prng.next();
    try {
      const injecting = step >= 1800 && step < 2400; // an OOM is returned by touch, not a kill
      if (op < 0.6) {
        if (r.writable && !injecting) who.store32(addr, prng.nextU32() | 0);
        else who.touch(addr, true); // SIGSEGV / SIGKILL, returned
      } else if (op < 0.75) who.load32(addr);
      else if (op < 0.85) who.touch(addr, prng.chance(0.5));
      else if (op < 0.88) {
        const n = 1 + prng.int(64);
        const first = prng.int(r.npages);
        who.madvise(r.base + first * 4096, Math.min(n, r.npages - first) * 4096, MADV_DONTNEED);
      } else who.touch(addr, true);
    } catch (e) {
      // an injected allocation failure is an OOM kill; both sides must take it at the same step
      if (!(e instanceof SignalDelivered)) throw e;
      k.dmesg.printk("info", `workload: step ${step}: ${e.message}`);
      if (who === p) break;
    }
  }
  return snapshot(k, procs);
}

Deno.test("fault fast paths: a seeded anonymous workload ends identical with and without them (tracing off)", () => {
  for (const seed of [1, 20181120]) {
    assertEquals(run(true, false, seed), run(false, false, seed));
  }
});

Deno.test("fault fast paths: the same with tracing on — identical trace events, dmesg and clock", () => {
  const fast = run(true, true, 7) as {
    trace: string[];
    faults: { anon: number };
    injected: unknown[];
  };
  const slow = run(false, true, 7);
  assertEquals(fast, slow);
  // the comparison has teeth: the workload took anonymous write faults, traced them, and had
  // allocations fail under it (with and without a caller filter)
  assert(fast.faults.anon > 300, `anon faults: ${fast.faults.anon}`);
  assert(fast.trace.some((e) => e.includes('"op":"anon"')));
  assertEquals(fast.injected.length, 2);
});

Deno.test("fault fast paths: the fused user-store fault (anonWriteFaultFused) maps a store's page as the general path would, and declines what it does not cover", () => {
  const k = new Kernel({ series: "v5.0", seed: 5 });
  mm_init(k, { ram: [{ start: 0, end: 2 ** 30 }] });
  const p = new Process(k, "fused");
  const rw = PROT_READ | PROT_WRITE;
  const anon = p.mmap(0, 2 * 4096, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  const shared = p.mmap(0, 2 * 4096, rw, MAP_SHARED | MAP_ANONYMOUS);
  p.store32(anon, 1); // the general path: anon_vma_prepare, the pte page, the vmacache
  const t = p.mm.pgd.lookup(anon + 4096)!;
  const i = pte_index(anon + 4096);
  const f = k.state(HUB).faults;
  const before = [f.pgfault, f.anon];
  const page = anonWriteFaultFused(k, p.mm, anon + 4096 + 8, t.ptes!, i);
  assert(page >= 0, `fused fault: ${page}`);
  assertEquals([f.pgfault, f.anon], [before[0]! + 1, before[1]! + 1]);
  assertEquals(pte_pfn(t.ptes![i]!), page);
  assertEquals(p.pfnAt(anon + 4096), page);
  // a shared VMA, a VMA the vmacache does not hold, fast paths off: nothing done
  p.store32(shared, 1);
  const ts = p.mm.pgd.lookup(shared + 4096)!;
  assertEquals(anonWriteFaultFused(k, p.mm, shared + 4096, ts.ptes!, pte_index(shared + 4096)), -1);
  const j = pte_index(anon);
  p.madvise(anon, 4096, MADV_DONTNEED);
  p.mm.vmacache = null;
  assertEquals(anonWriteFaultFused(k, p.mm, anon, t.ptes!, j), -1);
  p.store32(anon, 2);
  p.madvise(anon, 4096, MADV_DONTNEED);
  f.fastPaths = false;
  assertEquals(anonWriteFaultFused(k, p.mm, anon, t.ptes!, j), -1);
  assertEquals([f.pgfault, f.anon], [before[0]! + 3, before[1]! + 2]);
});
