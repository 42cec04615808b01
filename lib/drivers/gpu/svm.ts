/**
 * The GPU's shared virtual memory: its page table mirrors one process
 * through the v4.20 HMM mirror API, and its replayable far faults are
 * serviced in batches. Shaped after nouveau's SVM code
 * (drivers/gpu/drm/nouveau/nouveau_svm.c, v5.3 — the first in-tree user of
 * nouveau_dmem_migrate_vma) on the 2018 API, with nvidia-uvm's policy of
 * migrating faulted pages to VRAM.
 *
 * - nouveau_svmm_init(drm, mm): one mirror per GPU (the simulated GPU has
 *   one page table), registered with hmm_mirror_register; its
 *   sync_cpu_device_pagetables clears the GPU entries of [start, end), its
 *   ->release clears all of them.
 * - nouveau_svm_fault(drm): one batch — fetch up to 256 faults from the
 *   fault buffer (de-duplicated per page, a write beating a read, sorted by
 *   address), then for each run of consecutive faulting pages inside one VMA
 *   and one 2 MiB VA block: migrate the run to VRAM with migrate_vma (the
 *   dmem migration callbacks; finalize_and_map also maps every page that
 *   moved — the "update GPU page table" nouveau's dmem code leaves as a
 *   FIXME), then, for pages still unmapped (never-touched pages, page-cache
 *   pages, pages another device holds, VRAM exhausted), hmm_vma_fault over
 *   the run and map what it reports: the device's own pages through
 *   nouveau_dmem_convert_pfn as VRAM, system pages by pfn. A fault outside
 *   any VMA, or one the VMA's protection refuses, is cancelled (the GPU
 *   context gets an error). With `migrateOnFault = false` the migration
 *   step is skipped (nouveau's own v5.3 policy: faults map system memory,
 *   migration is the explicit bind).
 * - nouveau_svmm_bind(svmm, addr, npages): the explicit migration
 *   (NOUVEAU_SVM_BIND in v5.3): nouveau_dmem_migrate_vma VMA by VMA,
 *   errors ignored.
 *
 * The GPU side of a kernel accessing memory is {@link nouveau_gpu_read} /
 * {@link nouveau_gpu_write}: walk the GPU page table; every miss (or a write
 * to a read-only entry) raises a fault; the driver services batches until
 * the buffer is empty, and the access replays.
 *
 * Time: each batch costs gpu.farFaultBatchFixed plus gpu.perFaultInBatch per
 * fault fetched (dedup, VA-block lookup, page-table update); the copies are
 * the copy engine's (one DMA per page, as nouveau queues them) and the
 * fence wait advances the clock; migrate_vma and hmm_vma_fault charge their
 * own page-table walks and CPU faults.
 *
 * @module
 */
import type { Kernel } from "../../kernel/kernel.ts";
import { EBUSY, EFAULT, EINVAL, ENOMEM } from "../../kernel/errno.ts";
import {
  find_vma,
  find_vma_intersection,
  type MmStruct,
  VM_READ,
  VM_WRITE,
  type VmAreaStruct,
} from "../../kernel/mm/mm-types.ts";
import {
  hmm_mirror_register,
  hmm_mirror_unregister,
  HMM_PFN_DEVICE_PRIVATE,
  HMM_PFN_ERROR,
  HMM_PFN_SPECIAL,
  hmm_pfn_to_page,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmm_vma_fault,
  hmm_vma_get_pfns,
  hmm_vma_range_done,
  HmmMirror,
  type HmmMirrorOps,
  HmmRange,
  type HmmUpdate,
} from "../../kernel/mm/hmm-mirror.ts";
import { MIGRATE_PFN_WRITE, migrate_vma } from "../../kernel/mm/migrate.ts";
import { pageReadWords, pageWriteWords, WORDS_PER_PAGE } from "../../kernel/mm/page-contents.ts";
import { FAULT_READ, FAULT_WRITE, FaultBatch } from "../../hw/gpu/faults.ts";
import { DPTE_VRAM, DPTE_WRITE } from "../../hw/gpu/page-table.ts";
import {
  nouveau_dmem_convert_pfn,
  nouveau_dmem_migrate_ops,
  nouveau_dmem_migrate_vma,
  nouveau_dmem_page,
  NouveauMigrate,
} from "./dmem.ts";
import type { NouveauDrm } from "./drm.ts";

