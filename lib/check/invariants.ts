/**
 * The invariant checker: what must hold of a simulated machine whenever it
 * is quiescent (every task finished or blocked), checked in time
 * proportional to the present sections plus the materialised pages — a
 * uniform section is checked from its descriptor (one word, one pgmap).
 *
 * | invariant | how it is computed |
 * |---|---|
 * | `no-oops` | no new entry in the scheduler's Oops list, and no use of freed driver memory the model records instead of crashing (genalloc pools, nouveau chunks) |
 * | `percpu-ref-holders` | for every percpu_ref between init and exit (PERCPU_REFS): its logical count = the initial ref while not killed + one while a switch to atomic is in flight + its holders — the pages of its pgmaps whose refcount is above zero (counted by the page pass), else every REF_HOLDER_SOURCES source (p2pmem allocations, ...); and no page of a pgmap whose ref has exited holds it |
 * | `page-refcount-holders` | for every initialised page: refcount = its base (1 for a ZONE_DEVICE page memmap_init_zone_device set up, 0 once devm_memremap_pages_release has put its data pages, 0 for RAM) + the present, non-special ptes and device-private entries of the registered processes that map it (a THP's on its head) + the registered pins + what a driver holds (a dmirror device page's backing RAM page) + the zero page's own reference; the RAM pages with a count = the allocator's `allocated`; no migration entry left at quiescence |
 * | `section-owner` | every present section is boot RAM, inside the section-aligned span of a registered pgmap (its pgmap_array entry, or HMM's section radix before patch 6), or was left by a hot-add that failed part-way — then it is reported as `leaked-by-failed-hotplug` with its HotplugRecord and the add_pages WARN, not as a break |
 * | `memmap-pgmap` | every data pfn of a registered pgmap has `page->pgmap` = that pgmap (what get_dev_pagemap would return); the same-section corruption (§11 S3b) breaks it |
 * | `unbind-leftovers` | a device a driver was bound to, now with no driver and no release in progress, has no devres entry, no pgmap_array entry, no section whose pages point to one of its pgmaps, and none of the iomem regions it claimed; and every PAT reservation is the span of a registered pgmap, one each |
 * | `device-page-accounting` | a bound dmirror device's pages in use (calloc − cfree) = its pages with backing memory; a bound nouveau GPU's (allocated − freed) = the pages its chunks hold; with `drained`, allocations = frees |
 * | `contents-shadow` | every word the caller recorded in {@link InvariantChecker.contents} reads back through the page tables (system page, or the device's copy behind a device-private entry; a device page its driver already freed under the mapping is data the kernel no longer keeps, and is dropped from the shadow), and every word in {@link InvariantChecker.media} reads back from the NVDIMM media |
 * | `hugetlb-pool` | the pool's counters agree (free ≤ nr_hugepages, surplus ≤ nr_hugepages, reservations ≤ free pages), every free pool page has a count of 0, and the reservations = what the registered processes' hugetlb VMAs hold (an owner's private VMA: its indices no fault consumed; a shared mapping: its size less the consumed indices); with `drained` (no process left): every pool page is free, no reservation and no surplus page is left |
 * | `no-hang` | with `drained`: no task is blocked (the hang report is the message) |
 *
 * The checker reads state; it changes nothing the kernel can see.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Machine } from "../machine.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { type Device, DEVICES } from "../kernel/device.ts";
import { REF_HOLDER_SOURCES } from "../kernel/explain.ts";
import { MEMREMAP, pgmapAlignedRange } from "../kernel/memremap.ts";
import { PERCPU_REFS, type PercpuRef } from "../kernel/percpu-refcount.ts";
import type { Resource } from "../kernel/resource.ts";
import { PAGE_SIZE, PAGES_PER_SECTION, SECTION_SIZE } from "../kernel/mm/constants.ts";
import { forEachSection } from "../kernel/mm/memmap.ts";
import { type HotplugRecord, type MemSection, MM, sectionOf } from "../kernel/mm/mmzone.ts";
import { HUB } from "../kernel/mm/hub.ts";
import { page_count } from "../kernel/mm/memmap.ts";
import { HUGE } from "../kernel/mm/huge-memory.ts";
import { HPAGE_PMD_NR } from "../kernel/mm/ram-alloc.ts";
import { pgmapDataPfns } from "../kernel/mm/holders.ts";
import {
  find_vma,
  HPAGE_RESV_OWNER,
  HPAGE_RESV_UNMAPPED,
  type HugetlbResvMap,
  type HugetlbVmaData,
  type MmStruct,
  VM_HUGETLB,
  VM_MAYSHARE,
} from "../kernel/mm/mm-types.ts";
import {
  is_device_private_entry,
  is_migration_entry,
  pte_devmap,
  pte_pfn,
  pte_present,
  pte_special,
  pte_to_swp_entry,
  swp_offset,
} from "../kernel/mm/pgtable.ts";
import type { DevPagemap } from "../kernel/mm/types.ts";
import { type DmirrorDevice, dmirrorDevices } from "../drivers/dmirror.ts";
import { genalloc_init } from "../kernel/genalloc.ts";
import {
  compareSection,
  compareUniform,
  headOf,
  type SectionResult,
  type Seg,
  segmentsOf,
} from "./memmap-scan.ts";
import {
  addPagesWarn,
  linearMapped,
  otherPgmapIn,
  type Registered,
  registeredPgmaps,
  sectionHasPgmap,
} from "./owners.ts";
import { DATA_NOT_KEPT, forDevicePages, readUserWord0 } from "./device-memory.ts";
import { nouveauDevices, type NouveauDrm } from "../drivers/gpu/drm.ts";

/** The invariants, by name. */
export const INVARIANTS = [
  "no-oops",
  "percpu-ref-holders",
  "page-refcount-holders",
  "section-owner",
  "memmap-pgmap",
  "unbind-leftovers",
  "device-page-accounting",
  "contents-shadow",
  "hugetlb-pool",
  "no-hang",
] as const;

