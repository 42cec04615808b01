/**
 * A representative subset of the hmm-tests rows (tests/hmm_tests, against
 * the dmirror driver) replayed against the GPU and its nouveau-style
 * driver: the device's READ/WRITE are GPU accesses (far faults serviced in
 * batches, pages migrated to VRAM where they can be), MIGRATE is the
 * explicit bind (nouveau_dmem_migrate_vma). Where the GPU's answer differs
 * from the dummy driver's, the test says why.
 */
import { assert, assertEquals } from "@std/assert";
import {
  anonBuffer,
  assertPattern,
  bind,
  EFAULT,
  gpuRead,
  gpuWrite,
  NPAGES,
  NTIMES,
  pattern,
  PRESETS,
  setup,
  teardown,
  WPP,
} from "./_fixture.ts";
import { gpuPrivatePtes, gpuSnapshotKinds } from "../../../lib/scenarios/gpu-hmm.ts";
import { nouveau_svmm_init, type NouveauSvmm } from "../../../lib/drivers/gpu/svm.ts";
import {
  type Dmirror,
  dmirror_create,
  dmirror_migrate,
  dmirror_open,
  dmirror_read,
  type DmirrorDevice,
} from "../../../lib/drivers/dmirror.ts";
import { hmmMirrors } from "../../../lib/kernel/mm/hmm-mirror.ts";
import { HUB } from "../../../lib/kernel/mm/hub.ts";
import {
  MAP_ANONYMOUS,
  MAP_SHARED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";
import { ftruncate, pread, pwrite, tmpfs_create } from "../../../lib/kernel/mm/shmem.ts";

const WORDS = NPAGES * WPP;

Deno.test("gpu hmm.open_close", () => {
  const f = setup();
  assertEquals(hmmMirrors(f.p.mm).length, 1);
  f.p.close(f.p.files[0]!);
  assertEquals([hmmMirrors(f.p.mm).length, f.p.mm.hmm], [0, null]);
  teardown(f);
});

for (const series of PRESETS) {
  Deno.test(`gpu hmm.anon_read at ${series}: data pages migrate to VRAM, the zero and empty pages are mapped`, () => {
    const f = setup(series);
    const { p, drm } = f;
    const a = anonBuffer(p);
    p.writeWords(a + 2 * 4096, pattern(WORDS).subarray(2 * WPP));
    assertEquals(p.mprotect(a, NPAGES * 4096, PROT_READ), 0);
    assertEquals(p.load32(a + 4096), 0); // page 1: the zero page
    const r = gpuRead(f, a, NPAGES);
    assertEquals([r.ret, r.cpages, r.faults], [0, NPAGES, 4]);
    for (let i = 0; i < 2 * WPP; i++) assertEquals(r.mirror[i], 0);
    assertPattern(r.mirror.subarray(2 * WPP), 2 * WPP);
    assertEquals([drm.svm!.migratedOnFault, drm.svm!.mappedByHmm], [NPAGES - 2, 2]);
    assertEquals(
      gpuPrivatePtes(f, a, NPAGES),
      { all: NPAGES - 2, writable: 0 },
      "PROT_READ: read-only entries",
    );
    // the CPU reads it all back through device-private faults
    const w = p.readWords(a, WORDS);
    assertPattern(w.subarray(2 * WPP), 2 * WPP);
    assertEquals(f.k.state(HUB).faults.devicePrivate, NPAGES - 2);
    teardown(f);
  });
}

Deno.test("gpu hmm.anon_read_prot: PROT_NONE faults are cancelled, the GPU reads nothing", () => {
  const f = setup();
  const a = anonBuffer(f.p);
  f.p.writeWords(a, pattern(WORDS));
  assertEquals(f.p.mprotect(a, NPAGES * 4096, PROT_NONE), 0);
  const mirror = pattern(WORDS, 0, -1);
  const r = gpuRead(f, a, NPAGES);
  assertEquals(r.ret, -EFAULT);
  assertEquals(f.drm.svm!.cancelled, NPAGES);
  assertEquals(f.drm.dmem!.allocated, 0);
  assertEquals(f.p.mprotect(a, NPAGES * 4096, PROT_READ), 0);
  assertPattern(f.p.readWords(a, WORDS));
  assertPattern(mirror, 0, -1);
  teardown(f);
});

Deno.test("gpu hmm.anon_write: empty pages are faulted in as anonymous pages (nothing to migrate)", () => {
  const f = setup();
  const a = anonBuffer(f.p);
  const r = gpuWrite(f, a, NPAGES, pattern(WORDS));
  assertEquals([r.ret, r.cpages, r.faults], [0, NPAGES, 4]);
  assertEquals([f.drm.svm!.migratedOnFault, f.drm.svm!.mappedByHmm], [0, NPAGES]);
  assertPattern(f.p.readWords(a, WORDS));
  teardown(f);
});

Deno.test("gpu hmm.anon_write_prot: a write to PROT_READ is cancelled (-EFAULT); after mprotect it lands", () => {
  const f = setup();
  const a = anonBuffer(f.p, NPAGES, PROT_READ);
  const r1 = gpuRead(f, a, 1);
  assertEquals([r1.ret, r1.cpages], [0, 1]);
  assertEquals(gpuWrite(f, a, NPAGES, pattern(WORDS)).ret, -EFAULT);
  for (let i = 0; i < NPAGES; i++) assertEquals(f.p.load32(a + i * 4096), 0);
  assertEquals(f.p.mprotect(a, NPAGES * 4096, PROT_READ | PROT_WRITE), 0);
  const r3 = gpuWrite(f, a, NPAGES, pattern(WORDS));
  assertEquals(r3.ret, 0);
  assertPattern(f.p.readWords(a, WORDS));
  teardown(f);
});

for (const mig of [false, true]) {
  Deno.test(`gpu hmm.anon_write_child (migrate=${mig}): the child's GPU writes stay private`, () => {
    const f = setup();
    const { k, p, drm } = f;
    const a = anonBuffer(p);
    p.writeWords(a, pattern(WORDS));
    if (mig) assertEquals(bind(f, a, NPAGES).cpages, NPAGES);
    const child = p.fork("child");
    assertPattern(child.readWords(a, WORDS), 0, 1, "the child sees the parent's values");
    // one GPU page table: both close the shared GPU file, the child opens the GPU anew
    p.close(p.files[0]!);
    child.close(child.files[0]!);
    const csvmm = nouveau_svmm_init(k, drm, child.mm) as NouveauSvmm;
    const w = gpuWrite(f, a, NPAGES, pattern(WORDS, 0, -1), csvmm);
    assertEquals(w.ret, 0);
    assertPattern(child.readWords(a, WORDS), 0, -1, "the child sees its GPU write");
    child.exit();
    assertPattern(p.readWords(a, WORDS), 0, 1, "COW kept the parent's values");
    teardown(f);
  });
}

Deno.test("gpu hmm.anon_read_multiple: every buffer's VRAM comes back at munmap", () => {
  const f = setup();
  for (let c = 0; c < NTIMES; c++) {
    const a = anonBuffer(f.p);
    f.p.writeWords(a, pattern(WORDS, c));
    const r = gpuRead(f, a, NPAGES);
    assertEquals([r.ret, r.faults], [0, 4]);
    assertPattern(r.mirror, c);
    f.p.munmap(a, NPAGES * 4096);
    assertEquals(f.drm.dmem!.inUse, 0, "munmap zapped the device-private entries");
  }
  assertEquals(f.drm.dmem!.allocated, NTIMES * NPAGES);
  teardown(f);
});

Deno.test("gpu hmm.anon_teardown: a GPU read of a half-unmapped buffer fails; after it, reads succeed", () => {
  const f = setup();
  const half = (NPAGES / 2) * 4096;
  for (const when of ["before", "after"] as const) {
    const a = anonBuffer(f.p);
    f.p.writeWords(a, pattern(WORDS, 7));
    if (when === "before") f.p.munmap(a + half, half);
    const r = gpuRead(f, a, NPAGES);
    if (when === "before") assertEquals(r.ret, -EFAULT);
    else {
      assertEquals(r.ret, 0);
      assertPattern(r.mirror, 7);
      f.p.munmap(a + half, half);
    }
    assertEquals(f.drm.gpu.pageTable.invalidate(a + half, a + 2 * half), 0, "no stale GPU entry");
    f.p.munmap(a, half);
  }
  teardown(f);
});

Deno.test("gpu hmm.file_read / file_write: page-cache pages cannot migrate; the GPU maps them", () => {
  const f = setup();
  const file = tmpfs_create(f.k, "/tmp/hmm");
  assertEquals(ftruncate(f.k, file, NPAGES * 4096), 0);
  assertEquals(pwrite(f.k, file, pattern(WORDS), 0), NPAGES * 4096);
  const a = f.p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file);
  const r = gpuRead(f, a, NPAGES);
  assertEquals([r.ret, f.drm.svm!.migratedOnFault, f.drm.svm!.mappedByHmm], [0, 0, NPAGES]);
  assertPattern(r.mirror);
  assertEquals(gpuWrite(f, a, NPAGES, pattern(WORDS, 3)).ret, 0);
  assertPattern(pread(f.k, file, WORDS, 0), 3, 1, "the GPU write reached the page cache");
  assertEquals(f.drm.dmem!.inUse, 0, "device pages taken for the copies were given back");
  teardown(f);
});

