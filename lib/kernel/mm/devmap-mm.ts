/**
 * The mm pieces the DAX fault path needs beyond memory.ts and huge-memory.ts
 * (mm/memory.c, mm/huge_memory.c, include/linux/huge_mm.h, v4.20):
 *
 * - vm_operations_struct->huge_fault and the pud/pmd levels of
 *   __handle_mm_fault that call it — create_huge_pud / wp_huge_pud,
 *   create_huge_pmd / wp_huge_pmd for a non-anonymous VMA —
 *   ({@link handle_mm_fault_devmap}), delegating the pte level to
 *   handle_mm_fault (memory.ts), whose do_fault calls ->fault;
 * - insert_pfn and vmf_insert_mixed(_mkwrite) (a devmap pte is
 *   _PAGE_SPECIAL | _PAGE_DEVMAP, as pte_mkdevmap sets on x86; no page
 *   reference, no rmap, no rss), vmf_insert_pfn_pmd and vmf_insert_pfn_pud;
 * - zapping devmap entries: unmap_mapping_range over a file's mappings
 *   (what device-dax teardown runs) and the zap of huge devmap entries, which
 *   hold no page reference (zap_huge_pmd / zap_huge_pud's vma_is_dax case);
 * - vma_is_dax (the file's inode has S_DAX) and transparent_hugepage_enabled
 *   as 4.20 has it: a DAX VMA is huge-page capable whatever the THP mode,
 *   unless VM_NOHUGEPAGE.
 *
 * Where the shared page tables stop: PageTable (pgtable.ts) has no pud level,
 * and a huge pmd in it is treated as an anonymous THP (zap_huge_pmd puts the
 * page, __split_huge_pmd remaps its subpages). So huge devmap entries live in
 * a per-mm side table here ({@link DevmapTables}), keyed by pmd and pud index,
 * and what walks them is here, in gup.ts / gup-devmap.ts (the fault dispatch, zap,
 * GUP) and in lib/drivers/dax/uaccess.ts (the MMU's translation for a DAX
 * access). The vma's ->close drops the side entries of a VMA being removed
 * (munmap, exit), which in the kernel unmap_vmas would have zapped: the
 * outcome is the same because huge devmap entries hold no references.
 * Folding this into memory.ts / huge-memory.ts still means a pud map and
 * devmap pmds in PageTable, the huge_fault dispatch in handle_mm_fault, and
 * vma_is_dax branches in zap_huge_pmd and __split_huge_pmd_locked.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../kernel.ts";
import { handle_mm_fault, zap_page_range_single } from "./memory.ts";
import {
  type AddressSpace,
  FAULT_FLAG_WRITE,
  maybe_mkwrite,
  type MmStruct,
  newVmFault,
  S_ISCHR,
  VM_FAULT_FALLBACK,
  VM_FAULT_NOPAGE,
  VM_FAULT_SIGBUS,
  VM_MIXEDMAP,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
  VM_SHARED,
  VM_WRITE,
  type VmAreaStruct,
  type VmFault,
  type VmOps,
} from "./mm-types.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DEVMAP,
  _PAGE_DIRTY,
  _PAGE_RW,
  _PAGE_SPECIAL,
  orBits,
  pfn_pte,
  pte_index,
  pte_pfn,
  pte_present,
  pte_protnone,
  pte_write,
} from "./pgtable.ts";
import { HUB } from "./hub.ts";
import { pfn_t_devmap, type PfnT } from "./pfn-t.ts";

// Offsets inside a page, pmd or pud are taken with `&` here and in the other DAX files: exact for
// a non-negative integer address below 2^53 and a power-of-two size ≤ 2^31, while `%` on an
// address above 2^31 is a floating-point remainder (a libc call) on every fault.

/** PMD_SIZE. */
export const PMD_SIZE = 2 ** 21;
/** PUD_SIZE. */
export const PUD_SIZE = 2 ** 30;
/** enum page_entry_size: PE_SIZE_PTE. */
export const PE_SIZE_PTE = 0;
/** PE_SIZE_PMD. */
export const PE_SIZE_PMD = 1;
/** PE_SIZE_PUD. */
export const PE_SIZE_PUD = 2;
/** enum page_entry_size. */
export type PageEntrySize = 0 | 1 | 2;

