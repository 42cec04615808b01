/**
 * The XArray (lib/xarray.c, include/linux/xarray.h, v4.20), with multi-index
 * entries (CONFIG_XARRAY_MULTI) as kernel/memremap.c uses them for
 * `pgmap_array`: every pfn of a pgmap's range maps to the pgmap, stored with
 * one `xa_store_range`.
 *
 * The model keeps the kernel's shape: 64-slot nodes (XA_CHUNK_SHIFT 6), each
 * with a shift, a count and a parent; a multi-index entry is a canonical slot
 * followed by sibling slots in one node. `xa_store_range` cuts [first, last]
 * into the same aligned pieces as the kernel (xas_set_range) and stores each
 * piece as xas_store would, so the v4.20 behaviours come out as they are:
 *
 * - Storing into any index of an existing multi-index entry of a larger order
 *   (xa_store, or a piece of xa_store_range that lands inside it) replaces
 *   the whole entry — every index it covered now returns the new entry, also
 *   those outside the stored range. v4.20 cannot split a multi-index entry.
 * - `xa_erase(index)` on a multi-index entry erases the whole entry (one
 *   piece of an xa_store_range, not the whole range).
 * - `xa_store_range(..., NULL)` erases every piece touching the range.
 * - A piece starting on a sibling slot of an entry at its own level is
 *   redirected to that entry's canonical slot and covers only as many slots
 *   as it asked for from there, so part of the requested range may stay
 *   unstored.
 * - Pieces of different alignment that overlap at the same level can leave a
 *   sibling slot pointing at another sibling; v4.20 xa_load then returns that
 *   internal entry to its caller, which dereferences it. The model turns that
 *   load into an Oops (see {@link xa_load}).
 *
 * None of these arise while ranges go into empty space and are erased whole
 * (pgmap_array's normal use). Loads read a sorted index of the runs the
 * tree resolves to, kept in step by every store (see {@link xa_load}); the
 * tests check it against a walk of the tree.
 *
 * Indices are non-negative safe integers (pfns, up to 2^53 - 1). The data
 * structure does not advance simulated time; callers charge it from
 * {@link xa_levels} (loads) and {@link XArray.nodesTouched} (stores).
 *
 * @module
 */
import { OopsSignal } from "../sim/sched.ts";
import { EINVAL, ENOMEM } from "./errno.ts";
import type { Kernel } from "./kernel.ts";
import { WARN_ON_ONCE } from "./printk.ts";

/** log2 of the slots per node (CONFIG_BASE_SMALL = 0). */
export const XA_CHUNK_SHIFT = 6;
/** Slots per node. */
export const XA_CHUNK_SIZE = 64;
const XA_CHUNK_MASK = 63;

/** struct xa_node. */
class XaNode {
  /** Bits of the index below this node's slots. */
  readonly shift: number;
  /** 2^-shift, so an offset is `(index * inv) & 63` without 32-bit truncation. */
  readonly inv: number;
  /** The largest index the subtree could hold if it were the head (64 << shift) - 1. */
  readonly maxIndex: number;
  /** Slot in the parent. */
  offset: number;
  /** Non-null slots (canonical and sibling). */
  count = 0;
  /** Parent, or null for the head node. */
  parent: XaNode | null;
  /** The 64 slots: null, an entry, a child node or a sibling marker. */
  readonly slots: unknown[];

  constructor(shift: number, parent: XaNode | null, offset: number) {
    this.shift = shift;
    this.inv = 2 ** -shift;
    this.maxIndex = XA_CHUNK_SIZE * 2 ** shift - 1;
    this.parent = parent;
    this.offset = offset;
    const slots: unknown[] = [];
    for (let i = 0; i < XA_CHUNK_SIZE; i++) slots.push(null); // packed, not holey
    this.slots = slots;
  }
}

/** A sibling slot: xa_mk_sibling(offset) — the index lives in the canonical slot `offset`. */
class XaSibling {
  constructor(readonly offset: number) {}
}
const SIBLINGS: readonly XaSibling[] = Array.from(
  { length: XA_CHUNK_SIZE },
  (_, i) => new XaSibling(i),
);

/**
 * An XArray error entry: what `XA_ERROR(-errno)` encodes. XArray functions
 * return one where the kernel returns `xa_err(-errno)`; test with
 * {@link xa_is_err} / {@link xa_err}. It is not an ERR_PTR.
 */
