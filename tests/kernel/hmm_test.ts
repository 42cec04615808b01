import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Device, device_release_driver, driver_probe_device } from "../../lib/kernel/device.ts";
import { devresNames } from "../../lib/kernel/devres.ts";
import { ENOMEM, ERANGE, IS_ERR } from "../../lib/kernel/errno.ts";
import {
  devicePrivateFaultHandler,
  hmm_devmem_add,
  hmm_devmem_add_resource,
  hmm_devmem_fault,
  hmm_devmem_remove,
  hmmDevmemRadix,
  hmmDevmems,
  hmmSectionKey,
  to_hmm_devmem,
} from "../../lib/kernel/hmm.ts";
import { get_dev_pagemap, put_dev_pagemap } from "../../lib/kernel/memremap.ts";
import { page_pgmap } from "../../lib/kernel/mm/memmap.ts";
import { pfn_valid } from "../../lib/kernel/mm/mmzone.ts";
import { get_page, put_page } from "../../lib/kernel/mm/swap.ts";
import { radixTreeEntries } from "../../lib/kernel/radix-tree.ts";
import {
  iomem_resource,
  IORES_DESC_DEVICE_PRIVATE_MEMORY,
  lookup_resource,
  Resource,
} from "../../lib/kernel/resource.ts";
import { insert_resource } from "../../lib/kernel/resource.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";
import {
  HmmTestDevice,
  hmmTestDriver,
  HmmTestGpu,
  insertDeviceMemoryResource,
  removeActionWarns,
  warnHeaders,
} from "../../lib/scenarios/hmm-driver.ts";
import type { Machine } from "../../lib/machine.ts";
import type { SeriesPoint } from "../../lib/scenarios/zone-device.ts";

const MiB = 2 ** 20, GiB = 2 ** 30, SECTION = 2 ** 27;
const S = 16 * GiB; // a section-aligned device address, section 128

function boot(series: SeriesPoint): Machine {
  return bootZoneDeviceMachine("ram-4g", { series });
}

/** Probes a test GPU; returns the device (its last probe's data in dev.last). */
function bindGpu(m: Machine, name: string, cfg: { size?: number; res?: Resource }): HmmTestDevice {
  const dev = new HmmTestDevice(m.k, name, cfg.res ? { res: cfg.res } : { size: cfg.size! });
  m.call(driver_probe_device, hmmTestDriver(), dev);
  return dev;
}

Deno.test("hmm_devmem_add: the top-down search hands out size-aligned slots below 2^46 (kernel-reference S15)", () => {
  for (const s of ["v4.20", "v5.0"] as const) {
    const m = boot(s);
    const a = m.call(hmm_devmem_add, new HmmTestGpu().ops, new Device(m.k, "gpu0"), GiB);
    const b = m.call(hmm_devmem_add, new HmmTestGpu().ops, new Device(m.k, "gpu1"), GiB);
    assert(!IS_ERR(a) && !IS_ERR(b));
    assertEquals([a.resource!.start, a.resource!.end], [0x3fffc0000000, 0x3fffffffffff], s);
    assertEquals(a.resource!.desc, IORES_DESC_DEVICE_PRIVATE_MEMORY);
    assertEquals([a.pfn_first, a.pfn_last], [0x3fffc0000, 0x400000000], s);
    assertEquals(b.resource!.start, 0x3fff80000000, `${s}: the occupied slot is skipped`);
    const m2 = boot(s);
    const c = m2.call(hmm_devmem_add, new HmmTestGpu().ops, new Device(m2.k, "gpu0"), GiB + 1);
    assert(!IS_ERR(c));
    assertEquals([c.resource!.start, c.resource!.end], [0x3fffb8000000, 0x3fffffffffff], s);
  }
});

