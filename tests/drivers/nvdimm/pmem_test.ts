import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { bootMachine, type Machine } from "../../../lib/machine.ts";
import { nd_bound_device } from "../../../lib/drivers/nvdimm/bind.ts";
import {
  __pmem_direct_access,
  __pmem_release_queue,
  fsdax_pagefree,
  nd_pmem_remove,
  pmem_freeze_queue,
  pmem_should_map_pages,
  pmemOf,
} from "../../../lib/drivers/nvdimm/pmem.ts";
import { QueueUsageCounter } from "../../../lib/drivers/block/blk-queue.ts";
import { PFN_DEV, PFN_MAP, PfnT } from "../../../lib/drivers/dax/super.ts";
import { MEMORY_DEVICE_FS_DAX } from "../../../lib/kernel/mm/types.ts";
import { pfn_valid } from "../../../lib/kernel/mm/mmzone.ts";
import { request_mem_region } from "../../../lib/kernel/resource.ts";
import { devresNames } from "../../../lib/kernel/devres.ts";
import type { NamespaceInfo, NdctlResult } from "../../../lib/hw/nvdimm/ndctl.ts";

function ok(r: NdctlResult<NamespaceInfo>): NamespaceInfo {
  if (!r.ok) throw new Error(`ndctl failed: ${r.rc} ${r.error}`);
  return r;
}

function fsdax(m: Machine, map: "mem" | "dev", size = "1G") {
  const nd = m.hw!.ndctl!;
  const info = ok(nd.createNamespace({ mode: "fsdax", map, size }));
  const ns = nd.namespace(info.dev)!;
  const dev = nd_bound_device(m.k, ns)!;
  return { nd, info, ns, dev, pmem: pmemOf(m.k, dev)! };
}

Deno.test("pmem: an fsdax namespace binds nd_pmem with the queue's q_usage_counter as the pgmap ref, at every level", () => {
  for (const series of [0, 2, 3, 7, "v4.20", "v5.0", "v5.2"] as const) {
    const m = bootMachine("workstation-2018", { series });
    const { dev, pmem } = fsdax(m, "mem");
    const what = m.k.series.label;
    assertEquals(dev.name, "pfn0.0", what);
    assertEquals(dev.driver?.name, "nd_pmem", what);
    const ref = pmem.pgmap.ref!;
    assert(ref instanceof QueueUsageCounter && ref.q === pmem.queue, what);
    // atomic at blk_alloc_queue_node, percpu once device_add_disk registered the queue
    assert(ref.isPercpu, what);
    assertEquals(ref.value, 1 + 262144, what); // 1 GiB, map=mem: every page of the namespace
    assertEquals(pmem.pgmap.type, MEMORY_DEVICE_FS_DAX, what);
    assertEquals(pmem.pgmap.page_free, fsdax_pagefree, what);
    assertEquals(pmem.pfn_flags, PFN_DEV | PFN_MAP, what);
    assert(pmem.queue!.dax, what);
    const level = typeof series === "number" ? series : series === "v4.20" ? 0 : 7;
    // patch 3/7: the freeze is the kill; 50f44ee7248a: blk_cleanup_queue is the cleanup
    assertEquals(pmem.pgmap.kill, level >= 3 ? pmem_freeze_queue : null, what);
    assertEquals(pmem.pgmap.cleanup, series === "v5.2" ? __pmem_release_queue : null, what);
    const names = devresNames(dev);
    assertEquals(names.includes("pmem_freeze_queue"), level < 3, what);
    assertEquals(names.includes("pmem_release_queue"), series !== "v5.2", what);
    if (level < 3) {
      // 4.20 registers the freeze after devm_memremap_pages, the release-queue action before it
      assert(
        names.indexOf("pmem_release_queue") < names.indexOf("devm_memremap_pages_release") &&
          names.indexOf("devm_memremap_pages_release") < names.indexOf("pmem_freeze_queue"),
        `${what}: ${names}`,
      );
    }
  }
});

Deno.test("pmem: map=dev carves the memmap from the device (altmap) and data pages start after it", () => {
  const m = bootMachine("workstation-2018", { series: "v5.0" });
  const { pmem, ns } = fsdax(m, "dev");
  const pgmap = pmem.pgmap;
  assert(pgmap.altmap_valid);
  assert(pgmap.altmap.alloc > 0);
  const dataoff = ns.claim!.sb!.dataoff;
  assertEquals(pmem.data_offset, dataoff);
  // one ref per data page: from base + vmem_altmap_offset to the end
  const offset = pgmap.altmap.reserve + pgmap.altmap.free;
  assertEquals(pgmap.ref!.value, 1 + 262144 - offset);
});

