/**
 * fs/dax.c (v4.20): a file on a DAX filesystem mapped straight onto pmem —
 * the fsdax fault path, through pmem's dax_device (__pmem_direct_access).
 *
 * No filesystem is modelled: {@link dax_fs_create} makes a file whose
 * blocks are one allocated extent of an fsdax pmem block device (what
 * fallocate on ext4 or xfs mounted `-o dax` gives a test), and
 * {@link dax_fs_open} opens it. Its mmap is ext4_file_mmap's DAX case:
 * VM_HUGEPAGE and DAX vm_ops whose ->fault / ->huge_fault are
 * dax_iomap_fault.
 *
 * - dax_iomap_pte_fault: SIGBUS past i_size; a pmd already huge → NOPAGE
 *   (retry); the extent's sector → bdev_dax_pgoff → dax_direct_access (a
 *   dead dax_device is -ENXIO → SIGBUS; a bad block -EIO → SIGBUS); the
 *   mapping's DAX entry for the index is created (dax_insert_entry) and, if
 *   it was empty, the page associated with the file (page->mapping,
 *   page->index: dax_associate_entry); then vmf_insert_mixed, or _mkwrite
 *   for a write: a devmap pte, no page reference.
 * - dax_iomap_pmd_fault: falls back unless the 2 MiB is inside the VMA and
 *   the file, file offset and address are 2 MiB-congruent, the mapping is
 *   shared (for a write), no page-size entry is in the way, and the pfn is
 *   2 MiB aligned with PFN_MAP; then a devmap pmd (vmf_insert_pfn_pmd).
 * - PUD-size faults fall back (fs/dax has none).
 *
 * - A write fault on a none pte of a private mapping (do_cow_fault's
 *   vmf->cow_page): copy_user_dax copies the media into the cow page,
 *   finish_fault maps it as an ordinary anonymous page, VM_FAULT_DONE_COW;
 *   the media and the DAX entries are untouched. A write to a private
 *   mapping's read-only devmap pte is do_wp_page's business (memory.ts:
 *   wp_page_copy → cow_user_page reads the media through the user address).
 *
 * Not modelled: holes and the zero page (dax_load_hole; the file is fully
 * allocated), MAP_SYNC, truncate and dax_layout_busy_page.
 *
 * @module
 */
import type { Kernel } from "../../kernel/kernel.ts";
import { EINVAL, EIO, ENOMEM } from "../../kernel/errno.ts";
import { finish_fault, registerPhysPageReader } from "../../kernel/mm/memory.ts";
import { pageWriteWords, WORDS_PER_PAGE } from "../../kernel/mm/page-contents.ts";
import { pmemPhysPageReader } from "./uaccess.ts";
import {
  AddressSpace,
  FAULT_FLAG_WRITE,
  File,
  linear_page_index,
  maybe_mkwrite,
  VM_FAULT_DONE_COW,
  VM_FAULT_FALLBACK,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_HUGEPAGE,
  VM_SHARED,
  type VmAreaStruct,
  type VmFault,
} from "../../kernel/mm/mm-types.ts";
import {
  mappingId,
  page_mapping_raw,
  PG_lru,
  PG_swapbacked,
  PG_uptodate,
  set_page_index,
  set_page_mapping_raw,
  setPageFlag2,
} from "../../kernel/mm/page-ext.ts";
import type { PmemDevice } from "../nvdimm/pmem.ts";
import { HUB } from "../../kernel/mm/hub.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DEVMAP,
  _PAGE_DIRTY,
  _PAGE_SPECIAL,
  orBits,
  pfn_pte,
} from "../../kernel/mm/pgtable.ts";
import { dax_direct_access, dax_read_lock, dax_read_unlock, pfn_t_devmap, PfnT } from "./super.ts";
import {
  daxFaultEvent,
  type DaxVmOps,
  DEVMAP,
  type DevmapState,
  devmapTablesOf,
  devmapVmaClose,
  type PageEntrySize,
  PE_SIZE_PMD,
  PE_SIZE_PTE,
  PMD_SIZE,
  set_inode_dax,
  vmf_insert_mixed,
  vmf_insert_mixed_mkwrite,
  vmf_insert_pfn_pmd,
} from "../../kernel/mm/devmap-mm.ts";

