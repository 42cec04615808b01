import { assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import { Kernel } from "../../lib/kernel/kernel.ts";
import {
  RADIX_TREE,
  radix_tree_delete,
  radix_tree_insert,
  radix_tree_lookup,
  radixTreeEntries,
  RadixTreeRoot,
} from "../../lib/kernel/radix-tree.ts";

const PA_SECTION_SHIFT = 27;

function kernel(): Kernel {
  return new Kernel({ cpus: 2, seed: 1 });
}

Deno.test("radix: insert, lookup, delete; a second insert at a key is -EEXIST", () => {
  const k = kernel();
  const t = RADIX_TREE<string>(k);
  assertEquals(radix_tree_lookup(t, 5), null);
  assertEquals(radix_tree_insert(k, t, 5, "a"), 0);
  assertEquals(radix_tree_insert(k, t, 70, "b"), 0);
  assertEquals(radix_tree_insert(k, t, 5, "c"), -17);
  assertEquals([radix_tree_lookup(t, 5), radix_tree_lookup(t, 70), radix_tree_lookup(t, 6)], [
    "a",
    "b",
    null,
  ]);
  assertEquals([...radixTreeEntries(t)], [[5, "a"], [70, "b"]]);
  assertEquals(radix_tree_delete(t, 5), "a");
  assertEquals(radix_tree_delete(t, 5), null);
  assertEquals(radix_tree_delete(t, 1 << 30), null); // beyond the tree
  assertEquals(radix_tree_lookup(t, 70), "b");
  assertEquals(radix_tree_delete(t, 70), "b");
  assertEquals([t.head, t.nodes, t.height], [null, 0, 0]);
});

Deno.test("radix: the height grows with the largest key, and so do the nodes an operation touches", () => {
  const k = kernel();
  const t = new RadixTreeRoot<string>();
  radix_tree_insert(k, t, 0, "zero");
  assertEquals([t.nodes, t.height], [0, 0]); // index 0 of an empty tree lives in the root
  const cases: [number, number][] = [[63, 1], [64, 2], [4096, 3], [1 << 18, 4], [2 ** 24, 5]];
  for (const [key, height] of cases) {
    assertEquals(radix_tree_insert(k, t, key, `k${key}`), 0);
    assertEquals(t.height, height, `height after inserting ${key}`);
    radix_tree_lookup(t, key);
    assertEquals(t.lastNodesTouched, height, `lookup of ${key} walks one node per level`);
  }
  assertEquals(radix_tree_lookup(t, 0), "zero");
  // Deleting the deep keys frees their nodes and shrinks the tree back to the root.
  for (const [key] of cases.toReversed()) assertEquals(radix_tree_delete(t, key), `k${key}`);
  assertEquals([t.nodes, t.height, radix_tree_lookup(t, 0)], [0, 0, "zero"]);
});

Deno.test("radix: hmm_devmem_radix keys — one insert per 128 MiB section", () => {
  const k = kernel();
  const t = RADIX_TREE<string>(k);
  const start = 0x3fffc0000000; // HMM's first 1 GiB region under MAX_PHYSMEM_BITS 46
  const touched: number[] = [];
  for (let key = start; key < start + 2 ** 30; key += 2 ** PA_SECTION_SHIFT) {
    const sec = key / 2 ** PA_SECTION_SHIFT;
    assertEquals(radix_tree_lookup(t, sec), null);
    assertEquals(radix_tree_insert(k, t, sec, "devmem0"), 0);
    touched.push(t.lastNodesTouched);
  }
  // Section numbers are 19-bit: four levels; the first insert builds the path, the rest reuse it.
  assertEquals([t.height, t.nodes], [4, 4]);
  assertEquals(touched, [4, 4, 4, 4, 4, 4, 4, 4]);
  assertEquals([...radixTreeEntries(t)].length, 8);
  assertEquals(t.nodesTouched, 8 * 4 + 7 * 4); // 8 inserts, 7 lookups in a non-empty tree
});

Deno.test("radix: fault point radix_tree_insert returns -ENOMEM and changes nothing", () => {
  const k = kernel();
  const t = RADIX_TREE<string>(k);
  k.faults.arm("radix_tree_insert", { nth: 2 });
  assertEquals(radix_tree_insert(k, t, 1, "a"), 0);
  const nodes = t.nodes;
  assertEquals(radix_tree_insert(k, t, 1 << 20, "b"), -12);
  assertEquals([t.nodes, t.height, radix_tree_lookup(t, 1 << 20)], [nodes, 1, null]);
  assertEquals(radix_tree_insert(k, t, 1 << 20, "b"), 0);
});

Deno.test("radix: misuse throws", () => {
  const k = kernel();
  const t = RADIX_TREE<string | null>(k);
  assertThrows(() => radix_tree_insert(k, t, -1, "x"), RangeError, "Cannot insert");
  assertThrows(() => radix_tree_insert(k, t, 1, null), TypeError, "Cannot insert NULL");
});

Deno.test("radix: agrees with a Map under random inserts and deletes; no empty node survives (fast-check)", () => {
  const key = fc.oneof(fc.nat(200), fc.nat(1 << 20), fc.nat(2 ** 34));
  const op = fc.record({ del: fc.boolean(), key });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const k = kernel();
      const t = RADIX_TREE<number>(k);
      const ref = new Map<number, number>();
      for (const [i, o] of ops.entries()) {
        if (o.del) {
          assertEquals(radix_tree_delete(t, o.key), ref.get(o.key) ?? null);
          ref.delete(o.key);
        } else {
          assertEquals(radix_tree_insert(k, t, o.key, i), ref.has(o.key) ? -17 : 0);
          if (!ref.has(o.key)) ref.set(o.key, i);
        }
      }
      for (const [key, v] of ref) assertEquals(radix_tree_lookup(t, key), v);
      assertEquals([...radixTreeEntries(t)], [...ref.entries()].sort((a, b) => a[0] - b[0]));
      const max = Math.max(0, ...ref.keys());
      const minHeight = max === 0 ? 0 : Math.ceil(Math.log2(max + 1) / 6);
      if (ref.size === 0) assertEquals([t.nodes, t.height], [0, 0]);
      else assertEquals(t.height, max === 0 ? 0 : Math.max(1, minHeight));
    }),
    { numRuns: 300, seed: 5 },
  );
});