/** The GPU's HMM flag bits (range->flags): VALID, WRITE, DEVICE_PRIVATE (NVIF_VMM_PFNMAP_V0_V/W/VRAM). */
export const NOUVEAU_SVM_PFN_FLAGS: readonly number[] = [0x1, 0x2, 0x10];
/** The GPU's HMM special values (range->values): ERROR, NONE, SPECIAL. */
export const NOUVEAU_SVM_PFN_VALUES: readonly number[] = [0x4, 0x0, 0x8];
/** pfn_shift of its entries (NVIF_VMM_PFNMAP_V0_ADDR_SHIFT). */
export const NOUVEAU_SVM_PFN_SHIFT = 12;

const BLOCK = 2 * 2 ** 20; // a VA block
const BLOCK_PAGES = BLOCK / 4096;
const V = NOUVEAU_SVM_PFN_FLAGS[HMM_PFN_VALID]!;
const W = NOUVEAU_SVM_PFN_FLAGS[HMM_PFN_WRITE]!;
const VRAM = NOUVEAU_SVM_PFN_FLAGS[HMM_PFN_DEVICE_PRIVATE]!;
const UNIT = 2 ** NOUVEAU_SVM_PFN_SHIFT;

/** The SVM state of one GPU (struct nouveau_svm). */
export class NouveauSvm {
  /** The device. */
  readonly drm: NouveauDrm;
  /** The fetched batch (reused). */
  readonly batch: FaultBatch;
  /** The mirrored process, or null. */
  svmm: NouveauSvmm | null = null;
  /** Migrate faulted pages to VRAM (true) or only map system memory (false). */
  migrateOnFault = true;
  /** Batches serviced. */
  batches = 0;
  /** Raw faults fetched. */
  faults = 0;
  /** Distinct pages serviced. */
  pages = 0;
  /** Faults cancelled (no VMA, protection). */
  cancelled = 0;
  /** Pages migrated to VRAM by fault handling. */
  migratedOnFault = 0;
  /** Pages mapped through hmm_vma_fault (system memory, or already in VRAM). */
  mappedByHmm = 0;
  /** Addresses cancelled since the counter was last cleared (for the access helpers). */
  readonly cancelledAddrs: number[] = [];
  /** gpu.farFaultBatchFixed. */
  readonly batchNs: number;
  /** gpu.perFaultInBatch. */
  readonly perFaultNs: number;
  /** Reusable migrate_vma arrays (one VA block). */
  readonly src: Float64Array = new Float64Array(BLOCK_PAGES);
  /** Reusable dst. */
  readonly dst: Float64Array = new Float64Array(BLOCK_PAGES);
  /** Reusable hmm entries. */
  readonly pfns: Float64Array = new Float64Array(BLOCK_PAGES);
  /** Migration private data with the mapping hook. */
  readonly migrate: NouveauMigrate;

  /**
   * Creates the state (nouveau_svm_init does).
   * @param k the kernel (cost model).
   * @param drm the device.
   */
  constructor(k: Kernel, drm: NouveauDrm) {
    this.drm = drm;
    this.batch = new FaultBatch(k.cost.get("gpu.faultsPerBatchMax"));
    this.batchNs = k.cost.get("gpu.farFaultBatchFixed");
    this.perFaultNs = k.cost.get("gpu.perFaultInBatch");
    this.migrate = new NouveauMigrate(drm);
    this.migrate.vramPages = new Float64Array(BLOCK_PAGES);
    const pt = drm.gpu.pageTable;
    this.migrate.map = (addr, src, vramPage) => {
      pt.map(addr, vramPage, DPTE_VRAM | ((src & MIGRATE_PFN_WRITE) !== 0 ? DPTE_WRITE : 0));
    };
  }
}

/** The mirror embedded in a NouveauSvmm (container_of). */
class SvmmMirror extends HmmMirror {
  svmm!: NouveauSvmm;
}

