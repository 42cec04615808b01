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
 * - `floor-lookup-semantic-1` / `-1000`: the same chain plus the bookkeeping
 *   every faithful lookup also does, inline: the pfn's range check, the
 *   simulated clock, rcu_read_lock/unlock on the current task, the tracing
 *   test on get and put.
 * - `floor-random-levels-<n>`: 1,024 "faults" on seeded-random pages of a
 *   2^20-page buffer, each a chain of n dependent loads through page-sized
 *   arrays (a pte array, a 32-byte page record, a refcount word, a chunk
 *   count) — the memory traffic of a device-private fault without its work.
 *   Consecutive iterations are independent, so the CPU overlaps their misses.
 * - `floor-devpriv-chain` / `floor-devpriv-chain-serial`: the loads and
 *   stores one 2018 dmirror device-private fault must make, over model-sized
 *   arrays for 2^20 pages in seeded-random order, with no other work:
 *   the pte → the device page's memmap word and 64-byte record → its backing
 *   page's record (hmm_devmem_page_get_drvdata) → the chunk's reference
 *   count (copy_highpage shares it), then a page from the free stack
 *   becomes the new pte, the backing page is freed and its chunk reference
 *   dropped. `-serial` makes each fault's first load depend on the previous
 *   fault's last, as it does when a fault runs a microsecond of code between
 *   the two and no out-of-order window spans them.
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

/** The per-lookup bookkeeping get_dev_pagemap keeps beyond the chain (see `semantic` below). */
class FloorKernel {
  tracing = false;
  now = 0;
  lookupNs = 20;
  task = { rcuDepth: 0, inReadSide: false, readerGen: 0 };
}

function lookupChain(n: number, semantic = false): () => number {
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
  const k = new FloorKernel();
  let cursor = 0;
  if (semantic) {
    // the same chain plus what every faithful lookup also does: the pfn's range check, the
    // simulated clock, rcu_read_lock/unlock on the current task, and the tracing test on get and put
    return () => {
      let hits = 0;
      for (let i = 0; i < OPS; i++) {
        const pfn = pfns[(cursor + i) & (POOL - 1)]!;
        if (pfn >>> 0 !== pfn) throw new RangeError("not a pfn");
        k.now += k.lookupNs;
        const t = k.task;
        t.rcuDepth++;
        const off = pfn - lo;
        let p: FloorPgmap | null = null;
        if (off >= 0 && off < span) p = direct[(off * inv) | 0]!;
        if (p !== null) {
          const r = p.ref;
          const q = r.ptr;
          if ((q & 3) === 0) r.counters[(q >> 2) + cpu.id]!++;
          else p = null;
          if (k.tracing) throw new Error("tracing is off");
        }
        if (t.rcuDepth === 0) throw new Error("unbalanced");
        t.rcuDepth--;
        if (!t.inReadSide) t.readerGen++;
        if (p !== null) {
          hits++;
          const r2 = p.ref;
          const q2 = r2.ptr;
          if ((q2 & 3) === 0) r2.counters[(q2 >> 2) + cpu.id]!--;
          if (k.tracing) throw new Error("tracing is off");
        }
      }
      cursor = (cursor + OPS) & (POOL - 1);
      return hits;
    };
  }
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

/** The bare memory traffic of one 2018 dmirror device-private fault, 1,024 per call. */
function devprivChain(serial: boolean): { faults: () => number; undo: () => void } {
  const N = 1 << 20, REC = 8; // 8 doubles: a 64-byte page record, as lib/kernel/mm/page-ext.ts
  const pte = new Float64Array(N); // virtual page → device page
  const devWord = new Int32Array(N); // device pages' memmap words
  const devRec = new Float64Array(N * REC); // their records: slot 6 = the backing page
  const ramWord = new Int32Array(2 * N); // RAM pages' memmap words
  const ramRec = new Float64Array(2 * N * REC); // their records: slot 3 = the chunk
  const chunkRef = new Int32Array(N); // chunk reference counts
  const free = new Int32Array(2 * N); // the RAM free stack
  let top = 0;
  const order = new Int32Array(N);
  let seed = 11;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < N; i++) order[i] = i;
  for (let i = N - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  // device page d backs virtual page v; its backing RAM page holds chunk v
  const ramOf = new Int32Array(2 * N);
  for (let i = 0; i < 2 * N; i++) ramOf[i] = i;
  for (let i = 2 * N - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = ramOf[i]!;
    ramOf[i] = ramOf[j]!;
    ramOf[j] = t;
  }
  for (let v = 0; v < N; v++) {
    const d = order[(v * 7919) % N]!;
    pte[v] = d;
    devWord[d] = 1;
    const b = ramOf[v]!;
    devRec[d * REC + 6] = b;
    ramWord[b] = 1;
    ramRec[b * REC + 3] = v;
    chunkRef[v] = 1;
  }
  for (let i = N; i < 2 * N; i++) free[top++] = ramOf[i]!;
  // a faulted page goes back to a device page before it is faulted again (untimed in the real case)
  const back = new Int32Array(OPS), backDev = new Int32Array(OPS);
  let pos = 0, prev = 0;
  const faults = () => {
    let sink = 0;
    for (let j = 0; j < OPS; j++) {
      const v = order[(pos + j + (serial ? prev >>> 30 : 0)) & (N - 1)]!;
      const d = pte[v]!; // the device-private entry
      devWord[d]!++; // get_page
      const b = devRec[d * REC + 6]!; // the backing page
      const c = ramRec[b * REC + 3]!; // its chunk
      chunkRef[c]!++; // copy_highpage: the new page shares it
      const n = free[--top]!; // alloc_page
      ramWord[n] = 1;
      ramRec[n * REC + 3] = c;
      pte[v] = N + n; // the new pte
      chunkRef[c]!--; // the backing page is freed
      ramWord[b] = 0;
      ramRec[b * REC + 3] = 0;
      free[top++] = b;
      devWord[d]!--; // the device page is freed
      back[j] = v;
      backDev[j] = d;
      sink += c;
      prev = c;
    }
    pos = (pos + OPS) & (N - 1);
    return sink;
  };
  // untimed, as the real case's re-migration: every page faulted goes back to a device page
  const undo = () => {
    for (let j = 0; j < OPS; j++) {
      const v = back[j]!, n = pte[v]! - N, b = free[--top]!;
      ramWord[b] = 1;
      ramRec[b * REC + 3] = ramRec[n * REC + 3]!;
      devRec[backDev[j]! * REC + 6] = b;
      ramWord[n] = 0;
      ramRec[n * REC + 3] = 0;
      free[top++] = n;
      pte[v] = backDev[j]!;
    }
  };
  return { faults, undo };
}

for (const [n, semantic] of [[1, false], [1000, false], [1, true], [1000, true]] as const) {
  const run = lookupChain(n, semantic);
  Deno.bench({
    name: `floor-lookup-${semantic ? "semantic" : "chain"}-${n}`,
    group: "floor-lookup",
    baseline: n === 1 && !semantic,
    fn: () => {
      if (run() !== OPS) throw new Error("a floor lookup missed");
    },
  });
}
for (const serial of [false, true]) {
  const { faults, undo } = devprivChain(serial);
  Deno.bench({
    name: serial ? "floor-devpriv-chain-serial" : "floor-devpriv-chain",
    group: "floor-devpriv",
    baseline: !serial,
    fn: (b) => {
      b.start();
      const sink = faults();
      b.end();
      undo();
      if (sink < 0) throw new Error("unreachable: the sum keeps the loads alive");
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