export class XaError {
  private constructor(readonly err: number) {}
  static readonly #cache = new Map<number, XaError>();
  /** @internal XA_ERROR(errno), one shared instance per errno. */
  static of(err: number): XaError {
    let e = XaError.#cache.get(err);
    if (e === undefined) XaError.#cache.set(err, e = new XaError(err));
    return e;
  }
  /** "XA_ERROR(-12)". */
  toString(): string {
    return `XA_ERROR(${this.err})`;
  }
}

/** XA_ERROR(errno): the error entry for a negative errno. */
export function XA_ERROR(err: number): XaError {
  return XaError.of(err);
}

/** xa_is_err(entry): whether an XArray result encodes an error. */
export function xa_is_err(entry: unknown): entry is XaError {
  return entry instanceof XaError;
}

/** xa_err(entry): the negative errno of an error entry, else 0. */
export function xa_err(entry: unknown): number {
  return entry instanceof XaError ? entry.err : 0;
}

function isInternal(entry: unknown): boolean {
  return entry instanceof XaError || entry instanceof XaSibling || entry instanceof XaNode;
}

/** A multi-index entry as the tree holds it: the indices it covers and its value. */
export interface XaEntry<T> {
  /** First index. */
  first: number;
  /** Last index (inclusive). */
  last: number;
  /** The entry. */
  entry: T;
}

/**
 * struct xarray (DEFINE_XARRAY): an empty array of entries of type `T`.
 * NULL is `null` and is never an entry.
 */
export class XArray<T> {
  /**
   * @internal The read side's bucket table (Lookup.direct), kept on the
   * XArray itself beside its offset, span and scale so that a load reads one
   * object before the table; null until the next load after a store.
   */
  direct: unknown[] | null = null;
  /** @internal Lookup.lo of the current read side. */
  directLo = 0;
  /** @internal Lookup.span of the current read side. */
  directSpan = 0;
  /** @internal Lookup.inv of the current read side. */
  directInv = 1;
  /** @internal xa_head: null, an entry (index 0 only) or the top node. */
  head: unknown = null;
  /** Nodes currently allocated. */
  nodes = 0;
  /** Nodes visited, allocated or freed by stores and erases so far (a cost counter). */
  nodesTouched = 0;
  /** @internal load index: first index of each run of equal loads, ascending. */
  starts: number[] = [];
  /** @internal load index: last index of each run. */
  ends: number[] = [];
  /** @internal load index: the entry of each run (or the corruption marker). */
  vals: unknown[] = [];
  /** @internal the bucketed read side of the load index; null until the next load after a store. */
  lookup: Lookup | null = null;
  /** @internal lowest index a store of the current operation may have changed. */
  dirtyLo = Infinity;
  /** @internal highest index a store of the current operation may have changed. */
  dirtyHi = -1;

  /** Levels of nodes below the head (0 when empty or holding only index 0). */
  get height(): number {
    const h = this.head;
    return h instanceof XaNode ? h.shift / XA_CHUNK_SHIFT + 1 : 0;
  }
}

/**
 * xa_load(xa, index) (lib/xarray.c): the entry at `index`, or null. The hot
 * path, no allocation. `index` must be a non-negative safe integer (not
 * checked here).
 *
 * The answer is the tree's, but it is read from a load index the stores keep
 * in step with the tree (the runs of equal loads, sorted, with a table of
 * aligned power-of-two buckets over the index span, rebuilt on the first load
 * after a store): a 64-way walk over thousands of nodes misses the host's
 * caches at every level. A bucket inside one run or one gap answers at once
 * (with ranges of whole sections every bucket does); a bucket with a run
 * boundary inside it is searched. {@link xa_levels} gives the walk the kernel
 * would do, for the cost model.
 *
 * If the slot holds a sibling marker whose canonical slot is itself a
 * sibling (left by overlapping multi-index stores, see the module doc), v4.20
 * hands the internal entry to the caller, which dereferences it; the model
 * raises an Oops there.
 *
 * @example
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { XArray, xa_load, xa_store_range } from "./xarray.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * const xa = new XArray<string>();
 * assertEquals(xa_store_range(k, xa, 0x100000, 0x13ffff, "pgmap A", 0), null);
 * assertEquals([xa_load(xa, 0x100000), xa_load(xa, 0x13ffff), xa_load(xa, 0x140000)], ["pgmap A", "pgmap A", null]);
 * ```
 */
export function xa_load<T>(xa: XArray<T>, index: number): T | null {
  let direct = xa.direct;
  if (direct === null) direct = buildLookup(xa).direct;
  const off = index - xa.directLo;
  if (off < 0 || off >= xa.directSpan) return null;
  const v = direct[(off * xa.directInv) | 0];
  if (v !== MIXED_BUCKET) return v as T | null;
  return searchLoad(xa, xa.lookup!, index, off);
}

