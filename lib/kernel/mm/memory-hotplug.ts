/**
 * Memory hotplug core (mm/memory_hotplug.c, drivers/base/memory.c; v4.20,
 * the same in v5.0 for these paths).
 *
 * Contracts the devm_memremap_pages argument turned on:
 * - __add_pages skips a section that already has a memmap: __add_section
 *   returns -EEXIST and __add_pages turns it into success ("dealt with by
 *   the ioresource collision check"), so a second pgmap in a section shares
 *   the first one's memmap.
 * - __add_pages stops at the first other error and returns it; sections it
 *   added before stay present with their memmap (nothing unwinds them).
 * - __remove_pages BUGs unless the range is whole sections; a section with no
 *   memmap stops it with -EINVAL.
 * - ZONE_DEVICE sections get no memory block (want_memblock = false) and are
 *   never onlined.
 *
 * The per-section loops are plain functions (the kernel's cond_resched is not
 * a preemption point here); mem_hotplug_begin is where tasks interleave.
 *
 * @module
 */
import type { KGen } from "../../sim/task.ts";
import { PREEMPT } from "../../sim/task.ts";
import type { Kernel } from "../kernel.ts";
import { EEXIST, EINVAL } from "../errno.ts";
import { might_sleep } from "../sched.ts";
import { PAGES_PER_SECTION, ZONE_DEVICE } from "./constants.ts";
import { PAGE_POISON_WORD, wordZone } from "./page-flags.ts";
import { forEachSectionIn } from "./memmap.ts";
import {
  type HotplugRecord,
  MemSection,
  MM,
  type MmState,
  NODE_DATA,
  present_section,
  resizeZoneRange,
  sectionOf,
  valid_section,
  type Zone,
} from "./mmzone.ts";
import { MEMMAP_HOTPLUG, memmap_init_zone } from "./page-alloc.ts";
import { sparse_add_one_section, sparse_remove_one_section } from "./sparse.ts";
import { vmem_altmap_offset } from "./sparse-vmemmap.ts";
import type { VmemAltmap } from "./types.ts";

/**
 * mem_hotplug_begin(): takes mem_hotplug_lock for write (the kernel also
 * takes cpus_read_lock, which the model leaves out). A preemption point;
 * blocks while a writer or readers hold it. Sleeps: call with `yield*`.
 */
export function* mem_hotplug_begin(k: Kernel): KGen<void> {
  might_sleep(k);
  yield PREEMPT;
  const me = k.sched.current;
  if (me === null) throw new TypeError("Cannot take mem_hotplug_lock: not inside a task");
  const lock = k.state(MM).hotplugLock;
  while (lock.writer !== null || lock.readers > 0) yield lock.wq;
  lock.writer = me;
  me.held.add(lock);
  if (k.trace.on) k.trace.emit({ kind: "hotplug", op: "lock", start: 0, size: 0, ret: 0 });
}

/** mem_hotplug_done(): releases the write lock and wakes every waiter. */
export function mem_hotplug_done(k: Kernel): void {
  const lock = k.state(MM).hotplugLock;
  const me = k.sched.current;
  if (lock.writer !== me) {
    k.dmesg.printk("warning", "DEBUG_LOCKS_WARN_ON(sem->writer != current) (mem_hotplug_lock)");
  }
  lock.writer?.held.delete(lock);
  lock.writer = null;
  k.sched.wakeAll(lock.wq);
  if (k.trace.on) k.trace.emit({ kind: "hotplug", op: "unlock", start: 0, size: 0, ret: 0 });
}

/** get_online_mems(): mem_hotplug_lock for read. Sleeps: call with `yield*`. */
export function* get_online_mems(k: Kernel): KGen<void> {
  might_sleep(k);
  const lock = k.state(MM).hotplugLock;
  while (lock.writer !== null) yield lock.wq;
  lock.readers++;
}