const PAGE_SIZE = 4096;
const PG_PMD_NR = PMD_SIZE / PAGE_SIZE;

/** A file on a DAX filesystem: its inode, size and the one extent that holds its blocks. */
export class DaxFsInode {
  /** inode->i_mapping (S_DAX); its i_mmap lists the VMAs mapping the file. */
  readonly mapping: AddressSpace;
  /** i_pages: the DAX entry of each page index — pfn + 1 for a page entry, 0 for none. */
  readonly entries: Float64Array;
  /** Indexes of 2 MiB DAX entries (pmd entries), by first index. */
  readonly pmdEntries: Set<number> = new Set();
  /** The raw page->mapping value of this file (dax_associate_entry). */
  readonly mappingRaw: number;
  /** Scratch pfn_t of the fault path. */
  readonly pfn: PfnT = new PfnT();
  /** The kernel's devmap state (held so the fault path asks the kernel for nothing). */
  readonly devmap: DevmapState;

  /**
   * Creates the inode (dax_fs_create).
   * @param k the kernel.
   * @param pmem the fsdax block device's driver data.
   * @param name file name.
   * @param diskOffset byte offset of the extent in the block device (4 KiB aligned).
   * @param size i_size in bytes.
   */
  constructor(
    k: Kernel,
    readonly pmem: PmemDevice,
    readonly name: string,
    readonly diskOffset: number,
    readonly size: number,
  ) {
    this.mapping = new AddressSpace(name);
    this.mapping.size = size;
    set_inode_dax(k, this.mapping);
    this.entries = new Float64Array(Math.ceil(size / PAGE_SIZE));
    this.mappingRaw = mappingId(k, this.mapping) * 2;
    this.devmap = k.state(DEVMAP);
    registerPhysPageReader(k, pmemPhysPageReader); // the kernel's reads of user DAX mappings
  }
}

/** An open DAX file. */
export class DaxFsFile extends File {
  /**
   * Opens the inode.
   * @param inode the file.
   * @param writable opened for writing.
   */
  constructor(readonly inode: DaxFsInode, writable: boolean) {
    super(inode.mapping, writable);
  }
}

/**
 * Creates a file of `size` bytes whose blocks are [diskOffset, diskOffset +
 * size) of the fsdax block device `pmem` (its data area: block 0 is the
 * first byte after the info block's dataoff). A RangeError for an extent
 * that is misaligned or outside the device, or a device without struct
 * pages (a raw namespace: no DAX, as __bdev_dax_supported says).
 */
export function dax_fs_create(
  k: Kernel,
  pmem: PmemDevice,
  name: string,
  diskOffset: number,
  size: number,
): DaxFsInode {
  const capacity = pmem.size - pmem.pfn_pad - pmem.data_offset;
  if (pmem.queue === null || !pmem.queue.dax) {
    throw new RangeError(
      `Cannot create DAX file ${name}: the block device does not support DAX (no struct pages)`,
    );
  }
  if (diskOffset % PAGE_SIZE !== 0 || size <= 0 || diskOffset + size > capacity) {
    throw new RangeError(
      `Cannot create DAX file ${name}: extent [${diskOffset}, +${size}) is not 4 KiB aligned inside the ${capacity}-byte device`,
    );
  }
  return new DaxFsInode(k, pmem, name, diskOffset, size);
}

/** Opens a DAX file (its mmap is ext4_file_mmap's DAX case). */
export function dax_fs_open(_k: Kernel, inode: DaxFsInode, writable = true): DaxFsFile {
  const f = new DaxFsFile(inode, writable);
  f.mmap = dax_fs_mmap;
  return f;
}

