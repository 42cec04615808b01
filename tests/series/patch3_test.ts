/**
 * Patch 3/7 "mm, devm_memremap_pages: Fix shutdown handling": between
 * levels 2 and 3 the kill moves into devm_memremap_pages (pgmap->kill,
 * required), failures kill the ref, and the final devres registration is
 * checked with devm_add_action_or_reset.
 */
import { assert, assertEquals } from "@std/assert";
import { Device } from "../../lib/kernel/device.ts";
import { devres_release_all, devresNames } from "../../lib/kernel/devres.ts";
import { IS_ERR, PTR_ERR } from "../../lib/kernel/errno.ts";
import { devm_memremap_pages } from "../../lib/kernel/memremap.ts";
import { pfn_valid } from "../../lib/kernel/mm/mmzone.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";
import {
  arrayEntries,
  DEVICE_BASE,
  GiB,
  SECTION,
  testPgmap,
  warnings,
} from "../../lib/scenarios/zone-device.ts";

Deno.test("patch 3/7: a pgmap without kill maps at level 2 and is -EINVAL at level 3", () => {
  const rets = [2, 3].map((series) => {
    const m = bootZoneDeviceMachine("ram-4g", { series });
    const t = testPgmap(m.k, DEVICE_BASE, SECTION, { kill: false });
    const r = m.call(devm_memremap_pages, new Device(m.k, "dax0.0", "nd"), t.pgmap);
    return IS_ERR(r) ? PTR_ERR(r) : 0;
  });
  assertEquals(rets, [0, -22]);
});

Deno.test("patch 3/7: the release kills the ref itself at level 3; at level 2 the caller must, or it WARNs 'still live'", () => {
  const out = [2, 3].map((series) => {
    const m = bootZoneDeviceMachine("ram-4g", { series });
    const t = testPgmap(m.k, DEVICE_BASE, SECTION, { kill: true });
    const dev = new Device(m.k, "dax0.0", "nd");
    m.call(devm_memremap_pages, dev, t.pgmap);
    m.call(devres_release_all, dev); // nobody killed the ref first
    return { kills: t.kills, dead: t.ref.dead, count: t.ref.value, warnings: warnings(m.k) };
  });
  assertEquals(out[0], {
    kills: 0,
    dead: false,
    count: 1,
    warnings: ["nd dax0.0: devm_memremap_pages_release: page mapping is still live!"],
  });
  assertEquals(out[1], { kills: 1, dead: true, count: 0, warnings: [] });
});

Deno.test("patch 3/7: a failure after the argument check kills the ref (level 3), not before (level 2)", () => {
  const out = [2, 3].map((series) => {
    const m = bootZoneDeviceMachine("ram-4g", { series });
    const t = testPgmap(m.k, DEVICE_BASE, SECTION, { kill: true });
    m.k.faults.arm("track_pfn_remap", { nth: 1 });
    const r = m.call(devm_memremap_pages, new Device(m.k, "dax0.0", "nd"), t.pgmap);
    return { ret: IS_ERR(r) ? PTR_ERR(r) : 0, kills: t.kills, entries: arrayEntries(m.k) };
  });
  assertEquals(out, [{ ret: -12, kills: 0, entries: 0 }, { ret: -12, kills: 1, entries: 0 }]);
});

Deno.test("patch 3/7: devm_add_action failure — ignored at level 2, release at once and -ENOMEM at level 3", () => {
  const out = [2, 3].map((series) => {
    const m = bootZoneDeviceMachine("ram-4g", { series });
    const t = testPgmap(m.k, DEVICE_BASE, SECTION, { kill: true });
    const dev = new Device(m.k, "dax0.0", "nd");
    m.k.faults.arm("devm_add_action", { nth: 1, caller: "devm_memremap_pages" });
    const r = m.call(devm_memremap_pages, dev, t.pgmap);
    return {
      ret: IS_ERR(r) ? PTR_ERR(r) : 0,
      devres: devresNames(dev),
      sections: pfn_valid(m.k, DEVICE_BASE / 4096),
      entries: arrayEntries(m.k),
      count: t.ref.value,
      kills: t.kills,
    };
  });
  // level 2: mapped, nothing will ever tear it down; 32768 page refs + the initial one
  assertEquals(out[0], {
    ret: 0,
    devres: [],
    sections: true,
    entries: 1,
    count: 1 + 32768,
    kills: 0,
  });
  // level 3: the release ran: killed, pages put, sections and entries gone, count 0
  assertEquals(out[1], { ret: -12, devres: [], sections: false, entries: 0, count: 0, kills: 1 });
});

Deno.test("patch 3/7: the NULL-ref check moves to the top — over RAM, level 2 says -ENXIO, level 3 -EINVAL", () => {
  const rets = [2, 3].map((series) => {
    const m = bootZoneDeviceMachine("ram-4g", { series });
    const t = testPgmap(m.k, GiB, SECTION, { ref: false });
    const r = m.call(devm_memremap_pages, new Device(m.k, "pmem0", "nd"), t.pgmap);
    assert(IS_ERR(r));
    return PTR_ERR(r);
  });
  assertEquals(rets, [-6, -22]);
});
