/**
 * xa-load: the pgmap_array lookup of get_dev_pagemap's slow path.
 *
 * 1,000 disjoint pfn ranges like pgmaps (1..64 sections of 128 MiB, starting
 * on any 2 MiB boundary, with gaps of 0..8 sections), stored with
 * xa_store_range; each iteration does 1,024 xa_load calls on seeded-random
 * pfns spread over the whole span (hits and misses in the gaps). Per-lookup
 * time is the reported average / 1,024. Target: ≤ 15 ns per lookup.
 *
 * "xa-load (tree walk)" does the same lookups by walking the 64-way tree, as
 * the kernel does: the reason xa_load reads a sorted run index instead.
 *
 * @module
 */
import { Kernel } from "../lib/kernel/kernel.ts";
import { xa_load, xa_store_range, XArray, xaWalkLoad } from "../lib/kernel/xarray.ts";
import { Prng } from "../lib/sim/prng.ts";

const PAGES_PER_SECTION = 32768;
const RANGES = 1000;
const LOOKUPS = 1024;
const POOL = 1 << 16;

const k = new Kernel({ seed: 1 });
const prng = new Prng(42);
const xa = new XArray<{ id: number }>();
let pfn = 0x100000; // 4 GiB
for (let i = 0; i < RANGES; i++) {
  pfn += prng.int(9) * PAGES_PER_SECTION + prng.int(64) * 512;
  const n = (1 + prng.int(64)) * PAGES_PER_SECTION - prng.int(64) * 512;
  xa_store_range(k, xa, pfn, pfn + n - 1, { id: i }, 0);
  pfn += n;
}
const lo = 0x100000, span = pfn - lo;
const pfns = new Float64Array(POOL);
for (let i = 0; i < POOL; i++) pfns[i] = lo + prng.int(span);

let cursor = 0;
let sink = 0;
Deno.bench({
  name: "xa-load",
  group: "xarray",
  baseline: true,
  fn() {
    const base = cursor;
    cursor = (cursor + LOOKUPS) & (POOL - 1);
    let hits = 0;
    for (let i = 0; i < LOOKUPS; i++) {
      if (xa_load(xa, pfns[(base + i) & (POOL - 1)]!) !== null) hits++;
    }
    sink += hits;
  },
});

let cursor2 = 0;
Deno.bench({
  name: "xa-load (tree walk)",
  group: "xarray",
  fn() {
    const base = cursor2;
    cursor2 = (cursor2 + LOOKUPS) & (POOL - 1);
    let hits = 0;
    for (let i = 0; i < LOOKUPS; i++) {
      if (xaWalkLoad(xa, pfns[(base + i) & (POOL - 1)]!) !== null) hits++;
    }
    sink += hits;
  },
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
