import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { bootMachine, type Machine } from "../../../lib/machine.ts";
import { Device, device_release_driver, driver_probe_device } from "../../../lib/kernel/device.ts";
import { devresHasAction, devresNames } from "../../../lib/kernel/devres.ts";
import { exportKind } from "../../../lib/kernel/exports.ts";
import { devm_memremap_pages_release, pgmapArray } from "../../../lib/kernel/memremap.ts";
import { pfn_valid } from "../../../lib/kernel/mm/mmzone.ts";
import { percpu_ref_is_dying } from "../../../lib/kernel/percpu-refcount.ts";
import { xaEntries } from "../../../lib/kernel/xarray.ts";
import { type PciDev, pciDevByName } from "../../../lib/drivers/pci/pci.ts";
import {
  DMA_TO_DEVICE,
  find_parent_pci_dev,
  P2PDMA,
  p2pmem_attr_show,
  pci_alloc_p2pmem,
  pci_free_p2pmem,
  pci_has_p2pmem,
  pci_p2pdma_add_resource,
  pci_p2pdma_distance,
  pci_p2pdma_distance_many,
  pci_p2pdma_map_sg,
  pci_p2pdma_percpu_kill,
  pci_p2pmem_alloc_sgl,
  pci_p2pmem_find,
  pci_p2pmem_free_sgl,
  pci_p2pmem_publish,
  pci_p2pmem_virt_to_bus,
} from "../../../lib/drivers/pci/p2pdma.ts";
import { p2pmemProviderDriver } from "../../../lib/drivers/pci/p2pmem-provider.ts";

const BAR2 = 0x2000_1000_0000;
const BAR4 = 0x2000_1800_0000;
const SECTION = 2 ** 27;

function rig(series: number | "v4.20" | "v5.0" | "v5.2", followups: string[] = []) {
  const m = bootMachine("p2p-rig", { series, followups });
  const pdev = pciDevByName(m.k, m.hw!.pci, "nvme0");
  return { m, k: m.k, pdev };
}

function lookupEntries(m: Machine): number {
  let n = 0;
  for (const _ of xaEntries(pgmapArray(m.k))) n++;
  return n;
}

Deno.test("p2pdma: pci_p2pdma_add_resource's argument checks (-EINVAL) and size 0 = the rest of the BAR", () => {
  const { m, pdev } = rig("v5.0");
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 1, 0, 0), -22); // upper half of BAR 0: no flags
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 2, 0, SECTION), -22); // offset ≥ length
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 2, SECTION, 4096), -22); // size + offset > length
  assertEquals(pdev.p2pdma, null); // nothing set up before the checks pass
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 2, SECTION / 2, SECTION / 2), 0);
  assertEquals(p2pmem_attr_show(m.k, pdev, "size"), `${SECTION / 2}\n`);
  const [b] = pdev.p2pdma!.bars;
  assertEquals([b!.pgmap.res.start, b!.pgmap.res.end], [BAR2 + SECTION / 2, BAR2 + SECTION - 1]);
  assertEquals(b!.pgmap.ref!.value, 1 + SECTION / 2 / 4096);
});

Deno.test("p2pdma: v4.20 devres order for two BARs; one shared ref; the kill is a devm action", () => {
  const { m, pdev } = rig("v4.20");
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 2, 0, 0), 0);
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 4, 0, 0), 0);
  assertEquals(devresNames(pdev), [
    "devm_kzalloc", // struct pci_p2pdma
    "pci_p2pdma_release",
    "devm_kzalloc", // pgmap 1
    "devm_memremap_pages_release",
    "pci_p2pdma_percpu_kill",
    "devm_kzalloc", // pgmap 2
    "devm_memremap_pages_release",
    "pci_p2pdma_percpu_kill",
  ]);
  const [b2, b4] = pdev.p2pdma!.bars;
  assert(b2!.ref === b4!.ref && b2!.ref === pdev.p2pdma!.devmap_ref);
  assertEquals([b2!.pgmap.kill, b4!.pgmap.kill], [null, null]);
  assertEquals(b2!.ref.value, 1 + 2 * 32768);
  assertEquals(p2pmem_attr_show(m.k, pdev, "size"), `${2 * SECTION}\n`);
  assertEquals(p2pmem_attr_show(m.k, pdev, "published"), "0\n");
  pci_p2pmem_publish(m.k, pdev, true);
  assertEquals([pci_has_p2pmem(pdev), p2pmem_attr_show(m.k, pdev, "published")], [true, "1\n"]);
  assertStringIncludes(
    m.k.dmesg.lines.map((l) => l.text).join("\n"),
    "pci 0000:03:00.0: added peer-to-peer DMA memory [mem 0x200018000000-0x20001fffffff 64bit pref]",
  );
});

