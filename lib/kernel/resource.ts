/**
 * The iomem resource tree (kernel/resource.c, include/linux/ioport.h, v4.20).
 *
 * A {@link Resource} is `struct resource`: an inclusive [start, end] range
 * with a name, flags and a descriptor, linked to its parent, its next sibling
 * (siblings sorted by start, never overlapping) and its first child. The
 * per-kernel roots are {@link iomem_resource} and {@link ioport_resource}.
 *
 * Claims nest: `__request_region` descends into a conflicting resource that is
 * not IORESOURCE_BUSY (a BAR, "Persistent Memory", "reserved") and fails with
 * NULL on a BUSY one or when the request sticks out of its container.
 * `region_intersects` looks at the root's direct children only.
 *
 * Addresses are Numbers: exact up to 2^53. The kernel's iomem_resource ends at
 * ~0 (2^64 - 1); the model's ends at 2^52 - 1 (`IOMEM_END`), the largest
 * physical address x86_64 can have with 5-level paging (MAX_PHYSMEM_BITS 52),
 * so every address the model meets stays exact and HMM's search, which starts
 * at min(iomem_resource.end, 2^MAX_PHYSMEM_BITS - 1), finds the same slots.
 *
 * resource_lock is not modelled: no function here sleeps, so each runs as one
 * atomic step of the simulated scheduler.
 *
 * @module
 */
import { EBUSY, EINVAL, ERANGE } from "./errno.ts";
import type { Kernel, SubsystemKey } from "./kernel.ts";
import { WARN_ON } from "./printk.ts";

/** Bus-specific bits. */
export const IORESOURCE_BITS = 0x000000ff;
/** Resource type bits. */
export const IORESOURCE_TYPE_BITS = 0x00001f00;
/** PCI/ISA I/O ports. */
export const IORESOURCE_IO = 0x00000100;
/** Memory. */
export const IORESOURCE_MEM = 0x00000200;
/** Register offsets. */
export const IORESOURCE_REG = 0x00000300;
/** IRQ. */
export const IORESOURCE_IRQ = 0x00000400;
/** DMA. */
export const IORESOURCE_DMA = 0x00000800;
/** Bus numbers. */
export const IORESOURCE_BUS = 0x00001000;
/** No side effects. */
export const IORESOURCE_PREFETCH = 0x00002000;
/** 64-bit memory BAR. */
export const IORESOURCE_MEM_64 = 0x00100000;
/** Forwarded by a bridge. */
export const IORESOURCE_WINDOW = 0x00200000;
/** Software-muxed resource. */
export const IORESOURCE_MUXED = 0x00400000;
/** Extended type bits. */
export const IORESOURCE_EXT_TYPE_BITS = 0x01000000;
/** System RAM (modifier). */
export const IORESOURCE_SYSRAM = 0x01000000;
/** Userland may not map this resource. */
export const IORESOURCE_EXCLUSIVE = 0x08000000;
/** Disabled. */
export const IORESOURCE_DISABLED = 0x10000000;
/** No address assigned yet. */
export const IORESOURCE_UNSET = 0x20000000;
/** Auto-assigned. */
export const IORESOURCE_AUTO = 0x40000000;
/** A driver has marked this resource busy. */
export const IORESOURCE_BUSY = 0x80000000;
/** IORESOURCE_MEM | IORESOURCE_SYSRAM. */
export const IORESOURCE_SYSTEM_RAM = IORESOURCE_MEM | IORESOURCE_SYSRAM;

/** No descriptor (matches any in searches). */
export const IORES_DESC_NONE = 0;
/** Crash kernel reservation. */
export const IORES_DESC_CRASH_KERNEL = 1;
/** ACPI tables. */
export const IORES_DESC_ACPI_TABLES = 2;
/** ACPI NVS. */
export const IORES_DESC_ACPI_NV_STORAGE = 3;
/** Persistent memory (NFIT). */
export const IORES_DESC_PERSISTENT_MEMORY = 4;
/** Persistent memory (legacy e820 type 12). */
export const IORES_DESC_PERSISTENT_MEMORY_LEGACY = 5;
/** HMM device-private memory. */
export const IORES_DESC_DEVICE_PRIVATE_MEMORY = 6;
/** HMM device-public (CDM) memory. */
export const IORES_DESC_DEVICE_PUBLIC_MEMORY = 7;

/** region_intersects: the region overlaps only resources of the asked type (and holes). */
export const REGION_INTERSECTS = 0;
/** region_intersects: no overlap with the asked type. */
export const REGION_DISJOINT = 1;
/** region_intersects: overlaps the asked type and another resource. */
export const REGION_MIXED = 2;

