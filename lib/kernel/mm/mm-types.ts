/**
 * Address spaces: struct mm_struct, struct vm_area_struct, struct anon_vma,
 * struct address_space (include/linux/mm_types.h, mm.h, rmap.h, fs.h), the
 * VM_* / FAULT_FLAG_* / VM_FAULT_* constants (include/linux/mm.h) and the
 * mmap/mprotect/madvise/mremap ABI values (include/uapi/asm-generic/mman*.h,
 * include/uapi/linux/mman.h), as in v4.20.
 *
 * The VMAs of an mm are a sorted array (the kernel's rb-tree and list); the
 * page tables are {@link PageTable}. A VMA's anon_vma chain is an array of
 * the anon_vmas it belongs to (its own first): the rmap walk of an
 * anonymous page visits every VMA linked to the page's anon_vma, which is
 * how a page shared by fork is found in parent and child.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { mappingId, type MappingObject } from "./page-ext.ts";
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_RW, PageTable } from "./pgtable.ts";
import type { Page } from "./types.ts";
import { HUB } from "./hub.ts";

// ---- include/linux/mm.h ----
/** VM_NONE. */
export const VM_NONE = 0;
/** VM_READ. */
export const VM_READ = 0x1;
/** VM_WRITE. */
export const VM_WRITE = 0x2;
/** VM_EXEC. */
export const VM_EXEC = 0x4;
/** VM_SHARED. */
export const VM_SHARED = 0x8;
/** VM_MAYREAD. */
export const VM_MAYREAD = 0x10;
/** VM_MAYWRITE. */
export const VM_MAYWRITE = 0x20;
/** VM_MAYEXEC. */
export const VM_MAYEXEC = 0x40;
/** VM_MAYSHARE. */
export const VM_MAYSHARE = 0x80;
/** VM_GROWSDOWN. */
export const VM_GROWSDOWN = 0x100;
/** VM_PFNMAP. */
export const VM_PFNMAP = 0x400;
/** VM_LOCKED. */
export const VM_LOCKED = 0x2000;
/** VM_IO. */
export const VM_IO = 0x4000;
/** VM_DONTCOPY. */
export const VM_DONTCOPY = 0x20000;
/** VM_DONTEXPAND. */
export const VM_DONTEXPAND = 0x40000;
/** VM_ACCOUNT. */
export const VM_ACCOUNT = 0x100000;
/** VM_NORESERVE. */
export const VM_NORESERVE = 0x200000;
/** VM_HUGETLB. */
export const VM_HUGETLB = 0x400000;
/** VM_WIPEONFORK. */
export const VM_WIPEONFORK = 0x2000000;
/** VM_DONTDUMP. */
export const VM_DONTDUMP = 0x4000000;
/** VM_SOFTDIRTY. */
export const VM_SOFTDIRTY = 0x8000000;
/** VM_MIXEDMAP. */
export const VM_MIXEDMAP = 0x10000000;
/** VM_HUGEPAGE (MADV_HUGEPAGE). */
export const VM_HUGEPAGE = 0x20000000;
/** VM_NOHUGEPAGE. */
export const VM_NOHUGEPAGE = 0x40000000;
/** VM_SPECIAL: VMAs HMM and migrate_vma refuse. */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
/** The VM_* flags that copy across mprotect (what calc_vm_prot_bits sets). */
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

/** FAULT_FLAG_WRITE. */
export const FAULT_FLAG_WRITE = 0x01;
/** FAULT_FLAG_MKWRITE. */
export const FAULT_FLAG_MKWRITE = 0x02;
/** FAULT_FLAG_ALLOW_RETRY. */
export const FAULT_FLAG_ALLOW_RETRY = 0x04;
/** FAULT_FLAG_RETRY_NOWAIT. */
export const FAULT_FLAG_RETRY_NOWAIT = 0x08;
/** FAULT_FLAG_KILLABLE. */
export const FAULT_FLAG_KILLABLE = 0x10;
/** FAULT_FLAG_TRIED. */
export const FAULT_FLAG_TRIED = 0x20;
/** FAULT_FLAG_USER. */
export const FAULT_FLAG_USER = 0x40;
/** FAULT_FLAG_REMOTE. */
export const FAULT_FLAG_REMOTE = 0x80;

