/**
 * Sparse memory sections, zones and nodes (include/linux/mmzone.h,
 * mm/sparse.c's section table, arch/x86 boot of the memory map), and the
 * per-kernel state of the memory model.
 *
 * The section table is two-level like SPARSEMEM_EXTREME: a root array of
 * NR_MEM_SECTIONS / 256 slots, each null or a leaf of 256 section slots. A
 * slot holds a {@link MemSection} while the section is present (it always has
 * a memmap then) and null otherwise, so a 5-level machine (2^25 sections)
 * costs 128 Ki root slots plus what is present.
 *
 * The memmap of one section is section.ts; booting is boot.ts.
 *
 * @module
 */
import type { Explanation } from "../../sim/sched.ts";
import { type Task, WaitQueue } from "../../sim/task.ts";
import type { Kernel, SubsystemKey } from "../kernel.ts";
import type { RefHolders } from "../explain.ts";
import {
  MAX_NR_ZONES,
  MAX_PHYSMEM_BITS_L4,
  MAX_PHYSMEM_BITS_L5,
  PAGE_OFFSET_BASE_L4,
  PAGE_OFFSET_BASE_L5,
  PAGE_SHIFT,
  PAGE_SIZE,
  PAGES_PER_SECTION,
  SECTION_SIZE_BITS,
  SECTIONS_PER_ROOT,
  VMEMMAP_BASE_L4,
  VMEMMAP_BASE_L5,
  ZONE_DEVICE,
  ZONE_DMA,
  ZONE_DMA32,
  ZONE_NAMES,
  ZONE_NORMAL,
} from "./constants.ts";
import {
  MemSection,
  SECTION_HAS_MEM_MAP,
  SECTION_IS_ONLINE,
  SECTION_MARKED_PRESENT,
} from "./section.ts";
import type { DevPagemap } from "./types.ts";

export {
  MemSection,
  type PgmapRun,
  SECTION_HAS_MEM_MAP,
  SECTION_IS_ONLINE,
  SECTION_MARKED_PRESENT,
} from "./section.ts";
export { mm_init } from "./boot.ts";

/** struct zone (the parts the hotplug paths touch). */
export class Zone {
  /** zone_start_pfn. */
  zone_start_pfn = 0;
  /** spanned_pages. */
  spanned_pages = 0;
  /** present_pages (boot RAM only; ZONE_DEVICE pages are never present). */
  present_pages = 0;
  /** Whether init_currently_empty_zone ran. */
  initialized = false;
  /**
   * Creates an empty zone.
   * @param zone_pgdat the node.
   * @param idx enum zone_type.
   */
  constructor(readonly zone_pgdat: PglistData, readonly idx: number) {}
  /** "DMA", "Normal", "Device" ... */
  get name(): string {
    return ZONE_NAMES[this.idx]!;
  }
}

/** struct pglist_data (NODE_DATA(nid)). */
export class PglistData {
  /** node_start_pfn. */
  node_start_pfn = 0;
  /** node_spanned_pages. */
  node_spanned_pages = 0;
  /** node_zones[MAX_NR_ZONES]. */
  readonly node_zones: Zone[];
  /**
   * Creates a node with empty zones.
   * @param node_id the node id.
   */
  constructor(readonly node_id: number) {
    this.node_zones = Array.from({ length: MAX_NR_ZONES }, (_, i) => new Zone(this, i));
  }
}

/** One System RAM range of the boot memory map: bytes [start, end), end exclusive. */
export interface RamRange {
  /** First byte (page aligned). */
  start: number;
  /** One past the last byte (page aligned). */
  end: number;
  /** NUMA node (default 0). */
  nid?: number;
}

/** Boot parameters of the memory model. */
export interface MmConfig {
  /** "4-level" (MAX_PHYSMEM_BITS 46, the default) or "5-level" (52, LA57). */
  paging?: "4-level" | "5-level";
  /** System RAM ranges (e820 type 1). */
  ram?: readonly RamRange[];
  /** Number of NUMA nodes (default: 1 + the highest nid in `ram`). */
  nodes?: number;
  /** CONFIG_KASAN (default false): kasan_add_zero_shadow records shadow ranges. */
  kasan?: boolean;
  /** PAT enabled (default true): track_pfn_remap records memtype reservations. */
  pat?: boolean;
}