/** xa_load in a bucket that holds more than one run, or part of one: a search of the runs. */
function searchLoad<T>(xa: XArray<T>, L: Lookup, index: number, off: number): T | null {
  const b = (off * L.inv) | 0;
  let r = L.bucket[b]!;
  const ends = L.ends;
  const e = L.bucket[b + 1]!;
  if (e - r > 8) {
    for (let n = e - r; n > 0;) {
      const half = n >>> 1;
      if (ends[r + half]! < index) {
        r += half + 1;
        n -= half + 1;
      } else n = half;
    }
  } else {
    while (ends[r]! < index) r++;
  }
  if (L.starts[r]! > index) return null;
  const v = L.vals[r];
  if (v === CORRUPT) xaWalkLoad(xa, index);
  return v as T;
}

/** `direct[b]` of a bucket that needs a search (runs start or end inside it, or a corrupt run). */
const MIXED_BUCKET: unique symbol = Symbol("xa_mixed_bucket");
/** At most this many buckets. */
const MAX_BUCKETS = 1 << 16;

/**
 * The read side of the load index: runs in typed arrays plus a bucket table
 * over the span. Buckets are aligned power-of-two blocks of indices; where
 * every run boundary is aligned to the bucket size (pgmaps of whole sections)
 * each bucket lies inside one run or in a gap, and a load is one table read.
 */
class Lookup {
  constructor(
    /** First index of the first bucket (a multiple of the bucket size). */
    readonly lo: number,
    /** Indices covered by the buckets (0 when empty). */
    readonly span: number,
    /** 2^-bucketShift. */
    readonly inv: number,
    /**
     * direct[b]: the entry of the run covering all of bucket b, null when no
     * run touches it, or MIXED_BUCKET.
     */
    readonly direct: unknown[],
    /** bucket[b]: the first run ending at or after the start of bucket b. */
    readonly bucket: Int32Array,
    /** Run starts, with a +Infinity sentinel. */
    readonly starts: Float64Array,
    /** Run ends, with a +Infinity sentinel. */
    readonly ends: Float64Array,
    /** Run entries. */
    readonly vals: unknown[],
  ) {}
}

/** Trailing zero bits of a positive safe integer (52 for 2^52 and above multiples). */
function ctz(x: number): number {
  const lo = x % 2 ** 32; // exact for safe integers
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Math.floor(x / 2 ** 32);
  return hi === 0 ? 52 : Math.min(52, 63 - Math.clz32(hi & -hi));
}

/** Builds the bucket table for the current runs (after a store, on the next load). */
function buildLookup<T>(xa: XArray<T>): Lookup {
  const n = xa.starts.length;
  const starts = new Float64Array(n + 1), ends = new Float64Array(n + 1);
  starts.set(xa.starts);
  ends.set(xa.ends);
  starts[n] = ends[n] = Infinity;
  let L: Lookup;
  if (n === 0) {
    L = new Lookup(0, 0, 1, [null], new Int32Array(2), starts, ends, []);
  } else {
    const min = starts[0]!, max = ends[n - 1]!;
    // The bucket size: the smallest power of two that keeps the table within
    // 32 buckets per run (so a rebuild stays O(runs)) — or, if larger, the
    // largest power of two every run boundary is a multiple of, so that no
    // bucket needs a search (pgmaps of whole sections: one bucket a section).
    const count = (sh: number) => Math.floor(max / 2 ** sh) - Math.floor(min / 2 ** sh) + 1;
    const limit = Math.min(MAX_BUCKETS, 32 * n);
    let shift = 0;
    while (count(shift) > limit) shift++;
    let align = 52;
    for (let r = 0; r < n && align > shift; r++) {
      if (starts[r]! > 0) align = Math.min(align, ctz(starts[r]!));
      align = Math.min(align, ctz(ends[r]! + 1));
    }
    if (align > shift) shift = align;
    const size = 2 ** shift;
    const lo = Math.floor(min / size) * size;
    const nb = count(shift);
    const direct: unknown[] = [];
    const bucket = new Int32Array(nb + 1);
    for (let b = 0, r = 0; b <= nb; b++) {
      const bstart = lo + b * size;
      while (r < n && ends[r]! < bstart) r++;
      bucket[b] = r;
      if (b === nb) break;
      const bend = bstart + size - 1;
      if (starts[r]! > bend) direct.push(null);
      else if (starts[r]! <= bstart && ends[r]! >= bend && xa.vals[r] !== CORRUPT) {
        direct.push(xa.vals[r]);
      } else direct.push(MIXED_BUCKET);
    }
    L = new Lookup(lo, nb * size, 2 ** -shift, direct, bucket, starts, ends, xa.vals.slice());
  }
  xa.lookup = L;
  xa.direct = L.direct;
  xa.directLo = L.lo;
  xa.directSpan = L.span;
  xa.directInv = L.inv;
  return L;
}