Deno.test("hmm_devmem_add: -ERANGE when no slot is free; v4.20 unwinds with one WARN, level 5 leaves it to devm", () => {
  for (const [s, warns] of [["v4.20", 1], [5, 0], ["v5.0", 0]] as const) {
    const m = boot(s);
    const k = m.k;
    // everything above System RAM is taken
    insert_resource(
      k,
      iomem_resource(k),
      new Resource({
        name: "reserved",
        start: 4 * GiB,
        end: 2 ** 46 - 1,
        flags: 0x200,
      }),
    );
    const dev = new Device(k, "gpu0");
    const r = m.call(hmm_devmem_add, new HmmTestGpu().ops, dev, SECTION);
    assert(IS_ERR(r));
    assertEquals(r.err, -ERANGE, String(s));
    assertEquals(removeActionWarns(k), warns, String(s));
    const dm = hmmDevmems(k, dev)[0]!;
    if (s === "v4.20") {
      // error_no_resource: kill (+ wait), exit, devres_free
      assertEquals([dm.ref.pcpu, dm.freed, devresNames(dev)], [null, true, []]);
    } else {
      // the exit action stays registered for the probe's devres unwinding
      assertEquals(dm.ref.dead, false, String(s));
      assertEquals(devresNames(dev), ["devm_kzalloc", "hmm_devmem_ref_exit"], String(s));
    }
  }
});

Deno.test("hmm_devmem_add: a failed devm_request_mem_region is -ENOMEM, no retry", () => {
  const m = boot("v4.20");
  m.k.faults.arm("request_mem_region", { nth: 1 });
  const r = m.call(hmm_devmem_add, new HmmTestGpu().ops, new Device(m.k, "gpu0"), SECTION);
  assert(IS_ERR(r));
  assertEquals(r.err, -ENOMEM);
});

Deno.test("hmm_devmem_add: percpu_ref_init failure at v4.20 frees the devmem without any WARN", () => {
  const m = boot("v4.20");
  m.k.faults.arm("percpu_ref_init", { nth: 1 });
  const r = m.call(hmm_devmem_add, new HmmTestGpu().ops, new Device(m.k, "gpu0"), SECTION);
  assert(IS_ERR(r));
  assertEquals([r.err, warnHeaders(m.k).length], [-ENOMEM, 0]);
});

Deno.test("hmm_devmem_add: devres order after success at each level", () => {
  const cases: Array<[SeriesPoint, string[]]> = [
    ["v4.20", [
      "hmm_devmem_ref_exit",
      "devm_region_release",
      "hmm_devmem_release",
      "hmm_devmem_ref_kill",
    ]],
    [5, ["devm_kzalloc", "hmm_devmem_ref_exit", "devm_region_release", "hmm_devmem_release"]],
    [6, [
      "devm_kzalloc",
      "hmm_devmem_ref_exit",
      "devm_region_release",
      "devm_memremap_pages_release",
    ]],
    ["v5.2", ["devm_kzalloc", "devm_region_release", "devm_memremap_pages_release"]],
  ];
  for (const [s, names] of cases) {
    const m = boot(s);
    const gpu = bindGpu(m, "gpu0", { size: SECTION });
    assertEquals(devresNames(gpu), names, String(s));
  }
});

Deno.test("hmm_devmem_add_resource: level 5 still registers a kill (hmm_devmem_add does not)", () => {
  const m = boot(5);
  const res = insertDeviceMemoryResource(m.k, "cdm0", S, SECTION);
  const gpu = bindGpu(m, "cdm-dev", { res });
  assertEquals(devresNames(gpu), [
    "devm_kzalloc",
    "hmm_devmem_ref_exit",
    "hmm_devmem_release",
    "hmm_devmem_ref_kill",
  ]);
});