/** One invariant's name. */
export type Invariant = typeof INVARIANTS[number];

/** A broken invariant. */
export interface Violation {
  /** Which invariant. */
  invariant: Invariant;
  /** What is wrong, naming the object. */
  message: string;
}

/** A section a failed hot-add left present with a memmap and no owner (not a break). */
export interface LeakedSection {
  /** Section number. */
  nr: number;
  /** The __add_pages call that added it and then failed. */
  record: HotplugRecord;
  /** The add_pages WARN_ON_ONCE line in dmesg ("WARNING: CPU: ... add_pages ..."), null if none. */
  warn: string | null;
  /** The section is still linearly mapped (arch_add_memory's mapping is not undone either). */
  linear: boolean;
}

/** What one check found. */
export interface CheckReport {
  /** Broken invariants (empty when everything holds). */
  violations: Violation[];
  /** Sections recorded as leaked-by-failed-hotplug. */
  leaked: LeakedSection[];
  /** Present sections examined. */
  sections: number;
  /** Materialised pages examined one by one. */
  materialisedPages: number;
  /** percpu_refs examined. */
  refs: number;
}

/** Options of {@link InvariantChecker.check}. */
export interface CheckOptions {
  /**
   * Every user hold has been dropped and every task should have finished:
   * also check `no-hang` and that device page allocations equal frees.
   */
  drained?: boolean;
}

/**
 * Checks the invariants of one machine. Register the processes whose page
 * tables hold page references ({@link InvariantChecker.processes}), the pins
 * the caller holds ({@link InvariantChecker.pin}), and the shadow copies of
 * data ({@link InvariantChecker.contents}, {@link InvariantChecker.media}).
 *
 * @example A fresh machine holds every invariant
 * ```ts
 * import { bootMachine } from "../machine.ts";
 * import { InvariantChecker } from "./invariants.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootMachine("fuzz", { series: "v5.2" });
 * const r = new InvariantChecker(m).check({ drained: true });
 * assertEquals(r.violations, []);
 * ```
 */
export class InvariantChecker {
  /** The machine (replace it with {@link InvariantChecker.rebind} after a power cycle). */
  m: Machine;
  /** Address spaces whose ptes count as page holders. */
  readonly processes: Set<MmStruct> = new Set();
  /** Page references the caller holds (get_user_pages pins, ...): pfn → count. */
  readonly pins: Map<number, number> = new Map();
  /** Shadow of user memory: mm → page address → word 0. */
  readonly contents: Map<MmStruct, Map<number, number>> = new Map();
  /** Shadow of NVDIMM media: physical address (4-byte aligned) → int32. */
  readonly media: Map<number, number> = new Map();
  #oopsSeen = 0;
  /** pgmaps and claimed regions seen per device while it was bound. */
  #seen = new WeakMap<Device, Seen>();
  #scratch = new Int32Array(PAGES_PER_SECTION);
  /** The last answer of #backing per dmirror device. */
  #backingCache = new WeakMap<DmirrorDevice, BackingCache>();
  /** The last page pass of each materialised section (see #compareMaterialised). */
  #sectionCache = new WeakMap<MemSection, SectionCache>();
  /** nouveau devices seen bound (they leave nouveauDevices at remove; their driver memory outlives it). */
  #gpus = new Set<NouveauDrm>();
  /** Per pgmap, its data pages with a refcount above zero (filled by the section pass). */
  #pgmapPages = new Map<DevPagemap, number>();