/**
 * ->mmap of a DAX file: DAX vm_ops and VM_HUGEPAGE. No VM_MIXEDMAP: since
 * v4.15 ("dax: remove VM_MIXEDMAP for fsdax and device-dax") a DAX VMA is
 * recognised by vma_is_dax (the inode's S_DAX), and its pages are devmap.
 */
export function dax_fs_mmap(_k: Kernel, vma: VmAreaStruct): number {
  vma.vm_ops = dax_fs_vm_ops;
  vma.vm_flags |= VM_HUGEPAGE;
  return 0;
}

/** dax_fault_return(error): 0 → NOPAGE, -ENOMEM → OOM, anything else SIGBUS. */
function dax_fault_return(error: number): number {
  if (error === 0) return VM_FAULT_NOPAGE;
  if (error === -ENOMEM) return VM_FAULT_OOM;
  return VM_FAULT_SIGBUS;
}

/**
 * dax_iomap_pfn(iomap, pos, size, pfnp) (static; `inode` stands for the
 * iomap ext4 fills for it: one extent per file): the extent's sector for `pos`,
 * bdev_dax_pgoff (-EINVAL unless page aligned), dax_direct_access under
 * dax_read_lock; -EINVAL when fewer pages are available than `size`, the
 * pfn is not aligned to `size`, or a multi-page size has no devmap. 0 or
 * -errno; the pfn in `pfn`.
 */
function dax_iomap_pfn(k: Kernel, inode: DaxFsInode, pos: number, size: number, pfn: PfnT): number {
  const phys_off = inode.diskOffset + (pos - (pos % PAGE_SIZE)); // bdev_dax_pgoff of the sector
  if (phys_off % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) return -EINVAL;
  const pgoff = phys_off / PAGE_SIZE;
  const npages = size / PAGE_SIZE;
  const id = dax_read_lock(k);
  const length = dax_direct_access(k, inode.pmem.dax_dev, pgoff, npages, pfn);
  let rc: number;
  if (length < 0) rc = length;
  else if (length < npages) rc = -EINVAL;
  else if (pfn.pfn % npages !== 0) rc = -EINVAL;
  else if (length > 1 && !pfn_t_devmap(pfn)) rc = -EINVAL;
  else rc = 0;
  dax_read_unlock(k, id);
  return rc;
}

/**
 * dax_associate_entry(entry, mapping, vma, address) (static): page->mapping
 * / page->index of the entry's pages (WARN if already set). The model has
 * no DAX radix-tree entry to decode: it passes the entry's first pfn, its
 * page count and first index, and the inode whose mapping it is.
 */
function dax_associate_entry(
  k: Kernel,
  inode: DaxFsInode,
  pfn: number,
  nr: number,
  index: number,
): void {
  if (!pfn_t_devmap(inode.pfn)) return; // no struct pages behind a PFN_MAP-less pfn
  for (let i = 0; i < nr; i++) {
    if (page_mapping_raw(k, pfn + i) !== 0) {
      k.dmesg.printk(
        "warning",
        "WARNING: fs/dax.c: dax_associate_entry: page->mapping already set",
      );
      k.taint("W");
    }
    set_page_mapping_raw(k, pfn + i, inode.mappingRaw);
    set_page_index(k, pfn + i, index + i);
  }
}

/**
 * dax_iomap_pte_fault(vmf, pfnp, iomap_errp, ops) (static): see the module
 * doc. `inode` is the file's (vmf->vma->vm_file), which the kernel maps
 * through `ops`; the out-parameters are left out, as in dax_iomap_fault.
 */
