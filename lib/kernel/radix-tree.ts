/**
 * The radix tree (lib/radix-tree.c, include/linux/radix-tree.h, v4.20), as
 * mm/hmm.c used it before patch 6 of the series: `hmm_devmem_radix`, keyed
 * by section number (physical address >> PA_SECTION_SHIFT), one entry per
 * 128 MiB section of every HMM device-memory region, guarded by
 * hmm_devmem_lock. hmm_devmem_pages_create looks up and inserts each section
 * key in turn; hmm_devmem_radix_release deletes them.
 *
 * The model keeps the kernel's shape so the registration cost is honest: 64-
 * slot nodes (RADIX_TREE_MAP_SHIFT = XA_CHUNK_SHIFT = 6), the tree grows
 * upwards when a key exceeds the height (radix_tree_extend), single-index
 * entries only, empty nodes are freed and the tree shrinks on delete. Each
 * operation records how many nodes it visited, allocated or freed in
 * {@link RadixTreeRoot.lastNodesTouched} (and the running total in
 * {@link RadixTreeRoot.nodesTouched}); the data structure itself does not
 * advance simulated time.
 *
 * @module
 */
import { EEXIST, ENOMEM } from "./errno.ts";
import type { Kernel } from "./kernel.ts";

/** log2 of the slots per node (= XA_CHUNK_SHIFT in v4.20). */
export const RADIX_TREE_MAP_SHIFT = 6;
const RADIX_TREE_MAP_SIZE = 64;
const RADIX_TREE_MAP_MASK = 63;

/** struct radix_tree_node. */
class RadixTreeNode {
  readonly shift: number;
  readonly inv: number;
  /** The largest index a tree with this node at the head holds. */
  readonly maxIndex: number;
  offset: number;
  count: number;
  parent: RadixTreeNode | null;
  readonly slots: unknown[];

  constructor(shift: number, parent: RadixTreeNode | null, offset: number, count: number) {
    this.shift = shift;
    this.inv = 2 ** -shift;
    this.maxIndex = shift_maxindex(shift);
    this.parent = parent;
    this.offset = offset;
    this.count = count;
    const slots: unknown[] = [];
    for (let i = 0; i < RADIX_TREE_MAP_SIZE; i++) slots.push(null);
    this.slots = slots;
  }
}

function shift_maxindex(shift: number): number {
  return RADIX_TREE_MAP_SIZE * 2 ** shift - 1;
}

/** struct radix_tree_root holding entries of type `T` (NULL is `null`, never an entry). */
export class RadixTreeRoot<T> {
  /** @internal xa_head: null, the entry at index 0, or the top node. */
  head: unknown = null;
  /** Nodes currently allocated. */
  nodes = 0;
  /** Nodes visited, allocated or freed by all operations so far. */
  nodesTouched = 0;
  /** Nodes visited, allocated or freed by the most recent operation. */
  lastNodesTouched = 0;

  /** Levels of nodes (0 when empty or holding only index 0). */
  get height(): number {
    const h = this.head;
    return h instanceof RadixTreeNode ? h.shift / RADIX_TREE_MAP_SHIFT + 1 : 0;
  }

  /** The largest index the tree can hold without growing (0 when it has no node). */
  get maxIndex(): number {
    const h = this.head;
    return h instanceof RadixTreeNode ? h.maxIndex : 0;
  }
}

/**
 * RADIX_TREE(name, gfp): a new, empty root. Also declares the fault point
 * "radix_tree_insert" on `k` (so it can be armed before the first insert).
 */
export function RADIX_TREE<T>(k: Kernel): RadixTreeRoot<T> {
  registerFaults(k);
  return new RadixTreeRoot<T>();
}

function registerFaults(k: Kernel): void {
  k.faults.register(
    "radix_tree_insert",
    "radix tree node allocation fails: radix_tree_insert returns -ENOMEM",
  );
}

function checkIndex(what: string, index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new RangeError(`Cannot ${what}: index ${index} is not a non-negative safe integer`);
  }
}

function begin(root: RadixTreeRoot<unknown>): void {
  root.lastNodesTouched = 0;
}

