/**
 * The fuzzer's mm ops — fork, madvise (MADV_DONTNEED, MADV_HUGEPAGE),
 * mprotect, the hugetlb pool, MAP_HUGETLB and THP mappings, partial munmap —
 * replayed from their printed form: what each found, fixed, stays fixed.
 *
 * @module
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import fc from "fast-check";
import { type FuzzSequence, type Op, opArbitrary, replaySequence } from "../../lib/check/fuzz.ts";
import { World } from "../../lib/check/world.ts";
import { HUGE } from "../../lib/kernel/mm/huge-memory.ts";
import { get_page } from "../../lib/kernel/mm/swap.ts";

/** Replays `json` (as a failure prints it): the violations, and each step's outcome. */
function replay(json: string): { violations: string[]; outcomes: string[] } {
  const o = replaySequence(JSON.parse(json) as FuzzSequence);
  return {
    violations: o.violations.map((v) => `${v.invariant}: ${v.message}`),
    outcomes: o.log.map((s) => s.outcome),
  };
}

Deno.test("fuzz mm: a GUP pin of a hugetlb subpage is a holder of the compound head (checker)", () => {
  // found by the generator: the checker counted the pin on the subpage GUP returned, but
  // get_page of a tail takes the head's count — 'pfn 0x1000 (RAM): refcount 2, holders 1'
  const r = replay(
    '{"scheduleSeed":0,"ops":[{"op":"hugetlb-pool","n":1},{"op":"mmap-huge","p":0,"huge":1,"kind":"private"},{"op":"pin","p":0,"vma":1,"page":1}]}',
  );
  assertEquals(r.outcomes, ["nr_hugepages 1: 1", r.outcomes[1]!, r.outcomes[2]!]);
  assertEquals(r.violations, []);
});

Deno.test("fuzz mm: the huge zero page holds its own reference, its pmds none (checker)", () => {
  // found by the generator: the checker counted a huge zero pmd as a holder, so after the
  // read-faulting process exited the kept huge zero page read 'refcount 1, holders 0'
  const r = replay(
    '{"scheduleSeed":0,"ops":[{"op":"mmap","p":0,"pages":1},{"op":"mmap-huge","p":0,"huge":1,"kind":"thp"},{"op":"madvise","p":0,"vma":2,"page":0,"n":1,"advice":"hugepage"},{"op":"touch","p":0,"vma":2,"page":5,"write":false}]}',
  );
  assertEquals(r.outcomes[3], "load 0x7effffc0f000");
  assertEquals(r.violations, []);
});

Deno.test("fuzz mm: a page the hugetlb owner took back from its child (unmap_ref_private) is data the child lost (checker)", () => {
  // found by the generator: the owner's COW of a page its child shares finds no pool page
  // outside the reservations, so v4.20 unmaps the page from the child (HPAGE_RESV_UNMAPPED) —
  // the child's word is gone by design, not lost by the model
  const seq =
    '{"scheduleSeed":0,"ops":[{"op":"mmap-huge","p":0,"huge":3,"kind":"private"},{"op":"touch","p":0,"vma":1,"page":43,"write":true},{"op":"touch","p":0,"vma":1,"page":0,"write":false},{"op":"fork","p":0},{"op":"touch","p":0,"vma":1,"page":0,"write":true},{"op":"pin","p":0,"vma":1,"page":172}]}';
  const r = replay(seq);
  assertEquals(r.violations, []);
  // the child's next touch there is SIGBUS: the world stops driving it
  const next = JSON.parse(seq) as FuzzSequence;
  next.ops.push({ op: "touch", p: 1, vma: 1, page: 43, write: false });
  const o = replaySequence(next);
  assertEquals(o.violations, []);
});

Deno.test("fuzz mm: MADV_DONTNEED over a range a parallel munmap holed returns -ENOMEM but zaps the rest (world)", () => {
  // found by the mm soak: madvise applies the advice to every mapped part and only then
  // reports the hole (as 4.20 does); the world kept the zapped pages' shadow on -ENOMEM
  const r = replay(
    '{"scheduleSeed":0,"ops":[{"op":"hmm-add","sections":1},{"op":"gpu-fault","p":0,"vma":0,"page":32,"n":2,"dev":0,"write":true},{"op":"parallel","a":{"op":"madvise","p":0,"vma":0,"page":33,"n":13,"advice":"dontneed"},"b":{"op":"munmap-part","p":0,"vma":0,"first":45,"n":7}}]}',
  );
  assertEquals(r.violations, []);
});

Deno.test("fuzz mm: hugetlb-pool — a shrink below a shared mapping's reservation leaves nothing once it is unmapped", () => {
  // found by the new hugetlb-pool invariant: the reservation's surplus page stayed in the pool
  // after the reservation went (return_unused_surplus_pages was not modelled)
  const r = replay(
    '{"scheduleSeed":0,"ops":[{"op":"mmap-huge","p":0,"huge":1,"kind":"shared"},{"op":"hugetlb-pool","n":0}]}',
  );
  assertEquals(r.outcomes[1], "nr_hugepages 0: 0");
  assertEquals(r.violations, []);
});

Deno.test("fuzz mm: hugetlb-pool reports counters that disagree, a free page with a count, and a pool left in use", () => {
  const w = new World({});
  const st = w.k.state(HUGE);
  assertEquals(w.checker.check().violations, []);
  st.resvHugepages = st.hugetlbFree.length + 1;
  assertEquals(w.checker.check().violations.map((v) => v.message), [
    "counters disagree: nr_hugepages 4, free 4, reserved 5, surplus 0",
    "5 reservations held, but the registered processes' hugetlb mappings account for 0",
  ]);
  st.resvHugepages = 0;
  const page = st.hugetlbFree.pop()!; // as if in use, with no count: the pool is short a free page
  const msg = w.checker.check({ drained: true }).violations
    .filter((v) => v.invariant === "hugetlb-pool").map((v) => v.message);
  assertEquals(msg, [
    "left after every process exited: nr_hugepages 4, free 3, reserved 0, surplus 0",
  ]);
  st.hugetlbFree.push(page);
  get_page(w.k, page);
  assertStringIncludes(
    w.checker.check().violations.map((v) => v.message).join("\n"),
    `free pool page 0x${page.toString(16)} has a count of 1`,
  );
});

Deno.test("fuzz mm: the default generator draws every variant of the mm ops, and fork inside parallel and fail", () => {
  const ops = fc.sample(opArbitrary(), { numRuns: 4000, seed: 7 });
  const seen = new Set<string>();
  const walk = (o: Op, within: string) => {
    if (o.op === "fail") return walk(o.step, "fail");
    if (o.op === "parallel") {
      walk(o.a, "parallel");
      return walk(o.b, "parallel");
    }
    if (o.op === "mmap-huge") seen.add(`mmap-huge ${o.kind}`);
    if (o.op === "madvise") seen.add(`madvise ${o.advice}`);
    if (o.op === "hugetlb-pool") seen.add(`hugetlb-pool ${o.n === 0 ? "0" : "n"}`);
    if (o.op === "fork" && within !== "") seen.add(`fork in ${within}`);
  };
  ops.forEach((o) => walk(o, ""));
  assertEquals([...seen].sort(), [
    "fork in fail",
    "fork in parallel",
    "hugetlb-pool 0",
    "hugetlb-pool n",
    "madvise dontneed",
    "madvise free",
    "madvise hugepage",
    "madvise nohugepage",
    "mmap-huge private",
    "mmap-huge shared",
    "mmap-huge thp",
  ]);
});
