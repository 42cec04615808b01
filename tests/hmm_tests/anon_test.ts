/**
 * hmm-tests rows on anonymous memory (tools/testing/selftests/mm/hmm-tests.c),
 * replayed through the 2018 API: the v4.20 mirror (hmm_vma_fault), fork,
 * THP, and the dmirror driver. Each test is named after the hmm-tests test.
 */
import { assert, assertEquals } from "@std/assert";
import {
  alignedTwoMeg,
  anonBuffer,
  assertPattern,
  hmmOpen,
  migrate,
  NPAGES,
  NTIMES,
  pattern,
  read,
  setup,
  teardown,
  TWOMEG,
  WPP,
  write,
} from "./_fixture.ts";
import { hmmMirrors } from "../../lib/kernel/mm/hmm-mirror.ts";
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../../lib/kernel/mm/mm-types.ts";
import { HUB } from "../../lib/kernel/mm/hub.ts";
import { pte_pfn, pte_present, pte_write, pteAt } from "../../lib/kernel/mm/pgtable.ts";
import { dmirror_read } from "../../lib/drivers/dmirror.ts";
import { is_zero_pfn } from "../../lib/kernel/mm/ram-alloc.ts";

const EFAULT = 14;
const WORDS = NPAGES * WPP;

Deno.test("hmm.open_close", () => {
  const f = setup();
  assertEquals(hmmMirrors(f.p.mm).length, 1);
  const notifiers = f.p.mm.mmu_notifier_mm?.list.length;
  assertEquals(notifiers, 1, "one HMM mmu notifier");
  f.p.close(f.p.files[0]!);
  assertEquals(hmmMirrors(f.p.mm).length, 0, "no mirror left");
  assertEquals(f.p.mm.hmm, null, "the last unregister freed mm->hmm");
  assertEquals(f.p.mm.mmu_notifier_mm?.list.length, 0, "no notifier left");
  teardown(f);
});

Deno.test("hmm.anon_read", () => {
  const f = setup();
  const a = anonBuffer(f.p);
  const w = pattern(WORDS);
  f.p.writeWords(a + 2 * 4096, w.subarray(2 * WPP)); // pages 0-1 stay zero
  assertEquals(f.p.mprotect(a, NPAGES * 4096, PROT_READ), 0);
  assertEquals(f.p.load32(a + 4096), 0); // page 1: the zero page
  const r = read(f, f.fd[0]!, a, NPAGES);
  assertEquals([r.ret, r.cpages, r.faults], [0, NPAGES, 1]);
  for (let i = 0; i < 2 * WPP; i++) assertEquals(r.mirror[i], 0);
  assertPattern(r.mirror.subarray(2 * WPP), 2 * WPP);
  teardown(f);
});

Deno.test("hmm.anon_read_prot", () => {
  const f = setup();
  const a = anonBuffer(f.p);
  f.p.writeWords(a, pattern(WORDS));
  const mirror = pattern(WORDS, 0, -1);
  assertEquals(f.p.mprotect(a, NPAGES * 4096, 0), 0);
  const r = dmirror_read(f.k, f.fd[0]!, a, NPAGES, mirror);
  assertEquals(r.ret, -EFAULT);
  assertEquals(f.p.mprotect(a, NPAGES * 4096, PROT_READ), 0);
  assertPattern(f.p.readWords(a, WORDS));
  assertPattern(mirror, 0, -1, "the device wrote nothing");
  teardown(f);
});

Deno.test("hmm.anon_write", () => {
  const f = setup();
  const a = anonBuffer(f.p);
  const r = write(f, f.fd[0]!, a, NPAGES, pattern(WORDS));
  assertEquals([r.ret, r.cpages, r.faults], [0, NPAGES, 1]);
  assertPattern(f.p.readWords(a, WORDS));
  teardown(f);
});

Deno.test("hmm.anon_write_prot", () => {
  const f = setup();
  const a = anonBuffer(f.p, NPAGES, PROT_READ);
  const r1 = read(f, f.fd[0]!, a, 1);
  assertEquals([r1.ret, r1.cpages, r1.faults], [0, 1, 1]);
  // hmm-tests expects -EPERM from the modern core; the 2018 driver rejects on VM_WRITE with -EFAULT
  const r2 = write(f, f.fd[0]!, a, NPAGES, pattern(WORDS));
  assertEquals(r2.ret, -EFAULT);
  for (let i = 0; i < NPAGES; i++) assertEquals(f.p.load32(a + i * 4096), 0);
  assertEquals(f.p.mprotect(a, NPAGES * 4096, PROT_READ | PROT_WRITE), 0);
  const r3 = write(f, f.fd[0]!, a, NPAGES, pattern(WORDS));
  assertEquals([r3.ret, r3.cpages, r3.faults], [0, NPAGES, 1]);
  assertPattern(f.p.readWords(a, WORDS));
  for (let i = 0; i < NPAGES; i++) {
    const pte = pteAt(f.p.mm.pgd, a + i * 4096);
    assert(
      pte_present(pte) && pte_write(pte) && !is_zero_pfn(f.k, pte_pfn(pte)),
      "zero page replaced",
    );
  }
  teardown(f);
});

