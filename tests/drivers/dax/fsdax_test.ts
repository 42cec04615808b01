import { assert, assertEquals } from "@std/assert";
import { fsdaxFile } from "./_rig.ts";
import { devmapTables } from "../../../lib/kernel/mm/devmap-mm.ts";
import { userRead, userTouch, userWrite } from "../../../lib/drivers/dax/uaccess.ts";
import { mappingId, page_index, page_mapping_raw } from "../../../lib/kernel/mm/page-ext.ts";
import { page_ref_count } from "../../../lib/kernel/mm/memmap.ts";
import {
  MADV_NOHUGEPAGE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { pte_devmap, pteAt } from "../../../lib/kernel/mm/pgtable.ts";

Deno.test("fsdax: a DAX file's mapping and the pmem block device see the same bytes (direct_access, no page cache)", () => {
  const t = fsdaxFile();
  const disk = t.ns.disk!;
  const msg = new TextEncoder().encode("written through the block device");
  const sector = new Uint8Array(512);
  sector.set(msg);
  assertEquals(disk.write(8 * 3, sector), 0); // file page 3
  const addr = t.p.mmap(0, 2 ** 22, PROT_READ | PROT_WRITE, MAP_SHARED, t.f, 0);
  assertEquals(
    new TextDecoder().decode(userRead(t.k, t.p, addr + 3 * 4096, msg.length)),
    "written through the block device",
  );
  userWrite(t.k, t.p, addr + 5 * 4096, new TextEncoder().encode("stored through the mapping"));
  const back = disk.read(8 * 5, 1) as Uint8Array;
  assertEquals(new TextDecoder().decode(back.subarray(0, 26)), "stored through the mapping");
});

Deno.test("fsdax: PTE faults insert devmap ptes and associate each page with the file; 2 MiB-aligned mappings take PMD faults", () => {
  const t = fsdaxFile();
  const addr = t.p.mmap(0, 2 ** 22, PROT_READ | PROT_WRITE, MAP_SHARED, t.f, 0);
  t.p.madvise(addr, 2 ** 22, MADV_NOHUGEPAGE);
  assertEquals(userTouch(t.k, t.p, addr + 7 * 4096, false), 0);
  const pte = pteAt(t.p.mm.pgd, addr + 7 * 4096);
  assert(pte_devmap(pte));
  const pfn = t.p.pfnAt(addr + 7 * 4096);
  assertEquals(page_mapping_raw(t.k, pfn), mappingId(t.k, t.inode.mapping) * 2);
  assertEquals(page_index(t.k, pfn), 7);
  assertEquals(page_ref_count(t.k, pfn), 1);
  // a second process maps it huge: the file offset and address agree mod 2 MiB
  const q = new (t.p.constructor as typeof import("../../../lib/kernel/mm/process.ts").Process)(
    t.k,
    "q",
  );
  const a2 = q.mmap(0, 2 ** 22, PROT_READ, MAP_SHARED, t.f, 0);
  assertEquals(a2 % 2 ** 21, 0);
  assertEquals(userTouch(t.k, q, a2 + 2 ** 21 + 8, false), 0);
  assertEquals(devmapTables(t.k, q.mm).pmds.size, 1);
  // but not where page entries already exist in the file's first 2 MiB: that fault falls back to a pte
  assertEquals(userTouch(t.k, q, a2 + 8, false), 0);
  assertEquals(devmapTables(t.k, q.mm).pmds.size, 1);
  assert(pte_devmap(pteAt(q.mm.pgd, a2)));
});

Deno.test("fsdax: past i_size is SIGBUS; writes to a private mapping succeed (copy-on-write, see cow_test.ts)", () => {
  const t = fsdaxFile("v5.0", 2 ** 16);
  const addr = t.p.mmap(0, 2 ** 17, PROT_READ | PROT_WRITE, MAP_SHARED, t.f, 0);
  assertEquals(userTouch(t.k, t.p, addr + 2 ** 16, false), 7);
  const priv = t.p.mmap(0, 2 ** 16, PROT_READ | PROT_WRITE, MAP_PRIVATE, t.f, 0);
  assertEquals(userTouch(t.k, t.p, priv, false), 0); // a read maps the pmem page read-only
  assert(pte_devmap(pteAt(t.p.mm.pgd, priv)));
  assertEquals(userTouch(t.k, t.p, priv, true), 0); // then a write copies it (wp_page_copy)
  assert(!pte_devmap(pteAt(t.p.mm.pgd, priv)));
  assertEquals(userTouch(t.k, t.p, priv + 4096, true), 0); // a first write too (DONE_COW)
  assert(!pte_devmap(pteAt(t.p.mm.pgd, priv + 4096)));
});
