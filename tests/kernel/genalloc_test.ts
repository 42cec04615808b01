import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { Kernel } from "../../lib/kernel/kernel.ts";
import { createMachine } from "../../lib/machine.ts";
import {
  addr_in_gen_pool,
  gen_pool_add,
  gen_pool_add_owner,
  gen_pool_add_virt,
  gen_pool_alloc,
  gen_pool_alloc_owner,
  gen_pool_avail,
  gen_pool_create,
  gen_pool_destroy,
  gen_pool_free,
  gen_pool_free_owner,
  gen_pool_size,
  gen_pool_virt_to_phys,
  GENALLOC,
  genalloc_init,
  type OwnerOut,
} from "../../lib/kernel/genalloc.ts";

const KiB = 1024;
const MiB = 2 ** 20;

Deno.test("genalloc: first fit in 4 KiB granules, from the chunk added last", () => {
  const k = new Kernel({ series: "v4.20" });
  const pool = gen_pool_create(k, 12, -1)!;
  assertEquals(gen_pool_add_virt(k, pool, 0x1000_0000n, 0xa000_0000, 64 * KiB, -1), 0);
  assertEquals(gen_pool_add_virt(k, pool, 0x2000_0000n, 0xb000_0000, 64 * KiB, -1), 0);
  assertEquals(gen_pool_size(k, pool), 128 * KiB);
  // list_add_rcu: the second chunk is at the head of the list
  assertEquals(gen_pool_alloc(k, pool, 1), 0x2000_0000n);
  assertEquals(gen_pool_alloc(k, pool, 5000), 0x2000_1000n); // two granules
  assertEquals(gen_pool_avail(k, pool), 128 * KiB - 3 * 4 * KiB);
  assertEquals(gen_pool_virt_to_phys(k, pool, 0x2000_1234n), 0xb000_1234);
  assertEquals(gen_pool_virt_to_phys(k, pool, 0x3000_0000n), -1);
  // freeing the first granule makes a one-granule hole: first fit reuses it
  gen_pool_free(k, pool, 0x2000_0000n, 4 * KiB);
  assertEquals(gen_pool_alloc(k, pool, 4 * KiB), 0x2000_0000n);
  // a request that fits no hole of the head chunk goes to the next chunk
  assertEquals(gen_pool_alloc(k, pool, 60 * KiB), 0x1000_0000n);
  assertEquals(gen_pool_alloc(k, pool, 0), 0n);
  assertEquals(gen_pool_alloc(k, pool, MiB), 0n);
  assert(addr_in_gen_pool(k, pool, 0x1000_0000n, 64 * KiB));
  assert(!addr_in_gen_pool(k, pool, 0x1000_f000n, 8 * KiB));
  assertEquals(gen_pool_add(k, pool, 0x4000_0000n, 4 * KiB, -1), 0);
  assertEquals(gen_pool_virt_to_phys(k, pool, 0x4000_0000n), -1); // gen_pool_add stores phys -1
});

Deno.test("genalloc: a bad free is BUG(), a double free BUG_ON(remain), destroy with memory out BUG_ON", () => {
  for (const [series, line] of [["v4.20", 252], ["v5.0", 253], ["v5.2", 253]] as const) {
    const m = createMachine({ series });
    const k = m.k;
    const pool = gen_pool_create(k, 12, -1)!;
    gen_pool_add_virt(k, pool, 0x1000_0000n, 0, 16 * KiB, -1);
    const a = gen_pool_alloc(k, pool, 4 * KiB);
    const unknown = m.run(function free_unknown(kk) {
      gen_pool_free(kk, pool, 0x9000_0000n, 4 * KiB);
    });
    assertStringIncludes(unknown.oopses[0]!.message, "kernel BUG at lib/genalloc.c:");
    const dbl = m.run(function double_free(kk) {
      gen_pool_free(kk, pool, a, 4 * KiB);
      gen_pool_free(kk, pool, a, 4 * KiB);
    });
    assertStringIncludes(dbl.oopses[0]!.message, "kernel BUG at lib/genalloc.c:");
    gen_pool_alloc(k, pool, 4 * KiB);
    const d = m.run(function destroy(kk) {
      gen_pool_destroy(kk, pool);
    });
    assertEquals(d.oopses[0]!.message, `kernel BUG at lib/genalloc.c:${line}!`, series);
    assertEquals(d.oopses[0]!.chain[0], "gen_pool_destroy");
    assertEquals(pool.freed, false);
  }
});