/** vm_operations_struct with the members DAX VMAs use. */
export interface DaxVmOps extends VmOps {
  /** ->huge_fault(vmf, pe_size): VM_FAULT_* (FALLBACK: try the next size down). */
  huge_fault(k: Kernel, vmf: VmFault, pe_size: PageEntrySize): number;
  /** ->pagesize(vma): the mapping's page size (device-dax: its align). */
  pagesize?(vma: VmAreaStruct): number;
  /**
   * Simulator plumbing, not a kernel member: the whole page-size fault of a
   * none pte under an existing pte page in one call — what handle_mm_fault →
   * handle_pte_fault → do_fault → ->fault does for it, PGFAULT included —
   * or -1 (before touching anything) when the handler wants the general
   * path. Only called for a read, or a write to a shared mapping, with
   * FaultState.fastPaths set; the differential tests compare the two.
   * `address` is the faulting address (not page aligned); `ptes[i]` its pte.
   */
  pte_fault_fast?(
    k: Kernel,
    vma: VmAreaStruct,
    address: number,
    flags: number,
    ptes: Float64Array,
    i: number,
  ): number;
}

/** The huge devmap entries of one mm: pmd index (addr / 2 MiB) and pud index (addr / 1 GiB) → entry. */
export class DevmapTables {
  /** Huge devmap pmds. */
  readonly pmds: Map<number, number> = new Map();
  /** Huge devmap puds. */
  readonly puds: Map<number, number> = new Map();
}

/** Per-kernel state: side tables by mm, the inodes with S_DAX, fault costs. */
export interface DevmapState {
  /** Side tables by mm. */
  readonly tables: WeakMap<MmStruct, DevmapTables>;
  /** Inode mappings with S_DAX (device-dax inodes, files on a DAX filesystem). */
  readonly daxInodes: WeakSet<AddressSpace>;
  /** Simulated ns of one DAX fault (cost model cpu.zeroPageReadFault: a fault that installs an existing frame, nothing to clear). */
  readonly faultNs: number;
  /** Last mm asked for (hot-path cache). */
  lastMm: MmStruct | null;
  /** Its tables. */
  lastTables: DevmapTables | null;
}

/** The devmap state of a kernel. */
export const DEVMAP: SubsystemKey<DevmapState> = {
  name: "devmap-mm",
  create: (k: Kernel) => ({
    tables: new WeakMap(),
    daxInodes: new WeakSet(),
    faultNs: Math.round(k.cost.get("cpu.zeroPageReadFault")),
    lastMm: null,
    lastTables: null,
  }),
};

/** The side tables of `mm` (created on first use). */
export function devmapTables(k: Kernel, mm: MmStruct): DevmapTables {
  return devmapTablesOf(k.state(DEVMAP), mm);
}

/** The side tables of `mm` given the devmap state (hot paths hold the state). */
export function devmapTablesOf(st: DevmapState, mm: MmStruct): DevmapTables {
  if (st.lastMm === mm) return st.lastTables!;
  let t = st.tables.get(mm);
  if (t === undefined) {
    t = new DevmapTables();
    st.tables.set(mm, t);
  }
  st.lastMm = mm;
  st.lastTables = t;
  return t;
}

/** Marks an inode's mapping S_DAX (dax_open, a DAX filesystem's inode). */
export function set_inode_dax(k: Kernel, mapping: AddressSpace): void {
  k.state(DEVMAP).daxInodes.add(mapping);
}

/** vma_is_dax(vma): the mapped file's inode is S_DAX. */
export function vma_is_dax(k: Kernel, vma: VmAreaStruct): boolean {
  return vma.vm_file !== null && k.state(DEVMAP).daxInodes.has(vma.vm_file.f_mapping);
}

/**
 * vma_is_fsdax(vma) (include/linux/fs.h, v4.20): a file mapping that is
 * vma_is_dax and whose file_inode is not a character device — a file on a
 * DAX filesystem, not device-dax (/dev/daxX.Y is S_IFCHR).
 */
export function vma_is_fsdax(k: Kernel, vma: VmAreaStruct): boolean {
  if (vma.vm_file === null) return false;
  if (!vma_is_dax(k, vma)) return false;
  if (S_ISCHR(vma.vm_file.i_mode)) return false; // device-dax
  return true;
}