Deno.test("p2pdma: v5.0 (p2pdma-pgmap-kill) sets pgmap->kill; v5.2 one ref per BAR with pgmap->cleanup", () => {
  const v50 = rig("v5.0");
  v50.m.call(pci_p2pdma_add_resource, v50.pdev, 2, 0, 0);
  assertEquals(devresNames(v50.pdev), [
    "devm_kzalloc",
    "pci_p2pdma_release",
    "devm_kzalloc",
    "devm_memremap_pages_release",
  ]);
  assertEquals(v50.pdev.p2pdma!.bars[0]!.pgmap.kill, pci_p2pdma_percpu_kill);
  assertEquals(v50.pdev.p2pdma!.bars[0]!.pgmap.cleanup, null);

  const v52 = rig("v5.2");
  v52.m.call(pci_p2pdma_add_resource, v52.pdev, 2, 0, 0);
  v52.m.call(pci_p2pdma_add_resource, v52.pdev, 4, 0, 0);
  const [b2, b4] = v52.pdev.p2pdma!.bars;
  assert(b2!.ref !== b4!.ref);
  assertEquals(v52.pdev.p2pdma!.devmap_ref, null);
  assertEquals([b2!.ref.value, b4!.ref.value], [1 + 32768, 1 + 32768]);
  assert(b2!.pgmap.cleanup !== null);
  assertEquals(devresNames(v52.pdev).filter((n) => n === "pci_p2pdma_percpu_cleanup"), []);

  // 1570175abd16 before 50f44ee7248a: the wait-and-exit is a devm action registered before the mapping
  const mid = rig(7, [
    "p2pdma-pgmap-kill",
    "devm_release_action",
    "devm_memunmap_pages",
    "genalloc-chunk-owners",
    "p2pdma-gen-pool-add-virt-fix",
    "1570175abd16",
  ]);
  mid.m.call(pci_p2pdma_add_resource, mid.pdev, 2, 0, 0);
  assertEquals(devresNames(mid.pdev).slice(2), [
    "devm_kzalloc", // struct p2pdma_pagemap
    "pci_p2pdma_percpu_cleanup",
    "devm_memremap_pages_release",
  ]);
});

Deno.test("p2pdma: one pgmap reference per allocation, not per page; v4.20 and v5.2 take it on different refs", () => {
  for (const series of ["v4.20", "v5.2"] as const) {
    const { m, k, pdev } = rig(series);
    m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2, 4] }), pdev);
    const [b2, b4] = pdev.p2pdma!.bars;
    const before = [b2!.ref.value, b4!.ref.value];
    const a = pci_alloc_p2pmem(k, pdev, 64 * 1024);
    assert(a !== 0n);
    // the pool hands out the chunk added last (BAR 4) first
    assertEquals(pci_p2pmem_virt_to_bus(k, pdev, a), BAR4);
    const after = [b2!.ref.value, b4!.ref.value];
    if (series === "v4.20") assertEquals(after, [before[0]! + 1, before[1]! + 1]); // same ref
    else assertEquals(after, [before[0]!, before[1]! + 1]); // BAR 4's own ref
    assertEquals(p2pmem_attr_show(k, pdev, "available"), `${2 * SECTION - 64 * 1024}\n`);
    assertEquals(k.state(P2PDMA).allocations.size, 1);
    pci_free_p2pmem(k, pdev, a, 64 * 1024);
    assertEquals([b2!.ref.value, b4!.ref.value], before);
    assertEquals(p2pmem_attr_show(k, pdev, "available"), `${2 * SECTION}\n`);
  }
});

Deno.test("p2pdma: after the device's ref is killed pci_alloc_p2pmem returns NULL (v5.0: a failed BAR kills the shared ref)", () => {
  const { m, k, pdev } = rig("v5.0");
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 2, 0, 0), 0);
  k.faults.arm("arch_add_memory", { nth: 1 });
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 4, 0, 0), -12);
  // kernel-reference §11 S11: BAR 2 is still mapped, but the device-wide ref is dead
  assert(percpu_ref_is_dying(pdev.p2pdma!.devmap_ref!));
  assert(pfn_valid(k, BAR2 / 4096));
  assertEquals(p2pmem_attr_show(k, pdev, "available"), `${SECTION}\n`);
  assertEquals(pci_alloc_p2pmem(k, pdev, 4096), 0n);
});