// FOLL_* (include/linux/mm.h, v4.20): the gup_flags of mm/gup.c (lib/kernel/mm/gup.ts re-exports them)
/** FOLL_WRITE: check the pte is writable. */
export const FOLL_WRITE = 0x01;
/** FOLL_TOUCH: mark the page accessed. */
export const FOLL_TOUCH = 0x02;
/** FOLL_GET: take a reference on each page. */
export const FOLL_GET = 0x04;
/** FOLL_DUMP: give an error on a hole (core dumps). */
export const FOLL_DUMP = 0x08;
/** FOLL_FORCE: get_user_pages read/write w/o permission. */
export const FOLL_FORCE = 0x10;
/** FOLL_HWPOISON: -EHWPOISON for a poisoned page. */
export const FOLL_HWPOISON = 0x100;
/** FOLL_NUMA: force NUMA hinting page faults. */
export const FOLL_NUMA = 0x200;
/** FOLL_TRIED: a retry. */
export const FOLL_TRIED = 0x800;
/** FOLL_REMOTE: working on a non-current mm. */
export const FOLL_REMOTE = 0x2000;
/** FOLL_COW: the COW has already happened. */
export const FOLL_COW = 0x4000;

/** VM_FAULT_OOM. */
export const VM_FAULT_OOM = 0x0001;
/** VM_FAULT_SIGBUS. */
export const VM_FAULT_SIGBUS = 0x0002;
/** VM_FAULT_MAJOR. */
export const VM_FAULT_MAJOR = 0x0004;
/** VM_FAULT_WRITE. */
export const VM_FAULT_WRITE = 0x0008;
/** VM_FAULT_HWPOISON. */
export const VM_FAULT_HWPOISON = 0x0010;
/** VM_FAULT_HWPOISON_LARGE. */
export const VM_FAULT_HWPOISON_LARGE = 0x0020;
/** VM_FAULT_SIGSEGV. */
export const VM_FAULT_SIGSEGV = 0x0040;
/** VM_FAULT_NOPAGE. */
export const VM_FAULT_NOPAGE = 0x0100;
/** VM_FAULT_LOCKED. */
export const VM_FAULT_LOCKED = 0x0200;
/** VM_FAULT_RETRY. */
export const VM_FAULT_RETRY = 0x0400;
/** VM_FAULT_FALLBACK. */
export const VM_FAULT_FALLBACK = 0x0800;
/** VM_FAULT_DONE_COW. */
export const VM_FAULT_DONE_COW = 0x1000;
/** VM_FAULT_ERROR (v4.20 includes FALLBACK). */
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV |
  VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE | VM_FAULT_FALLBACK;

// ---- uapi ----
/** PROT_NONE. */
export const PROT_NONE = 0;
/** PROT_READ. */
export const PROT_READ = 1;
/** PROT_WRITE. */
export const PROT_WRITE = 2;
/** PROT_EXEC. */
export const PROT_EXEC = 4;
/** MAP_SHARED. */
export const MAP_SHARED = 0x01;
/** MAP_PRIVATE. */
export const MAP_PRIVATE = 0x02;
/** MAP_TYPE. */
export const MAP_TYPE = 0x0f;
/** MAP_FIXED. */
export const MAP_FIXED = 0x10;
/** MAP_ANONYMOUS. */
export const MAP_ANONYMOUS = 0x20;
/** MAP_NORESERVE. */
export const MAP_NORESERVE = 0x4000;
/** MAP_POPULATE. */
export const MAP_POPULATE = 0x8000;
/** MAP_HUGETLB. */
export const MAP_HUGETLB = 0x40000;
/** MADV_NORMAL. */
export const MADV_NORMAL = 0;
/** MADV_WILLNEED. */
export const MADV_WILLNEED = 3;
/** MADV_DONTNEED. */
export const MADV_DONTNEED = 4;
/** MADV_FREE (v4.5+). */
export const MADV_FREE = 8;
/** MADV_REMOVE. */
export const MADV_REMOVE = 9;
/** MADV_DONTFORK. */
export const MADV_DONTFORK = 10;
/** MADV_DOFORK. */
export const MADV_DOFORK = 11;
/** MADV_HUGEPAGE. */
export const MADV_HUGEPAGE = 14;
/** MADV_NOHUGEPAGE. */
export const MADV_NOHUGEPAGE = 15;
/** MADV_COLLAPSE: v6.1. Not a valid value in v4.20 (madvise returns -EINVAL). */
export const MADV_COLLAPSE = 25;
/** MREMAP_MAYMOVE. */
export const MREMAP_MAYMOVE = 1;
/** MREMAP_FIXED. */
export const MREMAP_FIXED = 2;
/** MREMAP_DONTUNMAP: v5.7. Not a valid flag in v4.20 (mremap returns -EINVAL). */
export const MREMAP_DONTUNMAP = 4;

