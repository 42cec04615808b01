import { assert, assertEquals } from "@std/assert";
import { bootMachine } from "../../../lib/machine.ts";
import {
  DevicePageTable,
  DPTE_VALID,
  DPTE_VRAM,
  DPTE_WRITE,
} from "../../../lib/hw/gpu/page-table.ts";
import { FAULT_READ, FAULT_WRITE, FaultBatch, FaultBuffer } from "../../../lib/hw/gpu/faults.ts";
import { pageChunk, pageReadWord, pageWriteWord } from "../../../lib/kernel/mm/page-contents.ts";
import { hostPath, pathBandwidth } from "../../../lib/hw/pcie/dma.ts";

const MiB = 2 ** 20, GiB = 2 ** 30;
const RAM_PFN = (2 * GiB) / 4096 - 100; // a System RAM page of the machines below

Deno.test("gpu: VRAM, a small BAR window and a resizable BAR", () => {
  const w = bootMachine("workstation-2018");
  const g = w.hw!.gpu("gpu0")!;
  assertEquals([g.config.vram, g.bar1.size, g.resizableBar], [16 * GiB, 256 * MiB, false]);
  assertEquals(g.barToVram(g.bar1.start + 8192), 8192);
  g.setBarWindow(GiB);
  assertEquals(g.barToVram(g.bar1.start + 8192), GiB + 8192);
  g.vram.writeU32(GiB + 8192, 77);
  const r = w.hw!.resolve(g.bar1.start + 8192 + 4)!;
  assertEquals([r.store.readU32(r.page * 4096), r.offset], [77, 4]);
  const f = bootMachine("fuzz").hw!.gpu("gpu0")!;
  assertEquals([f.bar1.size, f.resizableBar], [512 * MiB, true]);
});

Deno.test("gpu copy engine: RAM → VRAM shares the chunk, costs PCIe time, the fence advances the clock", () => {
  const m = bootMachine("workstation-2018");
  const k = m.k, g = m.hw!.gpu("gpu0")!;
  for (let i = 0; i < 4; i++) pageWriteWord(k, RAM_PFN + i, 0, 1000 + i);
  const t0 = k.now;
  const f = g.copyEngine.copy({ vram: 64 * 4096 }, { page: RAM_PFN }, 4);
  assertEquals(f.status, 0);
  assertEquals(f.ns, Math.round(1000 + (4 * 4096) / pathBandwidth(k.cost, hostPath(g.pci))));
  assertEquals(k.now, t0); // queued, not waited for
  for (let i = 0; i < 4; i++) assertEquals(g.vram.chunkId(64 + i), pageChunk(k, RAM_PFN + i));
  // a second copy queues behind the first
  const f2 = g.copyEngine.copy({ page: RAM_PFN + 10 }, { vram: 64 * 4096 });
  assertEquals(f2.done, f.done + f2.ns);
  assertEquals(g.copyEngine.wait(f2), 0);
  assertEquals(k.now, f2.done);
  assertEquals(pageReadWord(k, RAM_PFN + 10, 0), 1000);
  // the first write to shared VRAM copies it; RAM keeps its value
  g.vram.writeU32(64 * 4096, 5);
  assertEquals([pageReadWord(k, RAM_PFN, 0), g.vram.readU32(64 * 4096)], [1000, 5]);
  // VRAM to VRAM runs at HBM speed
  const local = g.copyEngine.costNs({ vram: 0 }, { vram: 4096 }, 2 * MiB);
  assertEquals(local, Math.round((2 * MiB) / k.cost.get("gpu.hbmBW")));
});

Deno.test("gpu copy engine: fault point gpu_copy fails a copy with -EIO and moves nothing", () => {
  const m = bootMachine("fuzz");
  const k = m.k, g = m.hw!.gpu("gpu0")!;
  pageWriteWord(k, 1000, 3, 42);
  k.faults.arm("gpu_copy", { nth: 2 });
  assertEquals(g.copyEngine.copy({ vram: 0 }, { page: 1000 }).status, 0);
  const bad = g.copyEngine.copy({ vram: 4096 }, { page: 1000 });
  assertEquals(bad.status, -5);
  assertEquals([g.vram.has(0), g.vram.has(1)], [true, false]);
  assertEquals(g.copyEngine.wait(bad), -5);
});

