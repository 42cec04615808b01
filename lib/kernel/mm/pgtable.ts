/**
 * Page-table entries and a process's page tables (x86_64 4-level paging:
 * arch/x86/include/asm/pgtable.h, pgtable_types.h; include/linux/swapops.h,
 * swap.h, v4.20).
 *
 * An entry is a JS number (exact up to 2^53):
 *
 * ```
 *  present (or PROT_NONE) pte / pmd:   pfn * 2^8 + flags
 *    flags: PRESENT 0x01 | RW 0x02 | DIRTY 0x04 | ACCESSED 0x08
 *           | SPECIAL 0x10 | DEVMAP 0x20 | PROTNONE 0x40
 *  swap pte (not present):              (offset * 2^5 + type) * 2^8 + 0x80
 *  pte_none:                            0
 * ```
 *
 * Swap types (MAX_SWAPFILES_SHIFT 5, with CONFIG_MIGRATION,
 * CONFIG_MEMORY_FAILURE and CONFIG_DEVICE_PRIVATE): MAX_SWAPFILES = 27,
 * SWP_HWPOISON 27, SWP_MIGRATION_READ 28 / _WRITE 29, SWP_DEVICE_WRITE 30,
 * SWP_DEVICE_READ 31. A device-private entry's offset is the device page's
 * pfn (make_device_private_entry).
 *
 * A process's page tables are one {@link PageTable}: a map from the 2 MiB
 * region (pmd index) to a {@link PteTable} holding either 512 ptes in a
 * Float64Array or a huge pmd (a THP, the huge zero page, a hugetlb page).
 * The upper levels (pgd, p4d, pud) are implicit: they always exist.
 *
 * @module
 */

/** _PAGE_PRESENT. */
export const _PAGE_PRESENT = 0x01;
/** _PAGE_RW. */
export const _PAGE_RW = 0x02;
/** _PAGE_DIRTY. */
export const _PAGE_DIRTY = 0x04;
/** _PAGE_ACCESSED. */
export const _PAGE_ACCESSED = 0x08;
/** _PAGE_SPECIAL (software bit: no struct page refcounting, e.g. the zero page). */
export const _PAGE_SPECIAL = 0x10;
/** _PAGE_DEVMAP (software bit). */
export const _PAGE_DEVMAP = 0x20;
/** _PAGE_PROTNONE (PROT_NONE mapping: pte_present but not accessible). */
export const _PAGE_PROTNONE = 0x40;
/** The model's marker bit of a non-present swap entry. */
export const _PAGE_SWP = 0x80;
/** Flag bits of an entry. */
export const PTE_FLAGS_MASK = 0xff;
/** Bits pte_modify replaces (the protection); the rest (pfn, dirty, young, special, devmap) stay. */
export const _PAGE_CHG_MASK = _PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_SPECIAL | _PAGE_DEVMAP;

/** MAX_SWAPFILES with MIGRATION, HWPOISON and DEVICE_PRIVATE configured. */
export const MAX_SWAPFILES = 27;
/** SWP_HWPOISON. */
export const SWP_HWPOISON = 27;
/** SWP_MIGRATION_READ. */
export const SWP_MIGRATION_READ = 28;
/** SWP_MIGRATION_WRITE. */
export const SWP_MIGRATION_WRITE = 29;
/** SWP_DEVICE_WRITE. */
export const SWP_DEVICE_WRITE = 30;
/** SWP_DEVICE_READ. */
export const SWP_DEVICE_READ = 31;

/** PTRS_PER_PTE. */
export const PTRS_PER_PTE = 512;
/** PMD_SHIFT. */
export const PMD_SHIFT = 21;
/** HPAGE_PMD_SIZE (= PMD_SIZE). */
export const HPAGE_PMD_SIZE = 2 ** PMD_SHIFT;
/** TASK_SIZE_MAX with 4-level paging: the end of user space. */
export const TASK_SIZE = 2 ** 47 - 4096;

/**
 * `v | bits` for a value wider than 32 bits (JS `|` truncates to int32):
 * sets the low flag bits `bits` (< 2^31) of a non-negative integer `v`.
 */
export function orBits(v: number, bits: number): number {
  return v + (bits - (v & bits));
}

/** `v & ~bits` for a value wider than 32 bits. */
export function clearBits(v: number, bits: number): number {
  return v - (v & bits);
}

// ---- ptes ----

/** pte_none(pte). */
export function pte_none(pte: number): boolean {
  return pte === 0;
}

