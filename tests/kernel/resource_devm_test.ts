import { assert, assertEquals } from "@std/assert";
import { createMachine } from "../../lib/machine.ts";
import { Device } from "../../lib/kernel/device.ts";
import { devres_release_all } from "../../lib/kernel/devres.ts";
import {
  __devm_request_region,
  devm_release_mem_region,
  devm_request_mem_region,
} from "../../lib/kernel/resource-devm.ts";
import {
  insert_resource,
  iomem_resource,
  iomemTree,
  request_mem_region,
  Resource,
} from "../../lib/kernel/resource.ts";

const GiB = 2 ** 30;

Deno.test("devm_request_mem_region: claimed with the device, released with its devres, NULL on conflict", () => {
  const m = createMachine();
  const dev = new Device(m.k, "pmem0");
  const res = m.call(devm_request_mem_region, dev, 16 * GiB, 128 * 2 ** 20, "pmem0");
  assert(res !== null);
  assertEquals([res.start, res.end], [16 * GiB, 16 * GiB + 128 * 2 ** 20 - 1]);
  assert(iomemTree(m.k).includes("pmem0"));
  // a second claim of the same range conflicts on the BUSY resource
  assertEquals(m.call(request_mem_region, 16 * GiB, 4096, "other"), null);
  m.call(devres_release_all, dev);
  assert(!iomemTree(m.k).includes("pmem0"), "released with the device's devres");
  assert(m.call(request_mem_region, 16 * GiB, 4096, "other") !== null);
});

Deno.test("devm_request_mem_region: the fault points give NULL; devm_release_mem_region releases now", () => {
  const m = createMachine();
  const dev = new Device(m.k, "pmem0");
  m.k.faults.arm("request_mem_region", { nth: 1 });
  assertEquals(m.call(devm_request_mem_region, dev, 16 * GiB, 4096, "pmem0"), null);
  assertEquals(dev.devres.length, 0);
  assert(m.call(devm_request_mem_region, dev, 16 * GiB, 4096, "pmem0") !== null);
  m.call(devm_release_mem_region, dev, 16 * GiB, 4096);
  assertEquals(dev.devres.length, 0);
  assertEquals(m.k.dmesg.grep("WARNING").length, 0);
  m.call(devm_release_mem_region, dev, 16 * GiB, 4096);
  assertEquals(m.k.dmesg.grep("WARNING").length, 1, "releasing twice WARNs");
});

Deno.test("__devm_request_region(dev, parent, start, n, name): requests under `parent`, released with the device's devres", () => {
  const m = createMachine();
  const dev = new Device(m.k, "pmem1");
  const parent = new Resource({
    name: "Persistent Memory",
    start: 64 * GiB,
    end: 65 * GiB - 1,
    flags: 0x200,
  });
  assertEquals(insert_resource(m.k, iomem_resource(m.k), parent), 0);
  const res = __devm_request_region(m.k, dev, parent, 64 * GiB, 4096, "pmem1");
  assert(res !== null && res.parent === parent);
  m.call(devres_release_all, dev);
  assertEquals(parent.child, null, "released from its parent");
});
