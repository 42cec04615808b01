import { assert, assertEquals, assertThrows } from "@std/assert";
import { anon, proc, words } from "./_proc.ts";
import {
  find_vma,
  MADV_COLLAPSE,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VM_HUGEPAGE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { pte_dirty, pte_present, pte_write, pteAt } from "../../../lib/kernel/mm/pgtable.ts";
import { ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";
import { ftruncate, pread, pwrite, tmpfs_create } from "../../../lib/kernel/mm/shmem.ts";
import { SIGBUS, SIGSEGV } from "../../../lib/kernel/mm/process.ts";

Deno.test("munmap: a partial unmap splits the VMA and frees exactly the unmapped pages", () => {
  const { k, p } = proc();
  const a = anon(p, 16);
  p.writeWords(a, words(16 * 1024));
  const ram0 = ramStats(k).allocated;
  assertEquals(p.munmap(a + 4 * 4096, 4 * 4096), 0);
  assertEquals(p.mm.vmas.map((v) => [v.vm_start - a, v.vm_end - a]), [[0, 16384], [32768, 65536]]);
  assertEquals(ramStats(k).allocated, ram0 - 4);
  assertEquals(p.load32(a + 8 * 4096), 8 * 1024, "pages past the hole keep their data (vm_pgoff)");
  assertEquals(p.touch(a + 5 * 4096, false), SIGSEGV);
  assertEquals(p.munmap(a + 1, 4096), -22, "misaligned start: -EINVAL");
  assertEquals(p.munmap(a, 0), -22);
  p.exit();
  assertEquals(ramStats(k).allocated, 0, "exit freed everything");
});

Deno.test("mmap: MAP_FIXED replaces what was mapped there", () => {
  const { p } = proc();
  const a = anon(p, 4);
  p.store32(a + 4096, 9);
  assertEquals(
    p.mmap(a + 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
    a + 4096,
  );
  assertEquals(p.load32(a + 4096), 0);
  assertEquals(p.mm.vmas.length, 3);
});

Deno.test("mprotect: splits, refuses writes, and never makes private ptes writable; RW again reuses the pages", () => {
  const { k, p } = proc();
  const a = anon(p, 4);
  p.writeWords(a, words(4 * 1024));
  assertEquals(p.mprotect(a + 4096, 4096, PROT_READ), 0);
  assertEquals(p.mm.vmas.length, 3);
  assert(!pte_write(pteAt(p.mm.pgd, a + 4096)));
  assertEquals(p.touch(a + 4096, true), SIGSEGV);
  assertEquals(p.mprotect(a + 4096, 4096, PROT_READ | PROT_WRITE), 0);
  assert(!pte_write(pteAt(p.mm.pgd, a + 4096)), "vm_page_prot of a private mapping is read-only");
  const ram0 = ramStats(k).allocated;
  p.store32(a + 4096, 1);
  assert(pte_write(pteAt(p.mm.pgd, a + 4096)));
  assertEquals(ramStats(k).allocated, ram0, "do_wp_page reused the page");
  assertEquals(p.mprotect(a, 4096, PROT_NONE), 0);
  assertEquals(p.touch(a, false), SIGSEGV);
  assertEquals(p.mprotect(a, 8 * 4096 * 100, PROT_READ), -12, "beyond the mapping: -ENOMEM");
  assertEquals(p.mprotect(a, 4096, 0x10), -22, "unknown prot bit: -EINVAL");
});

Deno.test("mremap: MAYMOVE|FIXED moves the pages; flags 4.20 does not know are -EINVAL", () => {
  const { p } = proc();
  const a = anon(p, 8);
  p.writeWords(a, words(8 * 1024));
  const b = anon(p, 8);
  assertEquals(p.mremap(a, 8 * 4096, 8 * 4096, MREMAP_MAYMOVE | MREMAP_FIXED, b), b);
  assertEquals(p.load32(b + 7 * 4096), 7 * 1024);
  assertEquals(p.touch(a, false), SIGSEGV);
  assertEquals(p.mremap(b, 8 * 4096, 8 * 4096, MREMAP_MAYMOVE | MREMAP_DONTUNMAP), -22);
  assertEquals(p.mremap(b, 8 * 4096, 8 * 4096, MREMAP_FIXED, a), -22, "FIXED without MAYMOVE");
  assertEquals(p.mremap(b, 8 * 4096, 4 * 4096, 0), b, "shrinking in place");
  assertEquals(p.touch(b + 5 * 4096, false), SIGSEGV);
});

Deno.test("madvise: DONTNEED zaps (reads as zeros again), FREE cleans, HUGEPAGE flags, COLLAPSE is -EINVAL", () => {
  const { k, p } = proc();
  const a = anon(p, 8);
  p.writeWords(a, words(8 * 1024, 1));
  const ram0 = ramStats(k).allocated;
  assertEquals(p.madvise(a, 4 * 4096, MADV_DONTNEED), 0);
  assertEquals(ramStats(k).allocated, ram0 - 4);
  assertEquals(p.load32(a), 0);
  assert(pte_dirty(pteAt(p.mm.pgd, a + 5 * 4096)));
  assertEquals(p.madvise(a + 4 * 4096, 4 * 4096, MADV_FREE), 0);
  assert(pte_present(pteAt(p.mm.pgd, a + 5 * 4096)) && !pte_dirty(pteAt(p.mm.pgd, a + 5 * 4096)));
  assertEquals(p.load32(a + 5 * 4096), 5 * 1024 + 1, "no reclaim: the data stays");
  assertEquals(p.madvise(a + 4096, 4096, MADV_HUGEPAGE), 0);
  assert((find_vma(p.mm, a + 4096)!.vm_flags & VM_HUGEPAGE) !== 0);
  assertEquals(p.mm.vmas.length, 3);
  assertEquals(p.madvise(a, 4096, MADV_COLLAPSE), -22);
  assertEquals(p.madvise(a + 1, 4096, MADV_DONTNEED), -22);
  assertEquals(p.madvise(a + 100 * 4096, 4096, MADV_DONTNEED), -12, "unmapped: -ENOMEM");
  const s = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  assertEquals(p.madvise(s, 4096, MADV_FREE), -22, "MADV_FREE is for anonymous VMAs only");
});

Deno.test("tmpfs: pwrite/pread through the page cache; MAP_SHARED sees it; truncate zaps the mapping", () => {
  const { k, p } = proc();
  const f = tmpfs_create(k, "/tmp/x");
  assertEquals(pwrite(k, f, words(2048, 5), 0), 8192);
  const a = p.mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, f);
  assertEquals(p.load32(a + 4096), 1024 + 5);
  p.store32(a + 8, -3);
  assertEquals(pread(k, f, 3, 0)[2], -3);
  const q = p.mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, f);
  p.store32(q, 77); // COW: the file does not see it
  assertEquals(pread(k, f, 1, 0)[0], 5);
  assertEquals(ftruncate(k, f, 4096), 0);
  assertEquals(p.touch(a + 4096, false), SIGBUS, "beyond i_size");
  assertEquals(p.load32(q), 77, "the private COW page survives truncation");
});

Deno.test("fork: MAP_SHARED anonymous memory is shared, private memory is not", () => {
  const { p } = proc();
  const s = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  const a = anon(p, 1);
  p.store32(s, 1);
  p.store32(a, 1);
  const c = p.fork();
  c.store32(s, 2);
  c.store32(a, 2);
  assertEquals([p.load32(s), p.load32(a)], [2, 1]);
  c.exit();
  p.exit();
});

Deno.test("madvise: MADV_HWPOISON and MADV_SOFT_OFFLINE are refused as not modelled, never a silent 0", () => {
  const { p } = proc();
  const a = anon(p, 2);
  for (const [advice, name] of [[100, "MADV_HWPOISON"], [101, "MADV_SOFT_OFFLINE"]] as const) {
    assertThrows(() => p.madvise(a, 4096, advice), RangeError, `Cannot madvise(${name})`);
  }
});