Deno.test("p2pdma: v4.20's kill action cannot be registered → the shared ref is killed at once (_or_reset)", () => {
  const { m, k, pdev } = rig("v4.20");
  // the third registration: setup's pci_p2pdma_release, the memremap release, then the kill
  k.faults.arm("devm_add_action", { nth: 3, caller: "pci_p2pdma_add_resource" });
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 2, 0, 0), -12);
  assert(percpu_ref_is_dying(pdev.p2pdma!.devmap_ref!));
  assertEquals(pci_alloc_p2pmem(k, pdev, 4096), 0n);
  // the pgmap was freed while its memremap release stays registered
  assertEquals(k.state(P2PDMA).danglingPgmaps.length, 1);
  const pgmap = k.state(P2PDMA).danglingPgmaps[0]!;
  assert(devresHasAction(pdev, devm_memremap_pages_release, pgmap));
});

Deno.test("p2pdma: gen_pool_add_virt failure — v4.20 leaves the release on a freed pgmap; v5.2 unmaps first", () => {
  for (const series of ["v4.20", "v5.0"] as const) {
    const { m, k, pdev } = rig(series);
    m.call(pci_p2pdma_add_resource, pdev, 2, 0, 0); // sets up the pool
    k.faults.arm("gen_pool_add_virt", { nth: 1 });
    assertEquals(m.call(pci_p2pdma_add_resource, pdev, 4, 0, 0), -12, series);
    const pgmap = k.state(P2PDMA).danglingPgmaps[0]!;
    assertEquals(pgmap.res.start, BAR4);
    // the devm_kzalloc node is gone but the release and the lookup entries stay
    assert(devresHasAction(pdev, devm_memremap_pages_release, pgmap), series);
    assert(pfn_valid(k, BAR4 / 4096), series);
    assertEquals(lookupEntries(m), 2, series);
  }
  const { m, k, pdev } = rig("v5.2");
  m.call(pci_p2pdma_add_resource, pdev, 2, 0, 0);
  k.faults.arm("gen_pool_add_virt", { nth: 1 });
  assertEquals(m.call(pci_p2pdma_add_resource, pdev, 4, 0, 0), -12);
  assertEquals(k.state(P2PDMA).danglingPgmaps, []);
  assertEquals(pfn_valid(k, BAR4 / 4096), false); // devm_memunmap_pages ran the release
  assertEquals(lookupEntries(m), 1);
  assertEquals(devresNames(pdev).filter((n) => n === "devm_memremap_pages_release").length, 1);
});

Deno.test("p2pdma: distance — same function 0, same switch 4, another root port -1, ACS redirect -2; find picks published providers", () => {
  const { m, k, pdev } = rig("v4.20");
  const gpu = pciDevByName(k, m.hw!.pci, "gpu0");
  const accel = pciDevByName(k, m.hw!.pci, "accel0");
  assertEquals(pci_p2pdma_distance(k, pdev, pdev, false), 0);
  assertEquals(pci_p2pdma_distance(k, pdev, gpu, false), 4);
  assertEquals(pci_p2pdma_distance(k, pdev, accel, false), -1);
  // a client below a PCI function is resolved to it; a non-PCI device is refused
  const child = new Device(k, "card0", "drm", gpu);
  assertEquals(find_parent_pci_dev(child), gpu);
  assertEquals(pci_p2pdma_distance(k, pdev, child, false), 4);
  const lone = new Device(k, "nullb0", "block");
  const n = k.dmesg.lines.length;
  assertEquals(pci_p2pdma_distance(k, pdev, lone, true), -1);
  assertStringIncludes(
    k.dmesg.lines[n]!.text,
    "cannot be used for peer-to-peer DMA as it is not a PCI device",
  );
  assertEquals(pci_p2pdma_distance_many(k, pdev, [gpu, pdev], 2, false), 4);
  assertEquals(pci_p2pdma_distance_many(k, pdev, [gpu, accel], 2, false), -1);
  assertEquals(pci_p2pdma_distance_many(k, pdev, [], 0, false), -1);

  m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2] }), pdev);
  assertEquals(pci_p2pmem_find(k, gpu), pdev);
  assertEquals(pci_p2pmem_find(k, accel), null);

  // ACS redirect on the switch port above the provider
  const desc = JSON.parse(
    Deno.readTextFileSync(new URL("../../../data/machines/p2p-rig.json", import.meta.url)),
  );
  desc.pci.devices.find((d: { name: string }) => d.name === "sw0-dp0").acsRedirect = true;
  const m2 = bootMachine(desc, { series: "v4.20" });
  const nv2 = pciDevByName(m2.k, m2.hw!.pci, "nvme0");
  const gpu2 = pciDevByName(m2.k, m2.hw!.pci, "gpu0");
  const n2 = m2.k.dmesg.lines.length;
  assertEquals(pci_p2pdma_distance(m2.k, nv2, gpu2, true), -1);
  const lines = m2.k.dmesg.lines.slice(n2).map((l) => l.text);
  assertStringIncludes(
    lines[0]!,
    "ACS redirect is set between the client and provider (0000:03:00.0)",
  );
  assertStringIncludes(lines[1]!, "pci=disable_acs_redir=0000:02:00.0");
});