/** Marks a run whose slots hold a sibling pointing at another sibling. */
const CORRUPT: unique symbol = Symbol("xa_corrupt_sibling");

/**
 * @internal xa_load by walking the tree (the kernel's path), slot by slot.
 * The load index xa_load searches is derived from the tree; tests compare the two.
 */
export function xaWalkLoad<T>(xa: XArray<T>, index: number): T | null {
  const h = xa.head;
  if (!(h instanceof XaNode)) return index === 0 ? h as T | null : null;
  if (index > h.maxIndex) return null;
  let e: XaNode = h;
  for (;;) {
    let s: unknown = e.slots[(index * e.inv) & XA_CHUNK_MASK];
    if (s instanceof XaNode) {
      e = s;
      continue;
    }
    if (s instanceof XaSibling) {
      s = e.slots[s.offset];
      if (s instanceof XaSibling) {
        throw new OopsSignal(
          `xa_load: index ${index} resolves to internal entry xa_mk_sibling(${s.offset}) (overlapping multi-index stores)`,
        );
      }
    }
    return s as T | null;
  }
}

/**
 * How many nodes xa_load walks for `index` in this array as it is now (0 for
 * an empty array or a lone entry at index 0): one dependent load per level.
 * For the cost model. A walk ends early at a multi-index entry of a higher
 * order or an empty slot; the bound is {@link XArray.height}.
 */
export function xa_levels<T>(xa: XArray<T>, index: number): number {
  const h = xa.head;
  if (!(h instanceof XaNode)) return 0;
  if (index > h.maxIndex) return 0;
  let e: XaNode = h;
  let n = 0;
  for (;;) {
    n++;
    const s: unknown = e.slots[(index * e.inv) & XA_CHUNK_MASK];
    if (!(s instanceof XaNode)) return n;
    e = s;
  }
}

/** xa_empty(xa): whether the array holds no entry. */
export function xa_empty<T>(xa: XArray<T>): boolean {
  return xa.head === null;
}

// ---- xa_state and the store path (xas_*) ----------------------------------

/** The parts of struct xa_state the store path uses. */
interface Xas {
  index: number;
  shift: number;
  sibs: number;
  /** Current node (null: at the head). */
  node: XaNode | null;
  offset: number;
  /** XAS_BOUNDS: the index is outside the tree (loads and erases only). */
  bounds: boolean;
}

function xasSet(xas: Xas, index: number): void {
  xas.index = index;
  xas.node = null;
  xas.bounds = false;
}

function or(a: number, b: number): number {
  const hi = ((Math.floor(a / 2 ** 32) | Math.floor(b / 2 ** 32)) >>> 0) * 2 ** 32;
  return hi + (((a >>> 0) | (b >>> 0)) >>> 0);
}

function maxIndexOf(entry: unknown): number {
  return entry instanceof XaNode ? entry.maxIndex : 0;
}

function setSlot(xa: XArray<unknown>, node: XaNode | null, offset: number, v: unknown): void {
  if (node === null) xa.head = v;
  else node.slots[offset] = v;
}

function xasAlloc(xa: XArray<unknown>, xas: Xas, shift: number): XaNode {
  const parent = xas.node;
  const node = new XaNode(shift, parent, parent === null ? 0 : xas.offset);
  if (parent !== null) parent.count++;
  xa.nodes++;
  xa.nodesTouched++;
  return node;
}

function xasDescend(xa: XArray<unknown>, xas: Xas, node: XaNode): unknown {
  let offset = (xas.index * node.inv) & XA_CHUNK_MASK;
  let entry = node.slots[offset];
  xas.node = node;
  xa.nodesTouched++;
  if (entry instanceof XaSibling) {
    offset = entry.offset;
    entry = node.slots[offset];
  }
  xas.offset = offset;
  return entry;
}

/** xas_max: the largest index the entry described by `xas` needs (a multi-index entry never sits at the head). */
function xasMax(xas: Xas): number {
  let max = xas.index;
  if (xas.shift || xas.sibs) {
    const mask = (xas.sibs + 1) * 2 ** xas.shift - 1;
    max = or(max, mask);
    if (mask === max) max++;
  }
  return max;
}

