/**
 * The GPU's mirror and far-fault batches (lib/drivers/gpu/svm.ts): batches
 * of up to 256 de-duplicated faults migrate to VRAM and map; what cannot
 * migrate is mapped through hmm_vma_fault; invalidations clear GPU entries;
 * faults the VMA refuses are cancelled; the batch's simulated cost.
 */
import { assert, assertEquals } from "@std/assert";
import {
  nouveau_svm_fault,
  nouveau_svmm_fini,
  nouveau_svmm_init,
} from "../../../lib/drivers/gpu/svm.ts";
import { FAULT_READ, FAULT_WRITE } from "../../../lib/hw/gpu/faults.ts";
import { DPTE_VRAM, DPTE_WRITE } from "../../../lib/hw/gpu/page-table.ts";
import { hostPath, transferNs } from "../../../lib/hw/pcie/dma.ts";
import { hmmMirrors } from "../../../lib/kernel/mm/hmm-mirror.ts";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../../lib/kernel/mm/mm-types.ts";
import { Process } from "../../../lib/kernel/mm/process.ts";
import { gpuPrivatePtes } from "../../../lib/scenarios/gpu-hmm.ts";
import {
  anonBuffer,
  assertPattern,
  EFAULT,
  gpuRead,
  gpuWrite,
  NPAGES,
  pattern,
  PRESETS,
  setup,
  teardown,
  WPP,
} from "./_fixture.ts";

const WORDS = NPAGES * WPP;

for (const series of PRESETS) {
  Deno.test(`svm: a GPU read of 1024 pages is four batches of 256 that migrate them to VRAM, at ${series}`, () => {
    const f = setup(series);
    const { p, drm } = f;
    const svm = drm.svm!;
    const a = anonBuffer(p);
    p.writeWords(a, pattern(WORDS));
    const r = gpuRead(f, a, NPAGES);
    assertEquals([r.ret, r.cpages, r.faults], [0, NPAGES, 4]);
    assertPattern(r.mirror);
    assertEquals([svm.batches, svm.faults, svm.migratedOnFault, svm.mappedByHmm], [
      4,
      1024,
      1024,
      0,
    ]);
    assertEquals(drm.gpu.pageTable.count, NPAGES);
    assert((drm.gpu.pageTable.raw(a) & (DPTE_VRAM | DPTE_WRITE)) === (DPTE_VRAM | DPTE_WRITE));
    assertEquals(gpuPrivatePtes(f, a, NPAGES).all, NPAGES);
    // the CPU touches half: each fault migrates its page back and the mirror drops its GPU entry
    assertPattern(p.readWords(a, WORDS / 2));
    assertEquals([drm.dmem!.faults, drm.gpu.pageTable.count], [NPAGES / 2, NPAGES / 2]);
    // the GPU reads again: only the missing half faults
    const r2 = gpuRead(f, a, NPAGES);
    assertEquals([r2.ret, r2.faults, svm.migratedOnFault], [0, 2, 1536]);
    assertPattern(r2.mirror);
    teardown(f);
  });
}

Deno.test("svm: one batch takes 256 faults, de-duplicated per page; a write beats a read", () => {
  const f = setup();
  const { k, p, drm } = f;
  const g = drm.gpu, svm = drm.svm!;
  const a = anonBuffer(p, 4);
  p.writeWords(a, pattern(4 * WPP));
  for (let i = 0; i < 300; i++) {
    g.raiseFault(a + (i % 3) * 4096 + 8, i === 4 ? FAULT_WRITE : FAULT_READ);
  }
  assertEquals(nouveau_svm_fault(k, drm), 3);
  assertEquals([svm.batch.fetched, g.faults.pending], [256, 44]);
  assertEquals(drm.gpu.pageTable.count, 3);
  assertEquals(
    nouveau_svm_fault(k, drm),
    3,
    "the other 44 faults hit mapped pages: serviced again",
  );
  assertEquals([nouveau_svm_fault(k, drm), svm.batches], [0, 2]);
  teardown(f);
});

Deno.test("svm: the batch's simulated time is the composite of perf-anchors §8 (Gen3 x16)", () => {
  const f = setup();
  const { k, p, drm } = f;
  const a = anonBuffer(p, 512);
  const base = Math.ceil(a / 2 ** 21) * 2 ** 21; // one VA block
  const n = 256;
  for (let i = 0; i < n; i++) p.store32(base + i * 4096, i + 1);
  for (let i = 0; i < n; i++) drm.gpu.raiseFault(base + ((i * 97) % n) * 4096, FAULT_READ);
  const t0 = k.clock.now;
  assertEquals(nouveau_svm_fault(k, drm), n);
  const dma = transferNs(k.cost, hostPath(drm.gpu.pci), 4096);
  assertEquals(
    k.clock.now - t0,
    k.cost.get("gpu.farFaultBatchFixed") + n * k.cost.get("gpu.perFaultInBatch") + n * dma +
      k.cost.get("cpu.ptWalkSoftware"),
  );
  for (let i = 0; i < n; i++) {
    const r = drm.gpu.pageTable.raw(base + i * 4096);
    assertEquals(drm.gpu.vram.readWord(Math.floor(r / 8), 0), i + 1);
  }
  teardown(f);
});