for (const series of PRESETS) {
  Deno.test(`gpu hmm.migrate at ${series}: bind, then the GPU reads its own pages without migrating`, () => {
    const f = setup(series);
    const a = anonBuffer(f.p);
    f.p.writeWords(a, pattern(WORDS));
    const r = bind(f, a, NPAGES);
    assertEquals([r.ret, r.cpages], [0, NPAGES]);
    assertEquals(gpuSnapshotKinds(f, a, NPAGES), ["VALID|WRITE|DEVICE_PRIVATE"]);
    const g = gpuRead(f, a, NPAGES);
    assertEquals([g.ret, f.drm.svm!.migratedOnFault, f.drm.svm!.mappedByHmm], [0, 0, NPAGES]);
    assertPattern(g.mirror, 0, 1, "convert_pfn mapped the VRAM pages");
    teardown(f);
  });
}

Deno.test("gpu hmm.migrate_fault: half faulted back; a second bind moves those and keeps the rest", () => {
  const f = setup();
  const a = anonBuffer(f.p);
  f.p.writeWords(a, pattern(WORDS));
  assertEquals(bind(f, a, NPAGES).cpages, NPAGES);
  assertPattern(f.p.readWords(a, WORDS / 2));
  assertEquals(gpuPrivatePtes(f, a, NPAGES).all, NPAGES / 2);
  const r = bind(f, a, NPAGES);
  assertEquals([r.ret, r.cpages], [0, NPAGES]);
  assertPattern(gpuRead(f, a, NPAGES).mirror);
  teardown(f);
});