Deno.test("v4.20 devres WARNs (S13): unbind 2, hmm_devmem_remove 0", () => {
  const m = boot("v4.20");
  const gpu = bindGpu(m, "gpu0", { size: SECTION });
  m.call(device_release_driver, gpu);
  assertEquals(removeActionWarns(m.k), 2);
  const m2 = boot("v4.20");
  const gpu2 = bindGpu(m2, "gpu0", { size: SECTION });
  const devmem = gpu2.last!.devmem!;
  m2.call(hmm_devmem_remove, devmem);
  assertEquals(devresNames(gpu2), []);
  m2.call(device_release_driver, gpu2);
  assertEquals(warnHeaders(m2.k).length, 0);
  assertEquals(pfn_valid(m2.k, devmem.pfn_first), false);
  assertEquals(lookup_resource(iomem_resource(m2.k), devmem.resource!.start), null);
  m2.call(hmm_devmem_remove, null); // NULL-safe
});

Deno.test("v4.20 section-key leak (S14): a collision leaves this call's earlier keys, naming the freed devmem later", () => {
  const m = boot("v4.20");
  const k = m.k;
  const x = bindGpu(m, "X", { res: insertDeviceMemoryResource(k, "cdm-x", S + SECTION, SECTION) });
  assert(x.last!.devmem !== null);
  // Y' = [S, S + 256 MiB): key S is inserted, key S + 128 MiB collides with X
  const res = new Resource({
    name: "cdm-y2",
    start: S,
    end: S + 2 * SECTION - 1,
    flags: 0x200,
    desc: 7,
  });
  const dev = new Device(k, "Y2");
  const r = m.call(hmm_devmem_add_resource, new HmmTestGpu().ops, dev, res);
  assert(IS_ERR(r));
  assertEquals(r.err, -16);
  assertEquals(k.dmesg.grep("collides with mapping for").map((l) => l.text), [
    " Y2: hmm_devmem_pages_create: collides with mapping for X",
  ]);
  const y2 = hmmDevmems(k, dev)[0]!;
  assertEquals(y2.freed, true);
  const keys = new Map([...radixTreeEntries(hmmDevmemRadix(k))]);
  assert(keys.get(hmmSectionKey(S)) === y2, "section S still points at the freed devmem");
  // a later devmem touching section S collides with the stale key
  const z = new Device(k, "Z");
  const rz = m.call(
    hmm_devmem_add_resource,
    new HmmTestGpu().ops,
    z,
    new Resource({ name: "cdm-z", start: S, end: S + 64 * MiB - 1, flags: 0x200, desc: 7 }),
  );
  assert(IS_ERR(rz));
  assertEquals(rz.err, -16);
  assertEquals(
    k.dmesg.grep("collides with mapping for").at(-1)!.text,
    " Z: hmm_devmem_pages_create: collides with mapping for Y2",
  );
});

Deno.test("v4.20 hmm_devmem_release / radix_release on an unaligned resource leave the last section behind", () => {
  const m = boot("v4.20");
  const k = m.k;
  // [S + 64 MiB, S + 192 MiB): two sections; 128 MiB long
  const res = insertDeviceMemoryResource(k, "cdm0", S + 64 * MiB, SECTION);
  const gpu = bindGpu(m, "cdm-dev", { res });
  const keysBefore = [...radixTreeEntries(hmmDevmemRadix(k))].map(([key]) => key);
  assertEquals(keysBefore, [hmmSectionKey(S), hmmSectionKey(S) + 1]);
  m.call(device_release_driver, gpu);
  // keys stepped from S + 64 MiB: only S's is deleted
  assertEquals([...radixTreeEntries(hmmDevmemRadix(k))].map(([key]) => key), [
    hmmSectionKey(S) + 1,
  ]);
  // npages = ALIGN(128 MiB) from the aligned start: one section removed, the second stays
  assertEquals([pfn_valid(k, S / 4096), pfn_valid(k, (S + SECTION) / 4096)], [false, true]);
});

Deno.test("v4.20 hot-add failure: untrack_pfn of a range never tracked, keys released", () => {
  const m = boot("v4.20");
  const k = m.k;
  const res = insertDeviceMemoryResource(k, "cdm0", S, SECTION);
  k.faults.arm("arch_add_memory", { nth: 1 });
  const r = m.call(hmm_devmem_add_resource, new HmmTestGpu().ops, new Device(k, "cdm-dev"), res);
  assert(IS_ERR(r));
  assertEquals(r.err, -ENOMEM);
  assertEquals(k.dmesg.grep("freeing invalid memtype").length, 1);
  assertEquals([...radixTreeEntries(hmmDevmemRadix(k))].length, 0);
  assertEquals(removeActionWarns(k), 1); // the kill was never registered
});