function dax_iomap_pte_fault(k: Kernel, vmf: VmFault, inode: DaxFsInode): number {
  const vma = vmf.vma;
  const pos = vmf.pgoff * PAGE_SIZE;
  if (pos >= inode.size) return VM_FAULT_SIGBUS;
  const write = (vmf.flags & 1) !== 0;
  // raced with a PMD fault over this pte: retry
  const t = devmapTablesOf(inode.devmap, vma.vm_mm);
  if (t.pmds.size !== 0 && t.pmds.has(Math.floor(vmf.address / PMD_SIZE))) return VM_FAULT_NOPAGE;
  const index = vmf.pgoff;
  const pfn = inode.pfn;
  const error = dax_iomap_pfn(k, inode, pos, PAGE_SIZE, pfn);
  if (error < 0) return dax_fault_return(error);
  if (vmf.cow_page >= 0) {
    // a write to a private mapping: copy_user_dax into the cow page (the extent is mapped), then
    // finish_fault maps it; no DAX entry is inserted
    const buf = new Int32Array(WORDS_PER_PAGE);
    if (pmemPhysPageReader(k, pfn.pfn, buf) !== 1) return dax_fault_return(-EIO);
    pageWriteWords(k, vmf.cow_page, buf);
    // __SetPageUptodate, and the swap-backed / LRU bits finish_fault's anon rmap and LRU add set
    setPageFlag2(k, vmf.cow_page, PG_uptodate | PG_swapbacked | PG_lru, true);
    const ret = finish_fault(k, vmf);
    return ret === 0 ? VM_FAULT_DONE_COW : ret;
  }
  // dax_insert_entry: a new entry associates its page with the file
  if (inode.entries[index] === 0) {
    dax_associate_entry(k, inode, pfn.pfn, 1, index);
    inode.entries[index] = pfn.pfn + 1;
  }
  return write
    ? vmf_insert_mixed_mkwrite(k, vma, vmf.address, pfn)
    : vmf_insert_mixed(k, vma, vmf.address, pfn);
}

/** dax_iomap_pmd_fault(vmf, pfnp, ops) (static): see the module doc; `inode` as in dax_iomap_pte_fault. */
function dax_iomap_pmd_fault(k: Kernel, vmf: VmFault, inode: DaxFsInode): number {
  const vma = vmf.vma;
  const pmd_addr = vmf.address - (vmf.address & (PMD_SIZE - 1));
  const write = (vmf.flags & 1) !== 0;
  const max_pgoff = Math.ceil(inode.size / PAGE_SIZE);
  // fall back to PTEs unless the whole 2 MiB fits, aligned, in VMA and file
  if ((vmf.pgoff % PG_PMD_NR) !== (Math.floor(vmf.address / PAGE_SIZE) % PG_PMD_NR)) {
    return VM_FAULT_FALLBACK;
  }
  if (write && (vma.vm_flags & VM_SHARED) === 0) return VM_FAULT_FALLBACK;
  if (pmd_addr < vma.vm_start || pmd_addr + PMD_SIZE > vma.vm_end) return VM_FAULT_FALLBACK;
  const pgoff = linear_page_index(vma, pmd_addr);
  if (pgoff >= max_pgoff) return VM_FAULT_SIGBUS;
  if ((pgoff | (PG_PMD_NR - 1)) >= max_pgoff) return VM_FAULT_FALLBACK;
  // grab_mapping_entry(PMD): a page-size entry in the range forces the fallback
  if (!inode.pmdEntries.has(pgoff)) {
    for (let i = 0; i < PG_PMD_NR; i++) {
      if (inode.entries[pgoff + i] !== 0) return VM_FAULT_FALLBACK;
    }
  }
  const pfn = inode.pfn;
  if (dax_iomap_pfn(k, inode, pgoff * PAGE_SIZE, PMD_SIZE, pfn) < 0) return VM_FAULT_FALLBACK;
  if (!inode.pmdEntries.has(pgoff)) {
    dax_associate_entry(k, inode, pfn.pfn, PG_PMD_NR, pgoff);
    inode.pmdEntries.add(pgoff);
  }
  return vmf_insert_pfn_pmd(k, vma, vmf.address, null, pfn, write); // vmf->pmd: see its doc
}

