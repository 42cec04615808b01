/**
 * The general-purpose special-memory allocator (lib/genalloc.c,
 * include/linux/genalloc.h): a pool of chunks, each a range of addresses with
 * one bitmap bit per 2^min_alloc_order bytes, first-fit allocation. p2pdma
 * hands its BARs to one pool per device.
 *
 * Facts the model keeps (v4.20, v5.0, v5.2):
 * - gen_pool_add_virt puts the new chunk at the *head* of the list
 *   (list_add_rcu), so allocations come from the chunk added last first.
 * - the "phys" of a chunk is whatever the caller stored: p2pdma stores the
 *   PCI bus address, so gen_pool_virt_to_phys returns a bus address.
 * - gen_pool_free of an address in no chunk is BUG(); freeing bits that are
 *   not set is BUG_ON(remain); destroying a pool with bits still set is
 *   BUG_ON(bit < end_bit) in gen_pool_destroy.
 * - genalloc-chunk-owners (795ee30648c7, v5.2): each chunk carries an owner
 *   pointer, returned by gen_pool_alloc_owner / gen_pool_free_owner;
 *   gen_pool_add_virt, gen_pool_alloc and gen_pool_free become inline
 *   wrappers with a NULL owner (so they stop being exported).
 *
 * Virtual addresses are `unsigned long` kernel addresses: bigint here (the
 * direct map does not fit a Number); 0n is NULL. Physical (bus) addresses
 * and sizes are Numbers; gen_pool_virt_to_phys's "-1" is -1.
 *
 * Fault points: "gen_pool_add_virt" (the chunk allocation fails: -ENOMEM, for
 * gen_pool_add_owner too) and "gen_pool_alloc" (no space: returns 0). They
 * are registered with the subsystem state ({@link genalloc_init}).
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "./kernel.ts";
import { ENOMEM } from "./errno.ts";
import { kzalloc } from "./devres.ts";
import { rcu_read_lock, rcu_read_unlock } from "./sched.ts";

/** The fault points of lib/genalloc.c: name → what fails and what the caller sees. */
export const GENALLOC_FAULT_POINTS: ReadonlyArray<readonly [string, string]> = [
  [
    "gen_pool_add_virt",
    "the chunk allocation (kzalloc_node, vzalloc_node from v5.0) fails: gen_pool_add_virt / gen_pool_add_owner return -ENOMEM",
  ],
  ["gen_pool_alloc", "no free area is found: gen_pool_alloc / gen_pool_alloc_owner return 0"],
];

/** Per-kernel genalloc bookkeeping (ids for traces; use-after-free records). */
export interface GenallocState {
  /** Uses of a pool after gen_pool_destroy freed it, in order ("gen_pool_free: pool 3 used after gen_pool_destroy"). */
  readonly useAfterFree: string[];
}

/** The genalloc state of a kernel; creating it registers the fault points. */
export const GENALLOC: SubsystemKey<GenallocState> = {
  name: "genalloc",
  create(k: Kernel): GenallocState {
    for (const [n, d] of GENALLOC_FAULT_POINTS) k.faults.register(n, d);
    return { useAfterFree: [] };
  },
};

/** Registers the genalloc fault points (idempotent): call before arming them. */
export function genalloc_init(k: Kernel): GenallocState {
  return k.state(GENALLOC);
}

/** `void **owner`: an out-parameter a chunk's owner is written to (NULL when none). */
export interface OwnerOut<T = unknown> {
  /** The owner, or null. */
  value: T | null;
}

/** struct gen_pool_chunk. */
export class GenPoolChunk {
  /** Free bytes (atomic_long_t avail). */
  avail: number;
  /** One bit per 2^min_alloc_order bytes, set = allocated. */
  readonly bits: Uint32Array;
  /** The chunk's owner (genalloc-chunk-owners), else null. */
  owner: unknown = null;

  /**
   * Creates a chunk (kzalloc'ed by gen_pool_add_owner).
   * @param phys_addr the "physical" address the caller stored for start_addr.
   * @param start_addr first virtual address.
   * @param end_addr last virtual address (inclusive).
   * @param nbits bitmap size.
   */
  constructor(
    readonly phys_addr: number,
    readonly start_addr: bigint,
    readonly end_addr: bigint,
    readonly nbits: number,
  ) {
    this.avail = Number(end_addr - start_addr + 1n);
    this.bits = new Uint32Array(Math.ceil(nbits / 32));
  }
}

