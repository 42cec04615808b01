/**
 * include/linux/pfn_t.h (v4.20): pfn_t, a pfn and its PFN_* flags, as DAX
 * drivers hand it to the mm (vmf_insert_mixed, vmf_insert_pfn_pmd/pud). The
 * model keeps the two apart in a reusable {@link PfnT} so the fault path
 * allocates nothing.
 *
 * @module
 */

/** pfn_t flag PFN_DEV: the pfn is device memory (the model's bit value). */
export const PFN_DEV = 1;
/** pfn_t flag PFN_MAP: the device memory has struct pages (devmap). */
export const PFN_MAP = 2;

/** A pfn_t: a pfn and its PFN_* flags. */
export class PfnT {
  /** The pfn. */
  pfn = 0;
  /** PFN_DEV | PFN_MAP | ... */
  flags = 0;
}

/** pfn_t_devmap(pfn): PFN_DEV and PFN_MAP both set. */
export function pfn_t_devmap(pfn: PfnT): boolean {
  return (pfn.flags & (PFN_DEV | PFN_MAP)) === (PFN_DEV | PFN_MAP);
}

/** phys_to_pfn_t(addr, flags) into `out`. */
export function phys_to_pfn_t(addr: number, flags: number, out: PfnT): PfnT {
  out.pfn = Math.floor(addr / 4096);
  out.flags = flags;
  return out;
}