/** A call that added sections (for the invariant checker: which call left which section). */
export interface HotplugRecord {
  /** Id stored in MemSection.addedBy. */
  id: number;
  /** The adding function. */
  fn: string;
  /** Node. */
  nid: number;
  /** First pfn requested. */
  start_pfn: number;
  /** Pages requested. */
  nr_pages: number;
  /** Sections this call added (excluding present ones it skipped with -EEXIST). */
  added: number;
  /** Sections it found already present. */
  existing: number;
  /** Its return value (0, or the error that stopped it part-way). */
  ret: number;
}

/** A PAT memtype reservation (arch/x86/mm/pat.c): physical bytes [start, end). */
export interface PatReservation {
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
  /** Cache mode. */
  type: "write-back";
}

/** A KASAN zero shadow added by kasan_add_zero_shadow: the physical range it covers. */
export interface KasanShadow {
  /** First byte of the (direct-mapped) range whose shadow was populated. */
  start: number;
  /** Bytes covered. */
  size: number;
}

/** mem_hotplug_lock: a percpu rw-semaphore (write side for hotplug, read side for get_online_mems). */
export class MemHotplugLock {
  /** The writer task, or null. */
  writer: Task | null = null;
  /** Number of readers. */
  readers = 0;
  /** Where tasks wait for it. */
  readonly wq: WaitQueue = new WaitQueue("mem_hotplug_lock", "mem_hotplug_lock", this);
}

/** The memory model's per-kernel state. */
export class MmState {
  /** Whether mm_init ran. */
  booted = false;
  /** Paging mode. */
  paging: "4-level" | "5-level" = "4-level";
  /** MAX_PHYSMEM_BITS. */
  MAX_PHYSMEM_BITS: number = MAX_PHYSMEM_BITS_L4;
  /** NR_MEM_SECTIONS. */
  NR_MEM_SECTIONS = 2 ** (MAX_PHYSMEM_BITS_L4 - SECTION_SIZE_BITS);
  /** First pfn of the section sectionOf found last (-1e18: none). */
  cacheBase0: number = -1e18;
  /** That section. */
  cacheSec0: MemSection | null = null;
  /** First pfn of the one found before it. */
  cacheBase1: number = -1e18;
  /** That section. */
  cacheSec1: MemSection | null = null;
  /** NR_MEM_SECTIONS * PAGES_PER_SECTION: the first pfn no section can hold. */
  maxSectionPfn: number = 2 ** (MAX_PHYSMEM_BITS_L4 - SECTION_SIZE_BITS) * PAGES_PER_SECTION;
  /** VMEMMAP_START. */
  vmemmapStart: bigint = VMEMMAP_BASE_L4;
  /** PAGE_OFFSET. */
  pageOffset: bigint = PAGE_OFFSET_BASE_L4;
  /** mem_section[]: root slots, each null or a leaf of SECTIONS_PER_ROOT slots. */
  roots: (Array<MemSection | null> | null)[] = [];
  /** Number of present sections. */
  presentSections = 0;
  /** NODE_DATA. */
  nodes: PglistData[] = [new PglistData(0)];
  /** Boot System RAM. */
  ram: Required<RamRange>[] = [];
  /** max_pfn (raised by update_end_of_memory_vars). */
  max_pfn = 0;
  /** highest_memmap_pfn. */
  highest_memmap_pfn = 0;
  /** Direct (linear) map: sorted, merged physical byte ranges [start, end). */
  directMap: Array<[number, number]> = [];
  /** vmemmap PMD blocks by block number (= section number): device pfn, or -1 for RAM. */
  vmemmapBlocks: Map<number, number> = new Map();
  /** PAT memtype reservations. */
  pat: PatReservation[] = [];
  /** KASAN zero shadows. */
  kasan: KasanShadow[] = [];
  /** CONFIG_KASAN. */
  kasanEnabled = false;
  /** pat_enabled(). */
  patEnabled = true;
  /** devmap_enable (the atomic behind devmap_managed_key). */
  devmapEnable = 0;
  /** static_branch_unlikely(&devmap_managed_key). */
  devmapManagedKey = false;
  /** mem_hotplug_lock. */
  readonly hotplugLock: MemHotplugLock;
  /** Every call that added sections, in order. */
  hotplugLog: HotplugRecord[] = [];
  /** pgmaps memmap_init_zone_device has written into some memmap. */
  pgmaps: Set<DevPagemap> = new Set();
  /** Whether the page holder source is registered. */
  holderSourceInstalled = false;
  /**
   * The page allocator's free path for a RAM page whose count reached 0
   * (__put_page → free_unref_page / destroy_compound_page): installed by
   * ram-alloc.ts when it first hands out memory; null while no allocator
   * owns the RAM (a memory-model-only kernel), when __put_page just records
   * the free.
   */
  freeRamPage: ((k: import("../kernel.ts").Kernel, head: number) => void) | null = null;
  /** Set by memremap: which devres action would drop the page refs of `pgmap`. */
  pageRefsDroppedBy: ((pgmap: DevPagemap) => RefHolders["droppedBy"] | undefined) | null = null;