/**
 * transparent_hugepage_enabled(vma) (include/linux/huge_mm.h, v4.20) for a
 * DAX VMA: not with VM_NOHUGEPAGE; otherwise yes — `vma_is_dax` makes a DAX
 * VMA huge-page capable even when THP is "never" or "madvise".
 */
export function dax_transparent_hugepage_enabled(k: Kernel, vma: VmAreaStruct): boolean {
  if ((vma.vm_flags & VM_NOHUGEPAGE) !== 0) return false;
  return vma_is_dax(k, vma);
}

function traceFault(
  k: Kernel,
  op: "pte_fault" | "pmd_fault" | "pud_fault",
  vmf: VmFault,
  ret: number,
): void {
  k.trace.emit({
    kind: "dax",
    op,
    dev: vmf.vma.vm_file?.f_mapping.name ?? "",
    addr: vmf.address,
    ret,
  });
}

/** Emits the DAX fault trace event of a ->fault / ->huge_fault handler (when tracing). */
export function daxFaultEvent(k: Kernel, pe_size: PageEntrySize, vmf: VmFault, ret: number): void {
  if (k.tracing) {
    traceFault(
      k,
      pe_size === PE_SIZE_PTE ? "pte_fault" : pe_size === PE_SIZE_PMD ? "pmd_fault" : "pud_fault",
      vmf,
      ret,
    );
  }
}

/**
 * insert_pfn(vma, addr, pfn, prot, mkwrite) (mm/memory.c): installs a pte
 * for `pfn` — pte_mkdevmap for a devmap pfn (SPECIAL | DEVMAP), else
 * pte_mkspecial — if the pte is empty. With `mkwrite` an existing pte of the
 * same pfn becomes young, dirty and (if the VMA allows) writable, as does the
 * new one. No page reference, no rmap, no rss. Returns VM_FAULT_NOPAGE.
 */
function insert_pfn(
  _k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  pfn: PfnT,
  prot: number,
  mkwrite: boolean,
): number {
  const t = vma.vm_mm.pgd.alloc(addr);
  if (t.ptes === null) return VM_FAULT_NOPAGE; // a huge pmd raced in: the access retries
  const i = pte_index(addr);
  const old = t.ptes[i]!;
  let entry: number;
  if (old !== 0) {
    if (!mkwrite || pte_pfn(old) !== pfn.pfn) return VM_FAULT_NOPAGE;
    entry = old;
  } else {
    entry = orBits(
      pfn_pte(pfn.pfn, prot),
      pfn_t_devmap(pfn) ? _PAGE_SPECIAL | _PAGE_DEVMAP : _PAGE_SPECIAL,
    );
  }
  if (mkwrite) entry = maybe_mkwrite(orBits(entry, _PAGE_ACCESSED | _PAGE_DIRTY), vma);
  t.ptes[i] = entry;
  return VM_FAULT_NOPAGE;
}

/**
 * vmf_insert_mixed(vma, addr, pfn) (mm/memory.c, EXPORT_SYMBOL): SIGBUS
 * outside the VMA, else insert_pfn without mkwrite. The VMA need not be
 * VM_MIXEDMAP for a devmap pfn (vm_mixed_ok).
 */
export function vmf_insert_mixed(k: Kernel, vma: VmAreaStruct, addr: number, pfn: PfnT): number {
  if (addr < vma.vm_start || addr >= vma.vm_end) return VM_FAULT_SIGBUS;
  return insert_pfn(k, vma, addr, pfn, vma.vm_page_prot, false); // __vm_insert_mixed
}

/** vmf_insert_mixed_mkwrite(vma, addr, pfn): as vmf_insert_mixed, making the pte writable and dirty. */
export function vmf_insert_mixed_mkwrite(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  pfn: PfnT,
): number {
  if (addr < vma.vm_start || addr >= vma.vm_end) return VM_FAULT_SIGBUS;
  return insert_pfn(k, vma, addr, pfn, vma.vm_page_prot, true);
}

