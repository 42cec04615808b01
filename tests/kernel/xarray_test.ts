import { assert, assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { Kernel } from "../../lib/kernel/kernel.ts";
import {
  xa_empty,
  xa_erase,
  xa_err,
  XA_ERROR,
  xa_is_err,
  xa_levels,
  xa_load,
  xa_store,
  xa_store_range,
  xaEntries,
  XArray,
  xaValues,
  xaWalkLoad,
} from "../../lib/kernel/xarray.ts";
import { OopsSignal } from "../../lib/sim/sched.ts";
import { Prng } from "../../lib/sim/prng.ts";

function kernel(): Kernel {
  return new Kernel({ cpus: 2, seed: 1 });
}

function pieces<T>(xa: XArray<T>): string[] {
  return [...xaEntries(xa)].map((e) => `${e.first.toString(16)}-${e.last.toString(16)}:${e.entry}`);
}

interface NodeLike {
  shift: number;
  count: number;
  offset: number;
  parent: NodeLike | null;
  slots: unknown[];
}
const isNode = (x: unknown): x is NodeLike => typeof x === "object" && x !== null && "slots" in x;
const isSibling = (x: unknown): x is { offset: number } =>
  typeof x === "object" && x !== null && !("slots" in x) && "offset" in x && !("err" in x);

/** Structural invariants of the tree: counts, parent links, node total, no orphan siblings. */
function checkTree<T>(xa: XArray<T>): void {
  let nodes = 0;
  const visit = (n: NodeLike, parent: NodeLike | null, offset: number, shift: number) => {
    nodes++;
    assertEquals(n.shift, shift, "node shift");
    assertStrictEquals(n.parent, parent, "parent link");
    if (parent !== null) assertEquals(n.offset, offset, "offset in parent");
    let count = 0;
    n.slots.forEach((s, o) => {
      if (s === null) return;
      count++;
      if (isNode(s)) visit(s, n, o, shift - 6);
      else if (isSibling(s)) assert(s.offset < o, "a sibling points backwards");
    });
    assertEquals(n.count, count, "node count");
    assert(count > 0, "no empty node survives");
  };
  const h = xa.head;
  if (isNode(h)) visit(h, null, 0, h.shift);
  assertEquals(xa.nodes, nodes, "xa.nodes");
}

Deno.test("xarray: a multi-index range loads everywhere inside, nowhere outside", () => {
  const k = kernel();
  const xa = new XArray<string>();
  assert(xa_empty(xa));
  assertEquals(xa_store_range(k, xa, 0x10000, 0x17fff, "A", 0), null);
  // One section-sized, section-aligned range is one entry of order 15 (8 slots at shift 12).
  assertEquals(pieces(xa), ["10000-17fff:A"]);
  assertEquals([
    xa_load(xa, 0xffff),
    xa_load(xa, 0x10000),
    xa_load(xa, 0x17fff),
    xa_load(xa, 0x18000),
  ], [
    null,
    "A",
    "A",
    null,
  ]);
  checkTree(xa);
});

Deno.test("xarray: an unaligned range is cut into the kernel's aligned pieces", () => {
  const k = kernel();
  const xa = new XArray<string>();
  xa_store_range(k, xa, 1, 4094, "A", 0);
  assertEquals(pieces(xa), ["1-3f:A", "40-fbf:A", "fc0-ffe:A"]);
  // xa_erase removes the whole multi-index entry holding the index: one piece.
  assertEquals(xa_erase(xa, 100), "A");
  assertEquals(pieces(xa), ["1-3f:A", "fc0-ffe:A"]);
  assertEquals([xa_load(xa, 63), xa_load(xa, 64), xa_load(xa, 4031), xa_load(xa, 4032)], [
    "A",
    null,
    null,
    "A",
  ]);
  assertEquals(xa_erase(xa, 5000), null);
  checkTree(xa);
  // Erasing the range with NULL frees every node.
  assertEquals(xa_store_range(k, xa, 1, 4094, null, 0), null);
  assert(xa_empty(xa));
  assertEquals(xa.nodes, 0);
});

Deno.test("xarray: storing over part of a larger entry replaces all of it (v4.20 cannot split)", () => {
  const k = kernel();
  const xa = new XArray<string>();
  xa_store_range(k, xa, 0, 4095, "A", 0); // one entry of order 12
  xa_store_range(k, xa, 64, 127, "B", 0); // lands inside it
  assertEquals(pieces(xa), ["0-fff:B"]);
  assertEquals([xa_load(xa, 0), xa_load(xa, 4095)], ["B", "B"]);
  // xa_store on one index of a multi-index entry updates every index of it.
  assertEquals(xa_store(k, xa, 7, "C", 0), "B");
  assertEquals(xa_load(xa, 4000), "C");
  // A larger store over smaller entries replaces them and frees their nodes.
  xa_store_range(k, xa, 5000, 5010, "D", 0);
  const before = xa.nodes;
  xa_store_range(k, xa, 0, 8191, "E", 0);
  assertEquals(pieces(xa), ["0-1fff:E"]);
  assert(xa.nodes < before);
  checkTree(xa);
});

Deno.test("xarray: overlapping same-level pieces behave as v4.20's xas_store does", () => {
  const k = kernel();
  // The new range starts inside an existing entry: the store lands on that
  // entry's canonical slot and covers only as many slots as it asked for.
  const a = new XArray<string>();
  xa_store_range(k, a, 0x0, 0xff, "A", 0); // 4 slots at shift 6
  xa_store_range(k, a, 0x80, 0x17f, "B", 0); // 4 slots at shift 6, starting on a sibling
  assertEquals(pieces(a), ["0-ff:B"]);
  assertEquals(xa_load(a, 0x140), null); // never stored
  // The new range covers the start of an existing entry: its later siblings
  // now point at a sibling; loading there hands an internal entry to the
  // caller, which the model turns into an Oops.
  const b = new XArray<string>();
  xa_store_range(k, b, 0x80, 0x17f, "A", 0);
  xa_store_range(k, b, 0x0, 0xff, "B", 0);
  assertEquals(xa_load(b, 0x90), "B");
  assertThrows(() => xa_load(b, 0x140), OopsSignal, "internal entry");
  assertThrows(() => xaWalkLoad(b, 0x140), OopsSignal, "internal entry");
});

Deno.test("xarray: a rewritten canonical slot changes its non-adjacent siblings' loads too", () => {
  // Found by the property test below: after these stores slot 39 of the
  // shift-6 node is a sibling of slot 33 with slot 38 (another entry) between.
  const k = kernel();
  const xa = new XArray<string>();
  xa_store_range(k, xa, 2369, 2623, "A", 0);
  xa_store_range(k, xa, 2080, 2560, "A", 0);
  xa_store_range(k, xa, 2110, 2112, "C", 0);
  assertEquals([xa_load(xa, 2496), xaWalkLoad(xa, 2496)], ["C", "C"]);
  assertEquals([xa_load(xa, 2432), xa_load(xa, 2560)], ["A", "A"]);
});

Deno.test("xarray: index 0 lives in the head until a second index needs a node", () => {
  const k = kernel();
  const xa = new XArray<string>();
  assertEquals(xa_store(k, xa, 0, "A", 0), null);
  assertEquals([xa.nodes, xa.height, xa_load(xa, 0), xa_load(xa, 1)], [0, 0, "A", null]);
  xa_store(k, xa, 1, "B", 0);
  assertEquals([xa.nodes, xa.height, xa_load(xa, 0), xa_load(xa, 1)], [1, 1, "A", "B"]);
  xa_erase(xa, 1);
  assertEquals([xa.nodes, xa.height, xa_load(xa, 0)], [0, 0, "A"]); // shrunk back
  xa_erase(xa, 0);
  assert(xa_empty(xa));
});

Deno.test("xarray: xa_levels follows the tree's height and stops at multi-index entries", () => {
  const k = kernel();
  const xa = new XArray<string>();
  assertEquals(xa_levels(xa, 5), 0);
  const pfn = 2 ** 34 - 2 ** 15; // the last section below 2^46 bytes
  xa_store_range(k, xa, pfn, pfn + 2 ** 15 - 1, "hmm", 0);
  assertEquals(xa.height, 6); // 34-bit index: shifts 30, 24, 18, 12, 6, 0
  assertEquals(xa_levels(xa, pfn), 4); // the entry sits at shift 12
  assertEquals(xa_levels(xa, 0), 1); // an empty slot in the head
  xa_store_range(k, xa, pfn - 3, pfn - 3, "one", 0);
  assertEquals(xa_levels(xa, pfn - 3), 6);
  assert(xa.nodesTouched > 0);
});

Deno.test("xarray: errors — XA_ERROR(-ENOMEM) from the fault point, -EINVAL for bad arguments", () => {
  const k = kernel();
  const xa = new XArray<unknown>();
  k.faults.arm("xa_store_range", { every: true });
  const r = xa_store_range(k, xa, 10, 20, "A", 0);
  assert(xa_is_err(r));
  assertEquals(xa_err(r), -12);
  assertEquals([xa_load(xa, 10), xa.nodes], [null, 0]);
  // An erase allocates nothing: the point is not consulted.
  assertEquals(xa_store_range(k, xa, 10, 20, null, 0), null);
  k.faults.disarmAll();
  assertEquals(xa_err(xa_store_range(k, xa, 20, 10, "A", 0)), -22);
  assertEquals(xa_err(xa_store_range(k, xa, 1, 2, XA_ERROR(-5), 0)), -22);
  assertEquals(k.dmesg.grep("WARNING").length, 1);
  assertEquals(xa_err("not an error"), 0);
  assertThrows(() => xa_store_range(k, xa, -1, 2, "A", 0), RangeError, "Cannot store a range");
  assertThrows(() => xa_erase(xa, 0.5), RangeError, "Cannot erase");
});

Deno.test("xarray: disjoint ranges agree with a per-index Map (fast-check)", () => {
  const U = 1 << 13;
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("store" as const),
      a: fc.nat(U - 1),
      len: fc.integer({ min: 1, max: 700 }),
    }),
    fc.record({ kind: fc.constant("erase" as const), a: fc.nat(U - 1), len: fc.constant(0) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const k = kernel();
      const xa = new XArray<string>();
      const ref = new Map<number, string>();
      const ranges: [number, number, string][] = [];
      ops.forEach((o, i) => {
        if (o.kind === "store") {
          const last = Math.min(U - 1, o.a + o.len - 1);
          for (let j = o.a; j <= last; j++) if (ref.has(j)) return; // only into empty space
          const v = `v${i}`;
          assertEquals(xa_store_range(k, xa, o.a, last, v, 0), null);
          for (let j = o.a; j <= last; j++) ref.set(j, v);
          ranges.push([o.a, last, v]);
        } else if (ranges.length > 0) {
          // Erase a whole stored range (what pgmap_array_delete does).
          const [first, last] = ranges.splice(o.a % ranges.length, 1)[0]!;
          assertEquals(xa_store_range(k, xa, first, last, null, 0), null);
          for (let j = first; j <= last; j++) ref.delete(j);
        }
      });
      for (let j = 0; j < U; j++) {
        if (xa_load(xa, j) !== (ref.get(j) ?? null)) return false;
      }
      checkTree(xa);
      return ranges.length > 0 || (xa_empty(xa) && xa.nodes === 0);
    }),
    { numRuns: 150, seed: 7 },
  );
});