  /** Creates the default state: 4-level paging, no memory. */
  constructor() {
    this.hotplugLock = new MemHotplugLock();
    this.configure({});
  }

  /** Sets the paging mode and resets the section table (before any section exists). */
  configure(cfg: MmConfig): void {
    this.paging = cfg.paging ?? "4-level";
    const l5 = this.paging === "5-level";
    this.MAX_PHYSMEM_BITS = l5 ? MAX_PHYSMEM_BITS_L5 : MAX_PHYSMEM_BITS_L4;
    this.NR_MEM_SECTIONS = 2 ** (this.MAX_PHYSMEM_BITS - SECTION_SIZE_BITS);
    this.maxSectionPfn = this.NR_MEM_SECTIONS * PAGES_PER_SECTION;
    sectionCacheFlush(this);
    this.vmemmapStart = l5 ? VMEMMAP_BASE_L5 : VMEMMAP_BASE_L4;
    this.pageOffset = l5 ? PAGE_OFFSET_BASE_L5 : PAGE_OFFSET_BASE_L4;
    this.roots = new Array(this.NR_MEM_SECTIONS / SECTIONS_PER_ROOT).fill(null);
    this.kasanEnabled = cfg.kasan ?? false;
    this.patEnabled = cfg.pat ?? true;
  }
}

/** The fault points of the memory model: name → what fails and what the caller sees. */
export const MM_FAULT_POINTS: ReadonlyArray<readonly [string, string]> = [
  [
    "arch_add_memory",
    "simulator convenience: arch_add_memory returns -ENOMEM at entry, before the linear map or any section is touched",
  ],
  [
    "sparse_add_one_section",
    "the section usemap allocation fails: sparse_add_one_section frees the section's memmap (altmap blocks back to the altmap, alignment padding kept) and returns -ENOMEM; __add_pages stops there without unwinding earlier sections",
  ],
  [
    "vmemmap_populate",
    "the 2 MiB vmemmap block allocation fails (altmap_alloc_block_buf or vmemmap_alloc_block_buf returns NULL): vmemmap_populate returns -ENOMEM and sparse_add_one_section -ENOMEM",
  ],
  [
    "kasan_add_zero_shadow",
    "a shadow page-table allocation fails: kasan_add_zero_shadow returns -ENOMEM (only with kasan: true)",
  ],
  [
    "track_pfn_remap",
    "the PAT memtype node allocation fails (reserve_memtype's kzalloc): track_pfn_remap returns -ENOMEM",
  ],
];