function touch(root: RadixTreeRoot<unknown>, n = 1): void {
  root.lastNodesTouched += n;
  root.nodesTouched += n;
}

function alloc(
  root: RadixTreeRoot<unknown>,
  shift: number,
  parent: RadixTreeNode | null,
  offset: number,
  count: number,
): RadixTreeNode {
  root.nodes++;
  touch(root);
  return new RadixTreeNode(shift, parent, offset, count);
}

function free(root: RadixTreeRoot<unknown>): void {
  root.nodes--;
  touch(root);
}

/**
 * radix_tree_extend(root, gfp, index, shift) (static): adds nodes above the
 * head until `index` fits; returns the new head's shift + 6 (the model's
 * node allocation does not fail: radix_tree_insert's fault point fails first).
 */
function radix_tree_extend(
  root: RadixTreeRoot<unknown>,
  _gfp: number,
  index: number,
  shift: number,
): number {
  let maxshift = shift;
  while (index > shift_maxindex(maxshift)) maxshift += RADIX_TREE_MAP_SHIFT;
  let entry = root.head;
  if (entry !== null) {
    do {
      const node = alloc(root, shift, null, 0, 1);
      if (entry instanceof RadixTreeNode) entry.parent = node;
      node.slots[0] = entry;
      entry = node;
      root.head = node;
      shift += RADIX_TREE_MAP_SHIFT;
    } while (shift <= maxshift);
  }
  return maxshift + RADIX_TREE_MAP_SHIFT;
}

/**
 * radix_tree_insert(root, index, item) (lib/radix-tree.c): 0; -EEXIST if
 * `index` is occupied; -ENOMEM if a node cannot be allocated (fault point
 * "radix_tree_insert", checked before anything changes). Grows the tree
 * upwards when `index` is beyond its height and creates the missing nodes on
 * the path (an entry at index 0 of an empty tree lives in the root itself).
 *
 * @example
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { RADIX_TREE, radix_tree_insert, radix_tree_lookup } from "./radix-tree.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * const t = RADIX_TREE<string>(k);
 * const section = 0x3fffc0000000 / 2 ** 27; // section number of HMM's first 1 GiB region
 * assertEquals(radix_tree_insert(k, t, section, "devmem0"), 0);
 * assertEquals(radix_tree_insert(k, t, section, "devmem1"), -17);
 * assertEquals(radix_tree_lookup(t, section), "devmem0");
 * assertEquals(t.height, 4); // section numbers need 19 bits: 4 levels of 6
 * ```
 */
export function radix_tree_insert<T>(
  k: Kernel,
  root: RadixTreeRoot<T>,
  index: number,
  item: T,
): number {
  checkIndex("insert into a radix tree", index);
  if (item === null || item === undefined) {
    throw new TypeError("Cannot insert NULL into a radix tree: an entry must be non-null");
  }
  registerFaults(k);
  const r = root as RadixTreeRoot<unknown>;
  begin(r);
  if (k.faults.shouldFail("radix_tree_insert")) return -ENOMEM;
  // __radix_tree_create
  let child = r.head;
  let shift = child instanceof RadixTreeNode ? child.shift + RADIX_TREE_MAP_SHIFT : 0;
  if (index > r.maxIndex) {
    shift = radix_tree_extend(r, 0, index, shift); // root_gfp_mask(root)
    child = r.head;
  }
  let node: RadixTreeNode | null = null;
  let offset = 0;
  while (shift > 0) {
    shift -= RADIX_TREE_MAP_SHIFT;
    if (child === null) {
      child = alloc(r, shift, node, offset, 0);
      if (node === null) r.head = child;
      else {
        node.slots[offset] = child;
        node.count++;
      }
    } else if (!(child instanceof RadixTreeNode)) {
      break;
    } else {
      touch(r);
    }
    node = child as RadixTreeNode;
    offset = (index * node.inv) & RADIX_TREE_MAP_MASK;
    child = node.slots[offset];
  }
  // insert_entries
  const occupied = node === null ? r.head : node.slots[offset];
  if (occupied !== null) return -EEXIST;
  if (node === null) r.head = item;
  else {
    node.slots[offset] = item;
    node.count++;
  }
  return 0;
}

