/**
 * Device memory as the invariant checker reads it, without touching the
 * kernel's state: a dmirror device's pages in use (their backing system
 * page in hmm_data) and a nouveau GPU's (VRAM, through the page's chunk),
 * and word 0 of the page a process maps at an address — a system page, or
 * the device's copy behind a device-private entry.
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";
import { PAGE_SIZE, PAGES_PER_SECTION } from "../kernel/mm/constants.ts";
import { MM, sectionOf } from "../kernel/mm/mmzone.ts";
import type { MmStruct } from "../kernel/mm/mm-types.ts";
import {
  is_device_private_entry,
  pte_pfn,
  pte_present,
  pte_to_swp_entry,
  swp_offset,
} from "../kernel/mm/pgtable.ts";
import { pageReadWord } from "../kernel/mm/page-contents.ts";
import { EXT_PRIVATE, EXT_STRIDE, extGet64, pageIdx } from "../kernel/mm/page-ext.ts";
import { type DmirrorDevice, dmirrorDevices } from "../drivers/dmirror.ts";
import type { NouveauDrm } from "../drivers/gpu/drm.ts";

/** Whether `pfn` is one of the device pages of the dmirror device `md` (its devmem is set). */
export function ownsPfn(md: DmirrorDevice, pfn: number): boolean {
  const d = md.devmem!;
  return pfn >= d.pfn_first && pfn < d.pfn_last;
}

/** Calls fn(device page, backing page) for each in-use page of a bound dmirror device (hmm_data set). */
export function forDevicePages(
  k: Kernel,
  md: DmirrorDevice,
  fn: (dpage: number, rpage: number) => void,
): void {
  const d = md.devmem;
  if (d === null || md.dev.driver === null) return; // an unbound device's devmem is stale
  const mm = k.state(MM);
  for (let pfn = d.pfn_first; pfn < d.pfn_last;) {
    const secBase = Math.floor(pfn / PAGES_PER_SECTION) * PAGES_PER_SECTION;
    const b = Math.min(d.pfn_last, secBase + PAGES_PER_SECTION);
    const rec = sectionOf(mm, pfn)?.ext?.rec;
    if (rec !== null && rec !== undefined) {
      for (let q = pfn; q < b; q++) {
        const r = extGet64(rec, pageIdx(q) * EXT_STRIDE + EXT_PRIVATE);
        if (r !== 0) fn(q, r);
      }
    }
    pfn = b;
  }
}

/** What readUserWord0 returns for a device-private page its driver has freed. */
export const DATA_NOT_KEPT = Symbol("data not kept");

/** Word 0 of the page `mm` maps at `addr`, without faulting: null when nothing maps it. */
export function readUserWord0(
  k: Kernel,
  gpus: ReadonlySet<NouveauDrm>,
  mm: MmStruct,
  addr: number,
): number | null | typeof DATA_NOT_KEPT {
  const t = mm.pgd.lookup(addr);
  if (t === undefined) return null;
  let pte: number;
  if (t.huge !== 0) {
    pte = t.huge;
    if (!pte_present(pte)) return null;
    return pageReadWord(k, pte_pfn(pte) + ((addr % (512 * PAGE_SIZE)) / PAGE_SIZE | 0), 0);
  }
  pte = t.ptes![Math.floor(addr / PAGE_SIZE) % 512]!;
  if (pte === 0) return null;
  if (pte_present(pte)) return pageReadWord(k, pte_pfn(pte), 0);
  const e = pte_to_swp_entry(pte);
  if (!is_device_private_entry(e)) return null;
  const dpage = swp_offset(e);
  const md = dmirrorDevices(k).find((d) =>
    d.devmem !== null && d.dev.driver !== null && ownsPfn(d, dpage)
  );
  if (md === undefined) return readGpuWord0(k, gpus, dpage);
  const rpage = privateOf(k, dpage);
  return rpage === 0 ? DATA_NOT_KEPT : pageReadWord(k, rpage, 0);
}

/** Word 0 of a nouveau device page: in VRAM, at the page's chunk's bo; DATA_NOT_KEPT once the driver let it go. */
export function readGpuWord0(
  k: Kernel,
  gpus: ReadonlySet<NouveauDrm>,
  dpage: number,
): number | null | typeof DATA_NOT_KEPT {
  // a bound device first: an earlier, unbound one may have had the same range
  const order = [...gpus].sort((a, b) =>
    Number(b.pdev.driver !== null) - Number(a.pdev.driver !== null)
  );
  for (const drm of order) {
    const d = drm.dmem?.devmem;
    if (d === null || d === undefined || dpage < d.pfn_first || dpage >= d.pfn_last) continue;
    // nouveau_dmem_fini at remove gives the chunks up whatever is still mapped
    if (drm.pdev.driver === null || drm.pdev.releasing !== null) return DATA_NOT_KEPT;
    const idx = privateOf(k, dpage);
    const c = drm.dmem!.chunks[idx - 1];
    if (c === undefined || c.freed || c.bo === null) return DATA_NOT_KEPT;
    const i = dpage - c.pfn_first;
    if ((c.bitmap[i >>> 5]! & (1 << (i & 31))) === 0) return DATA_NOT_KEPT; // freed by the driver
    return drm.gpu.vram.readWord((c.bo.offset + i * PAGE_SIZE) / PAGE_SIZE, 0);
  }
  return null;
}

/** page->private of `pfn` read without materialising anything (0 when never set). */
function privateOf(k: Kernel, pfn: number): number {
  const rec = sectionOf(k.state(MM), pfn)?.ext?.rec;
  return rec === null || rec === undefined
    ? 0
    : extGet64(rec, pageIdx(pfn) * EXT_STRIDE + EXT_PRIVATE);
}
