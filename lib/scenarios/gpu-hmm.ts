/**
 * Scenarios 16, 18, 22 and 30 of SCENARIOS.md on the simulated GPU with
 * its nouveau-style driver (lib/drivers/gpu) instead of the 2018 dummy
 * driver: the same process-side stories, told with real VRAM (no backing
 * system pages), 2 MiB chunks, copy-engine DMAs and far-fault batches.
 * Each boots the "fuzz" machine (a GPU with 512 MiB of VRAM) at the given
 * series, binds nouveau, and returns what happened as data.
 *
 * @module
 */
import { bootMachine, type Machine } from "../machine.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SeriesOptions } from "../series.ts";
import { nouveau_bind, nouveau_unbind, type NouveauDrm } from "../drivers/gpu/drm.ts";
import { nouveau_dmem_migrate_vma, nouveau_dmem_page } from "../drivers/gpu/dmem.ts";
import {
  nouveau_gpu_read,
  nouveau_gpu_write,
  NOUVEAU_SVM_PFN_FLAGS,
  NOUVEAU_SVM_PFN_SHIFT,
  NOUVEAU_SVM_PFN_VALUES,
  nouveau_svmm_bind,
  nouveau_svmm_fini,
  nouveau_svmm_init,
  type NouveauSvmm,
} from "../drivers/gpu/svm.ts";
import {
  type Dmirror,
  dmirror_create,
  dmirror_open,
  dmirror_release,
  type DmirrorDevice,
} from "../drivers/dmirror.ts";
import {
  HMM_MIRROR,
  hmm_vma_get_pfns,
  hmm_vma_range_done,
  HmmRange,
} from "../kernel/mm/hmm-mirror.ts";
import {
  find_vma,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../kernel/mm/mm-types.ts";
import { ramStats } from "../kernel/mm/ram-alloc.ts";
import { page_count } from "../kernel/mm/memmap.ts";
import { page_mapcount } from "../kernel/mm/page-ext.ts";
import { WORDS_PER_PAGE } from "../kernel/mm/page-contents.ts";
import {
  device_private_entry_to_page,
  is_device_private_entry,
  is_write_device_private_entry,
  pte_present,
  pte_to_swp_entry,
  pteAt,
} from "../kernel/mm/pgtable.ts";
import { MM, sectionOf } from "../kernel/mm/mmzone.ts";
import { Process } from "../kernel/mm/process.ts";
import { HUB } from "../kernel/mm/hub.ts";
import { indexWords, NPAGES } from "./hmm-process.ts";

const WORDS = NPAGES * WORDS_PER_PAGE;

/** A booted machine with a bound GPU and a process it mirrors. */
export interface GpuFixture {
  /** The machine. */
  m: Machine;
  /** Its kernel. */
  k: Kernel;
  /** The bound GPU. */
  drm: NouveauDrm;
  /** The process. */
  p: Process;
  /** The GPU's mirror of the process (closed at exit). */
  svmm: NouveauSvmm;
}

/**
 * Boots `machine` (default "fuzz") at `series`, binds nouveau to its first
 * GPU, and creates a process that opens the GPU (a mirror; closing the file
 * at exit runs nouveau_svmm_fini).
 */
export function gpuFixture(
  series: SeriesOptions["series"],
  opts: { machine?: string | object; seed?: number } = {},
): GpuFixture {
  const m = bootMachine(opts.machine ?? "fuzz", {
    ...(series === undefined ? {} : { series }),
    seed: opts.seed ?? 0,
  });
  const k = m.k;
  const drm = m.call(nouveau_bind, m.hw!, undefined);
  if (typeof drm === "number") throw new Error(`Cannot bind nouveau: probe returned ${drm}`);
  if (drm.dmem === null) throw new Error("Cannot use the GPU: nouveau_dmem_init failed");
  const p = new Process(k, "gpu-user");
  const svmm = nouveau_svmm_init(k, drm, p.mm);
  if (typeof svmm === "number") throw new Error(`Cannot mirror the process: ${svmm}`);
  p.open("/dev/dri/renderD128", (kk) => nouveau_svmm_fini(kk, svmm));
  return { m, k, drm, p, svmm };
}

/** The CPU entries of [a, a + n pages) that are device-private entries of `drm` (and how many are writable). */
export function gpuPrivatePtes(
  f: GpuFixture,
  a: number,
  n: number,
): { all: number; writable: number } {
  let all = 0, writable = 0;
  for (let i = 0; i < n; i++) {
    const pte = pteAt(f.p.mm.pgd, a + i * 4096);
    if (pte === 0 || pte_present(pte)) continue;
    const e = pte_to_swp_entry(pte);
    if (!is_device_private_entry(e)) continue;
    if (!nouveau_dmem_page(f.k, f.drm, device_private_entry_to_page(e))) continue;
    all++;
    if (is_write_device_private_entry(e)) writable++;
  }
  return { all, writable };
}

/** Classifies the HMM snapshot entries of [a, a + n pages) (the GPU's flags) into a sorted set of strings. */
export function gpuSnapshotKinds(f: GpuFixture, a: number, n: number): string[] {
  const vma = find_vma(f.p.mm, a)!;
  const pfns = new Float64Array(n);
  const range = new HmmRange(
    vma,
    a,
    a + n * 4096,
    pfns,
    NOUVEAU_SVM_PFN_FLAGS,
    NOUVEAU_SVM_PFN_VALUES,
    NOUVEAU_SVM_PFN_SHIFT,
  );
  if (hmm_vma_get_pfns(f.k, range) === 0) hmm_vma_range_done(f.k, range);
  const kinds = new Set<string>();
  const [fv, fw, fd] = NOUVEAU_SVM_PFN_FLAGS as [number, number, number];
  for (const e of pfns) {
    const parts: string[] = [];
    if ((e & fv) !== 0) parts.push("VALID");
    if ((e & fw) !== 0) parts.push("WRITE");
    if ((e & fd) !== 0) parts.push("DEVICE_PRIVATE");
    kinds.add(parts.length > 0 ? parts.join("|") : "NONE");
  }
  return [...kinds].sort();
}

// ---- 16 ----

/** Scenario 16 on the GPU. */
export interface Scenario16Gpu {
  /** Device pages allocated / freed before and after. */
  before: { allocated: number; freed: number };
  /** After. */
  after: { allocated: number; freed: number };
  /** The bind's result (cpages: pages now in this GPU's VRAM). */
  migrate: { ret: number; cpages: number };
  /** CPU entries that are writable device-private entries of this GPU. */
  writableDevicePrivatePtes: number;
  /** Whether every VRAM page behind them holds the source data. */
  vramCopyEqual: boolean;
  /** VRAM pages holding a chunk the RAM page had (copy-on-write sharing, no host copy). */
  cowBreaksDuringMigration: number;
  /** The original system pages no longer mapped by the process. */
  oldPagesUnmapped: number;
  /** RAM pages allocated after minus before (real VRAM: no backing pages). */
  ramDelta: number;
  /** The HMM snapshot's classification. */
  snapshot: string[];
  /** Sections of device memory (512 MiB of VRAM). */
  deviceSections: number;
  /** Chunks with a VRAM bo, and the lists' lengths. */
  chunks: { withBo: number; free: number; full: number; empty: number };
  /** Simulated ns of the migration. */
  simNs: number;
  /** Copies the copy engine made. */
  copies: number;
}

/** Scenario 16 (migrate_vma to device memory), on the GPU: nouveau_svmm_bind of 1024 pages. */
export function scenario16Gpu(series: SeriesOptions["series"]): Scenario16Gpu {
  const f = gpuFixture(series);
  const { k, p, drm } = f;
  const dmem = drm.dmem!;
  const a = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const w = indexWords(WORDS);
  p.writeWords(a, w);
  const oldPfns: number[] = [];
  for (let i = 0; i < NPAGES; i++) oldPfns.push(p.pfnAt(a + i * 4096));
  const before = { allocated: dmem.allocated, freed: dmem.freed };
  const ram0 = ramStats(k).allocated;
  const cow0 = k.state(HUB).cs.stats.cowBreaks;
  const copies0 = drm.gpu.copyEngine.copies;
  const t0 = k.clock.now;
  const r = nouveau_svmm_bind(k, f.svmm, a, NPAGES);
  const simNs = k.clock.now - t0;
  const ramDelta = ramStats(k).allocated - ram0;
  const cowBreaks = k.state(HUB).cs.stats.cowBreaks - cow0;
  let equal = true;
  const words = new Int32Array(WORDS_PER_PAGE);
  for (let i = 0; i < NPAGES; i++) {
    const e = pte_to_swp_entry(pteAt(p.mm.pgd, a + i * 4096));
    const page = device_private_entry_to_page(e);
    const c = dmem.chunks.find((x) => page >= x.pfn_first && page < x.pfn_first + 512)!;
    drm.gpu.vram.readPageWords(page - c.pfn_first + c.bo!.mem_start, words);
    for (let j = 0; j < WORDS_PER_PAGE; j++) {
      if (words[j] !== w[i * WORDS_PER_PAGE + j]) equal = false;
    }
  }
  let unmapped = 0;
  for (const pfn of oldPfns) {
    if (page_count(k, pfn) === 0 || page_mapcount(k, pfn) === 0) unmapped++;
  }
  return {
    before,
    after: { allocated: dmem.allocated, freed: dmem.freed },
    migrate: { ret: r.ret, cpages: r.cpages },
    writableDevicePrivatePtes: gpuPrivatePtes(f, a, NPAGES).writable,
    vramCopyEqual: equal,
    cowBreaksDuringMigration: cowBreaks,
    oldPagesUnmapped: unmapped,
    ramDelta,
    snapshot: gpuSnapshotKinds(f, a, NPAGES),
    deviceSections: (dmem.devmem!.pfn_last - dmem.devmem!.pfn_first) / 32768,
    chunks: {
      withBo: dmem.chunks.filter((c) => c.bo !== null).length,
      free: dmem.chunk_free.length,
      full: dmem.chunk_full.length,
      empty: dmem.chunk_empty.length,
    },
    simNs,
    copies: drm.gpu.copyEngine.copies - copies0,
  };
}

// ---- 18 ----

/** Scenario 18 on the GPU. */
export interface Scenario18Gpu {
  /** The untouched shared buffer: nouveau_dmem_migrate_vma's result and what moved. */
  untouched: { ret: number; moved: number; allocated: number; ptesUnchanged: boolean };
  /** The touched (page-cache) buffer: allocated and copied, then refused and freed. */
  touched: {
    ret: number;
    moved: number;
    allocated: number;
    freed: number;
    copies: number;
    ptesUnchanged: boolean;
  };
  /** A GPU write then read of the shared buffer: mapped through HMM, both sides see the data. */
  gpuAccess: {
    writeRet: number;
    readRet: number;
    cpuSeesGpuWrite: boolean;
    mappedByHmm: number;
    migratedOnFault: number;
  };
}

/**
 * Scenario 18 (shared anonymous memory is not migrated), on the GPU:
 * nouveau's alloc_and_copy skips entries without a page, so an untouched
 * MAP_SHARED buffer allocates nothing; page-cache pages are allocated
 * device pages and copied, then refused by migrate_vma_pages and freed.
 * The GPU's fault path then maps the system pages instead.
 */
export function scenario18Gpu(series: SeriesOptions["series"]): Scenario18Gpu {
  const f = gpuFixture(series);
  const { k, p, drm } = f;
  const dmem = drm.dmem!;
  const run = (a: number) => {
    const vma = find_vma(p.mm, a)!;
    const al0 = dmem.allocated, fr0 = dmem.freed, c0 = drm.gpu.copyEngine.copies;
    const mig0 = dmem.migrated;
    const ret = nouveau_dmem_migrate_vma(k, drm, vma, a, a + NPAGES * 4096);
    return {
      ret,
      moved: dmem.migrated - mig0,
      allocated: dmem.allocated - al0,
      freed: dmem.freed - fr0,
      copies: drm.gpu.copyEngine.copies - c0,
    };
  };
  const a = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  const u = run(a);
  let unchanged = true;
  for (let i = 0; i < NPAGES; i++) if (pteAt(p.mm.pgd, a + i * 4096) !== 0) unchanged = false;
  const b = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  p.writeWords(b, indexWords(WORDS));
  const before: number[] = [];
  for (let i = 0; i < NPAGES; i++) before.push(pteAt(p.mm.pgd, b + i * 4096));
  const t = run(b);
  let tUnchanged = true;
  for (let i = 0; i < NPAGES; i++) {
    const pte = pteAt(p.mm.pgd, b + i * 4096);
    if (!pte_present(pte) || Math.floor(pte / 4096) !== Math.floor(before[i]! / 4096)) {
      tUnchanged = false;
    }
  }
  // the GPU writes the shared buffer, then reads it back
  const svm = drm.svm!;
  const h0 = svm.mappedByHmm, m0 = svm.migratedOnFault;
  const data = indexWords(WORDS).map((x) => -x);
  const wr = nouveau_gpu_write(k, f.svmm, b, NPAGES, data);
  const out = new Int32Array(WORDS);
  const rd = nouveau_gpu_read(k, f.svmm, b, NPAGES, out);
  const cpu = p.readWords(b, WORDS);
  let same = true;
  for (let i = 0; i < WORDS; i++) if (cpu[i] !== -i || out[i] !== -i) same = false;
  return {
    untouched: { ret: u.ret, moved: u.moved, allocated: u.allocated, ptesUnchanged: unchanged },
    touched: {
      ret: t.ret,
      moved: t.moved,
      allocated: t.allocated,
      freed: t.freed,
      copies: t.copies,
      ptesUnchanged: tUnchanged,
    },
    gpuAccess: {
      writeRet: wr.ret,
      readRet: rd.ret,
      cpuSeesGpuWrite: same,
      mappedByHmm: svm.mappedByHmm - h0,
      migratedOnFault: svm.migratedOnFault - m0,
    },
  };
}

// ---- 22 ----

/** Scenario 22 on the GPU. */
export interface Scenario22Gpu {
  /** ->release calls: the GPU's mirror, the dmirror's. */
  releases: number[];
  /** GPU page-table entries after the exit. */
  gpuEntriesAfterExit: number;
  /** At each ->release, in call order (newest mirror first): GPU pages freed so far, their CPU entries, GPU page-table entries. */
  atRelease: Array<{ freed: number; deviceEntries: number; gpuEntries: number }>;
  /** GPU pages freed during the exit's unmap. */
  freesDuringExit: number;
  /** Device pages allocated and freed in the end. */
  allocated: number;
  /** Freed. */
  freed: number;
  /** The dmirror's "DEVICE PAGE" line at close. */
  deviceLines: string[];
  /** Use of freed struct hmm by the later unregister (recorded). */
  unregisterUseAfterFree: string[];
  /** RAM pages leaked. */
  ramLeak: number;
}

/**
 * Scenario 22 (process exit with device memory), on the GPU: the process
 * mirrors itself on the GPU and on a dmirror device; 1024 pages are in
 * VRAM (GPU far faults migrated them); it exits.
 */
export function scenario22Gpu(series: SeriesOptions["series"]): Scenario22Gpu {
  const f = gpuFixture(series);
  const { k, m, p, drm, svmm } = f;
  const dmem = drm.dmem!;
  const md = m.call(dmirror_create, {}) as DmirrorDevice;
  const d = dmirror_open(k, md, p.mm) as Dmirror;
  p.open(`/dev/${md.dev.name}`, (kk) => dmirror_release(kk, d));
  const ram0 = ramStats(k).allocated;
  const a = p.mmap(0, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  p.writeWords(a, indexWords(WORDS));
  nouveau_gpu_read(k, svmm, a, NPAGES, new Int32Array(WORDS)); // far faults migrate the pages
  const atRelease: Array<{ freed: number; deviceEntries: number; gpuEntries: number }> = [];
  const mirrors = [svmm.mirror, d.mirror];
  for (const mirror of mirrors) {
    const ops = mirror.ops!;
    const orig = ops.release!;
    mirror.ops = {
      ...ops,
      release(kk, mi) {
        atRelease.push({
          freed: dmem.freed,
          deviceEntries: gpuPrivatePtes(f, a, NPAGES).all,
          gpuEntries: drm.gpu.pageTable.count,
        });
        orig(kk, mi);
      },
    };
  }
  const f0 = dmem.freed;
  const lines0 = k.dmesg.lines.length;
  p.exit();
  return {
    releases: [svmm.released, d.released],
    gpuEntriesAfterExit: drm.gpu.pageTable.count,
    atRelease,
    freesDuringExit: dmem.freed - f0,
    allocated: dmem.allocated,
    freed: dmem.freed,
    deviceLines: k.dmesg.lines.slice(lines0).map((l) => l.text).filter((t) =>
      t.startsWith("DEVICE PAGE")
    ),
    unregisterUseAfterFree: [...k.state(HMM_MIRROR).useAfterFree],
    ramLeak: ramStats(k).allocated - ram0,
  };
}

// ---- 30 ----

/** Scenario 30 (process side) on the GPU. */
export interface Scenario30Gpu {
  /** The series label. */
  series: string;
  /** The device page the process maps. */
  page: number;
  /** Whether the unbind finished. */
  unbindDone: boolean;
  /** Where unbind waited and how long (-1: still waiting). */
  waits: Array<{ fn: string; ns: number }>;
  /** The function a still-blocked unbind waits in. */
  blockedIn: string | null;
  /** The hang report's first lines for the unbind, else null. */
  hang: string | null;
  /** Whether ops->free ran for the page while the process still mapped it. */
  freeWhileMapped: boolean;
  /** Whether the page's section was gone while still mapped. */
  removedWhileMapped: boolean;
  /** WARNs during the unbind (the core's, plus nouveau_dmem_fini's for the page still allocated). */
  warns: number;
  /** Whether percpu_ref_exit ran on a live ref. */
  refExitedLive: boolean;
  /** The Oops of the later unmap, else null. */
  oops: string | null;
  /** Whether it names the page's struct page. */
  oopsNamesPage: boolean;
  /** Whether the unmap finished. */
  unmapDone: boolean;
}

function vmemmapAddr(k: Kernel, pfn: number): string {
  const a = k.state(MM).vmemmapStart + BigInt(pfn) * 64n;
  return (a & 0xffffffffffffffffn).toString(16).padStart(16, "0");
}

/**
 * Scenario 30 (where unbind waits, process side) with the GPU: one page in
 * VRAM mapped by the process (a device-private entry) when nouveau is
 * unbound; the process unmaps it afterwards.
 */
export function scenario30Gpu(series: SeriesOptions["series"]): Scenario30Gpu {
  const m = bootMachine("fuzz", series === undefined ? {} : { series });
  const k = m.k;
  k.trace.on = true;
  const drm = m.call(nouveau_bind, m.hw!, "gpu0") as NouveauDrm;
  const p = new Process(k, "gpu-user");
  const svmm = nouveau_svmm_init(k, drm, p.mm) as NouveauSvmm;
  const a = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  p.store32(a, 42);
  nouveau_svmm_bind(k, svmm, a, 1);
  const e = pte_to_swp_entry(pteAt(p.mm.pgd, a));
  if (!is_device_private_entry(e)) {
    throw new Error("Cannot run scenario 30: the page did not migrate");
  }
  const page = device_private_entry_to_page(e);
  const dmem = drm.dmem!;
  const freed0 = dmem.freed;
  const warns0 = k.dmesg.grep("WARNING:").length;
  const ev0 = k.trace.events.length;
  const r1 = m.run(function* unbind(kk: Kernel) {
    yield* nouveau_unbind(kk, drm);
  }, { name: "unbind" });
  const freeWhileMapped = dmem.freed > freed0;
  const removedWhileMapped = sectionOf(k.state(MM), page) === null;
  const warns = k.dmesg.grep("WARNING:").length - warns0;
  const r2 = m.run(function unmap() {
    return p.munmap(a, 4096);
  }, { name: "unmap" });
  const waits: Array<{ fn: string; ns: number }> = [];
  const open = new Map<string, number>();
  for (const ev of k.trace.events.slice(ev0)) {
    if (ev.kind !== "hmm") continue;
    if (ev.op === "wait") open.set(ev.fn, waits.push({ fn: ev.fn, ns: -1 }) - 1);
    if (ev.op === "woken") {
      const i = open.get(ev.fn);
      if (i !== undefined) waits[i]!.ns = ev.n;
      open.delete(ev.fn);
    }
  }
  const still = waits.find((w) => w.ns < 0) ?? null;
  const hangEntry = r2.blocked?.entries.find((x) => x.task.startsWith("unbind")) ?? null;
  const oops = r2.oopses.find((o) => o.task.startsWith("unmap")) ?? null;
  const refExitedLive = k.trace.events.slice(ev0).some((ev) =>
    ev.kind === "percpu_ref" && ev.op === "exit" && ev.name === "hmm_devmem_ref_release" &&
    ev.count > 0
  );
  return {
    series: k.series.label,
    page,
    unbindDone: r1.done || hangEntry === null,
    waits,
    blockedIn: hangEntry !== null ? still?.fn ?? null : null,
    hang: hangEntry !== null ? r2.blocked!.text.split("\n").slice(0, 2).join(" / ") : null,
    freeWhileMapped,
    removedWhileMapped,
    warns,
    refExitedLive,
    oops: oops?.message ?? null,
    oopsNamesPage: oops !== null && oops.message.includes(vmemmapAddr(k, page).slice(0, 12)),
    unmapDone: r2.done,
  };
}
