/**
 * hmm-tests migration rows, replayed through migrate_vma (4.20 API), the
 * device-private CPU fault path and the dmirror driver.
 */
import { assert, assertEquals } from "@std/assert";
import {
  alignedTwoMeg,
  anonBuffer,
  assertPattern,
  faults,
  migrate,
  NPAGES,
  NTIMES,
  pattern,
  read,
  setup,
  teardown,
  TWOMEG,
  WPP,
} from "./_fixture.ts";
import { dmirror_entry_string, dmirror_snapshot } from "../../lib/drivers/dmirror.ts";
import {
  MADV_FREE,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "../../lib/kernel/mm/mm-types.ts";
import {
  is_device_private_entry,
  pte_present,
  pte_to_swp_entry,
  pteAt,
} from "../../lib/kernel/mm/pgtable.ts";
import { ramStats } from "../../lib/kernel/mm/ram-alloc.ts";

const EINVAL = 22, ENOENT = 2;
const WORDS = NPAGES * WPP;

function devicePrivatePtes(f: ReturnType<typeof setup>, a: number, npages: number): number {
  let n = 0;
  for (let i = 0; i < npages; i++) {
    const pte = pteAt(f.p.mm.pgd, a + i * 4096);
    if (pte !== 0 && !pte_present(pte) && is_device_private_entry(pte_to_swp_entry(pte))) n++;
  }
  return n;
}

Deno.test("hmm.migrate", () => {
  const f = setup();
  const a = anonBuffer(f.p);
  f.p.writeWords(a, pattern(WORDS));
  const r = migrate(f, f.fd[0]!, a, NPAGES);
  assertEquals([r.ret, r.cpages], [0, NPAGES]);
  assertEquals(devicePrivatePtes(f, a, NPAGES), NPAGES);
  assertPattern(read(f, f.fd[0]!, a, NPAGES).mirror, 0, 1, "the device holds the data");
  teardown(f);
});

Deno.test("hmm.migrate_fault", () => {
  const f = setup();
  const a = anonBuffer(f.p);
  f.p.writeWords(a, pattern(WORDS));
  assertEquals(migrate(f, f.fd[0]!, a, NPAGES).cpages, NPAGES);
  assertPattern(read(f, f.fd[0]!, a, NPAGES).mirror);
  // fault half the pages back to system memory
  assertPattern(f.p.readWords(a, WORDS / 2));
  assertEquals(faults(f).devicePrivate, NPAGES / 2);
  assertEquals(devicePrivatePtes(f, a, NPAGES), NPAGES / 2);
  // migrate the mix: 4.20 collects its own device pages too and re-migrates them
  const r = migrate(f, f.fd[0]!, a, NPAGES);
  assertEquals([r.ret, r.cpages], [0, NPAGES]);
  assertPattern(read(f, f.fd[0]!, a, NPAGES).mirror);
  teardown(f);
});

Deno.test("hmm.migrate_shared", () => {
  const f = setup();
  const a = anonBuffer(f.p, NPAGES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  const r = migrate(f, f.fd[0]!, a, NPAGES);
  assertEquals(r.ret, -ENOENT);
  assertEquals(r.cpages, 0);
  assertEquals(f.dev[0]!.calloc, f.dev[0]!.cfree);
  teardown(f);
});

Deno.test("hmm.migrate_multiple", () => {
  const f = setup();
  const ram0 = ramStats(f.k).allocated;
  for (let c = 0; c < NTIMES; c++) {
    const a = anonBuffer(f.p);
    f.p.writeWords(a, pattern(WORDS));
    const r = migrate(f, f.fd[0]!, a, NPAGES);
    assertEquals([r.ret, r.cpages], [0, NPAGES]);
    assertPattern(read(f, f.fd[0]!, a, NPAGES).mirror);
    assertPattern(f.p.readWords(a, WORDS), 0, 1, "faulted back by the CPU");
    f.p.munmap(a, NPAGES * 4096);
    assertEquals(f.dev[0]!.calloc, f.dev[0]!.cfree, "the device free list is back to full");
    assertEquals(ramStats(f.k).allocated, ram0, "no system page leaked");
  }
  teardown(f);
});

Deno.test("hmm2.migrate_mixed", () => {
  const f = setup(2);
  const [fd0, fd1] = f.fd as [typeof f.fd[0], typeof f.fd[0]];
  const p = anonBuffer(f.p, 6, PROT_NONE);
  assertEquals(migrate(f, fd1, p, 6).ret, -EINVAL, "a PROT_NONE area");
  assertEquals(f.p.munmap(p + 4096, 4096), 0);
  assertEquals(migrate(f, fd1, p, 3).ret, -EINVAL, "the VMA does not cover the range");
  assertEquals(f.p.mprotect(p + 2 * 4096, 4096, PROT_READ), 0);
  const val = f.p.load32(p + 2 * 4096) + 3;
  assertEquals(val, 3);
  assertEquals(f.p.mprotect(p + 3 * 4096, 4096, PROT_READ | PROT_WRITE), 0);
  f.p.store32(p + 3 * 4096, val);
  assertEquals(f.p.mprotect(p + 3 * 4096, 4096, PROT_READ), 0);
  assertEquals(f.p.mprotect(p + 4 * 4096, 2 * 4096, PROT_READ | PROT_WRITE), 0);
  f.p.store32(p + 4 * 4096, val);
  f.p.store32(p + 5 * 4096, val);
  const r = migrate(f, fd1, p + 2 * 4096, 4);
  assertEquals([r.ret, r.cpages], [0, 4]);
  assertEquals(migrate(f, fd0, p + 5 * 4096, 1).ret, -ENOENT, "page 5 is on device 1");
  teardown(f);
});

Deno.test("hmm2.double_map", () => {
  const f = setup(2);
  const [fd0, fd1] = f.fd as [typeof f.fd[0], typeof f.fd[0]];
  const a = anonBuffer(f.p, 6);
  f.p.writeWords(a, pattern(6 * WPP));
  assertEquals(f.p.mprotect(a, 6 * 4096, PROT_READ), 0);
  for (const d of [fd0, fd1]) {
    const r = read(f, d, a, 6);
    assertEquals([r.ret, r.cpages, r.faults], [0, 6, 1]);
    assertPattern(r.mirror);
  }
  assertEquals(migrate(f, fd1, a, 6).cpages, 6);
  // 2018: device 0 sees device 1's private pages and asks the core to fault them
  // back (DEVICE_PRIVATE in its request): device 1's fault handler migrates them
  const r = read(f, fd0, a, 6);
  assertEquals([r.ret, r.cpages, r.faults], [0, 6, 1]);
  assertPattern(r.mirror);
  assertEquals(f.dev[1]!.cpuFaults, 6);
  teardown(f);
});

Deno.test("hmm.hmm_cow_in_device", () => {
  const f = setup();
  const a = anonBuffer(f.p, 4);
  f.p.writeWords(a, pattern(4 * WPP));
  assertEquals(migrate(f, f.fd[0]!, a, 4).cpages, 4);
  const child = f.p.fork("child");
  // the parent writes every page: device fault (both mappings move back), then COW
  for (let i = 0; i < 4 * WPP; i++) f.p.store32(a + i * 4, f.p.load32(a + i * 4));
  child.exit();
  const snap = dmirror_snapshot(f.k, f.fd[0]!, a, 4);
  assertEquals([...snap.entries].map(dmirror_entry_string), [
    "VALID|WRITE",
    "VALID|WRITE",
    "VALID|WRITE",
    "VALID|WRITE",
  ]);
  assertPattern(f.p.readWords(a, 4 * WPP));
  teardown(f);
});

Deno.test("hmm.migrate_anon_huge_empty", () => {
  const f = setup();
  const { map } = alignedTwoMeg(f.p);
  assertEquals(f.p.mprotect(map, TWOMEG, PROT_READ), 0);
  assertEquals(f.p.madvise(map, TWOMEG, MADV_HUGEPAGE), 0);
  const r = migrate(f, f.fd[0]!, map, 512);
  assertEquals([r.ret, r.cpages], [0, 512], "pte_none entries migrate (4 KiB granularity)");
  const m = read(f, f.fd[0]!, map, 512).mirror;
  assert(m.every((x) => x === 0));
  teardown(f);
});

Deno.test("hmm.migrate_anon_huge_zero", () => {
  const f = setup();
  const { map } = alignedTwoMeg(f.p);
  assertEquals(f.p.madvise(map, TWOMEG, MADV_HUGEPAGE), 0);
  assertEquals(f.p.load32(map), 0);
  assert(f.p.mm.pgd.lookup(map)!.huge !== 0, "the read mapped the huge zero page");
  const r = migrate(f, f.fd[0]!, map, 512);
  assertEquals([r.ret, r.cpages], [0, 512], "the huge zero pmd is split, then migrated");
  assert(read(f, f.fd[0]!, map, 512).mirror.every((x) => x === 0));
  assert(f.p.readWords(map, 512 * WPP).every((x) => x === 0));
  teardown(f);
});

Deno.test("hmm.migrate_anon_huge_free", () => {
  const f = setup();
  const { map } = alignedTwoMeg(f.p);
  assertEquals(f.p.madvise(map, TWOMEG, MADV_HUGEPAGE), 0);
  f.p.writeWords(map, pattern(512 * WPP));
  const r = migrate(f, f.fd[0]!, map, 512);
  assertEquals([r.ret, r.cpages], [0, 512]);
  assertEquals(f.p.madvise(map, TWOMEG, MADV_FREE), 0, "device-private entries are skipped");
  assertEquals(devicePrivatePtes(f, map, 512), 512);
  assertPattern(f.p.readWords(map, 512 * WPP));
  teardown(f);
});

for (const off of [0, TWOMEG / 4, TWOMEG / 2]) {
  Deno.test(`hmm.migrate_partial_unmap_fault (thp=0, offset=${off / 1024} KiB)`, () => {
    const f = setup();
    const { map } = alignedTwoMeg(f.p);
    f.p.writeWords(map, pattern(512 * WPP));
    assertEquals(migrate(f, f.fd[0]!, map, 512).cpages, 512);
    const freed0 = f.dev[0]!.cfree;
    assertEquals(f.p.munmap(map + off, TWOMEG / 2), 0);
    assertEquals(
      f.dev[0]!.cfree - freed0,
      256,
      "munmap zaps device-private entries: free callbacks",
    );
    for (let i = 0; i < 512 * WPP; i++) {
      const addr = map + i * 4;
      if (addr >= map + off && addr < map + off + TWOMEG / 2) continue;
      assertEquals(f.p.load32(addr), i);
    }
    teardown(f);
  });
}

for (const migrateFirst of [false, true]) {
  for (const off of [0, TWOMEG / 4, TWOMEG / 2]) {
    Deno.test(`hmm.migrate_remap_fault (migrate ${migrateFirst ? "before" : "after"} the move, thp=0, offset=${off / 1024} KiB)`, () => {
      const f = setup();
      const { map } = alignedTwoMeg(f.p);
      f.p.writeWords(map, pattern(512 * WPP));
      if (migrateFirst) assertEquals(migrate(f, f.fd[0]!, map, 512).cpages, 512);
      const { map: target } = alignedTwoMeg(f.p);
      const to = target + off;
      assertEquals(f.p.mremap(map, TWOMEG, TWOMEG, MREMAP_MAYMOVE | MREMAP_FIXED, to), to);
      if (!migrateFirst) assertEquals(migrate(f, f.fd[0]!, to, 512).cpages, 512);
      assertEquals(
        devicePrivatePtes(f, to, 512),
        512,
        "device-private entries moved with the range",
      );
      assertPattern(f.p.readWords(to, 512 * WPP));
      teardown(f);
    });
  }
}

Deno.test("migrate to the device and back ten times, writing on both sides, every word checked", () => {
  const f = setup();
  const a = anonBuffer(f.p);
  let w = pattern(WORDS);
  f.p.writeWords(a, w);
  for (let round = 0; round < NTIMES; round++) {
    assertEquals(migrate(f, f.fd[0]!, a, NPAGES).cpages, NPAGES);
    assertPattern(read(f, f.fd[0]!, a, NPAGES).mirror, round * 3, 1, `device side, round ${round}`);
    // the device writes (on its own memory: no fault)
    w = pattern(WORDS, round * 3 + 1);
    const r = write_device(f, a, w);
    assertEquals(r, 0);
    assertEquals(devicePrivatePtes(f, a, NPAGES), NPAGES, "the device wrote its own pages");
    // the CPU reads everything back (device faults), then writes
    assertPattern(f.p.readWords(a, WORDS), round * 3 + 1, 1, `CPU side, round ${round}`);
    w = pattern(WORDS, round * 3 + 3);
    f.p.writeWords(a, w);
    assertPattern(f.p.readWords(a, WORDS), round * 3 + 3);
  }
  teardown(f);
});

import { dmirror_write } from "../../lib/drivers/dmirror.ts";
function write_device(f: ReturnType<typeof setup>, a: number, w: Int32Array): number {
  return dmirror_write(f.k, f.fd[0]!, a, NPAGES, w).ret;
}