/** End of the model's iomem_resource: 2^52 - 1 (the kernel's is ~0; see the module doc). */
export const IOMEM_END: number = 2 ** 52 - 1;
/** IO_SPACE_LIMIT on x86. */
export const IO_SPACE_LIMIT = 0xffff;

/** /proc/iomem nests at most this deep (MAX_IORES_LEVEL in r_show). */
const MAX_IORES_LEVEL = 5;
/** 128 MiB: the x86_64 memory section, HMM's allocation granule. */
const PA_SECTION_SIZE = 2 ** 27;

/** What a {@link Resource} is created from. */
export interface ResourceInit {
  /** Name ("System RAM", a device name); null prints as "<BAD>". */
  name: string | null;
  /** First byte. */
  start: number;
  /** Last byte (inclusive). */
  end: number;
  /** IORESOURCE_* flags (default 0). */
  flags?: number;
  /** IORES_DESC_* (default IORES_DESC_NONE). */
  desc?: number;
}

/** struct resource: an inclusive range in a tree of parent, sibling and child links. */
export class Resource {
  /** Name, or null. */
  name: string | null;
  /** First byte. */
  start: number;
  /** Last byte (inclusive). */
  end: number;
  /** IORESOURCE_* flags. */
  flags: number;
  /** IORES_DESC_*. */
  desc: number;
  /** Parent, or null when not in a tree. */
  parent: Resource | null = null;
  /** Next sibling (higher start), or null. */
  sibling: Resource | null = null;
  /** First child (lowest start), or null. */
  child: Resource | null = null;

  /**
   * Creates the object.
   * @param init name, start, end (inclusive), flags, desc.
   *
   * @example A 1 GiB memory resource
   * ```ts
   * import { IORESOURCE_MEM, Resource, resource_size } from "./resource.ts";
   * import { assertEquals } from "@std/assert";
   * const r = new Resource({ name: "gpu", start: 2 ** 32, end: 2 ** 32 + 2 ** 30 - 1, flags: IORESOURCE_MEM });
   * assertEquals(resource_size(r), 2 ** 30);
   * ```
   */
  constructor(init: ResourceInit) {
    for (const f of ["start", "end"] as const) {
      const v = init[f];
      if (!Number.isSafeInteger(v) || v < -1) {
        throw new TypeError(`Cannot create resource "${init.name}": ${f} ${v} is not an address`);
      }
    }
    this.name = init.name;
    this.start = init.start;
    this.end = init.end;
    this.flags = (init.flags ?? 0) >>> 0;
    this.desc = init.desc ?? IORES_DESC_NONE;
  }

  /** The direct children, lowest start first. */
  *children(): IterableIterator<Resource> {
    for (let p = this.child; p !== null; p = p.sibling) yield p;
  }

  /** "%pR" of this resource. */
  toString(): string {
    return resource_string(this, "R");
  }
}

/** resource_size(res): end - start + 1. */
export function resource_size(res: Resource): number {
  return res.end - res.start + 1;
}

/** resource_type(res): the IORESOURCE_TYPE_BITS of the flags. */
export function resource_type(res: Resource): number {
  return res.flags & IORESOURCE_TYPE_BITS;
}

/** DEFINE_RES_MEM_NAMED(start, size, name): an IORESOURCE_MEM resource not yet in any tree. */
export function DEFINE_RES_MEM_NAMED(start: number, size: number, name: string | null): Resource {
  return new Resource({ name, start, end: start + size - 1, flags: IORESOURCE_MEM });
}

/**
 * The resource part of lib/vsprintf.c: "%pR" (fmt "R", decoded) or "%pr"
 * (fmt "r", raw flags): "[mem 0x3fffc0000000-0x3fffffffffff]",
 * "[mem 0x100000000-0x13fffffff flags 0x80000200]". Memory addresses are
 * zero-padded to 8 hex digits, I/O ports to 4. vsprintf's resource_string(buf,
 * end, res, spec, fmt) writes into [buf, end) with the field spec; the
 * model returns the string, so `buf`, `end` and `spec` are left out.
 */