  /**
   * Creates a checker for `m` (Oopses before now are not reported).
   * @param m the machine.
   */
  constructor(m: Machine) {
    this.m = m;
    this.#oopsSeen = m.k.sched.oopses.length;
  }

  /** Follows a power cycle: the new kernel starts with no processes, pins or Oopses. */
  rebind(m: Machine): void {
    this.m = m;
    this.processes.clear();
    this.pins.clear();
    this.contents.clear();
    this.#oopsSeen = m.k.sched.oopses.length;
    this.#uafSeen = 0;
    this.#seen = new WeakMap();
    this.#gpus = new Set();
  }

  /** Records `n` page references the caller holds on `pfn` (negative to drop them). */
  pin(pfn: number, n = 1): void {
    const v = (this.pins.get(pfn) ?? 0) + n;
    if (v === 0) this.pins.delete(pfn);
    else this.pins.set(pfn, v);
  }

  /** Records that `mm` holds `value` in word 0 of the page at `addr` (page aligned). */
  recordWord(mm: MmStruct, addr: number, value: number): void {
    let s = this.contents.get(mm);
    if (s === undefined) this.contents.set(mm, s = new Map());
    s.set(addr - (addr % PAGE_SIZE), value | 0);
  }

  /** Forgets the shadow of [start, end) of `mm` (munmap). */
  forgetRange(mm: MmStruct, start: number, end: number): void {
    const s = this.contents.get(mm);
    if (s === undefined) return;
    for (const a of [...s.keys()]) if (a >= start && a < end) s.delete(a);
  }

  /** Checks every invariant; see the module doc. */
  check(opts: CheckOptions = {}): CheckReport {
    const k = this.m.k;
    const out: CheckReport = {
      violations: [],
      leaked: [],
      sections: 0,
      materialisedPages: 0,
      refs: 0,
    };
    const v = (invariant: Invariant, message: string) =>
      out.violations.push({ invariant, message });
    this.#checkOops(k, v);
    const reg = registeredPgmaps(k);
    this.#rememberDevices(k, reg);
    const holders = this.#pageHolders(k, v);
    this.#scanSections(k, reg, holders, out, v);
    this.#checkRefs(k, reg, out, v);
    this.#checkPgmapLookup(k, reg, v);
    this.#checkUnbound(k, reg, v);
    this.#checkDevicePages(k, opts.drained === true, v);
    this.#checkContents(k, v);
    this.#checkHugetlbPool(k, opts.drained === true, v);
    if (opts.drained) {
      const hang = k.sched.hangReport();
      if (hang !== null) v("no-hang", hang.text);
    }
    return out;
  }

  #checkOops(k: Kernel, v: (i: Invariant, m: string) => void): void {
    const o = k.sched.oopses;
    for (; this.#oopsSeen < o.length; this.#oopsSeen++) {
      const r = o[this.#oopsSeen]!;
      v("no-oops", `Oops in task ${r.task}: ${r.message}`);
    }
    // uses of freed driver memory the model records instead of crashing on
    const uaf = genalloc_init(k).useAfterFree;
    for (; this.#uafSeen < uaf.length; this.#uafSeen++) {
      v("no-oops", `use after free (recorded, a crash in the kernel): ${uaf[this.#uafSeen]}`);
    }
  }

  #uafSeen = 0;