Deno.test("svm: never-touched pages are mapped through hmm_vma_fault (zero page, new anonymous pages)", () => {
  const f = setup();
  const { p, drm } = f;
  const svm = drm.svm!;
  const a = anonBuffer(p);
  const r = gpuRead(f, a, NPAGES);
  assertEquals([r.ret, svm.migratedOnFault, svm.mappedByHmm], [0, 0, NPAGES]);
  assert(r.mirror.every((x) => x === 0));
  assertEquals(drm.gpu.pageTable.raw(a) & (DPTE_VRAM | DPTE_WRITE), 0, "the zero page, read-only");
  const w = gpuWrite(f, a, NPAGES, pattern(WORDS));
  assertEquals([w.ret, w.faults], [0, 4]);
  assertPattern(p.readWords(a, WORDS), 0, 1, "the CPU sees the GPU's write");
  teardown(f);
});

Deno.test("svm: with migrateOnFault off, faults map system memory (nouveau's v5.3 policy)", () => {
  const f = setup();
  const { p, drm } = f;
  drm.svm!.migrateOnFault = false;
  const a = anonBuffer(p);
  p.writeWords(a, pattern(WORDS));
  const r = gpuRead(f, a, NPAGES);
  assertEquals([r.ret, drm.svm!.migratedOnFault, drm.svm!.mappedByHmm], [0, 0, NPAGES]);
  assertPattern(r.mirror);
  assertEquals([drm.dmem!.allocated, gpuPrivatePtes(f, a, NPAGES).all], [0, 0]);
  teardown(f);
});

Deno.test("svm: faults outside any VMA, or refused by its protection, are cancelled", () => {
  const f = setup();
  const { p, drm } = f;
  const a = anonBuffer(p, 8);
  p.writeWords(a, pattern(8 * WPP));
  assertEquals(p.mprotect(a, 8 * 4096, PROT_NONE), 0);
  assertEquals(gpuRead(f, a, 8).ret, -EFAULT);
  assertEquals(drm.svm!.cancelled, 8);
  assertEquals(p.mprotect(a, 8 * 4096, PROT_READ), 0);
  const r = gpuRead(f, a, 8);
  assertEquals(r.ret, 0);
  assertPattern(r.mirror);
  assertEquals(gpuWrite(f, a, 8, pattern(8 * WPP, 5)).ret, -EFAULT, "a write to a PROT_READ VMA");
  assertEquals(p.mprotect(a, 8 * 4096, PROT_READ | PROT_WRITE), 0);
  assertEquals(gpuWrite(f, a, 8, pattern(8 * WPP, 5)).ret, 0);
  assertPattern(p.readWords(a, 8 * WPP), 5);
  assertEquals(p.munmap(a, 8 * 4096), 0);
  assertEquals(gpuRead(f, a, 8).ret, -EFAULT, "no VMA");
  assertEquals(drm.gpu.pageTable.count, 0, "the munmap cleared the GPU's entries");
  teardown(f);
});

Deno.test("svm: one mirror per GPU; closing the file unregisters it; exit releases it", () => {
  const f = setup();
  const { k, p, drm } = f;
  assertEquals(hmmMirrors(p.mm).length, 1);
  const other = new Process(k, "other");
  assertEquals(nouveau_svmm_init(k, drm, other.mm), -16, "-EBUSY: the GPU mirrors one process");
  const a = anonBuffer(p, 4);
  p.writeWords(a, pattern(4 * WPP));
  assertEquals(gpuRead(f, a, 4).ret, 0);
  p.close(p.files[0]!);
  assertEquals([hmmMirrors(p.mm).length, drm.gpu.pageTable.count, drm.svm!.svmm], [0, 0, null]);
  const s2 = nouveau_svmm_init(k, drm, other.mm);
  assert(typeof s2 !== "number");
  const b = anonBuffer(other, 4);
  other.writeWords(b, pattern(4 * WPP, 9));
  const r = gpuRead(f, b, 4, s2);
  assertEquals(r.ret, 0);
  assertPattern(r.mirror, 9);
  other.exit();
  assertEquals([s2.released, drm.gpu.pageTable.count], [1, 0]);
  nouveau_svmm_fini(k, s2);
  teardown(f);
});
