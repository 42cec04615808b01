/**
 * The hmm-tests rows marked "no" in peer-tests.md §1 (see README.md): each is
 * either run for its 2018 result or tested for how 4.20 refuses the later
 * feature it needs. None is skipped.
 */
import { assert, assertEquals } from "@std/assert";
import {
  alignedTwoMeg,
  anonBuffer,
  assertPattern,
  migrate,
  NPAGES,
  pattern,
  read,
  setup,
  teardown,
  TWOMEG,
  WPP,
  write,
} from "./_fixture.ts";
import { dmirror_entry_string, dmirror_file, dmirror_snapshot } from "../../lib/drivers/dmirror.ts";
import { set_nr_hugepages } from "../../lib/kernel/mm/huge-memory.ts";
import {
  MADV_COLLAPSE,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "../../lib/kernel/mm/mm-types.ts";
import { FOLL_WRITE, get_user_pages_remote } from "../../lib/kernel/mm/gup.ts";
import { put_page } from "../../lib/kernel/mm/swap.ts";
import {
  is_device_private_entry,
  pte_present,
  pte_to_swp_entry,
  pteAt,
} from "../../lib/kernel/mm/pgtable.ts";
import { export_kernel_symbols } from "../../lib/kernel/exports.ts";
import { insmod } from "../../lib/kernel/module.ts";
import { createMachine } from "../../lib/machine.ts";
import * as memremapTypes from "../../lib/kernel/mm/types.ts";

const EINVAL = 22, ENOENT = 2;
const SPECIAL = "SPECIAL";

// ---- rows the 2018 model runs, for the 2018 result ----

Deno.test("hmm.anon_write_hugetlbfs: 2018 refuses hugetlb VMAs (-EINVAL, SPECIAL entries)", () => {
  const f = setup();
  set_nr_hugepages(f.k, 1);
  const a = f.p.mmap(0, TWOMEG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
  assert(a > 0);
  const w = write(f, f.fd[0]!, a, 512, pattern(512 * WPP));
  assertEquals(w.ret, -EINVAL, "the modern test expects 0: a 2018 simulator must fail it");
  const snap = dmirror_snapshot(f.k, f.fd[0]!, a, 512);
  assertEquals(snap.rets, [-EINVAL]);
  assert([...snap.entries].every((e) => dmirror_entry_string(e) === SPECIAL));
  teardown(f);
});

Deno.test("hmm.compound: 2018 refuses hugetlb VMAs (-EINVAL, SPECIAL), no PMD/PUD map order", () => {
  const f = setup();
  set_nr_hugepages(f.k, 1);
  const a = f.p.mmap(0, TWOMEG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
  f.p.writeWords(a, pattern(512 * WPP)); // the CPU uses the hugetlb page
  for (const prot of [PROT_READ | PROT_WRITE, PROT_READ]) {
    assertEquals(f.p.mprotect(a, TWOMEG, prot), 0);
    const snap = dmirror_snapshot(f.k, f.fd[0]!, a, 512);
    assertEquals(snap.rets, [-EINVAL]);
    assert([...snap.entries].every((e) => dmirror_entry_string(e) === SPECIAL));
  }
  assertPattern(f.p.readWords(a, 512 * WPP));
  teardown(f);
});

Deno.test("hmm.mixedmap: 2018 refuses VM_MIXEDMAP VMAs (-EINVAL, SPECIAL)", () => {
  const f = setup();
  const file = dmirror_file(f.k, f.dev[0]!, { mixedmap: true });
  const a = f.p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, file);
  assert(a > 0);
  const snap = dmirror_snapshot(f.k, f.fd[0]!, a, 1);
  assertEquals(snap.rets, [-EINVAL]);
  assertEquals(
    dmirror_entry_string(snap.entries[0]!),
    SPECIAL,
    "the modern test expects PROT_READ",
  );
  // the 2018 driver itself refused mmap of its device file
  assertEquals(f.p.mmap(0, 4096, PROT_READ, MAP_SHARED, dmirror_file(f.k, f.dev[0]!)), -EINVAL);
  teardown(f);
});

Deno.test("hmm2.snapshot: per-VMA snapshots; the other device's page is VALID|DEVICE_PRIVATE", () => {
  const f = setup(2);
  const [fd0, fd1] = [f.fd[0]!, f.fd[1]!];
  const p = anonBuffer(f.p, 7, PROT_NONE);
  assertEquals(f.p.munmap(p + 4096, 4096), 0);
  assertEquals(f.p.mprotect(p + 2 * 4096, 4096, PROT_READ), 0);
  const val = f.p.load32(p + 2 * 4096) + 3;
  assertEquals(f.p.mprotect(p + 3 * 4096, 4096, PROT_READ | PROT_WRITE), 0);
  f.p.store32(p + 3 * 4096, val);
  assertEquals(f.p.mprotect(p + 3 * 4096, 4096, PROT_READ), 0);
  assertEquals(f.p.mprotect(p + 4 * 4096, 3 * 4096, PROT_READ | PROT_WRITE), 0);
  f.p.store32(p + 4 * 4096, val);
  assertEquals(migrate(f, fd0, p + 5 * 4096, 1).cpages, 1);
  assertEquals(migrate(f, fd1, p + 6 * 4096, 1).cpages, 1);
  const snap = dmirror_snapshot(f.k, fd0, p, 7);
  // 2018: one hmm_vma_get_pfns per VMA: PROT_NONE → -EPERM (entries NONE); the hole has no VMA
  assertEquals(snap.rets, [-1, 0, 0, 0]);
  assertEquals([...snap.entries].map(dmirror_entry_string), [
    "NONE", // [0] PROT_NONE (modern: ERROR)
    "ERROR", // [1] hole (no VMA to snapshot)
    "VALID", // [2] the zero page, read-only (modern: ZERO|READ)
    "VALID", // [3] read-only data
    "VALID|WRITE", // [4]
    "VALID|WRITE|DEVICE_PRIVATE", // [5] dev0's own page
    "VALID|WRITE|DEVICE_PRIVATE", // [6] dev1's page: no owner in 2018 (modern private variant: NONE)
  ]);
  teardown(f);
});

Deno.test("hmm.hmm_gup_test: the 2018 part — GUP on a device-private entry migrates the page back", () => {
  const f = setup();
  const a = anonBuffer(f.p, 4);
  f.p.writeWords(a, pattern(4 * WPP));
  assertEquals(migrate(f, f.fd[0]!, a, 4).cpages, 4);
  for (let i = 0; i < 4; i++) {
    const pages: number[] = [];
    assertEquals(get_user_pages_remote(f.k, null, f.p.mm, a + i * 4096, 1, FOLL_WRITE, pages), 1);
    put_page(f.k, pages[0]!);
  }
  assertEquals(f.dev[0]!.cpuFaults, 4, "each GUP went through the device's fault handler");
  const snap = dmirror_snapshot(f.k, f.fd[0]!, a, 4);
  assertEquals([...snap.entries].map(dmirror_entry_string), Array(4).fill("VALID|WRITE"));
  assertPattern(f.p.readWords(a, 4 * WPP));
  teardown(f);
});

// ---- rows that need a later feature: how 4.20 refuses it ----

function resolves(sym: string): boolean[] {
  const out: boolean[] = [];
  for (const s of [0, 1, 2, 3, 4, 5, 6, 7, "v5.2"] as const) {
    const m = createMachine({ series: s });
    export_kernel_symbols(m.k);
    out.push(insmod(m.k, { name: "t", license: "GPL", imports: [sym] }).ret === 0);
  }
  return out;
}

for (
  const [row, sym] of [
    ["hmm.exclusive", "make_device_exclusive"],
    ["hmm.exclusive_mprotect", "make_device_exclusive"],
    ["hmm.exclusive_cow", "make_device_exclusive"],
    ["hmm.migrate_release", "migrate_device_range"],
    ["hmm-tests (modern dmirror migrate path)", "migrate_vma_setup"],
    ["hmm-tests (modern fault path)", "hmm_range_fault"],
  ] as const
) {
  Deno.test(`${row}: ${sym} does not exist at any level (Unknown symbol)`, () => {
    assertEquals(resolves(sym), Array(9).fill(false));
  });
}

Deno.test("hmm_device_coherent variants: there is no MEMORY_DEVICE_COHERENT in these kernels", () => {
  assertEquals("MEMORY_DEVICE_COHERENT" in memremapTypes, false);
  assertEquals([1, 2, 3, 4].map(memremapTypes.memoryTypeName), [
    "MEMORY_DEVICE_PRIVATE",
    "MEMORY_DEVICE_PUBLIC",
    "MEMORY_DEVICE_FS_DAX",
    "MEMORY_DEVICE_PCI_P2PDMA",
  ]);
});

Deno.test("hmm.migrate_anon_huge_fault: MADV_COLLAPSE is -EINVAL; migrate_vma splits the THP (no device THP)", () => {
  const f = setup();
  const { map } = alignedTwoMeg(f.p);
  assertEquals(f.p.madvise(map, TWOMEG, MADV_COLLAPSE), -EINVAL);
  assertEquals(f.p.madvise(map, TWOMEG, MADV_HUGEPAGE), 0);
  f.p.writeWords(map, pattern(512 * WPP));
  assert(f.p.mm.pgd.lookup(map)!.huge !== 0);
  assertEquals(migrate(f, f.fd[0]!, map, 512).cpages, 512);
  const t = f.p.mm.pgd.lookup(map)!;
  assertEquals(t.huge, 0, "4.20 has no device-private PMD: 512 4 KiB entries");
  const snap = dmirror_snapshot(f.k, f.fd[0]!, map, 512);
  assert([...snap.entries].every((e) => dmirror_entry_string(e) === "VALID|WRITE|DEVICE_PRIVATE"));
  assertPattern(f.p.readWords(map, 512 * WPP));
  teardown(f);
});

Deno.test("hmm.migrate_anon_huge_err / migrate_anon_huge_zero_err: a pte-mapped THP is skipped; device allocation failures leave pages on the CPU", () => {
  const f = setup();
  const { map } = alignedTwoMeg(f.p);
  assertEquals(f.p.madvise(map, TWOMEG, MADV_HUGEPAGE), 0);
  f.p.writeWords(map, pattern(512 * WPP));
  // mprotect of half splits the pmd (not the page): the THP is now pte-mapped, still compound
  assertEquals(f.p.mprotect(map, TWOMEG / 2, PROT_READ), 0);
  const r = migrate(f, f.fd[0]!, map + TWOMEG / 2, 256);
  assertEquals(
    [r.ret, r.cpages],
    [-ENOENT, 0],
    "4.20 skips PageTransCompound pages (FIXME support THP)",
  );
  // FLAG_FAIL_ALLOC is a later driver ioctl; the 2018 analogue is failing device allocations
  const g = setup();
  const a = anonBuffer(g.p, 64);
  g.p.writeWords(a, pattern(64 * WPP));
  g.k.faults.arm("device_page_alloc", { every: true, times: 16 });
  const r2 = migrate(g, g.fd[0]!, a, 64);
  assertEquals([r2.ret, r2.cpages], [-ENOENT, 48]);
  let onCpu = 0;
  for (let i = 0; i < 64; i++) {
    const pte = pteAt(g.p.mm.pgd, a + i * 4096);
    if (pte_present(pte)) onCpu++;
    else assert(is_device_private_entry(pte_to_swp_entry(pte)));
  }
  assertEquals(onCpu, 16);
  assertPattern(read(g, g.fd[0]!, a, 64).mirror);
  assertPattern(g.p.readWords(a, 64 * WPP));
  teardown(f);
  teardown(g);
});

Deno.test("hmm.migrate_remap_fault (DONTUNMAP cells): MREMAP_DONTUNMAP is -EINVAL in 4.20", () => {
  const f = setup();
  const a = anonBuffer(f.p, 16);
  assertEquals(f.p.mremap(a, 16 * 4096, 16 * 4096, MREMAP_MAYMOVE | MREMAP_DONTUNMAP), -EINVAL);
  teardown(f);
});

void NPAGES;