export function resource_string(res: Resource, fmt: "R" | "r"): string {
  let decode = fmt === "R";
  let kind: string;
  let num: (v: number) => string;
  const hex = (width: number) => (v: number) => "0x" + v.toString(16).padStart(width, "0");
  if (res.flags & IORESOURCE_IO) [kind, num] = ["io  ", hex(4)];
  else if (res.flags & IORESOURCE_MEM) [kind, num] = ["mem ", hex(8)];
  else if (res.flags & IORESOURCE_IRQ) [kind, num] = ["irq ", (v) => String(v)];
  else if (res.flags & IORESOURCE_DMA) [kind, num] = ["dma ", (v) => String(v)];
  else if (res.flags & IORESOURCE_BUS) {
    [kind, num] = ["bus ", (v) => v.toString(16).padStart(2, "0")];
  } else {
    [kind, num] = ["??? ", hex(8)];
    decode = false;
  }
  let s = "[" + kind;
  if (decode && res.flags & IORESOURCE_UNSET) s += "size " + num(resource_size(res));
  else {
    s += num(res.start);
    if (res.start !== res.end) s += "-" + num(res.end);
  }
  if (decode) {
    if (res.flags & IORESOURCE_MEM_64) s += " 64bit";
    if (res.flags & IORESOURCE_PREFETCH) s += " pref";
    if (res.flags & IORESOURCE_WINDOW) s += " window";
    if (res.flags & IORESOURCE_DISABLED) s += " disabled";
  } else {
    s += " flags 0x" + (res.flags >>> 0).toString(16);
  }
  return s + "]";
}

interface ResourceState {
  iomem: Resource;
  ioport: Resource;
}

const RESOURCES: SubsystemKey<ResourceState> = {
  name: "resource",
  create: (k) => {
    k.faults.register(
      "request_mem_region",
      "resource allocation fails: __request_region returns NULL",
    );
    return {
      iomem: new Resource({ name: "PCI mem", start: 0, end: IOMEM_END, flags: IORESOURCE_MEM }),
      ioport: new Resource({ name: "PCI IO", start: 0, end: IO_SPACE_LIMIT, flags: IORESOURCE_IO }),
    };
  },
};

/**
 * iomem_resource: the root of the kernel's memory resource tree, "PCI mem",
 * [0, 2^52 - 1] in the model (see {@link IOMEM_END}), IORESOURCE_MEM.
 */
export function iomem_resource(k: Kernel): Resource {
  return k.state(RESOURCES).iomem;
}

/** ioport_resource: the root of the I/O port tree, "PCI IO", [0, 0xffff], IORESOURCE_IO. */
export function ioport_resource(k: Kernel): Resource {
  return k.state(RESOURCES).ioport;
}

function emit(
  k: Kernel,
  op: "request" | "release" | "conflict" | "insert",
  start: number,
  end: number,
  name: string | null,
): void {
  k.trace.emit({ kind: "resource", op, start, end, name: name ?? "<BAD>" });
}

/**
 * __request_resource: links `nw` among `root`'s children if it fits inside
 * `root` and overlaps none of them; returns null on success, else the
 * conflict — `root` itself when `nw` is empty-negative or sticks out of it.
 */
function __request_resource(root: Resource, nw: Resource): Resource | null {
  const start = nw.start, end = nw.end;
  if (end < start || start < root.start || end > root.end) return root;
  let prev: Resource | null = null;
  for (;;) {
    const tmp: Resource | null = prev === null ? root.child : prev.sibling;
    if (tmp === null || tmp.start > end) {
      nw.sibling = tmp;
      if (prev === null) root.child = nw;
      else prev.sibling = nw;
      nw.parent = root;
      return null;
    }
    prev = tmp;
    if (tmp.end < start) continue;
    return tmp;
  }
}

/**
 * __release_resource: unlinks `old` from its parent. With `releaseChild`
 * false, `old`'s children move up into its place (remove_resource).
 * 0, or -EINVAL when `old` is not linked.
 */
function __release_resource(old: Resource, releaseChild: boolean): number {
  const parent = old.parent;
  if (parent === null) return -EINVAL;
  let prev: Resource | null = null;
  for (let tmp = parent.child; tmp !== null; prev = tmp, tmp = tmp.sibling) {
    if (tmp !== old) continue;
    let repl: Resource | null;
    if (releaseChild || tmp.child === null) {
      repl = tmp.sibling;
    } else {
      let chd = tmp.child;
      for (;;) {
        chd.parent = parent;
        if (chd.sibling === null) break;
        chd = chd.sibling;
      }
      chd.sibling = tmp.sibling;
      repl = tmp.child;
    }
    if (prev === null) parent.child = repl;
    else prev.sibling = repl;
    old.parent = null;
    return 0;
  }
  return -EINVAL;
}

