/**
 * Patch 5/7, "mm, hmm: Use devm semantics for hmm_devmem_{add, remove}": the
 * observable difference between levels 4 and 5.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import { device_release_driver, driver_probe_device } from "../../lib/kernel/device.ts";
import { devresNames } from "../../lib/kernel/devres.ts";
import { hmm_devmem_remove } from "../../lib/kernel/hmm.ts";
import { load_module } from "../../lib/kernel/module.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";
import {
  HmmTestDevice,
  hmmTestDriver,
  hmmWaits,
  insertDeviceMemoryResource,
  removeActionWarns,
} from "../../lib/scenarios/hmm-driver.ts";
import { hmmUnbindWait } from "../../lib/scenarios/s30-hmm-unbind-wait.ts";

const SECTION = 2 ** 27;

function bound(level: number) {
  const m = bootZoneDeviceMachine("ram-4g", { series: level });
  const gpu = new HmmTestDevice(m.k, "gpu0", { size: SECTION });
  assertEquals(m.call(driver_probe_device, hmmTestDriver(), gpu), 0);
  return { m, gpu, devmem: gpu.last!.devmem! };
}

Deno.test("patch 5/7: hmm_devmem_remove exists at level 4 and is gone at level 5", () => {
  const four = bound(4);
  assertEquals(
    load_module(four.m.k, { name: "g", license: "GPL", imports: ["hmm_devmem_remove"] }),
    0,
  );
  four.m.call(hmm_devmem_remove, four.devmem);
  assertEquals(devresNames(four.gpu), []);

  const five = bound(5);
  assertEquals(
    load_module(five.m.k, { name: "g", license: "GPL", imports: ["hmm_devmem_remove"] }),
    -2,
  );
  assertThrows(() => five.m.call(hmm_devmem_remove, five.devmem), RangeError, "patch 5/7");
});

Deno.test("patch 5/7: the devmem becomes devm_kzalloc'd and its release a devm action; hmm_devmem_add loses its kill", () => {
  assertEquals(devresNames(bound(4).gpu), [
    "hmm_devmem_ref_exit",
    "devm_region_release",
    "hmm_devmem_release",
    "hmm_devmem_ref_kill",
  ]);
  assertEquals(devresNames(bound(5).gpu), [
    "devm_kzalloc",
    "hmm_devmem_ref_exit",
    "devm_region_release",
    "hmm_devmem_release",
  ]);
});

Deno.test("patch 5/7: unbind — level 4 kills, waits a grace period and WARNs twice; level 5 exits a live ref, no wait, no WARN", () => {
  const four = hmmUnbindWait(4);
  assertEquals([four.killed, four.exitedLive, four.removeActionWarns], [true, false, 2]);
  assertEquals(four.waits.map((w) => w.fn), ["hmm_devmem_ref_kill"]);
  const five = hmmUnbindWait(5);
  assertEquals([five.killed, five.exitedLive, five.removeActionWarns], [false, true, 0]);
  assertEquals(five.waits, []);
  // both remove the pages under the still-mapped page
  assert(four.removedWhileMapped && five.removedWhileMapped);
});

Deno.test("patch 5/7: hmm_devmem_add_resource keeps a kill at level 5, and it no longer WARNs", () => {
  for (const level of [4, 5]) {
    const m = bootZoneDeviceMachine("ram-4g", { series: level });
    m.k.trace.on = true;
    const res = insertDeviceMemoryResource(m.k, "cdm0", 16 * 2 ** 30, SECTION);
    const dev = new HmmTestDevice(m.k, "cdm-dev", { res });
    assertEquals(m.call(driver_probe_device, hmmTestDriver(), dev), 0);
    m.call(device_release_driver, dev);
    assertEquals(
      hmmWaits(m.k.trace.events).map((w) => w.fn),
      ["hmm_devmem_ref_kill"],
      `level ${level}`,
    );
    assertEquals(removeActionWarns(m.k), level === 4 ? 2 : 0, `level ${level}`);
  }
});