/** The per-kernel memory model. Created on first use with defaults (4-level, no RAM); see {@link mm_init}. */
export const MM: SubsystemKey<MmState> = {
  name: "mm",
  create: (k: Kernel) => {
    for (const [name, what] of MM_FAULT_POINTS) k.faults.register(name, what);
    k.sched.explainers.set("mem_hotplug_lock", (wq: WaitQueue): Explanation => {
      const l = wq.owner as MemHotplugLock;
      if (l.writer !== null) {
        return {
          text: `mem_hotplug_lock held for write by task ${l.writer}`,
          next: [l.writer as Task],
        };
      }
      return { text: `mem_hotplug_lock held for read by ${l.readers} reader(s)`, next: [] };
    });
    return new MmState();
  },
};

/**
 * The section holding `pfn`, or null when it is not present (hot path: no
 * allocation). The two sections found last are remembered on the MmState (a
 * migration alternates between a RAM and a device section); linking or
 * unlinking any section forgets them.
 */
export function sectionOf(mm: MmState, pfn: number): MemSection | null {
  const d = pfn - mm.cacheBase0;
  if (d >= 0 && d < PAGES_PER_SECTION) return mm.cacheSec0;
  const d1 = pfn - mm.cacheBase1;
  if (d1 >= 0 && d1 < PAGES_PER_SECTION) return mm.cacheSec1;
  return sectionOfSlow(mm, pfn);
}

function sectionOfSlow(mm: MmState, pfn: number): MemSection | null {
  // pfn < NR_MEM_SECTIONS * PAGES_PER_SECTION < 2^38 makes the quotient an int32: no Math.floor;
  // PAGES_PER_SECTION as a literal: the JIT makes a literal power-of-two division a multiplication,
  // a division by an imported constant stays a floating-point division on every lookup
  if (!(pfn >= 0 && pfn < mm.maxSectionPfn)) return null;
  const nr = (pfn / 32768) | 0;
  const leaf = mm.roots[nr >>> 8];
  if (leaf === null || leaf === undefined) return null;
  const ms = leaf[nr & 0xff];
  if (ms === undefined || ms === null) return null;
  mm.cacheBase1 = mm.cacheBase0;
  mm.cacheSec1 = mm.cacheSec0;
  mm.cacheBase0 = nr * PAGES_PER_SECTION;
  mm.cacheSec0 = ms;
  return ms;
}

/** @internal forgets the sections sectionOf remembers (a section was unlinked or the table reset). */
export function sectionCacheFlush(mm: MmState): void {
  mm.cacheBase0 = mm.cacheBase1 = -1e18;
  mm.cacheSec0 = mm.cacheSec1 = null;
}

/** pfn_to_section_nr(pfn). */
export function pfn_to_section_nr(_k: Kernel, pfn: number): number {
  return Math.floor(pfn / PAGES_PER_SECTION);
}

/** section_nr_to_pfn(sec). */
export function section_nr_to_pfn(_k: Kernel, sec: number): number {
  return sec * PAGES_PER_SECTION;
}

/**
 * __nr_to_section(nr) (include/linux/mmzone.h): the section, or null. The
 * kernel returns a struct mem_section whose bits are clear for an absent
 * section (NULL only when its SPARSEMEM_EXTREME root is missing); the model
 * returns null for both, and every predicate below treats null as clear.
 */
export function __nr_to_section(k: Kernel, nr: number): MemSection | null {
  return sectionOf(k.state(MM), nr * PAGES_PER_SECTION);
}

/** __pfn_to_section(pfn). */
export function __pfn_to_section(k: Kernel, pfn: number): MemSection | null {
  return sectionOf(k.state(MM), pfn);
}

/** present_section(ms). */
export function present_section(_k: Kernel, ms: MemSection | null): boolean {
  return ms !== null && (ms.flags & SECTION_MARKED_PRESENT) !== 0;
}

/** valid_section(ms): the section has a memmap. */
export function valid_section(_k: Kernel, ms: MemSection | null): boolean {
  return ms !== null && (ms.flags & SECTION_HAS_MEM_MAP) !== 0;
}

/** online_section(ms). */
export function online_section(_k: Kernel, ms: MemSection | null): boolean {
  return ms !== null && (ms.flags & SECTION_IS_ONLINE) !== 0;
}