for (const mig of [false, true]) {
  for (const thp of [false, true]) {
    Deno.test(`hmm.anon_write_child (migrate=${mig}, thp=${thp})`, () => {
      const f = setup();
      let a: number, npages: number;
      if (thp) {
        const { map } = alignedTwoMeg(f.p);
        assertEquals(f.p.madvise(map, TWOMEG, MADV_HUGEPAGE), 0);
        a = map;
        npages = 512;
      } else {
        a = anonBuffer(f.p);
        npages = NPAGES;
      }
      const words = npages * WPP;
      f.p.writeWords(a, pattern(words));
      if (thp) assert(f.p.mm.pgd.lookup(a)!.huge !== 0, "a THP backs the buffer");
      if (mig) {
        // 2018 migrate_vma splits the THP and moves 4 KiB pages
        const r = migrate(f, f.fd[0]!, a, npages);
        assertEquals([r.ret, r.cpages], [0, npages]);
      }
      const child = f.p.fork("child");
      assertPattern(child.readWords(a, words), 0, 1, "the child sees the parent's values");
      if (mig) {
        // reading faulted the pages back; put them on the device again for the child's write
        assertEquals(migrate(f, f.fd[0]!, a, npages).ret, 0);
      }
      const cfd = hmmOpen(f, child, f.dev[0]!);
      const w = write(f, cfd, a, npages, pattern(words, 0, -1));
      assertEquals([w.ret, w.cpages, w.faults], [0, npages, 1]);
      assertPattern(child.readWords(a, words), 0, -1, "the child sees its device write");
      child.exit();
      assertPattern(f.p.readWords(a, words), 0, 1, "COW kept the parent's values");
      teardown(f);
    });
  }
}

Deno.test("hmm.anon_write_child_shared", () => {
  const f = setup();
  const a = anonBuffer(f.p, NPAGES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  f.p.writeWords(a, pattern(WORDS));
  const child = f.p.fork("child");
  assertPattern(child.readWords(a, WORDS));
  const cfd = hmmOpen(f, child, f.dev[0]!);
  const w = write(f, cfd, a, NPAGES, pattern(WORDS, 0, -1));
  assertEquals([w.ret, w.cpages, w.faults], [0, NPAGES, 1]);
  assertPattern(child.readWords(a, WORDS), 0, -1);
  child.exit();
  assertPattern(f.p.readWords(a, WORDS), 0, -1, "no COW: the parent sees the device write");
  teardown(f);
});

Deno.test("hmm.anon_write_huge", () => {
  const f = setup();
  const { map } = alignedTwoMeg(f.p);
  assertEquals(f.p.madvise(map, TWOMEG, MADV_HUGEPAGE), 0);
  const npages = TWOMEG / 4096;
  const w = write(f, f.fd[0]!, map, npages, pattern(npages * WPP));
  assertEquals([w.ret, w.cpages, w.faults], [0, npages, 1]);
  const t = f.p.mm.pgd.lookup(map)!;
  assert(t.huge !== 0, "the write fault allocated a THP; the 2018 walk reports it per 4 KiB");
  assertPattern(f.p.readWords(map, npages * WPP));
  teardown(f);
});

Deno.test("hmm.anon_read_multiple", () => {
  const f = setup();
  for (let c = 0; c < NTIMES; c++) {
    const a = anonBuffer(f.p);
    f.p.writeWords(a, pattern(WORDS, c));
    const r = read(f, f.fd[0]!, a, NPAGES);
    assertEquals([r.ret, r.cpages, r.faults], [0, NPAGES, 1]);
    assertPattern(r.mirror, c);
    f.p.munmap(a, NPAGES * 4096);
  }
  teardown(f);
});

Deno.test("hmm.anon_teardown", () => {
  // The unmapping thread's "random delay" becomes a seeded choice of where the
  // munmap of the upper half lands: before the read, between the driver's
  // hmm_vma_fault and hmm_vma_range_done (the race), or after the read.
  const f = setup();
  const outcomes = { ok: 0, error: 0 };
  const where = ["before", "race", "after"] as const;
  for (let c = 0; c < NTIMES * 3; c++) {
    const a = anonBuffer(f.p);
    f.p.writeWords(a, pattern(WORDS, c));
    const when = where[c % 3]!;
    const half = (NPAGES / 2) * 4096;
    let unmapped = false;
    const unmap = () => {
      if (!unmapped) {
        unmapped = true;
        f.p.munmap(a + half, half);
      }
    };
    if (when === "before") unmap();
    f.dev[0]!.afterFaultHook = when === "race" ? () => unmap() : null;
    const r = read(f, f.fd[0]!, a, NPAGES);
    f.dev[0]!.afterFaultHook = null;
    if (when === "after") unmap();
    if (r.ret === 0) {
      outcomes.ok++;
      assertEquals([r.cpages, r.faults], [NPAGES, 1]);
      assertPattern(r.mirror, c);
    } else {
      outcomes.error++;
      assertEquals(r.ret, -EFAULT);
    }
    f.p.munmap(a, half);
  }
  // only the "after" reads can succeed; never stale data
  assertEquals(outcomes, { ok: NTIMES, error: 2 * NTIMES });
  assertEquals(f.k.state(HUB).faults.devicePrivate, 0);
  teardown(f);
});