/**
 * request_resource_conflict(root, new) (kernel/resource.c): links `nw` as a
 * child of `root` if it lies inside `root` and overlaps no child. Returns
 * null on success, else the conflicting resource (a child, or `root` itself
 * when `nw` does not fit in it). Does not descend into children.
 */
export function request_resource_conflict(
  k: Kernel,
  root: Resource,
  nw: Resource,
): Resource | null {
  k.clock.advance(k.cost.get("resource.request"));
  const conflict = __request_resource(root, nw);
  if (k.trace.on) emit(k, conflict === null ? "request" : "conflict", nw.start, nw.end, nw.name);
  return conflict;
}

/**
 * request_resource(root, new) (kernel/resource.c): 0, or -EBUSY on any
 * conflict (see {@link request_resource_conflict}).
 *
 * @example
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { DEFINE_RES_MEM_NAMED, iomem_resource, request_resource } from "./resource.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * const ram = DEFINE_RES_MEM_NAMED(0, 2 ** 30, "System RAM");
 * assertEquals(request_resource(k, iomem_resource(k), ram), 0);
 * assertEquals(request_resource(k, iomem_resource(k), DEFINE_RES_MEM_NAMED(4096, 4096, "x")), -16);
 * ```
 */
export function request_resource(k: Kernel, root: Resource, nw: Resource): number {
  return request_resource_conflict(k, root, nw) !== null ? -EBUSY : 0;
}

/**
 * release_resource(old) (kernel/resource.c): unlinks `old` and its whole
 * subtree from the tree. 0, or -EINVAL if `old` is not in a tree.
 */
export function release_resource(k: Kernel, old: Resource): number {
  const { start, end, name } = old;
  const rc = __release_resource(old, true);
  if (rc === 0 && k.trace.on) emit(k, "release", start, end, name);
  return rc;
}

/**
 * remove_resource(old) (kernel/resource.c): unlinks `old`; its children move
 * up to where they were before insert_resource nested them. 0 or -EINVAL.
 */
export function remove_resource(k: Kernel, old: Resource): number {
  const { start, end, name } = old;
  const rc = __release_resource(old, false);
  if (rc === 0 && k.trace.on) emit(k, "release", start, end, name);
  return rc;
}

function __insert_resource(k: Kernel, parent: Resource, nw: Resource): Resource | null {
  let first: Resource | null;
  for (;; parent = first) {
    first = __request_resource(parent, nw);
    if (first === null) return null;
    if (first === parent) return first;
    if (WARN_ON(k, first === nw)) return first; // duplicated insertion
    if (first.start > nw.start || first.end < nw.end) break;
    if (first.start === nw.start && first.end === nw.end) break;
  }
  // `first` is the lowest child of `parent` overlapping `nw`; every child from
  // there to the last one overlapping `nw` must lie wholly inside `nw`.
  let next: Resource = first;
  for (;;) {
    if (next.start < nw.start || next.end > nw.end) return next; // partial overlap
    if (next.sibling === null || next.sibling.start > nw.end) break;
    next = next.sibling;
  }
  nw.parent = parent;
  nw.sibling = next.sibling;
  nw.child = first;
  next.sibling = null;
  for (let c: Resource | null = first; c !== null; c = c.sibling) c.parent = nw;
  if (parent.child === first) parent.child = nw;
  else {
    let p = parent.child!;
    while (p.sibling !== first) p = p.sibling!;
    p.sibling = nw;
  }
  return null;
}

/**
 * insert_resource_conflict(parent, new) (kernel/resource.c): like
 * request_resource_conflict, but descends into a conflicting resource that
 * contains `nw`, and when the conflicting resources all lie inside `nw`, links
 * `nw` in their place and makes them its children. Returns null, or the
 * conflict (a partial overlap, or `parent` when `nw` does not fit). Inserting
 * a resource twice WARNs.
 */
export function insert_resource_conflict(
  k: Kernel,
  parent: Resource,
  nw: Resource,
): Resource | null {
  const conflict = __insert_resource(k, parent, nw);
  if (k.trace.on) emit(k, conflict === null ? "insert" : "conflict", nw.start, nw.end, nw.name);
  return conflict;
}

/** insert_resource(parent, new) (kernel/resource.c): 0, or -EBUSY on conflict. */
export function insert_resource(k: Kernel, parent: Resource, nw: Resource): number {
  return insert_resource_conflict(k, parent, nw) !== null ? -EBUSY : 0;
}