/** One process mirrored by one GPU (struct nouveau_svmm). */
export class NouveauSvmm {
  /** The GPU's SVM state. */
  readonly svm: NouveauSvm;
  /** The mirrored mm. */
  readonly mm: MmStruct;
  /** The HMM mirror. */
  readonly mirror: HmmMirror;
  /** sync_cpu_device_pagetables calls. */
  nsync = 0;
  /** ->release calls (the process exited). */
  released = 0;

  /**
   * Creates the object (nouveau_svmm_init does).
   * @param svm the GPU's state.
   * @param mm the mm.
   * @param mirror its mirror.
   */
  constructor(svm: NouveauSvm, mm: MmStruct, mirror: HmmMirror) {
    this.svm = svm;
    this.mm = mm;
    this.mirror = mirror;
  }

  /** The device. */
  get drm(): NouveauDrm {
    return this.svm.drm;
  }
}

const svmmMirrorOps: HmmMirrorOps = {
  /** nouveau_svmm_sync_cpu_device_pagetables: invalidate [start, end) on the GPU. */
  sync_cpu_device_pagetables(_k: Kernel, mirror: HmmMirror, update: HmmUpdate): number {
    const svmm = (mirror as SvmmMirror).svmm;
    svmm.nsync++;
    svmm.drm.gpu.pageTable.invalidate(update.start, update.end);
    return 0;
  },
  /** ->release: the mm is going; the GPU forgets it. */
  release(_k: Kernel, mirror: HmmMirror): void {
    const svmm = (mirror as SvmmMirror).svmm;
    svmm.released++;
    svmm.drm.gpu.pageTable.clear();
  },
};

/** nouveau_svm_init(drm): the fault-handling state. */
export function nouveau_svm_init(k: Kernel, drm: NouveauDrm): void {
  drm.svm = new NouveauSvm(k, drm);
}

/** nouveau_svm_fini(drm): drops a mirror still registered; forgets pending faults. */
export function nouveau_svm_fini(k: Kernel, drm: NouveauDrm): void {
  const svm = drm.svm;
  if (svm === null) return;
  if (svm.svmm !== null) nouveau_svmm_fini(k, svm.svmm);
  drm.gpu.faults.reset();
  drm.svm = null;
}

/**
 * nouveau_svmm_init(drm, mm): the GPU mirrors `mm` (hmm_mirror_register;
 * the mm's mmap_sem for write). -EBUSY if the GPU already mirrors a
 * process, -EINVAL without SVM state, -ENOMEM if the mirror cannot be
 * registered. The kernel's is the DRM_NOUVEAU_SVM_INIT ioctl handler,
 * (dev, data, file_priv) returning 0 / -errno; the model has no ioctl
 * layer, so it takes the device and current->mm and returns the svmm
 * (the kernel's cli->svm) or the -errno.
 */
export function nouveau_svmm_init(k: Kernel, drm: NouveauDrm, mm: MmStruct): NouveauSvmm | number {
  const svm = drm.svm;
  if (svm === null) return -EINVAL;
  if (svm.svmm !== null) return -EBUSY;
  const mirror = new SvmmMirror(svmmMirrorOps);
  const svmm = new NouveauSvmm(svm, mm, mirror);
  mirror.svmm = svmm;
  if (hmm_mirror_register(k, mirror, mm)) return -ENOMEM;
  svm.svmm = svmm;
  return svmm;
}

/** nouveau_svmm_fini(svmm): hmm_mirror_unregister; the GPU page table is cleared. (The kernel's takes `struct nouveau_svmm **psvmm` and NULLs it; the model clears the device's pointer itself.) */
export function nouveau_svmm_fini(k: Kernel, svmm: NouveauSvmm): void {
  hmm_mirror_unregister(k, svmm.mirror);
  svmm.drm.gpu.pageTable.clear();
  if (svmm.svm.svmm === svmm) svmm.svm.svmm = null;
}

function cancel(k: Kernel, svm: NouveauSvm, addr: number): void {
  svm.cancelled++;
  svm.cancelledAddrs.push(addr);
  if (k.tracing) {
    k.trace.emit({ kind: "gpu", op: "fault_cancel", gpu: svm.drm.gpu.name, n: addr, ns: 0 });
  }
}

