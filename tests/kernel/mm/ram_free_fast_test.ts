/**
 * Differential test of the page allocator's free with the section in hand
 * (lib/kernel/mm/ram-alloc.ts freeRamPageIn, which swap.ts's __put_page
 * calls when MmState.freeRamPage is the allocator's own freeRamPage): the
 * same seeded workload runs on two identical machines, one as is and one
 * whose MmState.freeRamPage is a wrapper around the allocator's (so
 * __put_page takes the general freeRamPage: pageFlags2, compound_order and
 * free_pages_ok, each with its own lookup). Everything observable must come
 * out identical — every present section's memmap words and page records,
 * the page tables and the contents of the mapped pages, the allocator's
 * counters, the fault counters, the driver's counters, dmesg, the injected
 * faults, the trace (tracing on) and the simulated clock. The workload frees
 * small pages, THPs and hugetlb pages, and dmirror's backing pages.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { bootMachine } from "../../../lib/machine.ts";
import { HUB } from "../../../lib/kernel/mm/hub.ts";
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { Process, SignalDelivered } from "../../../lib/kernel/mm/process.ts";
import { compound_order, pageFlags2 } from "../../../lib/kernel/mm/page-ext.ts";
import { ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";
import { HUGE, set_nr_hugepages } from "../../../lib/kernel/mm/huge-memory.ts";
import { dmirror_create, dmirror_migrate, dmirror_open } from "../../../lib/drivers/dmirror.ts";
import { Prng } from "../../../lib/sim/prng.ts";
import { machineSnapshot } from "./_snapshot.ts";

/** What the general run's wrapper saw (the comparison's teeth). */
interface Frees {
  small: number;
  compound: number;
  hugetlb: number;
  /** hugetlb COW copies and owner takebacks (HugeState.stats; counted on both runs). */
  hugetlbCopy: number;
  hugetlbUnmapRef: number;
}

/**
 * The workload: private anonymous, THP and hugetlb regions and a dmirror
 * device; stores, loads, MADV_DONTNEED, munmap of hugetlb pages, migrations
 * to the device and CPU faults back, a fork (then hugetlb COW copies, or —
 * the pool spoken for — the child's SIGBUS and the parent's takeback) and
 * the child's exit, and allocation failures injected part way. `general`: __put_page frees through
 * a wrapper (the general path); the wrapper counts what it freed in `seen`.
 */
