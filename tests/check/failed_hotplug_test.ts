/**
 * The failed-hotplug leak (kernel-reference §5): a failure injected into
 * sparse_add_one_section, or into the vmemmap allocation, for the k-th
 * section (k > 1) of a multi-section range leaves sections 1..k-1 present
 * with a memmap, a linear map and no owner — __add_pages does not unwind,
 * add_pages WARNs, devm_memremap_pages' error path removes no sections —
 * at every level and preset. The checker records the sections as
 * leaked-by-failed-hotplug, tied to that WARN; registering the same range
 * again re-adopts them (__add_section's -EEXIST is swallowed); a leak with
 * no WARN is a break.
 *
 * Checked against the kernel sources in the search index (2026-11-25):
 * - mm/memory_hotplug.c of the v4.20/v5.0 era (`__add_pages(nid,
 *   phys_start_pfn, nr_pages, altmap, want_memblock)`, the signature of
 *   v4.16..v5.1, with update_pgdat_span): the section loop stops at the
 *   first error other than -EEXIST and returns it; nothing removes the
 *   sections added before it. __add_section returns
 *   sparse_add_one_section's error as is. (The torvalds/linux snapshot in
 *   the index is a later commit; the v4.20-era file came from a copy of
 *   it, so the exact tag is not pinned.)
 * - arch/x86/mm/init_64.c of the same era: add_pages calls __add_pages,
 *   then WARN_ON_ONCE(ret), then update_end_of_memory_vars; arch_add_memory
 *   calls init_memory_mapping for the whole range before add_pages and
 *   does not undo it on failure.
 * - kernel/memremap.c's error labels (v4.17..v4.19 form; v4.20 swaps the
 *   radix for pgmap_array_delete): err_add_memory → kasan_remove_zero_shadow,
 *   err_kasan → untrack_pfn, err_pfn_remap → release of the pfn lookup —
 *   no arch_remove_memory, so no section is removed.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { InvariantChecker } from "../../lib/check/invariants.ts";
import { device_release_driver, driver_probe_device } from "../../lib/kernel/device.ts";
import { ENOMEM } from "../../lib/kernel/errno.ts";
import { MM } from "../../lib/kernel/mm/mmzone.ts";
import { arch_add_memory } from "../../lib/kernel/mm/init-64.ts";
import { __add_pages } from "../../lib/kernel/mm/memory-hotplug.ts";
import { presentSections } from "../../lib/kernel/mm/section-info.ts";
import { bootZoneDeviceMachine } from "../../lib/scenarios/boot.ts";
import { TestDaxDevice, testDaxPmemDriver } from "../../lib/scenarios/driver.ts";
import { ALL_SERIES, DEVICE_BASE, SECTION } from "../../lib/scenarios/zone-device.ts";

const FIRST = DEVICE_BASE / SECTION; // section 128
const POINTS = ["sparse_add_one_section", "vmemmap_populate"] as const;

Deno.test("failed hotplug: sections 1..k-1 stay with a memmap, a linear map and no owner, at every level and preset", () => {
  for (const series of ALL_SERIES) {
    for (const point of POINTS) {
      for (const kth of [2, 4]) {
        const what = `${series} ${point} k=${kth}`;
        const m = bootZoneDeviceMachine("ram-4g", { series });
        const k = m.k;
        const checker = new InvariantChecker(m);
        const dev = new TestDaxDevice(k, "dax0.0", { start: DEVICE_BASE, size: 4 * SECTION });
        k.faults.arm(point, { nth: kth });
        k.trace.on = true;
        const ret = m.call(driver_probe_device, testDaxPmemDriver(), dev);
        k.trace.on = false;
        k.faults.disarm(point);
        assertEquals(ret, -ENOMEM, what);
        // devm_memremap_pages' error path removed no section
        assertEquals(
          k.trace.events.filter((e) => e.kind === "section" && e.op === "remove").length,
          0,
          what,
        );
        const left = presentSections(k).filter((s) => s.addedBy !== 0);
        assertEquals(
          left.map((s) => s.nr),
          Array.from({ length: kth - 1 }, (_, i) => FIRST + i),
          what,
        );
        for (const s of left) {
          assert(
            s.present && s.valid && s.linear && !s.online,
            `${what}: section ${s.nr} ${JSON.stringify(s)}`,
          );
        }
        // the checker: leaked by the failed hot-add, tied to the add_pages WARN — not a break
        const r = checker.check({ drained: true });
        assertEquals(r.violations, [], what);
        assertEquals(r.leaked.map((l) => l.nr), left.map((s) => s.nr), what);
        for (const l of r.leaked) {
          assertEquals([l.record.fn, l.record.ret, l.record.added], [
            "__add_pages",
            -ENOMEM,
            kth - 1,
          ], what);
          assert(l.linear, what);
          assertMatch(l.warn ?? "", /^WARNING: CPU: \d+ PID: \d+ at .* add_pages\+/, what);
        }
        // a later successful registration of the same range re-adopts them
        assertEquals(m.call(driver_probe_device, testDaxPmemDriver(), dev), 0, what);
        const rec = k.state(MM).hotplugLog.at(-1)!;
        assertEquals([rec.ret, rec.existing, rec.added], [0, kth - 1, 4 - (kth - 1)], what);
        const again = checker.check();
        assertEquals([again.violations, again.leaked], [[], []], what);
        // and its unbind removes every section, the re-adopted ones included
        m.call(device_release_driver, dev);
        assertEquals(presentSections(k).filter((s) => s.addedBy !== 0), [], what);
        assertEquals(checker.check({ drained: true }).violations, [], what);
      }
    }
  }
});

Deno.test("failed hotplug: a section with no owner that no failed hot-add left is a break", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v5.2" });
  const checker = new InvariantChecker(m);
  // a successful hot-add that no pgmap (and no System RAM) owns
  assertEquals(arch_add_memory(m.k, 0, DEVICE_BASE, SECTION, null, false), 0);
  const r = checker.check();
  assertEquals(r.leaked, []);
  assertEquals(r.violations.map((v) => v.invariant), ["section-owner"]);
  assertMatch(
    r.violations[0]!.message,
    /^section 128 \[mem 0x400000000\] has a memmap and no owner \(added by __add_pages#1, which returned 0\)$/,
  );
});

Deno.test("failed hotplug: a part-way leak with no add_pages WARN in dmesg is a break", () => {
  const m = bootZoneDeviceMachine("ram-4g", { series: "v5.2" });
  const checker = new InvariantChecker(m);
  // __add_pages called directly (not through add_pages): the same leak, but nothing WARNs
  m.k.faults.arm("sparse_add_one_section", { nth: 2 });
  assertEquals(__add_pages(m.k, 0, DEVICE_BASE / 4096, (2 * SECTION) / 4096, null, false), -ENOMEM);
  m.k.faults.disarm("sparse_add_one_section");
  const r = checker.check();
  assertEquals(r.leaked.map((l) => [l.nr, l.warn]), [[FIRST, null]]);
  assertEquals(r.violations.map((v) => v.message), [
    `section ${FIRST} was left by __add_pages#1 (returned ${-ENOMEM}) but dmesg has no add_pages WARN`,
  ]);
});