/** lookup_resource(root, start) (kernel/resource.c): the direct child of `root` starting at `start`, or null. */
export function lookup_resource(root: Resource, start: number): Resource | null {
  for (let r = root.child; r !== null; r = r.sibling) if (r.start === start) return r;
  return null;
}

/**
 * __request_region(parent, start, n, name, flags) (kernel/resource.c):
 * creates a BUSY resource [start, start + n - 1] with flags = parent's type
 * and extended type | IORESOURCE_BUSY | `flags`, and desc = the desc of the
 * resource it ends up in. A conflicting child that is not BUSY becomes the
 * new parent and the request retries inside it; a BUSY conflict, or a
 * request sticking out of the current parent, fails. Returns the new
 * resource, or NULL (never an errno: callers pick one). Fault point
 * "request_mem_region": the allocation fails, NULL.
 *
 * Two IORESOURCE_MUXED claims would sleep until the holder releases; the
 * model does not sleep here and throws instead (no modelled driver muxes).
 */
export function __request_region(
  k: Kernel,
  parent: Resource,
  start: number,
  n: number,
  name: string | null,
  flags: number,
): Resource | null {
  if (k.faults.shouldFail("request_mem_region")) return null;
  k.clock.advance(k.cost.get("resource.request"));
  const res = new Resource({ name, start, end: start + n - 1 });
  for (;;) {
    res.flags = (resource_type(parent) | (parent.flags & IORESOURCE_EXT_TYPE_BITS) |
      IORESOURCE_BUSY | flags) >>> 0;
    res.desc = parent.desc;
    const conflict = __request_resource(parent, res);
    if (conflict === null) break;
    if (conflict !== parent && !(conflict.flags & IORESOURCE_BUSY)) {
      parent = conflict;
      continue;
    }
    if (conflict.flags & flags & IORESOURCE_MUXED) {
      throw new RangeError(
        `Cannot wait for muxed resource ${
          resource_string(conflict, "R")
        }: the model does not sleep in __request_region`,
      );
    }
    if (k.trace.on) emit(k, "conflict", res.start, res.end, name);
    return null;
  }
  if (k.trace.on) emit(k, "request", res.start, res.end, name);
  return res;
}

/**
 * request_mem_region(start, n, name) (include/linux/ioport.h):
 * `__request_region(&iomem_resource, start, n, name, 0)` — the new BUSY
 * resource, or NULL on conflict or allocation failure.
 *
 * @example Claims nest inside non-busy containers, and conflict on busy ones
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { insert_resource, iomem_resource, iomemTree, request_mem_region, Resource } from "./resource.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * // A non-BUSY container, as the NFIT driver inserts it.
 * const pm = new Resource({ name: "Persistent Memory", start: 0x100000000, end: 0x13fffffff, flags: 0x200, desc: 4 });
 * assertEquals(insert_resource(k, iomem_resource(k), pm), 0);
 * assert(request_mem_region(k, 0x100000000, 0x10000000, "namespace0.0") !== null);
 * assertEquals(request_mem_region(k, 0x100000000, 0x1000, "other"), null);
 * assertEquals(
 *   iomemTree(k),
 *   "100000000-13fffffff : Persistent Memory\n  100000000-10fffffff : namespace0.0",
 * );
 * ```
 */
export function request_mem_region(
  k: Kernel,
  start: number,
  n: number,
  name: string | null,
): Resource | null {
  return __request_region(k, iomem_resource(k), start, n, name, 0);
}

/**
 * __release_region(parent, start, n) (kernel/resource.c): descends through
 * non-BUSY resources covering [start, start + n - 1] and frees the BUSY one
 * that matches it exactly (its children, if any, go with it). A BUSY resource
 * that covers but does not match stops the search. Not found: printk
 * "Trying to free nonexistent resource <%016llx-%016llx>" at KERN_WARNING.
 */
export function __release_region(k: Kernel, parent: Resource, start: number, n: number): void {
  const end = start + n - 1;
  let owner = parent;
  let prev: Resource | null = null;
  let res = parent.child;
  while (res !== null) {
    if (res.start <= start && res.end >= end) {
      if (!(res.flags & IORESOURCE_BUSY)) {
        owner = res;
        prev = null;
        res = res.child;
        continue;
      }
      if (res.start !== start || res.end !== end) break;
      if (prev === null) owner.child = res.sibling;
      else prev.sibling = res.sibling;
      res.parent = null;
      res.sibling = null;
      if (k.trace.on) emit(k, "release", start, end, res.name);
      return;
    }
    prev = res;
    res = res.sibling;
  }
  k.dmesg.printk(
    "warning",
    `Trying to free nonexistent resource <${hex16(start)}-${hex16(end)}>`,
  );
}