function run(general: boolean, tracing: boolean, seed: number, seen: Frees): unknown {
  const m = bootMachine("small", { series: "v5.0", seed });
  const k = m.k;
  k.trace.on = tracing;
  ramStats(k); // the allocator installs MmState.freeRamPage on first use
  const mm = k.state(HUB).mm;
  const own = mm.freeRamPage!;
  if (general) {
    mm.freeRamPage = (kk, page) => {
      if ((pageFlags2(kk, page) & 128) !== 0) seen.hugetlb++;
      else if (compound_order(kk, page) > 0) seen.compound++;
      else seen.small++;
      own(kk, page);
    };
  }
  assertEquals(set_nr_hugepages(k, 2), 2);
  const md = m.call(dmirror_create, { size: 2048 * 4096 });
  if (typeof md === "number") throw new Error(`dmirror_create: ${md}`);
  const p = new Process(k, "diff");
  const d = dmirror_open(k, md, p.mm);
  if (typeof d === "number") throw new Error(`dmirror_open: ${d}`);
  const rw = PROT_READ | PROT_WRITE;
  const two = 2 * 2 ** 20;
  const small = p.mmap(0, 800 * 4096, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  const thpRaw = p.mmap(0, 3 * two, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  const thp = Math.ceil(thpRaw / two) * two;
  assertEquals(p.madvise(thp, two, MADV_HUGEPAGE), 0);
  let huge = p.mmap(0, two, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
  assert(huge > 0, `hugetlb mmap: ${huge}`);
  // on even seeds a second mapping holds the pool's other page as a reservation, so a COW after
  // the fork finds no page outside the reservations: the child's write is SIGBUS and the
  // parent's takes its page back from the child (unmap_ref_private); on odd seeds it copies
  if (seed % 2 === 0) {
    assert(p.mmap(0, two, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB) > 0);
  }
  const prng = new Prng(seed);
  const procs = [p];
  let child: Process | null = null;
  let childHuge = 0;
  const moved: number[] = [];
  for (let step = 0; step < 1500; step++) {
    if (step === 400) {
      // the hugetlb mapping crosses the fork: hugetlb COW copies, reuse, and — the pool is two
      // pages — the child's SIGBUS and the owner taking its page back (unmap_ref_private)
      if (huge > 0) p.store32(huge, step); // the page is there to share
      child = p.fork("child");
      childHuge = huge;
      procs.push(child);
    }
    if (step === 900 && child !== null) child.exit();
    if (step === 1000) k.faults.arm("alloc_page", { nth: 5 });
    if (step === 1100) k.faults.disarmAll();
    const who = child !== null && !child.exited && prng.chance(0.3) ? child : p;
    const op = prng.next();
    const pg = prng.int(800);
    try {
      if (op < 0.3) who.store32(small + pg * 4096 + prng.int(1024) * 4, prng.nextU32() | 0);
      else if (op < 0.45) who.load32(small + pg * 4096);
      else if (op < 0.55) {
        who.store32(thp + prng.int(512) * 4096, prng.nextU32() | 0);
      } else if (op < 0.6) {
        const a = prng.chance(0.5) ? thp : small;
        const n = 1 + prng.int(600);
        who.madvise(a, Math.min(n, a === thp ? 512 : 800) * 4096, MADV_DONTNEED);
      } else if (op < 0.63) {
        const h = who === p ? huge : childHuge; // the child keeps the mapping it inherited
        if (h > 0) {
          if (prng.chance(0.2)) who.load32(h + prng.int(512) * 4096);
          else who.store32(h + prng.int(512) * 4096, step);
          if (who === p && prng.chance(0.3)) {
            p.munmap(huge, two); // the hugetlb page goes back to its pool (unless the child maps it)
            huge = p.mmap(0, two, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
          }
        }
      } else if (op < 0.8) {
        const n = 1 + prng.int(Math.min(100, 800 - pg));
        moved.push(dmirror_migrate(k, d, small + pg * 4096, n).cpages);
      } else who.store32(small + pg * 4096, step); // faults a device page back, or a store
    } catch (e) {
      if (!(e instanceof SignalDelivered)) throw e;
      k.dmesg.printk("info", `workload: step ${step}: ${e.message}`);
      if (who === p) break;
    }
  }
  p.exit();
  const hs = k.state(HUGE).stats;
  seen.hugetlbCopy += hs.hugetlbCopy;
  seen.hugetlbUnmapRef += hs.hugetlbUnmapRef;
  const driver = { calloc: md.calloc, cfree: md.cfree, cpuFaults: md.cpuFaults, moved };
  return { ...machineSnapshot(k, procs), ram: ramStats(k), driver };
}

/**
 * The path of the first difference between two snapshots, or null (a
 * failing assertEquals would diff arrays of a quarter million entries).
 */
function firstDifference(a: unknown, b: unknown, path = "$"): string | null {
  if (Object.is(a, b)) return null;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  }
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return `${path}: ${ka.length} vs ${kb.length} entries`;
  for (const key of ka) {
    const d = firstDifference(
      (a as Record<string, unknown>)[key],
      (b as Record<string, unknown>)[key],
      `${path}.${key}`,
    );
    if (d !== null) return d;
  }
  return null;
}

/** Asserts that two snapshots are identical, naming the first difference. */
function assertSame(a: unknown, b: unknown): void {
  const d = firstDifference(a, b);
  assert(d === null, `the runs differ at ${d}`);
}

Deno.test("RAM page free with the section in hand: a seeded workload (small, THP, hugetlb and dmirror backing pages) ends identical to the general free", () => {
  let hugetlbCopy = 0, hugetlbUnmapRef = 0;
  for (const seed of [5, 20181120]) {
    const seen: Frees = { small: 0, compound: 0, hugetlb: 0, hugetlbCopy: 0, hugetlbUnmapRef: 0 };
    const fast = run(false, false, seed, {
      small: 0,
      compound: 0,
      hugetlb: 0,
      hugetlbCopy: 0,
      hugetlbUnmapRef: 0,
    });
    assertSame(fast, run(true, false, seed, seen));
    // the comparison has teeth: every kind of free went through the general path
    assert(seen.small > 500, `small frees: ${seen.small}`);
    assert(seen.compound > 0, `THP frees: ${seen.compound}`);
    assert(seen.hugetlb > 0, `hugetlb frees: ${seen.hugetlb}`);
    hugetlbCopy += seen.hugetlbCopy;
    hugetlbUnmapRef += seen.hugetlbUnmapRef;
  }
  // the workload covers hugetlb COW across the fork (both outcomes over the two seeds)
  assert(hugetlbCopy > 0, `hugetlb COW copies: ${hugetlbCopy}`);
  assert(hugetlbUnmapRef > 0, `hugetlb takebacks: ${hugetlbUnmapRef}`);
});

Deno.test("RAM page free with the section in hand: the same with tracing on — identical trace, dmesg and clock", () => {
  const seen: Frees = { small: 0, compound: 0, hugetlb: 0, hugetlbCopy: 0, hugetlbUnmapRef: 0 };
  const fast = run(false, true, 9, {
    small: 0,
    compound: 0,
    hugetlb: 0,
    hugetlbCopy: 0,
    hugetlbUnmapRef: 0,
  }) as {
    trace: string[];
    injected: unknown[];
  };
  assertSame(fast, run(true, true, 9, seen));
  assert(fast.trace.some((e) => e.includes('"op":"free"')));
  assert(seen.small > 100, `small frees: ${seen.small}`);
});
