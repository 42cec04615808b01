import { assert, assertEquals } from "@std/assert";
import { bootMachine } from "../../../lib/machine.ts";
import {
  ARS_BUSY_NS,
  CLEAR_ERR_UNIT,
  NFIT_ARS_INJECT_INVALID,
  NFIT_ARS_START_BUSY,
  NFIT_ARS_STATUS_BUSY,
} from "../../../lib/hw/nvdimm/bus.ts";
import { Badblocks, Badrange } from "../../../lib/hw/nvdimm/badrange.ts";

const GiB = 2 ** 30, MiB = 2 ** 20;

Deno.test("badrange: add keeps one entry per start; forget trims, deletes and splits", () => {
  const b = new Badrange();
  b.add(1000, 100);
  b.add(1000, 200);
  b.add(5000, 10);
  assertEquals(b.list, [{ start: 1000, length: 200 }, { start: 5000, length: 10 }]);
  b.forget(900, 150); // trims the head
  assertEquals(b.list[0], { start: 1050, length: 150 });
  b.forget(1100, 10); // splits
  assertEquals(b.snapshot(), [{ start: 1050, length: 50 }, { start: 5000, length: 10 }, {
    start: 1110,
    length: 90,
  }]);
  b.forget(0, 10_000);
  assertEquals(b.list, []);
});

Deno.test("badblocks: merged runs, 512-sector entries, check returns the lowest overlap", () => {
  const bb = new Badblocks();
  bb.set(10, 5);
  bb.set(15, 5);
  bb.set(1000, 600);
  assertEquals(bb.entries(), [{ sector: 10, count: 10 }, { sector: 1000, count: 512 }, {
    sector: 1512,
    count: 88,
  }]);
  assertEquals(bb.show().split("\n")[0], "10 10");
  assertEquals(bb.check(0, 2000), { rc: 1, firstBad: 10, badSectors: 10 });
  bb.clear(12, 2);
  assertEquals(bb.entries().slice(0, 2), [{ sector: 10, count: 2 }, { sector: 14, count: 6 }]);
  assert(bb.isBad(13, 1024) && !bb.isBad(12, 512));
});

Deno.test("nfit_test ARS: start/status busy for 1 s of simulated time, records clipped to the range", () => {
  const m = bootMachine("nfit-test");
  const bus = m.hw!.bus("nfit_test.0")!;
  const spa1 = bus.regions[1]!;
  assertEquals(bus.injectError(spa1.start + 8192, 512).rc, 0);
  assertEquals(bus.injectError(spa1.start - 256, 512).rc, 0); // straddles the range start
  const t0 = m.k.now;
  assertEquals(bus.arsStart(spa1.start, spa1.size), { rc: 0, status: 0, cmdRc: 0, scrubTime: 1 });
  assertEquals(bus.arsStart(spa1.start, spa1.size).status, NFIT_ARS_START_BUSY);
  assertEquals(bus.arsStart(spa1.start, spa1.size).cmdRc, -16);
  const busy = bus.arsStatus();
  assertEquals([busy.status, busy.cmdRc], [NFIT_ARS_STATUS_BUSY, -16]);
  m.k.clock.advanceTo(t0 + ARS_BUSY_NS);
  const st = bus.arsStatus();
  assertEquals(st.status, 0);
  assertEquals(st.records, [{ start: spa1.start + 8192, length: 512 }, {
    start: spa1.start,
    length: 256,
  }]);
  assertEquals(bus.arsCap(0, 0).clearErrUnit, CLEAR_ERR_UNIT);
});

