/**
 * memmap initialisation for hot-added memory (mm/page_alloc.c, v4.20 = v5.0):
 * memmap_init_zone in its MEMMAP_HOTPLUG context and memmap_init_zone_device.
 *
 * The kernel writes every struct page of the range; the model writes one
 * section descriptor per whole section (O(sections)) and per-page words only
 * for partial sections. Simulated time is charged as if every page were
 * written (memmap.initPerSection per whole section, memmap.initPerPage per
 * page of a partial one). The kernel's cond_resched per pageblock is not a
 * preemption point here: each function runs to completion.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { pr_info, WARN_ON_ONCE } from "../printk.ts";
import { PAGES_PER_SECTION, ZONE_DEVICE } from "./constants.ts";
import { nullDeref, vmemmapFault } from "./memmap.ts";
import { installPgmapHolderSource } from "./holders.ts";
import { is_dev_zone, MM, type MmState, sectionOf, type Zone } from "./mmzone.ts";
import { initWord, PG_reserved } from "./page-flags.ts";
import { vmem_altmap_offset } from "./sparse-vmemmap.ts";
import type { DevPagemap, VmemAltmap } from "./types.ts";

/** enum memmap_context: boot-time init. */
export const MEMMAP_EARLY = 0;
/** enum memmap_context: hot-added memory. */
export const MEMMAP_HOTPLUG = 1;

/**
 * @internal writes `word` (and page->pgmap unless undefined) to pfns
 * [start, end) on node nid, per section; charges the init cost. A pfn whose
 * section has no memmap is an Oops at its struct page, as the kernel's write
 * would be.
 */
export function initPages(
  k: Kernel,
  mm: MmState,
  start: number,
  end: number,
  word: number,
  pgmap: DevPagemap | null | undefined,
  nid: number,
): void {
  let wholeSections = 0;
  let partialPages = 0;
  for (let pfn = start; pfn < end;) {
    const s = sectionOf(mm, pfn);
    if (s === null) vmemmapFault(k, pfn, 0, 1);
    const base = s.nr * PAGES_PER_SECTION;
    const a = pfn - base;
    const b = Math.min(end - base, PAGES_PER_SECTION);
    s.fillRange(a, b, word, pgmap);
    s.nid = nid;
    if (a === 0 && b === PAGES_PER_SECTION) wholeSections++;
    else partialPages += b - a;
    pfn = base + b;
  }
  k.clock.advance(
    wholeSections * k.cost.get("memmap.initPerSection") +
      partialPages * k.cost.get("memmap.initPerPage"),
  );
}

/**
 * memmap_init_zone(size, nid, zone, start_pfn, context, altmap) for hot-added
 * memory (context MEMMAP_HOTPLUG): initialises each struct page (refcount 1,
 * zone, node; PG_reserved) and then the rest of the last section.
 *
 * For ZONE_DEVICE it only initialises the pages holding the altmap's memmap
 * — from base_pfn + reserve (when start_pfn is base_pfn) to base_pfn +
 * vmem_altmap_offset — and returns at once without an altmap: the data pages
 * wait for memmap_init_zone_device, outside the hotplug lock. The padding to
 * the section end leaves page->pgmap NULL; the reserve pages stay poisoned.
 */
export function memmap_init_zone(
  k: Kernel,
  size: number,
  nid: number,
  zone: number,
  start_pfn: number,
  context: number,
  altmap: VmemAltmap | null,
): void {
  if (context !== MEMMAP_HOTPLUG) {
    throw new RangeError(
      "Cannot run memmap_init_zone(MEMMAP_EARLY): the boot memmap is set up by mm_init",
    );
  }
  const mm = k.state(MM);
  let end_pfn = start_pfn + size;
  if (mm.highest_memmap_pfn < end_pfn - 1) mm.highest_memmap_pfn = end_pfn - 1;
  if (zone === ZONE_DEVICE) {
    if (altmap === null) return;
    if (start_pfn === altmap.base_pfn) start_pfn += altmap.reserve;
    end_pfn = altmap.base_pfn + vmem_altmap_offset(k, altmap);
  }
  const word = initWord(zone, PG_reserved);
  if (start_pfn < end_pfn) initPages(k, mm, start_pfn, end_pfn, word, null, nid);
  // pad out to the end of the section: __init_single_page without PG_reserved
  const padEnd = Math.ceil(end_pfn / PAGES_PER_SECTION) * PAGES_PER_SECTION;
  if (end_pfn < padEnd) initPages(k, mm, end_pfn, padEnd, initWord(zone, 0), null, nid);
  if (k.trace.on) {
    k.trace.emit({
      kind: "memmap",
      op: "init_zone",
      start_pfn,
      nr_pages: Math.max(0, end_pfn - start_pfn),
      zone,
      pgmap: 0,
    });
  }
}

