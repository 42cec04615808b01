import { assert, assertEquals } from "@std/assert";
import { bootMachine } from "../../../lib/machine.ts";
import type { NamespaceInfo, NdctlResult } from "../../../lib/hw/nvdimm/ndctl.ts";
import { readLabels } from "../../../lib/hw/nvdimm/label.ts";
import { PFN_SB_DATAOFF, PFN_SB_OFFSET, readPfnSb } from "../../../lib/hw/nvdimm/mod.ts";

const MiB = 2 ** 20, GiB = 2 ** 30;

function ok<T>(r: NdctlResult<T>): T & { ok: true; rc: 0 } {
  if (!r.ok) throw new Error(`ndctl failed: ${r.rc} ${r.error}`);
  return r as T & { ok: true; rc: 0 };
}

Deno.test("nfit_test topology (libndctl): bus0 2-way 32 MiB and 4-way 64 MiB regions, bus1 a label-less namespace", () => {
  const m = bootMachine("nfit-test");
  const nd = m.hw!.ndctl!;
  assertEquals(
    nd.regions().map((r) => [r.name, r.size / MiB, r.ways, r.config.labels]),
    [["region0", 32, 2, true], ["region1", 64, 4, true], ["region2", 32, 1, true], [
      "region3",
      32,
      1,
      false,
    ]],
  );
  assertEquals(m.hw!.nvdimm.map((b) => [b.name, b.provider]), [["ndbus0", "nfit_test.0"], [
    "ndbus1",
    "nfit_test.1",
  ]]);
  assertEquals(m.hw!.nvdimm[0]!.dimms.map((d) => d.handle), [0, 1, 0x100, 0x101, 0x1000]);
  // only the label-less io namespace exists until namespaces are created
  assertEquals(nd.list(), [{
    dev: "namespace3.0",
    mode: "raw",
    size: 32 * MiB,
    blockdev: "pmem3",
  }]);
  // libndctl: an 18 MiB namespace in the 2-way region and a 20 MiB one in the 4-way region
  const a = ok(nd.createNamespace({ region: "region0", mode: "raw", size: 18 * MiB }));
  const b = ok(nd.createNamespace({ region: "region1", mode: "raw", size: "20M" }));
  assertEquals([a.dev, a.size, b.dev, b.size], [
    "namespace0.0",
    18 * MiB,
    "namespace1.0",
    20 * MiB,
  ]);
  // the seed advanced, the 128 KiB config area is readable and holds the labels
  assert(nd.namespace("namespace0.1") !== undefined);
  assertEquals(ok(nd.readLabels("nmem0")).data.length, 128 * 1024);
  assertEquals(readLabels(m.hw!.nvdimm[0]!.dimms[0]!.labelArea!).labels.map((l) => l.rawsize), [
    9 * MiB,
    5 * MiB,
  ]);
  assertEquals(nd.maxAvailableExtent("region0"), 14 * MiB);
});

Deno.test("ndctl inject-error.sh: --no-notify hides errors from badblocks until a scrub; a write clears them", () => {
  const m = bootMachine("nfit-test");
  const nd = m.hw!.ndctl!;
  const ns = ok(nd.createNamespace({ bus: "nfit_test.0", type: "pmem", align: "4k" }));
  assertEquals(ns.mode, "fsdax");
  const dev = ns.dev;
  ok(nd.injectError(dev, { block: 42, count: 8, notify: false }));
  assertEquals(ok(nd.injectStatus(dev)).badblocks, [{ block: 42, count: 8 }]);
  assertEquals(nd.badblocks(dev), []);
  ok(nd.injectError(dev, { block: 42, count: 8, uninject: true }));
  assertEquals(ok(nd.injectStatus(dev)).badblocks, []);
  ok(nd.injectError(dev, { block: 42, count: 8 }));
  ok(nd.startScrub());
  ok(nd.waitScrub());
  assertEquals(ok(nd.injectStatus(dev)).badblocks, [{ block: 42, count: 8 }]);
  assertEquals(nd.badblocks(dev), [{ sector: 42, count: 8 }]);
  const disk = nd.namespace(dev)!.disk!;
  assertEquals(disk.read(42, 1), -5);
  assertEquals(disk.write(42, new Uint8Array(8 * 512)), 0); // dd if=/dev/zero ... seek=42 count=8
  assertEquals(nd.badblocks(dev), []);
  assertEquals(ok(nd.injectStatus(dev)).badblocks, []);
  assertEquals((disk.read(42, 8) as Uint8Array).length, 8 * 512);
});

