/**
 * The devmap pmd / pud lookups of mm/huge_memory.c (v4.20) that
 * follow_page_mask (mm/gup.c, lib/kernel/mm/gup.ts) calls: follow_devmap_pmd
 * and follow_devmap_pud, over the huge devmap entries of devmap-mm.ts's side
 * tables.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EEXIST, EFAULT, ERR_PTR } from "../errno.ts";
import { get_dev_pagemap } from "../memremap.ts";
import { FOLL_GET, FOLL_WRITE, type VmAreaStruct } from "./mm-types.ts";
import { pte_pfn, pte_write } from "./pgtable.ts";
import { get_page } from "./swap.ts";
import { PMD_SIZE, PUD_SIZE } from "./devmap-mm.ts";
import type { Followed, FollowPageContext } from "./gup.ts";

const ERR_EEXIST = ERR_PTR(-EEXIST);
const ERR_EFAULT = ERR_PTR(-EFAULT);

/** The shared body of follow_devmap_pmd / follow_devmap_pud: the entry maps `size` bytes. */
function follow_devmap_huge(
  k: Kernel,
  addr: number,
  entry: number,
  size: number,
  flags: number,
  ctx: FollowPageContext,
): Followed {
  if ((flags & FOLL_WRITE) !== 0 && !pte_write(entry)) return null;
  // device mapped pages can only be returned if the caller manages the page reference
  if ((flags & FOLL_GET) === 0) return ERR_EEXIST;
  const pfn = pte_pfn(entry) + Math.floor((addr & (size - 1)) / 4096);
  ctx.pgmap = get_dev_pagemap(k, pfn, ctx.pgmap);
  if (ctx.pgmap === null) return ERR_EFAULT;
  get_page(k, pfn);
  return pfn;
}

/**
 * follow_devmap_pmd(vma, addr, pmd, flags, pgmap) (mm/huge_memory.c): a
 * write to a read-only pmd → NULL; without FOLL_GET → -EEXIST; else
 * get_dev_pagemap(pfn, ctx.pgmap) (NULL → -EFAULT) and get_page on the
 * subpage at `addr`.
 */
export function follow_devmap_pmd(
  k: Kernel,
  _vma: VmAreaStruct,
  addr: number,
  pmd: number,
  flags: number,
  ctx: FollowPageContext,
): Followed {
  return follow_devmap_huge(k, addr, pmd, PMD_SIZE, flags, ctx);
}

/**
 * follow_devmap_pud(vma, addr, pud, flags, pgmap) (mm/huge_memory.c): as
 * {@link follow_devmap_pmd} for a 1 GiB devmap pud.
 */
export function follow_devmap_pud(
  k: Kernel,
  _vma: VmAreaStruct,
  addr: number,
  pud: number,
  flags: number,
  ctx: FollowPageContext,
): Followed {
  return follow_devmap_huge(k, addr, pud, PUD_SIZE, flags, ctx);
}