/** xas_expand: adds nodes above the head until it can hold xas_max; returns the head's shift + 6 (0: none needed). */
function xasExpand(xa: XArray<unknown>, xas: Xas, head: unknown): number {
  const max = xasMax(xas);
  let shift = 0;
  if (head === null) {
    if (max === 0) return 0;
    while (Math.floor(max / 2 ** shift) >= XA_CHUNK_SIZE) shift += XA_CHUNK_SHIFT;
    return shift + XA_CHUNK_SHIFT;
  }
  let node: XaNode | null = null;
  if (head instanceof XaNode) {
    node = head;
    shift = node.shift + XA_CHUNK_SHIFT;
  }
  xas.node = null;
  while (max > maxIndexOf(head)) {
    node = xasAlloc(xa, xas, shift);
    node.count = 1;
    node.slots[0] = head;
    if (head instanceof XaNode) {
      head.offset = 0;
      head.parent = node;
    }
    head = node;
    xa.head = node;
    shift += XA_CHUNK_SHIFT;
  }
  xas.node = node;
  return shift;
}

/**
 * xas_create: walks down from the head to the level of `xas.shift`,
 * allocating missing nodes; stops early at an entry of a higher order.
 * Returns the entry in the slot reached (xas.node / xas.offset).
 */
function xasCreate(xa: XArray<unknown>, xas: Xas): unknown {
  const order = xas.shift;
  xas.node = null;
  let shift = xasExpand(xa, xas, xa.head);
  let entry = xa.head;
  xas.node = null;
  xas.offset = 0;
  while (shift > order) {
    shift -= XA_CHUNK_SHIFT;
    let node: XaNode;
    if (entry === null) {
      node = xasAlloc(xa, xas, shift);
      setSlot(xa, xas.node, xas.offset, node);
    } else if (entry instanceof XaNode) {
      node = entry;
    } else {
      break;
    }
    entry = xasDescend(xa, xas, node);
  }
  return entry;
}

/** xas_load for the erase path: walks down while nodes are at or above the level of `xas.shift`. */
function xasLoad(xa: XArray<unknown>, xas: Xas): unknown {
  const head = xa.head;
  if (!(head instanceof XaNode)) {
    if (xas.index) {
      xas.bounds = true;
      return null;
    }
  } else if (Math.floor(xas.index / 2 ** head.shift) > XA_CHUNK_MASK) {
    xas.bounds = true;
    return null;
  }
  xas.node = null;
  let entry: unknown = head;
  while (entry instanceof XaNode) {
    if (xas.shift > entry.shift) break;
    entry = xasDescend(xa, xas, entry);
  }
  return entry;
}

function freeNodes(xa: XArray<unknown>, top: XaNode): void {
  xa.nodes--;
  xa.nodesTouched++;
  for (const s of top.slots) if (s instanceof XaNode) freeNodes(xa, s);
  top.count = 0;
}

function xasShrink(xa: XArray<unknown>, xas: Xas): void {
  let node = xas.node!;
  for (;;) {
    if (node.count !== 1) break;
    const entry = node.slots[0];
    if (entry === null) break;
    if (!(entry instanceof XaNode) && node.shift) break;
    xas.bounds = true;
    xa.head = entry;
    node.count = 0;
    xa.nodes--;
    xa.nodesTouched++;
    if (!(entry instanceof XaNode)) break;
    node = entry;
    node.parent = null;
  }
}

function xasDeleteNode(xa: XArray<unknown>, xas: Xas): void {
  let node = xas.node!;
  for (;;) {
    if (node.count) break;
    const parent = node.parent;
    xas.node = parent;
    xas.offset = node.offset;
    xa.nodes--;
    xa.nodesTouched++;
    if (parent === null) {
      xa.head = null;
      xas.bounds = true;
      return;
    }
    parent.slots[xas.offset] = null;
    parent.count--;
    node = parent;
  }
  if (node.parent === null) xasShrink(xa, xas);
}

/**
 * xas_store: stores `entry` (or NULL) at the position of `xas`, over
 * `xas.sibs` sibling slots; frees subtrees it overwrites; on NULL, erases the
 * whole multi-index entry found and frees emptied nodes. Returns the old
 * entry at the first slot.
 */
