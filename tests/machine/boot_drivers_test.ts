/**
 * Drivers a machine description binds at boot (lib/machine.ts,
 * bindBootDrivers; the "driver" fields of lib/machine/hardware.ts): nouveau
 * on a GPU, the p2pmem provider on a PCI endpoint. They bind after the
 * NVDIMM drivers through the same kernel paths as an explicit bind, can be
 * unbound, are bound again by a power cycle, and a failing probe is the
 * driver core's dmesg line, not an exception.
 */
import { assert, assertEquals } from "@std/assert";
import { bootMachine, type Machine } from "../../lib/machine.ts";
import {
  nouveau_bind,
  nouveau_unbind,
  nouveauDevices,
  type NouveauDrm,
} from "../../lib/drivers/gpu/drm.ts";
import { P2pmemProviderData } from "../../lib/drivers/pci/p2pmem-provider.ts";
import { pci_has_p2pmem } from "../../lib/drivers/pci/p2pdma.ts";
import { pciDevByName } from "../../lib/drivers/pci/pci.ts";
import { device_release_driver } from "../../lib/kernel/device.ts";
import { get_dev_pagemap } from "../../lib/kernel/memremap.ts";
import {
  iomemTree,
  IORES_DESC_DEVICE_PRIVATE_MEMORY,
  IORESOURCE_MEM,
  REGION_DISJOINT,
  REGION_INTERSECTS,
  region_intersects,
} from "../../lib/kernel/resource.ts";
import { MEMORY_DEVICE_PRIVATE } from "../../lib/kernel/mm/mod.ts";
import { page_pgmap } from "../../lib/kernel/mm/memmap.ts";

const PRESETS = ["v4.20", "v5.0"] as const;
const GiB = 2 ** 30;

/** The one bound GPU of `m`, checked to be the boot binding's device data. */
function bootGpu(m: Machine): NouveauDrm {
  assertEquals(m.bootDrivers.map((b) => [b.driver, b.device, b.ret]), [["nouveau", "gpu0", 0]]);
  const drm = m.bootDrivers[0]!.pdev.driver_data as NouveauDrm;
  assertEquals(nouveauDevices(m.k), [drm]);
  return drm;
}

/** Whether a device-private range intersects iomem (REGION_INTERSECTS while registered). */
function vramInIomem(m: Machine, start: number, size: number): number {
  return region_intersects(m.k, start, size, IORESOURCE_MEM, IORES_DESC_DEVICE_PRIVATE_MEMORY);
}

for (const series of PRESETS) {
  Deno.test(`boot drivers: workstation-2018-bound has its GPU's VRAM registered right after boot at ${series}`, () => {
    const m = bootMachine("workstation-2018-bound", { series });
    const drm = bootGpu(m);
    const k = m.k;
    assertEquals(
      k.dmesg.grep("DMEM: registered").map((l) => l.text),
      ["nouveau 0000:01:00.0: DRM: DMEM: registered 16384MB of device memory"],
    );
    const devmem = drm.dmem!.devmem!;
    assertEquals(devmem.resource!.desc, IORES_DESC_DEVICE_PRIVATE_MEMORY);
    assertEquals(devmem.resource!.end - devmem.resource!.start + 1, 16 * GiB);
    assertEquals(vramInIomem(m, devmem.resource!.start, 16 * GiB), REGION_INTERSECTS);
    assertEquals(devmem.pagemap.type, MEMORY_DEVICE_PRIVATE);
    assertEquals(page_pgmap(k, devmem.pfn_first), devmem.pagemap);
    assertEquals(drm.dmem!.chunks.length, 8192);
    // 5.0 (patch 6) puts hmm_devmem's pages behind devm_memremap_pages
    assertEquals(
      m.call(get_dev_pagemap, devmem.pfn_first, null),
      series === "v4.20" ? null : devmem.pagemap,
    );
    // the NVDIMM drivers bound first, as on the unbound workstation
    assert(k.dmesg.grep("DMEM").length === 1);
  });
}

Deno.test('boot drivers: a description without "driver" leaves the GPU unbound', () => {
  const m = bootMachine("workstation-2018");
  assertEquals([m.bootDrivers.length, nouveauDevices(m.k).length], [0, 0]);
  assertEquals(m.k.dmesg.grep("DMEM").length, 0);
  assertEquals(
    region_intersects(m.k, 0, 2 ** 46, IORESOURCE_MEM, IORES_DESC_DEVICE_PRIVATE_MEMORY),
    REGION_DISJOINT,
  );
});

Deno.test("boot drivers: binding at boot is the explicit bind (same iomem, same device memory)", () => {
  const bound = bootMachine("workstation-2018-bound");
  const explicit = bootMachine("workstation-2018");
  const drm = explicit.call(nouveau_bind, explicit.hw!, "gpu0") as NouveauDrm;
  assertEquals(iomemTree(bound.k), iomemTree(explicit.k));
  const a = bootGpu(bound).dmem!.devmem!, b = drm.dmem!.devmem!;
  assertEquals([a.pfn_first, a.pfn_last], [b.pfn_first, b.pfn_last]);
  // binding again what boot bound is the driver core's -EBUSY
  assertEquals(bound.call(nouveau_bind, bound.hw!, "gpu0"), -16);
});

