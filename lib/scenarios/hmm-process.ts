/**
 * The process-side HMM scenarios of SCENARIOS.md (13-16, 18, 19, 22), as
 * functions that boot a machine at a given series, run the scenario with
 * the v4.20 mirror API, migrate_vma and the 2018-style dmirror driver, and
 * return what happened as data. Tests assert on the data; notebooks show
 * it. None of them depends on the series' patches (the mirror and
 * migration code paths are the same at every level); each takes the series
 * so that tests can show it.
 *
 * @module
 */
import { bootMachine, type Machine } from "../machine.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SeriesOptions } from "../series.ts";
import {
  type Dmirror,
  dmirror_create,
  dmirror_entry_string,
  dmirror_file,
  DMIRROR_HMM_FLAGS,
  DMIRROR_HMM_VALUES,
  dmirror_migrate,
  dmirror_open,
  DMIRROR_PFN_SHIFT,
  dmirror_read,
  dmirror_release,
  dmirror_snapshot,
  dmirror_write,
  type DmirrorDevice,
  dmirrorToDevice,
} from "../drivers/dmirror.ts";
import { hmm_devmem_page_get_drvdata } from "../kernel/mm/page-ext.ts";
import {
  HMM_MIRROR,
  HMM_PFN_SPECIAL,
  hmm_pfn_to_page,
  HMM_PFN_VALID,
  hmm_vma_fault,
  hmm_vma_get_pfns,
  hmm_vma_range_done,
  HmmRange,
} from "../kernel/mm/hmm-mirror.ts";
import { MIGRATE_PFN_MIGRATE, migrate_vma, type MigrateVmaOps } from "../kernel/mm/migrate.ts";
import {
  find_vma,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VM_MIXEDMAP,
} from "../kernel/mm/mm-types.ts";
import { set_nr_hugepages } from "../kernel/mm/huge-memory.ts";
import { ramStats } from "../kernel/mm/ram-alloc.ts";
import { page_count } from "../kernel/mm/memmap.ts";
import { pageReadWords, WORDS_PER_PAGE } from "../kernel/mm/page-contents.ts";
import { page_mapcount } from "../kernel/mm/page-ext.ts";
import {
  is_device_private_entry,
  is_write_device_private_entry,
  pte_pfn,
  pte_present,
  pte_to_swp_entry,
  pte_write,
  pteAt,
} from "../kernel/mm/pgtable.ts";
import { Process } from "../kernel/mm/process.ts";
import { is_zero_pfn } from "../kernel/mm/ram-alloc.ts";

/** Pages of the scenarios' buffers (the hmm-tests default: 4 MiB). */
export const NPAGES = 1024;
const WORDS = NPAGES * WORDS_PER_PAGE;

/** A booted machine with a process and `n` dmirror devices, each opened by the process. */
export interface HmmFixture {
  /** The machine. */
  m: Machine;
  /** Its kernel. */
  k: Kernel;
  /** The process. */
  p: Process;
  /** The devices. */
  devices: DmirrorDevice[];
  /** The process's mirrors, one per device. */
  mirrors: Dmirror[];
}

/**
 * Boots `machine` (default "small") at `series`, creates `n` dmirror
 * devices and a process that opens each (a mirror per device; closing the
 * file at exit runs dmirror_release).
 */
export function hmmFixture(
  series: SeriesOptions["series"],
  n = 1,
  opts: { machine?: string | object; deviceSize?: number; seed?: number } = {},
): HmmFixture {
  const m = bootMachine(opts.machine ?? "small", {
    ...(series === undefined ? {} : { series }),
    seed: opts.seed ?? 0,
  });
  const k = m.k;
  const devices: DmirrorDevice[] = [];
  for (let i = 0; i < n; i++) {
    const size = opts.deviceSize;
    const md = m.call(dmirror_create, size === undefined ? {} : { size });
    if (typeof md === "number") {
      throw new Error(`Cannot create dmirror device ${i}: probe returned ${md}`);
    }
    devices.push(md);
  }
  const p = new Process(k, "hmm-tests");
  const mirrors: Dmirror[] = [];
  for (const md of devices) {
    const d = dmirror_open(k, md, p.mm);
    if (typeof d === "number") throw new Error(`Cannot open ${md.dev.name}: ${d}`);
    p.open(`/dev/${md.dev.name}`, (kk) => dmirror_release(kk, d));
    mirrors.push(d);
  }
  return { m, k, p, devices, mirrors };
}