  /** Devices' pgmaps and claimed regions while bound (so that their absence can be checked after unbind). */
  #rememberDevices(k: Kernel, reg: Registered): void {
    for (const p of reg.pgmaps) {
      if (p.dev === null) continue;
      this.#seenOf(p.dev).pgmaps.add(p);
    }
    for (const p of k.state(MM).pgmaps) if (p.dev !== null) this.#seenOf(p.dev).pgmaps.add(p);
    for (const dev of k.state(DEVICES)) {
      if (dev.driver === null) continue;
      const seen = this.#seenOf(dev);
      seen.bound = true;
      for (const n of dev.devres) {
        if (n.kind === "region") seen.regions.add(n.data as Resource);
      }
    }
  }

  #seenOf(dev: Device): Seen {
    let s = this.#seen.get(dev);
    if (s === undefined) {
      this.#seen.set(dev, s = { bound: false, pgmaps: new Set(), regions: new Set() });
    }
    return s;
  }

  /** pfn → the references the registered holders (ptes, pins, drivers, the zero page) account for. */
  #pageHolders(k: Kernel, v: (i: Invariant, m: string) => void): Map<number, number> {
    const h = new Map<number, number>();
    const add = (pfn: number, n: number) => h.set(pfn, (h.get(pfn) ?? 0) + n);
    const hugeZero = k.state(HUB).ram.hugeZeroPfn;
    for (const mm of this.processes) {
      if (mm.exited) continue;
      for (const [idx, t] of mm.pgd.tables) {
        if (t.huge !== 0) {
          // the huge zero page's pmds take no page reference (mm_get_huge_zero_page counts in
          // huge_zero_refcount); its own reference is counted below
          if (
            pte_present(t.huge) && !pte_devmap(t.huge) && !pte_special(t.huge) &&
            pte_pfn(t.huge) !== hugeZero
          ) {
            add(pte_pfn(t.huge), 1);
          }
          continue;
        }
        const ptes = t.ptes!;
        for (let i = 0; i < ptes.length; i++) {
          const pte = ptes[i]!;
          if (pte === 0) continue;
          if (pte_present(pte)) {
            if (pte_special(pte) || pte_devmap(pte)) continue;
            add(headOf(k, pte_pfn(pte)), 1);
            continue;
          }
          const e = pte_to_swp_entry(pte);
          if (is_device_private_entry(e)) add(swp_offset(e), 1);
          else if (is_migration_entry(e)) {
            v(
              "page-refcount-holders",
              `migration entry left at 0x${
                ((idx * 512 + i) * PAGE_SIZE).toString(16)
              } of pid ${mm.pid} at quiescence`,
            );
          }
        }
      }
    }
    // a pin of a compound page's subpage holds the head (get_page of a tail takes the head's count)
    for (const [pfn, n] of this.pins) add(headOf(k, pfn), n);
    // a dmirror device page in use holds its backing system page (hmm_data)
    for (const md of dmirrorDevices(k)) {
      for (const rpage of this.#backing(k, md)) add(rpage, 1);
    }
    const zero = k.state(HUB).ram.zeroPfn;
    if (zero >= 0) add(zero, 1);
    // the huge zero page, once allocated, is kept (its shrinker runs only under memory pressure)
    if (hugeZero >= 0) add(hugeZero, 1);
    return h;
  }

  /** The per-section pass: owners, leaks and page refcounts. */
  #scanSections(
    k: Kernel,
    reg: Registered,
    holders: Map<number, number>,
    out: CheckReport,
    v: (i: Invariant, m: string) => void,
  ): void {
    const mm = k.state(MM);
    const mapped = k.state(MEMREMAP).mapped;
    const arr = k.state(MEMREMAP).pgmap_array;
    const pgmapPages = this.#pgmapPages;
    pgmapPages.clear();
    // holders grouped by section
    const bySection = new Map<number, Array<[number, number]>>();
    for (const [pfn, n] of holders) {
      const nr = Math.floor(pfn / PAGES_PER_SECTION);
      let l = bySection.get(nr);
      if (l === undefined) bySection.set(nr, l = []);
      l.push([pfn, n]);
    }
    let ramInUse = 0;
    let warn: string | null | undefined;
    const scratch = this.#scratch;
    forEachSection(mm, (s) => {
      out.sections++;
      const held = bySection.get(s.nr);
      bySection.delete(s.nr);
      // ---- owner ----
      const owned = s.addedBy === 0 || reg.ownsSection(s.nr);
      if (!owned) {
        const rec = mm.hotplugLog[s.addedBy - 1];
        if (rec !== undefined && rec.ret !== 0) {
          if (warn === undefined) warn = addPagesWarn(k);
          // every ZONE_DEVICE hot-add goes through add_pages, whose WARN_ON_ONCE fires on the
          // first failure: a leak with no WARN in dmesg is not the known one
          if (warn === null) {
            v(
              "section-owner",
              `section ${s.nr} was left by ${rec.fn}#${rec.id} (returned ${rec.ret}) but dmesg has no add_pages WARN`,
            );
          }
          out.leaked.push({
            nr: s.nr,
            record: rec,
            warn,
            linear: linearMapped(mm, s.nr),
          });
        } else {
          v(
            "section-owner",
            `section ${s.nr} [mem 0x${
              (s.nr * SECTION_SIZE).toString(16)
            }] has a memmap and no owner (added by ${
              rec === undefined ? "boot" : `${rec.fn}#${rec.id}, which returned ${rec.ret}`
            })`,
          );
        }
      }
      // ---- page refcounts ----
      const segs = segmentsOf(k, s, s.addedBy !== 0, mapped, arr);
      let r: SectionResult;
      if (s.words === null && held === undefined) {
        r = compareUniform(s, segs, pgmapPages);
      } else {
        out.materialisedPages += PAGES_PER_SECTION;
        r = this.#compareMaterialised(s, segs, held, scratch, pgmapPages);
      }
      if (s.addedBy === 0) ramInUse += r.inUse;
      if (r.bad > 0) {
        v(
          "page-refcount-holders",
          `${r.first}${r.bad > 1 ? ` (and ${r.bad - 1} more in section ${s.nr})` : ""}`,
        );
      }
    });
    for (const [nr, l] of bySection) {
      v(
        "page-refcount-holders",
        `pfn 0x${l[0]![0].toString(16)} is held (${l[0]![1]}) but section ${nr} is not present`,
      );
    }
    const ram = k.state(HUB).ram;
    // the hugetlb pool's free pages came from the page allocator and hold no count (the pool owns
    // them); ram.hugetlbFree is set exactly when the kernel has hugetlb state
    const pool = ram.hugetlbFree === null ? 0 : k.state(HUGE).hugetlbFree.length * HPAGE_PMD_NR;
    if (ram.ready && ramInUse + pool !== ram.allocated) {
      v(
        "page-refcount-holders",
        `${ramInUse} RAM pages have a refcount and ${pool} are free in the hugetlb pool, but the allocator has ${ram.allocated} allocated`,
      );
    }
  }

  /**
   * The page pass of one section with per-page words or holders. A section
   * whose words, runs, holders and spill are byte-for-byte those of the
   * last check has the last check's result (one native compare instead of
   * the page loop: most steps leave most sections alone).
   */
  #compareMaterialised(
    s: MemSection,
    segs: Seg[],
    held: Array<[number, number]> | undefined,
    scratch: Int32Array,
    pgmapPages: Map<DevPagemap, number>,
  ): SectionResult {
    const base = s.nr * PAGES_PER_SECTION;
    let key = "";
    for (const g of segs) key += `${g.a},${g.b},${g.base},${g.data?.id ?? -1};`;
    key += "|";
    if (held !== undefined) { for (const [pfn, n] of held) key += `${pfn - base}:${n};`; }
    key += "|";
    if (s.spill !== null) { for (const [i, c] of s.spill) key += `${i}:${c};`; }
    key += `|${s.words === null ? s.fill : "w"}`;
    const words = s.words === null
      ? null
      : Buffer.from(s.words.buffer, s.words.byteOffset, s.words.byteLength);
    const cached = this.#sectionCache.get(s);
    if (
      cached !== undefined && cached.key === key &&
      (words === null ? cached.snap === null : cached.snap !== null && words.equals(cached.snap))
    ) {
      for (const [p, n] of cached.contrib) pgmapPages.set(p, (pgmapPages.get(p) ?? 0) + n);
      return cached.result;
    }
    // scratch is all zeros between sections: set the held pages, compare, clear them again
    if (held !== undefined) { for (const [pfn, n] of held) scratch[pfn - base] = n; }
    const mine = new Map<DevPagemap, number>();
    const result = compareSection(s, segs, scratch, mine);
    if (held !== undefined) { for (const [pfn] of held) scratch[pfn - base] = 0; }
    for (const [p, n] of mine) pgmapPages.set(p, (pgmapPages.get(p) ?? 0) + n);
    let snap: Buffer | null = null;
    if (words !== null) {
      snap = cached?.snap !== null && cached?.snap.length === words.length
        ? cached.snap
        : Buffer.alloc(words.length);
      words.copy(snap);
    }
    this.#sectionCache.set(s, { key, snap, result, contrib: [...mine] });
    return result;
  }

  /**
   * The backing system pages of a bound dmirror device's pages in use (their
   * hmm_data), in pfn order; the last answer while the hmm_data arrays of its
   * sections are byte-for-byte unchanged (the page records hold page->private).
   */
  #backing(k: Kernel, md: DmirrorDevice): readonly number[] {
    const d = md.devmem;
    if (d === null || md.dev.driver === null) return [];
    const mm = k.state(MM);
    const arrays: Array<Int32Array | null> = [];
    for (let pfn = d.pfn_first; pfn < d.pfn_last;) {
      arrays.push(sectionOf(mm, pfn)?.ext?.rec ?? null);
      pfn = (Math.floor(pfn / PAGES_PER_SECTION) + 1) * PAGES_PER_SECTION;
    }
    const c = this.#backingCache.get(md);
    if (
      c !== undefined && c.first === d.pfn_first && c.last === d.pfn_last &&
      c.arrays.length === arrays.length &&
      arrays.every((a, i) =>
        a === c.arrays[i] &&
        (a === null ||
          Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(c.snaps[i]!))
      )
    ) return c.rpages;
    const rpages: number[] = [];
    forDevicePages(k, md, (_dpage, rpage) => rpages.push(rpage));
    this.#backingCache.set(md, {
      first: d.pfn_first,
      last: d.pfn_last,
      arrays,
      snaps: arrays.map((a) =>
        a === null
          ? Buffer.alloc(0)
          : Buffer.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
      ),
      rpages,
    });
    return rpages;
  }

  #checkRefs(
    k: Kernel,
    reg: Registered,
    out: CheckReport,
    v: (i: Invariant, m: string) => void,
  ): void {
    const sources = k.state(REF_HOLDER_SOURCES);
    // the section pass counted the pages holding each pgmap's ref — except HMM's own pgmaps
    // before patch 6 (hmm_devmem_pages_create only sets page->pgmap: its pages hold no ref)
    const pages = new Map<PercpuRef, number>();
    for (const [p, n] of this.#pgmapPages) {
      if (p.ref === null || (reg.pgmaps.includes(p) && !reg.memremapSet.has(p))) continue;
      pages.set(p.ref, (pages.get(p.ref) ?? 0) + n);
    }
    for (const ref of k.state(PERCPU_REFS)) {
      out.refs++;
      const initial = (ref.dead ? 0 : 1) + (ref.confirmSwitch !== null ? 1 : 0);
      const have = ref.value;
      if (have === initial + (pages.get(ref) ?? 0)) continue;
      // not explained by pages alone: ask every holder source (allocations, lookups, ...)
      let want = initial;
      const parts: string[] = [];
      for (const src of sources) {
        for (const h of src(ref)) {
          want += h.count;
          if (h.count !== 0) parts.push(`${h.count} ${h.what}`);
        }
      }
      if (have !== want) {
        v(
          "percpu-ref-holders",
          `percpu_ref '${ref.name}' #${ref.id} (${
            ref.dead ? "killed" : "live"
          }): count ${have}, holders ${want}${parts.length > 0 ? ` (${parts.join("; ")})` : ""}`,
        );
      }
    }
    // an exited ref has no holders
    const live = k.state(PERCPU_REFS);
    const exited = new Set<PercpuRef>();
    for (const p of k.state(MM).pgmaps) {
      if (p.ref !== null && p.ref.pcpu === null && !live.has(p.ref)) exited.add(p.ref);
    }
    for (const ref of exited) {
      for (const src of sources) {
        for (const h of src(ref)) {
          if (h.count > 0) {
            v(
              "percpu-ref-holders",
              `percpu_ref '${ref.name}' #${ref.id} has exited but ${h.count} ${h.what} still hold it`,
            );
          }
        }
      }
    }
  }

  #checkPgmapLookup(k: Kernel, reg: Registered, v: (i: Invariant, m: string) => void): void {
    const mm = k.state(MM);
    for (const p of reg.memremap) {
      const [first, end] = pgmapDataPfns(k, p);
      for (let pfn = first; pfn < end;) {
        const s = sectionOf(mm, pfn);
        const secEnd = (Math.floor(pfn / PAGES_PER_SECTION) + 1) * PAGES_PER_SECTION;
        const b = Math.min(end, secEnd);
        if (s === null) {
          v(
            "memmap-pgmap",
            `pgmap ${p.id}: pfn 0x${pfn.toString(16)} is registered but has no memmap`,
          );
          break;
        }
        const other = otherPgmapIn(s, pfn % PAGES_PER_SECTION, b - (secEnd - PAGES_PER_SECTION), p);
        if (other !== undefined) {
          v(
            "memmap-pgmap",
            `pgmap ${p.id} [mem 0x${p.res.start.toString(16)}-0x${
              p.res.end.toString(16)
            }]: page->pgmap of pfn 0x${other.pfn.toString(16)} is ${
              other.pgmap === null ? "NULL" : `pgmap ${other.pgmap.id}`
            }, but get_dev_pagemap returns pgmap ${p.id}`,
          );
          break;
        }
        pfn = b;
      }
    }
  }

  #checkUnbound(k: Kernel, reg: Registered, v: (i: Invariant, m: string) => void): void {
    const mm = k.state(MM);
    // every PAT reservation is the section-aligned span of a registered pgmap (track_pfn_remap), one each
    if (mm.pat.length > 0) {
      const spans = new Map<string, number>();
      for (const p of reg.memremap) {
        const { align_start, align_size } = pgmapAlignedRange(p);
        const key = `${align_start}:${align_start + align_size}`;
        spans.set(key, (spans.get(key) ?? 0) + 1);
      }
      for (const r of mm.pat) {
        const key = `${r.start}:${r.end}`;
        const n = spans.get(key) ?? 0;
        if (n > 0) spans.set(key, n - 1);
        else {
          v(
            "unbind-leftovers",
            `PAT reservation [mem 0x${r.start.toString(16)}-0x${
              (r.end - 1).toString(16)
            }] belongs to no registered pgmap`,
          );
        }
      }
    }
    for (const dev of k.state(DEVICES)) {
      if (dev.driver !== null || dev.releasing !== null) continue;
      const seen = this.#seen.get(dev);
      if (seen === undefined || !seen.bound) continue; // only what a bound driver left behind
      if (dev.devres.length > 0) {
        v(
          "unbind-leftovers",
          `${dev.name} is unbound but has devres entries: ${
            dev.devres.map((n) => n.name).join(", ")
          }`,
        );
      }
      for (const r of seen.regions) {
        if (r.parent !== null) {
          v(
            "unbind-leftovers",
            `${dev.name} is unbound but its iomem region ${r.name} [mem 0x${
              r.start.toString(16)
            }] is still claimed`,
          );
        }
      }
      for (const p of seen.pgmaps) {
        if (p.dev !== dev) continue;
        if (reg.memremapSet.has(p)) {
          v("unbind-leftovers", `${dev.name} is unbound but pgmap ${p.id} is still in pgmap_array`);
        }
        const { align_start, align_size } = pgmapAlignedRange(p);
        for (let a = align_start; a < align_start + align_size; a += SECTION_SIZE) {
          const s = sectionOf(mm, a / PAGE_SIZE);
          if (s !== null && sectionHasPgmap(s, p)) {
            v(
              "unbind-leftovers",
              `${dev.name} is unbound but section ${s.nr} still has pages of its pgmap ${p.id}`,
            );
            break;
          }
        }
      }
    }
  }

  #checkDevicePages(k: Kernel, drained: boolean, v: (i: Invariant, m: string) => void): void {
    for (const drm of nouveauDevices(k)) this.#gpus.add(drm);
    for (const drm of this.#gpus) {
      const dmem = drm.dmem;
      if (dmem === null) continue;
      if (dmem.useAfterFree.length > 0) {
        v(
          "no-oops",
          `use after free (recorded, a crash in the kernel): ${drm.name}: ${dmem.useAfterFree[0]}`,
        );
      }
      if (drm.pdev.driver === null) continue;
      let live = 0;
      for (const c of dmem.chunks) if (!c.freed) live += c.callocated;
      if (dmem.inUse !== live) {
        v(
          "device-page-accounting",
          `${drm.name}: ${dmem.allocated} allocations, ${dmem.freed} frees (${dmem.inUse} in use), but its chunks hold ${live} pages`,
        );
      } else if (drained && dmem.inUse !== 0) {
        v(
          "device-page-accounting",
          `${drm.name}: ${dmem.allocated} allocations but ${dmem.freed} frees at quiescence`,
        );
      }
    }
    for (const md of dmirrorDevices(k)) {
      if (md.devmem === null || md.dev.driver === null) continue;
      const backed = this.#backing(k, md).length;
      const inUse = md.calloc - md.cfree;
      if (inUse !== backed) {
        v(
          "device-page-accounting",
          `${md.dev.name}: ${md.calloc} allocations, ${md.cfree} frees (${inUse} in use), but ${backed} pages with backing memory`,
        );
      } else if (drained && inUse !== 0) {
        v(
          "device-page-accounting",
          `${md.dev.name}: ${md.calloc} allocations but ${md.cfree} frees at quiescence`,
        );
      }
    }
  }

  /** The hugetlb pool's counters, its free pages, and (drained) nothing left in use or reserved. */
  #checkHugetlbPool(k: Kernel, drained: boolean, v: (i: Invariant, m: string) => void): void {
    if (k.state(HUB).ram.hugetlbFree === null) return; // no hugetlb state: no pool
    const st = k.state(HUGE);
    const free = st.hugetlbFree.length, nr = st.nrHugepages;
    const counts =
      `nr_hugepages ${nr}, free ${free}, reserved ${st.resvHugepages}, surplus ${st.surplusHugepages}`;
    if (free > nr || st.surplusHugepages > nr || st.resvHugepages > free || st.resvHugepages < 0) {
      v("hugetlb-pool", `counters disagree: ${counts}`);
    }
    for (const page of st.hugetlbFree) {
      const c = page_count(k, page);
      if (c !== 0) v("hugetlb-pool", `free pool page 0x${page.toString(16)} has a count of ${c}`);
    }
    if (drained && (free !== nr || st.resvHugepages !== 0 || st.surplusHugepages !== 0)) {
      v("hugetlb-pool", `left after every process exited: ${counts}`);
    }
    // the reservations the registered processes' hugetlb VMAs hold: an owner's private VMA its
    // range's indices no fault consumed (what its close gives back), a shared mapping's file
    // its size less the indices consumed (given back with its last VMA)
    let want = 0;
    const files = new Set<HugetlbResvMap>();
    for (const mm of this.processes) {
      if (mm.exited) continue;
      for (const vma of mm.vmas) {
        if ((vma.vm_flags & VM_HUGETLB) === 0) continue;
        const d = vma.vm_private_data as HugetlbVmaData | null;
        if (d === null || d.resv === null) continue;
        if ((vma.vm_flags & VM_MAYSHARE) !== 0) {
          if (!files.has(d.resv)) want += d.resv.pages - d.resv.consumed.size;
          files.add(d.resv);
          continue;
        }
        if ((d.flags & HPAGE_RESV_OWNER) === 0) continue;
        const first = Math.floor(vma.vm_pgoff / 512);
        const n = (vma.vm_end - vma.vm_start) / (512 * PAGE_SIZE);
        // vma_hugecache_offset: (address - vm_start) / 2 MiB + vm_pgoff / 512
        for (let idx = first; idx < first + n; idx++) if (!d.resv.consumed.has(idx)) want++;
      }
    }
    if (want !== st.resvHugepages) {
      v(
        "hugetlb-pool",
        `${st.resvHugepages} reservations held, but the registered processes' hugetlb mappings account for ${want}`,
      );
    }
  }

  #checkContents(k: Kernel, v: (i: Invariant, m: string) => void): void {
    for (const [mm, words] of this.contents) {
      if (mm.exited) continue;
      for (const [addr, want] of words) {
        const have = readUserWord0(k, this.#gpus, mm, addr);
        if (have === DATA_NOT_KEPT || (have === null && hugetlbTakenBack(mm, addr))) {
          // the driver freed the device page under the mapping (teardown's put loop calls
          // page_free for a page still mapped), or the owner of a private hugetlb mapping took
          // the page back from this child (unmap_ref_private): the kernel no longer keeps this data
          words.delete(addr);
          continue;
        }
        if (have !== want) {
          v(
            "contents-shadow",
            `pid ${mm.pid} 0x${addr.toString(16)}: reads ${
              have === null ? "nothing (no page)" : String(have)
            }, shadow ${want}`,
          );
        }
      }
    }
    if (this.media.size === 0) return;
    const hw = this.m.hw;
    if (hw === null) return;
    for (const [phys, want] of this.media) {
      const region = hw.nvdimm.flatMap((b) => b.regions).find((r) =>
        phys >= r.start && phys < r.start + r.size
      );
      if (region === undefined) continue;
      const b = region.read(phys - region.start, 4);
      const have = typeof b === "number"
        ? null
        : new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
      if (have !== want) {
        v(
          "contents-shadow",
          `media at 0x${phys.toString(16)}: reads ${have ?? "an error"}, shadow ${want}`,
        );
      }
    }
  }
}