// ---- rmap objects ----

/**
 * struct anon_vma: the reverse-map anchor of anonymous pages. `vmas` is
 * every VMA whose anon_vma chain contains it (the kernel's interval tree of
 * anon_vma_chains).
 */
export class AnonVma implements MappingObject {
  /** page->mapping id (see page-ext.ts). */
  mappingId = 0;
  /** VMAs linked to this anon_vma. */
  readonly vmas: Set<VmAreaStruct> = new Set();
  /**
   * Creates an anon_vma.
   * @param root the root of its hierarchy (itself for a root).
   */
  constructor(root: AnonVma | null = null) {
    this.root = root ?? this;
  }
  /** anon_vma->root. */
  readonly root: AnonVma;
}

/** struct address_space of a tmpfs/shmem inode: its page cache and its mappers. */
export class AddressSpace implements MappingObject {
  /** page->mapping id. */
  mappingId = 0;
  /** The page cache: page index → page. */
  readonly pages: Map<number, Page> = new Map();
  /** i_mmap: VMAs mapping this file (shared and private). */
  readonly i_mmap: Set<VmAreaStruct> = new Set();
  /** Size in bytes (i_size). */
  size = 0;
  /** shmem_zero_setup's "dev/zero" file: only its mappings hold it, so it goes with the last one. */
  anonShared = false;
  /**
   * Creates an empty mapping.
   * @param name the file's name (for messages).
   */
  constructor(readonly name: string) {}
}

/** S_IFMT (include/uapi/linux/stat.h): the file-type bits of i_mode. */
export const S_IFMT = 0o170000;
/** S_IFREG: a regular file. */
export const S_IFREG = 0o100000;
/** S_IFCHR: a character device. */
export const S_IFCHR = 0o020000;

/** S_ISCHR(m) (include/uapi/linux/stat.h): the mode is a character device's. */
export function S_ISCHR(m: number): boolean {
  return (m & S_IFMT) === S_IFCHR;
}

/** struct file (the parts mmap needs). */
export class File {
  /**
   * file_inode(file)->i_mode: the file type of the opened inode (a regular
   * file unless the opener says otherwise; /dev/daxX.Y is S_IFCHR — its
   * f_mapping is the dax inode's, its file_inode the char device's).
   */
  i_mode: number = S_IFREG | 0o600;
  /**
   * f_op->mmap of a device file (call_mmap): sets vm_ops / inserts pages;
   * 0 or -errno. Null for tmpfs files (shmem's mmap).
   */
  mmap: ((k: Kernel, vma: VmAreaStruct) => number) | null = null;
  /**
   * Creates an open file.
   * @param f_mapping the inode's address_space.
   * @param writable whether it was opened for writing (FMODE_WRITE).
   */
  constructor(readonly f_mapping: AddressSpace, readonly writable = true) {}
}

