/**
 * Host floors: what this machine's JavaScript costs for the bare data
 * movement of three targeted paths, with none of the model's semantics. They
 * are lower bounds for the real cases (bench/memremap_bench.ts,
 * bench/fault_bench.ts, bench/gpu_bench.ts), not results of the model, and
 * say how much of a missed target is the host's memory system.
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
 *   the pte → the device page's memmap word and 32-byte record → its backing
 *   page's record (hmm_devmem_page_get_drvdata) → the chunk's reference
 *   count (copy_highpage shares it), then a page from the free stack
 *   becomes the new pte, the backing page is freed and its chunk reference
 *   dropped. `-serial` makes each fault's first load depend on the previous
 *   fault's last, as it does when a fault runs a microsecond of code between
 *   the two and no out-of-order window spans them.
 * - `floor-gpu-batch`: every store one `gpu-fault-batch` iteration makes
 *   (lib/bench/cases/gpu.ts: nouveau_svm_fault → migrate_vma with
 *   nouveau_dmem_migrate_ops), hand-inlined in one function over typed
 *   arrays laid out as the model's — per-section memmap words and 32-byte
 *   page records (section.ts, page-ext.ts) for 2 GiB of RAM and 1 GiB of
 *   device-private VRAM pages, the RAM free stack (ram-alloc.ts), the chunk
 *   pool and VRAM's chunk directory (page-contents.ts, chunks.ts), one pte
 *   page and one GPU page-table block, the fault ring and batch
 *   (faults.ts). Fetch, de-duplicate and radix-sort 256 faults raised in a
 *   seeded random order over the 256 pages of one 2 MiB VA block; then, per
 *   page and stage by stage (collect, prepare, alloc_and_copy, pages,
 *   finalize_and_map, finalize), each store and read-modify-write the
 *   model's fast path makes, once: 80 per page, with the loads they need and
 *   the model's flag tests. No calls, tracing or allocation. Untimed, each
 *   batch is checked (every page in VRAM, mapped on the GPU, its RAM page
 *   freed) and undone as the case's prepare does (every page back in RAM,
 *   the next batch raised), so every iteration migrates RAM pages.
 *
 * `deno bench -A bench/host_floor_bench.ts`
 *
 * @module
 */

const OPS = 1024;

/** The floors' only randomness: a seeded linear congruential generator (setup and untimed code only). */
class Lcg {
  /** The state; `next` returns it. */
  seed: number;
  /** @param seed the starting state. */
  constructor(seed: number) {
    this.seed = seed;
  }
  /** The next 32-bit value. */
  next(): number {
    return this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
  }
}