/** put_online_mems(). */
export function put_online_mems(k: Kernel): void {
  const lock = k.state(MM).hotplugLock;
  lock.readers--;
  if (lock.readers === 0) k.sched.wakeAll(lock.wq);
}

/**
 * hotplug_memory_register(nid, section) (drivers/base/memory.c): the section
 * joins a memory block device (one 128 MiB block per section in the model).
 * Charges hotplug.memoryBlockRegister.
 */
export function hotplug_memory_register(k: Kernel, _nid: number, section: MemSection): number {
  section.memblock = true;
  k.clock.advance(k.cost.get("hotplug.memoryBlockRegister"));
  if (k.trace.on) {
    k.trace.emit({
      kind: "hotplug",
      op: "memblock_register",
      start: section.nr * PAGES_PER_SECTION * 4096,
      size: PAGES_PER_SECTION * 4096,
      ret: 0,
    });
  }
  return 0;
}

/**
 * __add_section(nid, phys_start_pfn, altmap, want_memblock): -EEXIST if the
 * section already has a memmap; else sparse_add_one_section, then a memory
 * block only if want_memblock.
 */
export function __add_section(
  k: Kernel,
  nid: number,
  phys_start_pfn: number,
  altmap: VmemAltmap | null,
  want_memblock: boolean,
): number {
  const mm = k.state(MM);
  if (valid_section(k, sectionOf(mm, phys_start_pfn))) return -EEXIST;
  const ret = sparse_add_one_section(k, NODE_DATA(k, nid), phys_start_pfn, altmap);
  if (ret < 0) return ret;
  if (!want_memblock) return 0;
  return hotplug_memory_register(k, nid, sectionOf(mm, phys_start_pfn)!);
}

function emitSections(
  k: Kernel,
  op: "add" | "remove" | "add_failed",
  nr: number,
  count: number,
  device: boolean,
  ret: number,
): void {
  if (count === 0 && op !== "add_failed") return;
  k.trace.emit({ kind: "section", op, nr, count, memmap: device ? "device" : "ram", ret });
}

/**
 * __add_pages(nid, phys_start_pfn, nr_pages, altmap, want_memblock): adds
 * every section the range touches.
 *
 * With an altmap: base_pfn must be phys_start_pfn and vmem_altmap_offset at
 * most nr_pages, else pr_warn_once "memory add fail, invalid altmap" and
 * -EINVAL; then altmap->alloc is reset to 0 (align is not).
 * Already-present sections (-EEXIST) count as success; any other error stops
 * the loop and is returned, leaving the sections added so far in place. Each
 * section records this call (MmState.hotplugLog) as the one that added it.
 */
export function __add_pages(
  k: Kernel,
  nid: number,
  phys_start_pfn: number,
  nr_pages: number,
  altmap: VmemAltmap | null,
  want_memblock: boolean,
): number {
  const mm = k.state(MM);
  let err = 0;
  const start_sec = Math.floor(phys_start_pfn / PAGES_PER_SECTION);
  const end_sec = Math.floor((phys_start_pfn + nr_pages - 1) / PAGES_PER_SECTION);
  if (altmap !== null) {
    if (altmap.base_pfn !== phys_start_pfn || vmem_altmap_offset(k, altmap) > nr_pages) {
      if (k.dmesg.firstAt("mm:__add_pages:invalid altmap")) {
        k.dmesg.printk("warning", "memory add fail, invalid altmap");
      }
      return -EINVAL;
    }
    altmap.alloc = 0;
  }
  const rec: HotplugRecord = {
    id: mm.hotplugLog.length + 1,
    fn: "__add_pages",
    nid,
    start_pfn: phys_start_pfn,
    nr_pages,
    added: 0,
    existing: 0,
    ret: 0,
  };
  mm.hotplugLog.push(rec);
  let runStart = start_sec;
  let runLen = 0;
  for (let i = start_sec; i <= end_sec; i++) {
    err = __add_section(k, nid, i * PAGES_PER_SECTION, altmap, want_memblock);
    if (err === 0) {
      const ms = sectionOf(mm, i * PAGES_PER_SECTION)!;
      ms.addedBy = rec.id;
      rec.added++;
      if (runLen === 0) runStart = i;
      runLen++;
      continue;
    }
    if (k.trace.on) emitSections(k, "add", runStart, runLen, altmap !== null, 0);
    runLen = 0;
    if (err !== -EEXIST) {
      if (k.trace.on) emitSections(k, "add_failed", i, 1, altmap !== null, err);
      break;
    }
    rec.existing++;
    err = 0;
  }
  if (k.trace.on) emitSections(k, "add", runStart, runLen, altmap !== null, 0);
  rec.ret = err;
  return err;
}

