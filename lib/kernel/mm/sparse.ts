/**
 * Adding and removing one sparse section (mm/sparse.c, v4.20; v5.0 only
 * passes nid instead of pgdat to sparse_add_one_section).
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { EEXIST, ENOMEM } from "../errno.ts";
import { PAGES_PER_SECTION, SECTIONS_PER_ROOT, STRUCT_PAGE_SIZE } from "./constants.ts";
import {
  linkSection,
  MemSection,
  MM,
  type PglistData,
  sectionOf,
  unlinkSection,
  type Zone,
} from "./mmzone.ts";
import { PAGE_POISON_WORD } from "./page-flags.ts";
import { sparse_mem_map_populate, vmemmap_free } from "./sparse-vmemmap.ts";
import type { VmemAltmap } from "./types.ts";

/**
 * sparse_index_init(section_nr, nid) (SPARSEMEM_EXTREME): allocates the root
 * leaf holding the section; -EEXIST when it already exists, else 0.
 */
export function sparse_index_init(k: Kernel, section_nr: number, _nid: number): number {
  const mm = k.state(MM);
  const root = Math.floor(section_nr / SECTIONS_PER_ROOT);
  if (mm.roots[root] !== null) return -EEXIST;
  mm.roots[root] = new Array(SECTIONS_PER_ROOT).fill(null);
  return 0;
}

/**
 * sparse_add_one_section(pgdat, start_pfn, altmap) (mm/sparse.c): gives the
 * section at start_pfn a memmap (through vmemmap, from the altmap if given)
 * and marks it present with a memmap — not online. Its struct pages are
 * poisoned until a memmap init writes them. The model keeps v4.20's
 * signature at every level: v5.0 takes `int nid` where v4.20 takes the
 * node's pgdat (only pgdat->node_id is read), the same node either way.
 *
 * Returns 0; -ENOMEM when the memmap ("vmemmap_populate") or the usemap
 * ("sparse_add_one_section" fault point) cannot be allocated — in the latter
 * case the memmap is freed again (its altmap blocks go back, the alignment
 * padding does not); -EEXIST when the section is already present.
 */
export function sparse_add_one_section(
  k: Kernel,
  pgdat: PglistData,
  start_pfn: number,
  altmap: VmemAltmap | null,
): number {
  const mm = k.state(MM);
  const section_nr = Math.floor(start_pfn / PAGES_PER_SECTION);
  const ret = sparse_index_init(k, section_nr, pgdat.node_id);
  if (ret < 0 && ret !== -EEXIST) return ret;
  const memmap = sparse_mem_map_populate(k, section_nr, pgdat.node_id, altmap);
  if (memmap === null) return -ENOMEM;
  const map = memmap * STRUCT_PAGE_SIZE;
  const mapEnd = (memmap + PAGES_PER_SECTION) * STRUCT_PAGE_SIZE;
  if (k.faults.shouldFail("sparse_add_one_section")) {
    // __kmalloc_section_usemap() failed
    vmemmap_free(k, map, mapEnd, altmap);
    return -ENOMEM;
  }
  if (sectionOf(mm, start_pfn) !== null) {
    vmemmap_free(k, map, mapEnd, altmap);
    return -EEXIST;
  }
  // page_init_poison, section_mark_present, sparse_init_one_section
  const ms = new MemSection(section_nr, pgdat.node_id, PAGE_POISON_WORD);
  ms.vmemmapPfn = mm.vmemmapBlocks.get(section_nr) ?? -1;
  linkSection(mm, ms);
  return 0;
}

/**
 * sparse_remove_one_section(zone, ms, map_offset, altmap) (mm/sparse.c):
 * clears the section and frees its memmap — the struct pages are gone; any
 * later access Oopses. Altmap blocks go back through vmem_altmap_free.
 * (map_offset only limits the hwpoison sweep, which the model does not have.)
 */
export function sparse_remove_one_section(
  k: Kernel,
  _zone: Zone,
  ms: MemSection,
  _map_offset: number,
  altmap: VmemAltmap | null,
): void {
  const mm = k.state(MM);
  const map = ms.nr * PAGES_PER_SECTION * STRUCT_PAGE_SIZE;
  unlinkSection(mm, ms);
  vmemmap_free(k, map, map + PAGES_PER_SECTION * STRUCT_PAGE_SIZE, altmap);
}