Deno.test("xarray: the load index always agrees with the tree walk, also after overlapping stores (fast-check)", () => {
  const U = 1 << 12;
  const op = fc.record({
    kind: fc.constantFrom("range", "store", "erase", "rangeNull"),
    a: fc.nat(U - 1),
    len: fc.integer({ min: 1, max: 600 }),
    v: fc.constantFrom("A", "B", "C"),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const k = kernel();
      const xa = new XArray<string>();
      for (const o of ops) {
        const last = Math.min(U - 1, o.a + o.len - 1);
        if (o.kind === "range") xa_store_range(k, xa, o.a, last, o.v, 0);
        else if (o.kind === "rangeNull") xa_store_range(k, xa, o.a, last, null, 0);
        else if (o.kind === "store") xa_store(k, xa, o.a, o.v, 0);
        else xa_erase(xa, o.a);
        for (let j = 0; j < U + 64; j++) {
          let fast: unknown, slow: unknown;
          try {
            fast = xa_load(xa, j);
          } catch (e) {
            fast = e instanceof OopsSignal ? "oops" : e;
          }
          try {
            slow = xaWalkLoad(xa, j);
          } catch (e) {
            slow = e instanceof OopsSignal ? "oops" : e;
          }
          if (fast !== slow) return false;
        }
      }
      return true;
    }),
    { numRuns: 400, seed: 11 },
  );
});