function hugeEntry(vma: VmAreaStruct, pfn: PfnT, write: boolean): number {
  let e = pfn_pte(pfn.pfn, vma.vm_page_prot);
  if (pfn_t_devmap(pfn)) e = orBits(e, _PAGE_DEVMAP);
  if (write) {
    e = orBits(e, _PAGE_ACCESSED | _PAGE_DIRTY);
    if ((vma.vm_flags & VM_WRITE) !== 0) e = orBits(e, _PAGE_RW);
  }
  return e;
}

/**
 * vmf_insert_pfn_pmd(vma, addr, pmd, pfn, write) (mm/huge_memory.c,
 * EXPORT_SYMBOL_GPL): a huge pmd for the 2 MiB at `addr` (pmd_mkdevmap for
 * a devmap pfn; young, dirty and writable-if-allowed for a write). A
 * non-devmap pfn in a VMA that is neither PFNMAP nor MIXEDMAP is a BUG.
 * SIGBUS outside the VMA. Returns VM_FAULT_NOPAGE. `_pmd` is the
 * kernel's `pmd` (vmf->pmd), kept for the argument order of v4.20/v5.0: the
 * model keeps huge devmap entries in side tables found from `addr` (see
 * {@link DevmapTables}), so it is not read, and callers pass null.
 */
export function vmf_insert_pfn_pmd(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  _pmd: unknown,
  pfn: PfnT,
  write: boolean,
): number {
  k.BUG_ON(
    !pfn_t_devmap(pfn) && (vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP)) === 0,
    "mm/huge_memory.c:vmf_insert_pfn_pmd",
  );
  if (addr < vma.vm_start || addr >= vma.vm_end) return VM_FAULT_SIGBUS;
  devmapTables(k, vma.vm_mm).pmds.set(Math.floor(addr / PMD_SIZE), hugeEntry(vma, pfn, write));
  return VM_FAULT_NOPAGE;
}

/**
 * vmf_insert_pfn_pud(vma, addr, pud, pfn, write) (mm/huge_memory.c,
 * EXPORT_SYMBOL_GPL): the same for 1 GiB; `_pud` as `_pmd` of
 * {@link vmf_insert_pfn_pmd}.
 */
export function vmf_insert_pfn_pud(
  k: Kernel,
  vma: VmAreaStruct,
  addr: number,
  _pud: unknown,
  pfn: PfnT,
  write: boolean,
): number {
  k.BUG_ON(
    !pfn_t_devmap(pfn) && (vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP)) === 0,
    "mm/huge_memory.c:vmf_insert_pfn_pud",
  );
  if (addr < vma.vm_start || addr >= vma.vm_end) return VM_FAULT_SIGBUS;
  devmapTables(k, vma.vm_mm).puds.set(Math.floor(addr / PUD_SIZE), hugeEntry(vma, pfn, write));
  return VM_FAULT_NOPAGE;
}

/** Whether nothing is mapped at pmd level inside the 1 GiB of pud index `pud` (pud_none). */
function pudNone(mm: MmStruct, t: DevmapTables, pud: number): boolean {
  if (t.puds.has(pud)) return false;
  const base = pud * 512;
  const tables = mm.pgd.tables;
  if (tables.size === 0 && t.pmds.size === 0) return true;
  for (let i = 0; i < 512; i++) {
    if (tables.has(base + i) || t.pmds.has(base + i)) return false;
  }
  return true;
}

/**
 * handle_mm_fault for a VMA whose ops have ->huge_fault: the pud and pmd
 * levels of __handle_mm_fault (mm/memory.c, v4.20). An empty pud of a
 * huge-capable VMA goes to create_huge_pud (->huge_fault(PE_SIZE_PUD)); a
 * huge devmap pud is write-faulted through wp_huge_pud or just marked young;
 * then the same at pmd level (create_huge_pmd / wp_huge_pmd); anything that
 * falls back goes to handle_mm_fault's pte level (its do_fault calls
 * ->fault). Other VMAs go straight to handle_mm_fault. Returns VM_FAULT_*.
 * A plain function (the fault path).
 */
