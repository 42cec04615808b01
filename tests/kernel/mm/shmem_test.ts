/** shmem_getpage (mm/shmem.c, v4.20): int shmem_getpage(inode, index, pagep, sgp). */
import { assertEquals } from "@std/assert";
import { proc } from "./_proc.ts";
import {
  SGP_CACHE,
  shmem_file_setup,
  shmem_getpage,
  tmpfs_create,
} from "../../../lib/kernel/mm/shmem.ts";
import { VM_NORESERVE } from "../../../lib/kernel/mm/mm-types.ts";
import { page_ref_count } from "../../../lib/kernel/mm/memmap.ts";
import { put_page } from "../../../lib/kernel/mm/swap.ts";
import type { Page } from "../../../lib/kernel/mm/types.ts";

Deno.test("shmem_getpage(inode, index, pagep, sgp) returns 0 with the page in *pagep, or -ENOMEM with NULL, as v4.20's does", () => {
  const { k } = proc();
  const f = tmpfs_create(k, "f");
  const pagep: { v: Page | null } = { v: null };
  assertEquals(shmem_getpage(k, f.f_mapping, 3, pagep, SGP_CACHE), 0);
  const page = pagep.v!;
  assertEquals(page_ref_count(k, page), 2, "the cache's reference and the caller's");
  assertEquals(f.f_mapping.pages.get(3), page);
  put_page(k, page);
  k.faults.arm("alloc_page", { nth: 1 });
  assertEquals(shmem_getpage(k, f.f_mapping, 4, pagep, SGP_CACHE), -12);
  assertEquals(pagep.v, null);
});

Deno.test("shmem_file_setup(name, size, flags): v4.20's three arguments; a new file of `size` bytes with an empty cache", () => {
  const { k } = proc();
  const f = shmem_file_setup(k, "dev/zero", 8192, VM_NORESERVE);
  assertEquals([f.f_mapping.size, f.f_mapping.pages.size, f.writable], [8192, 0, true]);
});