Deno.test("ndctl clear.sh: a bad sector moves by the pfn data offset on conversion, writing clears it, region re-enable keeps it clear", () => {
  const m = bootMachine("nfit-test");
  const nd = m.hw!.ndctl!;
  const raw = ok(nd.createNamespace({ bus: "nfit_test.0", mode: "raw" }));
  const errSector = raw.size / 512 / 2;
  ok(nd.injectError(raw.dev, { block: errSector, count: 8 }));
  ok(nd.startScrub());
  ok(nd.waitScrub());
  const [bad] = nd.badblocks(raw.dev);
  assertEquals(bad!.sector * 2, raw.size / 512);
  assertEquals(nd.namespace(raw.dev)!.disk!.read(bad!.sector, bad!.count), -5);
  const fs = ok(nd.createNamespace({ reconfigure: raw.dev, mode: "fsdax", force: true }));
  assertEquals(fs.mode, "fsdax");
  const [moved] = nd.badblocks(fs.dev);
  assertEquals(bad!.sector - moved!.sector, (raw.size - fs.size) / 512);
  assertEquals(
    nd.namespace(fs.dev)!.disk!.write(moved!.sector, new Uint8Array(moved!.count * 512)),
    0,
  );
  assertEquals(nd.badblocks(fs.dev), []);
  ok(nd.disableRegion("all", { bus: "nfit_test.0" }));
  ok(nd.enableRegion("all", { bus: "nfit_test.0" }));
  assertEquals(nd.badblocks(fs.dev), []);
  assertEquals(nd.info(nd.namespace(fs.dev)!).mode, "fsdax"); // rediscovered from its info block
});

Deno.test("ndctl pfn-meta-errors.sh (4.20): poison in the memmap area is cleared when the pfn device is enabled", () => {
  const m = bootMachine("nfit-test");
  const nd = m.hw!.ndctl!;
  const fs = ok(nd.createNamespace({ bus: "nfit_test.0", mode: "fsdax", map: "dev", align: "4k" }));
  const ns = nd.namespace(fs.dev)!;
  ok(nd.disableNamespace(fs.dev));
  ok(nd.setForceRaw(fs.dev, true));
  ok(nd.enableNamespace(fs.dev));
  assertEquals(ns.mode, "raw");
  // dataoff at offset 4096 + 56 of the raw device
  const dataoff = Number(
    new DataView(
      (ns.disk!.read(Math.floor((PFN_SB_OFFSET + PFN_SB_DATAOFF) / 512), 1) as Uint8Array).buffer,
    )
      .getBigUint64(PFN_SB_DATAOFF % 512, true),
  );
  assertEquals(dataoff, readPfnSb(ns)!.dataoff);
  assert(dataoff > 8192);
  const count = Math.min(32, (dataoff - 8192) / 512);
  ok(nd.injectError(fs.dev, { block: 16, count }));
  ok(nd.startScrub());
  ok(nd.waitScrub());
  assertEquals(nd.badblocks(fs.dev), [{ sector: 16, count }]);
  ok(nd.disableNamespace(fs.dev));
  ok(nd.setForceRaw(fs.dev, false));
  const again = ok(nd.enableNamespace(fs.dev));
  assertEquals(again.mode, "fsdax");
  ok(nd.disableNamespace(fs.dev));
  ok(nd.setForceRaw(fs.dev, true));
  ok(nd.enableNamespace(fs.dev));
  assertEquals(nd.badblocks(fs.dev), []);
  assertEquals(m.hw!.nvdimm[0]!.injectStatus().records, []);
});