/** release_mem_region(start, n) (include/linux/ioport.h): `__release_region(&iomem_resource, start, n)`. */
export function release_mem_region(k: Kernel, start: number, n: number): void {
  __release_region(k, iomem_resource(k), start, n);
}

function hex16(v: number): string {
  // %016llx of a u64: negative model values (start 0, n 0) wrap as in C.
  return (v < 0 ? BigInt.asUintN(64, BigInt(v)) : BigInt(v)).toString(16).padStart(16, "0");
}

/**
 * region_intersects(start, size, flags, desc) (kernel/resource.c): how
 * [start, start + size - 1] relates to the resources of type (`flags`,
 * `desc`) among the DIRECT children of iomem_resource (nested resources are
 * not looked at). A child is "of type" when it has every bit of `flags` and
 * `desc` is IORES_DESC_NONE or equal to its desc. For each child, one hit is
 * counted for each of: start inside it, end inside it, it wholly inside the
 * region. No hit on another child: REGION_INTERSECTS if any hit on a typed
 * one, else REGION_DISJOINT; hits on both: REGION_MIXED; only on others:
 * REGION_DISJOINT. With flags 0 and IORES_DESC_NONE every child is "of
 * type": the answer is whether any top-level resource overlaps the region.
 *
 * @example
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import {
 *   IORES_DESC_NONE, IORESOURCE_SYSTEM_RAM, REGION_DISJOINT, REGION_INTERSECTS, REGION_MIXED,
 *   Resource, insert_resource, iomem_resource, region_intersects,
 * } from "./resource.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * const G = 2 ** 30;
 * insert_resource(k, iomem_resource(k), new Resource({ name: "System RAM", start: 0, end: 4 * G - 1, flags: IORESOURCE_SYSTEM_RAM | 0x80000000 }));
 * insert_resource(k, iomem_resource(k), new Resource({ name: "Persistent Memory", start: 4 * G, end: 8 * G - 1, flags: 0x200 }));
 * const ram = (s: number, n: number) => region_intersects(k, s, n, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE);
 * assertEquals(ram(G, G), REGION_INTERSECTS);
 * assertEquals(ram(5 * G, G), REGION_DISJOINT);
 * assertEquals(ram(4 * G - 2 ** 26, 2 ** 27), REGION_MIXED);
 * ```
 */
export function region_intersects(
  k: Kernel,
  start: number,
  size: number,
  flags: number,
  desc: number,
): number {
  const end = start + size - 1;
  let type = 0, other = 0;
  for (let p = iomem_resource(k).child; p !== null; p = p.sibling) {
    const isType = ((p.flags & flags) >>> 0) === (flags >>> 0) &&
      (desc === IORES_DESC_NONE || desc === p.desc);
    const hits = (start >= p.start && start <= p.end ? 1 : 0) +
      (end >= p.start && end <= p.end ? 1 : 0) +
      (p.start >= start && p.end <= end ? 1 : 0);
    if (isType) type += hits;
    else other += hits;
  }
  if (other === 0) return type ? REGION_INTERSECTS : REGION_DISJOINT;
  if (type) return REGION_MIXED;
  return REGION_DISJOINT;
}

/** next_resource(p, sibling_only): pre-order successor (children first), or the next sibling. */
function next_resource(p: Resource, siblingOnly: boolean): Resource | null {
  if (siblingOnly) return p.sibling;
  if (p.child !== null) return p.child;
  while (p.sibling === null && p.parent !== null) p = p.parent;
  return p.sibling;
}

/** The clipped copy walk_iomem_res_desc passes to its callback. */
export interface ResourceRange {
  /** First byte of the overlap. */
  start: number;
  /** Last byte of the overlap (inclusive). */
  end: number;
  /** The matching resource's flags. */
  flags: number;
  /** The matching resource's desc. */
  desc: number;
}

/**
 * find_next_iomem_res: the lowest resource in pre-order (whole tree, or the
 * top level only) with every bit of `flags` and a matching `desc` that
 * overlaps [start, end], clipped to it; null if none (the kernel's -1), and
 * null for start >= end (its -EINVAL).
 */