/** The word pattern hmm-tests writes: word i holds i (from `from` on). */
export function indexWords(n: number, from = 0): Int32Array {
  const w = new Int32Array(n);
  for (let i = from; i < n; i++) w[i] = i;
  return w;
}

function rangeOf(_k: Kernel, p: Process, start: number, npages: number): HmmRange {
  const vma = find_vma(p.mm, start)!;
  return new HmmRange(
    vma,
    start,
    start + npages * 4096,
    new Float64Array(npages),
    DMIRROR_HMM_FLAGS,
    DMIRROR_HMM_VALUES,
    DMIRROR_PFN_SHIFT,
  );
}

/** Copies what each VALID entry of `range` maps into a word buffer (the device's bounce copy). */
function copyRange(k: Kernel, range: HmmRange, out: Int32Array): number {
  let copied = 0;
  const n = (range.end - range.start) / 4096;
  for (let i = 0; i < n; i++) {
    const page = hmm_pfn_to_page(range, range.pfns[i]!);
    if (page === null) continue;
    pageReadWords(k, page, out, i * WORDS_PER_PAGE);
    copied++;
  }
  return copied;
}

// ---- 13 ----

/** Scenario 13's observations. */
export interface Scenario13 {
  /** hmm_vma_fault's result. */
  ret: number;
  /** hmm_vma_range_done's result. */
  rangeDone: boolean;
  /** hmm_vma_fault calls needed (fault passes). */
  faultPasses: number;
  /** Pages copied. */
  copied: number;
  /** Whether pages 0 and 1 read as zeros. */
  firstTwoZero: boolean;
  /** Whether every other word equals its index. */
  indexOk: boolean;
  /** What entry 1 (the CPU-read page) maps: the zero page. */
  page1IsZeroPage: boolean;
  /** The same read through the dmirror driver: status, pages, fault passes. */
  driver: { ret: number; cpages: number; faults: number; dataOk: boolean };
}

/**
 * Scenario 13 (hmm-tests anon_read): a 1024-page private anonymous buffer,
 * page 0 untouched, page 1 read by the CPU (the zero page), the rest
 * holding word indexes, mprotect PROT_READ; one mirror reads it all with
 * one hmm_vma_fault (read request), hmm_vma_range_done, and a copy.
 */
export function scenario13(series: SeriesOptions["series"]): Scenario13 {
  const { k, p, mirrors } = hmmFixture(series);
  const a = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  p.load32(a + 4096); // page 1: read → zero page
  const w = indexWords(WORDS, 2 * WORDS_PER_PAGE);
  p.writeWords(a + 2 * 4096, w.subarray(2 * WORDS_PER_PAGE));
  p.mprotect(a, NPAGES * 4096, PROT_READ);
  const range = rangeOf(k, p, a, NPAGES);
  range.pfns.fill(DMIRROR_HMM_FLAGS[HMM_PFN_VALID]!);
  const ret = hmm_vma_fault(k, range, true);
  const rangeDone = ret === 0 ? hmm_vma_range_done(k, range) : false;
  const out = new Int32Array(WORDS).fill(-1);
  const copied = copyRange(k, range, out);
  let firstTwoZero = true, indexOk = true;
  for (let i = 0; i < 2 * WORDS_PER_PAGE; i++) if (out[i] !== 0) firstTwoZero = false;
  for (let i = 2 * WORDS_PER_PAGE; i < WORDS; i++) if (out[i] !== i) indexOk = false;
  const page1IsZeroPage = is_zero_pfn(k, hmm_pfn_to_page(range, range.pfns[1]!) ?? -1);
  const buf = new Int32Array(WORDS).fill(-1);
  const r = dmirror_read(k, mirrors[0]!, a, NPAGES, buf);
  let dataOk = true;
  for (let i = 0; i < WORDS; i++) if (buf[i] !== (i < 2 * WORDS_PER_PAGE ? 0 : i)) dataOk = false;
  return {
    ret,
    rangeDone,
    faultPasses: 1,
    copied,
    firstTwoZero,
    indexOk,
    page1IsZeroPage,
    driver: { ret: r.ret, cpages: r.cpages, faults: r.faults, dataOk },
  };
}

// ---- 14 ----