Deno.test("ndctl create.sh: raw → fsdax → devdax conversions report their modes; destroy needs --force while active", () => {
  const m = bootMachine("workstation-2018");
  const nd = m.hw!.ndctl!;
  const raw = ok(nd.createNamespace({ mode: "raw", size: "4G" }));
  assertEquals([raw.mode, raw.size, raw.blockdev], ["raw", 4 * GiB, "pmem0"]);
  const fs = ok(nd.createNamespace({ reconfigure: raw.dev, mode: "fsdax", force: true }));
  assertEquals([fs.mode, fs.map, fs.align, fs.blockdev], ["fsdax", "dev", 2 * MiB, "pmem0"]);
  const dd = ok(nd.createNamespace({ reconfigure: fs.dev, mode: "devdax", force: true }));
  assertEquals([dd.mode, dd.chardev, dd.blockdev], ["devdax", "dax0.0", undefined]);
  const busy = nd.destroyNamespace(dd.dev);
  assertEquals(busy.ok ? 0 : [busy.rc, busy.error], [
    -16,
    "namespace0.0 is active, specify --force for re-configuration",
  ]);
  ok(nd.destroyNamespace(dd.dev, { force: true }));
  assertEquals(nd.list(), []);
  assertEquals(nd.maxAvailableExtent("region0"), 32 * GiB);
});

Deno.test("ndctl option and kernel alignment rules (ndctl v63, libnvdimm v4.20)", () => {
  const m = bootMachine("workstation-2018");
  const nd = m.hw!.ndctl!;
  const fail = (r: NdctlResult<NamespaceInfo>) => (r.ok ? "ok" : `${r.rc}: ${r.error}`);
  assertEquals(
    fail(nd.createNamespace({ size: "3M" })),
    "-22: '--size=' must align to interleave-width: 2 and alignment: 4096",
  );
  assertEquals(
    fail(nd.createNamespace({ size: "6M", align: "2M" })),
    "-22: '--size=' must align to interleave-width: 2 and alignment: 2097152",
  );
  assertEquals(
    fail(nd.createNamespace({ size: "64M", align: "64K" })),
    "-6: unsupported align: 64K",
  );
  assertEquals(
    fail(nd.createNamespace({ size: "64M", mode: "raw", align: "4K" })),
    "-6: raw mode does not support setting an alignment",
  );
  assertEquals(
    fail(nd.createNamespace({ size: "64G" })),
    "-11: region0: insufficient capacity size: 68719476736 avail: 34359738368",
  );
  // 1 GiB alignment: the memmap and info block take the first 1 GiB of the namespace
  assertEquals(ok(nd.createNamespace({ size: "2G", align: "1G" })).size, GiB);
  const big = ok(nd.createNamespace({ size: "4G", align: "1G", mode: "devdax" }));
  assertEquals([big.align, big.size], [GiB, 3 * GiB]);
  // a 32 MiB namespace cannot hold a 1 GiB-aligned data area: nd_pfn_init says -ENXIO
  const t = bootMachine("nfit-test");
  assertEquals(
    fail(t.hw!.ndctl!.createNamespace({ region: "region2", align: "1G" })),
    "-6: namespace2.0: failed to enable",
  );
  assert(t.k.dmesg.grep("namespace2.0 unable to satisfy requested alignment").length === 1);
});