/** Whether the GPU entry of `addr` satisfies the access. */
function mappedFor(svm: NouveauSvm, addr: number, write: boolean): boolean {
  const r = svm.drm.gpu.pageTable.raw(addr);
  return r !== 0 && (!write || (r & DPTE_WRITE) !== 0);
}

/** An entry another device's memory backs, or a read-only device page wanted for a write. */
function needsFaultBack(
  k: Kernel,
  svm: NouveauSvm,
  range: HmmRange,
  e: number,
  write: boolean,
): boolean {
  if ((e & VRAM) === 0 || (e & V) === 0) return false;
  if (
    e === NOUVEAU_SVM_PFN_VALUES[HMM_PFN_ERROR] || e === NOUVEAU_SVM_PFN_VALUES[HMM_PFN_SPECIAL]
  ) {
    return false;
  }
  const page = hmm_pfn_to_page(range, e)!;
  return !nouveau_dmem_page(k, svm.drm, page) || (write && (e & W) === 0);
}

/**
 * Maps faulting pages [first, last) of the batch — consecutive, unmapped,
 * inside `vma` — from an hmm_vma_fault snapshot; cancels the ones it
 * cannot map. (The range covers only these pages: 4.20's hmm_vma_fault
 * faults the rest of a page-table page once it faults one entry, and would
 * take pages just migrated to VRAM back.)
 */
function svmMapByHmm(
  k: Kernel,
  svm: NouveauSvm,
  vma: VmAreaStruct,
  first: number,
  last: number,
): void {
  const b = svm.batch;
  const start = b.addrs[first]!, end = b.addrs[last - 1]! + 4096;
  const n = last - first;
  const pfns = svm.pfns;
  const range = new HmmRange(
    vma,
    start,
    end,
    pfns,
    NOUVEAU_SVM_PFN_FLAGS,
    NOUVEAU_SVM_PFN_VALUES,
    NOUVEAU_SVM_PFN_SHIFT,
  );
  let ok = false;
  for (let tries = 0; tries < 8 && !ok; tries++) {
    for (let i = 0; i < n; i++) pfns[i] = V | (b.access[first + i] === FAULT_WRITE ? W : 0);
    let ret = hmm_vma_fault(k, range, true);
    for (let round = 0; ret === 0 && round < 4; round++) {
      let again = false;
      for (let i = 0; i < n && !again; i++) {
        again = needsFaultBack(k, svm, range, pfns[i]!, b.access[first + i] === FAULT_WRITE);
      }
      if (!again) break;
      for (let i = 0; i < n; i++) {
        const write = b.access[first + i] === FAULT_WRITE;
        pfns[i] = V | (write ? W : 0) | (needsFaultBack(k, svm, range, pfns[i]!, write) ? VRAM : 0);
      }
      hmm_vma_range_done(k, range);
      ret = hmm_vma_fault(k, range, true);
    }
    if (ret === -11) continue; // -EAGAIN: mmap_sem was dropped
    if (ret !== 0) break;
    ok = hmm_vma_range_done(k, range);
  }
  if (!ok) {
    for (let i = first; i < last; i++) {
      if (!mappedFor(svm, b.addrs[i]!, b.access[i] === 1)) cancel(k, svm, b.addrs[i]!);
    }
    return;
  }
  nouveau_dmem_convert_pfn(k, svm.drm, range);
  const pt = svm.drm.gpu.pageTable;
  for (let i = 0; i < n; i++) {
    const e = pfns[i]!, addr = start + i * 4096, write = b.access[first + i] === FAULT_WRITE;
    if (
      (e & V) === 0 || e === NOUVEAU_SVM_PFN_VALUES[HMM_PFN_ERROR] ||
      e === NOUVEAU_SVM_PFN_VALUES[HMM_PFN_SPECIAL]
    ) {
      cancel(k, svm, addr);
      continue;
    }
    if (write && (e & W) === 0) {
      cancel(k, svm, addr);
      continue;
    }
    const target = Math.floor(e / UNIT);
    pt.map(addr, target, ((e & VRAM) !== 0 ? DPTE_VRAM : 0) | ((e & W) !== 0 ? DPTE_WRITE : 0));
    svm.mappedByHmm++;
  }
}

