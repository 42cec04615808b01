import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { devdax, mapDax } from "./_rig.ts";
import { devmapTables } from "../../../lib/kernel/mm/devmap-mm.ts";
import { dax_get_unmapped_area, dax_mmap, dax_vm_ops } from "../../../lib/drivers/dax/device.ts";
import { find_vma } from "../../../lib/kernel/mm/mm-types.ts";
import { get_unmapped_area } from "../../../lib/kernel/mm/mmap.ts";
import { userLoad32, userStore32, userTouch } from "../../../lib/drivers/dax/uaccess.ts";
import { page_ref_count } from "../../../lib/kernel/mm/memmap.ts";
import { mappingId, page_index, page_mapping_raw } from "../../../lib/kernel/mm/page-ext.ts";
import { MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ } from "../../../lib/kernel/mm/mm-types.ts";
import { SignalDelivered } from "../../../lib/kernel/mm/process.ts";
import { pte_devmap, pte_special, pteAt } from "../../../lib/kernel/mm/pgtable.ts";

Deno.test("device-dax: MAP_PRIVATE is refused (-EINVAL, 'attempted private mapping'); a misaligned VMA too", () => {
  const t = devdax(2 ** 21);
  assertEquals(t.p.mmap(0, 2 ** 22, PROT_READ, MAP_PRIVATE, t.f, 0), -22);
  const log = t.k.dmesg.lines.map((l) => l.text).join("\n");
  assertStringIncludes(log, "dax0.0: test: dax_mmap: fail, attempted private mapping");
  // 2 MiB align: a VMA starting 4 KiB off a 2 MiB boundary is refused
  const a = dax_get_unmapped_area(t.k, t.p.mm, t.f, 0, 2 ** 22, 0, 0);
  assertEquals(t.p.mmap(a + 4096, 2 ** 22, PROT_READ, MAP_SHARED | MAP_FIXED, t.f, 0), -22);
  assertStringIncludes(t.k.dmesg.lines.map((l) => l.text).join("\n"), "fail, unaligned vma");
  assertEquals(a % 2 ** 21, 0);
});

Deno.test("device-dax: faults map at the device's align — PTE at 4 KiB, PMD at 2 MiB, PUD at 1 GiB — as devmap entries holding no page reference", () => {
  for (
    const [align, pmds, puds, ptes] of [[4096, 0, 0, 1], [2 ** 21, 2, 0, 0], [
      2 ** 30,
      0,
      2,
      0,
    ]] as const
  ) {
    const t = devdax(align);
    const base = mapDax(t, 2 * align);
    userStore32(t.k, t.p, base + 8, 11);
    userStore32(t.k, t.p, base + align + 8, 22);
    assertEquals([userLoad32(t.k, t.p, base + 8), userLoad32(t.k, t.p, base + align + 8)], [
      11,
      22,
    ]);
    const tables = devmapTables(t.k, t.p.mm);
    assertEquals(
      [tables.pmds.size, tables.puds.size, t.p.mm.pgd.size],
      [pmds, puds, ptes],
      `align ${align}`,
    );
    const pfn = t.p.pfnAt(base) >= 0 ? t.p.pfnAt(base) : -1;
    if (align === 4096) {
      const pte = pteAt(t.p.mm.pgd, base);
      assert(pte_devmap(pte) && pte_special(pte));
      // the page stays idle (refcount 1): mapping it took no reference
      assertEquals(page_ref_count(t.k, pfn), 1);
      // page->mapping and page->index were set by the fault
      assertEquals(page_mapping_raw(t.k, pfn), mappingId(t.k, t.f.f_mapping) * 2);
      assertEquals(page_index(t.k, pfn), 0);
    }
  }
});

Deno.test("device-dax: a page-size fault on a 2 MiB-aligned device is SIGBUS (no fallback below the align)", () => {
  const t = devdax(2 ** 21);
  const base = mapDax(t, 2 ** 21);
  // Process's own loads go through handle_mm_fault's pte level only: ->fault is __dev_dax_pte_fault
  assertThrows(() => t.p.load32(base), SignalDelivered, "SIGBUS");
});

Deno.test("device-dax: a 4 KiB device works through Process's ordinary loads and stores (->fault)", () => {
  const t = devdax(4096);
  const base = mapDax(t, 2 ** 16);
  t.p.store32(base + 4096, 5);
  assertEquals(t.p.load32(base + 4096), 5);
});

Deno.test("device-dax: disabling the namespace zaps every mapping first (unregister_dev_dax) and later faults are SIGBUS", () => {
  for (const align of [4096, 2 ** 21]) {
    const t = devdax(align);
    const base = mapDax(t, 2 * align);
    assertEquals(userTouch(t.k, t.p, base, true), 0);
    t.k.trace.on = true;
    assertEquals(t.nd.disableNamespace(t.ns.name).rc, 0);
    const unmap = t.k.trace.events.find((e) => e.kind === "dax" && e.op === "unmap");
    const release = t.k.trace.events.findIndex((e) => e.kind === "memremap" && e.op === "release");
    assert(unmap !== undefined && t.k.trace.events.indexOf(unmap) < release);
    assertEquals(devmapTables(t.k, t.p.mm).pmds.size, 0);
    assertEquals(pteAt(t.p.mm.pgd, base), 0);
    // check_vma finds the dax device dead: -ENXIO → VM_FAULT_SIGBUS
    assertEquals(userTouch(t.k, t.p, base + 8, false), 7);
  }
});

Deno.test("dax_mmap(filp, vma): the kernel's arguments — the file's dev_dax is checked and the VMA gets dax_vm_ops", () => {
  const t = devdax(2 ** 21);
  const a = mapDax(t, 2 ** 22);
  const vma = find_vma(t.p.mm, a)!;
  vma.vm_ops = null;
  assertEquals(dax_mmap(t.k, t.f, vma), 0);
  assert(vma.vm_ops === dax_vm_ops);
});

Deno.test("dax_get_unmapped_area(filp, addr, len, pgoff, flags): the kernel's arguments after the model's mm; an aligned address without a hint; with one, the plain search (the kernel's \"goto out\")", () => {
  const t = devdax(2 ** 21);
  const a = dax_get_unmapped_area(t.k, t.p.mm, t.f, 0, 2 ** 22, 0, 0);
  assert(a > 0);
  assertEquals(a % 2 ** 21, 0);
  // pgoff 1: the address's offset from a 2 MiB boundary is the file offset's
  const b = dax_get_unmapped_area(t.k, t.p.mm, t.f, 0, 2 ** 22, 1, 0);
  assertEquals(b % 2 ** 21, 4096);
  // pgoff 1 with a hint: no alignment search, so the offset is not the file's
  const c = dax_get_unmapped_area(t.k, t.p.mm, t.f, a, 2 ** 22, 1, 0);
  assertEquals(c, get_unmapped_area(t.p.mm, 2 ** 22, 4096));
  assert(c % 2 ** 21 !== 4096);
});
