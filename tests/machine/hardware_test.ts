import { assert, assertEquals, assertThrows } from "@std/assert";
import { bootMachine } from "../../lib/machine.ts";
import {
  iomem_resource,
  iomemTree,
  IORES_DESC_DEVICE_PUBLIC_MEMORY,
  IORES_DESC_NONE,
  IORES_DESC_PERSISTENT_MEMORY,
  IORESOURCE_MEM,
  REGION_INTERSECTS,
  region_intersects,
  resourceAt,
  walk_iomem_res_desc,
} from "../../lib/kernel/resource.ts";

const MiB = 2 ** 20, GiB = 2 ** 30, TiB = 2 ** 40;

Deno.test("machine hardware: workstation-2018 — two NVDIMMs in one interleaved region, a GPU on Gen3 x16", () => {
  const m = bootMachine("workstation-2018");
  const hw = m.hw!;
  const [bus] = hw.nvdimm;
  assertEquals(bus!.dimms.map((d) => [d.name, d.size / GiB]), [["nmem0", 16], ["nmem1", 16]]);
  const r = bus!.regions[0]!;
  assertEquals([r.name, r.start / GiB, r.size / GiB, r.ways], ["region0", 64, 32, 2]);
  const res = resourceAt(iomem_resource(m.k), r.start)!;
  assertEquals([res.name, res.desc, res.parent === iomem_resource(m.k)], [
    "Persistent Memory",
    IORES_DESC_PERSISTENT_MEMORY,
    true,
  ]);
  assertEquals(
    region_intersects(m.k, r.start, r.size, IORESOURCE_MEM, IORES_DESC_PERSISTENT_MEMORY),
    REGION_INTERSECTS,
  );
  const g = hw.gpu("gpu0")!;
  assertEquals([g.pci.bdf, g.pci.link, g.config.vram / GiB, g.bar1.size / MiB], [
    "0000:01:00.0",
    { gen: 3, width: 16 },
    16,
    256,
  ]);
});

Deno.test("machine hardware: pmem-server — six DIMMs interleaved into a 3 TiB region", () => {
  const m = bootMachine("pmem-server");
  const r = m.hw!.nvdimm[0]!.regions[0]!;
  assertEquals([r.ways, r.size / TiB, r.mappings.every((x) => x.size === 512 * GiB)], [6, 3, true]);
  // page n of the region lives on DIMM n mod 6
  assertEquals([0, 1, 5, 6].map((p) => r.locate(p * 4096).dimm.name), [
    "nmem0",
    "nmem1",
    "nmem5",
    "nmem0",
  ]);
  assertEquals(r.locate(6 * 4096 + 8).dpa, 4096 + 8);
});

Deno.test("machine hardware: coherent-device reports DEVICE_PUBLIC memory at the top level", () => {
  const m = bootMachine("coherent-device");
  const found: Array<[number, number]> = [];
  walk_iomem_res_desc(m.k, IORES_DESC_DEVICE_PUBLIC_MEMORY, IORESOURCE_MEM, 0, 2 ** 46, (r) => {
    found.push([r.start, r.end]);
    return 0;
  });
  assertEquals(found, [[64 * GiB, 80 * GiB - 1]]);
  const c = m.hw!.coherent[0]!;
  assertEquals([c.config.owner, resourceAt(iomem_resource(m.k), 64 * GiB)!.name], [
    "gpu0",
    "gpu0 coherent memory",
  ]);
  c.store.writeU32(0, 3);
  assertEquals(m.hw!.resolve(64 * GiB)!.store.readU32(0), 3);
});

Deno.test("machine hardware: nfit-test keeps its fake ranges out of iomem", () => {
  const m = bootMachine("nfit-test");
  assert(!iomemTree(m.k).includes("Persistent Memory"));
  assertEquals(region_intersects(m.k, 4 * GiB, 64 * MiB, IORESOURCE_MEM, IORES_DESC_NONE), 1);
});

Deno.test("machine hardware: fuzz is small (≤ 2 GiB RAM, two 512 MiB NVDIMMs, a 512 MiB GPU, a two-BAR provider)", () => {
  const m = bootMachine("fuzz");
  const d = m.description!;
  assert(d.ram.reduce((s, r) => s + r.size, 0) <= 2 * GiB);
  assertEquals(m.hw!.nvdimm[0]!.dimms.map((x) => x.size), [512 * MiB, 512 * MiB]);
  assertEquals(m.hw!.gpus[0]!.config.vram, 512 * MiB);
  const p = m.hw!.pci.device("p2p0")!;
  assertEquals(p.bars.filter((b) => b.prefetch && b.mem64).length, 2);
});

Deno.test("machine hardware: booting is deterministic; power-cycling keeps media, may change the series", () => {
  const a = bootMachine("p2p-rig"), b = bootMachine("p2p-rig");
  assertEquals(iomemTree(a.k), iomemTree(b.k));
  const m = bootMachine("workstation-2018", { series: "v5.0", seed: 3 });
  const r = m.hw!.nvdimm[0]!.regions[0]!;
  r.write(GiB, new TextEncoder().encode("kept"));
  m.hw!.gpu("gpu0")!.vram.writeU32(0, 9);
  const m2 = m.powerCycle({ series: "v5.2" });
  assertEquals([m2.k.series.preset, m2.hw === m.hw, m2.hw!.boots], ["v5.2", true, 2]);
  assertEquals(
    new TextDecoder().decode(m2.hw!.nvdimm[0]!.regions[0]!.read(GiB, 4) as Uint8Array),
    "kept",
  );
  assertEquals(m2.hw!.gpu("gpu0")!.vram.readU32(0), 0);
  assertEquals(iomemTree(m2.k), iomemTree(bootMachine("workstation-2018").k));
  assertThrows(
    () => (new (m.constructor as new () => typeof m)()).powerCycle(),
    TypeError,
    "Cannot power-cycle a machine that was not booted from a description",
  );
});