/** struct vm_fault: one fault being handled. */
export interface VmFault {
  /** The VMA. */
  vma: VmAreaStruct;
  /** Faulting address, page aligned. */
  address: number;
  /** FAULT_FLAG_*. */
  flags: number;
  /** linear_page_index(vma, address). */
  pgoff: number;
  /** The pte value when the fault started. */
  orig_pte: number;
  /** The page ->fault returned (or the page do_wp_page works on), else -1. */
  page: number;
  /** The COW destination, else -1. */
  cow_page: number;
}

/**
 * The struct vm_fault that __handle_mm_fault (and the devmap walk) fills in
 * for a page-aligned `address`: pgoff from linear_page_index, no pte, page or
 * COW page yet.
 */
export function newVmFault(vma: VmAreaStruct, address: number, flags: number): VmFault {
  return {
    vma,
    address,
    flags,
    pgoff: linear_page_index(vma, address),
    orig_pte: 0,
    page: -1,
    cow_page: -1,
  };
}

/** vm_operations_struct (the callbacks the model uses). */
export interface VmOps {
  /** Name (for messages): "shmem", "hugetlb", "dmirror", ... */
  readonly name: string;
  /** ->fault: returns VM_FAULT_* and sets vmf.page (locked, referenced) on success. */
  fault?: (k: Kernel, vmf: VmFault) => number;
  /** ->close. */
  close?: (k: Kernel, vma: VmAreaStruct) => void;
}

/** struct vm_area_struct. */
export class VmAreaStruct {
  /** First address. */
  vm_start: number;
  /** One past the last address. */
  vm_end: number;
  /** VM_* flags. */
  vm_flags: number;
  /** The pte protection bits (vm_get_page_prot(vm_flags)). */
  vm_page_prot: number;
  /** Offset in pages (file offset, or the creation address >> PAGE_SHIFT for anonymous memory). */
  vm_pgoff: number;
  /** The mapped file, or null. */
  vm_file: File | null = null;
  /** vm_ops, or null for anonymous memory. */
  vm_ops: VmOps | null = null;
  /** The anon_vma new anonymous pages of this VMA get (null until the first one). */
  anon_vma: AnonVma | null = null;
  /** anon_vma chain: every anon_vma this VMA is linked to. */
  anonChain: AnonVma[] = [];
  /** Driver data. */
  vm_private_data: unknown = null;
  /**
   * Creates a VMA (not yet linked into its mm).
   * @param vm_mm the mm.
   * @param start first address.
   * @param end one past the last.
   * @param flags VM_* flags.
   * @param pgoff vm_pgoff.
   */
  constructor(
    readonly vm_mm: MmStruct,
    start: number,
    end: number,
    flags: number,
    pgoff: number,
  ) {
    this.vm_start = start;
    this.vm_end = end;
    this.vm_flags = flags;
    this.vm_page_prot = vm_get_page_prot(flags);
    this.vm_pgoff = pgoff;
  }
}

/** MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES (rss counters). */
export const MM_FILEPAGES = 0;
/** Anonymous pages. */
export const MM_ANONPAGES = 1;
/** Swap entries. */
export const MM_SWAPENTS = 2;
/** Shmem pages. */
export const MM_SHMEMPAGES = 3;

/** The struct hmm of an mm (hmm-mirror.ts), seen from here. */
export interface HmmLike {
  /** Whether the struct was freed (hmm_mirror_unregister's kfree). */
  freed: boolean;
}

/** struct mmu_notifier_mm. */
export interface MmuNotifierList {
  /** Registered notifiers, newest first (hlist_add_head). */
  list: import("./mmu-notifier.ts").MmuNotifier[];
}

