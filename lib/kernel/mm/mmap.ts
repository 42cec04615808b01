/**
 * mm/mmap.c (v4.20): creating and removing VMAs — do_mmap (anonymous
 * private, MAP_SHARED anonymous as shmem, tmpfs files, MAP_HUGETLB),
 * get_unmapped_area (top-down), split_vma, do_munmap including partial
 * unmaps, and exit_mmap.
 *
 * Adjacent VMAs are never merged (vma_merge is not modelled): a split
 * leaves two VMAs even when their flags become equal again.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EACCES, EINVAL, ENOMEM } from "../errno.ts";
import {
  hugetlb_reserve_pages,
  hugetlb_unreserve_pages,
  hugetlb_vm_ops,
  hugetlb_vma_data_for_mmap,
  vma_adjust_trans_huge,
} from "./huge-memory.ts";
import { free_pgtables, handle_mm_fault, MmuGather, tlb_finish_mmu, unmap_vmas } from "./memory.ts";
import {
  FAULT_FLAG_WRITE,
  type File,
  find_vma,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_TYPE,
  type MmStruct,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_ACCOUNT,
  VM_DONTEXPAND,
  VM_EXEC,
  VM_HUGETLB,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  vma_dup,
  vma_link,
  vma_unlink,
  VmAreaStruct,
} from "./mm-types.ts";
import { mmu_notifier_release } from "./mmu-notifier.ts";
import { HPAGE_PMD_SIZE, TASK_SIZE } from "./pgtable.ts";
import { shmem_file_setup, shmem_vm_ops } from "./shmem.ts";

/** The lowest address get_unmapped_area hands out (mmap_min_addr-ish). */
const MMAP_MIN = 0x10000;

/**
 * calc_vm_prot_bits(prot, pkey) (include/linux/mman.h): PROT_* to VM_*.
 * `_pkey` is not read: the model has no protection keys (x86's
 * arch_calc_vm_prot_bits would fold it into VM_PKEY_BIT*); callers pass 0.
 */
export function calc_vm_prot_bits(prot: number, _pkey: number): number {
  return ((prot & PROT_READ) !== 0 ? VM_READ : 0) | ((prot & PROT_WRITE) !== 0 ? VM_WRITE : 0) |
    ((prot & PROT_EXEC) !== 0 ? VM_EXEC : 0);
}

function vmaEvent(
  k: Kernel,
  op: import("../events.ts").VmaEvent["op"],
  mm: MmStruct,
  start: number,
  end: number,
  ret: number,
): void {
  k.trace.emit({ kind: "vma", op, mm: mm.id, start, end, ret });
}

/**
 * get_unmapped_area(file, addr, len, pgoff, flags) — the top-down search of
 * arch_get_unmapped_area_topdown: the highest gap of `len` bytes below
 * mm->mmap_base, aligned to `align`; -ENOMEM if none. Not the kernel's
 * signature (include/linux/mm.h:2414): the model has no hint address, file
 * or pgoff colouring to consult, so it takes the mm (current->mm), the
 * length and the alignment MAP_HUGETLB needs.
 */
export function get_unmapped_area(mm: MmStruct, len: number, align = 4096): number {
  let top = mm.mmap_base;
  const v = mm.vmas;
  for (let i = v.length - 1; i >= -1; i--) {
    const below = i >= 0 ? v[i]!.vm_end : MMAP_MIN;
    if (i >= 0 && v[i]!.vm_start >= top) continue;
    let cand = top - len;
    cand -= cand % align;
    if (cand >= below) return cand;
    if (i < 0) break;
    top = Math.min(top, v[i]!.vm_start);
  }
  return -ENOMEM;
}

/**
 * do_mmap(file, addr, len, prot, flags, pgoff) (vm_mmap_pgoff): maps
 * [addr, addr + len) (or a free range) and returns its address or -errno.
 * -EINVAL for len 0 or a bad MAP_TYPE, -ENOMEM for no room or a hugetlb
 * reservation that fails, -EACCES for a shared writable map of a file opened
 * read-only. MAP_SHARED|MAP_ANONYMOUS is shmem ("dev/zero"); MAP_HUGETLB
 * rounds len to 2 MiB and reserves pool pages; MAP_FIXED unmaps what was
 * there; MAP_POPULATE faults every page in. The arguments are
 * vm_mmap_pgoff's (mm/util.c) with `mm` for current->mm, not v4.20's
 * do_mmap(file, addr, len, prot, flags, vm_flags, pgoff, populate, uf).
 */
