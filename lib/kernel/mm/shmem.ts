/**
 * tmpfs / shmem (mm/shmem.c, mm/filemap.c, mm/truncate.c; v4.20): files
 * whose pages live only in the page cache, read and written through it
 * (pread/pwrite), mapped by shmem_fault, and the backing of MAP_SHARED
 * anonymous memory (shmem_zero_setup). No swap: shmem pages stay resident.
 *
 * Page references: the page cache holds one reference on each of its
 * pages (and page->mapping points at the file's address_space, page->index
 * is the page's offset); every pte that maps a page holds another.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { ENOMEM, ENOSPC } from "../errno.ts";
import { zap_page_range_single } from "./memory.ts";
import {
  AddressSpace,
  File,
  VM_FAULT_LOCKED,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  type VmFault,
  type VmOps,
} from "./mm-types.ts";
import {
  mappingId,
  PG_lru,
  PG_swapbacked,
  PG_uptodate,
  set_page_index,
  set_page_mapping_raw,
  SetPageDirty,
  setPageFlag2,
  trylock_page,
} from "./page-ext.ts";
import { pageReadWords, pageWriteWords, WORDS_PER_PAGE } from "./page-contents.ts";
import { alloc_page } from "./ram-alloc.ts";
import { get_page, put_page } from "./swap.ts";
import type { Page } from "./types.ts";

/**
 * shmem_file_setup(name, size, flags) (mm/shmem.c): a new unlinked tmpfs
 * file of `size` bytes. `_flags` (VM_NORESERVE: no memory accounting) is not
 * read: the model does no overcommit accounting.
 */
export function shmem_file_setup(k: Kernel, name: string, size: number, _flags: number): File {
  const mapping = new AddressSpace(name);
  mappingId(k, mapping);
  mapping.size = size;
  mapping.anonShared = name === "dev/zero";
  return new File(mapping, true);
}

/** A tmpfs file opened read-write (what open(O_CREAT|O_RDWR) on /tmp gives). */
export function tmpfs_create(k: Kernel, name: string): File {
  return shmem_file_setup(k, name, 0, 0);
}

/** The same file opened read-only. */
export function open_readonly(file: File): File {
  return new File(file.f_mapping, false);
}

/** enum sgp_type (include/linux/shmem_fs.h): SGP_CACHE, may allocate a page. */
export const SGP_CACHE = 1;
/** enum sgp_type: SGP_WRITE, may exceed i_size, may allocate a page (shmem_write_begin). */
export const SGP_WRITE = 4;

/**
 * shmem_getpage(inode, index, pagep, sgp) (mm/shmem.c): the page cache page
 * at `index` of `inode` (the model's inode is its address_space), created
 * (zeroed, swap-backed, in the cache with the cache's reference) if missing,
 * in `pagep.v` with one extra reference for the caller. Returns 0, or
 * -ENOMEM (no memory; `pagep.v` is null). `_sgp` is not read: the model's
 * callers pass SGP_CACHE or SGP_WRITE, which both allocate.
 */
export function shmem_getpage(
  k: Kernel,
  inode: AddressSpace,
  index: number,
  pagep: { v: Page | null },
  _sgp: number,
): number {
  const mapping = inode;
  pagep.v = null;
  let page = mapping.pages.get(index);
  if (page === undefined) {
    const p = alloc_page(k);
    if (p === null) return -ENOMEM;
    page = p;
    setPageFlag2(k, page, PG_uptodate | PG_swapbacked | PG_lru, true);
    set_page_mapping_raw(k, page, mappingId(k, mapping) * 2);
    set_page_index(k, page, index);
    mapping.pages.set(index, page);
  }
  get_page(k, page);
  pagep.v = page;
  return 0;
}

/**
 * shmem_fault(vmf): the page at vmf->pgoff, locked and referenced, as
 * VM_FAULT_LOCKED; beyond i_size SIGBUS; no memory OOM.
 */
export function shmem_fault(k: Kernel, vmf: VmFault): number {
  const mapping = vmf.vma.vm_file!.f_mapping;
  if (vmf.pgoff >= Math.ceil(mapping.size / 4096)) return VM_FAULT_SIGBUS;
  const pagep = { v: null as Page | null };
  if (shmem_getpage(k, mapping, vmf.pgoff, pagep, SGP_CACHE) !== 0) return VM_FAULT_OOM; // vmf_error(-ENOMEM)
  const page = pagep.v!;
  trylock_page(k, page);
  vmf.page = page;
  return VM_FAULT_LOCKED;
}

/**
 * The VMA's close: when the last VMA of a MAP_SHARED|MAP_ANONYMOUS region
 * goes, its file's last reference goes and the pages leave the cache.
 */
function shmem_close(k: Kernel, vma: import("./mm-types.ts").VmAreaStruct): void {
  const mapping = vma.vm_file!.f_mapping;
  if (mapping.anonShared && mapping.i_mmap.size === 0) shmem_evict_inode(k, vma.vm_file!);
}

/** shmem_vm_ops. */
export const shmem_vm_ops: VmOps = { name: "shmem", fault: shmem_fault, close: shmem_close };