function xasStore(xa: XArray<unknown>, xas: Xas, entry: unknown): unknown {
  let first = entry !== null ? xasCreate(xa, xas) : xasLoad(xa, xas);
  if (xas.bounds) return first;
  const node = xas.node;
  if (node !== null && xas.shift < node.shift) xas.sibs = 0;
  if (first === entry && !xas.sibs) return first;
  let next = first;
  let offset = xas.offset;
  const max = xas.offset + xas.sibs;
  let count = 0;
  let written = offset;
  for (;;) {
    setSlot(xa, node, offset, entry);
    written = offset;
    if (next instanceof XaNode) freeNodes(xa, next);
    if (node === null) break;
    count += (next === null ? 1 : 0) - (entry === null ? 1 : 0);
    if (entry !== null) {
      if (offset === max) break;
      if (!(entry instanceof XaSibling)) entry = SIBLINGS[xas.offset];
    } else if (offset === XA_CHUNK_MASK) {
      break;
    }
    next = node.slots[++offset];
    if (!(next instanceof XaSibling)) {
      if (entry === null && offset > max) break;
      first = next;
    }
  }
  if (node === null) markDirty(xa, 0, Number.MAX_SAFE_INTEGER);
  else {
    // Later siblings pointing into the written slots (or through a sibling,
    // after overlapping stores) load something else now too.
    let hiOff = written;
    for (let o = written + 1; o < XA_CHUNK_SIZE; o++) {
      const sib = node.slots[o];
      if (!(sib instanceof XaSibling)) continue;
      if (
        (sib.offset >= xas.offset && sib.offset <= written) ||
        node.slots[sib.offset] instanceof XaSibling
      ) {
        hiOff = o;
      }
    }
    written = hiOff;
    const step = 2 ** node.shift;
    const base = Math.floor(xas.index / (step * XA_CHUNK_SIZE)) * step * XA_CHUNK_SIZE;
    markDirty(xa, base + xas.offset * step, base + (written + 1) * step - 1);
  }
  if (node !== null && count !== 0) {
    node.count += count;
    if (count < 0) xasDeleteNode(xa, xas);
  }
  return first;
}

// ---- the load index -------------------------------------------------------

function markDirty(xa: XArray<unknown>, lo: number, hi: number): void {
  if (lo < xa.dirtyLo) xa.dirtyLo = lo;
  if (hi > xa.dirtyHi) xa.dirtyHi = hi;
}

/** Runs of equal loads in [lo, hi], read from the tree slot by slot. */
class Runs {
  readonly s: number[] = [];
  readonly e: number[] = [];
  readonly v: unknown[] = [];
  push(first: number, last: number, v: unknown): void {
    const n = this.s.length;
    if (n > 0 && this.v[n - 1] === v && this.e[n - 1]! + 1 === first) this.e[n - 1] = last;
    else {
      this.s.push(first);
      this.e.push(last);
      this.v.push(v);
    }
  }
}

function collect(node: XaNode, base: number, lo: number, hi: number, out: Runs): void {
  const step = 2 ** node.shift;
  const o0 = Math.max(0, Math.floor((lo - base) / step));
  const o1 = Math.min(XA_CHUNK_MASK, Math.floor((hi - base) / step));
  for (let o = o0; o <= o1; o++) {
    let s = node.slots[o];
    if (s === null) continue;
    const first = base + o * step;
    if (s instanceof XaNode) {
      collect(s, first, lo, hi, out);
      continue;
    }
    if (s instanceof XaSibling) {
      s = node.slots[s.offset];
      if (s instanceof XaSibling) s = CORRUPT;
      else if (s === null) continue;
    }
    out.push(Math.max(first, lo), Math.min(first + step - 1, hi), s);
  }
}

/** The first i in [0, a.length) with a[i] > x (a ascending); a.length if none. */
function upperBound(a: number[], x: number): number {
  let lo = 0, n = a.length;
  while (n > 0) {
    const half = n >>> 1;
    if (a[lo + half]! <= x) {
      lo += half + 1;
      n -= half + 1;
    } else n = half;
  }
  return lo;
}

/** Brings the load index in step with the tree over the dirty window of the last operation. */
function reindex(xa: XArray<unknown>): void {
  const lo = xa.dirtyLo, hi = xa.dirtyHi;
  if (hi < lo) return;
  xa.dirtyLo = Infinity;
  xa.dirtyHi = -1;
  const { starts, ends, vals } = xa;
  // Replace runs i0..i1-1: those overlapping [lo, hi] plus a touching neighbour
  // on each side (the new runs may merge with it).
  const i0 = upperBound(ends, lo - 2);
  const i1 = upperBound(starts, hi + 1);
  const runs = new Runs();
  if (i0 < i1 && starts[i0]! < lo) runs.push(starts[i0]!, Math.min(ends[i0]!, lo - 1), vals[i0]);
  const h = xa.head;
  if (h instanceof XaNode) collect(h, 0, lo, hi, runs);
  else if (h !== null && lo === 0) runs.push(0, 0, h);
  const last = i1 - 1;
  if (last >= i0 && ends[last]! > hi) {
    runs.push(Math.max(starts[last]!, hi + 1), ends[last]!, vals[last]);
  }
  if (i0 === i1 && runs.s.length === 0) return;
  xa.lookup = null;
  xa.direct = null;
  xa.starts = starts.slice(0, i0).concat(runs.s, starts.slice(i1));
  xa.ends = ends.slice(0, i0).concat(runs.e, ends.slice(i1));
  xa.vals = vals.slice(0, i0).concat(runs.v, vals.slice(i1));
}