/** Scenario 14's observations. */
export interface Scenario14 {
  /** (a) PROT_NONE: the core's answers and what the driver saw. */
  a: {
    getPfnsRet: number;
    faultRet: number;
    entriesNone: boolean;
    driverRet: number;
    deviceBufferUnchanged: boolean;
    cpuIntactAfterProtRead: boolean;
  };
  /** (b) PROT_READ, never written. */
  b: {
    readRet: number;
    readCpages: number;
    readZero: boolean;
    writeRet: number;
    cpuStillZero: boolean;
    rwWriteRet: number;
    rwWriteCpages: number;
    cpuReadsData: boolean;
    zeroPageReplaced: boolean;
    writablePrivatePages: number;
  };
}

/**
 * Scenario 14 (anon_read_prot, anon_write_prot): (a) an index-filled VMA
 * made PROT_NONE is refused by the core (-EPERM, entries cleared) and the
 * device buffer stays as it was; (b) a never-written PROT_READ VMA: a
 * device read of one page works (the zero page), a device write is
 * rejected (the 2018 driver checks VM_WRITE: -EFAULT) and the CPU still
 * reads 0; after mprotect(RW) the write works, replacing the zero page by
 * private writable pages.
 */
export function scenario14(series: SeriesOptions["series"]): Scenario14 {
  const { k, p, mirrors } = hmmFixture(series);
  const d = mirrors[0]!;
  // (a)
  const a = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const w = indexWords(WORDS);
  p.writeWords(a, w);
  p.mprotect(a, NPAGES * 4096, PROT_NONE);
  const r1 = rangeOf(k, p, a, NPAGES);
  r1.pfns.fill(12345);
  const getPfnsRet = hmm_vma_get_pfns(k, r1);
  const entriesNone = r1.pfns.every((e) => e === DMIRROR_HMM_VALUES[1]);
  const r2 = rangeOf(k, p, a, NPAGES);
  r2.pfns.fill(DMIRROR_HMM_FLAGS[HMM_PFN_VALID]!);
  const faultRet = hmm_vma_fault(k, r2, true);
  const dev = new Int32Array(WORDS);
  for (let i = 0; i < WORDS; i++) dev[i] = -i;
  const drv = dmirror_read(k, d, a, NPAGES, dev);
  let unchanged = true;
  for (let i = 0; i < WORDS; i++) if (dev[i] !== -i) unchanged = false;
  p.mprotect(a, NPAGES * 4096, PROT_READ);
  const back = p.readWords(a, WORDS);
  let intact = true;
  for (let i = 0; i < WORDS; i++) if (back[i] !== i) intact = false;
  // (b)
  const b = p.mmap(0, NPAGES * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
  const one = new Int32Array(WORDS_PER_PAGE).fill(-1);
  const rd = dmirror_read(k, d, b, 1, one);
  const data = indexWords(WORDS);
  const wr = dmirror_write(k, d, b, NPAGES, data);
  let cpuStillZero = true;
  for (let i = 0; i < NPAGES; i++) if (p.load32(b + i * 4096) !== 0) cpuStillZero = false;
  p.mprotect(b, NPAGES * 4096, PROT_READ | PROT_WRITE);
  const wr2 = dmirror_write(k, d, b, NPAGES, data);
  const got = p.readWords(b, WORDS);
  let cpuReadsData = true;
  for (let i = 0; i < WORDS; i++) if (got[i] !== i) cpuReadsData = false;
  let writable = 0, zeroLeft = false;
  for (let i = 0; i < NPAGES; i++) {
    const pte = pteAt(p.mm.pgd, b + i * 4096);
    if (pte_present(pte) && is_zero_pfn(k, pte_pfn(pte))) zeroLeft = true;
    if (pte_present(pte) && pte_write(pte)) writable++;
  }
  return {
    a: {
      getPfnsRet,
      faultRet,
      entriesNone,
      driverRet: drv.ret,
      deviceBufferUnchanged: unchanged,
      cpuIntactAfterProtRead: intact,
    },
    b: {
      readRet: rd.ret,
      readCpages: rd.cpages,
      readZero: one.every((x) => x === 0),
      writeRet: wr.ret,
      cpuStillZero,
      rwWriteRet: wr2.ret,
      rwWriteCpages: wr2.cpages,
      cpuReadsData,
      zeroPageReplaced: !zeroLeft,
      writablePrivatePages: writable,
    },
  };
}

// ---- 15 ----

/** Scenario 15's observations. */
export interface Scenario15 {
  /** Each mirror's sync_cpu_device_pagetables ranges during the munmap. */
  syncsPerMirror: Array<Array<{ start: number; end: number }>>;
  /** The unmapped interval. */
  unmapped: { start: number; end: number };
  /** range->valid right after the munmap. */
  rangeValidAfterMunmap: boolean;
  /** hmm_vma_range_done's answer. */
  rangeDone: boolean;
  /** Whether the snapshot's entries for the interval were zeroed. */
  staleEntriesZeroed: boolean;
  /** Device-table entries left in the unmapped interval, per mirror. */
  deviceEntriesInInterval: number[];
  /** Device-table entries kept below it, per mirror. */
  deviceEntriesBelow: number[];
  /** A retry over the lower half: get_pfns result and range_done. */
  retryLower: { ret: number; rangeDone: boolean };
  /** A retry over the full range. */
  retryFull: { ret: number };
}

/**
 * Scenario 15 (anon_teardown): two mirrors on a 1024-page buffer (each has
 * filled its device table), the driver's snapshot in flight
 * (hmm_vma_get_pfns tracked); the upper 512 pages are unmapped before
 * hmm_vma_range_done.
 */
export function scenario15(series: SeriesOptions["series"]): Scenario15 {
  const { k, p, mirrors } = hmmFixture(series, 2);
  const a = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  p.writeWords(a, indexWords(WORDS));
  const buf = new Int32Array(WORDS);
  for (const d of mirrors) dmirror_read(k, d, a, NPAGES, buf);
  const range = rangeOf(k, p, a, NPAGES);
  hmm_vma_get_pfns(k, range);
  const mid = a + (NPAGES / 2) * 4096, end = a + NPAGES * 4096;
  const syncsPerMirror: Array<Array<{ start: number; end: number }>> = mirrors.map(() => []);
  // record each mirror's syncs from here on
  const recorders = mirrors.map((d, i) => {
    const orig = d.mirror.ops!.sync_cpu_device_pagetables;
    const ops = {
      ...d.mirror.ops!,
      sync_cpu_device_pagetables(
        kk: Kernel,
        m: typeof d.mirror,
        u: { start: number; end: number; event: number; blockable: boolean },
      ) {
        syncsPerMirror[i]!.push({ start: u.start, end: u.end });
        return orig(kk, m, u);
      },
    };
    const saved = d.mirror.ops;
    d.mirror.ops = ops;
    return () => void (d.mirror.ops = saved);
  });
  p.munmap(mid, end - mid);
  for (const undo of recorders) undo();
  const rangeValidAfterMunmap = range.valid;
  let staleEntriesZeroed = true;
  for (let i = NPAGES / 2; i < NPAGES; i++) if (range.pfns[i] !== 0) staleEntriesZeroed = false;
  const rangeDone = hmm_vma_range_done(k, range);
  const lower = rangeOf(k, p, a, NPAGES / 2);
  const retLower = hmm_vma_get_pfns(k, lower);
  const lowerDone = retLower === 0 ? hmm_vma_range_done(k, lower) : false;
  const full = new HmmRange(
    find_vma(p.mm, a)!,
    a,
    end,
    new Float64Array(NPAGES),
    DMIRROR_HMM_FLAGS,
    DMIRROR_HMM_VALUES,
    DMIRROR_PFN_SHIFT,
  );
  const retFull = hmm_vma_get_pfns(k, full);
  return {
    syncsPerMirror,
    unmapped: { start: mid, end },
    rangeValidAfterMunmap,
    rangeDone,
    staleEntriesZeroed,
    deviceEntriesInInterval: mirrors.map((d) => d.countValid(mid, end)),
    deviceEntriesBelow: mirrors.map((d) => d.countValid(a, mid)),
    retryLower: { ret: retLower, rangeDone: lowerDone },
    retryFull: { ret: retFull },
  };
}

// ---- 16 ----

/** Scenario 16's observations. */
export interface Scenario16 {
  /** Device pages allocated and freed before, and after the migration. */
  before: { calloc: number; cfree: number };
  /** After. */
  after: { calloc: number; cfree: number };
  /** The driver's migrate result. */
  migrate: { ret: number; cpages: number };
  /** CPU ptes that are writable device-private entries of this device. */
  writableDevicePrivatePtes: number;
  /** Whether each device page's backing copy equals the source data. */
  deviceCopyEqual: boolean;
  /** Original system pages no longer mapped by the process (freed, or reused as the device's backing pages). */
  oldPagesUnmapped: number;
  /** System RAM pages allocated after minus before the migration (1024 freed, 1024 backing pages taken). */
  ramDelta: number;
  /** The snapshot's classification of every entry (one string if all agree). */
  snapshot: string[];
  /** The section count of the device memory (64 MiB rounded up). */
  deviceSections: number;
}

/**
 * Scenario 16: migrate_vma of an index-filled 1024-page private anonymous
 * buffer to the dummy driver's DEVICE_PRIVATE memory (hmm_devmem_add of
 * 64 MiB, one section) in 64-page chunks.
 */
export function scenario16(series: SeriesOptions["series"]): Scenario16 {
  const { k, p, devices, mirrors } = hmmFixture(series);
  const md = devices[0]!, d = mirrors[0]!;
  const a = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const w = indexWords(WORDS);
  p.writeWords(a, w);
  const oldPfns: number[] = [];
  for (let i = 0; i < NPAGES; i++) oldPfns.push(p.pfnAt(a + i * 4096));
  const before = { calloc: md.calloc, cfree: md.cfree };
  const ram0 = ramStats(k).allocated;
  const r = dmirror_migrate(k, d, a, NPAGES);
  const ramDelta = ramStats(k).allocated - ram0;
  let writable = 0, equal = true;
  const words = new Int32Array(WORDS_PER_PAGE);
  for (let i = 0; i < NPAGES; i++) {
    const pte = pteAt(p.mm.pgd, a + i * 4096);
    if (pte_present(pte) || pte === 0) continue;
    const e = pte_to_swp_entry(pte);
    if (!is_device_private_entry(e)) continue;
    if (is_write_device_private_entry(e)) writable++;
    const dpage = (e - (e & 31)) / 32;
    const rpage = hmm_devmem_page_get_drvdata(k, dpage);
    pageReadWords(k, rpage, words);
    for (let j = 0; j < WORDS_PER_PAGE; j++) {
      if (words[j] !== w[i * WORDS_PER_PAGE + j]) equal = false;
    }
  }
  let freed = 0;
  for (const pfn of oldPfns) if (page_count(k, pfn) === 0 || page_mapcount(k, pfn) === 0) freed++;
  const snap = dmirror_snapshot(k, d, a, NPAGES);
  const kinds = new Set<string>();
  for (const e of snap.entries) kinds.add(dmirror_entry_string(e));
  return {
    before,
    after: { calloc: md.calloc, cfree: md.cfree },
    migrate: { ret: r.ret, cpages: r.cpages },
    writableDevicePrivatePtes: writable,
    deviceCopyEqual: equal,
    oldPagesUnmapped: freed,
    ramDelta,
    snapshot: [...kinds],
    deviceSections: (md.devmem!.pfn_last - md.devmem!.pfn_first) / 32768,
  };
}

// ---- 18 ----

/** Scenario 18's observations. */
export interface Scenario18 {
  /** migrate_vma's result on the untouched shared buffer. */
  migrateVmaRet: number;
  /** Entries alloc_and_copy saw with MIGRATE (empty entries of the shared VMA). */
  offered: number;
  /** Entries still MIGRATE in finalize_and_map (moved). */
  moved: number;
  /** Whether every CPU pte of the buffer is still empty. */
  ptesUnchanged: boolean;
  /** Device pages the driver allocated and freed during it. */
  allocs: number;
  /** Frees. */
  frees: number;
  /** The hmm-tests-style driver's MIGRATE result. */
  driver: { ret: number; cpages: number };
  /** The touched variant: pages the CPU wrote (page cache pages) — collected, then refused. */
  touched: {
    collected: number;
    moved: number;
    ptesUnchanged: boolean;
    allocs: number;
    frees: number;
  };
}

/**
 * Scenario 18 (migrate_shared): migrate_vma over an untouched 1024-page
 * MAP_SHARED|MAP_ANONYMOUS buffer returns 0 and moves nothing: its empty
 * entries are offered (the driver allocates device pages for them), but
 * insertion into a non-anonymous VMA aborts and the pages go back through
 * the driver's free callback. A touched variant shows page-cache pages
 * collected and refused (a mapping-backed page cannot go to
 * DEVICE_PRIVATE memory).
 */
export function scenario18(series: SeriesOptions["series"]): Scenario18 {
  const { k, p, devices, mirrors } = hmmFixture(series);
  const md = devices[0]!, d = mirrors[0]!;
  const run = (a: number) => {
    const vma = find_vma(p.mm, a)!;
    const src = new Float64Array(64), dst = new Float64Array(64);
    let offered = 0, moved = 0;
    const c0 = md.calloc, f0 = md.cfree;
    const ops: MigrateVmaOps = {
      alloc_and_copy(kk, v, s, dd, st, en, priv) {
        for (let i = 0; i < (en - st) / 4096; i++) {
          if ((s[i]! & MIGRATE_PFN_MIGRATE) !== 0) offered++;
        }
        dmirrorToDevice.alloc_and_copy(kk, v, s, dd, st, en, priv);
      },
      finalize_and_map(_kk, _v, s, dd, st, en) {
        for (let i = 0; i < (en - st) / 4096; i++) {
          if ((s[i]! & MIGRATE_PFN_MIGRATE) !== 0 && (dd[i]! & 1) !== 0) moved++;
        }
      },
    };
    let ret = 0;
    for (let x = a; x < a + NPAGES * 4096; x += 64 * 4096) {
      ret = migrate_vma(k, ops, vma, x, x + 64 * 4096, src, dst, { md, npages: 0 });
      if (ret) break;
    }
    return { ret, offered, moved, allocs: md.calloc - c0, frees: md.cfree - f0 };
  };
  const a = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  const r = run(a);
  let unchanged = true;
  for (let i = 0; i < NPAGES; i++) if (pteAt(p.mm.pgd, a + i * 4096) !== 0) unchanged = false;
  const drv = dmirror_migrate(k, d, a, NPAGES);
  // touched: the CPU writes every page (shmem page-cache pages)
  const b = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  p.writeWords(b, indexWords(WORDS));
  // the same page, present, with the same write permission (the restored pte is old and clean)
  const view = (pte: number) => `${pte_present(pte)}:${pte_pfn(pte)}:${pte_write(pte)}`;
  const before: string[] = [];
  for (let i = 0; i < NPAGES; i++) before.push(view(pteAt(p.mm.pgd, b + i * 4096)));
  const t = run(b);
  let tUnchanged = true;
  for (let i = 0; i < NPAGES; i++) {
    if (view(pteAt(p.mm.pgd, b + i * 4096)) !== before[i]) tUnchanged = false;
  }
  return {
    migrateVmaRet: r.ret,
    offered: r.offered,
    moved: r.moved,
    ptesUnchanged: unchanged,
    allocs: r.allocs,
    frees: r.frees,
    driver: { ret: drv.ret, cpages: drv.cpages },
    touched: {
      collected: t.offered,
      moved: t.moved,
      ptesUnchanged: tUnchanged,
      allocs: t.allocs,
      frees: t.frees,
    },
  };
}

// ---- 19 ----

/** One refusal case of scenario 19. */
export interface RefusedVma {
  /** Whether the VMA is what the case needs (VM_HUGETLB / VM_MIXEDMAP). */
  flagsOk: boolean;
  /** hmm_vma_get_pfns result. */
  getPfnsRet: number;
  /** Whether every entry is the driver's SPECIAL value after it. */
  getPfnsSpecial: boolean;
  /** hmm_vma_fault result. */
  faultRet: number;
  /** Whether every entry is SPECIAL after it. */
  faultSpecial: boolean;
  /** migrate_vma result. */
  migrateRet: number;
  /** The dmirror driver's device write (what hmm-tests does). */
  driverWriteRet: number;
}

/** Scenario 19's observations. */
export interface Scenario19 {
  /** (a) MAP_HUGETLB 2 MiB. */
  hugetlb: RefusedVma;
  /** (b) VM_MIXEDMAP built with vm_insert_page. */
  mixedmap: RefusedVma;
}

/**
 * Scenario 19: a MAP_HUGETLB VMA and a VM_MIXEDMAP VMA (the driver's
 * vm_insert_page mmap) are refused by hmm_vma_get_pfns, hmm_vma_fault
 * (-EINVAL, every entry SPECIAL) and migrate_vma (-EINVAL).
 */
export function scenario19(series: SeriesOptions["series"]): Scenario19 {
  const { k, p, devices, mirrors } = hmmFixture(series);
  const d = mirrors[0]!;
  set_nr_hugepages(k, 2);
  const case_ = (a: number, npages: number, flag: number): RefusedVma => {
    const vma = find_vma(p.mm, a)!;
    const r1 = rangeOf(k, p, a, npages);
    const g = hmm_vma_get_pfns(k, r1);
    const r2 = rangeOf(k, p, a, npages);
    r2.pfns.fill(DMIRROR_HMM_FLAGS[HMM_PFN_VALID]!);
    const f = hmm_vma_fault(k, r2, true);
    const special = DMIRROR_HMM_VALUES[HMM_PFN_SPECIAL]!;
    const src = new Float64Array(npages), dst = new Float64Array(npages);
    const mret = migrate_vma(k, dmirrorToDevice, vma, a, a + npages * 4096, src, dst, {
      md: devices[0]!,
      npages: 0,
    });
    const wr = dmirror_write(k, d, a, npages, new Int32Array(npages * WORDS_PER_PAGE));
    return {
      flagsOk: (vma.vm_flags & flag) !== 0,
      getPfnsRet: g,
      getPfnsSpecial: r1.pfns.every((e) => e === special),
      faultRet: f,
      faultSpecial: r2.pfns.every((e) => e === special),
      migrateRet: mret,
      driverWriteRet: wr.ret,
    };
  };
  const h = p.mmap(
    0,
    2 * 2 ** 20,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
  );
  p.writeWords(h, indexWords(2 * 2 ** 20 / 4)); // the CPU can use it (hugetlb_fault)
  const hugetlb = case_(h, 512, 0x400000);
  const f = dmirror_file(k, devices[0]!, { mixedmap: true });
  const mx = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f);
  const mixedmap = case_(mx, 1, VM_MIXEDMAP);
  return { hugetlb, mixedmap };
}

