import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { bootMachine } from "../../../lib/machine.ts";
import { nd_bound_device } from "../../../lib/drivers/nvdimm/bind.ts";
import {
  dax_pmem_percpu_exit,
  dax_pmem_percpu_kill,
  daxPmemOf,
} from "../../../lib/drivers/dax/pmem.ts";
import { devresNames } from "../../../lib/kernel/devres.ts";
import type { SeriesPoint } from "../../../lib/scenarios/zone-device.ts";

Deno.test("dax_pmem: its own ref and completion as the pgmap ref; kill and wait-and-exit placed as the level's in-tree pattern", () => {
  for (const series of [0, 2, 3, 7, "v4.20", "v5.0", "v5.2"] as const) {
    const m = bootMachine("workstation-2018", { series });
    const nd = m.hw!.ndctl!;
    const r = nd.createNamespace({ mode: "devdax", map: "mem", size: "512M" });
    assert(r.ok);
    const dev = nd_bound_device(m.k, nd.namespace(r.dev)!)!;
    const what = m.k.series.label;
    assertEquals([dev.name, dev.driver?.name], ["dax0.0", "dax_pmem"], what);
    const dax = daxPmemOf(m.k, dev)!;
    assertEquals(dax.pgmap.ref, dax.ref, what);
    assertEquals(dax.cmp.completer, dax.ref, what);
    const level = typeof series === "number" ? series : series === "v4.20" ? 0 : 7;
    const names = devresNames(dev);
    assertEquals(dax.pgmap.kill, level >= 3 ? dax_pmem_percpu_kill : null, what);
    assertEquals(dax.pgmap.cleanup, series === "v5.2" ? dax_pmem_percpu_exit : null, what);
    assertEquals(names.includes("dax_pmem_percpu_kill"), level < 3, what);
    assertEquals(names.includes("dax_pmem_percpu_exit"), series !== "v5.2", what);
    // the device-dax instance's teardown is the last action: it runs first at unbind
    assertEquals(names.at(-1), "unregister_dev_dax", what);
    assertEquals(dax.dev_dax!.region.align, 2 ** 21, what);
  }
});

function sameSectionConflict(series: SeriesPoint, second: "devdax" | "fsdax") {
  const m = bootMachine("workstation-2018", { series });
  const nd = m.hw!.ndctl!;
  // two 64 MiB namespaces in one 128 MiB section: the second devm_memremap_pages conflicts
  assert(nd.createNamespace({ mode: "fsdax", map: "mem", size: "64M" }).ok);
  const r = nd.createNamespace({ mode: second, map: "mem", size: "64M" });
  return { m, r, hang: m.k.sched.hangReport() };
}

Deno.test("dax_pmem: a same-section conflict at probe — clean -ENOMEM at v4.20, a probe that never returns at v5.0 (no kill on that path), clean again at v5.2", () => {
  const v420 = sameSectionConflict("v4.20", "devdax");
  assertEquals([v420.r.rc, v420.hang], [-12, null]);
  const v50 = sameSectionConflict("v5.0", "devdax");
  assertEquals(v50.r.rc, -4); // -EINTR: the enable did not return
  assertStringIncludes(v50.hang!.text, "wait_for_completion 'dax_pmem dax0.0 ref'");
  assertStringIncludes(v50.hang!.text, "live (never killed)");
  assertStringIncludes(
    v50.m.k.dmesg.lines.map((l) => l.text).join("\n"),
    "Conflicting mapping in same section",
  );
  const v52 = sameSectionConflict("v5.2", "devdax");
  assertEquals([v52.r.rc, v52.hang], [-12, null]);
  // pmem never hangs there: blk_cleanup_queue freezes (kills) the queue itself
  const pmem = sameSectionConflict("v5.0", "fsdax");
  assertEquals([pmem.r.rc, pmem.hang], [-12, null]);
});