/** xas_set_range: the largest aligned piece of [first, last] starting at `first`, as shift and sibs. */
function xasSetRange(xas: Xas, first: number, last: number): void {
  let shift = 0;
  let sibs = last - first;
  let offset = XA_CHUNK_MASK;
  xasSet(xas, first);
  while (first % XA_CHUNK_SIZE === 0) {
    if (sibs < XA_CHUNK_MASK) break;
    if (sibs === XA_CHUNK_MASK && offset < XA_CHUNK_MASK) break;
    shift += XA_CHUNK_SHIFT;
    if (offset === XA_CHUNK_MASK) offset = sibs % XA_CHUNK_SIZE;
    sibs = Math.floor(sibs / XA_CHUNK_SIZE);
    first = Math.floor(first / XA_CHUNK_SIZE);
  }
  offset = first % XA_CHUNK_SIZE;
  if (offset + sibs > XA_CHUNK_MASK) sibs = XA_CHUNK_MASK - offset;
  if ((first + sibs + 1) * 2 ** shift - 1 > last) sibs -= 1;
  xas.shift = shift;
  xas.sibs = sibs;
}

/** __ffs(x) (include/asm-generic/bitops/__ffs.h): the 0-based index of the lowest set bit, for 0 < x ≤ 2^53. */
function __ffs(x: number): number {
  let n = 0;
  while (x % 2 === 0) {
    x /= 2;
    n++;
  }
  return n;
}

function checkIndex(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`Cannot ${what}: index ${v} is not a non-negative safe integer`);
  }
}

function badEntry(k: Kernel, entry: unknown): boolean {
  return WARN_ON_ONCE(k, isInternal(entry));
}

/**
 * xa_store_range(xa, first, last, entry, gfp) (lib/xarray.c, v4.20): after
 * it returns, every index in [first, last] loads `entry` (NULL erases). The
 * range is stored as aligned multi-index pieces; a piece landing inside an
 * existing entry of a larger order replaces that whole entry (see the module
 * doc). Returns NULL on success, XA_ERROR(-EINVAL) for an internal entry
 * (with a WARN_ON_ONCE) or `last < first`, and XA_ERROR(-ENOMEM) when node
 * allocation fails — fault point "xa_store_range", consulted for non-NULL
 * entries only (an erase allocates nothing); nothing is stored then.
 * kernel/memremap.c tests the result with `xa_err`.
 *
 * @example
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { XArray, xa_err, xa_load, xa_store_range } from "./xarray.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * const xa = new XArray<string>();
 * k.faults.arm("xa_store_range", { nth: 1 });
 * assertEquals(xa_err(xa_store_range(k, xa, 10, 20, "A", 0)), -12);
 * assertEquals(xa_load(xa, 10), null);
 * assertEquals(xa_err(xa_store_range(k, xa, 10, 20, "A", 0)), 0);
 * assertEquals(xa_load(xa, 15), "A");
 * ```
 */
export function xa_store_range<T>(
  k: Kernel,
  xa: XArray<T>,
  first: number,
  last: number,
  entry: T | null,
  _gfp: number,
): XaError | null {
  checkIndex("store a range in an XArray", first);
  checkIndex("store a range in an XArray", last);
  if (badEntry(k, entry)) return XA_ERROR(-EINVAL);
  if (last < first) return XA_ERROR(-EINVAL);
  if (entry !== null && k.faults.shouldFail("xa_store_range")) return XA_ERROR(-ENOMEM);
  const a = xa as XArray<unknown>;
  const xas: Xas = { index: 0, shift: 0, sibs: 0, node: null, offset: 0, bounds: false };
  if (entry !== null) {
    // xas_set_order(&xas, last, __ffs(last + 1)); xas_create(&xas): make the tree tall enough.
    const order = __ffs(last + 1);
    xas.index = Math.floor(last / 2 ** order) * 2 ** order;
    xas.shift = order - (order % XA_CHUNK_SHIFT);
    xas.sibs = 2 ** (order % XA_CHUNK_SHIFT) - 1;
    xasCreate(a, xas);
  }
  do {
    xasSetRange(xas, first, last);
    xasStore(a, xas, entry);
    first += (xas.sibs + 1) * 2 ** xas.shift;
  } while (first <= last);
  reindex(a);
  return null;
}