/** struct gen_pool. */
export class GenPool {
  /** Chunks, head of the list first (the chunk added last). */
  readonly chunks: GenPoolChunk[] = [];
  /** Simulator id for traces. */
  readonly id: number;
  /** pool->name (devm pools), else null. */
  name: string | null = null;
  /** Set by gen_pool_destroy (the kfree): any later use is a use-after-free. */
  freed = false;

  /**
   * Creates a pool (gen_pool_create is the kernel way).
   * @param id simulator id.
   * @param min_alloc_order log2 of the bytes one bit stands for.
   * @param nid NUMA node (recorded only).
   */
  constructor(id: number, readonly min_alloc_order: number, readonly nid: number) {
    this.id = id;
  }
}

function emit(
  k: Kernel,
  op: "create" | "add" | "alloc" | "free" | "destroy",
  pool: GenPool,
  phys: number,
  size: number,
): void {
  k.trace.emit({ kind: "gen_pool", op, pool: pool.id, phys, size });
}

function checkFreed(k: Kernel, pool: GenPool, fn: string): void {
  if (pool.freed) {
    k.state(GENALLOC).useAfterFree.push(`${fn}: pool ${pool.id} used after gen_pool_destroy`);
  }
}

/** chunk_size(chunk): end_addr - start_addr + 1, in bytes. */
function chunk_size(chunk: GenPoolChunk): number {
  return Number(chunk.end_addr - chunk.start_addr + 1n);
}

function testBit(map: Uint32Array, i: number): boolean {
  return (map[i >>> 5]! & (1 << (i & 31))) !== 0;
}

/** find_next_bit(map, size, offset) for bit value `want`. */
function findNext(map: Uint32Array, size: number, offset: number, want: boolean): number {
  for (let i = offset; i < size;) {
    const w = map[i >>> 5]!;
    if ((i & 31) === 0 && w === (want ? 0 : 0xffffffff)) {
      i += 32; // a whole word without the value
      continue;
    }
    if (testBit(map, i) === want) return i;
    i++;
  }
  return size;
}

/**
 * bitmap_find_next_zero_area(map, size, start, nr, 0): the first index ≥
 * start of `nr` clear bits; an index past `size - nr` means none.
 */
function bitmap_find_next_zero_area(
  map: Uint32Array,
  size: number,
  start: number,
  nr: number,
): number {
  for (;;) {
    const index = findNext(map, size, start, false);
    const end = index + nr;
    if (end > size) return end;
    const i = findNext(map, end, index, true);
    if (i < end) {
      start = i + 1;
      continue;
    }
    return index;
  }
}

/**
 * bitmap_set_ll / bitmap_clear_ll: set or clear `nr` bits from `start`, word
 * by word; a word where some bit already has the target value stops the walk
 * and the bits still to do are returned (0 = all done).
 */
function bitmapLl(map: Uint32Array, start: number, nr: number, set: boolean): number {
  let i = start;
  const end = start + nr;
  while (i < end) {
    const w = i >>> 5;
    const lo = i & 31;
    const hi = Math.min(32, lo + (end - i));
    const mask = hi - lo === 32 ? 0xffffffff : (((1 << (hi - lo)) - 1) << lo) >>> 0;
    const cur = map[w]!;
    if (set ? (cur & mask) !== 0 : ((cur & mask) >>> 0) !== mask) return end - i;
    map[w] = set ? (cur | mask) >>> 0 : (cur & ~mask) >>> 0;
    i += hi - lo;
  }
  return 0;
}

/** The line of each BUG site in lib/genalloc.c of the release being modelled. */
function bugSite(k: Kernel, site: "destroy" | "free_range" | "free_remain" | "free_none"): string {
  const v420 = k.release === "4.20.0";
  const v52 = k.release === "5.2.0";
  const line = {
    destroy: v420 ? 252 : 253,
    free_range: v420 ? 388 : v52 ? 384 : 389,
    free_remain: v420 ? 391 : v52 ? 387 : 392,
    free_none: v420 ? 399 : v52 ? 397 : 400,
  }[site];
  return `lib/genalloc.c:${line}`;
}

