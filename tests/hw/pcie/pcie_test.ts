import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { bootMachine } from "../../../lib/machine.ts";
import { loadCostModel } from "../../../lib/sim/cost-model.ts";
import {
  dmaTransfer,
  hostPath,
  pathBandwidth,
  peerPath,
  transferNs,
} from "../../../lib/hw/pcie/dma.ts";
import {
  type PciDeviceConfig,
  PciTopology,
  upstream_bridge_distance,
} from "../../../lib/hw/pcie/topology.ts";
import {
  iomem_resource,
  iomemTree,
  IORESOURCE_MEM_64,
  IORESOURCE_PREFETCH,
  resourceAt,
} from "../../../lib/kernel/resource.ts";

const MiB = 2 ** 20;
const SECTION = 128 * MiB;

function dev(
  name: string,
  type: PciDeviceConfig["type"],
  parent: string,
  extra: Partial<PciDeviceConfig> = {},
): PciDeviceConfig {
  return {
    name,
    type,
    parent,
    slot: 0,
    function: 0,
    link: { gen: 3, width: 16 },
    mps: 256,
    bars: [],
    acsRedirect: false,
    class: "",
    ...extra,
  };
}

Deno.test("pcie: depth-first bus numbers and BDF names (p2p-rig)", () => {
  const m = bootMachine("p2p-rig");
  const pci = m.hw!.pci;
  assertEquals(
    pci.devices.map((d) => `${d.name} ${d.bdf} ${d.secondary}`),
    [
      "rp1 0000:00:01.0 1",
      "sw0 0000:01:00.0 2",
      "sw0-dp0 0000:02:00.0 3",
      "nvme0 0000:03:00.0 -1",
      "sw0-dp1 0000:02:01.0 4",
      "gpu0 0000:04:00.0 -1",
      "rp2 0000:00:02.0 5",
      "accel0 0000:05:00.0 -1",
    ],
  );
});

Deno.test("pcie: BARs assigned inside the host bridge windows, largest alignment first, visible in iomem", () => {
  const m = bootMachine("p2p-rig");
  const nvme = m.hw!.pci.device("nvme0")!;
  const [b0, b2, b4] = nvme.bars;
  assertEquals([b0!.index, b2!.index, b4!.index], [0, 2, 4]);
  assert(b0!.start < 2 ** 32, "a non-prefetchable BAR sits below 4 GiB");
  // two 128 MiB BARs, each its own 128 MiB section
  assertEquals([b2!.start % SECTION, b4!.start - b2!.start], [0, SECTION]);
  assert(Math.floor(b2!.start / SECTION) !== Math.floor(b4!.start / SECTION));
  const tree = iomemTree(m.k);
  assert(tree.includes("200000000000-20ffffffffff : PCI Bus 0000:00"), tree);
  const r = resourceAt(iomem_resource(m.k), b2!.start)!;
  assertEquals([r.name, r.parent!.name, r.parent!.parent!.name], [
    "0000:03:00.0",
    "PCI Bus 0000:03",
    "PCI Bus 0000:02",
  ]);
  assertEquals(
    r.flags & (IORESOURCE_MEM_64 | IORESOURCE_PREFETCH),
    IORESOURCE_MEM_64 | IORESOURCE_PREFETCH,
  );
  // the shared-section rig packs its two 64 MiB BARs into one section
  const s = bootMachine("p2p-rig-shared-section").hw!.pci.device("nvme0")!;
  assertEquals(Math.floor(s.bar(2)!.start / SECTION), Math.floor(s.bar(4)!.start / SECTION));
  assertEquals(s.bar(4)!.start - s.bar(2)!.start, 64 * MiB);
});

Deno.test("pcie: explicit BAR addresses; bridge windows are the span of what they forward", () => {
  const t = new PciTopology({
    hostBridges: [{
      name: "hb",
      domain: 0,
      bus: 0,
      node: 0,
      windows: [{ start: 2 ** 36, size: 2 ** 32, prefetch: true }],
    }],
    devices: [
      dev("rp", "root-port", "hb", { slot: 3 }),
      dev("ep", "endpoint", "rp", {
        bars: [
          { index: 0, size: 64 * MiB, type: "mem64", prefetch: true, address: 2 ** 36 + 192 * MiB },
          { index: 2, size: 64 * MiB, type: "mem64", prefetch: true, address: 2 ** 36 + 256 * MiB },
        ],
      }),
    ],
  });
  assertEquals(t.device("rp")!.windows, [{
    start: 2 ** 36 + 192 * MiB,
    size: 128 * MiB,
    prefetch: true,
  }]);
  assertEquals(t.device("0000:01:00.0")!.name, "ep");
});