/**
 * Shrinks zone/node spans when the section at start_pfn leaves (the
 * shrink_zone_span / shrink_pgdat_span logic of __remove_zone): an end of the
 * span moves to the nearest remaining section of the same zone and node; a
 * hole in the middle keeps the span unless no section of the zone is left.
 */
function shrinkSpans(k: Kernel, mm: MmState, zone: Zone, start_pfn: number): void {
  const end_pfn = start_pfn + PAGES_PER_SECTION;
  const nid = zone.zone_pgdat.node_id;
  const ofZone = (s: MemSection) => s.nid === nid && sectionZone(s) === zone.idx;
  shrinkSpan(mm, zone, "zone", start_pfn, end_pfn, ofZone);
  shrinkSpan(mm, zone, "node", start_pfn, end_pfn, (s) => s.nid === nid);
  void k;
}

/** The zone of a section's pages, read at its last page (the first may be an altmap reserve page); -1 when poisoned. */
function sectionZone(s: MemSection): number {
  const w = s.word(PAGES_PER_SECTION - 1);
  return w === PAGE_POISON_WORD ? -1 : wordZone(w);
}

function shrinkSpan(
  mm: MmState,
  zone: Zone,
  which: "zone" | "node",
  start_pfn: number,
  end_pfn: number,
  match: (s: MemSection) => boolean,
): void {
  const pg = zone.zone_pgdat;
  const zs = which === "zone" ? zone.zone_start_pfn : pg.node_start_pfn;
  const ze = zs + (which === "zone" ? zone.spanned_pages : pg.node_spanned_pages);
  const set = (s: number, e: number) => {
    if (which === "zone") {
      zone.zone_start_pfn = s;
      zone.spanned_pages = e - s;
    } else {
      pg.node_start_pfn = s;
      pg.node_spanned_pages = e - s;
    }
  };
  const firstSec = Math.floor(zs / PAGES_PER_SECTION);
  const lastSec = Math.floor((ze - 1) / PAGES_PER_SECTION);
  const removed = Math.floor(start_pfn / PAGES_PER_SECTION);
  const find = (from: number, to: number, step: 1 | -1): MemSection | null => {
    for (let nr = from; step > 0 ? nr <= to : nr >= to; nr += step) {
      // the kernel steps section by section; a missing SPARSEMEM_EXTREME root holds none, so skip it whole
      if (mm.roots[nr >>> 8] == null) {
        nr = step > 0 ? ((nr >>> 8) << 8) + 255 : (nr >>> 8) << 8;
        continue;
      }
      if (nr === removed) continue;
      const s = sectionOf(mm, nr * PAGES_PER_SECTION);
      if (s !== null && match(s)) return s;
    }
    return null;
  };
  if (ze <= zs) return;
  if (zs === start_pfn) {
    const s = find(removed + 1, lastSec, 1);
    if (s !== null) set(Math.max(zs, s.nr * PAGES_PER_SECTION), ze);
    else set(0, 0);
  } else if (ze === end_pfn) {
    const s = find(removed - 1, firstSec, -1);
    if (s !== null) set(zs, Math.min(ze, (s.nr + 1) * PAGES_PER_SECTION));
    else set(0, 0);
  } else {
    // the span's ends normally hold sections of the zone: check them before a full scan
    let any = find(firstSec, firstSec, 1) !== null || find(lastSec, lastSec, 1) !== null;
    if (!any) {
      forEachSectionIn(mm, firstSec, lastSec, (s) => {
        if (s.nr !== removed && match(s)) any = true;
      });
    }
    if (!any) set(0, 0);
  }
}