/**
 * gen_pool_create(min_alloc_order, nid) (lib/genalloc.c): an empty pool with
 * the first-fit algorithm, or NULL when kmalloc_node fails (fault point
 * "kmalloc").
 *
 * @example Two chunks; the one added last is allocated from first
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { gen_pool_add_virt, gen_pool_alloc, gen_pool_avail, gen_pool_create, gen_pool_size } from "./genalloc.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel();
 * const pool = gen_pool_create(k, 12, -1)!;
 * assertEquals(gen_pool_add_virt(k, pool, 0x10000n, 0x1000_0000, 0x4000, -1), 0);
 * assertEquals(gen_pool_add_virt(k, pool, 0x20000n, 0x2000_0000, 0x4000, -1), 0);
 * assertEquals(gen_pool_alloc(k, pool, 100), 0x20000n); // rounded up to one 4 KiB bit
 * assertEquals([gen_pool_size(k, pool), gen_pool_avail(k, pool)], [0x8000, 0x7000]);
 * ```
 */
export function gen_pool_create(k: Kernel, min_alloc_order: number, nid: number): GenPool | null {
  if (!(Number.isInteger(min_alloc_order) && min_alloc_order >= 0 && min_alloc_order < 31)) {
    throw new RangeError(
      `Cannot create a gen_pool: min_alloc_order must be an integer 0..30, got ${min_alloc_order}`,
    );
  }
  genalloc_init(k);
  const pool = kzalloc(k, () => new GenPool(k.newId(), min_alloc_order, nid));
  if (pool !== null && k.trace.on) emit(k, "create", pool, 0, 0);
  return pool;
}

/** The shared body of gen_pool_add_virt (v4.20) and gen_pool_add_owner (v5.2). */
function addChunk(
  k: Kernel,
  pool: GenPool,
  virt: bigint,
  phys: number,
  size: number,
  owner: unknown,
  fn: string,
): number {
  if (typeof virt !== "bigint" || !Number.isSafeInteger(size) || size < 0) {
    throw new TypeError(`Cannot call ${fn}: virt must be a bigint address and size a byte count`);
  }
  checkFreed(k, pool, fn);
  genalloc_init(k);
  const nbits = Math.floor(size / 2 ** pool.min_alloc_order);
  // the chunk header and bitmap come from kzalloc_node (vzalloc_node from v5.0)
  if (k.faults.shouldFail("gen_pool_add_virt")) return -ENOMEM;
  const chunk = new GenPoolChunk(phys, virt, virt + BigInt(size) - 1n, nbits);
  chunk.owner = owner;
  pool.chunks.unshift(chunk); // list_add_rcu: the new chunk goes first
  if (k.trace.on) emit(k, "add", pool, phys, size);
  return 0;
}

/**
 * gen_pool_add_virt(pool, virt, phys, size, nid) (lib/genalloc.c): adds a
 * chunk [virt, virt + size) whose "physical" address is `phys`, at the head
 * of the list. 0, or -ENOMEM when the chunk cannot be allocated (fault point
 * "gen_pool_add_virt"). With genalloc-chunk-owners it is the inline
 * gen_pool_add_owner(..., NULL).
 */
export function gen_pool_add_virt(
  k: Kernel,
  pool: GenPool,
  virt: bigint,
  phys: number,
  size: number,
  nid: number,
): number {
  // genalloc-chunk-owners: gen_pool_add_virt becomes gen_pool_add_owner with a NULL owner
  if (k.fixed("genalloc-chunk-owners")) {
    return gen_pool_add_owner(k, pool, virt, phys, size, nid, null);
  }
  return addChunk(k, pool, virt, phys, size, null, "gen_pool_add_virt");
}

/** gen_pool_add(pool, addr, size, nid): gen_pool_add_virt with phys = -1. */
export function gen_pool_add(
  k: Kernel,
  pool: GenPool,
  addr: bigint,
  size: number,
  nid: number,
): number {
  return gen_pool_add_virt(k, pool, addr, -1, size, nid);
}

function requireOwners(k: Kernel, fn: string): void {
  if (!k.fixed("genalloc-chunk-owners")) {
    throw new RangeError(
      `Cannot call ${fn} at ${k.series.label}: it exists only with the follow-up "genalloc-chunk-owners" (preset v5.2)`,
    );
  }
}