// ---- 22 ----

/** Scenario 22's observations. */
export interface Scenario22 {
  /** ->release calls per mirror. */
  releases: number[];
  /** At each ->release: device pages still allocated (nothing zapped yet) and device entries left. */
  atRelease: Array<{ cfree: number; deviceEntries: number }>;
  /** Free callbacks during the exit's unmap. */
  freesDuringExit: number;
  /** Device allocations and frees after exit. */
  calloc: number;
  /** Frees. */
  cfree: number;
  /** The "DEVICE PAGE" lines the driver printed at close. */
  deviceLines: string[];
  /** What the driver-side unregisters after the exit touched (recorded, not asserted). */
  unregisterUseAfterFree: string[];
  /** RAM pages still allocated minus before the process existed. */
  ramLeak: number;
}

/**
 * Scenario 22: a process with two mirrors (two dmirror devices, one with
 * ->release counting) and 1024 pages migrated to device 0 exits: exit_mm
 * (mmu_notifier_release → every mirror's ->release, then the unmap that
 * frees the device pages through ->free), exit_files (each driver closes:
 * "DEVICE PAGE a b (0)", hmm_mirror_unregister), then the final mmdrop.
 */
export function scenario22(series: SeriesOptions["series"]): Scenario22 {
  const { k, p, devices, mirrors } = hmmFixture(series, 2);
  const ram0 = ramStats(k).allocated;
  const a = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  p.writeWords(a, indexWords(WORDS));
  dmirror_migrate(k, mirrors[0]!, a, NPAGES);
  const md = devices[0]!;
  const atRelease: Array<{ cfree: number; deviceEntries: number }> = [];
  for (const d of mirrors) {
    const ops = d.mirror.ops!;
    const orig = ops.release!;
    d.mirror.ops = {
      ...ops,
      release(kk, m) {
        let entries = 0;
        for (let i = 0; i < NPAGES; i++) {
          const pte = pteAt(p.mm.pgd, a + i * 4096);
          if (pte !== 0 && !pte_present(pte) && is_device_private_entry(pte_to_swp_entry(pte))) {
            entries++;
          }
        }
        atRelease.push({ cfree: md.cfree, deviceEntries: entries });
        orig(kk, m);
      },
    };
  }
  const f0 = md.cfree;
  const lines0 = k.dmesg.lines.length;
  p.exit();
  const deviceLines = k.dmesg.lines.slice(lines0).map((l) => l.text).filter((t) =>
    t.startsWith("DEVICE PAGE")
  );
  return {
    releases: mirrors.map((d) => d.released),
    atRelease,
    freesDuringExit: md.cfree - f0,
    calloc: md.calloc,
    cfree: md.cfree,
    deviceLines,
    unregisterUseAfterFree: [...k.state(HMM_MIRROR).useAfterFree],
    ramLeak: ramStats(k).allocated - ram0,
  };
}