/**
 * dax_iomap_fault(vmf, pe_size, pfnp, iomap_errp, ops) for a DAX file:
 * the pte or pmd fault; PUD-size faults fall back. `pfnp` and `iomap_errp`
 * (out-parameters only the synchronous-fault path reads) and `ops` (the
 * filesystem's iomap_ops: the model's one file system maps through the
 * inode) are left out. Charges one DAX fault of
 * simulated time when the fault is handled here.
 */
export function dax_iomap_fault(k: Kernel, vmf: VmFault, pe_size: PageEntrySize): number {
  const inode = (vmf.vma.vm_file as DaxFsFile).inode;
  let ret: number;
  if (pe_size === PE_SIZE_PTE) ret = dax_iomap_pte_fault(k, vmf, inode);
  else if (pe_size === PE_SIZE_PMD) ret = dax_iomap_pmd_fault(k, vmf, inode);
  else return VM_FAULT_FALLBACK;
  if (ret !== VM_FAULT_FALLBACK) k.clock.now += inode.devmap.faultNs;
  daxFaultEvent(k, pe_size, vmf, ret);
  return ret;
}

/**
 * handle_mm_fault → do_fault → dax_iomap_fault(PE_SIZE_PTE) for a none pte
 * (see {@link DaxVmOps.pte_fault_fast}), without the VmFault: PGFAULT, the
 * same checks, dax_iomap_pfn, DAX entry and page association, the devmap pte
 * (insert_pfn on a none pte: SPECIAL | DEVMAP, young, dirty and
 * writable-if-allowed for a write), the clock and the trace event. -1 (nothing
 * done) past i_size, which the general path turns into SIGBUS.
 * tests/drivers/dax/fault_fast_test.ts compares it with the general path.
 */
function dax_fs_pte_fault_fast(
  k: Kernel,
  vma: VmAreaStruct,
  address: number,
  flags: number,
  ptes: Float64Array,
  i: number,
): number {
  const addr = address - (address & 4095);
  const inode = (vma.vm_file as DaxFsFile).inode;
  const index = Math.floor((addr - vma.vm_start) / PAGE_SIZE) + vma.vm_pgoff; // linear_page_index
  const pos = index * PAGE_SIZE;
  if (pos >= inode.size) return -1;
  k.state(HUB).faults.pgfault++;
  const pfn = inode.pfn;
  const error = dax_iomap_pfn(k, inode, pos, PAGE_SIZE, pfn);
  let ret: number;
  if (error < 0) ret = dax_fault_return(error);
  else {
    if (inode.entries[index] === 0) {
      dax_associate_entry(k, inode, pfn.pfn, 1, index);
      inode.entries[index] = pfn.pfn + 1;
    }
    let entry = orBits(
      pfn_pte(pfn.pfn, vma.vm_page_prot),
      pfn_t_devmap(pfn) ? _PAGE_SPECIAL | _PAGE_DEVMAP : _PAGE_SPECIAL,
    );
    if ((flags & FAULT_FLAG_WRITE) !== 0) {
      entry = maybe_mkwrite(orBits(entry, _PAGE_ACCESSED | _PAGE_DIRTY), vma);
    }
    ptes[i] = entry;
    ret = VM_FAULT_NOPAGE;
  }
  k.clock.now += inode.devmap.faultNs;
  if (k.tracing) {
    k.trace.emit({ kind: "dax", op: "pte_fault", dev: inode.mapping.name, addr, ret });
  }
  return ret;
}

/** The vm_ops of a DAX file (ext4_dax_vm_ops: ->fault is the PTE-size dax_iomap_fault). */
export const dax_fs_vm_ops: DaxVmOps = {
  name: "dax-file",
  fault: (k, vmf) => dax_iomap_fault(k, vmf, PE_SIZE_PTE),
  huge_fault: dax_iomap_fault,
  close: devmapVmaClose,
  pte_fault_fast: dax_fs_pte_fault_fast,
};