Deno.test("gpu: a copy-engine rate caps the transfer", () => {
  const m = bootMachine({
    name: "slow-ce",
    cpus: 2,
    ram: [{ start: 0, size: "2GiB" }],
    pci: {
      hostBridges: [{
        name: "pci0",
        windows: [{ start: "3GiB", size: "512MiB" }, {
          start: "8GiB",
          size: "4GiB",
          prefetch: true,
        }],
      }],
      devices: [{ name: "rp1", type: "root-port", parent: "pci0", slot: 1 }],
    },
    gpus: [{ name: "gpu0", parent: "rp1", vram: "1GiB", link: { gen: 4, width: 16 }, copyRate: 2 }],
  });
  const g = m.hw!.gpu("gpu0")!;
  assertEquals(
    g.copyEngine.costNs({ vram: 0 }, { page: 0 }, 2 * MiB),
    Math.round(1000 + (2 * MiB) / 2),
  );
});

Deno.test("gpu page table: map, look up, invalidate ranges across 2 MiB blocks", () => {
  const pt = new DevicePageTable();
  pt.map(0x7f00_0000_0000, 123, DPTE_WRITE);
  pt.map(0x7f00_0000_1000, 77, DPTE_VRAM);
  pt.map(0x7f00_0020_0000, 5, 0);
  assertEquals(pt.count, 3);
  assertEquals(pt.lookup(0x7f00_0000_0abc), { target: 123, flags: DPTE_VALID | DPTE_WRITE });
  assertEquals(pt.lookup(0x7f00_0000_1000), { target: 77, flags: DPTE_VALID | DPTE_VRAM });
  assertEquals(pt.lookup(0x7f00_0000_2000), null);
  assertEquals(pt.invalidate(0x7f00_0000_1000, 0x7f00_0020_1000), 2);
  assertEquals(pt.entries().map(([va]) => va), [0x7f00_0000_0000]);
  assert(pt.unmap(0x7f00_0000_0000) && pt.count === 0);
});

Deno.test("gpu faults: batches of up to 256, de-duplicated per page, writes win, sorted; the ring can overflow", () => {
  const fb = new FaultBuffer(512);
  const b = new FaultBatch(256);
  for (let i = 0; i < 600; i++) {
    fb.raise(0x1000_0000 + ((i * 37) % 200) * 4096 + 16, i === 0 ? FAULT_WRITE : FAULT_READ);
  }
  assertEquals([fb.pending, fb.overflows, fb.raised], [512, 88, 600]);
  assertEquals([fb.fetch(b), b.fetched], [200, 256]);
  for (let i = 1; i < b.n; i++) assert(b.addrs[i]! > b.addrs[i - 1]!);
  assertEquals(b.addrs[0], 0x1000_0000);
  assertEquals(b.access[0], FAULT_WRITE); // page 0 was written at i = 0
  fb.fetch(b);
  assertEquals([b.fetched, b.n, fb.pending], [256, 200, 0]);
});

Deno.test("gpu: VRAM, page table and faults are volatile across a power cycle", () => {
  const m = bootMachine("fuzz");
  const g = m.hw!.gpu("gpu0")!;
  g.vram.writeU32(0, 1);
  g.pageTable.map(0x1000, 1, 0);
  g.faults.raise(0x2000, FAULT_READ);
  const m2 = m.powerCycle();
  const g2 = m2.hw!.gpu("gpu0")!;
  assert(g2 === g);
  assertEquals([g2.vram.chunkCount, g2.pageTable.count, g2.faults.pending], [0, 0, 0]);
});

Deno.test("gpu: raising and fetching faults is traced", () => {
  const m = bootMachine("fuzz");
  const g = m.hw!.gpu("gpu0")!;
  m.k.trace.on = true;
  g.raiseFault(0x5000, FAULT_WRITE);
  g.raiseFault(0x5008, FAULT_READ);
  const b = new FaultBatch();
  assertEquals(g.fetchFaults(b), 1);
  assertEquals(m.k.trace.filter("gpu").map((e) => [e.op, e.n]), [["fault", 0x5000], [
    "fault",
    0x5008,
  ], ["fault_batch", 2]]);
});
