/**
 * Patch 7/7, "mm, hmm: Mark hmm_devmem_{add, add_resource}
 * EXPORT_SYMBOL_GPL": the observable difference between levels 6 and 7.
 */
import { assertEquals } from "@std/assert";
import { insmod } from "../../lib/kernel/module.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";

Deno.test("patch 7/7: a proprietary module using hmm_devmem_add / hmm_devmem_add_resource loads at level 6, not at level 7", () => {
  for (const sym of ["hmm_devmem_add", "hmm_devmem_add_resource"]) {
    const six = bootZoneDeviceMachine("ram-4g", { series: 6 });
    assertEquals(
      insmod(six.k, { name: "gpu_blob", license: "Proprietary", imports: [sym] }).ret,
      0,
      sym,
    );
    const seven = bootZoneDeviceMachine("ram-4g", { series: 7 });
    const r = insmod(seven.k, { name: "gpu_blob", license: "Proprietary", imports: [sym] });
    assertEquals(r.ret, -2, sym);
    assertEquals(r.log.filter((l) => l.includes("Unknown symbol")), [
      `gpu_blob: Unknown symbol ${sym} (err -2)`,
    ]);
    // GPL modules are unaffected
    assertEquals(insmod(seven.k, { name: "gpu_gpl", license: "GPL", imports: [sym] }).ret, 0, sym);
  }
});