/**
 * memmap_init_zone_device(zone, start_pfn, size, pgmap) (mm/page_alloc.c,
 * new in v4.20): initialises the device pages of a hot-added ZONE_DEVICE range
 * — refcount 1 (the "free" state of a device page), zone DEVICE, the zone's
 * node, PG_reserved, page->pgmap = pgmap. With an altmap it starts after the
 * altmap's pages (base_pfn + vmem_altmap_offset); without one it writes the
 * whole range it is given, which devm_memremap_pages widens to whole
 * sections — including pages outside pgmap->res and pages another pgmap
 * initialised before (the same-section overwrite of scenario S3b).
 *
 * WARNs once and returns if pgmap is NULL or the zone is not ZONE_DEVICE.
 * Logs "<dev> initialised, <n> pages in <ms>ms" (dev_name(pgmap->dev)).
 *
 * @example
 * ```ts
 * import { Machine } from "../../machine.ts";
 * import { DevPagemap, MEMORY_DEVICE_FS_DAX } from "./types.ts";
 * import { arch_add_memory } from "./init-64.ts";
 * import { move_pfn_range_to_zone } from "./memory-hotplug.ts";
 * import { memmap_init_zone_device } from "./page-alloc.ts";
 * import { NODE_DATA, mm_init } from "./mmzone.ts";
 * import { page_pgmap, page_ref_count } from "./memmap.ts";
 * import { Device } from "../device.ts";
 * import { ZONE_DEVICE } from "./constants.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const m = new Machine();
 * mm_init(m.k, { ram: [{ start: 0, end: 2 ** 32 }] });
 * const pgmap = new DevPagemap();
 * pgmap.type = MEMORY_DEVICE_FS_DAX;
 * pgmap.dev = new Device(m.k, "pmem0");
 * const zone = NODE_DATA(m.k, 0).node_zones[ZONE_DEVICE]!;
 * assertEquals(arch_add_memory(m.k, 0, 2 ** 34, 2 ** 28, null, false), 0);
 * move_pfn_range_to_zone(m.k, zone, 0x400000, 0x10000, null);
 * memmap_init_zone_device(m.k, zone, 0x400000, 0x10000, pgmap);
 * assertEquals(page_ref_count(m.k, 0x400123), 1);
 * assert(page_pgmap(m.k, 0x40ffff) === pgmap);
 * ```
 */
export function memmap_init_zone_device(
  k: Kernel,
  zone: Zone,
  start_pfn: number,
  size: number,
  pgmap: DevPagemap | null,
): void {
  const end_pfn = start_pfn + size;
  if (WARN_ON_ONCE(k, pgmap === null || !is_dev_zone(k, zone))) return;
  const pg = pgmap!;
  const mm = k.state(MM);
  const t0 = k.clock.now;
  if (pg.altmap_valid) {
    start_pfn = pg.altmap.base_pfn + vmem_altmap_offset(k, pg.altmap);
    size = end_pfn - start_pfn;
  }
  if (pg.id === 0) pg.id = k.newId();
  mm.pgmaps.add(pg);
  installPgmapHolderSource(k);
  const nid = zone.zone_pgdat.node_id;
  if (start_pfn < end_pfn) {
    initPages(k, mm, start_pfn, end_pfn, initWord(ZONE_DEVICE, PG_reserved), pg, nid);
  }
  if (k.trace.on) {
    k.trace.emit({
      kind: "memmap",
      op: "init_zone_device",
      start_pfn,
      nr_pages: size,
      zone: ZONE_DEVICE,
      pgmap: pg.id,
    });
  }
  if (pg.dev === null) nullDeref(k, 0x50); // dev_name(NULL): dev->init_name
  const ms = Math.floor((k.clock.now - t0) / 1_000_000);
  pr_info(k, `${pg.dev.name} initialised, ${size} pages in ${ms}ms`);
}
