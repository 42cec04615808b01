/**
 * lib/check/world.ts: the fuzzer's user side is well behaved — the model
 * bugs the soak found in it, each pinned by the sequence that found it.
 */
import { assertEquals } from "@std/assert";
import { replaySequence } from "../../lib/check/fuzz.ts";
import type { FuzzSequence } from "../../lib/check/fuzz.ts";

Deno.test("world: a p2pmem client does not map an allocation a parallel step freed first (soak seed 4243)", () => {
  // the free drops the last page reference, the waiting unbind removes the BAR's struct
  // pages, and a map_sg of the freed scatterlist would then touch removed pages: the
  // client's use-after-free, not the kernel's (v5.2 waits for every allocation)
  const seq: FuzzSequence = {
    scheduleSeed: 661731780,
    ops: [
      { op: "gpu-bind" },
      { op: "pin", p: 0, vma: 0, page: 0 },
      { op: "touch", p: 0, vma: 0, page: 0, write: false },
      { op: "migrate", p: 0, vma: 0, page: 0, n: 1, dev: 0 },
      { op: "p2p-bind", bars: [2] },
      { op: "p2p-alloc", pages: 1 },
      { op: "p2p-unbind" },
      { op: "parallel", a: { op: "p2p-map", a: 1 }, b: { op: "p2p-free", a: 0 } },
    ],
  };
  const o = replaySequence(seq);
  assertEquals(o.violations, []);
  assertEquals(o.log.map((s) => s.outcome).at(-1), "map_sg ‖ free");
});