/** __radix_tree_lookup: the entry, the node holding it and its slot; slot -1 when `index` is beyond the tree. */
function lookup(
  r: RadixTreeRoot<unknown>,
  index: number,
): { entry: unknown; node: RadixTreeNode | null; slot: number } {
  let node = r.head;
  if (index > r.maxIndex) return { entry: null, node: null, slot: -1 };
  let parent: RadixTreeNode | null = null;
  let slot = 0;
  while (node instanceof RadixTreeNode) {
    parent = node;
    touch(r);
    slot = (index * parent.inv) & RADIX_TREE_MAP_MASK;
    node = parent.slots[slot];
    if (parent.shift === 0) break;
  }
  return { entry: node, node: parent, slot };
}

/**
 * radix_tree_lookup(root, index) (lib/radix-tree.c): the entry at `index`,
 * or null. Walks one node per level.
 */
export function radix_tree_lookup<T>(root: RadixTreeRoot<T>, index: number): T | null {
  const r = root as RadixTreeRoot<unknown>;
  begin(r);
  return lookup(r, index).entry as T | null;
}

/**
 * radix_tree_delete(root, index) (lib/radix-tree.c): removes and returns the
 * entry at `index` (null if none). Frees nodes left empty, from the leaf up,
 * and shrinks the tree while the head has a single child in slot 0.
 */
export function radix_tree_delete<T>(root: RadixTreeRoot<T>, index: number): T | null {
  checkIndex("delete from a radix tree", index);
  const r = root as RadixTreeRoot<unknown>;
  begin(r);
  const { entry, node, slot } = lookup(r, index);
  if (slot < 0 || entry === null) return null;
  if (node === null) {
    r.head = null;
    return entry as T;
  }
  node.slots[slot] = null;
  node.count--;
  delete_node(r, node);
  return entry as T;
}

/** delete_node(root, node) (static): frees empty nodes from `node` up, then shrinks; whether anything was freed. */
function delete_node(r: RadixTreeRoot<unknown>, node: RadixTreeNode | null): boolean {
  let deleted = false;
  while (node !== null) {
    if (node.count) {
      if (node === r.head) deleted = radix_tree_shrink(r) || deleted;
      return deleted;
    }
    const parent: RadixTreeNode | null = node.parent;
    if (parent !== null) {
      parent.slots[node.offset] = null;
      parent.count--;
    } else {
      r.head = null;
    }
    free(r);
    deleted = true;
    node = parent;
  }
  return deleted;
}

/** radix_tree_shrink(root) (static): drops heads with a single child in slot 0; whether it shrank. */
function radix_tree_shrink(r: RadixTreeRoot<unknown>): boolean {
  let shrunk = false;
  for (;;) {
    const node = r.head;
    if (!(node instanceof RadixTreeNode)) break;
    if (node.count !== 1) break;
    const child = node.slots[0];
    if (child === null) break;
    if (child instanceof RadixTreeNode) child.parent = null;
    r.head = child;
    node.count = 0;
    free(r);
    shrunk = true;
  }
  return shrunk;
}

/** Every (index, entry) in index order (for tests and debugging; cf. radix_tree_for_each_slot). */
export function* radixTreeEntries<T>(root: RadixTreeRoot<T>): IterableIterator<[number, T]> {
  const h = root.head;
  if (h === null) return;
  if (!(h instanceof RadixTreeNode)) {
    yield [0, h as T];
    return;
  }
  yield* walk<T>(h, 0);
}

function* walk<T>(node: RadixTreeNode, base: number): IterableIterator<[number, T]> {
  const step = 2 ** node.shift;
  for (let o = 0; o < RADIX_TREE_MAP_SIZE; o++) {
    const s = node.slots[o];
    if (s === null) continue;
    if (s instanceof RadixTreeNode) yield* walk<T>(s, base + o * step);
    else yield [base + o * step, s as T];
  }
}