/** struct mm_struct. */
export class MmStruct {
  /** Simulator id (for traces). */
  readonly id: number;
  /** The owner's pid (for messages). */
  pid: number;
  /** The owner's comm. */
  comm: string;
  /** VMAs sorted by address. */
  vmas: VmAreaStruct[] = [];
  /** The page tables. */
  readonly pgd: PageTable = new PageTable();
  /** mm->hmm (v4.20: created by the first hmm_mirror_register or hmm_vma_get_pfns). */
  hmm: HmmLike | null = null;
  /** mm->mmu_notifier_mm. */
  mmu_notifier_mm: MmuNotifierList | null = null;
  /** mm_users. */
  mm_users = 1;
  /** mm_count. */
  mm_count = 1;
  /** rss counters. */
  readonly rss: Float64Array = new Float64Array(4);
  /** Top of the mmap area (get_unmapped_area searches below it). */
  mmap_base: number = 0x7f0000000000;
  /** exit_mmap ran. */
  exited = false;
  /** __mmdrop ran: the mm_struct is freed (a later access is a use-after-free). */
  freed = false;
  /** find_vma's last answer (vmacache). */
  vmacache: VmAreaStruct | null = null;

  /**
   * Creates an empty address space.
   * @param k the kernel (for the id).
   * @param pid owner pid.
   * @param comm owner name.
   */
  constructor(k: Kernel, pid: number, comm: string) {
    k.state(HUB); // the process side's state (and its "alloc_page" fault point)
    this.id = k.newId();
    this.pid = pid;
    this.comm = comm;
  }
}

/** vm_get_page_prot(vm_flags) on x86_64: PROT_NONE, read-only (private/COW) or read-write (shared writable). */
export function vm_get_page_prot(flags: number): number {
  if ((flags & VM_ACCESS_FLAGS) === 0) return _PAGE_PROTNONE;
  if ((flags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE)) return _PAGE_PRESENT | _PAGE_RW;
  return _PAGE_PRESENT;
}

/** vma_is_anonymous(vma): no vm_ops. */
export function vma_is_anonymous(vma: VmAreaStruct): boolean {
  return vma.vm_ops === null;
}

/** is_vm_hugetlb_page(vma). */
export function is_vm_hugetlb_page(vma: VmAreaStruct): boolean {
  return (vma.vm_flags & VM_HUGETLB) !== 0;
}

/** HPAGE_RESV_OWNER (mm/hugetlb.c): this VMA called mmap() and holds the private mapping's reservations. */
export const HPAGE_RESV_OWNER = 1;
/** HPAGE_RESV_UNMAPPED (mm/hugetlb.c): the owner's failed COW unmapped a page of this VMA (a child's). */
export const HPAGE_RESV_UNMAPPED = 2;

/**
 * struct resv_map (mm/hugetlb.c) as the model keeps it: the huge-page
 * indexes (vma_hugecache_offset) whose reservation was consumed by a fault.
 * A private mapping's map belongs to the VMA that called mmap() (and the
 * VMAs split off it); a shared mapping's to its file (every VMA mapping it).
 */
export class HugetlbResvMap {
  /** Indexes whose reservation a fault consumed (region_add of vma_commit_reservation). */
  readonly consumed: Set<number> = new Set();
  /**
   * Creates the map of a mapping of `pages` huge pages, all reserved.
   * @param pages the mapping's size in huge pages (a shared file's i_size).
   */
  constructor(readonly pages: number) {}
}

/**
 * A hugetlb VMA's vm_private_data: the kernel's resv_map pointer with the
 * HPAGE_RESV_* flags in its low bits, as an object. Copied — not shared — by
 * vma_dup (split_vma's `*new = *vma`: the map is shared, the flags are per
 * VMA); a private mapping's child gets none (reset_vma_resv_huge_pages).
 */
export class HugetlbVmaData {
  /**
   * Creates the private data.
   * @param resv the reservation map, or null (a child's private mapping).
   * @param flags HPAGE_RESV_OWNER | HPAGE_RESV_UNMAPPED.
   */
  constructor(readonly resv: HugetlbResvMap | null, public flags: number) {}
}

/** is_cow_mapping(flags): private and may be written. */
export function is_cow_mapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/** linear_page_index(vma, address). */
export function linear_page_index(vma: VmAreaStruct, address: number): number {
  return Math.floor((address - vma.vm_start) / 4096) + vma.vm_pgoff;
}

