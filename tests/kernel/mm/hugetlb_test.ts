/**
 * hugetlb across fork (mm/hugetlb.c, kernel/fork.c, mm/memory.c, v4.20):
 * copy_hugetlb_page_range (a private mapping's entries write-protected in
 * both, a shared one's copied as they are), reset_vma_resv_huge_pages (a
 * child holds no reservation and gives none back), hugetlb_cow (reuse when
 * mapped once, a copy from the pool outside the reservations, and — pool
 * empty — the owner's unmap_ref_private that leaves the child SIGBUS with
 * "killed due to inadequate hugepage pool").
 *
 * @module
 */
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { proc, words } from "./_proc.ts";
import {
  FAULT_FLAG_WRITE,
  find_vma,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MM_ANONPAGES,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { HUGE, hugetlb_fault, set_nr_hugepages } from "../../../lib/kernel/mm/huge-memory.ts";
import { compoundMapcount } from "../../../lib/kernel/mm/page-ext.ts";
import { page_count } from "../../../lib/kernel/mm/memmap.ts";
import { ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";
import { pte_pfn, pte_write } from "../../../lib/kernel/mm/pgtable.ts";
import { Process, SIGBUS } from "../../../lib/kernel/mm/process.ts";
import type { Kernel } from "../../../lib/kernel/kernel.ts";
import { bootMachine } from "../../../lib/machine.ts";
import { InvariantChecker } from "../../../lib/check/invariants.ts";

const TWOMEG = 2 ** 21;
const RW = PROT_READ | PROT_WRITE;

/** A kernel with a pool of `n` hugetlb pages and a process; `allocated` is RAM in use with the pool. */
function pool(n: number): { k: Kernel; p: Process; allocated: number } {
  const { k, p } = proc();
  assertEquals(set_nr_hugepages(k, n), n);
  return { k, p, allocated: ramStats(k).allocated };
}

/** A private MAP_HUGETLB mapping of `n` huge pages. */
function hugePrivate(p: Process, n: number): number {
  const a = p.mmap(0, n * TWOMEG, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
  assert(a > 0, `mmap: ${a}`);
  return a;
}

/** The huge entry mapping `addr` in `p` (0 if none). */
function entry(p: Process, addr: number): number {
  return p.mm.pgd.lookup(addr)?.huge ?? 0;
}

/** hugetlb page mapcount (page_mapcount of a PageHuge head: the compound mapcount). */
function mapcount(k: Kernel, page: number): number {
  return compoundMapcount(k, page) + 1;
}

/** The pool is whole again: every page free with a count of 0 and no mapping, no reservation left. */
function assertPoolWhole(k: Kernel, allocated: number): void {
  const st = k.state(HUGE);
  assertEquals(st.hugetlbFree.length, st.nrHugepages, "every pool page is free");
  assertEquals(st.resvHugepages, 0, "no reservation left");
  for (const page of st.hugetlbFree) {
    assertEquals(page_count(k, page), 0, `pool page ${page} has no reference`);
    assertEquals(mapcount(k, page), 0, `pool page ${page} is mapped nowhere`);
  }
  assertEquals(ramStats(k).allocated, allocated, "no RAM leaked outside the pool");
}

Deno.test("hugetlb fork: the child's write copies the page (hugetlb_cow), the parent keeps its bytes", () => {
  const { k, p, allocated } = pool(2);
  const a = hugePrivate(p, 1);
  p.writeWords(a, words(1024, 7));
  const old = pte_pfn(entry(p, a));
  const c = p.fork("child");
  assert(!pte_write(entry(p, a)) && !pte_write(entry(c, a)), "both write-protected");
  assertEquals(pte_pfn(entry(c, a)), old, "the child maps the parent's page");
  assertEquals(mapcount(k, old), 2);
  assertEquals(page_count(k, old), 2);
  assertEquals(c.mm.rss[MM_ANONPAGES], 0, "hugetlb pages are not MM_ANONPAGES");
  c.store32(a, -1); // faulted forever before (hugetlb_fault returned 0 for a mapped page)
  const copy = pte_pfn(entry(c, a));
  assertNotEquals(copy, old, "the child got a new page");
  assert(pte_write(entry(c, a)));
  assertEquals([c.load32(a), c.load32(a + 4), p.load32(a), p.load32(a + 4)], [-1, 8, 7, 8]);
  assertEquals([mapcount(k, old), page_count(k, old)], [1, 1]);
  assertEquals([mapcount(k, copy), page_count(k, copy)], [1, 1]);
  assertEquals(k.state(HUGE).hugetlbFree.length, 0, "the copy came from the pool");
  assertEquals(k.state(HUGE).resvHugepages, 0, "outside the reservations");
  c.exit();
  p.exit();
  assertPoolWhole(k, allocated);
});

Deno.test("hugetlb fork: after the child exits the parent's write reuses its page (no allocation)", () => {
  const { k, p, allocated } = pool(2);
  const a = hugePrivate(p, 1);
  p.store32(a, 5);
  const old = pte_pfn(entry(p, a));
  const c = p.fork("child");
  c.exit();
  assertEquals(k.state(HUGE).hugetlbFree.length, 1);
  p.store32(a + 4, 6);
  assertEquals(pte_pfn(entry(p, a)), old, "reused");
  assert(pte_write(entry(p, a)));
  assertEquals(k.state(HUGE).hugetlbFree.length, 1, "no allocation");
  assertEquals([p.load32(a), p.load32(a + 4)], [5, 6]);
  p.exit();
  assertPoolWhole(k, allocated);
});

Deno.test("hugetlb fork: a child gives back no reservation (reset_vma_resv_huge_pages)", () => {
  const { k, p, allocated } = pool(4);
  const a = hugePrivate(p, 3);
  p.store32(a, 1); // one reservation consumed, two outstanding
  assertEquals(k.state(HUGE).resvHugepages, 2);
  const c = p.fork("child");
  c.store32(a + TWOMEG, 2); // a page the parent never touched: the child allocates outside them
  assertEquals(k.state(HUGE).hugetlbFree.length, 2);
  assertEquals(c.touch(a + 2 * TWOMEG, true), SIGBUS, "the other free pages are reserved");
  assertEquals(k.state(HUGE).resvHugepages, 2, "the child's fault consumes none");
  c.exit();
  assertEquals(
    k.state(HUGE).resvHugepages,
    2,
    "the parent's reservations survive the child's exit",
  );
  p.store32(a + TWOMEG, 3);
  p.store32(a + 2 * TWOMEG, 4);
  assertEquals(k.state(HUGE).resvHugepages, 0);
  assertEquals(p.load32(a + TWOMEG), 3);
  p.exit();
  assertPoolWhole(k, allocated);
});

Deno.test("hugetlb fork, pool exhausted: the child's write is SIGBUS; the owner's write unmaps the child's page and reuses it", () => {
  const { k, p, allocated } = pool(1);
  const a = hugePrivate(p, 1);
  p.store32(a, 42);
  const page = pte_pfn(entry(p, a));
  const c = p.fork("child");
  assertEquals(c.touch(a, true), SIGBUS, "no page for the child's copy: -ENOSPC → VM_FAULT_SIGBUS");
  assertEquals(c.load32(a), 42, "the child still maps the shared page");
  p.store32(a + 4, 43); // owner: unmap_ref_private, then reuse
  assertEquals(entry(c, a), 0, "the page was unmapped from the child");
  assertEquals(pte_pfn(entry(p, a)), page, "the parent reused its page");
  assert(pte_write(entry(p, a)));
  assertEquals([mapcount(k, page), page_count(k, page)], [1, 1]);
  assertEquals(k.dmesg.grep("inadequate hugepage pool").length, 0);
  assertEquals(c.touch(a, false), SIGBUS, "HPAGE_RESV_UNMAPPED: the child's later touch fails");
  assertEquals(
    k.dmesg.grep(`PID ${c.pid} killed due to inadequate hugepage pool`).length,
    1,
  );
  assertEquals([p.load32(a), p.load32(a + 4)], [42, 43]);
  c.exit();
  p.exit();
  assertPoolWhole(k, allocated);
});

Deno.test("hugetlb fork: a shared hugetlb mapping stays writable in both, without a copy", () => {
  const { k, p, allocated } = pool(2);
  const a = p.mmap(0, TWOMEG, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB);
  assert(a > 0);
  p.store32(a, 1);
  const page = pte_pfn(entry(p, a));
  const c = p.fork("child");
  assert(pte_write(entry(p, a)) && pte_write(entry(c, a)), "shared: copied as is");
  c.store32(a, 2);
  p.store32(a + 4, 3);
  assertEquals(pte_pfn(entry(c, a)), page, "no copy");
  assertEquals([p.load32(a), c.load32(a + 4)], [2, 3]);
  assertEquals([mapcount(k, page), page_count(k, page)], [2, 2]);
  assertEquals(k.state(HUGE).hugetlbFree.length, 1);
  c.exit();
  assertEquals(k.state(HUGE).resvHugepages, 0);
  p.exit();
  assertPoolWhole(k, allocated);
});

Deno.test("hugetlb: munmap of part of a private mapping gives back only that part's unconsumed reservations", () => {
  const { k, p, allocated } = pool(4);
  const a = hugePrivate(p, 4);
  p.store32(a, 1);
  p.store32(a + 3 * TWOMEG, 1);
  assertEquals(k.state(HUGE).resvHugepages, 2);
  const c = p.fork("child");
  assertEquals(p.munmap(a + TWOMEG, TWOMEG), 0);
  assertEquals(k.state(HUGE).resvHugepages, 1);
  assertEquals(c.munmap(a + 2 * TWOMEG, 2 * TWOMEG), 0);
  assertEquals(k.state(HUGE).resvHugepages, 1, "the child's munmap gives nothing back");
  c.exit();
  p.exit();
  assertPoolWhole(k, allocated);
});

Deno.test("hugetlb: a freed page goes back to the pool every time (free_huge_page keeps it a hugetlb page)", () => {
  const { k, p, allocated } = pool(1);
  for (let round = 0; round < 3; round++) {
    const a = hugePrivate(p, 1); // before the fix the second page freed went to the buddy allocator
    p.store32(a, round);
    assertEquals(k.state(HUGE).hugetlbFree.length, 0);
    assertEquals(p.munmap(a, TWOMEG), 0);
    assertEquals(k.state(HUGE).hugetlbFree.length, 1, `round ${round}: back in the pool`);
  }
  p.exit();
  assertPoolWhole(k, allocated);
});

Deno.test("hugetlb: a private read fault maps the page read-only; the write then reuses it", () => {
  const { k, p, allocated } = pool(1);
  const a = hugePrivate(p, 1);
  assertEquals(p.load32(a + 8), 0);
  const page = pte_pfn(entry(p, a));
  assert(!pte_write(entry(p, a)), "make_huge_pte: writable only for a shared writable VMA");
  p.store32(a + 8, 9);
  assertEquals(pte_pfn(entry(p, a)), page, "hugetlb_cow reused it (mapped once, anonymous)");
  assert(pte_write(entry(p, a)));
  assertEquals(p.load32(a + 8), 9);
  p.exit();
  assertPoolWhole(k, allocated);
});

Deno.test("hugetlb: HPAGE_RESV_UNMAPPED is per VMA — a split child keeps its other half", () => {
  const { k, p, allocated } = pool(2);
  const a = hugePrivate(p, 2);
  p.store32(a, 1);
  p.store32(a + TWOMEG, 2);
  const c = p.fork("child");
  assertEquals(c.mprotect(a + TWOMEG, TWOMEG, PROT_READ), 0); // the child's VMA splits in two
  p.store32(a, 3); // pool empty: the owner takes the page back from the child's first half
  assertEquals(entry(c, a), 0);
  assertEquals(c.touch(a, false), SIGBUS);
  assertEquals(c.load32(a + TWOMEG), 2, "the other half still maps the parent's page");
  c.exit();
  p.exit();
  assertPoolWhole(k, allocated);
});

Deno.test("hugetlb fork: the invariant checker's page holders (ptes = references) hold through copy, takeback and exit", () => {
  const m = bootMachine("small", { series: "v5.0", seed: 1 });
  const k = m.k;
  const chk = new InvariantChecker(m);
  // every invariant, including RAM in use + the pool's free pages = the allocator's count
  const check = (when: string) => {
    const v = chk.check().violations.map((x) => `${x.invariant}: ${x.message}`);
    assertEquals(v, [], when);
  };
  assertEquals(set_nr_hugepages(k, 2), 2);
  const p = new Process(k, "parent");
  chk.processes.add(p.mm);
  const a = hugePrivate(p, 1);
  const b = hugePrivate(p, 1); // a reservation on the pool's other page
  p.store32(a, 1);
  const c = p.fork("child");
  chk.processes.add(c.mm);
  check("after fork");
  assertEquals(c.touch(a, true), SIGBUS);
  check("after the child's SIGBUS");
  p.store32(a, 2); // takes the page back from the child
  check("after the takeback");
  assertEquals(c.touch(a, true), SIGBUS);
  p.store32(b, 3); // the reservation is there
  const d = p.fork("second child");
  chk.processes.add(d.mm);
  p.munmap(b, TWOMEG); // the page stays with the second child
  d.store32(b, 4); // mapped once now: reuse
  assertEquals(d.load32(b), 4);
  check("after the second child's reuse");
  for (const x of [c, d, p]) {
    x.exit();
    chk.processes.delete(x.mm);
  }
  check("after every exit");
  assertEquals(k.state(HUGE).hugetlbFree.length, 2);
  assertEquals(k.state(HUGE).resvHugepages, 0);
});

Deno.test("hugetlb: 'killed due to inadequate hugepage pool' is ratelimited (10 lines per 5 s of simulated time)", () => {
  const { k, p } = pool(1);
  const a = hugePrivate(p, 1);
  p.store32(a, 1);
  const c = p.fork("child");
  p.store32(a, 2); // pool empty: the child's page is taken back
  for (let i = 0; i < 12; i++) assertEquals(c.touch(a, i % 2 === 0), SIGBUS);
  const lines = () => k.dmesg.grep("killed due to inadequate hugepage pool").length;
  assertEquals(lines(), 10);
  k.clock.advance(5e9);
  assertEquals(c.touch(a, false), SIGBUS);
  assertEquals(lines(), 11);
});

Deno.test("hugetlb pool: shrinking below the pages in use makes them surplus — the count reads the new size, and they go back to the buddy when freed", () => {
  // set_max_huge_pages: free pages not held for reservations go first, then pages in use
  // become surplus (persistent_huge_pages = nr - surplus = the count asked for), and
  // free_huge_page gives a surplus page to the buddy allocator instead of the pool
  const { k, p } = proc();
  const before = ramStats(k).allocated;
  assertEquals(set_nr_hugepages(k, 3), 3);
  const a = hugePrivate(p, 1);
  p.store32(a, 1); // in use
  const b = hugePrivate(p, 1); // reserved, not faulted
  assertEquals(set_nr_hugepages(k, 0), 0, "the persistent pool is 0");
  const st = k.state(HUGE);
  // one page in use, one held free for b's reservation; the third went to the buddy
  assertEquals([st.nrHugepages, st.hugetlbFree.length, st.resvHugepages], [2, 1, 1]);
  p.store32(b, 2); // the reservation still backs the fault
  p.munmap(a, TWOMEG);
  p.munmap(b, TWOMEG);
  assertEquals([st.nrHugepages, st.hugetlbFree.length, st.resvHugepages], [0, 0, 0]);
  assertEquals(ramStats(k).allocated, before, "both surplus pages went back to the buddy");
  // growing takes pages out of surplus state before allocating new ones
  const q = proc().k;
  assertEquals(set_nr_hugepages(q, 1), 1);
  const pq = new Process(q, "q");
  const c = hugePrivate(pq, 1);
  pq.store32(c, 1);
  assertEquals(set_nr_hugepages(q, 0), 0);
  const used = ramStats(q).allocated;
  assertEquals(set_nr_hugepages(q, 1), 1, "the surplus page is persistent again");
  assertEquals(ramStats(q).allocated, used, "no new page allocated");
  pq.exit();
  assertEquals([q.state(HUGE).nrHugepages, q.state(HUGE).hugetlbFree.length], [1, 1]);
});

Deno.test("hugetlb pool: a reservation given back while the pool has surplus gives its free page to the buddy (return_unused_surplus_pages)", () => {
  const { k, p } = proc();
  const before = ramStats(k).allocated;
  assertEquals(set_nr_hugepages(k, 2), 2);
  const a = p.mmap(0, TWOMEG, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB);
  assert(a > 0);
  // the reserved page is kept, as surplus
  assertEquals(set_nr_hugepages(k, 0), 0);
  const st = k.state(HUGE);
  assertEquals([st.nrHugepages, st.surplusHugepages, st.resvHugepages], [1, 1, 1]);
  p.munmap(a, TWOMEG); // the file's last VMA: its unused reservation goes, and the page with it
  assertEquals([st.nrHugepages, st.surplusHugepages, st.resvHugepages, st.hugetlbFree.length], [
    0,
    0,
    0,
    0,
  ]);
  assertEquals(ramStats(k).allocated, before);
});

Deno.test("hugetlb_fault(mm, vma, address, flags): the kernel's argument order (include/linux/hugetlb.h, v4.20) — the mm first, a write fault maps a writable huge page", () => {
  const { k, p } = pool(1);
  const a = hugePrivate(p, 1);
  const vma = find_vma(p.mm, a)!;
  assertEquals(hugetlb_fault(k, p.mm, vma, a + 4096, FAULT_FLAG_WRITE), 0);
  assert(pte_write(entry(p, a)), "the owner's write fault maps the page writable");
  assertEquals(hugetlb_fault(k, p.mm, vma, a, 0), 0); // mapped: only made young
});