/** Services faults [first, last) of the batch: one run inside `vma` and one VA block. */
function svmFaultRun(
  k: Kernel,
  svm: NouveauSvm,
  vma: VmAreaStruct,
  first: number,
  last: number,
): void {
  const b = svm.batch;
  // protection: a read needs VM_READ, a write VM_WRITE
  if ((vma.vm_flags & VM_READ) === 0) {
    for (let i = first; i < last; i++) cancel(k, svm, b.addrs[i]!);
    return;
  }
  if ((vma.vm_flags & VM_WRITE) === 0) {
    let allowed = 0;
    for (let i = first; i < last; i++) {
      if (b.access[i] === FAULT_WRITE) cancel(k, svm, b.addrs[i]!);
      else allowed++;
    }
    if (allowed === 0) return;
    if (allowed !== last - first) {
      // map the reads one by one
      for (let i = first; i < last; i++) {
        if (b.access[i] !== FAULT_WRITE) svmFaultRun(k, svm, vma, i, i + 1);
      }
      return;
    }
  }
  const start = b.addrs[first]!, end = b.addrs[last - 1]! + 4096;
  if (svm.migrateOnFault && svm.drm.dmem !== null) {
    const m = svm.migrate;
    m.vma = vma;
    m.npages = (end - start) / 4096;
    m.moved = 0;
    m.fence = null;
    m.dma_nr = 0;
    migrate_vma(k, nouveau_dmem_migrate_ops, vma, start, end, svm.src, svm.dst, m);
    svm.migratedOnFault += m.moved;
  }
  // what is still unmapped, in runs of consecutive pages, through HMM
  for (let i = first; i < last;) {
    if (mappedFor(svm, b.addrs[i]!, b.access[i] === FAULT_WRITE)) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < last && !mappedFor(svm, b.addrs[j]!, b.access[j] === FAULT_WRITE)) j++;
    svmMapByHmm(k, svm, vma, i, j);
    i = j;
  }
}

/**
 * nouveau_svm_fault(drm): services one batch of up to 256 faults from the
 * GPU's fault buffer (see the module doc). Returns the number of distinct
 * pages in the batch (0 when the buffer was empty). Atomic. The kernel's is
 * the fault buffer's nvif notify handler, (notify) returning
 * NVIF_NOTIFY_KEEP; the model's GPU calls it with the device and reads
 * the count.
 *
 * @example 300 far faults on 3 pages: one batch of 256 faults migrates the 3 pages to VRAM
 * ```ts
 * import { bootMachine } from "../../machine.ts";
 * import { nouveau_bind, type NouveauDrm } from "./drm.ts";
 * import { nouveau_svm_fault, nouveau_svmm_init } from "./svm.ts";
 * import { Process } from "../../kernel/mm/process.ts";
 * import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../kernel/mm/mm-types.ts";
 * import { DPTE_VRAM } from "../../hw/gpu/page-table.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootMachine("fuzz", { series: "v4.20" });
 * const drm = m.call(nouveau_bind, m.hw!, "gpu0") as NouveauDrm;
 * const p = new Process(m.k, "user");
 * nouveau_svmm_init(m.k, drm, p.mm);
 * const a = p.mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
 * for (let i = 0; i < 3; i++) p.store32(a + i * 4096, 40 + i);
 * for (let i = 0; i < 300; i++) drm.gpu.raiseFault(a + (i % 3) * 4096, 0);
 * assertEquals(nouveau_svm_fault(m.k, drm), 3);
 * const e = drm.gpu.pageTable.raw(a + 4096);
 * assertEquals([(e & DPTE_VRAM) !== 0, drm.gpu.vram.readWord(Math.floor(e / 8), 0)], [true, 41]);
 * assertEquals(drm.dmem!.migrated, 3);
 * ```
 */