export function do_mmap(
  k: Kernel,
  mm: MmStruct,
  file: File | null,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  pgoff: number,
): number {
  // a size_t length cannot be negative or fractional: simulator misuse, not -EINVAL
  if (!Number.isSafeInteger(len) || len < 0) {
    throw new RangeError(`Cannot mmap ${len} bytes: a length is a non-negative integer`);
  }
  if (!Number.isSafeInteger(addr) || addr < 0) {
    throw new RangeError(`Cannot mmap at ${addr}: an address is a non-negative integer`);
  }
  const ret = do_mmap_pgoff(k, mm, file, addr, len, prot, flags, pgoff);
  if (k.trace.on) {
    vmaEvent(
      k,
      "mmap",
      mm,
      ret < 0 ? addr : ret,
      ret < 0 ? addr + len : ret + len,
      ret < 0 ? ret : 0,
    );
  }
  return ret;
}

/**
 * do_mmap_pgoff(file, addr, len, prot, flags, pgoff, populate, uf)
 * (include/linux/mm.h) on `mm` (current->mm): do_mmap's body. `populate`
 * and `uf` are left out: MAP_POPULATE is handled here, and there is no
 * userfaultfd.
 */
function do_mmap_pgoff(
  k: Kernel,
  mm: MmStruct,
  file: File | null,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  pgoff: number,
): number {
  if (len === 0) return -EINVAL;
  const hugetlb = (flags & MAP_HUGETLB) !== 0 && file === null;
  const align = hugetlb ? HPAGE_PMD_SIZE : 4096;
  len = Math.ceil(len / align) * align;
  if (len > TASK_SIZE) return -ENOMEM;
  const type = flags & MAP_TYPE;
  if (type !== MAP_SHARED && type !== MAP_PRIVATE) return -EINVAL;
  if ((flags & MAP_ANONYMOUS) === 0 && file === null) return -22; // -EBADF would come from fget; misuse
  let vm_flags = calc_vm_prot_bits(prot, 0) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (file !== null) {
    if (type === MAP_SHARED) {
      if ((prot & PROT_WRITE) !== 0 && !file.writable) return -EACCES;
      vm_flags |= VM_SHARED | VM_MAYSHARE;
      if (!file.writable) vm_flags &= ~(VM_MAYWRITE | VM_SHARED);
    }
  } else if (type === MAP_SHARED) {
    vm_flags |= VM_SHARED | VM_MAYSHARE;
    pgoff = 0;
  }
  if (hugetlb) {
    const r = hugetlb_reserve_pages(k, len / HPAGE_PMD_SIZE);
    if (r) return r;
    vm_flags |= VM_HUGETLB | VM_DONTEXPAND;
  }
  if ((flags & MAP_FIXED) !== 0) {
    if (addr % align !== 0 || addr + len > TASK_SIZE) return -EINVAL;
    do_munmap(k, mm, addr, len);
  } else {
    addr = get_unmapped_area(mm, len, align);
    if (addr < 0) {
      if (hugetlb) hugetlb_unreserve_pages(k, len / HPAGE_PMD_SIZE);
      return -ENOMEM;
    }
  }
  if (file === null && type === MAP_PRIVATE) pgoff = Math.floor(addr / 4096);
  if ((vm_flags & (VM_SHARED | VM_WRITE)) === VM_WRITE) vm_flags |= VM_ACCOUNT;
  const vma = new VmAreaStruct(mm, addr, addr + len, vm_flags, pgoff);
  if (file !== null && file.mmap !== null) {
    // call_mmap: the device driver's ->mmap sets up the VMA
    vma.vm_file = file;
    vma_link(k, mm, vma);
    const r = file.mmap(k, vma);
    if (r) {
      do_munmap(k, mm, addr, len);
      return r;
    }
    return addr;
  } else if (file !== null) {
    vma.vm_file = file;
    vma.vm_ops = shmem_vm_ops;
  } else if (hugetlb) {
    // hugetlb_file_setup: a shared mapping is a file ("anon_hugepage") whose reservations go
    // with its last VMA; a private one's belong to this VMA (HPAGE_RESV_OWNER). The model's
    // private hugetlb mappings have no file.
    const shared = type === MAP_SHARED;
    if (shared) vma.vm_file = shmem_file_setup(k, "anon_hugepage", len, vma.vm_flags);
    vma.vm_ops = hugetlb_vm_ops;
    vma.vm_private_data = hugetlb_vma_data_for_mmap(len / HPAGE_PMD_SIZE, shared);
  } else if (type === MAP_SHARED) {
    // shmem_zero_setup: an anonymous shared mapping is a shmem file
    vma.vm_file = shmem_file_setup(k, "dev/zero", len, vma.vm_flags); // shmem_kernel_file_setup
    vma.vm_ops = shmem_vm_ops;
  }
  vma_link(k, mm, vma);
  if ((flags & MAP_POPULATE) !== 0) mm_populate(k, mm, addr, len);
  return addr;
}

/**
 * mm_populate(start, len) (include/linux/mm.h): fault every page in (write
 * faults for writable private mappings, as populate_vma_page_range does).
 * `mm` is passed explicitly for the kernel's current->mm.
 */