/**
 * xa_store(xa, index, entry, gfp) (lib/xarray.c): stores `entry` at `index`
 * (NULL erases). Storing into an index of a multi-index entry updates every
 * index of that entry. Returns the old entry, or XA_ERROR(-EINVAL) for an
 * internal entry (WARN_ON_ONCE). The model's allocations do not fail here.
 */
export function xa_store<T>(
  k: Kernel,
  xa: XArray<T>,
  index: number,
  entry: T | null,
  _gfp: number,
): T | null | XaError {
  checkIndex("store in an XArray", index);
  if (badEntry(k, entry)) return XA_ERROR(-EINVAL);
  const xas: Xas = { index, shift: 0, sibs: 0, node: null, offset: 0, bounds: false };
  const old = xasStore(xa as XArray<unknown>, xas, entry) as T | null;
  reindex(xa as XArray<unknown>);
  return old;
}

/**
 * xa_erase(xa, index) (lib/xarray.c): erases the entry at `index` — all of
 * it if it is a multi-index entry — and returns it (null if none).
 *
 * @example
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { XArray, xa_erase, xa_load, xa_store_range } from "./xarray.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * const xa = new XArray<string>();
 * xa_store_range(k, xa, 0, 4095, "A", 0); // one entry of order 12
 * assertEquals(xa_erase(xa, 7), "A");
 * assertEquals(xa_load(xa, 4000), null);
 * ```
 */
export function xa_erase<T>(xa: XArray<T>, index: number): T | null {
  checkIndex("erase from an XArray", index);
  const xas: Xas = { index, shift: 0, sibs: 0, node: null, offset: 0, bounds: false };
  const old = xasStore(xa as XArray<unknown>, xas, null) as T | null;
  reindex(xa as XArray<unknown>);
  return old;
}

/**
 * Every entry in index order as the tree holds it: one item per canonical
 * slot and the run of sibling slots after it (a range stored with
 * xa_store_range shows as its aligned pieces; after overlapping stores a
 * canonical slot's siblings may come as more than one run). For tests,
 * plots and debugging (cf. xa_dump).
 */
export function* xaEntries<T>(xa: XArray<T>): IterableIterator<XaEntry<T>> {
  const h = xa.head;
  if (h === null) return;
  if (!(h instanceof XaNode)) {
    yield { first: 0, last: 0, entry: h as T };
    return;
  }
  yield* walk<T>(h, 0);
}

function* walk<T>(node: XaNode, base: number): IterableIterator<XaEntry<T>> {
  const step = 2 ** node.shift;
  // Group consecutive slots resolving to the same canonical slot.
  let target = -1, from = 0;
  function* flush(to: number): IterableIterator<XaEntry<T>> {
    const e = target < 0 ? null : node.slots[target];
    if (e !== null && !(e instanceof XaSibling)) {
      yield { first: base + from * step, last: base + to * step - 1, entry: e as T };
    }
    target = -1;
  }
  for (let o = 0; o < XA_CHUNK_SIZE; o++) {
    const s = node.slots[o];
    const t = s instanceof XaSibling ? s.offset : s === null || s instanceof XaNode ? -1 : o;
    if (t !== target || t < 0) {
      yield* flush(o);
      target = t;
      from = o;
    }
    if (s instanceof XaNode) yield* walk<T>(s, base + o * step);
  }
  yield* flush(XA_CHUNK_SIZE);
}

/**
 * Adds every distinct entry of `xa` to `out` (no ranges, no generators): the
 * invariant checker's cheap question "which objects does the tree hold?",
 * asked after every fuzzing step.
 */
export function xaValues<T>(xa: XArray<T>, out: Set<T>): Set<T> {
  const h = xa.head;
  if (h === null) return out;
  if (!(h instanceof XaNode)) out.add(h as T);
  else collectValues(h, out as Set<unknown>);
  return out;
}

function collectValues(node: XaNode, out: Set<unknown>): void {
  const slots = node.slots;
  for (let o = 0; o < XA_CHUNK_SIZE; o++) {
    const s = slots[o];
    if (s === null || s === undefined || s instanceof XaSibling) continue;
    if (s instanceof XaNode) collectValues(s, out);
    else out.add(s);
  }
}
