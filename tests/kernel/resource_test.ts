import { assert, assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { ERANGE } from "../../lib/kernel/errno.ts";
import { Kernel } from "../../lib/kernel/kernel.ts";
import {
  __release_region,
  __request_region,
  DEFINE_RES_MEM_NAMED,
  hmm_find_free_region,
  insert_resource,
  iomem_resource,
  iomemTopLevelAt,
  iomemTree,
  ioport_resource,
  IORES_DESC_NONE,
  IORES_DESC_PERSISTENT_MEMORY,
  IORESOURCE_BUSY,
  IORESOURCE_IO,
  IORESOURCE_MEM,
  IORESOURCE_SYSTEM_RAM,
  page_is_ram,
  REGION_DISJOINT,
  REGION_INTERSECTS,
  region_intersects,
  REGION_MIXED,
  release_mem_region,
  release_resource,
  remove_resource,
  request_mem_region,
  request_resource,
  Resource,
  resource_string,
  resourceAt,
  resourceTree,
  walk_iomem_res_desc,
  walk_system_ram_range,
} from "../../lib/kernel/resource.ts";

const M = 2 ** 20, G = 2 ** 30;

function kernel(): Kernel {
  return new Kernel({ cpus: 2, seed: 1 });
}

/** A top-level resource as firmware code inserts it (BUSY for RAM, not for containers). */
function top(
  k: Kernel,
  name: string,
  start: number,
  size: number,
  flags: number,
  desc = 0,
): Resource {
  const r = new Resource({ name, start, end: start + size - 1, flags, desc });
  assertEquals(insert_resource(k, iomem_resource(k), r), 0);
  return r;
}

function ram(k: Kernel, start: number, size: number): Resource {
  return top(k, "System RAM", start, size, IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY);
}

Deno.test("resource: iomem_resource is per kernel, 'PCI mem' [0, 2^52 - 1]", () => {
  const a = kernel(), b = kernel();
  const root = iomem_resource(a);
  assertEquals([root.name, root.start, root.end, root.flags], [
    "PCI mem",
    0,
    2 ** 52 - 1,
    IORESOURCE_MEM,
  ]);
  assert(iomem_resource(b) !== root);
  assertStrictEquals(iomem_resource(a), root);
  assertEquals(ioport_resource(a).end, 0xffff);
});

Deno.test("resource: __request_region nests through non-BUSY containers and inherits desc", () => {
  const k = kernel();
  const pm = top(
    k,
    "Persistent Memory",
    4 * G,
    4 * G,
    IORESOURCE_MEM,
    IORES_DESC_PERSISTENT_MEMORY,
  );
  const ns = request_mem_region(k, 4 * G, G, "namespace0.0");
  assert(ns !== null);
  assertStrictEquals(ns.parent, pm);
  assertEquals(ns.flags >>> 0, (IORESOURCE_MEM | IORESOURCE_BUSY) >>> 0);
  assertEquals(ns.desc, IORES_DESC_PERSISTENT_MEMORY);
  // A second claim next to it nests too; a third overlapping the BUSY one fails.
  const ns1 = request_mem_region(k, 5 * G, G, "namespace0.1");
  assert(ns1 !== null);
  assertEquals([...pm.children()].map((r) => r.name), ["namespace0.0", "namespace0.1"]);
  assertEquals(request_mem_region(k, 4 * G + M, M, "pmem0"), null);
  // Three levels: a bridge window holding a BAR holding a driver's claim.
  const win = top(k, "PCI Bus 0000:00", 64 * G, 16 * G, IORESOURCE_MEM);
  const bar = __request_region(k, win, 64 * G, 256 * M, "0000:01:00.0", 0);
  assert(bar !== null);
  bar.flags &= ~IORESOURCE_BUSY; // a BAR as the PCI core claims it: not busy
  const p2p = request_mem_region(k, 64 * G, 128 * M, "p2pmem");
  assert(p2p !== null);
  assertStrictEquals(p2p.parent, bar);
  assertStrictEquals(resourceAt(iomem_resource(k), 64 * G + 4096), p2p);
});

Deno.test("resource: a BUSY conflict fails — NULL from __request_region, -EBUSY from request_resource", () => {
  const k = kernel();
  k.trace.on = true;
  ram(k, 0, 4 * G);
  assertEquals(request_mem_region(k, 2 * G, 4096, "dax0"), null);
  assertEquals(
    request_resource(k, iomem_resource(k), DEFINE_RES_MEM_NAMED(4 * G - 4096, 8192, "x")),
    -16,
  );
  assertEquals(request_resource(k, iomem_resource(k), DEFINE_RES_MEM_NAMED(4 * G, 8192, "y")), 0);
  const ev = k.trace.filter("resource").map((e) => `${e.op} ${e.name}`);
  assertEquals(ev, ["insert System RAM", "conflict dax0", "conflict x", "request y"]);
});

Deno.test("resource: a request sticking out of its non-BUSY container fails", () => {
  const k = kernel();
  const pm = top(k, "Persistent Memory", 4 * G, 4 * G, IORESOURCE_MEM);
  assertEquals(request_mem_region(k, 7 * G, 2 * G, "too-big"), null);
  assertEquals(pm.child, null);
  // request_resource does not descend: any overlap with the container conflicts.
  assertEquals(request_resource(k, iomem_resource(k), DEFINE_RES_MEM_NAMED(5 * G, G, "z")), -16);
  // An empty or inverted request conflicts with the parent itself.
  assertEquals(request_mem_region(k, 9 * G, 0, "empty"), null);
});

Deno.test("resource: region_intersects counts only top-level resources, type vs other", () => {
  const k = kernel();
  const R = (s: number, n: number) =>
    region_intersects(k, s, n, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE);
  ram(k, 0, 4 * G);
  top(k, "Persistent Memory", 4 * G, 4 * G, IORESOURCE_MEM, IORES_DESC_PERSISTENT_MEMORY);
  // System RAM nested inside a non-RAM top-level container is not seen as RAM.
  const win = top(k, "PCI Bus", 16 * G, 4 * G, IORESOURCE_MEM);
  const nested = new Resource({
    name: "System RAM",
    start: 16 * G,
    end: 17 * G - 1,
    flags: IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY,
  });
  assertEquals(insert_resource(k, win, nested), 0);
  assertEquals(R(G, G), REGION_INTERSECTS); // inside RAM
  assertEquals(R(3 * G, 2 * G), REGION_MIXED); // RAM end + pmem start
  assertEquals(R(5 * G, G), REGION_DISJOINT); // only "other"
  assertEquals(R(12 * G, G), REGION_DISJOINT); // a hole
  assertEquals(R(16 * G, 128 * M), REGION_DISJOINT); // nested RAM: not counted
  assertEquals(R(2 * G, 10 * G), REGION_MIXED); // RAM end, pmem wholly inside
  // RAM plus a hole, no other resource: still INTERSECTS.
  assertEquals(R(3 * G, G + 8 * G), REGION_MIXED);
  assertEquals(R(3 * G, G), REGION_INTERSECTS);
  // desc filters: pmem by desc vs RAM as "other".
  const P = (s: number, n: number) =>
    region_intersects(k, s, n, IORESOURCE_MEM, IORES_DESC_PERSISTENT_MEMORY);
  assertEquals(P(4 * G, G), REGION_INTERSECTS);
  assertEquals(P(3 * G, 2 * G), REGION_MIXED);
  // flags 0 + NONE: "does any top-level resource overlap".
  assertEquals(region_intersects(k, 12 * G, G, 0, IORES_DESC_NONE), REGION_DISJOINT);
  assertEquals(region_intersects(k, 16 * G + G, G, 0, IORES_DESC_NONE), REGION_INTERSECTS);
});

Deno.test("resource: releasing a nonexistent region prints the kernel's warning", () => {
  const k = kernel();
  release_mem_region(k, 0x1000, 0x1000);
  assertEquals(k.dmesg.lines.map((l) => [l.level, l.text]), [
    ["warning", "Trying to free nonexistent resource <0000000000001000-0000000000001fff>"],
  ]);
  // A BUSY resource covering the range but not matching it stops the search.
  const r = request_mem_region(k, 0, G, "System RAM");
  assert(r !== null);
  release_mem_region(k, 0, 4096);
  assertEquals(k.dmesg.lines.length, 2);
  assertStrictEquals(iomem_resource(k).child, r);
  // The exact match is freed, silently.
  release_mem_region(k, 0, G);
  assertEquals(iomem_resource(k).child, null);
  assertEquals(k.dmesg.lines.length, 2);
});

Deno.test("resource: __release_region descends into non-BUSY containers", () => {
  const k = kernel();
  k.trace.on = true;
  const pm = top(k, "Persistent Memory", 4 * G, 4 * G, IORESOURCE_MEM);
  assert(request_mem_region(k, 5 * G, G, "ns") !== null);
  __release_region(k, iomem_resource(k), 5 * G, G);
  assertEquals(pm.child, null);
  assertEquals(k.trace.filter("resource").at(-1)!.op, "release");
  assertEquals(k.dmesg.lines.length, 0);
});

Deno.test("resource: insert_resource adopts contained resources; remove_resource gives them back", () => {
  const k = kernel();
  const root = iomem_resource(k);
  const a = request_mem_region(k, 4 * G, M, "a");
  const b = request_mem_region(k, 5 * G, M, "b");
  assert(a !== null && b !== null);
  const c = new Resource({
    name: "container",
    start: 4 * G,
    end: 6 * G - 1,
    flags: IORESOURCE_MEM,
  });
  assertEquals(insert_resource(k, root, c), 0);
  assertEquals([...root.children()].map((r) => r.name), ["container"]);
  assertEquals([...c.children()].map((r) => r.name), ["a", "b"]);
  assertStrictEquals(a.parent, c);
  // Partial overlap cannot be fixed.
  const bad = new Resource({ name: "bad", start: 5 * G, end: 7 * G - 1, flags: IORESOURCE_MEM });
  assertEquals(insert_resource(k, root, bad), -16);
  // Inserting inside a resource that contains it descends.
  const inner = new Resource({
    name: "inner",
    start: 4 * G + 2 * M,
    end: 4 * G + 3 * M - 1,
    flags: IORESOURCE_MEM,
  });
  assertEquals(insert_resource(k, root, inner), 0);
  assertStrictEquals(inner.parent, c);
  assertEquals(remove_resource(k, c), 0);
  assertEquals([...root.children()].map((r) => r.name), ["a", "inner", "b"]);
  assertStrictEquals(a.parent, root);
  assertEquals(release_resource(k, c), -22); // no longer linked
  assertEquals(release_resource(k, b), 0);
  assertEquals([...root.children()].map((r) => r.name), ["a", "inner"]);
});

Deno.test("resource: iomemTree prints /proc/iomem (width 8, wider when needed, two-space nesting)", () => {
  const k = kernel();
  top(k, "System RAM", 0x1000, 0x9f000, IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY);
  top(k, "Reserved", 0xa0000, 0x60000, IORESOURCE_MEM | IORESOURCE_BUSY);
  const pm = top(k, "Persistent Memory", 0x100000000, 0x80000000, IORESOURCE_MEM, 4);
  assert(request_mem_region(k, 0x100000000, 0x40000000, "namespace0.0") !== null);
  const ns = pm.child!;
  ns.flags &= ~IORESOURCE_BUSY;
  assert(request_mem_region(k, 0x100000000, 0x1000, "pmem0") !== null);
  assertEquals(
    iomemTree(k),
    [
      "00001000-0009ffff : System RAM",
      "000a0000-000fffff : Reserved",
      "100000000-17fffffff : Persistent Memory",
      "  100000000-13fffffff : namespace0.0",
      "    100000000-100000fff : pmem0",
    ].join("\n"),
  );
  const io = ioport_resource(k);
  assertEquals(
    request_resource(
      k,
      io,
      new Resource({ name: "dma1", start: 0, end: 0x1f, flags: IORESOURCE_IO }),
    ),
    0,
  );
  assertEquals(resourceTree(io), "0000-001f : dma1");
});

Deno.test("resource: resource_string formats %pR and %pr", () => {
  const r = new Resource({
    name: "x",
    start: 0x3fffc0000000,
    end: 0x3fffffffffff,
    flags: IORESOURCE_MEM | IORESOURCE_BUSY,
  });
  assertEquals(resource_string(r, "R"), "[mem 0x3fffc0000000-0x3fffffffffff]");
  assertEquals(resource_string(r, "r"), "[mem 0x3fffc0000000-0x3fffffffffff flags 0x80000200]");
  assertEquals(resource_string(DEFINE_RES_MEM_NAMED(0x1000, 1, null), "R"), "[mem 0x00001000]");
});

Deno.test("resource: walks find nested resources by desc, and whole RAM pages", () => {
  const k = kernel();
  ram(k, 0x1000, 0x9f800); // ends mid-page
  const win = top(k, "PCI Bus", 8 * G, 4 * G, IORESOURCE_MEM);
  const pm = new Resource({
    name: "pmem",
    start: 9 * G,
    end: 10 * G - 1,
    flags: IORESOURCE_MEM,
    desc: 4,
  });
  assertEquals(insert_resource(k, win, pm), 0);
  const seen: string[] = [];
  const rc = walk_iomem_res_desc(
    k,
    IORES_DESC_PERSISTENT_MEMORY,
    IORESOURCE_MEM,
    0,
    16 * G,
    (r) => {
      seen.push(`${r.start.toString(16)}-${r.end.toString(16)}`);
      return 0;
    },
  );
  assertEquals([rc, seen], [0, ["240000000-27fffffff"]]);
  assertEquals(walk_iomem_res_desc(k, 7, IORESOURCE_MEM, 0, 16 * G, () => 0), -1);
  const pages: number[][] = [];
  walk_system_ram_range(k, 0, 0x200, (pfn, nr) => (pages.push([pfn, nr]), 0));
  assertEquals(pages, [[1, 0x9f]]); // the partial last page is not RAM
  assertEquals([page_is_ram(k, 1), page_is_ram(k, 0xa0), page_is_ram(k, 0)], [1, 0, 0]);
  assertStrictEquals(iomemTopLevelAt(k, 9 * G), win);
  assertEquals(iomemTopLevelAt(k, 7 * G), null);
});

Deno.test("resource: HMM's top-down search (MAX_PHYSMEM_BITS 46)", () => {
  const k = kernel();
  ram(k, 0, 16 * G);
  const a = hmm_find_free_region(k, G, 46);
  assertEquals(a, 0x3fffc0000000);
  assert(request_mem_region(k, a, G, "hmm_dmirror.0") !== null);
  const b = hmm_find_free_region(k, G, 46);
  assertEquals(b, 0x3fff80000000);
  // Sizes round up to 128 MiB sections: 1 byte takes the top section.
  const k2 = kernel();
  assertEquals(hmm_find_free_region(k2, 1, 46), 2 ** 46 - 128 * M);
  // Any top-level overlap skips the slot, even a container with nothing in it.
  top(k2, "PCI Bus", 2 ** 46 - 256 * M, 128 * M, IORESOURCE_MEM);
  assertEquals(hmm_find_free_region(k2, 128 * M, 46), 2 ** 46 - 128 * M);
  top(k2, "PCI Bus 2", 2 ** 46 - 128 * M, 128 * M, IORESOURCE_MEM);
  assertEquals(hmm_find_free_region(k2, 128 * M, 46), 2 ** 46 - 384 * M);
  // 5-level paging: the search starts at 2^52.
  assertEquals(hmm_find_free_region(k2, G, 52), 2 ** 52 - G);
});

Deno.test("resource: HMM's search gives -ERANGE when no slot above `size` is free", () => {
  const k = kernel();
  // A 1 GiB physical space: 256 MiB slots at 768 MiB and 512 MiB (256 MiB is not > size).
  assertEquals(hmm_find_free_region(k, 256 * M, 30), 768 * M);
  assert(request_mem_region(k, 768 * M, 256 * M, "a") !== null);
  assertEquals(hmm_find_free_region(k, 256 * M, 30), 512 * M);
  assert(request_mem_region(k, 512 * M, 256 * M, "b") !== null);
  assertEquals(hmm_find_free_region(k, 256 * M, 30), -ERANGE);
  assertThrows(() => hmm_find_free_region(k, 0, 46), RangeError, "Cannot search");
  assertThrows(() => hmm_find_free_region(k, G, 60), RangeError, "MAX_PHYSMEM_BITS");
});

Deno.test("resource: fault point request_mem_region makes the allocation fail (NULL)", () => {
  const k = kernel();
  k.faults.arm("request_mem_region", { nth: 2 });
  assert(request_mem_region(k, 0, M, "first") !== null);
  assertEquals(request_mem_region(k, 2 * M, M, "second"), null);
  assertEquals([...iomem_resource(k).children()].map((r) => r.name), ["first"]);
  assert(request_mem_region(k, 2 * M, M, "third") !== null);
  assertEquals(k.faults.injected.map((f) => f.point), ["request_mem_region"]);
});

Deno.test("resource: misuse throws", () => {
  assertThrows(
    () => new Resource({ name: "x", start: 1.5, end: 10 }),
    TypeError,
    "Cannot create resource",
  );
});