/** pfn_valid(pfn) (SPARSEMEM): the pfn's section exists and has a memmap. */
export function pfn_valid(k: Kernel, pfn: number): boolean {
  const mm = k.state(MM);
  if (Math.floor(pfn / PAGES_PER_SECTION) >= mm.NR_MEM_SECTIONS) return false;
  return valid_section(k, sectionOf(mm, pfn));
}

/**
 * pfn_to_online_page(pfn) (include/linux/memory_hotplug.h): the page, or null
 * unless the section is online — ZONE_DEVICE sections never are.
 */
export function pfn_to_online_page(k: Kernel, pfn: number): number | null {
  const ms = sectionOf(k.state(MM), pfn);
  return ms !== null && online_section(k, ms) ? pfn : null;
}

/** NODE_DATA(nid). A RangeError for a node the machine does not have. */
export function NODE_DATA(k: Kernel, nid: number): PglistData {
  const n = k.state(MM).nodes[nid];
  if (n === undefined) {
    throw new RangeError(
      `Cannot use node ${nid}: the machine has ${k.state(MM).nodes.length} node(s)`,
    );
  }
  return n;
}

/** zone_idx(zone). */
export function zone_idx(_k: Kernel, zone: Zone): number {
  return zone.idx;
}

/** is_dev_zone(zone). */
export function is_dev_zone(_k: Kernel, zone: Zone): boolean {
  return zone.idx === ZONE_DEVICE;
}

/** The zone boot RAM at `pfn` belongs to: DMA below 16 MiB, DMA32 below 4 GiB, else Normal. */
export function ramZoneOf(pfn: number): number {
  return pfn < 0x1000 ? ZONE_DMA : pfn < 0x100000 ? ZONE_DMA32 : ZONE_NORMAL;
}

/** @internal links a new section into the table (the caller checked it was absent). */
export function linkSection(mm: MmState, ms: MemSection): void {
  let leaf = mm.roots[ms.nr >>> 8];
  if (leaf === null || leaf === undefined) {
    leaf = new Array(SECTIONS_PER_ROOT).fill(null);
    mm.roots[ms.nr >>> 8] = leaf;
  }
  leaf[ms.nr & 0xff] = ms;
  mm.presentSections++;
  sectionCacheFlush(mm);
}

/** @internal unlinks a section and kills its memmap. */
export function unlinkSection(mm: MmState, ms: MemSection): void {
  const leaf = mm.roots[ms.nr >>> 8];
  if (leaf && leaf[ms.nr & 0xff] === ms) {
    leaf[ms.nr & 0xff] = null;
    mm.presentSections--;
  }
  sectionCacheFlush(mm);
  ms.flags = 0;
  ms.words = null;
  ms.spill = null;
  ms.runs = null;
  ms.pgmap = null;
  ms.ext = null;
}

/** Grows a zone's and its node's span to cover [start_pfn, start_pfn + nr) (resize_zone_range). */
export function resizeZoneRange(zone: Zone, start_pfn: number, nr: number): void {
  const oldEnd = zone.zone_start_pfn + zone.spanned_pages;
  if (zone.spanned_pages === 0 || start_pfn < zone.zone_start_pfn) zone.zone_start_pfn = start_pfn;
  zone.spanned_pages = Math.max(start_pfn + nr, oldEnd) - zone.zone_start_pfn;
  const pgdat = zone.zone_pgdat;
  const oldNodeEnd = pgdat.node_start_pfn + pgdat.node_spanned_pages;
  if (pgdat.node_spanned_pages === 0 || start_pfn < pgdat.node_start_pfn) {
    pgdat.node_start_pfn = start_pfn;
  }
  pgdat.node_spanned_pages = Math.max(start_pfn + nr, oldNodeEnd) - pgdat.node_start_pfn;
}

/** PHYS_PFN(x). */
export function PHYS_PFN(_k: Kernel, x: number): number {
  return Math.floor(x / PAGE_SIZE);
}

/** PFN_PHYS(pfn). */
export function PFN_PHYS(_k: Kernel, pfn: number): number {
  return pfn * 2 ** PAGE_SHIFT;
}