export function handle_mm_fault_devmap(
  k: Kernel,
  vma: VmAreaStruct,
  address: number,
  flags: number,
): number {
  const ops = vma.vm_ops as DaxVmOps | null;
  if (ops === null || ops.huge_fault === undefined) return handle_mm_fault(k, vma, address, flags);
  const mm = vma.vm_mm;
  const st = k.state(DEVMAP);
  const t = devmapTablesOf(st, mm);
  // dax_transparent_hugepage_enabled, with the state at hand
  const thp = (vma.vm_flags & VM_NOHUGEPAGE) === 0 && vma.vm_file !== null &&
    st.daxInodes.has(vma.vm_file.f_mapping);
  if (!thp && t.puds.size === 0 && t.pmds.size === 0) {
    if (ops.pte_fault_fast !== undefined) {
      const ret = pte_fault_fast(k, vma, address, flags, ops);
      if (ret >= 0) return ret;
    }
    return handle_mm_fault(k, vma, address, flags);
  }
  const addr = address - (address & 4095); // not `%`: a float modulo is a libc call
  const dirty = (flags & FAULT_FLAG_WRITE) !== 0;
  const vmf = newVmFault(vma, addr, flags);
  const pudIdx = Math.floor(addr / PUD_SIZE);
  const pud = t.puds.get(pudIdx) ?? 0;
  if (pud === 0) {
    if (thp && pudNone(mm, t, pudIdx)) {
      const ret = ops.huge_fault(k, vmf, PE_SIZE_PUD); // create_huge_pud
      if ((ret & VM_FAULT_FALLBACK) === 0) return counted(k, ret);
    }
  } else {
    if (dirty && !pte_write(pud)) {
      const ret = ops.huge_fault(k, vmf, PE_SIZE_PUD); // wp_huge_pud
      if ((ret & VM_FAULT_FALLBACK) === 0) return counted(k, ret);
    } else {
      t.puds.set(pudIdx, orBits(pud, dirty ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED)); // huge_pud_set_accessed
      return counted(k, 0);
    }
  }
  const pmdIdx = Math.floor(addr / PMD_SIZE);
  const pmd = t.pmds.get(pmdIdx) ?? 0;
  if (pmd === 0) {
    if (thp && mm.pgd.lookup(addr) === undefined) {
      const ret = ops.huge_fault(k, vmf, PE_SIZE_PMD); // create_huge_pmd
      if ((ret & VM_FAULT_FALLBACK) === 0) return counted(k, ret);
    }
  } else {
    if (dirty && !pte_write(pmd)) {
      const ret = ops.huge_fault(k, vmf, PE_SIZE_PMD); // wp_huge_pmd
      if ((ret & VM_FAULT_FALLBACK) === 0) return counted(k, ret);
    } else {
      t.pmds.set(pmdIdx, orBits(pmd, dirty ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED)); // huge_pmd_set_accessed
      return counted(k, 0);
    }
  }
  return handle_mm_fault(k, vma, address, flags);
}

/**
 * The pte level of handle_mm_fault for a DAX VMA whose ops have a fused
 * none-pte fault ({@link DaxVmOps.pte_fault_fast}): taken when handle_mm_fault
 * would reach do_fault's ->fault with nothing in the way — not a private
 * write (that is do_cow_fault), a pte page present, the pte none. -1 sends
 * the fault down the general path.
 */
function pte_fault_fast(
  k: Kernel,
  vma: VmAreaStruct,
  address: number,
  flags: number,
  ops: DaxVmOps,
): number {
  if ((flags & FAULT_FLAG_WRITE) !== 0 && (vma.vm_flags & VM_SHARED) === 0) return -1;
  if (!k.state(HUB).faults.fastPaths) return -1;
  const addr = address - (address & 4095);
  const pt = vma.vm_mm.pgd.lookup(addr);
  if (pt === undefined || pt.ptes === null) return -1;
  const i = pte_index(addr);
  if (pt.ptes[i] !== 0) return -1;
  return ops.pte_fault_fast!(k, vma, address, flags, pt.ptes, i); // unaligned: no new box
}

/** The PGFAULT count of a fault resolved above the pte level (handle_mm_fault counts its own). */
function counted(k: Kernel, ret: number): number {
  k.state(HUB).faults.pgfault++;
  return ret;
}

/**
 * The MMU's walk for a user access: the pfn `addr` translates to, or -1
 * (fault). A huge devmap pud or pmd of the side tables first, then the
 * process page tables (present, not PROT_NONE, writable for a write).
 */