Deno.test("xarray: xa_load's bucket table agrees with the tree walk after random register/unregister sequences over sparse spans", () => {
  // pgmap-like ranges: mostly whole 128 MiB sections (2^15 pfns), some on
  // 2 MiB (2^9) or single-pfn boundaries; packed, or spread over 2^40 pfns
  // (more buckets than the table allows, so it falls back to searched ones).
  const SECTION = 2 ** 15;
  for (let seed = 1; seed <= 12; seed++) {
    const prng = new Prng(seed);
    const k = kernel();
    const xa = new XArray<string>();
    const live: [number, number, string][] = [];
    const universe = seed % 3 === 0 ? 2 ** 40 : 2 ** 28;
    const unaligned = seed % 2 === 0;
    for (let step = 0; step < 40; step++) {
      if (live.length > 0 && prng.chance(0.35)) {
        const [first, last] = live.splice(prng.int(live.length), 1)[0]!;
        assertEquals(xa_store_range(k, xa, first, last, null, 0), null);
      } else {
        const grain = unaligned && prng.chance(0.3) ? (prng.chance(0.5) ? 512 : 1) : SECTION;
        const first = prng.int(universe / grain) * grain;
        const last = first + (1 + prng.int(4 * SECTION / grain)) * grain - 1;
        if (live.some(([a, b]) => first <= b && a <= last)) continue; // into empty space only
        const v = `pgmap${step}`;
        assertEquals(xa_store_range(k, xa, first, last, v, 0), null);
        live.push([first, last, v]);
      }
      // every run boundary and its neighbours, the edges of a few aligned
      // blocks around each, and random indices across the span
      const probes: number[] = [];
      for (const [a, b] of live) {
        for (const x of [a - 1, a, a + 1, b - 1, b, b + 1]) probes.push(x);
        for (const size of [512, SECTION, 4 * SECTION, 2 ** 20]) {
          const blk = Math.floor(a / size) * size;
          probes.push(blk - 1, blk, blk + size - 1, blk + size);
        }
      }
      for (let i = 0; i < 200; i++) probes.push(prng.int(universe + SECTION));
      for (const x of probes) {
        if (x < 0) continue;
        const want = live.find(([a, b]) => a <= x && x <= b)?.[2] ?? null;
        assertEquals(xaWalkLoad(xa, x), want, `seed ${seed} step ${step}: the tree at ${x}`);
        assertEquals(xa_load(xa, x), want, `seed ${seed} step ${step}: xa_load at ${x}`);
      }
    }
    for (const [first, last] of live.splice(0)) xa_store_range(k, xa, first, last, null, 0);
    assertEquals([xa_empty(xa), xa_load(xa, 0), xa_load(xa, SECTION)], [true, null, null]);
  }
});