for (const series of PRESETS) {
  Deno.test(`boot drivers: the GPU bound at boot unbinds, releasing its VRAM, and binds again at ${series}`, () => {
    const m = bootMachine("workstation-2018-bound", { series });
    const drm = bootGpu(m);
    const start = drm.dmem!.devmem!.resource!.start;
    const r = m.run(function* unbind(k) {
      yield* nouveau_unbind(k, drm);
    });
    assertEquals([r.done, r.oopses.length], [true, 0]);
    assertEquals([m.bootDrivers[0]!.pdev.driver, nouveauDevices(m.k).length], [null, 0]);
    assertEquals(vramInIomem(m, start, 16 * GiB), REGION_DISJOINT);
    const again = m.call(nouveau_bind, m.hw!, "gpu0") as NouveauDrm;
    assert(again !== drm, "a new device");
    assertEquals(again.dmem!.devmem!.resource!.start, start);
    assertEquals(m.k.dmesg.grep("DMEM: registered").length, 2);
  });
}

Deno.test("boot drivers: a power cycle binds the described drivers again, even after an unbind", () => {
  const m = bootMachine("workstation-2018-bound", { series: "v4.20" });
  const drm = bootGpu(m);
  const start = drm.dmem!.devmem!.resource!.start;
  m.call(nouveau_unbind, drm);
  assertEquals(nouveauDevices(m.k).length, 0);
  const m2 = m.powerCycle({ series: "v5.0" });
  assert(m2.k.series.level > m.k.series.level, "booted at the new series level");
  const drm2 = bootGpu(m2);
  assert(drm2 !== drm, "a new device");
  assertEquals(drm2.dmem!.devmem!.resource!.start, start);
  assertEquals(m2.k.dmesg.grep("DMEM: registered").length, 1);
  assertEquals(vramInIomem(m2, start, 16 * GiB), REGION_INTERSECTS);
  // and once more, from a machine whose GPU stayed bound
  const m3 = m2.powerCycle();
  assertEquals(bootGpu(m3).dmem!.devmem!.resource!.start, start);
});

Deno.test("boot drivers: p2p-rig-bound registers and publishes both provider BARs, then binds the GPU", () => {
  const m = bootMachine("p2p-rig-bound", { series: "v4.20" });
  assertEquals(m.bootDrivers.map((b) => [b.driver, b.device, b.pdev.name, b.ret]), [
    ["p2pmem", "nvme0", "0000:03:00.0", 0],
    ["nouveau", "gpu0", "0000:04:00.0", 0],
  ]);
  const nvme = pciDevByName(m.k, m.hw!.pci, "nvme0");
  assertEquals(nvme, m.bootDrivers[0]!.pdev);
  assert(pci_has_p2pmem(nvme));
  assertEquals(nvme.driver?.name, "nvme");
  assertEquals((nvme.driver_data as P2pmemProviderData).results, [
    { bar: 2, ret: 0 },
    { bar: 4, ret: 0 },
  ]);
  assertEquals(m.k.dmesg.grep("added peer-to-peer DMA memory").length, 2);
  // the provider unbinds through the driver core like any PCI driver
  m.call(device_release_driver, nvme);
  assertEquals([nvme.driver, m.k.dmesg.grep("probe of").length], [null, 0]);
  // and a power cycle binds both again
  const m2 = m.powerCycle();
  assertEquals(m2.bootDrivers.map((b) => b.ret), [0, 0]);
  assert(pci_has_p2pmem(m2.bootDrivers[0]!.pdev));
});

for (const series of PRESETS) {
  Deno.test(`boot drivers: a failing probe at boot is the driver core's dmesg line, not an exception, at ${series}`, () => {
    const d = JSON.parse(
      Deno.readTextFileSync(
        new URL("../../data/machines/p2p-rig-shared-section.json", import.meta.url),
      ),
    );
    const nvme = d.pci.devices.find((x: { name: string }) => x.name === "nvme0");
    // both BARs in one section: the second registration conflicts (-ENOMEM)
    nvme.driver = "p2pmem";
    nvme.p2pmem = { bars: [2, 4], fatal: true };
    const m = bootMachine(d, { series });
    assertEquals(m.bootDrivers.map((b) => [b.device, b.ret]), [["nvme0", -12]]);
    assertEquals(m.bootDrivers[0]!.pdev.driver, null);
    assertEquals(
      m.k.dmesg.grep("probe of").map((l) => [l.level, l.text]),
      [["warning", "nvme: probe of 0000:03:00.0 failed with error -12"]],
    );
    // not fatal (NVMe's default): it warns, binds, and keeps the first BAR
    nvme.p2pmem = { bars: [2, 4] };
    const m2 = bootMachine(d, { series });
    assertEquals(m2.bootDrivers.map((b) => [b.device, b.ret]), [["nvme0", 0]]);
    assertEquals(m2.k.dmesg.grep("failed to register the CMB").length, 1);
    assertEquals(m2.k.dmesg.grep("probe of").length, 0);
    assert(pci_has_p2pmem(m2.bootDrivers[0]!.pdev));
  });
}