/** maybe_mkwrite(pte, vma): writable only if the VMA is. */
export function maybe_mkwrite(pte: number, vma: VmAreaStruct): number {
  return (vma.vm_flags & VM_WRITE) !== 0 && (pte & _PAGE_RW) === 0 ? pte + _PAGE_RW : pte;
}

/**
 * find_vma(mm, addr): the first VMA with vm_end > addr (which may start
 * above addr), or null.
 */
export function find_vma(mm: MmStruct, addr: number): VmAreaStruct | null {
  const c = mm.vmacache;
  if (c !== null && c.vm_start <= addr && addr < c.vm_end) return c;
  const v = mm.vmas;
  let lo = 0, hi = v.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v[mid]!.vm_end > addr) hi = mid;
    else lo = mid + 1;
  }
  const r = lo < v.length ? v[lo]! : null;
  if (r !== null && r.vm_start <= addr) mm.vmacache = r;
  return r;
}

/** find_vma_intersection(mm, start, end). */
export function find_vma_intersection(
  mm: MmStruct,
  start: number,
  end: number,
): VmAreaStruct | null {
  const v = find_vma(mm, start);
  return v !== null && v.vm_start < end ? v : null;
}

/**
 * vma_link(mm, vma, prev, rb_link, rb_parent) (mm/mmap.c; insert_vm_struct's
 * body): links `vma` into `mm`'s sorted list, its file's i_mmap and its
 * anon_vmas. `prev`, `rb_link` and `rb_parent` (find_vma_links' answer) are
 * left out: the model's sorted array finds the place itself.
 */
export function vma_link(k: Kernel, mm: MmStruct, vma: VmAreaStruct): void {
  const v = mm.vmas;
  let i = 0;
  while (i < v.length && v[i]!.vm_start < vma.vm_start) i++;
  v.splice(i, 0, vma);
  if (vma.vm_file !== null) vma.vm_file.f_mapping.i_mmap.add(vma);
  for (const av of vma.anonChain) {
    mappingId(k, av);
    av.vmas.add(vma);
  }
  mm.vmacache = null;
}

/** Unlinks `vma` from its mm and every rmap structure. */
export function vma_unlink(vma: VmAreaStruct): void {
  const mm = vma.vm_mm;
  const i = mm.vmas.indexOf(vma);
  if (i >= 0) mm.vmas.splice(i, 1);
  if (vma.vm_file !== null) vma.vm_file.f_mapping.i_mmap.delete(vma);
  for (const av of vma.anonChain) av.vmas.delete(vma);
  mm.vmacache = null;
}

/**
 * anon_vma_prepare(vma): gives the VMA an anon_vma (its own) before its
 * first anonymous page. Returns 0.
 */
export function anon_vma_prepare(k: Kernel, vma: VmAreaStruct): number {
  if (vma.anon_vma !== null) return 0;
  const av = new AnonVma();
  mappingId(k, av);
  vma.anon_vma = av;
  vma.anonChain.unshift(av);
  av.vmas.add(vma);
  return 0;
}

/**
 * A copy of `vma` for [start, end) sharing its file, ops and anon_vma chain
 * (split_vma's new half, or mremap's copy_vma), not yet linked.
 */
export function vma_dup(vma: VmAreaStruct, mm: MmStruct, start: number, end: number): VmAreaStruct {
  const n = new VmAreaStruct(
    mm,
    start,
    end,
    vma.vm_flags,
    vma.vm_pgoff + Math.floor((start - vma.vm_start) / 4096),
  );
  n.vm_page_prot = vma.vm_page_prot;
  n.vm_file = vma.vm_file;
  n.vm_ops = vma.vm_ops;
  n.anon_vma = vma.anon_vma;
  n.anonChain = [...vma.anonChain];
  const d = vma.vm_private_data;
  // a hugetlb VMA's flags are per VMA; its resv_map is shared (hugetlb_vm_op_open)
  n.vm_private_data = d instanceof HugetlbVmaData ? new HugetlbVmaData(d.resv, d.flags) : d;
  return n;
}
