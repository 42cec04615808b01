/**
 * Booting the memory model: what setup_arch, paging_init, sparse_init and
 * memory_dev_init leave behind on x86_64 (v4.20).
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { PAGE_SIZE, PAGES_PER_SECTION, ZONE_DMA, ZONE_DMA32 } from "./constants.ts";
import {
  linkSection,
  MM,
  type MmConfig,
  type MmState,
  PglistData,
  ramZoneOf,
  resizeZoneRange,
  sectionOf,
} from "./mmzone.ts";
import { initWord, withRef } from "./page-flags.ts";
import { MemSection, SECTION_IS_ONLINE } from "./section.ts";

function checkRange(what: string, v: unknown, limit: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v % PAGE_SIZE !== 0) {
    throw new RangeError(`Cannot boot mm: ${what} must be a page-aligned byte address, got ${v}`);
  }
  if (v > limit) {
    throw new RangeError(
      `Cannot boot mm: ${what} 0x${v.toString(16)} is beyond MAX_PHYSMEM_BITS (0x${
        limit.toString(16)
      })`,
    );
  }
  return v;
}

/**
 * Boots the memory model (what setup_arch / paging_init / sparse_init and
 * memory_dev_init leave behind). A simulator entry point, not a model of
 * init/main.c's `mm_init(void)` (which sets up the allocators after this
 * state exists): it takes the machine's memory layout and returns the
 * memory model's state. The paging mode decides MAX_PHYSMEM_BITS
 * (46 or 52) and NR_MEM_SECTIONS (2^19 or 2^25); every section touched by
 * System RAM is present, has a memmap and is online, with a memory block.
 * RAM pages start free (refcount 0) in DMA / DMA32 / Normal by address;
 * memmap holes inside a RAM section are zeroed struct pages (as
 * zero_resv_unavail leaves them). The RAM is direct-mapped. Call once, before
 * anything else uses the memory model (the machine layer does); creating the
 * memory model's state also registers its fault points (MM_FAULT_POINTS), so
 * arm them after mm_init.
 *
 * @example
 * ```ts
 * import { Kernel } from "../kernel.ts";
 * import { mm_init, pfn_valid } from "./mmzone.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel();
 * mm_init(k, { paging: "5-level", ram: [{ start: 0, end: 2 ** 30 }] });
 * assertEquals([pfn_valid(k, 0x1000), pfn_valid(k, 0x40000)], [true, false]);
 * ```
 */
export function mm_init(k: Kernel, cfg: MmConfig = {}): MmState {
  const mm = k.state(MM);
  if (mm.booted || mm.presentSections > 0) {
    throw new TypeError("Cannot boot mm: mm_init already ran (or sections exist) on this kernel");
  }
  if (cfg.paging !== undefined && cfg.paging !== "4-level" && cfg.paging !== "5-level") {
    throw new RangeError(
      `Cannot boot mm: paging must be "4-level" or "5-level", got ${cfg.paging}`,
    );
  }
  mm.configure(cfg);
  const limit = 2 ** mm.MAX_PHYSMEM_BITS;
  const ram = (cfg.ram ?? []).map((r, i) => {
    const start = checkRange(`ram[${i}].start`, r.start, limit);
    const end = checkRange(`ram[${i}].end`, r.end, limit);
    const nid = r.nid ?? 0;
    if (end <= start) throw new RangeError(`Cannot boot mm: ram[${i}] is empty or reversed`);
    if (!Number.isInteger(nid) || nid < 0) {
      throw new RangeError(`Cannot boot mm: ram[${i}].nid must be a non-negative integer`);
    }
    return { start, end, nid };
  }).sort((a, b) => a.start - b.start);
  for (let i = 1; i < ram.length; i++) {
    if (ram[i]!.start < ram[i - 1]!.end) {
      throw new RangeError("Cannot boot mm: System RAM ranges overlap");
    }
  }
  const nodes = cfg.nodes ?? Math.max(0, ...ram.map((r) => r.nid)) + 1;
  if (!Number.isInteger(nodes) || nodes < 1 || ram.some((r) => r.nid >= nodes)) {
    throw new RangeError(`Cannot boot mm: nodes (${nodes}) must cover every ram nid`);
  }
  mm.nodes = Array.from({ length: nodes }, (_, i) => new PglistData(i));
  mm.ram = ram;
  for (const r of ram) {
    let pfn = r.start / PAGE_SIZE;
    const end = r.end / PAGE_SIZE;
    while (pfn < end) {
      // one piece: within one section and one zone
      const secEnd = (Math.floor(pfn / PAGES_PER_SECTION) + 1) * PAGES_PER_SECTION;
      const zone = ramZoneOf(pfn);
      const zoneEnd = zone === ZONE_DMA ? 0x1000 : zone === ZONE_DMA32 ? 0x100000 : Infinity;
      const pieceEnd = Math.min(end, secEnd, zoneEnd);
      let ms = sectionOf(mm, pfn);
      if (ms === null) {
        ms = new MemSection(Math.floor(pfn / PAGES_PER_SECTION), r.nid, 0);
        ms.flags |= SECTION_IS_ONLINE;
        ms.memblock = true;
        linkSection(mm, ms);
      }
      const base = ms.nr * PAGES_PER_SECTION;
      ms.fillRange(pfn - base, pieceEnd - base, withRef(initWord(zone, 0), 0), null);
      const z = mm.nodes[r.nid]!.node_zones[zone]!;
      resizeZoneRange(z, pfn, pieceEnd - pfn);
      z.present_pages += pieceEnd - pfn;
      z.initialized = true;
      pfn = pieceEnd;
    }
    mm.max_pfn = Math.max(mm.max_pfn, end);
    mm.directMap.push([r.start, r.end]);
  }
  mm.highest_memmap_pfn = mm.max_pfn > 0 ? mm.max_pfn - 1 : 0;
  mm.booted = true;
  return mm;
}