/**
 * gen_pool_add_owner(pool, virt, phys, size, nid, owner) (lib/genalloc.c,
 * genalloc-chunk-owners, v5.2): gen_pool_add_virt that also records `owner`
 * in the chunk. A RangeError at a level without the follow-up.
 */
export function gen_pool_add_owner(
  k: Kernel,
  pool: GenPool,
  virt: bigint,
  phys: number,
  size: number,
  _nid: number,
  owner: unknown,
): number {
  requireOwners(k, "gen_pool_add_owner");
  return addChunk(k, pool, virt, phys, size, owner, "gen_pool_add_owner");
}

/**
 * gen_pool_virt_to_phys(pool, addr) (lib/genalloc.c): the stored "physical"
 * address of `addr` (chunk phys + offset), or -1 if no chunk holds it.
 * Runs under rcu_read_lock.
 */
export function gen_pool_virt_to_phys(k: Kernel, pool: GenPool, addr: bigint): number {
  checkFreed(k, pool, "gen_pool_virt_to_phys");
  let paddr = -1;
  rcu_read_lock(k);
  for (const chunk of pool.chunks) {
    if (addr >= chunk.start_addr && addr <= chunk.end_addr) {
      paddr = chunk.phys_addr + Number(addr - chunk.start_addr);
      break;
    }
  }
  rcu_read_unlock(k);
  return paddr;
}

/**
 * gen_pool_destroy(pool) (lib/genalloc.c): frees every chunk and the pool.
 * A chunk with any bit still set — memory still allocated — is
 * BUG_ON(bit < end_bit): an Oops in the caller ("kernel BUG at
 * lib/genalloc.c:<line>!"); that chunk is already unlinked, the rest and the
 * pool stay.
 */
export function gen_pool_destroy(k: Kernel, pool: GenPool): void {
  checkFreed(k, pool, "gen_pool_destroy");
  while (pool.chunks.length > 0) {
    const chunk = pool.chunks[0]!;
    pool.chunks.shift(); // list_del
    const end_bit = Math.floor(chunk_size(chunk) / 2 ** pool.min_alloc_order);
    const bit = findNext(chunk.bits, end_bit, 0, true);
    // the chunk is already off the list when the BUG fires; the pool is never freed
    if (bit < end_bit) k.BUG(bugSite(k, "destroy")); // BUG_ON
  }
  pool.freed = true;
  if (k.trace.on) emit(k, "destroy", pool, 0, 0);
}

/** The shared body of gen_pool_alloc (v4.20) and gen_pool_alloc_algo_owner (v5.2). */
function allocFirstFit(k: Kernel, pool: GenPool, size: number, owner: OwnerOut | null): bigint {
  checkFreed(k, pool, "gen_pool_alloc");
  if (owner !== null) owner.value = null;
  if (size === 0) return 0n;
  genalloc_init(k);
  if (k.faults.shouldFail("gen_pool_alloc")) return 0n;
  const order = pool.min_alloc_order;
  const nbits = Math.ceil(size / 2 ** order);
  let addr = 0n;
  rcu_read_lock(k);
  for (const chunk of pool.chunks) {
    if (size > chunk.avail) continue;
    const end_bit = Math.floor(chunk_size(chunk) / 2 ** order);
    const start_bit = bitmap_find_next_zero_area(chunk.bits, end_bit, 0, nbits);
    if (start_bit >= end_bit) continue;
    bitmapLl(chunk.bits, start_bit, nbits, true); // no concurrent setter in the model: never fails
    addr = chunk.start_addr + BigInt(start_bit) * BigInt(2 ** order);
    chunk.avail -= nbits * 2 ** order;
    if (owner !== null) owner.value = chunk.owner;
    if (k.trace.on) {
      emit(k, "alloc", pool, chunk.phys_addr + start_bit * 2 ** order, nbits * 2 ** order);
    }
    break;
  }
  rcu_read_unlock(k);
  return addr;
}

/**
 * gen_pool_alloc(pool, size) (lib/genalloc.c): first fit over the chunks in
 * list order (the chunk added last first), `size` rounded up to whole
 * 2^min_alloc_order units. The address, or 0n (size 0, no room, fault point
 * "gen_pool_alloc"). With genalloc-chunk-owners it is the inline
 * gen_pool_alloc_algo_owner(..., NULL).
 */