Deno.test("pcie: upstream_bridge_distance — same switch 4, same device 0, other root port -1, ACS redirect -2", () => {
  const m = bootMachine("p2p-rig");
  const pci = m.hw!.pci;
  const d = (a: string, b: string) =>
    upstream_bridge_distance(pci.device(a)!, pci.device(b)!).distance;
  assertEquals(
    [d("nvme0", "gpu0"), d("gpu0", "nvme0"), d("nvme0", "nvme0"), d("nvme0", "accel0")],
    [4, 4, 0, -1],
  );
  assertEquals(
    upstream_bridge_distance(pci.device("nvme0")!, pci.device("gpu0")!).common!.name,
    "sw0",
  );
  const t = new PciTopology({
    hostBridges: [{ name: "hb", domain: 0, bus: 0, node: 0, windows: [] }],
    devices: [
      dev("rp", "root-port", "hb", { slot: 1 }),
      dev("sw", "switch-upstream", "rp"),
      dev("dp0", "switch-downstream", "sw", { slot: 0, acsRedirect: true }),
      dev("dp1", "switch-downstream", "sw", { slot: 1 }),
      dev("a", "endpoint", "dp0"),
      dev("b", "endpoint", "dp1"),
      dev("f0", "endpoint", "rp", { function: 0 }),
    ],
  });
  const r = upstream_bridge_distance(t.device("a")!, t.device("b")!);
  assertEquals([r.distance, r.acs.map((x) => x.name)], [-2, ["dp0"]]);
  // two functions under one port: 2 ... here an endpoint and the switch share the root port
  assertEquals(upstream_bridge_distance(t.device("f0")!, t.device("sw")!).distance, 2);
});

Deno.test("pcie: DMA cost by generation, width and payload size; peer-to-peer via a switch vs the root complex", () => {
  const cost = loadCostModel();
  const m = bootMachine("p2p-rig");
  const pci = m.hw!.pci;
  const gpu = pci.device("gpu0")!, nvme = pci.device("nvme0")!, accel = pci.device("accel0")!;
  const h = hostPath(gpu);
  assertEquals([h.gen, h.width, h.mps, h.via], [3, 16, 256, "host"]);
  assertAlmostEquals(pathBandwidth(cost, h), 15.75 * 0.91, 1e-9);
  // 4 KiB at Gen3 x16, MPS 256: 1 µs + 4096 / 14.33 GB/s
  assertEquals(transferNs(cost, h, 4096), Math.round(1000 + 4096 / (15.75 * 0.91)));
  // the NVMe's x4 link limits its path; through the switch at full rate
  const p = peerPath(nvme, gpu);
  assertEquals([p.gen, p.width, p.via], [3, 4, "switch"]);
  assertAlmostEquals(pathBandwidth(cost, p), 15.75 / 4 * 0.91, 1e-9);
  const rc = peerPath(gpu, accel);
  assertEquals([rc.width, rc.via], [8, "root-complex"]);
  assertAlmostEquals(pathBandwidth(cost, rc), 15.75 / 2 * 0.91 * 0.75, 1e-9);
  // generation and MPS scale as the cost model says
  for (const [gen, raw] of [[3, 15.75], [4, 31.5], [5, 63]] as const) {
    assertAlmostEquals(pathBandwidth(cost, { ...h, gen }), raw * 0.91, 1e-9);
  }
  assertAlmostEquals(pathBandwidth(cost, { ...h, mps: 128 }), 15.75 * 0.84, 1e-9);
  // a transfer is traced, the clock untouched
  m.k.trace.on = true;
  const t0 = m.k.now;
  const ns = dmaTransfer(m.k, nvme, 2 * MiB, gpu);
  assertEquals(m.k.now, t0);
  assertEquals(m.k.trace.filter("dma").map((e) => [e.op, e.via, e.ns, e.bytes]), [[
    "p2p",
    "switch",
    ns,
    2 * MiB,
  ]]);
});

Deno.test("pcie: a slower port caps the negotiated link; MPS is the smallest on the way up", () => {
  const t = new PciTopology({
    hostBridges: [{ name: "hb", domain: 0, bus: 0, node: 0, windows: [] }],
    devices: [
      dev("rp", "root-port", "hb", { slot: 1, link: { gen: 3, width: 8 }, mps: 128 }),
      dev("ep", "endpoint", "rp", { link: { gen: 4, width: 16 }, mps: 512 }),
    ],
  });
  const ep = t.device("ep")!;
  assertEquals([ep.link, ep.mps], [{ gen: 3, width: 8 }, 128]);
});