Deno.test("nfit_test inject/clear/translate: invalid lengths, the 256-byte clear unit, last-DIMM TRANSLATE_SPA", () => {
  const m = bootMachine("nfit-test");
  const bus = m.hw!.bus("nfit_test.0")!;
  const r = bus.regions[1]!; // 4-way over DIMM0..3
  assertEquals(bus.injectError(r.start, 0), { rc: -22, status: NFIT_ARS_INJECT_INVALID });
  bus.injectError(r.start + 4096, 1024, { notify: false });
  assertEquals(bus.injectStatus().records, [{ start: r.start + 4096, length: 1024 }]);
  assertEquals(bus.clearError(r.start + 4096 + 100, 256).rc, -22); // not in clear units
  assertEquals(bus.clearError(r.start + 4096, 512), { rc: 0, status: 0, cleared: 512 });
  assertEquals(bus.injectStatus().records, [{ start: r.start + 4096 + 512, length: 512 }]);
  assertEquals(bus.uninjectError(r.start, 64 * MiB).rc, 0);
  assertEquals(bus.injectStatus().records, []);
  // nfit_test answers with the last DIMM of the region and dpa = spa - region start
  assertEquals(bus.translateSpa(r.start + 5 * 4096).devices, [{ handle: 0x101, dpa: 5 * 4096 }]);
  assertEquals(bus.translateSpa(1 * GiB).status, 2);
});

Deno.test("a real bus translates through the interleave; a poisoned read is -EIO, a plain store keeps the poison", () => {
  const m = bootMachine("workstation-2018");
  const bus = m.hw!.nvdimm[0]!;
  const r = bus.regions[0]!;
  assertEquals(bus.translateSpa(r.start + 3 * 4096 + 8).devices, [{ handle: 0x11, dpa: 4096 + 8 }]);
  r.write(8192, new Uint8Array([9, 9, 9]));
  bus.injectError(r.start + 8192, 256, { notify: false });
  assertEquals(r.read(8192, 4), -5);
  assertEquals((r.read(8192 + 256, 4) as Uint8Array).length, 4);
  r.write(8192, new Uint8Array(256));
  assertEquals(r.read(8192, 4), -5);
  assertEquals(bus.clearPoison(r.start + 8192, 256), 256);
  assertEquals(r.read(8192, 4), new Uint8Array(4));
  assertEquals(bus.clearPoison(r.start + 8192 + 8, 256), -6); // not in clear units: -ENXIO
});

Deno.test("scrub: ARS walks every PM range one busy window at a time; errors reach the kernel only then", () => {
  const m = bootMachine("nfit-test");
  const bus = m.hw!.bus("nfit_test.0")!;
  const r0 = bus.regions[0]!;
  bus.injectError(r0.start + 512, 512, { notify: false });
  assertEquals([bus.badrange.list.length, r0.bb.entries().length], [0, 0]);
  const t0 = m.k.now;
  bus.startScrub();
  assert(bus.scrubbing);
  assertEquals(bus.waitScrub(), 2); // the boot-time scrub is the first
  assertEquals(m.k.now - t0, 3 * ARS_BUSY_NS); // three PM ranges on nfit_test.0
  assertEquals(bus.badrange.list, [{ start: r0.start + 512, length: 512 }]);
  assertEquals(r0.bb.entries(), [{ sector: 1, count: 1 }]);
  // with notify the platform raises the UC notification and the kernel scrubs by itself
  bus.injectError(r0.start + 8192, 512, { notify: true });
  m.k.clock.advance(5 * ARS_BUSY_NS);
  bus.sync();
  assertEquals(r0.bb.entries(), [{ sector: 1, count: 1 }, { sector: 16, count: 1 }]);
});

Deno.test("power cycle: pmem errors persist and are rediscovered at boot; nfit_test loses everything", () => {
  const m = bootMachine("workstation-2018");
  const bus = m.hw!.nvdimm[0]!;
  bus.injectError(bus.regions[0]!.start + 4096, 512, { notify: false });
  const m2 = m.powerCycle();
  const bus2 = m2.hw!.nvdimm[0]!;
  assertEquals(bus2.badrange.list, [{ start: bus.regions[0]!.start + 4096, length: 512 }]);
  assertEquals(bus2.regions[0]!.bb.entries(), [{ sector: 8, count: 1 }]);
  const t = bootMachine("nfit-test");
  t.hw!.nvdimm[0]!.injectError(t.hw!.nvdimm[0]!.regions[0]!.start, 512);
  const t2 = t.powerCycle();
  assertEquals(t2.hw!.nvdimm[0]!.injectStatus().records, []);
});