/** A dmirror device's backing pages, and the hmm_data arrays they were read from (with copies). */
interface BackingCache {
  first: number;
  last: number;
  arrays: Array<Int32Array | null>;
  snaps: Buffer[];
  rpages: number[];
}

/** One section's last page pass: its inputs (key, a copy of its words) and what it found. */
interface SectionCache {
  /** Runs, holders, spill and fill, as text. */
  key: string;
  /** The words as they were (null for a uniform section with holders). */
  snap: Buffer | null;
  /** The result. */
  result: SectionResult;
  /** Its pages in use per pgmap. */
  contrib: Array<[DevPagemap, number]>;
}

/** What the checker saw of a device while a driver was bound to it. */
interface Seen {
  /** A driver was bound at some check. */
  bound: boolean;
  /** Its pgmaps. */
  pgmaps: Set<DevPagemap>;
  /** The iomem regions it claimed through devres. */
  regions: Set<Resource>;
}

/** Checks `m` once (a convenience for tests): the violations, as text lines. */
export function checkMachine(m: Machine, opts: CheckOptions = {}): string[] {
  return new InvariantChecker(m).check(opts).violations.map((x) => `${x.invariant}: ${x.message}`);
}

/**
 * Whether `addr` of `mm` is in a child's private hugetlb VMA whose pages the
 * owner took back when its COW found the pool empty (unmap_ref_private sets
 * HPAGE_RESV_UNMAPPED; the child's next fault there is SIGBUS).
 */
function hugetlbTakenBack(mm: MmStruct, addr: number): boolean {
  const vma = find_vma(mm, addr);
  if (vma === null || vma.vm_start > addr || (vma.vm_flags & VM_HUGETLB) === 0) return false;
  const d = vma.vm_private_data as HugetlbVmaData | null;
  return d !== null && (d.flags & HPAGE_RESV_UNMAPPED) !== 0;
}
