/**
 * mm/mprotect.c (v4.20): mprotect(2). The VMAs of the range get new
 * VM_READ/WRITE/EXEC (split where the range cuts them); if the flags did
 * change, change_protection rewrites the ptes with the new protection
 * between mmu_notifier_invalidate_range_start and _end — so every mirror
 * hears it. Private writable mappings never get writable ptes from
 * mprotect (vm_page_prot is read-only for them; the next write fault makes
 * a pte writable). Writable device-private and migration entries become
 * read-only whatever the new protection is. A huge pmd wholly inside the
 * range is changed as a whole, one the range cuts is split.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EACCES, EINVAL, ENOMEM } from "../errno.ts";
import { change_huge_pmd, split_huge_pmd } from "./huge-memory.ts";
import { calc_vm_prot_bits, split_vma } from "./mmap.ts";
import {
  find_vma,
  type MmStruct,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_ACCESS_FLAGS,
  vm_get_page_prot,
  type VmAreaStruct,
} from "./mm-types.ts";
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
} from "./mmu-notifier.ts";
import {
  HPAGE_PMD_SIZE,
  is_write_device_private_entry,
  is_write_migration_entry,
  make_device_private_entry_read,
  make_migration_entry,
  migration_entry_to_page,
  pmd_addr_end,
  pte_index,
  pte_modify,
  pte_present,
  pte_to_swp_entry,
  swp_entry_to_pte,
  TASK_SIZE,
} from "./pgtable.ts";

/** PROT_SEM. */
const PROT_SEM = 0x8;
/** PROT_GROWSDOWN | PROT_GROWSUP. */
const PROT_GROWS = 0x01000000 | 0x02000000;

/**
 * change_protection(vma, start, end, newprot, dirty_accountable, prot_numa)
 * (mm/mprotect.c): returns the number of entries changed.
 * `_dirty_accountable` is not read (the model does no dirty accounting, so
 * no pte is made writable here); `prot_numa` goes to change_huge_pmd (the
 * model has no NUMA balancing: every caller passes 0).
 */
export function change_protection(
  k: Kernel,
  vma: VmAreaStruct,
  start: number,
  end: number,
  newprot: number,
  _dirty_accountable: number,
  prot_numa: number,
): number {
  const mm = vma.vm_mm;
  let pages = 0;
  let rangeStart = -1;
  for (let addr = start, next: number; addr < end; addr = next) {
    next = pmd_addr_end(addr, end);
    const t = mm.pgd.lookup(addr);
    if (t === undefined) continue;
    if (rangeStart < 0) {
      rangeStart = addr;
      mmu_notifier_invalidate_range_start(k, mm, rangeStart, end);
    }
    if (t.huge !== 0) {
      if (next - addr === HPAGE_PMD_SIZE) {
        pages += change_huge_pmd(k, vma, t, addr, newprot, prot_numa);
        continue;
      }
      split_huge_pmd(k, vma, t, addr);
    }
    const ptes = t.ptes!;
    for (let a = addr; a < next; a += 4096) {
      const i = pte_index(a);
      const old = ptes[i]!;
      if (old === 0) continue;
      if (pte_present(old)) {
        ptes[i] = pte_modify(old, newprot);
        pages++;
        continue;
      }
      const entry = pte_to_swp_entry(old);
      if (is_write_migration_entry(entry)) {
        ptes[i] = swp_entry_to_pte(make_migration_entry(migration_entry_to_page(entry), false));
        pages++;
      }
      if (is_write_device_private_entry(entry)) {
        const e = { v: entry };
        make_device_private_entry_read(e);
        ptes[i] = swp_entry_to_pte(e.v);
        pages++;
      }
    }
  }
  if (rangeStart >= 0) mmu_notifier_invalidate_range_end(k, mm, rangeStart, end);
  return pages;
}

/**
 * mprotect_fixup(vma, pprev, start, end, newflags) (mm/mprotect.c): nothing
 * if the flags are unchanged; otherwise split the VMA to [start, end), set
 * the flags and vm_page_prot, and change_protection (dirty_accountable 0:
 * no writenotify in the model; prot_numa 0). Returns 0 or split_vma's
 * -errno. The out-parameter `pprev` is left out: the caller walks the mm's
 * VMA list itself.
 */
export function mprotect_fixup(
  k: Kernel,
  vma: VmAreaStruct,
  start: number,
  end: number,
  newflags: number,
): number {
  const mm = vma.vm_mm;
  if (newflags === vma.vm_flags) return 0;
  if (start !== vma.vm_start) {
    const r = split_vma(k, mm, vma, start, true);
    if (r) return r;
  }
  if (end !== vma.vm_end) {
    const r = split_vma(k, mm, vma, end, false);
    if (r) return r;
  }
  vma.vm_flags = newflags;
  vma.vm_page_prot = vm_get_page_prot(newflags);
  change_protection(k, vma, start, end, vma.vm_page_prot, 0, 0);
  return 0;
}

/**
 * mprotect(start, len, prot) (do_mprotect_pkey): 0, -EINVAL (misaligned
 * start, unknown prot bits), -ENOMEM (the range is not fully mapped),
 * -EACCES (a VM_MAY* bit forbids the new protection).
 */
export function sys_mprotect(
  k: Kernel,
  mm: MmStruct,
  start: number,
  len: number,
  prot: number,
): number {
  const ret = do_mprotect_pkey(k, mm, start, len, prot);
  if (k.trace.on) {
    k.trace.emit({ kind: "vma", op: "mprotect", mm: mm.id, start, end: start + len, ret });
  }
  return ret;
}

/** do_mprotect_pkey(start, len, prot, pkey) (mm/mprotect.c) on `mm` (current->mm); pkey -1 is left out. */
function do_mprotect_pkey(
  k: Kernel,
  mm: MmStruct,
  start: number,
  len: number,
  prot: number,
): number {
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_GROWS)) !== 0) return -EINVAL;
  if (start % 4096 !== 0) return -EINVAL;
  if (len === 0) return 0;
  len = Math.ceil(len / 4096) * 4096;
  const end = start + len;
  if (end <= start || end > TASK_SIZE) return -ENOMEM;
  let vma = find_vma(mm, start);
  if (vma === null || vma.vm_start > start) return -ENOMEM;
  const vm_flags = calc_vm_prot_bits(prot, 0);
  let nstart = start;
  for (;;) {
    const newflags = vm_flags | (vma.vm_flags & ~VM_ACCESS_FLAGS);
    // newflags >> 4 shift VM_MAY% in place of VM_%
    if ((newflags & ~(newflags >> 4) & VM_ACCESS_FLAGS) !== 0) return -EACCES;
    const tmp = Math.min(vma.vm_end, end);
    const r = mprotect_fixup(k, vma, nstart, tmp, newflags);
    if (r) return r;
    nstart = tmp;
    if (nstart >= end) return 0;
    const next = find_vma(mm, nstart);
    if (next === null || next.vm_start !== nstart) return -ENOMEM;
    vma = next;
  }
}
