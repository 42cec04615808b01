import { assert, assertEquals } from "@std/assert";
import { fsdaxFile } from "./_rig.ts";
import { userRead, userWrite } from "../../../lib/drivers/dax/uaccess.ts";
import { HUB } from "../../../lib/kernel/mm/hub.ts";
import { PageAnon } from "../../../lib/kernel/mm/page-ext.ts";
import { ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";
import {
  MADV_NOHUGEPAGE,
  MAP_PRIVATE,
  MAP_SHARED,
  MM_ANONPAGES,
  MM_FILEPAGES,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import {
  pte_devmap,
  pte_dirty,
  pte_pfn,
  pte_special,
  pte_write,
  pteAt,
} from "../../../lib/kernel/mm/pgtable.ts";

const enc = new TextEncoder(), dec = new TextDecoder();

/** A 4 KiB page of the file filled with a recognisable byte pattern through the block device. */
function fillFilePage(t: ReturnType<typeof fsdaxFile>, page: number, seed: number): Uint8Array {
  const data = new Uint8Array(4096);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed) & 0xff;
  assertEquals(t.ns.disk!.write(8 * page, data), 0);
  return data;
}

function mediaPage(t: ReturnType<typeof fsdaxFile>, page: number): Uint8Array {
  return (t.ns.disk!.read(8 * page, 8) as Uint8Array).slice(0, 4096);
}

Deno.test("fsdax MAP_PRIVATE: a write after a read copies the pmem page into a new anonymous page (cow_user_page from the user address); the media keeps its bytes", () => {
  const t = fsdaxFile();
  const old = fillFilePage(t, 2, 11);
  const priv = t.p.mmap(0, 2 ** 16, PROT_READ | PROT_WRITE, MAP_PRIVATE, t.f, 0);
  assertEquals(t.p.madvise(priv, 2 ** 16, MADV_NOHUGEPAGE), 0);
  const addr = priv + 2 * 4096;
  assertEquals(userRead(t.k, t.p, addr, 4096), old); // a read maps the pmem page (devmap pte, read-only)
  const ro = pteAt(t.p.mm.pgd, addr);
  assert(pte_devmap(ro) && !pte_write(ro));
  const devPfn = pte_pfn(ro);
  assertEquals(t.p.mm.rss[MM_ANONPAGES], 0);
  assertEquals(t.p.mm.rss[MM_FILEPAGES], 0); // devmap ptes are not counted
  const faults = t.k.state(HUB).faults;
  const copies = faults.wpCopy;

  userWrite(t.k, t.p, addr + 100, enc.encode("private bytes")); // do_wp_page → wp_page_copy

  assertEquals(faults.wpCopy, copies + 1);
  const pte = pteAt(t.p.mm.pgd, addr);
  assert(!pte_devmap(pte) && !pte_special(pte), "a normal pte now");
  assert(pte_write(pte) && pte_dirty(pte));
  assert(pte_pfn(pte) !== devPfn);
  assert(PageAnon(t.k, pte_pfn(pte)));
  assertEquals(t.p.mm.rss[MM_ANONPAGES], 1);
  assertEquals(t.p.mm.rss[MM_FILEPAGES], 0);
  // the process sees the old page with its own write on top
  const seen = userRead(t.k, t.p, addr, 4096);
  const want = old.slice();
  want.set(enc.encode("private bytes"), 100);
  assertEquals(seen, want);
  // the media (and so every other mapping of the file) still has the old bytes
  assertEquals(mediaPage(t, 2), old);
  const shared = t.p.mmap(0, 2 ** 16, PROT_READ, MAP_SHARED, t.f, 0);
  assertEquals(userRead(t.k, t.p, shared + 2 * 4096, 4096), old);
  // the copy is an ordinary anonymous page: munmap gives it back to the allocator
  const allocated = ramStats(t.k).allocated;
  assertEquals(t.p.munmap(priv, 2 ** 16), 0);
  assertEquals(t.p.mm.rss[MM_ANONPAGES], 0);
  assertEquals(ramStats(t.k).allocated, allocated - 1);
  assertEquals(mediaPage(t, 2), old);
});

Deno.test("fsdax MAP_PRIVATE: a first write copies the file page into the cow page (VM_FAULT_DONE_COW); the media keeps its bytes", () => {
  const t = fsdaxFile();
  const old = fillFilePage(t, 5, 3);
  const priv = t.p.mmap(0, 2 ** 16, PROT_READ | PROT_WRITE, MAP_PRIVATE, t.f, 0);
  const addr = priv + 5 * 4096;
  const file = faultsOf(t).file;
  userWrite(t.k, t.p, addr, enc.encode("first"));
  assertEquals(faultsOf(t).file, file + 1);
  const pte = pteAt(t.p.mm.pgd, addr);
  assert(!pte_devmap(pte) && pte_write(pte) && pte_dirty(pte));
  assert(PageAnon(t.k, pte_pfn(pte)));
  assertEquals(t.p.mm.rss[MM_ANONPAGES], 1);
  const want = old.slice();
  want.set(enc.encode("first"), 0);
  assertEquals(userRead(t.k, t.p, addr, 4096), want);
  assertEquals(mediaPage(t, 5), old);
  assertEquals(dec.decode(userRead(t.k, t.p, addr, 5)), "first");
});

function faultsOf(t: ReturnType<typeof fsdaxFile>) {
  return t.k.state(HUB).faults;
}
