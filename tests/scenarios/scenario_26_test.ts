import { assertEquals, assertStringIncludes } from "@std/assert";
import { p2pdmaPatch3 } from "../../lib/scenarios/s26-p2pdma-patch3.ts";

Deno.test("scenario 26: p2pdma across patch 3 — levels 0-2 work, 3-7 get -EINVAL, v5.0's pgmap->kill fixes it", () => {
  for (const series of [0, 1, 2, "v4.20", "v5.0", "v5.2"] as const) {
    const r = p2pdmaPatch3(series);
    assertEquals(r.addResource, "0", r.series);
    assertEquals([r.bound, r.hasP2pmem, r.allocated], [true, true, true], r.series);
    assertEquals(r.sizeAttr, `${2 ** 28}\n`, r.series); // the 256 MiB BAR
    assertStringIncludes(r.probeLog.at(-1)!, "accel 0000:05:00.0: added peer-to-peer DMA memory");
    assertEquals(r.unbindHang, null, r.series);
  }
  for (const level of [3, 4, 5, 6, 7]) {
    const r = p2pdmaPatch3(level);
    // the v4.20 call site leaves pgmap->kill NULL, which patch 3/7 made an -EINVAL
    assertEquals(r.addResource, "-EINVAL", r.series);
    assertEquals(r.lookupEntries, 0, r.series); // refused before anything was set up
    // the provider binds (a CMB failure is not fatal) without p2pmem
    assertEquals([r.bound, r.hasP2pmem, r.allocated, r.sizeAttr], [true, false, false, "0\n"]);
    assertEquals(r.probeLog, ["accel 0000:05:00.0: failed to register the CMB"]);
    // nothing ever kills the device's ref: the unbind waits for ever in pci_p2pdma_release
    assertStringIncludes(r.unbindHang!.text, "task unbind[");
    assertStringIncludes(r.unbindHang!.text, "p2pdma devmap_ref_done 0000:05:00.0");
    assertStringIncludes(r.unbindHang!.text, "count 1, live (never killed)");
  }
});