function find_next_iomem_res(
  k: Kernel,
  start: number,
  end: number,
  flags: number,
  desc: number,
  firstLvl: boolean,
): ResourceRange | null {
  if (start >= end) return null;
  let p = iomem_resource(k).child;
  for (; p !== null; p = next_resource(p, firstLvl)) {
    if (((p.flags & flags) >>> 0) !== (flags >>> 0)) continue;
    if (desc !== IORES_DESC_NONE && desc !== p.desc) continue;
    if (p.start > end) return null;
    if (p.end >= start && p.start <= end) break;
  }
  if (p === null) return null;
  return {
    start: Math.max(start, p.start),
    end: Math.min(end, p.end),
    flags: p.flags,
    desc: p.desc,
  };
}

/**
 * __walk_iomem_res_desc(start, end, flags, desc, first_lvl, arg, func)
 * (static): the walk behind walk_iomem_res_desc and walk_system_ram_res;
 * `arg` is the closure `func` carries.
 */
function __walk_iomem_res_desc(
  k: Kernel,
  start: number,
  end: number,
  flags: number,
  desc: number,
  firstLvl: boolean,
  func: (res: ResourceRange) => number,
): number {
  let ret = -1;
  while (start < end) {
    const res = find_next_iomem_res(k, start, end, flags, desc, firstLvl);
    if (res === null) break;
    ret = func(res);
    if (ret) break;
    start = res.end + 1;
  }
  return ret;
}

/**
 * walk_iomem_res_desc(desc, flags, start, end, arg, func) (kernel/resource.c):
 * calls `func` with the clipped part of every resource in the WHOLE tree (in
 * pre-order) that has every bit of `flags`, matches `desc` (IORES_DESC_NONE
 * matches any) and overlaps [start, end]; stops at the first non-zero return.
 * Returns that value, 0, or -1 when nothing matched. (`arg` is the closure.)
 */
export function walk_iomem_res_desc(
  k: Kernel,
  desc: number,
  flags: number,
  start: number,
  end: number,
  func: (res: ResourceRange) => number,
): number {
  return __walk_iomem_res_desc(k, start, end, flags, desc, false, func);
}

/**
 * walk_system_ram_res(start, end, arg, func) (kernel/resource.c): as
 * walk_iomem_res_desc over the TOP-LEVEL resources that are
 * IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY. (`arg` is the closure.)
 */
export function walk_system_ram_res(
  k: Kernel,
  start: number,
  end: number,
  func: (res: ResourceRange) => number,
): number {
  return __walk_iomem_res_desc(
    k,
    start,
    end,
    IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY,
    IORES_DESC_NONE,
    true,
    func,
  );
}

/**
 * walk_system_ram_range(start_pfn, nr_pages, arg, func) (kernel/resource.c,
 * generic version): calls `func(pfn, nr)` for the whole pages of each
 * top-level busy System RAM resource in the pfn range; returns as
 * walk_iomem_res_desc. (`arg` is the closure.) page_is_ram(pfn) is `walk_system_ram_range(pfn, 1,
 * ...) == 1` with a func returning 1.
 */
export function walk_system_ram_range(
  k: Kernel,
  startPfn: number,
  nrPages: number,
  func: (pfn: number, nr: number) => number,
): number {
  let start = startPfn * 4096;
  const end = (startPfn + nrPages) * 4096 - 1;
  let ret = -1;
  while (start < end) {
    const res = find_next_iomem_res(
      k,
      start,
      end,
      IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY,
      IORES_DESC_NONE,
      true,
    );
    if (res === null) break;
    const pfn = Math.floor((res.start + 4095) / 4096);
    const endPfn = Math.floor((res.end + 1) / 4096);
    if (endPfn > pfn) ret = func(pfn, endPfn - pfn);
    if (ret) break;
    start = res.end + 1;
  }
  return ret;
}

/** page_is_ram(pfn) (kernel/resource.c, generic): 1 if the page is in a top-level busy System RAM resource, else 0. */
export function page_is_ram(k: Kernel, pfn: number): number {
  return walk_system_ram_range(k, pfn, 1, () => 1) === 1 ? 1 : 0;
}

/** One resource of a tree walk: the resource and its depth below the root (0 = top level). */
export interface ResourceAtDepth {
  /** The resource. */
  res: Resource;
  /** 0 for the root's direct children. */
  depth: number;
}

/** Every resource under `root` in pre-order (the order /proc/iomem prints), with depths. */
export function* resourceWalk(root: Resource): IterableIterator<ResourceAtDepth> {
  let depth = 0;
  let p = root.child;
  while (p !== null) {
    yield { res: p, depth };
    if (p.child !== null) {
      p = p.child;
      depth++;
      continue;
    }
    while (p !== null && p.sibling === null) {
      p = p.parent;
      depth--;
      if (p === root) p = null;
    }
    if (p !== null) p = p.sibling;
  }
}

