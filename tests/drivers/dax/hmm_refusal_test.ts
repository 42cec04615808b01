/**
 * 2018's HMM and migrate_vma refuse DAX mappings: v4.20's migrate_vma and
 * hmm_vma_get_pfns / hmm_vma_fault test `vma_is_dax(vma)` (the mapped file's
 * inode is S_DAX — fsdax files and the device-dax character device alike)
 * beside hugetlb and VM_SPECIAL, and return -EINVAL; the hmm calls first
 * fill the range with HMM_PFN_SPECIAL values. (The model used to answer
 * vma_is_dax with a stub that said no.)
 */
import { assertEquals } from "@std/assert";
import { devdax, fsdaxFile } from "./_rig.ts";
import { migrate_vma, type MigrateVmaOps } from "../../../lib/kernel/mm/migrate.ts";
import {
  hmm_mirror_register,
  hmm_vma_fault,
  hmm_vma_get_pfns,
  HmmMirror,
  HmmRange,
} from "../../../lib/kernel/mm/hmm-mirror.ts";
import { find_vma, MAP_SHARED, PROT_READ, PROT_WRITE } from "../../../lib/kernel/mm/mm-types.ts";
import { userTouch } from "../../../lib/drivers/dax/uaccess.ts";
import type { Kernel } from "../../../lib/kernel/kernel.ts";
import type { Process } from "../../../lib/kernel/mm/process.ts";

const EINVAL = 22;
const FLAGS = [1, 2, 4], VALUES = [8, 16, 32]; // VALID, WRITE, DEVICE_PRIVATE; ERROR, NONE, SPECIAL

function refusals(k: Kernel, p: Process, addr: number): void {
  const vma = find_vma(p.mm, addr)!;
  let called = 0;
  const ops: MigrateVmaOps = {
    alloc_and_copy() {
      called++;
    },
    finalize_and_map() {
      called++;
    },
  };
  const src = new Float64Array(4), dst = new Float64Array(4);
  assertEquals(migrate_vma(k, ops, vma, addr, addr + 4 * 4096, src, dst, null), -EINVAL);
  assertEquals(called, 0, "the driver's callbacks never run");
  assertEquals(
    hmm_mirror_register(
      k,
      new HmmMirror({ sync_cpu_device_pagetables: () => 0, release() {} }),
      p.mm,
    ),
    0,
  );
  for (const call of [hmm_vma_get_pfns, (k: Kernel, r: HmmRange) => hmm_vma_fault(k, r, true)]) {
    const r = new HmmRange(vma, addr, addr + 4 * 4096, new Float64Array(4), FLAGS, VALUES, 7);
    assertEquals(call(k, r), -EINVAL);
    assertEquals([...r.pfns], [32, 32, 32, 32], "HMM_PFN_SPECIAL everywhere");
  }
}

Deno.test("v4.20 migrate_vma and hmm_vma_get_pfns/hmm_vma_fault refuse an fsdax mapping (-EINVAL, SPECIAL)", () => {
  const t = fsdaxFile("v4.20");
  const addr = t.p.mmap(0, 2 ** 22, PROT_READ | PROT_WRITE, MAP_SHARED, t.f, 0);
  assertEquals(userTouch(t.k, t.p, addr, true), 0); // a mapped DAX page, not just an empty range
  refusals(t.k, t.p, addr);
});

Deno.test("v4.20 migrate_vma and the mirror calls refuse a device-dax mapping too", () => {
  const t = devdax(4096, "v4.20");
  const addr = t.p.mmap(0, 2 ** 21, PROT_READ | PROT_WRITE, MAP_SHARED, t.f, 0);
  assertEquals(userTouch(t.k, t.p, addr, false), 0);
  refusals(t.k, t.p, addr);
});