/** Fisher-Yates shuffle of `a` in place, drawing from `rng`. */
function shuffle(a: Int32Array, rng: Lcg): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.next() % (i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

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
  const rng = new Lcg(42);
  const rnd = () => rng.next() / 2 ** 32;
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
  for (let i = 0; i < N; i++) order[i] = i;
  shuffle(order, new Lcg(7));
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
  const N = 1 << 20, REC = 8; // 8 Int32 slots: a 32-byte page record, as lib/kernel/mm/page-ext.ts (EXT_STRIDE)
  const pte = new Float64Array(N); // virtual page → device page
  const devWord = new Int32Array(N); // device pages' memmap words
  const devRec = new Int32Array(N * REC); // their records: slot 6 = the backing page
  const ramWord = new Int32Array(2 * N); // RAM pages' memmap words
  const ramRec = new Int32Array(2 * N * REC); // their records: slot 3 = the chunk
  const chunkRef = new Int32Array(N); // chunk reference counts
  const free = new Int32Array(2 * N); // the RAM free stack
  let top = 0;
  const order = new Int32Array(N);
  const rng = new Lcg(11);
  for (let i = 0; i < N; i++) order[i] = i;
  shuffle(order, rng);
  // device page d backs virtual page v; its backing RAM page holds chunk v
  const ramOf = new Int32Array(2 * N);
  for (let i = 0; i < 2 * N; i++) ramOf[i] = i;
  shuffle(ramOf, rng);
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

/**
 * The data movement and bookkeeping of one `gpu-fault-batch` iteration
 * (lib/bench/cases/gpu.ts), hand-inlined over model-shaped typed arrays:
 * 256 faults on the 256 pages of one 2 MiB VA block, raised in a seeded
 * random order, fetched, de-duplicated, sorted and migrated from RAM to
 * VRAM. Each block names the model function whose stores it repeats; every
 * store the model makes per page is made once here, with the loads it
 * needs and the model's flag tests, and nothing else (no tracing, no calls,
 * no allocation). `undo` (untimed) puts every page back in RAM as the
 * case's prepare does, and raises the next batch.
 */
function gpuBatch(): { batch: () => number; undo: () => void; check: () => void } {
  const N = 256; // faults per batch: 256 distinct pages
  const PPS = 32768; // pages per 128 MiB section
  const REC = 8; // Int32 slots per page record (page-ext.ts EXT_STRIDE)
  const MAPCOUNT = 0, MAPPING = 1, FLAGS = 2, CHUNK = 3, INDEX = 4, PRIVATE = 6;
  const PG_LRU = 4, PG_UPTODATE = 2, PG_SWAPBACKED = 8, PG_DIRTY = 1;
  const LOCKED = 1 << 30, REF_MASK = 0xffffff, ZONE_DEVICE = 4, DEVICE_PRIVATE = 1;
  const RAM_WORD = 0x01000000; // zone DMA32, refcount 0 (a free page)
  const DEV_WORD = 0x0c000001; // PG_reserved, ZONE_DEVICE, refcount 1 (a free device page)
  // the machine's layout (2 GiB of RAM; 1 GiB of VRAM as device-private pages high in the pfn space)
  const ramWords: Uint32Array[] = [], ramRec: Int32Array[] = [];
  for (let s = 0; s < 16; s++) {
    ramWords.push(new Uint32Array(PPS).fill(RAM_WORD));
    ramRec.push(new Int32Array(PPS * REC));
  }
  const DEV_NR0 = 524280, DEV_PFN0 = DEV_NR0 * PPS; // the model's first VRAM pfn
  const devWords: Uint32Array[] = [], devRec: Int32Array[] = [];
  const devPgmapType = new Int32Array(8).fill(DEVICE_PRIVATE); // page->pgmap->type, per section
  for (let s = 0; s < 8; s++) {
    devWords.push(new Uint32Array(PPS).fill(DEV_WORD));
    devRec.push(new Int32Array(PPS * REC));
  }
  const CHUNK_PAGES = 512, chunkPfn = DEV_PFN0, boOffset = 0; // the dmem chunk the batch allocates from
  for (let j = 0; j < CHUNK_PAGES; j++) devRec[0]![j * REC + PRIVATE] = 1; // hmm_data: chunk index + 1
  const bitmap = new Uint32Array(CHUNK_PAGES / 32);
  const CHUNK_EMPTY = 0, CHUNK_FREE = 1; // which dmem list the chunk is on
  const mappingLive = new Uint8Array(4).fill(1); // mapping objects by id (the process's anon_vma is id 1)
  const ANON = 3; // page->mapping of the process's pages: anon_vma id 1 | PAGE_MAPPING_ANON
  // the RAM allocator's free stack (LIFO), the chunk pool, VRAM's chunk directory
  const free = new Int32Array(4096);
  const zeroPfn = 4095; // my_zero_pfn (collect tests every pte against it)
  const refcnt = new Int32Array(1024), smallN = new Uint8Array(1024);
  const big: (Int32Array | undefined)[] = new Array(1024).fill(undefined);
  const freeIds = new Int32Array(1024);
  const vramLeaves: Int32Array[] = [];
  for (let l = 0; l < 64; l++) vramLeaves.push(new Int32Array(4096));
  const VRAM_PAGES = 262144;
  // the process: one VMA of two VA blocks, its pte pages; the GPU's page table block
  const BASE = 139637972533248,
    VM_START = BASE,
    VM_END = BASE + 2 * 2097152,
    PGOFF = VM_START / 4096;
  const PMD0 = Math.floor(BASE / 2097152);
  const ptePages = [new Float64Array(512), new Float64Array(512)];
  const gpt = new Float64Array(512);
  // the GPU's fault ring and the driver's batch (faults.ts), migrate_vma's arrays (svm.ts, dmem.ts)
  const CAP = 8192;
  const ringA = new Float64Array(CAP), ringW = new Uint8Array(CAP);
  const scratchA = new Float64Array(CAP), scratchW = new Uint8Array(CAP);
  const BITS = 10, HMASK = (1 << BITS) - 1, HSHIFT = 32 - BITS;
  const stamp = new Int32Array(1 << BITS), hkey = new Float64Array(1 << BITS);
  const hidx = new Int32Array(1 << BITS);
  const vpns = new Float64Array(N), acc = new Uint8Array(N), key = new Uint32Array(N);
  const idxA = new Uint16Array(N), idxB = new Uint16Array(N), cnt = new Int32Array(257);
  const addrs = new Float64Array(N), access = new Uint8Array(N);
  const src = new Float64Array(512), dst = new Float64Array(512), secs = new Int32Array(512);
  const allocAddrs = new Float64Array(N), vramPages = new Float64Array(512);
  const onePfn = new Float64Array(1);
  // scalar fields the model keeps on objects (kernel, allocator, chunk, copy engine, counters)
  const I = new Int32Array(32);
  const HEAD = 0,
    LEN = 1,
    GEN = 2,
    NPAGES = 3,
    CPAGES = 4,
    CALLOC = 5,
    FIRST_FREE = 6,
    LAST_CHUNK = 7,
    ALLOCATED = 8,
    DMA_NR = 9,
    COPIES = 10,
    CE_PAGES = 11,
    LIVE = 12,
    NFREE = 13,
    RAM_ALLOCATED = 14,
    GPT_COUNT = 15,
    MOVED = 16,
    MIGRATED = 17,
    NFREE_IDS = 18,
    NEXT_ID = 19,
    VRAM_COUNT = 20,
    NSYNC = 21,
    BATCHES = 22,
    FAULTS = 23,
    PAGES = 24,
    ARMED = 25,
    LIST = 26;
  const F = new Float64Array(8);
  const NOW = 0, BUSY = 1, LAST_NS = 2, LAST_DONE = 3, LAST_COPY_DONE = 4;
  const NS1 = 1234, WALK_NS = 180, BATCH_NS = 20000, PER_FAULT_NS = 100; // cost-model stand-ins
  I[NEXT_ID] = 1;
  for (let p = 4096 + N - 1; p >= 4096; p--) free[I[NFREE]++] = p; // fresh RAM, as in the model
  const rng = new Lcg(20181120);
  const order = new Int32Array(N);
  for (let i = 0; i < N; i++) order[i] = i;

  const batch = (): number => {
    // ---- FaultBuffer.fetch (faults.ts): the next 256 raw faults out of the ring
    const count = Math.min(N, I[LEN]!);
    const head = I[HEAD]!;
    for (let j = 0; j < count; j++) {
      const i = (head + j) & (CAP - 1);
      scratchA[j] = ringA[i]!;
      scratchW[j] = ringW[i]!;
    }
    I[HEAD] = (head + count) & (CAP - 1);
    I[LEN] = I[LEN]! - count;
    // ---- FaultBatch.fill: one entry per page (open addressing, stamped per fill), a write wins
    const gen = ++I[GEN]!;
    let n = 0, min = Infinity, max = -Infinity;
    for (let i = 0; i < count; i++) {
      const vpn = Math.floor(scratchA[i]! / 4096);
      const w = scratchW[i]! & 1;
      let h = Math.imul((vpn >>> 0) ^ ((vpn / 4294967296) | 0), 0x9e3779b1) >>> HSHIFT;
      for (;;) {
        if (stamp[h] !== gen) {
          stamp[h] = gen;
          hkey[h] = vpn;
          hidx[h] = n;
          vpns[n] = vpn;
          acc[n] = w;
          n++;
          if (vpn < min) min = vpn;
          if (vpn > max) max = vpn;
          break;
        }
        if (hkey[h] === vpn) {
          if (w) acc[hidx[h]!] = 1;
          break;
        }
        h = (h + 1) & HMASK;
      }
    }
    // ---- FaultBatch.#sort: LSD radix on vpn - min, one byte per pass
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) sorted = vpns[i - 1]! < vpns[i]!;
    if (sorted) throw new Error("the batch arrived sorted: the floor needs a shuffled batch");
    const range = max - min;
    let sa = idxA, sb = idxB;
    for (let i = 0; i < n; i++) {
      key[i] = vpns[i]! - min;
      sa[i] = i;
    }
    for (let shift = 0; shift < 32 && range >>> shift !== 0; shift += 8) {
      cnt.fill(0);
      for (let i = 0; i < n; i++) cnt[((key[sa[i]!]! >>> shift) & 255) + 1]!++;
      for (let d = 1; d <= 256; d++) cnt[d]! += cnt[d - 1]!;
      for (let i = 0; i < n; i++) {
        const j = sa[i]!;
        sb[cnt[(key[j]! >>> shift) & 255]!++] = j;
      }
      const t = sa;
      sa = sb;
      sb = t;
    }
    for (let i = 0; i < n; i++) {
      addrs[i] = vpns[sa[i]!]! * 4096;
      access[i] = acc[sa[i]!]!;
    }
    // ---- nouveau_svm_fault: the batch's clock charge and counters; find_vma; one run of pages
    F[NOW] = F[NOW]! + BATCH_NS + count * PER_FAULT_NS;
    I[BATCHES]++;
    I[FAULTS] = I[FAULTS]! + count;
    I[PAGES] = I[PAGES]! + n;
    const start = addrs[0]!;
    if (!(start >= VM_START && start < VM_END)) throw new Error("no VMA");
    const block = Math.floor(start / 2097152);
    let last = 1;
    while (
      last < n && addrs[last] === addrs[last - 1]! + 4096 && addrs[last]! < VM_END &&
      Math.floor(addrs[last]! / 2097152) === block
    ) last++;
    if (last !== n) throw new Error("the batch is not one run");
    const end = addrs[n - 1]! + 4096;
    const np = (end - start) / 4096;
    // ---- migrate_vma: src.fill(0)
    for (let i = 0; i < np; i++) src[i] = 0;
    I[NPAGES] = 0;
    I[CPAGES] = 0;
    // ---- migrate_vma_collect: chargeWalk; invalidate_range_start → nouveau_svmm_sync_cpu_device_pagetables
    F[NOW] = F[NOW]! + WALK_NS;
    I[NSYNC]++;
    const g0 = Math.floor(start / 4096) - block * 512;
    let cleared = 0;
    for (let v = g0; v < g0 + np; v++) {
      if (gpt[v] !== 0) {
        gpt[v] = 0;
        cleared++;
      }
    }
    I[GPT_COUNT] = I[GPT_COUNT]! - cleared;
    // ---- collect_pte_fast, per pte: lock, migration entry, page_remove_rmap (prepOk's checks too)
    const ptes = ptePages[block - PMD0]!;
    let prepOk = true;
    for (let i = 0; i < np; i++) {
      const addr = start + i * 4096;
      const pi = Math.floor(addr / 4096) & 511;
      const pte = ptes[pi]!;
      secs[I[NPAGES]!] = -1;
      if (pte === 0 || (pte & 0x41) === 0 || (pte & 0x10) !== 0) throw new Error("not a RAM pte");
      const page = (pte - (pte & 255)) / 256;
      if (page === zeroPfn) throw new Error("the zero page");
      let mpfn = page * 64 + 3; // VALID | MIGRATE
      if ((pte & 2) !== 0) mpfn += 8; // WRITE
      const nr = (page / PPS) | 0;
      const w = ramWords[nr]!, rec = ramRec[nr]!;
      const x = page & (PPS - 1), o = x * REC;
      const word = w[x]!;
      if (
        rec[o + MAPPING] === 0 || (word & LOCKED) !== 0 ||
        ((word << 8) >> 8) < (((word >>> 24) & 7) === ZONE_DEVICE ? 2 : 1)
      ) throw new Error("not collectable");
      I[CPAGES]++;
      w[x] = (word | LOCKED) >>> 0; // trylock_page
      mpfn += 4; // LOCKED
      ptes[pi] = (page * 32 + ((mpfn & 8) !== 0 ? 29 : 28)) * 256 + 0x80; // migration entry
      rec[o + MAPCOUNT]!--; // page_remove_rmap
      secs[I[NPAGES]!] = nr;
      if (prepOk) {
        if (rec[o + MAPCOUNT] !== 0 || (rec[o + FLAGS]! & PG_LRU) === 0) prepOk = false;
        else {
          const raw = rec[o + MAPPING]!;
          const extra = (raw & 1) === 0 && mappingLive[raw >>> 1] !== 0 ? 2 : 1;
          if (((w[x]! << 8) >> 8) - extra > 0) prepOk = false;
        }
      }
      dst[I[NPAGES]!] = 0;
      src[I[NPAGES]++] = mpfn;
    }
    // invalidate_range_end: HMM's ranges (none); collect trims end to what it filled
    if (!prepOk) throw new Error("a page needs the general prepare");
    // ---- prepareUnmapFast (migrate_vma_prepare + unmap): isolate_lru_page
    for (let i = 0; i < np; i++) {
      const sv = src[i]!;
      if ((sv & 1) === 0) continue;
      const page = (sv - (sv & 63)) / 64;
      const nr = secs[i]!;
      if (page - nr * PPS >= PPS) throw new Error("srcSection");
      const x = page & (PPS - 1);
      if (((ramWords[nr]![x]! >>> 24) & 7) === ZONE_DEVICE) continue;
      const rec = ramRec[nr]!;
      rec[x * REC + FLAGS] = rec[x * REC + FLAGS]! & ~PG_LRU & 0xff;
    }
    // ---- nouveau_dmem_migrate_alloc_and_copy, first loop: a locked device page per entry
    let npages = 0;
    for (let i = 0; i < np; i++) {
      dst[i] = 0;
      const s = src[i]!;
      if ((s & 1) === 0 || (s & 2) === 0) continue;
      // nouveau_dmem_page_alloc_locked → nouveau_dmem_pages_alloc(1): first zero bit from firstFree
      onePfn[0] = -1;
      let b = CHUNK_PAGES;
      for (let y = I[FIRST_FREE]!; y < CHUNK_PAGES;) {
        const wd = y >>> 5;
        const zeros = ~bitmap[wd]! >> (y & 31);
        if (zeros !== 0) {
          b = y + 31 - Math.clz32(zeros & -zeros);
          break;
        }
        y = (wd + 1) << 5;
      }
      if (b === CHUNK_PAGES) throw new Error("the chunk is full");
      onePfn[0] = chunkPfn + b;
      bitmap[b >>> 5] = (bitmap[b >>> 5]! | (1 << (b & 31))) >>> 0;
      I[CALLOC]++;
      let nb = CHUNK_PAGES;
      for (let y = b; y < CHUNK_PAGES;) {
        const wd = y >>> 5;
        const zeros = ~bitmap[wd]! >> (y & 31);
        if (zeros !== 0) {
          nb = y + 31 - Math.clz32(zeros & -zeros);
          break;
        }
        y = (wd + 1) << 5;
      }
      I[FIRST_FREE] = nb;
      I[LAST_CHUNK] = 0;
      if (I[LIST] === CHUNK_EMPTY) I[LIST] = CHUNK_FREE; // the model's list move (once a batch)
      const dpage = onePfn[0]!;
      // get_page + lock_page on the device page
      const dn = ((dpage / PPS) | 0) - DEV_NR0;
      const dw = devWords[dn]!, dx = dpage & (PPS - 1);
      const dword = dw[dx]!;
      dw[dx] = ((dword & ~REF_MASK) | ((((dword << 8) >> 8) + 1) & REF_MASK)) >>> 0;
      if ((dw[dx]! & LOCKED) !== 0) throw new Error("lock_page: already locked");
      dw[dx] = (dw[dx]! | LOCKED) >>> 0;
      I[ALLOCATED]++;
      // nouveau_dmem_page_addr from the chunk just used; dst = migrate_pfn | LOCKED | DEVICE
      allocAddrs[i] = (dpage - chunkPfn) * 4096 + boOffset;
      dst[i] = dpage * 64 + 21;
      npages++;
    }
    if (npages === 0) throw new Error("nothing allocated");
    // ---- alloc_and_copy, second loop: dma_map_page, nvc0b5_migrate_copy → copyHostToVram
    for (let i = 0; i < np; i++) {
      const d = dst[i]!;
      if ((d & 1) === 0 || d === 32) continue;
      const dstAddr = allocAddrs[i]!;
      vramPages[i] = dstAddr / 4096;
      const s = src[i]!;
      if ((s & 1) === 0 || (s & 2) === 0) throw new Error("no source");
      const spage = (s - (s & 63)) / 64;
      const nr = (spage / PPS) | 0, x = spage & (PPS - 1);
      if (((ramWords[nr]![x]! >>> 24) & 7) === ZONE_DEVICE) throw new Error("dma_mapping_error");
      I[DMA_NR]++;
      // the copy engine's timeline: one 4 KiB DMA queued after the previous one
      const now = F[NOW]!, busy = F[BUSY]!;
      const done = (now > busy ? now : busy) + NS1;
      F[BUSY] = done;
      F[LAST_NS] = NS1;
      F[LAST_DONE] = done;
      if (I[ARMED] !== 0) throw new Error("gpu_copy armed");
      const v = dstAddr / 4096;
      if (!(v >= 0 && v < VRAM_PAGES && Math.floor(v) === v)) throw new Error("vramPage");
      // PageStore.adoptChunk(v, pageChunk(spage)): VRAM shares the page's chunk; the stale one goes
      const id = ramRec[nr]![x * REC + CHUNK]!;
      const leaf = vramLeaves[v >>> 12]!, lx = v & 4095;
      const old = leaf[lx]!;
      if (old !== id) {
        if (id !== 0) refcnt[id]!++;
        if (old === 0 && id !== 0) I[VRAM_COUNT]++;
        else if (old !== 0 && id === 0) I[VRAM_COUNT]--;
        leaf[lx] = id;
        if (old !== 0 && --refcnt[old]! === 0) {
          big[old] = undefined;
          smallN[old] = 0;
          freeIds[I[NFREE_IDS]++] = old;
          I[LIVE]--;
        }
      }
      I[COPIES]++;
      I[CE_PAGES]++;
      F[LAST_COPY_DONE] = F[LAST_DONE]!;
    }
    // ---- migrate_vma_pages → pagesEntryFast: migrate_page's count check, copy_page_anon_state
    for (let i = 0; i < np; i++) {
      const sv = src[i]!, dv = dst[i]!;
      if ((dv & 1) === 0 || (sv & 1) === 0) throw new Error("an entry without pages");
      const page = (sv - (sv & 63)) / 64, newpage = (dv - (dv & 63)) / 64;
      const nr = secs[i]!, x = page & (PPS - 1), o = x * REC;
      const rec = ramRec[nr]!;
      const raw = rec[o + MAPPING]!;
      if (raw !== 0 && (raw & 1) === 0) throw new Error("an address_space");
      const dn = ((newpage / PPS) | 0) - DEV_NR0, dx = newpage & (PPS - 1);
      if (((ramWords[nr]![x]! >>> 24) & 7) === ZONE_DEVICE) throw new Error("a device source");
      if (
        ((devWords[dn]![dx]! >>> 24) & 7) !== ZONE_DEVICE || devPgmapType[dn] !== DEVICE_PRIVATE
      ) {
        throw new Error("not device-private");
      }
      if (((ramWords[nr]![x]! << 8) >> 8) !== 1) throw new Error("migrate_page: -EAGAIN");
      const drec = devRec[dn]!, q = dx * REC;
      drec[q + INDEX] = rec[o + INDEX]!;
      drec[q + INDEX + 1] = rec[o + INDEX + 1]!;
      drec[q + MAPPING] = raw;
      drec[q + FLAGS] =
        (drec[q + FLAGS]! | (rec[o + FLAGS]! & (PG_SWAPBACKED | PG_UPTODATE | PG_DIRTY))) &
        0xff;
    }
    // ---- nouveau_dmem_migrate_finalize_and_map: fence wait, then the GPU page table (svm.ts map)
    if (F[LAST_COPY_DONE]! > F[NOW]!) F[NOW] = F[LAST_COPY_DONE]!;
    I[DMA_NR] = 0;
    let moved = 0;
    for (let i = 0; i < np; i++) {
      const s = src[i]!, d = dst[i]!;
      if ((s & 2) === 0 || (d & 1) === 0) continue;
      moved++;
      const target = vramPages[i]!;
      if (!(target >= 0 && target < 2 ** 45 && Math.floor(target) === target)) {
        throw new Error("map");
      }
      const vpn = Math.floor((start + i * 4096) / 4096);
      const bx = vpn - Math.floor(vpn / 512) * 512;
      if (gpt[bx] === 0) I[GPT_COUNT]++;
      gpt[bx] = target * 8 + ((4 | ((s & 8) !== 0 ? 2 : 0) | 1) & 7); // DPTE_VRAM (| WRITE) | VALID
    }
    I[MOVED] = I[MOVED]! + moved;
    I[MIGRATED] = I[MIGRATED]! + moved;
    // ---- migrate_vma_finalize → finalizeEntryFast: the device-private pte, unlocks, puts, the free
    let okMapping = -1, remapped = 0;
    for (let i = 0; i < np; i++) {
      const sv = src[i]!, dv = dst[i]!;
      if ((sv & dv & 1) === 0 || (sv & 2) === 0) throw new Error("not moved");
      const page = (sv - (sv & 63)) / 64, newpage = (dv - (dv & 63)) / 64;
      const nr = secs[i]!, x = page & (PPS - 1), o = x * REC;
      const dn = ((newpage / PPS) | 0) - DEV_NR0, dx = newpage & (PPS - 1), q = dx * REC;
      const pw = ramWords[nr]!, rec = ramRec[nr]!, nw = devWords[dn]!, drec = devRec[dn]!;
      const raw = drec[q + MAPPING]!;
      if (raw !== okMapping) {
        if ((raw & 1) !== 1 || mappingLive[raw >>> 1] === 0) throw new Error("anon_vma");
        okMapping = raw;
      }
      // remove_migration_ptes: the one VMA, at vma_address(newpage)
      const address = VM_START +
        (drec[q + INDEX + 1]! * 4294967296 + (drec[q + INDEX]! >>> 0) - PGOFF) * 4096;
      if (address >= VM_START && address < VM_END) {
        const t = ptePages[Math.floor(address / 2097152) - PMD0]!;
        const j = Math.floor(address / 4096) & 511;
        const cur = t[j]!;
        if (cur !== 0 && (cur & 0x41) === 0) {
          const entry = (cur - (cur & 255)) / 256;
          const type = entry & 31;
          if ((type === 28 || type === 29) && (entry - type) / 32 === page) {
            const nword = nw[dx]!; // get_page(newpage)
            nw[dx] = ((nword & ~REF_MASK) | ((((nword << 8) >> 8) + 1) & REF_MASK)) >>> 0;
            let pte = newpage * 256 + 1; // pte_mkold(pfn_pte(newpage, vm_page_prot))
            if (type === 29 && (pte & 2) === 0) pte += 2; // maybe_mkwrite
            if (((nw[dx]! >>> 24) & 7) === ZONE_DEVICE && devPgmapType[dn] === DEVICE_PRIVATE) {
              pte = (newpage * 32 + ((pte & 2) !== 0 ? 30 : 31)) * 256 + 0x80; // device-private entry
            }
            t[j] = pte;
            drec[q + MAPCOUNT]!++; // page_add_anon_rmap
            remapped++;
          }
        }
      }
      // unlock_page(page); putback_lru_page: PG_lru, then put_page drops the last reference
      pw[x] = (pw[x]! & ~LOCKED) >>> 0;
      I[CPAGES]--;
      if (((pw[x]! >>> 24) & 7) === ZONE_DEVICE) throw new Error("a device source");
      rec[o + FLAGS] = (rec[o + FLAGS]! | PG_LRU) & 0xff;
      const pword = pw[x]!;
      const prc = ((pword << 8) >> 8) - 1;
      if (prc < 0) throw new Error("put_page below 0");
      pw[x] = ((pword & ~REF_MASK) | (prc & REF_MASK)) >>> 0;
      if (prc === 0) {
        // __put_page → freeRamPageIn → freeSmallIn: clearRecordAt (chunk put, record zeroed), pushFree
        if ((rec[o + FLAGS]! & 128) !== 0) throw new Error("a hugetlb page");
        const id = rec[o + CHUNK]!;
        if (id !== 0 && --refcnt[id]! === 0) {
          big[id] = undefined;
          smallN[id] = 0;
          freeIds[I[NFREE_IDS]++] = id;
          I[LIVE]--;
        }
        rec[o] = 0;
        rec[o + 1] = 0;
        rec[o + 2] = 0;
        rec[o + 3] = 0;
        rec[o + 4] = 0;
        rec[o + 5] = 0;
        rec[o + 6] = 0;
        rec[o + 7] = 0;
        if (I[NFREE] === free.length) throw new Error("the free stack is full");
        free[I[NFREE]++] = page;
        I[RAM_ALLOCATED]--;
      }
      // unlock_page(newpage); put_page: a managed device page above 2 drops in place
      nw[dx] = (nw[dx]! & ~LOCKED) >>> 0;
      const nword = nw[dx]!;
      const nrc = (nword << 8) >> 8;
      if (devPgmapType[dn] !== DEVICE_PRIVATE || nrc <= 2) throw new Error("page_free would run");
      nw[dx] = ((nword & ~REF_MASK) | ((nrc - 1) & REF_MASK)) >>> 0;
    }
    // ---- svmFaultRun: every page is now mapped on the GPU for its access (mappedFor)
    for (let i = 0; i < n; i++) {
      const r = gpt[Math.floor(addrs[i]! / 4096) - block * 512]!;
      if (r === 0 || (access[i] === 1 && (r & 2) === 0)) {
        throw new Error("unmapped after migration");
      }
    }
    return moved + remapped;
  };
  // the case's prepare, untimed: a CPU store to each page brings it back to RAM (nouveau_dmem_fault:
  // a page off the free stack, a new chunk with the tag; the device page freed, its GPU entry
  // invalidated), then the next 256 faults are raised in a fresh seeded order
  const undo = (): void => {
    const ptes = ptePages[0]!;
    for (let i = 0; i < N; i++) {
      const addr = BASE + i * 4096;
      const pte = ptes[i]!;
      if (pte !== 0) {
        const entry = (pte - (pte & 255)) / 256;
        const dpage = (entry - (entry & 31)) / 32;
        const dn = ((dpage / PPS) | 0) - DEV_NR0, dx = dpage & (PPS - 1);
        devWords[dn]![dx] = DEV_WORD;
        devRec[dn]![dx * REC + MAPCOUNT] = 0;
        const b = dpage - chunkPfn;
        bitmap[b >>> 5] = (bitmap[b >>> 5]! & ~(1 << (b & 31))) >>> 0;
        if (b < I[FIRST_FREE]!) I[FIRST_FREE] = b;
        if (--I[CALLOC]! === 0) I[LIST] = CHUNK_EMPTY;
        if (gpt[i] !== 0) I[GPT_COUNT]--;
        gpt[i] = 0;
      }
      const page = free[--I[NFREE]!]!;
      const nr = (page / PPS) | 0, x = page & (PPS - 1), o = x * REC;
      ramWords[nr]![x] = RAM_WORD + 1;
      const id = I[NFREE_IDS]! > 0 ? freeIds[--I[NFREE_IDS]!]! : I[NEXT_ID]++;
      refcnt[id] = 1;
      smallN[id] = 1;
      I[LIVE]++;
      const rec = ramRec[nr]!, vpn = addr / 4096, hi = Math.floor(vpn / 4294967296);
      rec[o + MAPCOUNT] = 1;
      rec[o + MAPPING] = ANON;
      rec[o + FLAGS] = PG_UPTODATE | PG_LRU | PG_SWAPBACKED;
      rec[o + CHUNK] = id;
      rec[o + INDEX] = vpn - hi * 4294967296;
      rec[o + INDEX + 1] = hi;
      I[RAM_ALLOCATED]++;
      ptes[i] = page * 256 + 3; // present | rw
    }
    shuffle(order, rng);
    for (let j = 0; j < N; j++) {
      const i = order[j]!, r = (I[HEAD]! + I[LEN]!) & (CAP - 1);
      ringA[r] = BASE + i * 4096 + (j & 7) * 8;
      ringW[r] = i & 1;
      I[LEN]++;
    }
  };
  // what the case's check verifies, and the floor's own bookkeeping: every page moved to VRAM page
  // i of the chunk, mapped on the GPU, its RAM page freed with its record zeroed
  const check = (): void => {
    const ptes = ptePages[0]!;
    for (let i = 0; i < N; i++) {
      const dpage = chunkPfn + i;
      if (ptes[i] !== (dpage * 32 + 30) * 256 + 0x80) throw new Error(`pte ${i} is ${ptes[i]}`);
      if (gpt[i] !== i * 8 + 7) throw new Error(`GPU entry ${i} is ${gpt[i]}`);
      if (devWords[0]![i] !== DEV_WORD + 1 || devRec[0]![i * REC + MAPCOUNT] !== 1) {
        throw new Error(`device page ${i} is not mapped once`);
      }
      if (refcnt[vramLeaves[0]![i]!] !== 1) {
        throw new Error(`VRAM page ${i} does not own its chunk`);
      }
      const page = free[i]!, x = page & (PPS - 1);
      if (
        ramWords[(page / PPS) | 0]![x] !== RAM_WORD ||
        ramRec[(page / PPS) | 0]![x * REC + CHUNK] !== 0
      ) {
        throw new Error(`RAM page ${page} was not freed`);
      }
    }
    if (I[NFREE] !== N || I[LIVE] !== N || I[CALLOC] !== N || I[GPT_COUNT] !== N) {
      throw new Error(`counters: ${I.subarray(0, 26).join(",")}`);
    }
  };
  undo();
  return { batch, undo, check };
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
{
  const { batch, undo, check } = gpuBatch();
  Deno.bench({
    name: "floor-gpu-batch",
    group: "floor-gpu",
    fn: (b) => {
      b.start();
      const touched = batch();
      b.end();
      check();
      undo();
      if (touched !== 512) throw new Error(`the floor batch moved and remapped ${touched} of 512`);
    },
  });
}