Deno.test("v5.0: a failed ref_exit registration runs hmm_devmem_ref_exit at once, which waits for a ref nobody killed", () => {
  const m = boot("v5.0");
  m.k.faults.arm("devm_add_action", { nth: 1 });
  const r = m.run((k) => hmm_devmem_add(k, new HmmTestGpu().ops, new Device(k, "gpu0"), SECTION));
  assertEquals(r.done, false);
  assertStringIncludes(r.blocked!.text, "(hmm_devmem_ref_exit)");
  assertStringIncludes(r.blocked!.text, "live (never killed)");
});

Deno.test("hmm_devmem_add cannot collide with itself: the search skips occupied slots", () => {
  for (const s of ["v4.20", 5, "v5.0"] as const) {
    const m = boot(s);
    const a = bindGpu(m, "gpu0", { size: SECTION }).last!.devmem!;
    const b = bindGpu(m, "gpu1", { size: SECTION }).last!.devmem!;
    assertEquals(b.resource!.start, a.resource!.start - SECTION, String(s));
  }
});

Deno.test("get_dev_pagemap on an HMM pfn: NULL at levels 0..5, the pgmap with +1 ref from level 6", () => {
  for (const s of [0, 1, 2, 3, 4, 5, 6, 7, "v4.20", "v5.0", "v5.2"] as const) {
    const m = boot(s);
    const devmem = bindGpu(m, "gpu0", { size: SECTION }).last!.devmem!;
    const before = devmem.ref.value;
    const p = get_dev_pagemap(m.k, devmem.pfn_first + 3, null);
    if (m.k.series.level <= 5) {
      assertEquals([p, devmem.ref.value, before], [null, 1, 1], String(s));
    } else {
      assert(p === devmem.pagemap, String(s));
      assertEquals([before, devmem.ref.value], [1 + 32768, 2 + 32768], String(s));
      put_dev_pagemap(m.k, p);
      assertEquals(devmem.ref.value, before, String(s));
    }
  }
});

Deno.test("hmm_devmem_free: a device page going 2 → 1 is handed back to the driver at every level", () => {
  for (const s of [0, 5, 6, "v5.0", "v5.2"] as const) {
    const m = boot(s);
    const gpu = bindGpu(m, "gpu0", { size: SECTION });
    const page = gpu.last!.devmem!.pfn_first + 11;
    m.run((k) => {
      get_page(k, page);
      put_page(k, page);
    });
    assertEquals(gpu.last!.frees, [page], String(s));
  }
});

Deno.test("the fault hook: pgmap->page_fault up to level 7, hmm_devmem->page_fault with hmm-page-fault-move", () => {
  for (const s of [0, 5, 6, 7, "v5.0", "v5.2"] as const) {
    const m = boot(s);
    const gpu = bindGpu(m, "gpu0", { size: SECTION });
    const devmem = gpu.last!.devmem!;
    const page = devmem.pfn_first;
    const pgmap = page_pgmap(m.k, page)!;
    assert(to_hmm_devmem(pgmap) === devmem, String(s));
    const moved = m.k.fixed("hmm-page-fault-move");
    assertEquals(
      [pgmap.page_fault === null, devmem.page_fault === null],
      [moved, !moved],
      String(s),
    );
    const handler = devicePrivateFaultHandler(m.k, page);
    assert(handler === hmm_devmem_fault, String(s));
    assertEquals(handler!(m.k, null, 0x7f0000000000, page, 0, null), 2); // VM_FAULT_SIGBUS
    assertEquals(gpu.last!.faults, 1, String(s));
  }
});