/**
 * __remove_section(zone, ms, map_offset, altmap): -EINVAL unless the section
 * has a memmap; drops its memory block, shrinks the spans, then
 * sparse_remove_one_section frees the memmap.
 */
export function __remove_section(
  k: Kernel,
  zone: Zone,
  ms: MemSection | null,
  map_offset: number,
  altmap: VmemAltmap | null,
): number {
  if (!valid_section(k, ms)) return -EINVAL;
  // unregister_memory_section: -EINVAL if not present; a section without a block is skipped
  if (!present_section(k, ms)) return -EINVAL;
  ms!.memblock = false;
  shrinkSpans(k, k.state(MM), zone, ms!.nr * PAGES_PER_SECTION);
  sparse_remove_one_section(k, zone, ms!, map_offset, altmap);
  return 0;
}

/**
 * __remove_pages(zone, phys_start_pfn, nr_pages, altmap): removes whole
 * sections. ZONE_DEVICE: no iomem release (the driver owns the region) and
 * map_offset = vmem_altmap_offset for the first section. BUG unless
 * phys_start_pfn is section aligned and nr_pages a multiple of 32768. Stops at
 * the first section that fails (-EINVAL for one without a memmap).
 */
export function __remove_pages(
  k: Kernel,
  zone: Zone,
  phys_start_pfn: number,
  nr_pages: number,
  altmap: VmemAltmap | null,
): number {
  const mm = k.state(MM);
  let map_offset = 0;
  let ret = 0;
  if (zone.idx === ZONE_DEVICE) {
    if (altmap !== null) map_offset = vmem_altmap_offset(k, altmap);
  }
  // else: release_mem_region_adjustable(&iomem_resource, ...) — RAM hot-remove is not modelled
  k.BUG_ON(phys_start_pfn % PAGES_PER_SECTION !== 0, "mm/memory_hotplug.c:__remove_pages");
  k.BUG_ON(nr_pages % PAGES_PER_SECTION !== 0, "mm/memory_hotplug.c:__remove_pages");
  const sections = nr_pages / PAGES_PER_SECTION;
  const first = phys_start_pfn / PAGES_PER_SECTION;
  let removed = 0;
  for (let i = 0; i < sections; i++) {
    const pfn = phys_start_pfn + i * PAGES_PER_SECTION;
    ret = __remove_section(k, zone, sectionOf(mm, pfn), map_offset, altmap);
    map_offset = 0;
    if (ret) break;
    removed++;
  }
  if (k.trace.on) emitSections(k, "remove", first, removed, altmap !== null, ret);
  return ret;
}

/**
 * move_pfn_range_to_zone(zone, start_pfn, nr_pages, altmap): initialises an
 * empty zone, grows the zone and node spans over the range, then
 * memmap_init_zone(MEMMAP_HOTPLUG) — which for ZONE_DEVICE writes only the
 * altmap's own pages.
 */
export function move_pfn_range_to_zone(
  k: Kernel,
  zone: Zone,
  start_pfn: number,
  nr_pages: number,
  altmap: VmemAltmap | null,
): void {
  if (zone.spanned_pages === 0) {
    // init_currently_empty_zone
    zone.zone_start_pfn = start_pfn;
    zone.initialized = true;
  }
  resizeZoneRange(zone, start_pfn, nr_pages);
  memmap_init_zone(
    k,
    nr_pages,
    zone.zone_pgdat.node_id,
    zone.idx,
    start_pfn,
    MEMMAP_HOTPLUG,
    altmap,
  );
}