Deno.test("genalloc: destroy frees the pool; a later use is recorded as a use-after-free", () => {
  const k = new Kernel();
  const pool = gen_pool_create(k, 12, -1)!;
  gen_pool_add_virt(k, pool, 0x1000_0000n, 0, 16 * KiB, -1);
  const a = gen_pool_alloc(k, pool, 4 * KiB);
  gen_pool_free(k, pool, a, 4 * KiB);
  gen_pool_destroy(k, pool);
  assert(pool.freed);
  gen_pool_size(k, pool);
  assertEquals(k.state(GENALLOC).useAfterFree, [
    `gen_pool_size: pool ${pool.id} used after gen_pool_destroy`,
  ]);
});

Deno.test("genalloc: chunk owners exist only with genalloc-chunk-owners (v5.2)", () => {
  const k0 = new Kernel({ series: "v5.0" });
  const p0 = gen_pool_create(k0, 12, -1)!;
  assertThrows(
    () => gen_pool_add_owner(k0, p0, 0x1000n, 0, 4 * KiB, -1, "x"),
    RangeError,
    "genalloc-chunk-owners",
  );
  assertThrows(() => gen_pool_alloc_owner(k0, p0, 4 * KiB, { value: null }), RangeError);
  assertThrows(() => gen_pool_free_owner(k0, p0, 0x1000n, 4 * KiB, { value: null }), RangeError);

  const k = new Kernel({ series: "v5.2" });
  const pool = gen_pool_create(k, 12, -1)!;
  const ownerA = { name: "A" }, ownerB = { name: "B" };
  gen_pool_add_owner(k, pool, 0x1000_0000n, 0, 8 * KiB, -1, ownerA);
  gen_pool_add_owner(k, pool, 0x2000_0000n, 0, 4 * KiB, -1, ownerB);
  gen_pool_add_virt(k, pool, 0x3000_0000n, 0, 4 * KiB, -1); // the inline wrapper: owner NULL
  const out: OwnerOut = { value: "stale" };
  assertEquals(gen_pool_alloc_owner(k, pool, 4 * KiB, out), 0x3000_0000n);
  assertEquals(out.value, null);
  assertEquals(gen_pool_alloc_owner(k, pool, 4 * KiB, out), 0x2000_0000n);
  assertEquals(out.value, ownerB);
  assertEquals(gen_pool_alloc_owner(k, pool, 4 * KiB, out), 0x1000_0000n);
  assertEquals(out.value, ownerA);
  const freed: OwnerOut = { value: null };
  gen_pool_free_owner(k, pool, 0x2000_0000n, 4 * KiB, freed);
  assertEquals(freed.value, ownerB);
  // nothing left that fits: NULL and the owner cleared
  assertEquals(gen_pool_alloc_owner(k, pool, 8 * KiB, out), 0n);
  assertEquals(out.value, null);
});

Deno.test("genalloc: fault points gen_pool_add_virt (-ENOMEM) and gen_pool_alloc (0)", () => {
  const k = new Kernel({ series: "v4.20" });
  genalloc_init(k);
  assert(k.faults.points.has("gen_pool_add_virt") && k.faults.points.has("gen_pool_alloc"));
  const pool = gen_pool_create(k, 12, -1)!;
  k.faults.arm("gen_pool_add_virt", { nth: 1 });
  assertEquals(gen_pool_add_virt(k, pool, 0x1000n, 0, 8 * KiB, -1), -12);
  assertEquals(gen_pool_size(k, pool), 0);
  assertEquals(gen_pool_add_virt(k, pool, 0x1000n, 0, 8 * KiB, -1), 0);
  k.faults.arm("gen_pool_alloc", { nth: 1 });
  assertEquals(gen_pool_alloc(k, pool, 4 * KiB), 0n);
  assertEquals(gen_pool_alloc(k, pool, 4 * KiB), 0x1000n);
  // the same point covers gen_pool_add_owner at v5.2
  const k2 = new Kernel({ series: "v5.2" });
  const p2 = gen_pool_create(k2, 12, -1)!;
  k2.faults.arm("gen_pool_add_virt", { every: true });
  assertEquals(gen_pool_add_owner(k2, p2, 0x1000n, 0, 4 * KiB, -1, null), -12);
});
