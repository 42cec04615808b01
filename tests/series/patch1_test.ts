/**
 * Patch 1/7 "mm, devm_memremap_pages: Mark devm_memremap_pages()
 * EXPORT_SYMBOL_GPL": a non-GPL module that imports devm_memremap_pages
 * loads at level 0 and fails at level 1 with the loader's messages.
 */
import { assertEquals } from "@std/assert";
import { insmod } from "../../lib/kernel/module.ts";
import { exportKind } from "../../lib/kernel/exports.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";

const blob = {
  name: "nvblob",
  license: "Proprietary",
  imports: ["devm_memremap_pages", "get_dev_pagemap"],
};
const blobNoGetDevPagemap = { ...blob, imports: ["devm_memremap_pages"] };

Deno.test("patch 1/7: devm_memremap_pages goes from EXPORT_SYMBOL (level 0) to EXPORT_SYMBOL_GPL (level 1)", () => {
  const k0 = bootZoneDeviceMachine("ram-4g", { series: 0 }).k;
  const k1 = bootZoneDeviceMachine("ram-4g", { series: 1 }).k;
  assertEquals([exportKind(k0, "devm_memremap_pages"), exportKind(k1, "devm_memremap_pages")], [
    "non-GPL",
    "GPL",
  ]);
  // level 0: a proprietary module using only devm_memremap_pages loads (tainted "P")
  const r0 = insmod(k0, blobNoGetDevPagemap);
  assertEquals(r0.ret, 0);
  assertEquals(r0.log.filter((l) => !l.startsWith("Failed to find")), [
    "nvblob: module license 'Proprietary' taints kernel.",
    "Disabling lock debugging due to kernel taint",
  ]);
  // level 1: the same module fails to resolve it
  const r1 = insmod(k1, blobNoGetDevPagemap);
  assertEquals(r1.ret, -2);
  assertEquals(r1.log.filter((l) => !l.startsWith("Failed to find")), [
    "nvblob: module license 'Proprietary' taints kernel.",
    "Disabling lock debugging due to kernel taint",
    "nvblob: Unknown symbol devm_memremap_pages (err -2)",
  ]);
  // get_dev_pagemap was EXPORT_SYMBOL_GPL before the series: unresolved at both levels
  for (
    const k of [
      bootZoneDeviceMachine("ram-4g", { series: 0 }).k,
      bootZoneDeviceMachine("ram-4g", { series: 1 }).k,
    ]
  ) {
    const r = insmod(k, blob);
    assertEquals(r.ret, -2);
    assertEquals(
      r.log.filter((l) => l.includes("Unknown symbol")).length,
      k.series.level === 0 ? 1 : 2,
    );
  }
  // a GPL module resolves it at both levels
  for (const k of [k0, k1]) {
    assertEquals(insmod(k, { ...blob, name: "gplmod", license: "GPL v2" }).ret, 0);
  }
});