Deno.test("gpu hmm.migrate_shared: nothing of a shared anonymous buffer moves", () => {
  const f = setup();
  const a = anonBuffer(f.p, NPAGES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  const r = bind(f, a, NPAGES);
  assertEquals([r.ret, r.cpages], [0, 0]);
  assertEquals(f.drm.dmem!.allocated, 0, "nouveau skips entries without a page");
  teardown(f);
});

Deno.test("gpu hmm.migrate_multiple: bind, GPU read, CPU read back, munmap — nothing leaks", () => {
  const f = setup();
  const ram0 = ramStats(f.k).allocated;
  for (let c = 0; c < NTIMES; c++) {
    const a = anonBuffer(f.p);
    f.p.writeWords(a, pattern(WORDS, c));
    assertEquals(bind(f, a, NPAGES).cpages, NPAGES);
    assertPattern(gpuRead(f, a, NPAGES).mirror, c);
    assertPattern(f.p.readWords(a, WORDS), c);
    f.p.munmap(a, NPAGES * 4096);
    assertEquals(f.drm.dmem!.inUse, 0);
    assertEquals(ramStats(f.k).allocated, ram0, "no system page leaked");
  }
  teardown(f);
});

Deno.test("gpu hmm2.double_map: the GPU faults a dmirror device's pages back before mapping them", () => {
  const f = setup();
  const { k, m, p } = f;
  const md = m.call(dmirror_create, {}) as DmirrorDevice;
  const d = dmirror_open(k, md, p.mm) as Dmirror;
  const a = anonBuffer(p, 6);
  p.writeWords(a, pattern(6 * WPP));
  assertEquals(p.mprotect(a, 6 * 4096, PROT_READ), 0);
  assertEquals(dmirror_migrate(k, d, a, 6).cpages, 6);
  const g = gpuRead(f, a, 6);
  assertEquals(g.ret, 0);
  assertPattern(g.mirror);
  assertEquals(md.cpuFaults, 6, "the dmirror's fault handler migrated them back");
  assertEquals(
    [f.drm.dmem!.allocated, f.drm.dmem!.freed],
    [6, 6],
    "dma_map_page refused the other device's pages",
  );
  const back = new Int32Array(6 * WPP);
  assertEquals(dmirror_read(k, d, a, 6, back).ret, 0);
  assertPattern(back);
  p.exit();
  assertEquals(md.calloc, md.cfree);
  teardown(f);
});

Deno.test("gpu hmm.hmm_cow_in_device: the parent's write after fork faults VRAM pages back and COWs", () => {
  const f = setup();
  const a = anonBuffer(f.p, 4);
  f.p.writeWords(a, pattern(4 * WPP));
  assertEquals(bind(f, a, 4).cpages, 4);
  const child = f.p.fork("child");
  for (let i = 0; i < 4 * WPP; i++) f.p.store32(a + i * 4, f.p.load32(a + i * 4));
  assertPattern(child.readWords(a, 4 * WPP));
  child.exit();
  assertEquals(gpuSnapshotKinds(f, a, 4), ["VALID|WRITE"]);
  assertPattern(f.p.readWords(a, 4 * WPP));
  assert(f.drm.dmem!.faults >= 4);
  teardown(f);
});