export function nouveau_svm_fault(k: Kernel, drm: NouveauDrm): number {
  const svm = drm.svm;
  if (svm === null) return 0;
  const g = drm.gpu, b = svm.batch;
  const n = g.fetchFaults(b);
  if (b.fetched === 0) return 0;
  k.clock.advance(svm.batchNs + b.fetched * svm.perFaultNs);
  svm.batches++;
  svm.faults += b.fetched;
  svm.pages += n;
  const svmm = svm.svmm;
  if (svmm === null) {
    for (let i = 0; i < n; i++) cancel(k, svm, b.addrs[i]!);
    return n;
  }
  const mm = svmm.mm;
  for (let i = 0; i < n;) {
    const addr = b.addrs[i]!;
    const vma = find_vma(mm, addr);
    if (vma === null || vma.vm_start > addr) {
      cancel(k, svm, addr);
      i++;
      continue;
    }
    const block = Math.floor(addr / BLOCK);
    let j = i + 1;
    while (
      j < n && b.addrs[j] === b.addrs[j - 1]! + 4096 && b.addrs[j]! < vma.vm_end &&
      Math.floor(b.addrs[j]! / BLOCK) === block
    ) j++;
    svmFaultRun(k, svm, vma, i, j);
    i = j;
  }
  if (k.tracing) k.trace.emit({ kind: "gpu", op: "batch_done", gpu: g.name, n, ns: 0 });
  return n;
}

/** Services batches until the fault buffer is empty; returns the batches serviced. */
export function nouveau_svm_service(k: Kernel, drm: NouveauDrm): number {
  let batches = 0;
  while (drm.gpu.faults.pending > 0) {
    nouveau_svm_fault(k, drm);
    batches++;
  }
  return batches;
}

/** What a bind or a GPU access returns. */
export interface SvmResult {
  /** 0 or -errno. */
  ret: number;
  /** Pages copied (access) or resident in this GPU's VRAM afterwards (bind). */
  cpages: number;
  /** Fault batches the access needed. */
  faults: number;
}

/**
 * nouveau_svmm_bind (NOUVEAU_SVM_BIND, migrate to VRAM): for each VMA of
 * [addr, addr + npages pages), nouveau_dmem_migrate_vma over its part —
 * "best effort", errors ignored. `cpages` counts the range's pages that are
 * this GPU's device pages afterwards (moved now or before). -EINVAL for a
 * misaligned range. The kernel's is the ioctl handler (dev, data,
 * file_priv); the model takes the ioctl's arguments unpacked and returns
 * an {@link SvmResult}.
 */
export function nouveau_svmm_bind(
  k: Kernel,
  svmm: NouveauSvmm,
  addr: number,
  npages: number,
): SvmResult {
  if (addr % 4096 !== 0 || !Number.isInteger(npages) || npages < 0) {
    return { ret: -EINVAL, cpages: 0, faults: 0 };
  }
  const drm = svmm.drm;
  if (drm.dmem === null) return { ret: -EINVAL, cpages: 0, faults: 0 };
  const end = addr + npages * 4096;
  for (let a = addr; a < end;) {
    const vma = find_vma_intersection(svmm.mm, a, end);
    if (vma === null) break;
    a = Math.max(a, vma.vm_start);
    const next = Math.min(vma.vm_end, end);
    nouveau_dmem_migrate_vma(k, drm, vma, a, next);
    a = next;
  }
  return { ret: 0, cpages: residentPages(k, svmm, addr, npages), faults: 0 };
}

/** Pages of [addr, addr + npages pages) whose CPU entry is one of this GPU's device pages (an HMM snapshot). */
export function residentPages(k: Kernel, svmm: NouveauSvmm, addr: number, npages: number): number {
  let n = 0;
  const end = addr + npages * 4096;
  for (let a = addr; a < end;) {
    const vma = find_vma_intersection(svmm.mm, a, end);
    if (vma === null) break;
    const s = Math.max(a, vma.vm_start), e = Math.min(end, vma.vm_end);
    for (let x = s; x < e; x += BLOCK) {
      const y = Math.min(e, x + BLOCK);
      const pfns = svmm.svm.pfns;
      const range = new HmmRange(
        vma,
        x,
        y,
        pfns,
        NOUVEAU_SVM_PFN_FLAGS,
        NOUVEAU_SVM_PFN_VALUES,
        NOUVEAU_SVM_PFN_SHIFT,
      );
      pfns.fill(0, 0, (y - x) / 4096);
      if (hmm_vma_fault_snapshot(k, range) !== 0) continue;
      for (let i = 0; i < (y - x) / 4096; i++) {
        const p = pfns[i]!;
        if ((p & VRAM) === 0 || (p & V) === 0) continue;
        const page = hmm_pfn_to_page(range, p);
        if (page !== null && nouveau_dmem_page(k, svmm.drm, page)) n++;
      }
    }
    a = e;
  }
  return n;
}