/** The top-level resource (a direct child of iomem_resource) containing `addr`, or null. */
export function iomemTopLevelAt(k: Kernel, addr: number): Resource | null {
  for (let p = iomem_resource(k).child; p !== null && p.start <= addr; p = p.sibling) {
    if (addr <= p.end) return p;
  }
  return null;
}

/** The deepest resource under `root` containing `addr`, or null. */
export function resourceAt(root: Resource, addr: number): Resource | null {
  let found: Resource | null = null;
  let p = root.child;
  while (p !== null) {
    if (p.start > addr) break;
    if (addr <= p.end) {
      found = p;
      p = p.child;
    } else p = p.sibling;
  }
  return found;
}

/**
 * The tree under `root` as /proc/<iomem|ioports> prints it (r_show): one line
 * per resource, "%0*llx-%0*llx : name", indented two spaces per level (at
 * most 5 levels), with width 4 for a root ending below 0x10000 and 8
 * otherwise — a minimum, so addresses above 4 GiB print wider. Lines are
 * joined with "\n", no trailing newline.
 */
export function resourceTree(root: Resource): string {
  const width = root.end < 0x10000 ? 4 : 8;
  const lines: string[] = [];
  for (const { res, depth } of resourceWalk(root)) {
    const d = Math.min(depth, MAX_IORES_LEVEL);
    lines.push(
      `${" ".repeat(d * 2)}${res.start.toString(16).padStart(width, "0")}-${
        res.end.toString(16).padStart(width, "0")
      } : ${res.name ?? "<BAD>"}`,
    );
  }
  return lines.join("\n");
}

/**
 * /proc/iomem of this kernel, as root reads it: "00000000-0009fbff : System
 * RAM", children indented two spaces. See {@link resourceTree}.
 */
export function iomemTree(k: Kernel): string {
  return resourceTree(iomem_resource(k));
}

/**
 * The top-down free-range search of HMM (kernel-reference §4). In v4.20 and
 * v5.0 it is inline in hmm_devmem_add (mm/hmm.c); v5.3 moved the same loop
 * into devm_request_free_mem_region (kernel/resource.c; the non-devm
 * request_free_mem_region came later). `size` is rounded up to a
 * 128 MiB section; candidates are the size-long slots counted down from
 * min(iomem_resource.end, 2^maxPhysmemBits - 1) + 1, tried while the
 * candidate is above `size` and not below iomem_resource.start; the first for
 * which region_intersects(addr, size, 0, IORES_DESC_NONE) is REGION_DISJOINT
 * (no top-level resource overlaps it) is returned. None: -ERANGE. The caller
 * then requests ALIGN(size, 128 MiB) bytes there itself
 * (devm_request_mem_region; NULL is -ENOMEM in hmm_devmem_add, no retry).
 *
 * Throws a RangeError for a size of 0 or one larger than the address space
 * (the kernel would loop or wrap around).
 *
 * @example First and second 1 GiB device-private regions
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { hmm_find_free_region, request_mem_region } from "./resource.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * const a = hmm_find_free_region(k, 2 ** 30, 46);
 * assertEquals(a, 0x3fffc0000000);
 * request_mem_region(k, a, 2 ** 30, "gpu0");
 * assertEquals(hmm_find_free_region(k, 2 ** 30, 46), 0x3fff80000000);
 * ```
 */
export function hmm_find_free_region(k: Kernel, size: number, maxPhysmemBits: number): number {
  if (!Number.isInteger(maxPhysmemBits) || maxPhysmemBits < 28 || maxPhysmemBits > 52) {
    throw new RangeError(
      `Cannot search for free device memory: MAX_PHYSMEM_BITS ${maxPhysmemBits} is not in 28..52`,
    );
  }
  const iomem = iomem_resource(k);
  const top = Math.min(iomem.end, 2 ** maxPhysmemBits - 1);
  if (!Number.isSafeInteger(size) || size <= 0 || size > top + 1) {
    throw new RangeError(
      `Cannot search for free device memory: size ${size} is not in 1..2^${maxPhysmemBits}`,
    );
  }
  size = Math.ceil(size / PA_SECTION_SIZE) * PA_SECTION_SIZE;
  for (let addr = top - size + 1; addr > size && addr >= iomem.start; addr -= size) {
    if (region_intersects(k, addr, size, 0, IORES_DESC_NONE) !== REGION_DISJOINT) continue;
    return addr;
  }
  return -ERANGE;
}