Deno.test("pmem: a raw namespace gets devm_memremap — no struct pages, no PFN_MAP; direct_access gives a plain device pfn", () => {
  const m = bootMachine("workstation-2018", { series: "v5.0" });
  const nd = m.hw!.ndctl!;
  const info = ok(nd.createNamespace({ mode: "raw", size: "1G" }));
  const ns = nd.namespace(info.dev)!;
  const dev = nd_bound_device(m.k, ns)!;
  assertEquals(dev.name, "namespace0.0");
  const pmem = pmemOf(m.k, dev)!;
  assertEquals(pmem.pfn_flags, PFN_DEV);
  assert(!pfn_valid(m.k, ns.start / 4096));
  assert(pmem.virt_addr >= 0xffffc90000000000n); // an ioremap_cache address
  assertEquals(pmem.pgmap.ref!.value, 1); // q_usage_counter: no pages hold it
  const pfn = new PfnT();
  assertEquals(__pmem_direct_access(m.k, pmem, 5, 8, pfn), 262144 - 5);
  assertEquals([pfn.pfn, pfn.flags], [ns.start / 4096 + 5, PFN_DEV]);
  assert(devresNames(dev).includes("devm_memremap_release"));
});

Deno.test("pmem: a claimed namespace range is -EBUSY, 'could not reserve region'", () => {
  const m = bootMachine("workstation-2018", { series: "v5.0" });
  const nd = m.hw!.ndctl!;
  const info = ok(nd.createNamespace({ mode: "fsdax", map: "mem", size: "256M" }));
  const ns = nd.namespace(info.dev)!;
  assertEquals(nd.disableNamespace(ns.name).rc, 0);
  assert(request_mem_region(m.k, ns.start, ns.size, "squatter") !== null);
  const r = nd.enableNamespace(ns.name);
  assertEquals(r.rc, -16);
  assertStringIncludes(
    m.k.dmesg.lines.map((l) => l.text).join("\n"),
    `nd_pmem pfn0.0: could not reserve region [mem 0x${ns.start.toString(16)}-0x${
      ns.end.toString(16)
    }]`,
  );
});

Deno.test("pmem: direct_access refuses pages with a known bad block (-EIO) and limits the range while badblocks exist", () => {
  const m = bootMachine("workstation-2018", { series: "v5.0" });
  const { pmem, ns, nd } = fsdax(m, "mem", "256M");
  const pfn = new PfnT();
  assertEquals(__pmem_direct_access(m.k, pmem, 0, 16, pfn), 65536 - pmem.data_offset / 4096);
  assertEquals(pfn.flags, PFN_DEV | PFN_MAP);
  // an error 8 pages into the data area, reported through a scrub
  assertEquals(nd.injectError(ns.name, { block: 64, count: 1 }).rc, 0);
  nd.startScrub();
  nd.waitScrub();
  assertEquals(__pmem_direct_access(m.k, pmem, 8, 1, pfn), -5);
  assertEquals(__pmem_direct_access(m.k, pmem, 0, 8, pfn), 8); // badblocks present: exactly what was asked
});

Deno.test("pmem: the queue freeze kills q_usage_counter once; blk_cleanup_queue waits for zero then exits (unbind at v4.20)", () => {
  const m = bootMachine("workstation-2018", { series: "v4.20" });
  const { pmem, nd, ns } = fsdax(m, "mem", "256M");
  const q = pmem.queue!;
  m.k.trace.on = true;
  assertEquals(nd.disableNamespace(ns.name).rc, 0);
  const blk = m.k.trace.events.filter((e) => e.kind === "blk").map((e) =>
    e.kind === "blk" ? `${e.op} ${e.depth}` : ""
  );
  // pmem_freeze_queue (0 → 1: the kill), then blk_cleanup_queue: dying (2), freeze (3), the wait
  assertEquals(blk, [
    "freeze_start 1",
    "dying 1",
    "freeze_start 2",
    "freeze_start 3",
    "freeze_wait 3",
    "freeze_done 3",
    "cleanup_done 3",
  ]);
  const kills = m.k.trace.events.filter((e) =>
    e.kind === "percpu_ref" && e.op === "kill" && e.ref === q.q_usage_counter.id
  );
  assertEquals(kills.length, 1);
  assert(q.dead && q.q_usage_counter.pcpu === null);
});

Deno.test("pmem_should_map_pages(dev): takes the device, as namespace_devs.c's bool pmem_should_map_pages(struct device *) does — a raw e820 namespace yes, a pfn device or force_raw no", () => {
  const m = bootMachine("workstation-2018", { series: "v5.0" });
  const nd = m.hw!.ndctl!;
  const raw = nd.namespace(ok(nd.createNamespace({ mode: "raw", size: "256M" })).dev)!;
  const rawDev = nd_bound_device(m.k, raw)!;
  const pfn = fsdax(m, "mem", "256M");
  assertEquals(pmem_should_map_pages(m.k, rawDev), false); // an ACPI.NFIT region: no ND_REGION_PAGEMAP
  (raw.bus.config as { provider: string }).provider = "e820"; // as if the range came from memmap=
  assertEquals(pmem_should_map_pages(m.k, rawDev), true);
  assertEquals(pmem_should_map_pages(m.k, pfn.dev), false); // is_nd_pfn
  raw.forceRaw = true;
  assertEquals(pmem_should_map_pages(m.k, rawDev), false);
});

Deno.test("nd_pmem_remove(dev): returns 0, as the kernel's static int nd_pmem_remove does", () => {
  const m = bootMachine("workstation-2018", { series: "v5.0" });
  const { dev } = fsdax(m, "mem", "256M");
  assertEquals(nd_pmem_remove(m.k, dev), 0);
});