export function mm_populate(k: Kernel, mm: MmStruct, start: number, len: number): void {
  for (let a = start; a < start + len; a += 4096) {
    const vma = find_vma(mm, a);
    if (vma === null || vma.vm_start > a) continue;
    const write = (vma.vm_flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    handle_mm_fault(k, vma, a, write ? FAULT_FLAG_WRITE : 0);
  }
}

/**
 * split_vma(mm, vma, addr, new_below): cuts `vma` at `addr` into two VMAs
 * sharing file, ops and anon_vma chain (vm_pgoff adjusted). A huge pmd that
 * straddles the cut is split (__split_huge_pmd via vma_adjust_trans_huge).
 * -EINVAL for a hugetlb VMA cut off a 2 MiB boundary. Returns 0 and the
 * VMA for [addr, end) is the new one unless `new_below`.
 */
export function split_vma(
  k: Kernel,
  mm: MmStruct,
  vma: VmAreaStruct,
  addr: number,
  new_below: boolean,
): number {
  if ((vma.vm_flags & VM_HUGETLB) !== 0 && addr % HPAGE_PMD_SIZE !== 0) return -EINVAL;
  vma_adjust_trans_huge(k, vma, addr);
  const n = new_below ? vma_dup(vma, mm, vma.vm_start, addr) : vma_dup(vma, mm, addr, vma.vm_end);
  if (new_below) {
    vma.vm_pgoff += (addr - vma.vm_start) / 4096;
    vma.vm_start = addr;
  } else {
    vma.vm_end = addr;
  }
  vma_link(k, mm, n);
  mm.vmacache = null;
  return 0;
}

/**
 * do_munmap(mm, start, len): removes [start, start + len). -EINVAL for a
 * misaligned start, len 0 or a range beyond TASK_SIZE. VMAs that straddle
 * the ends are split; the unmap runs through unmap_vmas (one
 * mmu_notifier_invalidate_range_start/_end over the range: every mirror
 * hears it; device-private entries are freed through their device's free
 * callback); page tables no VMA needs are freed. Returns 0. (mm/mmap.c)
 * The trailing `uf` (userfaultfd's unmap list) is left out: the model has no
 * userfaultfd.
 */
export function do_munmap(k: Kernel, mm: MmStruct, start: number, len: number): number {
  const ret = __do_munmap(k, mm, start, len);
  if (k.trace.on) vmaEvent(k, "munmap", mm, start, start + len, ret);
  return ret;
}

function __do_munmap(k: Kernel, mm: MmStruct, start: number, len: number): number {
  if (start % 4096 !== 0 || start > TASK_SIZE || len > TASK_SIZE - start) return -EINVAL;
  len = Math.ceil(len / 4096) * 4096;
  if (len === 0) return -EINVAL;
  const end = start + len;
  let vma = find_vma(mm, start);
  if (vma === null || vma.vm_start >= end) return 0;
  if (start > vma.vm_start) {
    const r = split_vma(k, mm, vma, start, false);
    if (r) return r;
    vma = find_vma(mm, start)!;
  }
  const last = find_vma(mm, end);
  if (last !== null && last.vm_start < end && last.vm_end > end) {
    const r = split_vma(k, mm, last, end, true);
    if (r) return r;
  }
  const victims = mm.vmas.filter((v) => v.vm_start >= start && v.vm_end <= end);
  // unmap_region
  const tlb = new MmuGather(mm, false);
  unmap_vmas(k, tlb, victims, start, end);
  for (const v of victims) remove_vma(k, v);
  free_pgtables(mm, start, end);
  tlb_finish_mmu(k, tlb, start, end);
  return 0;
}

/**
 * remove_vma(vma): unlink from the mm and rmap, ->close (a hugetlb VMA's,
 * hugetlb_vm_op_close, gives back the reservations it owns). The kernel
 * returns the next VMA; the model's callers walk an array, so nothing.
 */
function remove_vma(k: Kernel, vma: VmAreaStruct): void {
  vma_unlink(vma);
  vma.vm_ops?.close?.(k, vma);
}

/**
 * exit_mmap(mm): the last user is gone. mmu_notifier_release first —
 * every notifier's ->release (HMM: every mirror's ->release), before any
 * page table changes — then every VMA is unmapped (device-private entries
 * freed through their device), the page tables freed and the VMAs removed.
 */
export function exit_mmap(k: Kernel, mm: MmStruct): void {
  mmu_notifier_release(k, mm);
  const vmas = [...mm.vmas];
  if (vmas.length > 0) {
    const tlb = new MmuGather(mm, true);
    unmap_vmas(k, tlb, vmas, 0, TASK_SIZE);
    for (const v of vmas) remove_vma(k, v);
    free_pgtables(mm, 0, TASK_SIZE);
    tlb_finish_mmu(k, tlb, 0, -1); // exit_mmap's whole-mm range
  }
  mm.exited = true;
  if (k.trace.on) vmaEvent(k, "exit_mmap", mm, 0, 0, 0);
}