export function gen_pool_alloc(k: Kernel, pool: GenPool, size: number): bigint {
  return allocFirstFit(k, pool, size, null);
}

/**
 * gen_pool_alloc_owner(pool, size, owner) (include/linux/genalloc.h,
 * genalloc-chunk-owners, v5.2): gen_pool_alloc that writes the owning
 * chunk's owner to `owner` (NULL on failure). A RangeError without the follow-up.
 */
export function gen_pool_alloc_owner(
  k: Kernel,
  pool: GenPool,
  size: number,
  owner: OwnerOut,
): bigint {
  requireOwners(k, "gen_pool_alloc_owner");
  return allocFirstFit(k, pool, size, owner);
}

/** The shared body of gen_pool_free (v4.20) and gen_pool_free_owner (v5.2). */
function freeRange(
  k: Kernel,
  pool: GenPool,
  addr: bigint,
  size: number,
  owner: OwnerOut | null,
): void {
  checkFreed(k, pool, "gen_pool_free");
  const order = pool.min_alloc_order;
  const nbits = Math.ceil(size / 2 ** order);
  if (owner !== null) owner.value = null;
  rcu_read_lock(k);
  for (const chunk of pool.chunks) {
    if (addr >= chunk.start_addr && addr <= chunk.end_addr) {
      if (addr + BigInt(size) - 1n > chunk.end_addr) k.BUG(bugSite(k, "free_range")); // BUG_ON
      const start_bit = Number(addr - chunk.start_addr) / 2 ** order;
      const remain = bitmapLl(chunk.bits, Math.floor(start_bit), nbits, false);
      if (remain !== 0) k.BUG(bugSite(k, "free_remain")); // BUG_ON
      chunk.avail += nbits * 2 ** order;
      if (owner !== null) owner.value = chunk.owner;
      rcu_read_unlock(k);
      if (k.trace.on) {
        emit(
          k,
          "free",
          pool,
          chunk.phys_addr + Math.floor(start_bit) * 2 ** order,
          nbits * 2 ** order,
        );
      }
      return;
    }
  }
  rcu_read_unlock(k);
  k.BUG(bugSite(k, "free_none"));
}

/**
 * gen_pool_free(pool, addr, size) (lib/genalloc.c): clears the bits of
 * [addr, addr + size). BUG() if no chunk holds `addr`, BUG_ON if the range
 * runs past the chunk or any of its bits was not allocated (a double free).
 */
export function gen_pool_free(k: Kernel, pool: GenPool, addr: bigint, size: number): void {
  freeRange(k, pool, addr, size, null);
}

/**
 * gen_pool_free_owner(pool, addr, size, owner) (lib/genalloc.c,
 * genalloc-chunk-owners, v5.2): gen_pool_free that writes the chunk's owner
 * to `owner`. A RangeError without the follow-up.
 */
export function gen_pool_free_owner(
  k: Kernel,
  pool: GenPool,
  addr: bigint,
  size: number,
  owner: OwnerOut,
): void {
  requireOwners(k, "gen_pool_free_owner");
  freeRange(k, pool, addr, size, owner);
}

/** gen_pool_avail(pool) (lib/genalloc.c, EXPORT_SYMBOL_GPL): free bytes over all chunks. */
export function gen_pool_avail(k: Kernel, pool: GenPool): number {
  checkFreed(k, pool, "gen_pool_avail");
  let avail = 0;
  for (const chunk of pool.chunks) avail += chunk.avail;
  return avail;
}

/** gen_pool_size(pool) (lib/genalloc.c, EXPORT_SYMBOL_GPL): bytes managed over all chunks. */
export function gen_pool_size(k: Kernel, pool: GenPool): number {
  checkFreed(k, pool, "gen_pool_size");
  let size = 0;
  for (const chunk of pool.chunks) size += chunk_size(chunk);
  return size;
}

/** addr_in_gen_pool(pool, start, size) (lib/genalloc.c): whether one chunk holds the whole range. */
export function addr_in_gen_pool(k: Kernel, pool: GenPool, start: bigint, size: number): boolean {
  checkFreed(k, pool, "addr_in_gen_pool");
  const end = start + BigInt(size) - 1n;
  for (const chunk of pool.chunks) {
    if (start >= chunk.start_addr && start <= chunk.end_addr && end <= chunk.end_addr) return true;
  }
  return false;
}
