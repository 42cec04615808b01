import { assert, assertEquals } from "@std/assert";
import { anon, proc, words } from "./_proc.ts";
import {
  migrate_pfn,
  MIGRATE_PFN_DEVICE,
  MIGRATE_PFN_ERROR,
  MIGRATE_PFN_LOCKED,
  MIGRATE_PFN_MIGRATE,
  migrate_pfn_to_page,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  migrate_vma,
  type MigrateVmaOps,
} from "../../../lib/kernel/mm/migrate.ts";
import {
  find_vma,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { alloc_page, ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";
import { get_page, put_page } from "../../../lib/kernel/mm/swap.ts";
import { page_count } from "../../../lib/kernel/mm/memmap.ts";
import { copy_highpage, pageReadWord } from "../../../lib/kernel/mm/page-contents.ts";
import { page_mapcount } from "../../../lib/kernel/mm/page-ext.ts";
import { lock_page } from "../../../lib/kernel/mm/page-ext.ts";
import { pte_pfn, pte_write, pteAt } from "../../../lib/kernel/mm/pgtable.ts";
import { set_nr_hugepages } from "../../../lib/kernel/mm/huge-memory.ts";
import { hmmFixture } from "../../../lib/scenarios/hmm-process.ts";
import { dmirror_migrate } from "../../../lib/drivers/dmirror.ts";

const EINVAL = 22;

/** A system-to-system migration driver: copies every MIGRATE entry into a fresh page. */
function sysOps(seen: number[][]): MigrateVmaOps {
  return {
    alloc_and_copy(k, _vma, src, dst, start, end) {
      seen.push([...src.slice(0, (end - start) / 4096)]);
      for (let i = 0; i < (end - start) / 4096; i++) {
        dst[i] = 0;
        if ((src[i]! & MIGRATE_PFN_MIGRATE) === 0) continue;
        const np = alloc_page(k)!;
        lock_page(k, np);
        const sp = migrate_pfn_to_page(src[i]!);
        if (sp !== null) copy_highpage(k, np, sp);
        dst[i] = migrate_pfn(np) + MIGRATE_PFN_LOCKED;
      }
    },
    finalize_and_map() {},
  };
}

Deno.test("migrate_vma: argument checks are -EINVAL; otherwise 0 even when nothing moves", () => {
  const { k, p } = proc();
  const a = anon(p, 4);
  const vma = find_vma(p.mm, a)!;
  const s = new Float64Array(4), d = new Float64Array(4);
  const ops = sysOps([]);
  assertEquals(migrate_vma(k, ops, null, a, a + 4096, s, d, null), -EINVAL);
  assertEquals(migrate_vma(k, ops, vma, a - 4096, a, s, d, null), -EINVAL, "start outside");
  assertEquals(migrate_vma(k, ops, vma, a, a + 5 * 4096, s, d, null), -EINVAL, "end beyond");
  assertEquals(migrate_vma(k, ops, vma, a + 4096, a + 4096, s, d, null), -EINVAL, "start >= end");
  assertEquals(migrate_vma(k, null, vma, a, a + 4096, s, d, null), -EINVAL);
  assertEquals(migrate_vma(k, ops, vma, a, a + 4096, null, d, null), -EINVAL);
  set_nr_hugepages(k, 1);
  const h = p.mmap(0, 2 ** 21, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
  assertEquals(
    migrate_vma(k, ops, find_vma(p.mm, h)!, h, h + 4096, s, d, null),
    -EINVAL,
    "hugetlb",
  );
  const q = anon(p, 1, 0);
  assertEquals(
    migrate_vma(k, ops, find_vma(p.mm, q)!, q, q + 4096, s, d, null),
    0,
    "no VM_READ check",
  );
});

Deno.test("migrate_vma: what collect offers — empty, zero page, present (write or not), device-private", () => {
  const f = hmmFixture("v5.0");
  const { k, p } = f;
  const a = anon(p, 4);
  p.load32(a + 4096); // zero page
  p.store32(a + 2 * 4096, 2);
  p.store32(a + 3 * 4096, 3);
  dmirror_migrate(k, f.mirrors[0]!, a + 3 * 4096, 1);
  p.mprotect(a, 4 * 4096, PROT_READ);
  const seen: number[][] = [];
  const pfn2 = pte_pfn(pteAt(p.mm.pgd, a + 2 * 4096));
  migrate_vma(
    k,
    sysOps(seen),
    find_vma(p.mm, a)!,
    a,
    a + 4 * 4096,
    new Float64Array(4),
    new Float64Array(4),
    null,
  );
  const s = seen[0]!;
  assertEquals(s[0], MIGRATE_PFN_MIGRATE, "pte_none: MIGRATE, no page");
  assertEquals(s[1], MIGRATE_PFN_MIGRATE, "the zero page: MIGRATE, no page");
  assertEquals(
    s[2],
    migrate_pfn(pfn2) + MIGRATE_PFN_MIGRATE + MIGRATE_PFN_LOCKED,
    "read-only present page",
  );
  assertEquals(
    s[3]! & 63,
    MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE | MIGRATE_PFN_LOCKED | MIGRATE_PFN_DEVICE,
    "device page, read-only after mprotect",
  );
  // a generic driver copies the device page's own struct page contents: it cannot reach
  // the device's memory (the dummy device keeps it in a backing page), so the data is lost
  assertEquals(p.load32(a + 3 * 4096), 0);
  assertEquals(p.load32(a + 2 * 4096), 2);
  void MIGRATE_PFN_WRITE;
});

Deno.test("migrate_vma: a page shared by fork moves in both processes (try_to_unmap); a pinned page stays", () => {
  const { k, p } = proc();
  const a = anon(p, 2);
  p.writeWords(a, words(2048, 1));
  const c = p.fork();
  const old = pte_pfn(pteAt(p.mm.pgd, a));
  const pinned = pte_pfn(pteAt(p.mm.pgd, a + 4096));
  get_page(k, pinned); // a GUP-style pin
  migrate_vma(
    k,
    sysOps([]),
    find_vma(p.mm, a)!,
    a,
    a + 8192,
    new Float64Array(2),
    new Float64Array(2),
    null,
  );
  const np = pte_pfn(pteAt(p.mm.pgd, a));
  assert(np !== old);
  assertEquals(pte_pfn(pteAt(c.mm.pgd, a)), np, "the child maps the new page too");
  assertEquals(page_mapcount(k, np), 2);
  assertEquals(page_count(k, old), 0, "the old page is free");
  assert(!pte_write(pteAt(p.mm.pgd, a)), "read migration entries come back read-only");
  assertEquals(pte_pfn(pteAt(p.mm.pgd, a + 4096)), pinned, "the pinned page was restored");
  assertEquals([p.load32(a + 4), c.load32(a + 4096)], [2, 1025]);
  put_page(k, pinned);
});

Deno.test("migrate_vma: a MIGRATE_PFN_ERROR destination restores the source", () => {
  const { k, p } = proc();
  const a = anon(p, 1);
  p.store32(a, 42);
  const pfn = pte_pfn(pteAt(p.mm.pgd, a));
  const ram0 = ramStats(k).allocated;
  const ops: MigrateVmaOps = {
    alloc_and_copy(_k, _v, _s, dst) {
      dst[0] = MIGRATE_PFN_ERROR;
    },
    finalize_and_map() {},
  };
  assertEquals(
    migrate_vma(
      k,
      ops,
      find_vma(p.mm, a)!,
      a,
      a + 4096,
      new Float64Array(1),
      new Float64Array(1),
      null,
    ),
    0,
  );
  assertEquals(pte_pfn(pteAt(p.mm.pgd, a)), pfn);
  assertEquals(pageReadWord(k, pfn, 0), 42);
  assertEquals(ramStats(k).allocated, ram0);
});
