/**
 * The invariant checker catches each kind of break it exists for: every
 * test below breaks one invariant behind the kernel's back (or lets a known
 * defect break it) and expects exactly that report.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { bootMachine } from "../../lib/machine.ts";
import { InvariantChecker } from "../../lib/check/invariants.ts";
import { World } from "../../lib/check/world.ts";
import { Completion, wait_for_completion } from "../../lib/kernel/completion.ts";
import { Device, Driver, driver_probe_device } from "../../lib/kernel/device.ts";
import { devm_add_action } from "../../lib/kernel/devres.ts";
import { devm_memremap_pages } from "../../lib/kernel/memremap.ts";
import { percpu_ref_get } from "../../lib/kernel/percpu-refcount.ts";
import { page_ref_inc } from "../../lib/kernel/mm/memmap.ts";
import { get_page, put_page } from "../../lib/kernel/mm/swap.ts";
import { track_pfn_remap } from "../../lib/kernel/mm/pat.ts";
import { dmirrorDevices } from "../../lib/drivers/dmirror.ts";
import { pciDevByName } from "../../lib/drivers/pci/pci.ts";
import { p2pmemProviderDriver } from "../../lib/drivers/pci/p2pmem-provider.ts";
import { DEVICE_BASE, MiB, SECTION, testPgmap } from "../../lib/scenarios/zone-device.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";
import { Process } from "../../lib/kernel/mm/process.ts";
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "../../lib/kernel/mm/mm-types.ts";

function kinds(c: InvariantChecker, drained = false): string[] {
  return c.check({ drained }).violations.map((v) => v.invariant);
}

Deno.test("invariants: a busy machine holds every invariant, then each break is reported", () => {
  const w = new World({ series: "v5.2" });
  for (
    const op of [
      { op: "ns-create", mode: "devdax", map: "dev", units: 1 },
      { op: "p2p-bind", bars: [2, 4] },
      { op: "p2p-alloc", pages: 2 },
      { op: "hmm-add", sections: 1 },
      { op: "gpu-bind" },
      { op: "touch", p: 0, vma: 0, page: 3, write: true },
      { op: "migrate", p: 0, vma: 0, page: 3, n: 2, dev: 0 },
      { op: "pin", p: 0, vma: 0, page: 9 },
    ] as const
  ) {
    w.step(op);
    assertEquals(w.checker.check().violations, [], JSON.stringify(op));
  }
  const k = w.k;
  // a page reference nobody accounts for
  page_ref_inc(k, 0x10000);
  const r = w.checker.check();
  assertEquals(r.violations.map((v) => v.invariant), [
    "page-refcount-holders",
    "page-refcount-holders",
  ]);
  assertMatch(r.violations[0]!.message, /^pfn 0x10000 \(RAM\): refcount 1, holders 0$/);
  assertMatch(
    r.violations[1]!.message,
    /RAM pages have a refcount and \d+ are free in the hugetlb pool, but the allocator has \d+ allocated/,
  );
});

Deno.test("invariants: a percpu_ref reference without a holder", () => {
  const m = bootMachine("fuzz", { series: "v5.2" });
  const c = new InvariantChecker(m);
  const pdev = pciDevByName(m.k, m.hw!.pci, "p2p0");
  assertEquals(m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2] }), pdev), 0);
  assertEquals(kinds(c), []);
  percpu_ref_get(m.k, pdev.p2pdma!.bars[0]!.ref);
  const v = c.check().violations;
  assertEquals(v.map((x) => x.invariant), ["percpu-ref-holders"]);
  assertMatch(
    v[0]!.message,
    /^percpu_ref 'pci_p2pdma_percpu_release' #\d+ \(live\): count 32770, holders 32769 \(32768 pages of pgmap/,
  );
});

Deno.test("invariants: an Oops is reported once", () => {
  const m = bootMachine("fuzz", { series: "v5.2" });
  const c = new InvariantChecker(m);
  m.run(function crash(k) {
    k.oops("BUG: unable to handle kernel NULL pointer dereference at 0000000000000008");
  });
  const v = c.check().violations;
  assertEquals(v.map((x) => x.invariant), ["no-oops"]);
  assertMatch(
    v[0]!.message,
    /^Oops in task crash\[\d+\]: BUG: unable to handle kernel NULL pointer/,
  );
  assertEquals(kinds(c), []);
});

Deno.test("invariants: an unbound device with devres entries; a PAT reservation nobody owns", () => {
  const m = bootMachine("fuzz", { series: "v5.2" });
  const c = new InvariantChecker(m);
  const dev = new Device(m.k, "stray0");
  const drv = new Driver("stray", () => 0);
  assertEquals(m.call(driver_probe_device, drv, dev), 0);
  assertEquals(kinds(c), []);
  // a driver that unbinds with an action still registered (the driver core would have run it)
  devm_add_action(m.k, dev, function stray_action() {}, null);
  dev.driver = null;
  track_pfn_remap(m.k, null, "PAGE_KERNEL", DEVICE_BASE / 4096, 0, SECTION);
  const v = c.check().violations;
  assertEquals(v.map((x) => x.message), [
    "PAT reservation [mem 0x400000000-0x407ffffff] belongs to no registered pgmap",
    "stray0 is unbound but has devres entries: stray_action",
  ]);
});

Deno.test("invariants: page contents against the shadow", () => {
  const w = new World({ series: "v5.2" });
  w.step({ op: "touch", p: 0, vma: 0, page: 5, write: true });
  assertEquals(kinds(w.checker), []);
  const [mm, words] = [...w.checker.contents][0]!;
  const [addr, value] = [...words][0]!;
  w.checker.recordWord(mm, addr, value + 1);
  const v = w.checker.check().violations;
  assertEquals(v.map((x) => x.invariant), ["contents-shadow"]);
  assertMatch(v[0]!.message, new RegExp(`: reads ${value}, shadow ${value + 1}$`));
});

Deno.test("invariants: the same-section corruption (S3b) breaks memmap-pgmap and the first ref's holders", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v5.2" });
  const c = new InvariantChecker(m);
  const a = testPgmap(m.k, DEVICE_BASE + 64 * MiB, 16 * MiB);
  const b = testPgmap(m.k, DEVICE_BASE + 16 * MiB, 16 * MiB);
  m.call(devm_memremap_pages, new Device(m.k, "a"), a.pgmap);
  assertEquals(kinds(c), []);
  // neither aligned end of the section finds A: B is stored and re-initialises the whole section
  m.call(devm_memremap_pages, new Device(m.k, "b"), b.pgmap);
  const v = c.check().violations;
  assertEquals(v.map((x) => x.invariant).sort(), ["memmap-pgmap", "percpu-ref-holders"]);
  assert(
    v.some((x) =>
      x.message.includes(
        `page->pgmap of pfn 0x${
          ((DEVICE_BASE + 64 * MiB) / 4096).toString(16)
        } is pgmap ${b.pgmap.id}`,
      )
    ),
  );
});

Deno.test("invariants: device page accounting, and a hang once drained", () => {
  const w = new World({ series: "v5.2" });
  w.step({ op: "hmm-add", sections: 1 });
  assertEquals(kinds(w.checker, true), []);
  const md = dmirrorDevices(w.k)[0]!;
  md.cfree--;
  assertEquals(kinds(w.checker), ["device-page-accounting"]);
  md.cfree++;
  const never = new Completion("never");
  w.m.spawn("waiter", function* waiter(k) {
    yield* wait_for_completion(k, never);
  });
  w.m.runAll();
  assertEquals(kinds(w.checker), []);
  const v = w.checker.check({ drained: true }).violations;
  assertEquals(v.map((x) => x.invariant), ["no-hang"]);
  assertMatch(v[0]!.message, /waiter.*blocked in wait_for_completion/);
});

Deno.test("invariants: a leaked get_page on a device page is reported, and put_page makes it whole", () => {
  const m = bootMachine("fuzz", { series: "v5.2" });
  const c = new InvariantChecker(m);
  const pdev = pciDevByName(m.k, m.hw!.pci, "p2p0");
  assertEquals(m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2] }), pdev), 0);
  assertEquals(kinds(c), []);
  const bar = pdev.p2pdma!.bars[0]!;
  const pfn = bar.pgmap.res.start / 4096 + 7;
  get_page(m.k, pfn); // a driver forgets its put_page
  const v = c.check().violations;
  assertEquals(v.map((x) => x.invariant), ["page-refcount-holders"]);
  assertEquals(
    v[0]!.message,
    `pfn 0x${pfn.toString(16)} (ZONE_DEVICE): refcount 2, holders 1`,
  );
  put_page(m.k, pfn);
  assertEquals(kinds(c), []);
});

Deno.test("invariants: a THP keeps its count in the head, and its 511 tails are RAM in use with it", () => {
  const m = bootMachine("small", { series: "v5.0", seed: 3 });
  const chk = new InvariantChecker(m);
  const p = new Process(m.k, "thp");
  chk.processes.add(p.mm);
  const TWOMEG = 2 ** 21;
  const base = p.mmap(0, 2 * TWOMEG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const map = Math.ceil(base / TWOMEG) * TWOMEG;
  assertEquals(p.madvise(map, TWOMEG, MADV_HUGEPAGE), 0);
  p.store32(map, 7); // a THP: one count on the head, none on the tails
  assert(p.mm.pgd.lookup(map)!.huge !== 0, "the store mapped a huge pmd");
  assertEquals(chk.check().violations.map((v) => v.message), []);
  p.madvise(map, TWOMEG, MADV_DONTNEED);
  assertEquals(chk.check().violations.map((v) => v.message), []);
});