Deno.test("p2pdma: map_sg gives bus addresses, with 2018's sign (phys - offset; kernel-reference §11 S24)", () => {
  const { m, k, pdev } = rig("v5.0");
  pdev.bus_offset = -0x1000_0000_0000; // bus address = CPU address - 16 TiB
  m.call(pci_p2pdma_add_resource, pdev, 2, 0, 0);
  const gpu = pciDevByName(k, m.hw!.pci, "gpu0");
  const nents = { value: 0 };
  const sgl = pci_p2pmem_alloc_sgl(k, pdev, nents, 8192)!;
  assertEquals(nents.value, 1);
  const phys = sgl[0]!.page * 4096 + sgl[0]!.offset;
  assertEquals(phys, BAR2);
  assertEquals(
    pci_p2pmem_virt_to_bus(k, pdev, m.k.state(P2PDMA).allocations.keys().next().value!),
    BAR2 - 0x1000_0000_0000,
  );
  assertEquals(pci_p2pdma_map_sg(k, gpu, sgl, 1, DMA_TO_DEVICE), 1);
  assertEquals(sgl[0]!.dma_address, BAR2 + 0x1000_0000_0000); // the wrong sign; correct would be BAR2 - 16 TiB
  assertEquals(sgl[0]!.dma_length, 8192);
  pci_p2pmem_free_sgl(k, pdev, sgl);
  assertEquals(k.state(P2PDMA).allocations.size, 0);
});

Deno.test("p2pdma: a free after pci_p2pdma_release cleared pdev->p2pdma is a NULL dereference", () => {
  const { m, k, pdev } = rig("v5.0");
  m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2] }), pdev);
  const a = pci_alloc_p2pmem(k, pdev, 4096);
  pci_free_p2pmem(k, pdev, a, 4096);
  m.call(device_release_driver, pdev);
  assertEquals([pdev.p2pdma, p2pmem_attr_show(k, pdev, "size")], [null, null]);
  assertEquals(pci_alloc_p2pmem(k, pdev, 4096), 0n);
  const r = m.run(function late_free(kk) {
    pci_free_p2pmem(kk, pdev as PciDev, a, 4096);
  });
  assertStringIncludes(r.oopses[0]!.message, "NULL pointer dereference at 0000000000000050");
});

Deno.test("p2pdma: the exports are EXPORT_SYMBOL_GPL at every level (v4.20 .. v5.2)", () => {
  for (const series of [0, 7, "v5.2"] as const) {
    const m = bootMachine("p2p-rig", { series });
    for (
      const sym of [
        "pci_p2pdma_add_resource",
        "pci_p2pdma_distance_many",
        "pci_has_p2pmem",
        "pci_p2pmem_find_many",
        "pci_alloc_p2pmem",
        "pci_free_p2pmem",
        "pci_p2pmem_virt_to_bus",
        "pci_p2pmem_alloc_sgl",
        "pci_p2pmem_free_sgl",
        "pci_p2pmem_publish",
        "pci_p2pdma_map_sg",
        "pci_p2pdma_enable_store",
        "pci_p2pdma_enable_show",
      ]
    ) assertEquals(exportKind(m.k, sym), "GPL", `${sym} at ${series}`);
    const owners = series === "v5.2";
    assertEquals(exportKind(m.k, "gen_pool_add_virt"), owners ? null : "non-GPL");
    assertEquals(exportKind(m.k, "gen_pool_add_owner"), owners ? "non-GPL" : null);
    assertEquals(exportKind(m.k, "gen_pool_avail"), "GPL");
  }
});