Deno.test("device-dax.c: data written through fsdax is intact after reconfiguring to devdax (4K, 2M, 1G)", () => {
  const m = bootMachine("workstation-2018");
  const nd = m.hw!.ndctl!;
  const region = m.hw!.nvdimm[0]!.regions[0]!;
  for (const align of [4096, 2 * MiB, GiB]) {
    const fs = ok(nd.createNamespace({ mode: "fsdax", map: "dev", size: "4G", align }));
    const disk = nd.namespace(fs.dev)!.disk!;
    const salt = 0x5a17 + align;
    const pattern = (i: number) => {
      const b = new Uint32Array(1024);
      for (let j = 0; j < 1024; j++) b[j] = salt + i + j;
      return new Uint8Array(b.buffer);
    };
    const probes = [0, 4096, align, 2 * align - 4096];
    for (const off of probes) assertEquals(disk.write(off / 512, pattern(off)), 0);
    const dd = ok(
      nd.createNamespace({ reconfigure: fs.dev, mode: "devdax", map: "dev", align, force: true }),
    );
    const dax = nd.namespace(dd.dev)!.dax!;
    for (const off of probes) {
      assertEquals(
        region.read(dax.res.start - region.start + off, 4096),
        pattern(off),
        `align ${align} @${off}`,
      );
    }
    ok(nd.destroyNamespace(dd.dev, { force: true }));
  }
});

Deno.test("namespaces and their data survive disable/enable and a power cycle (labels + info blocks on media)", () => {
  const m = bootMachine("workstation-2018");
  const nd = m.hw!.ndctl!;
  const fs = ok(nd.createNamespace({ size: "2G", name: "db" }));
  const data = new TextEncoder().encode("persistent bytes");
  const block = new Uint8Array(512);
  block.set(data);
  assertEquals(nd.namespace(fs.dev)!.disk!.write(7, block), 0);
  ok(nd.disableNamespace(fs.dev));
  assertEquals(nd.list(), []);
  ok(nd.enableNamespace(fs.dev));
  assertEquals(
    (nd.namespace(fs.dev)!.disk!.read(7, 1) as Uint8Array).subarray(0, data.length),
    data,
  );
  const m2 = m.powerCycle({ series: "v4.20" });
  assertEquals(m2.k.series.level, 0);
  const nd2 = m2.hw!.ndctl!;
  const { ok: _ok, rc: _rc, ...info } = fs;
  assertEquals(nd2.list(), [info]);
  assertEquals(info.name, "db");
  assertEquals(
    (nd2.namespace(fs.dev)!.disk!.read(7, 1) as Uint8Array).subarray(0, data.length),
    data,
  );
  assertEquals(nd2.namespace(fs.dev)!.claimClass, "pfn");
});

Deno.test("trim_pfn_device: a region sharing a section with System RAM gets a start_pad", () => {
  const m = bootMachine({
    name: "trim",
    cpus: 2,
    ram: [{ start: 0, size: "2GiB" }, { start: "4GiB", size: "64MiB" }],
    nvdimm: {
      buses: [{
        name: "nfit",
        dimms: [{ name: "d0", size: "4GiB", labelSize: "128KiB" }],
        regions: [{ name: "pm", start: "0x104000000", size: "1984MiB", dimms: ["d0"] }],
      }],
    },
  });
  const nd = m.hw!.ndctl!;
  const fs = ok(nd.createNamespace({ mode: "fsdax" }));
  const sb = readPfnSb(nd.namespace(fs.dev)!)!;
  assertEquals([sb.start_pad, sb.end_trunc], [64 * MiB, 0]);
  assert(m.k.dmesg.grep("namespace0.0 alignment collision, truncate 67108864 bytes").length === 1);
  assertEquals(nd.namespace(fs.dev)!.claim!.setup!.res.start, 4 * GiB + 128 * MiB);
});

Deno.test("a read-only region cannot initialise pfn metadata", () => {
  const m = bootMachine({
    name: "ro",
    cpus: 2,
    ram: [{ start: 0, size: "2GiB" }],
    nvdimm: {
      buses: [{
        name: "nfit",
        dimms: [{ name: "d0", size: "1GiB", labelSize: "128KiB" }],
        regions: [{ name: "pm", start: "4GiB", size: "1GiB", dimms: ["d0"], readOnly: true }],
      }],
    },
  });
  const r = m.hw!.ndctl!.createNamespace({ mode: "fsdax", size: "512M" });
  assertEquals(r.ok ? 0 : r.rc, -6);
  assert(m.k.dmesg.grep("region0 is read-only, unable to init metadata").length === 1);
});