export function devmapTranslate(k: Kernel, mm: MmStruct, addr: number, write: boolean): number {
  return devmapTranslateIn(devmapTablesOf(k.state(DEVMAP), mm), mm, addr, write);
}

/** {@link devmapTranslate} with the side tables at hand. */
export function devmapTranslateIn(
  t: DevmapTables,
  mm: MmStruct,
  addr: number,
  write: boolean,
): number {
  if (t.puds.size !== 0) {
    const e = t.puds.get(Math.floor(addr / PUD_SIZE));
    if (e !== undefined) {
      if (write && !pte_write(e)) return -1;
      return pte_pfn(e) + Math.floor((addr & (PUD_SIZE - 1)) / 4096);
    }
  }
  if (t.pmds.size !== 0) {
    const e = t.pmds.get(Math.floor(addr / PMD_SIZE));
    if (e !== undefined) {
      if (write && !pte_write(e)) return -1;
      return pte_pfn(e) + Math.floor((addr & (PMD_SIZE - 1)) / 4096);
    }
  }
  const pt = mm.pgd.lookup(addr);
  if (pt === undefined) return -1;
  const e = pt.ptes === null ? pt.huge : pt.ptes[pte_index(addr)]!;
  if (e === 0 || !pte_present(e) || pte_protnone(e)) return -1;
  if (write && !pte_write(e)) return -1;
  return pt.ptes === null ? pte_pfn(e) + pte_index(addr) : pte_pfn(e);
}

/**
 * Zaps the huge devmap entries of [start, end) in `mm` (zap_huge_pud /
 * zap_huge_pmd for a DAX VMA: the entry is cleared; it held no page
 * reference). Returns the number of entries cleared.
 */
export function zap_devmap_huge(k: Kernel, mm: MmStruct, start: number, end: number): number {
  const t = devmapTables(k, mm);
  let n = 0;
  for (const [idx, map, size] of [[0, t.puds, PUD_SIZE], [1, t.pmds, PMD_SIZE]] as const) {
    void idx;
    if (map.size === 0) continue;
    for (const key of [...map.keys()]) {
      const a = key * size;
      if (a >= start && a + size <= end) {
        map.delete(key);
        n++;
      } else if (a < end && a + size > start) {
        // a partial zap of a huge devmap entry clears it (__split_huge_p?d for DAX: refault later)
        map.delete(key);
        n++;
      }
    }
  }
  return n;
}

/**
 * unmap_mapping_range(mapping, holebegin, holelen, even_cows) (mm/memory.c):
 * for every VMA mapping file pages [holebegin, holebegin + holelen) of
 * `mapping` (holelen 0: to the end), zap the addresses that map them — huge
 * devmap entries and ptes alike (zap_page_range_single, under the mmu
 * notifier). Device-dax teardown calls it with (0, 0, 1).
 */
export function unmap_mapping_range(
  k: Kernel,
  mapping: AddressSpace,
  holebegin: number,
  holelen: number,
  _even_cows: number,
): void {
  const first = Math.floor(holebegin / 4096);
  const last = holelen === 0 ? Infinity : Math.floor((holebegin + holelen - 1) / 4096);
  let zapped = 0;
  for (const vma of [...mapping.i_mmap]) {
    const vFirst = vma.vm_pgoff;
    const vLast = vma.vm_pgoff + (vma.vm_end - vma.vm_start) / 4096 - 1;
    if (vLast < first || vFirst > last) continue;
    const start = vma.vm_start + (Math.max(first, vFirst) - vFirst) * 4096;
    const end = last === Infinity
      ? vma.vm_end
      : Math.min(vma.vm_end, vma.vm_start + (last - vFirst + 1) * 4096);
    zapped += zap_devmap_huge(k, vma.vm_mm, start, end);
    zap_page_range_single(k, vma, start, end - start, null);
  }
  if (k.tracing) {
    k.trace.emit({ kind: "dax", op: "unmap", dev: mapping.name, addr: holebegin, ret: zapped });
  }
}

/** The ->close of DAX VMAs: drops the side-table entries of a VMA being removed (see the module doc). */
export function devmapVmaClose(k: Kernel, vma: VmAreaStruct): void {
  zap_devmap_huge(k, vma.vm_mm, vma.vm_start, vma.vm_end);
}
