/**
 * Scenarios 16, 18, 22 and 30 (tests/scenarios, told with the dmirror
 * driver) run against the GPU and its nouveau-style driver
 * (lib/scenarios/gpu-hmm.ts).
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  scenario16Gpu,
  scenario18Gpu,
  scenario22Gpu,
  scenario30Gpu,
} from "../../../lib/scenarios/gpu-hmm.ts";
import { ALL_SERIES } from "../../../lib/scenarios/zone-device.ts";
import { Series } from "../../../lib/series.ts";
import { PRESETS } from "./_fixture.ts";

for (const series of PRESETS) {
  Deno.test(`scenario 16 on the GPU: migrate_vma into VRAM at ${series}`, () => {
    const r = scenario16Gpu(series);
    assertEquals(r.deviceSections, 4, "512 MiB of VRAM: four sections");
    assertEquals(r.before, { allocated: 0, freed: 0 });
    assertEquals(r.migrate, { ret: 0, cpages: 1024 });
    assertEquals(r.after, { allocated: 1024, freed: 0 });
    assertEquals(r.writableDevicePrivatePtes, 1024);
    assertEquals(r.vramCopyEqual, true);
    assertEquals(r.cowBreaksDuringMigration, 0, "the chunks are shared, not copied");
    assertEquals(r.oldPagesUnmapped, 1024);
    assertEquals(r.ramDelta, -1024, "real VRAM: the system pages are freed, none taken");
    assertEquals(r.snapshot, ["VALID|WRITE|DEVICE_PRIVATE"]);
    assertEquals(r.chunks, { withBo: 2, free: 0, full: 2, empty: 254 });
    assertEquals(r.copies, 1024, "one copy-engine DMA per page");
    // 8 migrate_vma calls of 128 pages and the bind's two 2 MiB snapshots (a walk each), 1024 DMAs at Gen3 x16
    assertEquals(r.simNs, (8 + 2) * 300 + 1024 * 1286);
  });

  Deno.test(`scenario 18 on the GPU: shared anonymous memory is not migrated, at ${series}`, () => {
    const r = scenario18Gpu(series);
    assertEquals(r.untouched, { ret: 0, moved: 0, allocated: 0, ptesUnchanged: true });
    assertEquals(r.touched, {
      ret: 0,
      moved: 0,
      allocated: 1024,
      freed: 1024,
      copies: 1024,
      ptesUnchanged: true,
    });
    assertEquals(r.gpuAccess, {
      writeRet: 0,
      readRet: 0,
      cpuSeesGpuWrite: true,
      mappedByHmm: 1024,
      migratedOnFault: 0,
    });
  });

  Deno.test(`scenario 22 on the GPU: process exit with pages in VRAM, at ${series}`, () => {
    const r = scenario22Gpu(series);
    assertEquals(r.releases, [1, 1]);
    // both releases (the dmirror's, the newest mirror, first) ran before the unmap
    assertEquals(r.atRelease, [
      { freed: 0, deviceEntries: 1024, gpuEntries: 1024 },
      { freed: 0, deviceEntries: 1024, gpuEntries: 1024 },
    ]);
    assertEquals(r.gpuEntriesAfterExit, 0, "the GPU's release cleared its page table");
    assertEquals(r.freesDuringExit, 1024);
    assertEquals([r.allocated, r.freed], [1024, 1024]);
    assertEquals(r.deviceLines, ["DEVICE PAGE 0 0 (0)"], "only the dummy driver prints at close");
    assertEquals(r.ramLeak, 0);
  });
}

Deno.test("scenario 30 on the GPU: where unbind waits at every level and preset (one more WARN: nouveau_dmem_fini)", () => {
  for (const s of ALL_SERIES) {
    const cfg = new Series({ series: s });
    const level = cfg.level;
    const r = scenario30Gpu(s);
    if (level <= 4) {
      assertEquals(r.waits, [{ fn: "hmm_devmem_ref_kill", ns: 10_000_000 }], r.series);
      assertEquals([r.unbindDone, r.freeWhileMapped, r.removedWhileMapped], [true, false, true]);
      assertEquals(
        r.warns,
        3,
        `${r.series}: two self-unregistering actions + the chunk still in use`,
      );
      assert(r.oopsNamesPage, r.series);
      assertEquals(r.unmapDone, false);
    } else if (level === 5) {
      assertEquals(
        [r.waits, r.unbindDone, r.warns, r.refExitedLive],
        [[], true, 1, true],
        r.series,
      );
      assertEquals(r.removedWhileMapped, true);
      assert(r.oopsNamesPage, r.series);
    } else if (!cfg.fixed("50f44ee7248a")) {
      assertEquals(r.waits, [{ fn: "hmm_devmem_ref_exit", ns: -1 }], r.series);
      assertEquals([r.freeWhileMapped, r.removedWhileMapped, r.unbindDone], [true, true, false]);
      assertEquals([r.blockedIn, r.warns], ["hmm_devmem_ref_exit", 1], r.series);
      assertStringIncludes(r.hang!, "nouveau_unbind");
      assert(r.oopsNamesPage, r.series);
    } else {
      assertEquals(r.waits.map((w) => w.fn), ["hmm_devmem_ref_exit"], r.series);
      assert(r.waits[0]!.ns > 0);
      assertEquals([r.removedWhileMapped, r.unmapDone, r.oops, r.unbindDone], [
        false,
        true,
        null,
        true,
      ]);
    }
  }
});