/** pte_present(pte): present or PROT_NONE. */
export function pte_present(pte: number): boolean {
  return (pte & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
}

/** pte_protnone(pte). */
export function pte_protnone(pte: number): boolean {
  return (pte & (_PAGE_PRESENT | _PAGE_PROTNONE)) === _PAGE_PROTNONE;
}

/** pte_write(pte). */
export function pte_write(pte: number): boolean {
  return (pte & _PAGE_RW) !== 0;
}

/** pte_dirty(pte). */
export function pte_dirty(pte: number): boolean {
  return (pte & _PAGE_DIRTY) !== 0;
}

/** pte_young(pte). */
export function pte_young(pte: number): boolean {
  return (pte & _PAGE_ACCESSED) !== 0;
}

/** pte_special(pte). */
export function pte_special(pte: number): boolean {
  return (pte & _PAGE_SPECIAL) !== 0;
}

/** pte_devmap(pte). */
export function pte_devmap(pte: number): boolean {
  return (pte & _PAGE_DEVMAP) !== 0;
}

/** pte_pfn(pte). */
export function pte_pfn(pte: number): number {
  return Math.floor(pte / 256); // = (pte - (pte & PTE_FLAGS_MASK)) / 256
}

/** pfn_pte(pfn, prot) / mk_pte(page, prot). */
export function pfn_pte(pfn: number, prot: number): number {
  return pfn * 256 + (prot & PTE_FLAGS_MASK);
}

/** pte_mkwrite(pte). */
export function pte_mkwrite(pte: number): number {
  return (pte & _PAGE_RW) !== 0 ? pte : pte + _PAGE_RW;
}

/** pte_wrprotect(pte). */
export function pte_wrprotect(pte: number): number {
  return (pte & _PAGE_RW) !== 0 ? pte - _PAGE_RW : pte;
}

/** pte_mkdirty(pte). */
export function pte_mkdirty(pte: number): number {
  return (pte & _PAGE_DIRTY) !== 0 ? pte : pte + _PAGE_DIRTY;
}

/** pte_mkclean(pte). */
export function pte_mkclean(pte: number): number {
  return (pte & _PAGE_DIRTY) !== 0 ? pte - _PAGE_DIRTY : pte;
}

/** pte_mkyoung(pte). */
export function pte_mkyoung(pte: number): number {
  return (pte & _PAGE_ACCESSED) !== 0 ? pte : pte + _PAGE_ACCESSED;
}

/** pte_mkold(pte). */
export function pte_mkold(pte: number): number {
  return (pte & _PAGE_ACCESSED) !== 0 ? pte - _PAGE_ACCESSED : pte;
}

/** pte_mkspecial(pte). */
export function pte_mkspecial(pte: number): number {
  return (pte & _PAGE_SPECIAL) !== 0 ? pte : pte + _PAGE_SPECIAL;
}

/** pte_modify(pte, newprot): new protection bits, keeping pfn, dirty, young, special, devmap. */
export function pte_modify(pte: number, newprot: number): number {
  const f = pte & PTE_FLAGS_MASK;
  const keep = f & _PAGE_CHG_MASK;
  const prot = newprot & (_PAGE_PRESENT | _PAGE_RW | _PAGE_PROTNONE);
  return pte - f + (keep | prot);
}

// ---- swap entries ----

/** swp_entry(type, offset): a swp_entry_t value. */
export function swp_entry(type: number, offset: number): number {
  return offset * 32 + type;
}

/** swp_type(entry). */
export function swp_type(entry: number): number {
  return entry & 31;
}

/** swp_offset(entry). */
export function swp_offset(entry: number): number {
  return (entry - (entry & 31)) / 32;
}

/** swp_entry_to_pte(entry). */
export function swp_entry_to_pte(entry: number): number {
  return entry * 256 + _PAGE_SWP;
}

/** pte_to_swp_entry(pte). */
export function pte_to_swp_entry(pte: number): number {
  return (pte - (pte & PTE_FLAGS_MASK)) / 256;
}

/** is_swap_pte(pte): not none and not present. */
export function is_swap_pte(pte: number): boolean {
  return pte !== 0 && !pte_present(pte);
}

/** non_swap_entry(entry): a migration, hwpoison or device entry. */
export function non_swap_entry(entry: number): boolean {
  return (entry & 31) >= MAX_SWAPFILES;
}

/** make_device_private_entry(page, write). */
export function make_device_private_entry(page: number, write: boolean): number {
  return swp_entry(write ? SWP_DEVICE_WRITE : SWP_DEVICE_READ, page);
}

/** is_device_private_entry(entry). */
export function is_device_private_entry(entry: number): boolean {
  const t = entry & 31;
  return t === SWP_DEVICE_READ || t === SWP_DEVICE_WRITE;
}

/** is_write_device_private_entry(entry). */
export function is_write_device_private_entry(entry: number): boolean {
  return (entry & 31) === SWP_DEVICE_WRITE;
}

/**
 * make_device_private_entry_read(entry) (include/linux/swapops.h): turns
 * `*entry` into the read-only version in place (`entry.v`, the model's
 * `swp_entry_t *`); returns nothing, as in the kernel.
 */
export function make_device_private_entry_read(entry: { v: number }): void {
  entry.v = swp_entry(SWP_DEVICE_READ, swp_offset(entry.v));
}

/** device_private_entry_to_pfn(entry) = device_private_entry_to_page(entry) in the model. */
export function device_private_entry_to_page(entry: number): number {
  return swp_offset(entry);
}

/** make_migration_entry(page, write). */
export function make_migration_entry(page: number, write: boolean): number {
  return swp_entry(write ? SWP_MIGRATION_WRITE : SWP_MIGRATION_READ, page);
}

/** is_migration_entry(entry). */
export function is_migration_entry(entry: number): boolean {
  const t = entry & 31;
  return t === SWP_MIGRATION_READ || t === SWP_MIGRATION_WRITE;
}

/** is_write_migration_entry(entry). */
export function is_write_migration_entry(entry: number): boolean {
  return (entry & 31) === SWP_MIGRATION_WRITE;
}

/** migration_entry_to_page(entry). */
export function migration_entry_to_page(entry: number): number {
  return swp_offset(entry);
}

/** is_hwpoison_entry(entry). */
export function is_hwpoison_entry(entry: number): boolean {
  return (entry & 31) === SWP_HWPOISON;
}

// ---- page tables ----

// The hot index computations below divide by literal powers of two, which the JIT turns into an
// exact multiplication; a division by an imported constant stays a floating-point division.

/**
 * The ptes of one 2 MiB region, or the huge pmd that maps it whole.
 * `huge` is 0 for a regular pmd (then `ptes` is the pte page) and the pmd
 * value for a trans-huge / hugetlb pmd (then `ptes` is null).
 */
export class PteTable {
  /** The 512 ptes, or null while the pmd is huge. */
  ptes: Float64Array | null;
  /** The huge pmd value, or 0. */
  huge = 0;
  /** Creates a pte page of 512 empty ptes. */
  constructor() {
    this.ptes = new Float64Array(PTRS_PER_PTE);
  }
}

/** A process's page tables (the pgd of an mm_struct). */
export class PageTable {
  /** pmd index (address / 2 MiB) → its table. */
  readonly tables: Map<number, PteTable> = new Map();
  #lastIdx = -1;
  #last: PteTable | undefined = undefined;

  /** The table covering `addr`, or undefined (pmd_none). */
  lookup(addr: number): PteTable | undefined {
    const idx = Math.floor(addr / 2097152); // HPAGE_PMD_SIZE
    if (idx === this.#lastIdx) return this.#last;
    const t = this.tables.get(idx);
    this.#lastIdx = idx;
    this.#last = t;
    return t;
  }

  /** pte_alloc / pmd_alloc: the table covering `addr`, created if missing. */
  alloc(addr: number): PteTable {
    let t = this.lookup(addr);
    if (t === undefined) {
      t = new PteTable();
      const idx = Math.floor(addr / 2097152); // HPAGE_PMD_SIZE
      this.tables.set(idx, t);
      this.#lastIdx = idx;
      this.#last = t;
    }
    return t;
  }

  /** Frees the table covering `addr` (free_pgtables for a region no VMA uses any more). */
  free(addr: number): void {
    const idx = Math.floor(addr / HPAGE_PMD_SIZE);
    this.tables.delete(idx);
    if (idx === this.#lastIdx) this.#lastIdx = -1;
  }

  /** Number of pte pages and huge pmds. */
  get size(): number {
    return this.tables.size;
  }
}

/** pte_index(addr). */
export function pte_index(addr: number): number {
  return Math.floor(addr / 4096) & 511; // PTRS_PER_PTE - 1
}

/** pmd_addr_end(addr, end): the next 2 MiB boundary, capped at end. */
export function pmd_addr_end(addr: number, end: number): number {
  const b = (Math.floor(addr / HPAGE_PMD_SIZE) + 1) * HPAGE_PMD_SIZE;
  return b < end ? b : end;
}

/** The pte at `addr` (0 when no pte page exists or the pmd is huge). */
export function pteAt(pt: PageTable, addr: number): number {
  const t = pt.lookup(addr);
  if (t === undefined || t.ptes === null) return 0;
  return t.ptes[pte_index(addr)]!;
}

/** pmd_trans_huge(*pmd) (or a hugetlb pmd): the region is mapped by one huge entry. */
export function pmdIsHuge(t: PteTable | undefined): boolean {
  return t !== undefined && t.huge !== 0;
}