function hmm_vma_fault_snapshot(k: Kernel, range: HmmRange): number {
  const ret = hmm_vma_get_pfns(k, range);
  if (ret === 0) hmm_vma_range_done(k, range);
  return ret;
}

/**
 * The GPU accesses [addr, addr + npages pages) of the mirrored process
 * (a kernel running on the GPU): pages missing from its page table (or
 * read-only, for a write) raise far faults; the driver services them in
 * batches and the access replays. Reads fill `buf` (npages × 1024 words),
 * writes store it. -EINVAL for a misaligned range, -EFAULT when a fault was
 * cancelled or the access still misses after 64 replays.
 */
export function nouveau_gpu_access(
  k: Kernel,
  svmm: NouveauSvmm,
  addr: number,
  npages: number,
  buf: Int32Array,
  write: boolean,
): SvmResult {
  if (addr % 4096 !== 0 || !Number.isInteger(npages) || npages < 0) {
    return { ret: -EINVAL, cpages: 0, faults: 0 };
  }
  const drm = svmm.drm, svm = svmm.svm, g = drm.gpu, pt = g.pageTable;
  let batches = 0;
  for (let tries = 0;; tries++) {
    let miss = 0;
    for (let i = 0; i < npages; i++) {
      const a = addr + i * 4096;
      if (mappedFor(svm, a, write)) continue;
      miss++;
      if (!g.raiseFault(a, write ? FAULT_WRITE : FAULT_READ)) {
        batches += nouveau_svm_service(k, drm);
        g.raiseFault(a, write ? FAULT_WRITE : FAULT_READ);
      }
    }
    if (miss === 0) break;
    if (tries >= 64) return { ret: -EFAULT, cpages: 0, faults: batches };
    svm.cancelledAddrs.length = 0;
    batches += nouveau_svm_service(k, drm);
    if (svm.cancelledAddrs.length > 0) {
      const end = addr + npages * 4096;
      if (svm.cancelledAddrs.some((a) => a >= addr && a < end)) {
        return { ret: -EFAULT, cpages: 0, faults: batches };
      }
    }
  }
  // the access itself, page by page through the GPU page table
  const tmp = new Int32Array(WORDS_PER_PAGE);
  for (let i = 0; i < npages; i++) {
    const r = pt.raw(addr + i * 4096);
    const target = Math.floor(r / 8), vram = (r & DPTE_VRAM) !== 0;
    const off = i * WORDS_PER_PAGE;
    if (write) {
      if (vram) g.vram.writePageWords(target, buf.subarray(off, off + WORDS_PER_PAGE));
      else pageWriteWords(k, target, buf, off);
    } else if (vram) {
      g.vram.readPageWords(target, tmp);
      buf.set(tmp, off);
    } else pageReadWords(k, target, buf, off);
  }
  return { ret: 0, cpages: npages, faults: batches };
}

/** A GPU read of `npages` pages at `addr` into `out` (see {@link nouveau_gpu_access}). */
export function nouveau_gpu_read(
  k: Kernel,
  svmm: NouveauSvmm,
  addr: number,
  npages: number,
  out: Int32Array,
): SvmResult {
  return nouveau_gpu_access(k, svmm, addr, npages, out, false);
}

/** A GPU write of `data` to `npages` pages at `addr` (see {@link nouveau_gpu_access}). */
export function nouveau_gpu_write(
  k: Kernel,
  svmm: NouveauSvmm,
  addr: number,
  npages: number,
  data: Int32Array,
): SvmResult {
  return nouveau_gpu_access(k, svmm, addr, npages, data, true);
}