Deno.test("xarray: with whole-section ranges every bucket of the load table answers without a search", () => {
  const k = kernel();
  const xa = new XArray<string>();
  const SECTION = 2 ** 15;
  for (let i = 0; i < 100; i++) {
    const first = (4 * i + (i % 3)) * SECTION;
    xa_store_range(k, xa, first, first + (1 + (i % 2)) * SECTION - 1, `p${i}`, 0);
  }
  assertEquals(xa_load(xa, 0), "p0"); // builds the table
  const direct = xa.lookup!.direct;
  const searched = (v: unknown) => typeof v === "symbol";
  assert(direct.length > 100 && !direct.some(searched), "no bucket needs a search");
  // an unaligned range makes the buckets around its ends searched ones, and loads stay right
  xa_store_range(k, xa, 1000 * SECTION + 5, 1000 * SECTION + 700, "odd", 0);
  assertEquals(
    [
      xa_load(xa, 1000 * SECTION + 4),
      xa_load(xa, 1000 * SECTION + 5),
      xa_load(xa, 1000 * SECTION + 700),
    ],
    [null, "odd", "odd"],
  );
  assert(xa.lookup!.direct.some(searched), "searched buckets exist now");
});

Deno.test("xarray: xa_erase erases exactly one aligned block containing the index (fast-check)", () => {
  fc.assert(
    fc.property(
      fc.nat(20000),
      fc.integer({ min: 1, max: 5000 }),
      fc.nat(5000),
      (first, len, at) => {
        const k = kernel();
        const xa = new XArray<string>();
        const last = first + len - 1;
        xa_store_range(k, xa, first, last, "A", 0);
        const i = first + (at % len);
        assertEquals(xa_erase(xa, i), "A");
        const gone: number[] = [];
        for (let j = first; j <= last; j++) if (xa_load(xa, j) === null) gone.push(j);
        // Contiguous, contains i, size (sibs + 1) << shift, aligned to 1 << shift.
        const lo = gone[0]!, hi = gone.at(-1)!;
        assertEquals(hi - lo + 1, gone.length);
        assert(lo <= i && i <= hi);
        let shift = 0;
        while (
          shift < 48 && lo % 2 ** (shift + 6) === 0 && gone.length % 2 ** (shift + 6) === 0
        ) shift += 6;
        assertEquals(lo % 2 ** shift, 0);
        assert(gone.length / 2 ** shift <= 64);
        checkTree(xa);
      },
    ),
    { numRuns: 200, seed: 3 },
  );
});

Deno.test("xaValues: the distinct entries xaEntries walks, for any stores and erases", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          first: fc.nat({ max: 2 ** 20 }),
          len: fc.nat({ max: 5000 }),
          v: fc.constantFrom("a", "b", "c", null),
        }),
        { maxLength: 12 },
      ),
      (ops) => {
        const k = new Kernel();
        const xa = new XArray<string>();
        for (const o of ops) xa_store_range(k, xa, o.first, o.first + o.len, o.v, 0);
        const want = new Set([...xaEntries(xa)].map((e) => e.entry));
        assertEquals(xaValues(xa, new Set()), want);
      },
    ),
    { numRuns: 200, seed: 3 },
  );
  const xa = new XArray<string>();
  assertEquals(xaValues(xa, new Set(["kept"])), new Set(["kept"]), "adds to what it is given");
});
