/**
 * Patch 6/7, "mm, hmm: Replace hmm_devmem_pages_create() with
 * devm_memremap_pages()": the observable difference between levels 5 and 6.
 */
import { assert, assertEquals } from "@std/assert";
import { driver_probe_device } from "../../lib/kernel/device.ts";
import { hmmDevmemRadix } from "../../lib/kernel/hmm.ts";
import { get_dev_pagemap, pgmapArray, put_dev_pagemap } from "../../lib/kernel/memremap.ts";
import { radixTreeEntries } from "../../lib/kernel/radix-tree.ts";
import { xaEntries } from "../../lib/kernel/xarray.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";
import { HmmTestDevice, hmmTestDriver } from "../../lib/scenarios/hmm-driver.ts";
import { hmmSameSection } from "../../lib/scenarios/s27-hmm-same-section.ts";
import { hmmUnbindWait } from "../../lib/scenarios/s30-hmm-unbind-wait.ts";

const SECTION = 2 ** 27;

Deno.test("patch 6/7: HMM memory moves from HMM's section radix into pgmap_array, and its pages hold pgmap refs", () => {
  for (const level of [5, 6]) {
    const m = bootZoneDeviceMachine("ram-4g", { series: level });
    const gpu = new HmmTestDevice(m.k, "gpu0", { size: SECTION });
    assertEquals(m.call(driver_probe_device, hmmTestDriver(), gpu), 0);
    const devmem = gpu.last!.devmem!;
    const radix = [...radixTreeEntries(hmmDevmemRadix(m.k))].length;
    const array = [...xaEntries(pgmapArray(m.k))].length;
    const p = get_dev_pagemap(m.k, devmem.pfn_first, null);
    if (level === 5) {
      assertEquals([radix, array, devmem.ref.value, p], [1, 0, 1, null]);
    } else {
      assertEquals([radix, array, devmem.ref.value], [0, 1, 2 + 32768]);
      assert(p === devmem.pagemap);
      put_dev_pagemap(m.k, p);
    }
  }
});

Deno.test("patch 6/7: the wait moves from hmm_devmem_ref_kill (before removal) to hmm_devmem_ref_exit (after removal)", () => {
  const add5 = hmmUnbindWait(5), add6 = hmmUnbindWait(6);
  assertEquals([add5.killed, add5.waits.length], [false, 0]);
  assertEquals([add6.killed, add6.waits.map((w) => w.fn)], [true, ["hmm_devmem_ref_exit"]]);
  // the release's put loop now frees the still-mapped page, and unbind waits for its ref
  assertEquals([add5.freedDuringUnbind, add6.freedDuringUnbind], [[], [add6.page]]);
  assertEquals([add5.unbindDone, add6.unbindDone, add6.blockedIn], [
    true,
    false,
    "hmm_devmem_ref_exit",
  ]);
});

Deno.test("patch 6/7: a same-section registration is -EBUSY from HMM's radix at 5, -ENOMEM from devm_memremap_pages at 6 — or not seen at all", () => {
  const a5 = hmmSameSection(5, "a"), a6 = hmmSameSection(6, "a");
  assertEquals([a5.r2, a5.collisions.length, a5.conflictWarns], ["-EBUSY", 1, 0]);
  assertEquals([a6.r2, a6.collisions.length, a6.conflictWarns], ["-ENOMEM", 0, 1]);
  const b5 = hmmSameSection(5, "b"), b6 = hmmSameSection(6, "b");
  assertEquals([b5.r2, b6.r2, b6.r1PagePgmap], ["-EBUSY", "ok", "D2"]);
});
