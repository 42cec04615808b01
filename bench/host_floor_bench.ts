/**
 * Host floors: what this machine's JavaScript costs for the bare data
 * movement of two targeted paths, with none of the model's semantics. They
 * are lower bounds for the real cases (bench/memremap_bench.ts,
 * bench/fault_bench.ts), not results of the model, and say how much of a
 * missed target is the host's memory system.
 *
 * - `floor-lookup-chain-1` / `-1000`: 1,024 lookups + puts the shape of
 *   get_dev_pagemap's slow path over 1 or 1,000 pgmaps of 1..4 sections: a
 *   bucket-table read for a seeded-random pfn, then object → its ref → the
 *   ref's per-CPU counter (increment), then the same chain to decrement. No
 *   RCU, clock, tracing or misuse checks.
 * - `floor-random-levels-<n>`: 1,024 "faults" on seeded-random pages of a
 *   2^20-page buffer, each a chain of n dependent loads through page-sized
 *   arrays (a pte array, a 32-byte page record, a refcount word, a chunk
 *   count) — the memory traffic of a device-private fault without its work.
 *
 * `deno bench -A bench/host_floor_bench.ts`
 *
 * @module
 */

const OPS = 1024;

/** A stand-in for struct percpu_ref's fast-path fields. */
class FloorRef {
  counters: Int32Array;
  ptr: number;
  constructor(counters: Int32Array, slot: number) {
    this.counters = counters;
    this.ptr = slot * 4;
  }
}

/** A stand-in for struct dev_pagemap with a realistic field count. */
class FloorPgmap {
  ref: FloorRef;
  id = 0;
  page_fault: unknown = null;
  page_free: unknown = null;
  altmap: unknown = null;
  altmap_valid = false;
  res = { start: 0, end: 0 };
  kill: unknown = null;
  cleanup: unknown = null;
  dev: unknown = null;
  data: unknown = null;
  type = 0;
  constructor(ref: FloorRef) {
    this.ref = ref;
  }
}

function lookupChain(n: number): () => number {
  const cpus = 2;
  const pool = new Int32Array(n * cpus + 8);
  const direct: (FloorPgmap | null)[] = [];
  let seed = 42;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < n; i++) {
    const p = new FloorPgmap(new FloorRef(pool, i * cpus));
    for (let g = Math.floor(rnd() * 3); g > 0; g--) direct.push(null);
    for (let s = 1 + Math.floor(rnd() * 4); s > 0; s--) direct.push(p);
  }
  const lo = 4 << 20, inv = 2 ** -15;
  const POOL = 1 << 16;
  const pfns = new Float64Array(POOL);
  for (let i = 0; i < POOL; i++) {
    let b: number;
    do b = Math.floor(rnd() * direct.length); while (direct[b] === null);
    pfns[i] = lo + b * 32768 + Math.floor(rnd() * 32768);
  }
  const span = direct.length * 32768;
  const cpu = { id: 0 };
  let cursor = 0;
  return () => {
    let hits = 0;
    for (let i = 0; i < OPS; i++) {
      const off = pfns[(cursor + i) & (POOL - 1)]! - lo;
      let p: FloorPgmap | null = null;
      if (off >= 0 && off < span) p = direct[(off * inv) | 0]!;
      if (p !== null) {
        const r = p.ref;
        const q = r.ptr;
        if ((q & 3) === 0) r.counters[(q >> 2) + cpu.id]!++;
        hits++;
        const r2 = p.ref;
        const q2 = r2.ptr;
        if ((q2 & 3) === 0) r2.counters[(q2 >> 2) + cpu.id]!--;
      }
    }
    cursor = (cursor + OPS) & (POOL - 1);
    return hits;
  };
}

function randomLevels(levels: 1 | 2 | 3): () => number {
  const N = 1 << 20;
  const pte = new Float64Array(N); // one "pte" per page: the device page it points at
  const rec = new Int32Array(N * 8); // 32-byte page records
  const word = new Int32Array(N); // refcount/flags words
  const chunkCount = new Int32Array(N); // chunk reference counts
  const order = new Int32Array(N);
  let seed = 7;
  for (let i = 0; i < N; i++) order[i] = i;
  for (let i = N - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  for (let i = 0; i < N; i++) {
    const dev = (i * 7919) % N;
    pte[i] = dev;
    rec[dev * 8 + 3] = (dev * 31) % N;
  }
  let pos = 0;
  return () => {
    let sink = 0;
    for (let j = 0; j < OPS; j++) {
      const dev = pte[order[(pos + j) & (N - 1)]!]!;
      if (levels === 1) {
        sink += dev;
        continue;
      }
      const c = rec[dev * 8 + 3]!;
      word[dev]!++;
      if (levels === 3) chunkCount[c]!++;
      sink += c;
    }
    pos = (pos + OPS) & (N - 1);
    return sink;
  };
}

for (const n of [1, 1000]) {
  const run = lookupChain(n);
  Deno.bench({
    name: `floor-lookup-chain-${n}`,
    group: "floor-lookup",
    baseline: n === 1,
    fn: () => {
      if (run() !== OPS) throw new Error("a floor lookup missed");
    },
  });
}
for (const levels of [1, 2, 3] as const) {
  const run = randomLevels(levels);
  Deno.bench({
    name: `floor-random-levels-${levels}`,
    group: "floor-random",
    baseline: levels === 1,
    fn: () => {
      if (run() < 0) throw new Error("unreachable: the sum keeps the loads alive");
    },
  });
}