function checkIo(off: number, len: number): void {
  if (off % 4 !== 0 || len % 4 !== 0 || off < 0) {
    throw new RangeError("Cannot do tmpfs I/O: the model reads and writes whole 32-bit words");
  }
}

/**
 * pwrite(file, buf, offset): writes the words of `buf` at byte `offset`
 * through the page cache (shmem_write_begin/end), growing i_size; pages
 * become dirty. Returns the bytes written or -errno (-EBADF for a
 * read-only file, -ENOSPC/-ENOMEM without memory).
 */
export function pwrite(k: Kernel, file: File, buf: Int32Array, offset: number): number {
  checkIo(offset, buf.length * 4);
  if (!file.writable) return -9; // -EBADF
  const mapping = file.f_mapping;
  const words = new Int32Array(WORDS_PER_PAGE);
  let done = 0;
  while (done < buf.length) {
    const pos = offset + done * 4;
    const index = Math.floor(pos / 4096);
    const w0 = (pos % 4096) / 4;
    const n = Math.min(WORDS_PER_PAGE - w0, buf.length - done);
    const pagep = { v: null as Page | null };
    if (shmem_getpage(k, mapping, index, pagep, SGP_WRITE) !== 0) {
      return done > 0 ? done * 4 : -ENOSPC;
    }
    const page = pagep.v!;
    pageReadWords(k, page, words);
    words.set(buf.subarray(done, done + n), w0);
    pageWriteWords(k, page, words);
    SetPageDirty(k, page);
    put_page(k, page);
    done += n;
  }
  mapping.size = Math.max(mapping.size, offset + buf.length * 4);
  return done * 4;
}

/**
 * pread(file, count, offset): reads up to `nwords` words at `offset`
 * through the page cache (holes read as zeros), stopping at i_size.
 */
export function pread(k: Kernel, file: File, nwords: number, offset: number): Int32Array {
  checkIo(offset, nwords * 4);
  const mapping = file.f_mapping;
  const avail = Math.max(0, Math.min(nwords, (mapping.size - offset) / 4));
  const out = new Int32Array(Math.floor(avail));
  const words = new Int32Array(WORDS_PER_PAGE);
  for (let done = 0; done < out.length;) {
    const pos = offset + done * 4;
    const index = Math.floor(pos / 4096);
    const w0 = (pos % 4096) / 4;
    const n = Math.min(WORDS_PER_PAGE - w0, out.length - done);
    const page = mapping.pages.get(index);
    if (page !== undefined) {
      pageReadWords(k, page, words);
      out.set(words.subarray(w0, w0 + n), done);
    }
    done += n;
  }
  return out;
}

/**
 * ftruncate(file, size) (shmem_setattr → truncate_pagecache): sets i_size;
 * when shrinking, every mapping of the cut pages is zapped
 * (unmap_mapping_range, through the mmu notifier) and the pages leave the
 * cache.
 */
export function ftruncate(k: Kernel, file: File, size: number): number {
  if (size < 0) return -22;
  if (!file.writable) return -22;
  const mapping = file.f_mapping;
  const old = mapping.size;
  mapping.size = size;
  if (size < old) {
    const first = Math.ceil(size / 4096);
    for (const vma of [...mapping.i_mmap]) {
      const vstart = vma.vm_start + Math.max(0, first - vma.vm_pgoff) * 4096;
      if (vstart < vma.vm_end) {
        zap_page_range_single(k, vma, vstart, vma.vm_end - vstart, { check_mapping: mapping });
      }
    }
    for (const [index, page] of [...mapping.pages]) {
      if (index < first) continue;
      mapping.pages.delete(index);
      set_page_mapping_raw(k, page, 0);
      put_page(k, page);
    }
  }
  return 0;
}

/**
 * shmem_fallocate(FALLOC_FL_PUNCH_HOLE) for [off, off + len) (MADV_REMOVE):
 * the pages' mappings are zapped and the pages leave the cache; i_size
 * stays. Returns 0.
 */
export function shmem_punch_hole(k: Kernel, file: File, off: number, len: number): number {
  const mapping = file.f_mapping;
  const first = Math.ceil(off / 4096), last = Math.floor((off + len) / 4096);
  for (const vma of [...mapping.i_mmap]) {
    const a = Math.max(vma.vm_start, vma.vm_start + (first - vma.vm_pgoff) * 4096);
    const b = Math.min(vma.vm_end, vma.vm_start + (last - vma.vm_pgoff) * 4096);
    if (a < b) zap_page_range_single(k, vma, a, b - a, { check_mapping: mapping });
  }
  for (const [index, page] of [...mapping.pages]) {
    if (index < first || index >= last) continue;
    mapping.pages.delete(index);
    set_page_mapping_raw(k, page, 0);
    put_page(k, page);
  }
  return 0;
}

/**
 * shmem_evict_inode(inode) (mm/shmem.c): drops every page of an unused file
 * from the cache (the last iput of an unlinked tmpfs file). The model's
 * inode is the file's address_space, reached through `file`.
 */
export function shmem_evict_inode(k: Kernel, file: File): void {
  const mapping = file.f_mapping;
  for (const [index, page] of [...mapping.pages]) {
    mapping.pages.delete(index);
    set_page_mapping_raw(k, page, 0);
    put_page(k, page);
  }
}
