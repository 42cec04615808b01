/**
 * The GPU's device memory on HMM, modelled on nouveau's dmem code of the
 * hmm_devmem era (drivers/gpu/drm/nouveau/nouveau_dmem.c, v5.1/v5.2): all
 * of VRAM registered as DEVICE_PRIVATE struct pages with hmm_devmem_add,
 * handed out from 2 MiB chunks, process pages migrated into it with
 * migrate_vma, and migrated back when the CPU touches them.
 *
 * As nouveau does:
 * - nouveau_dmem_init (at probe): size = ALIGN(usable VRAM, 2 MiB); the
 *   copy method is chosen first (nouveau_dmem_migrate_init: the copy
 *   engine's DMA_COPY class, every simulated GPU counts as Pascal or newer);
 *   `hmm_devmem_add(&ops, dev, size)` — at every series level, so before
 *   patch 6 HMM creates the pages itself and from patch 6 on it is
 *   devm_memremap_pages; a failure leaves the device without dmem (probe
 *   still succeeds). One chunk per 2 MiB, all on `chunk_empty`; the log
 *   says "DMEM: registered <n>MB of device memory".
 * - A chunk gets its VRAM lazily (nouveau_dmem_chunk_alloc: a pinned 2 MiB
 *   VRAM bo; a chunk with a bo goes to the head of `chunk_empty`, one whose
 *   bo failed to the tail). The VRAM address of a device page is its index
 *   in the chunk plus the bo's offset; the chunk is found through the page's
 *   hmm_data (hmm_devmem_page_get_drvdata).
 * - nouveau_dmem_pages_alloc takes zero bits from the first chunk of
 *   `chunk_free`, else the first chunk of `chunk_empty` if it has a bo, else
 *   allocates a bo and retries; `callocated++` per page. A page for a
 *   migration is get_page + lock_page (refcount 1 → 2).
 * - ops->free (nouveau_dmem_free, refcount back to 1): clear the bit,
 *   WARN_ON(!callocated), `callocated--`.
 * - To VRAM (nouveau_dmem_migrate_vma): migrate_vma in batches of
 *   SG_MAX_SINGLE_ALLOC pages; alloc_and_copy takes a device page for every
 *   source page (entries without a page are skipped), dst = pfn | LOCKED |
 *   DEVICE, dma-maps the source and queues a one-page copy HOST → VRAM, then
 *   a fence; finalize_and_map waits for the fence and unmaps the DMA. The
 *   batch loop keeps its v5.1 arithmetic: every batch is SG_MAX_SINGLE_ALLOC
 *   pages (`min(SG_MAX_SINGLE_ALLOC, npages)`, never the remainder), so a
 *   range that is not a multiple of 128 pages runs past `end` — into the
 *   next pages of the VMA, or -EINVAL from migrate_vma at its end.
 * - ops->fault (nouveau_dmem_fault): migrate_vma over exactly the faulting
 *   page; alloc_and_copy = alloc_page_vma + lock_page, dma-map it, copy
 *   VRAM → HOST; any failure sets dst = MIGRATE_PFN_ERROR. VM_FAULT_SIGBUS if
 *   migrate_vma fails or dst == MIGRATE_PFN_ERROR, else 0.
 * - nouveau_dmem_convert_pfn turns HMM entries of its own device-private
 *   pages into VRAM addresses for the GPU's page table (WARN "Some unknown
 *   device memory !" for another device's); nouveau_dmem_fini (at remove)
 *   WARNs unless `chunk_free` and `chunk_full` are empty, then drops the
 *   bos of the `chunk_empty` chunks and frees them.
 *
 * Where the model differs, on purpose:
 * - v5.1 never moves a chunk off `chunk_empty`: once the chunk at its head
 *   is full, nouveau_dmem_chunk_first_free_locked keeps returning it,
 *   find_first_zero_bit finds nothing and nouveau_dmem_pages_alloc spins
 *   (no in-tree caller reached it before the v5.3 SVM code). The model moves
 *   a chunk to `chunk_free` when its first page is taken, to `chunk_full`
 *   when its last is, back to `chunk_free` when a page of a full chunk is
 *   freed, and to the head of `chunk_empty` (keeping its bo) when its last
 *   page is — what the three lists are for, and what makes
 *   nouveau_dmem_fini's WARNs mean "pages still allocated". With every
 *   chunk full, first_free_locked dereferences the NULL head of an empty
 *   `chunk_empty` (`chunk->bo`, offset 0x10), as the code reads: an Oops.
 * - hmm_data: nouveau stores the chunk in every page's hmm_data at init; the
 *   model stores it (chunk index + 1) when the chunk gets its VRAM, before
 *   any of its pages can be handed out — indistinguishable, and no per-page
 *   host memory for VRAM nobody uses.
 * - DMA mapping: no IOMMU; a system page's bus address is its physical
 *   address. dma_map_page of a device-private page (v5.1's alloc_and_copy
 *   does not skip MIGRATE_PFN_DEVICE sources) has no memory behind it: the
 *   model treats it as dma_mapping_error, so such a page stays where it is
 *   (the kernel's outcome depends on the IOMMU/swiotlb setup).
 * - The copy-engine channel (RING_SPACE, methods, fences) is the simulated
 *   copy engine: a copy that faults (fault point "gpu_copy") is reported as
 *   copy_func's error. Suspend/resume (unpin/re-pin) are not modelled.
 * - The mutex and spinlock never sleep here: allocation runs inside
 *   migrate_vma, which the model runs atomically. (v5.1's
 *   nouveau_dmem_pages_alloc also loops on without re-taking the mutex after
 *   allocating a chunk, and then unlocks it at the end; not modelled.)
 *
 * Time: every copy is one DMA on the copy engine's timeline (pcie.dmaLatency
 * plus 4 KiB of wire time at the GPU link's generation and width); a fence
 * wait advances the clock to the copy's completion — except inside a CPU
 * device-private fault, whose composite cost (devPriv.cpuFaultMigrateBack)
 * already includes the DMA.
 *
 * Counters: `allocated` (device pages handed out), `freed` (ops->free),
 * `faults` (ops->fault calls) and `faultsFailed`; `migrated` / `migratedBack`
 * count pages moved by the two migrate paths.
 *
 * @module
 */
import type { Kernel } from "../../kernel/kernel.ts";
import { EINVAL, ENOMEM, IS_ERR } from "../../kernel/errno.ts";
import { hmm_devmem_add, type HmmDevmem, type HmmDevmemOps } from "../../kernel/hmm.ts";
import { dev_info, type Device } from "../../kernel/device.ts";
import { WARN, WARN_ON } from "../../kernel/printk.ts";
import { zone_device_pgmap, zone_device_type } from "../../kernel/mm/memmap.ts";
import {
  hmm_devmem_page_get_drvdata,
  hmm_devmem_page_set_drvdata,
  lock_page,
  unlock_page,
} from "../../kernel/mm/page-ext.ts";
import { __free_page, alloc_page } from "../../kernel/mm/ram-alloc.ts";
import { get_page, put_page } from "../../kernel/mm/swap.ts";
import { HUB } from "../../kernel/mm/hub.ts";
import { VM_FAULT_SIGBUS, type VmAreaStruct } from "../../kernel/mm/mm-types.ts";
import {
  migrate_pfn,
  MIGRATE_PFN_DEVICE,
  MIGRATE_PFN_ERROR,
  MIGRATE_PFN_LOCKED,
  MIGRATE_PFN_MIGRATE,
  migrate_pfn_to_page,
  migrate_vma,
  type MigratePfns,
  type MigrateVmaOps,
} from "../../kernel/mm/migrate.ts";
import {
  HMM_PFN_DEVICE_PRIVATE,
  hmm_pfn_to_page,
  type HmmRange,
} from "../../kernel/mm/hmm-mirror.ts";
import { orBits } from "../../kernel/mm/pgtable.ts";
import { MEMORY_DEVICE_PRIVATE, type Page } from "../../kernel/mm/types.ts";
import type { CopyEnd } from "../../hw/gpu/gpu.ts";
import {
  nouveau_bo_new,
  nouveau_bo_pin,
  nouveau_bo_put,
  nouveau_bo_unpin,
  type NouveauBo,
} from "./bo.ts";
import type { NouveauDrm } from "./drm.ts";
import type { DriverMemEvent } from "../../kernel/events.ts";
import type { KGen } from "../../sim/task.ts";

/** DMEM_CHUNK_SIZE: 2 MiB. */
export const DMEM_CHUNK_SIZE = 2 * 2 ** 20;
/** DMEM_CHUNK_NPAGES: 512. */
export const DMEM_CHUNK_NPAGES = DMEM_CHUNK_SIZE / 4096;
/** SG_MAX_SINGLE_ALLOC on x86-64: PAGE_SIZE / sizeof(struct scatterlist) (32 bytes). */
export const SG_MAX_SINGLE_ALLOC = 128;

/** enum nouveau_aper. */
export const NOUVEAU_APER_VIRT = 0;
/** VRAM aperture: the address is a GPU VRAM address. */
export const NOUVEAU_APER_VRAM = 1;
/** Host aperture: the address is a DMA (bus) address of system memory. */
export const NOUVEAU_APER_HOST = 2;

/** Which list a chunk is on. */
export type ChunkListName = "chunk_free" | "chunk_full" | "chunk_empty";

/** struct nouveau_dmem_chunk: 2 MiB of device pages and the VRAM behind them. */
export class NouveauDmemChunk {
  /** Position in the device's chunk array (hmm_data holds index + 1). */
  readonly index: number;
  /** First pfn. */
  readonly pfn_first: number;
  /** The pinned VRAM bo, once allocated. */
  bo: NouveauBo | null = null;
  /** Pages handed out. */
  callocated = 0;
  /** One bit per page (DMEM_CHUNK_NPAGES bits). */
  readonly bitmap: Uint32Array = new Uint32Array(DMEM_CHUNK_NPAGES / 32);
  /**
   * Every bit of `bitmap` below this index is set (the search for the first
   * zero bit starts here: the same answer as from 0, without rescanning the
   * taken pages). Kept by nouveau_dmem_pages_alloc, nouveau_dmem_free and
   * nouveau_dmem_chunk_alloc, the only writers of the bitmap.
   */
  firstFree = 0;
  /** The list it is on (null once kfree'd). */
  list: ChunkListName | null = null;
  /** Intrusive list links. */
  prev: NouveauDmemChunk | null = null;
  /** Intrusive list links. */
  next: NouveauDmemChunk | null = null;
  /** kfree'd by nouveau_dmem_fini. */
  freed = false;

  /**
   * Creates a chunk without VRAM.
   * @param index chunk number.
   * @param pfn_first its first pfn.
   */
  constructor(index: number, pfn_first: number) {
    this.index = index;
    this.pfn_first = pfn_first;
  }
}

/** A list_head of chunks (list_add at the head, list_add_tail at the tail). */
export class ChunkList {
  /** First entry. */
  head: NouveauDmemChunk | null = null;
  /** Last entry. */
  tail: NouveauDmemChunk | null = null;
  /** Entries. */
  length = 0;

  /**
   * Creates an empty list.
   * @param name which list this is.
   */
  constructor(readonly name: ChunkListName) {}

  /** list_add: at the head. */
  add(c: NouveauDmemChunk): void {
    c.prev = null;
    c.next = this.head;
    if (this.head !== null) this.head.prev = c;
    else this.tail = c;
    this.head = c;
    c.list = this.name;
    this.length++;
  }

  /** list_add_tail. */
  addTail(c: NouveauDmemChunk): void {
    c.next = null;
    c.prev = this.tail;
    if (this.tail !== null) this.tail.next = c;
    else this.head = c;
    this.tail = c;
    c.list = this.name;
    this.length++;
  }

  /** list_del (the chunk must be on this list). */
  del(c: NouveauDmemChunk): void {
    if (c.prev !== null) c.prev.next = c.next;
    else this.head = c.next;
    if (c.next !== null) c.next.prev = c.prev;
    else this.tail = c.prev;
    c.prev = c.next = null;
    c.list = null;
    this.length--;
  }

  /** The entries, head first. */
  toArray(): NouveauDmemChunk[] {
    const out: NouveauDmemChunk[] = [];
    for (let c = this.head; c !== null; c = c.next) out.push(c);
    return out;
  }
}

/** A copy-engine fence (struct nouveau_fence): when the channel's work so far completes. */
export interface NouveauFence {
  /** Simulated completion time. */
  done: number;
}

/** struct nouveau_dmem. */
export class NouveauDmem {
  /** The registered device memory. */
  devmem: HmmDevmem | null = null;
  /** Every chunk, by index. */
  readonly chunks: NouveauDmemChunk[] = [];
  /** Chunks with free pages and VRAM. */
  readonly chunk_free: ChunkList = new ChunkList("chunk_free");
  /** Chunks with every page handed out. */
  readonly chunk_full: ChunkList = new ChunkList("chunk_full");
  /** Chunks with no page handed out (with a bo at the head, without one behind). */
  readonly chunk_empty: ChunkList = new ChunkList("chunk_empty");
  /** Bytes registered. */
  size = 0;
  /** Device pages handed out (counter). */
  allocated = 0;
  /** Device pages given back by ops->free (counter). */
  freed = 0;
  /** ops->fault calls: CPU accesses to device pages. */
  faults = 0;
  /** Of those, the ones that returned VM_FAULT_SIGBUS. */
  faultsFailed = 0;
  /** Pages migrated to VRAM. */
  migrated = 0;
  /** Pages migrated back to system memory by ops->fault. */
  migratedBack = 0;
  /** When the migrate channel's last copy completes (0: none queued yet); a new fence waits for it. */
  lastCopyDone = 0;
  /** Use of freed driver memory (a chunk after fini), recorded rather than crashed on. */
  readonly useAfterFree: string[] = [];
  /** nouveau_dmem_page_alloc_locked's `pfns[1]`. */
  readonly onePfn: Float64Array = new Float64Array(1);
  /** The copy method's VRAM address (reused). */
  readonly vramEnd: { vram: number } = { vram: 0 };
  /** The copy method's host page (reused). */
  readonly hostEnd: { page: number } = { page: 0 };
  /** The copy method's VRAM source address (reused). */
  readonly vramSrc: { vram: number } = { vram: 0 };
  /** The chunk nouveau_dmem_pages_alloc took its last page from. */
  lastAllocChunk: NouveauDmemChunk | null = null;
  /** alloc_and_copy's VRAM address of each entry's new page (reused; grown as needed). */
  allocAddrs: Float64Array = new Float64Array(SG_MAX_SINGLE_ALLOC);
  /** Reusable src/dst for the fault handler (one page). */
  readonly faultSrc: Float64Array = new Float64Array(1);
  /** Reusable dst for the fault handler. */
  readonly faultDst: Float64Array = new Float64Array(1);
  /** Reusable src/dst of nouveau_dmem_migrate_vma. */
  readonly migSrc: Float64Array = new Float64Array(SG_MAX_SINGLE_ALLOC);
  /** Reusable dst. */
  readonly migDst: Float64Array = new Float64Array(SG_MAX_SINGLE_ALLOC);

  /** Device pages in use (allocated - freed). */
  get inUse(): number {
    return this.allocated - this.freed;
  }
}

/** Migration private data (struct nouveau_migrate / nouveau_dmem_fault). */
export class NouveauMigrate {
  /** The device. */
  drm: NouveauDrm;
  /** The VMA. */
  vma: VmAreaStruct | null = null;
  /** nouveau_fence_new after the copies, or null. */
  fence: NouveauFence | null = null;
  /** Pages asked for. */
  npages = 0;
  /** DMA mappings made (unmapped in finalize). */
  dma_nr = 0;
  /** Pages that moved (finalize_and_map's view: src MIGRATE and dst VALID). */
  moved = 0;
  /**
   * A device mapper (the SVM fault path maps what moved, given the VRAM
   * page alloc_and_copy copied into); null for a plain migration.
   */
  map: ((addr: number, src: number, vramPage: number) => void) | null = null;
  /** VRAM page of each entry's destination, kept by alloc_and_copy for `map` (null: not kept). */
  vramPages: Float64Array | null = null;

  /**
   * Creates the private data.
   * @param drm the device.
   */
  constructor(drm: NouveauDrm) {
    this.drm = drm;
  }
}

function emit(k: Kernel, drm: NouveauDrm, op: DriverMemEvent["op"], pfn: number, n: number): void {
  k.trace.emit({ kind: "driver_mem", op, dev: drm.name, pfn, n });
}

function dmemOf(drm: NouveauDrm): NouveauDmem {
  const dmem = drm.dmem;
  if (dmem === null) {
    throw new TypeError(
      `Cannot use ${drm.name}'s device memory: nouveau_dmem_init did not set it up`,
    );
  }
  return dmem;
}

/** The chunk of a device page of this device (hmm_devmem_page_get_drvdata). */
export function nouveau_dmem_page_chunk(k: Kernel, drm: NouveauDrm, page: Page): NouveauDmemChunk {
  const dmem = dmemOf(drm);
  const c = dmem.chunks[hmm_devmem_page_get_drvdata(k, page) - 1];
  if (c === undefined) {
    k.oops("BUG: unable to handle kernel NULL pointer dereference at 0000000000000020");
  }
  if (c.freed) dmem.useAfterFree.push(`chunk ${c.index} used after nouveau_dmem_fini freed it`);
  return c;
}

/**
 * The VRAM byte address of device page `page` (chunk index + bo offset):
 * v5.2's nouveau_dmem.c computes it inline from the page's chunk
 * (`((page_to_pfn(page) - chunk->pfn_first) << PAGE_SHIFT) + bo offset`); the
 * model names the step and passes `drm` to reach its dmem.
 */
export function nouveau_dmem_page_addr(k: Kernel, drm: NouveauDrm, page: Page): number {
  const c = nouveau_dmem_page_chunk(k, drm, page);
  return (page - c.pfn_first) * 4096 + c.bo!.offset;
}

// ---- the copy engine (nvc0b5_migrate_copy) ----

/**
 * nvc0b5_migrate_copy(drm, npages, dst_aper, dst_addr, src_aper, src_addr):
 * queues a copy of `npages` pages on the migrate channel (the GPU's copy
 * engine). VRAM addresses are VRAM byte offsets; HOST addresses are bus
 * addresses of system pages (pfn × 4096). 0, -EINVAL for the VIRT aperture
 * (not used by dmem), or the engine's -EIO (fault point "gpu_copy").
 */
export function nvc0b5_migrate_copy(
  _k: Kernel,
  drm: NouveauDrm,
  npages: number,
  dst_aper: number,
  dst_addr: number,
  src_aper: number,
  src_addr: number,
): number {
  if (dst_aper === NOUVEAU_APER_VIRT || src_aper === NOUVEAU_APER_VIRT) return -EINVAL;
  const dmem = dmemOf(drm);
  const ce = drm.gpu.copyEngine;
  if (dst_aper === NOUVEAU_APER_VRAM && src_aper === NOUVEAU_APER_HOST) {
    // the migration direction: the engine's end-free form of the same copy
    const status = ce.copyHostToVram(dst_addr, src_addr / 4096, npages);
    dmem.lastCopyDone = ce.lastDone;
    return status;
  }
  // the method's two addresses, in the engine's terms (reused: the engine reads them at once)
  const vram = dmem.vramEnd, host = dmem.hostEnd;
  let dst: CopyEnd, src: CopyEnd;
  if (dst_aper === NOUVEAU_APER_VRAM) {
    vram.vram = dst_addr;
    dst = vram;
  } else {
    host.page = dst_addr / 4096;
    dst = host;
  }
  if (src_aper === NOUVEAU_APER_VRAM) {
    dmem.vramSrc.vram = src_addr;
    src = dmem.vramSrc;
  } else {
    host.page = src_addr / 4096;
    src = host;
  }
  const fence = ce.copy(dst, src, npages);
  dmem.lastCopyDone = fence.done;
  return fence.status;
}

/**
 * nouveau_fence_new(chan, sysmem, pfence) (nouveau_fence.c): a fence after
 * everything queued so far on the channel, stored in `pfence.fence` (the
 * kernel's `*pfence`; dmem passes &fault->fence, here the NouveauMigrate
 * itself). Returns 0: the model's allocation does not fail. `chan` is the
 * device, whose one migrate channel (drm->dmem->migrate.chan) the model
 * keeps in its dmem; `sysmem` does not matter to the model.
 */
export function nouveau_fence_new(
  _k: Kernel,
  chan: NouveauDrm,
  _sysmem: boolean,
  pfence: { fence: NouveauFence | null },
): number {
  pfence.fence = { done: dmemOf(chan).lastCopyDone };
  return 0;
}

/**
 * nouveau_fence_wait(fence, lazy, intr) (nouveau_fence.c): the copies are
 * done when it returns — the clock advances to the fence, except inside a
 * CPU device-private fault (its composite cost covers the wait). Returns
 * 0: the model's wait is neither interrupted nor timed out (`lazy` and
 * `intr` change nothing here).
 */
export function nouveau_fence_wait(
  k: Kernel,
  fence: NouveauFence,
  _lazy: boolean,
  _intr: boolean,
): number {
  if (k.state(HUB).faults.inDeviceFault === 0 && fence.done > k.clock.now) {
    k.clock.advanceTo(fence.done);
  }
  return 0;
}

/** enum dma_data_direction: DMA_BIDIRECTIONAL (PCI_DMA_BIDIRECTIONAL). */
const DMA_BIDIRECTIONAL = 0;
/** DMA_ATTR_SKIP_CPU_SYNC (include/linux/dma-mapping.h). */
const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;

/**
 * dma_map_page_attrs(dev, page, offset, size, dir, attrs): the bus address
 * of a system page (the model has no IOMMU: its physical address, plus
 * `offset`), or -1 — the model's DMA_MAPPING_ERROR, what dma_mapping_error
 * tests — for a device-private one.
 */
function dma_map_page_attrs(
  k: Kernel,
  _dev: Device,
  page: Page,
  offset: number,
  _size: number,
  _dir: number,
  _attrs: number,
): number {
  return zone_device_type(k, page) === MEMORY_DEVICE_PRIVATE ? -1 : page * 4096 + offset;
}

// ---- chunks and pages ----

/**
 * nouveau_dmem_chunk_alloc(drm): gives the first chunk of `chunk_empty` a
 * pinned 2 MiB VRAM bo (and, in the model, its pages' hmm_data); the chunk
 * goes back to the head of `chunk_empty` with a bo, to its tail without.
 * 0, -EINVAL without dmem, -ENOMEM when `chunk_empty` is empty or VRAM is.
 */
export function nouveau_dmem_chunk_alloc(k: Kernel, drm: NouveauDrm): number {
  const dmem = drm.dmem;
  if (dmem === null) return -EINVAL;
  const chunk = dmem.chunk_empty.head;
  if (chunk === null) return -ENOMEM;
  dmem.chunk_empty.del(chunk);
  let ret = 0;
  const bo = nouveau_bo_new(k, drm.vram, DMEM_CHUNK_SIZE);
  if (typeof bo === "number") ret = bo;
  else {
    ret = nouveau_bo_pin(k, bo);
    if (ret) nouveau_bo_put(k, drm.vram, bo);
    else {
      chunk.bo = bo;
      chunk.bitmap.fill(0);
      chunk.firstFree = 0;
      // the model's hmm_data: set when the chunk can first hand out pages (see the module doc)
      for (let j = 0; j < DMEM_CHUNK_NPAGES; j++) {
        hmm_devmem_page_set_drvdata(k, chunk.pfn_first + j, chunk.index + 1);
      }
    }
  }
  if (chunk.bo !== null) dmem.chunk_empty.add(chunk);
  else dmem.chunk_empty.addTail(chunk);
  return ret;
}

/**
 * nouveau_dmem_chunk_first_free_locked(drm): the first chunk of
 * `chunk_free`, else the first of `chunk_empty` if it has a bo, else null.
 * An empty `chunk_empty` is a NULL `chunk->bo` read: Oops.
 */
export function nouveau_dmem_chunk_first_free_locked(
  k: Kernel,
  drm: NouveauDrm,
): NouveauDmemChunk | null {
  const dmem = dmemOf(drm);
  if (dmem.chunk_free.head !== null) return dmem.chunk_free.head;
  const chunk = dmem.chunk_empty.head;
  if (chunk === null) {
    k.oops("BUG: unable to handle kernel NULL pointer dereference at 0000000000000010");
  }
  return chunk.bo !== null ? chunk : null;
}

/** find_next_zero_bit(bitmap, DMEM_CHUNK_NPAGES, from). */
function findNextZeroBit(bitmap: Uint32Array, from: number): number {
  for (let i = from; i < DMEM_CHUNK_NPAGES;) {
    const word = i >>> 5;
    // int32 arithmetic throughout (an arithmetic shift keeps the lowest zero bit the lowest)
    const zeros = ~bitmap[word]! >> (i & 31);
    if (zeros !== 0) return i + 31 - Math.clz32(zeros & -zeros);
    i = (word + 1) << 5;
  }
  return DMEM_CHUNK_NPAGES;
}

/**
 * nouveau_dmem_pages_alloc(drm, npages, pages): fills `pages` with free
 * device pfns (see the module doc for the list moves the model adds).
 * 0 (possibly fewer than asked if VRAM ran out after the first), or the
 * chunk allocation's -errno when none could be had.
 */
export function nouveau_dmem_pages_alloc(
  k: Kernel,
  drm: NouveauDrm,
  npages: number,
  pages: MigratePfns,
): number {
  const dmem = dmemOf(drm);
  for (let i = 0; i < npages; i++) pages[i] = -1; // memset(0xff)
  for (let c = 0; c < npages;) {
    const chunk = nouveau_dmem_chunk_first_free_locked(k, drm);
    if (chunk === null) {
      const ret = nouveau_dmem_chunk_alloc(k, drm);
      if (ret) {
        if (c) break;
        return ret;
      }
      continue;
    }
    const bm = chunk.bitmap;
    let i = findNextZeroBit(bm, chunk.firstFree); // = find_first_zero_bit (see firstFree)
    while (i < DMEM_CHUNK_NPAGES && c < npages) {
      pages[c] = chunk.pfn_first + i;
      bm[i >>> 5] = (bm[i >>> 5]! | (1 << (i & 31))) >>> 0;
      chunk.callocated++;
      c++;
      i = findNextZeroBit(bm, i);
    }
    chunk.firstFree = i; // every bit below the next zero bit is set
    dmem.lastAllocChunk = chunk;
    // the model's list moves (v5.1 leaves the chunk on chunk_empty)
    if (chunk.list === "chunk_empty") {
      dmem.chunk_empty.del(chunk);
      if (chunk.callocated === DMEM_CHUNK_NPAGES) dmem.chunk_full.add(chunk);
      else dmem.chunk_free.add(chunk);
    } else if (chunk.callocated === DMEM_CHUNK_NPAGES && chunk.list === "chunk_free") {
      dmem.chunk_free.del(chunk);
      dmem.chunk_full.add(chunk);
    }
  }
  return 0;
}

/**
 * nouveau_dmem_page_alloc_locked(drm): one device page, referenced and
 * locked (refcount 1 → 2), or null. Counts `allocated`.
 */
export function nouveau_dmem_page_alloc_locked(k: Kernel, drm: NouveauDrm): Page | null {
  const pfns = drm.dmem!.onePfn;
  const ret = nouveau_dmem_pages_alloc(k, drm, 1, pfns);
  if (ret) {
    if (k.tracing) emit(k, drm, "alloc_failed", 0, ret);
    return null;
  }
  const page = pfns[0]!;
  get_page(k, page);
  lock_page(k, page);
  drm.dmem!.allocated++;
  if (k.tracing) emit(k, drm, "alloc", page, 1);
  return page;
}

/** nouveau_dmem_page_free_locked(drm, page): unlock_page + put_page (2 → 1 runs ops->free). */
export function nouveau_dmem_page_free_locked(k: Kernel, _drm: NouveauDrm, page: Page): void {
  unlock_page(k, page);
  put_page(k, page);
}

/**
 * nouveau_dmem_free (hmm_devmem_ops.free): the page's refcount fell back to
 * 1. Clears its bit; WARN_ON(!callocated); callocated--. Counts `freed`.
 * The model moves the chunk between lists (see the module doc).
 */
function nouveau_dmem_free(k: Kernel, devmem: HmmDevmem, page: Page): void {
  const drm = devmem.device.driver_data as NouveauDrm;
  const dmem = drm.dmem!;
  const chunk = nouveau_dmem_page_chunk(k, drm, page);
  const idx = page - chunk.pfn_first;
  chunk.bitmap[idx >>> 5] = (chunk.bitmap[idx >>> 5]! & ~(1 << (idx & 31))) >>> 0;
  if (idx < chunk.firstFree) chunk.firstFree = idx;
  WARN_ON(k, chunk.callocated === 0);
  chunk.callocated--;
  // the model's list moves (v5.1 leaves every chunk on chunk_empty)
  if (chunk.list === "chunk_full") {
    dmem.chunk_full.del(chunk);
    dmem.chunk_free.add(chunk);
  }
  if (chunk.callocated === 0 && chunk.list === "chunk_free") {
    dmem.chunk_free.del(chunk);
    dmem.chunk_empty.add(chunk);
  }
  dmem.freed++;
  if (k.tracing) emit(k, drm, "free", page, 1);
}

// ---- CPU faults: back to system memory ----

/** nouveau_dmem_fault_alloc_and_copy. */
function nouveau_dmem_fault_alloc_and_copy(
  k: Kernel,
  _vma: VmAreaStruct,
  src: MigratePfns,
  dst: MigratePfns,
  start: number,
  end: number,
  priv: unknown,
): void {
  const fault = priv as NouveauMigrate;
  const drm = fault.drm;
  const n = (end - start) / 4096;
  for (let i = 0; i < n; i++) {
    dst[i] = 0;
    const spage = migrate_pfn_to_page(src[i]!);
    if (spage === null || (src[i]! & MIGRATE_PFN_MIGRATE) === 0) continue;
    const dpage = alloc_page(k); // alloc_page_vma(GFP_HIGHUSER, vma, addr)
    if (dpage === null) {
      dst[i] = MIGRATE_PFN_ERROR;
      continue;
    }
    lock_page(k, dpage);
    dst[i] = orBits(migrate_pfn(dpage), MIGRATE_PFN_LOCKED);
  }
  for (let i = 0; i < n; i++) {
    const dpage = migrate_pfn_to_page(dst[i]!);
    if (dpage === null || dst[i] === MIGRATE_PFN_ERROR) continue;
    const spage = migrate_pfn_to_page(src[i]!);
    if (spage === null || (src[i]! & MIGRATE_PFN_MIGRATE) === 0) {
      dst[i] = MIGRATE_PFN_ERROR;
      __free_page(k, dpage);
      continue;
    }
    const dst_addr = dma_map_page_attrs(
      k,
      drm.pdev,
      dpage,
      0,
      4096, // PAGE_SIZE
      DMA_BIDIRECTIONAL,
      DMA_ATTR_SKIP_CPU_SYNC,
    );
    if (dst_addr < 0) {
      dst[i] = MIGRATE_PFN_ERROR;
      __free_page(k, dpage);
      continue;
    }
    fault.dma_nr++;
    const src_addr = nouveau_dmem_page_addr(k, drm, spage);
    const ret = nvc0b5_migrate_copy(
      k,
      drm,
      1,
      NOUVEAU_APER_HOST,
      dst_addr,
      NOUVEAU_APER_VRAM,
      src_addr,
    );
    if (ret) {
      dst[i] = MIGRATE_PFN_ERROR;
      __free_page(k, dpage);
      continue;
    }
  }
  nouveau_fence_new(k, drm, false, fault);
}

/** nouveau_dmem_fault_finalize_and_map: wait for the copy, unmap the DMA. */
function nouveau_dmem_fault_finalize_and_map(
  k: Kernel,
  _vma: VmAreaStruct,
  _src: MigratePfns,
  _dst: MigratePfns,
  _start: number,
  _end: number,
  priv: unknown,
): void {
  const fault = priv as NouveauMigrate;
  if (fault.fence !== null) {
    nouveau_fence_wait(k, fault.fence, true, false);
    fault.fence = null;
  }
  fault.dma_nr = 0; // dma_unmap_page of each
}

/** nouveau_dmem_fault_migrate_ops. */
export const nouveau_dmem_fault_migrate_ops: MigrateVmaOps = {
  alloc_and_copy: nouveau_dmem_fault_alloc_and_copy,
  finalize_and_map: nouveau_dmem_fault_finalize_and_map,
};

/**
 * nouveau_dmem_fault (hmm_devmem_ops.fault): migrate_vma over exactly the
 * faulting page back to system memory. VM_FAULT_SIGBUS if migrate_vma
 * fails or the destination is MIGRATE_PFN_ERROR, else 0.
 */
function nouveau_dmem_fault(
  k: Kernel,
  devmem: HmmDevmem,
  vma: unknown,
  addr: number,
  _page: Page,
  _flags: number,
  _pmdp: unknown,
): number {
  const drm = devmem.device.driver_data as NouveauDrm;
  const dmem = drm.dmem!;
  dmem.faults++;
  const src = dmem.faultSrc, dst = dmem.faultDst;
  src[0] = 0;
  dst[0] = 0;
  const fault = drm.faultPriv;
  fault.vma = vma as VmAreaStruct;
  fault.fence = null;
  fault.dma_nr = 0;
  const ret = migrate_vma(
    k,
    nouveau_dmem_fault_migrate_ops,
    vma as VmAreaStruct,
    addr,
    addr + 4096,
    src,
    dst,
    fault,
  );
  let r = 0;
  if (ret) r = VM_FAULT_SIGBUS;
  else if (dst[0] === MIGRATE_PFN_ERROR) r = VM_FAULT_SIGBUS;
  if (r !== 0) dmem.faultsFailed++;
  else if ((dst[0]! & 1) !== 0) dmem.migratedBack++;
  if (k.tracing) emit(k, drm, "fault", addr, r);
  return r;
}

/** nouveau_dmem_devmem_ops. */
export const nouveau_dmem_devmem_ops: HmmDevmemOps = {
  free: nouveau_dmem_free,
  fault: nouveau_dmem_fault,
};

// ---- init / fini ----

/**
 * nouveau_dmem_init(drm) (void in the kernel): sets up `drm.dmem` — or
 * leaves it null when hmm_devmem_add fails. Sleeps (hmm_devmem_add).
 */
export function* nouveau_dmem_init(k: Kernel, drm: NouveauDrm): KGen<void> {
  const dmem = new NouveauDmem();
  drm.dmem = dmem;
  const size = Math.ceil(drm.ram_user / DMEM_CHUNK_SIZE) * DMEM_CHUNK_SIZE;
  // nouveau_dmem_migrate_init: the copy engine's DMA_COPY class (Pascal or newer)
  drm.dmem_copy_func = nvc0b5_migrate_copy;
  const devmem = yield* hmm_devmem_add(k, nouveau_dmem_devmem_ops, drm.pdev, size);
  if (IS_ERR(devmem)) {
    drm.dmem = null;
    return;
  }
  dmem.devmem = devmem;
  dmem.size = size;
  for (let i = 0; i < size / DMEM_CHUNK_SIZE; i++) {
    const chunk = new NouveauDmemChunk(i, devmem.pfn_first + i * DMEM_CHUNK_NPAGES);
    dmem.chunks.push(chunk);
    dmem.chunk_empty.addTail(chunk);
  }
  dev_info(k, drm.pdev, `DRM: DMEM: registered ${size / 2 ** 20}MB of device memory`);
}

/**
 * nouveau_dmem_fini(drm) (at remove, before devres releases the devmem):
 * WARN_ON unless `chunk_free` and `chunk_full` are empty; the `chunk_empty`
 * chunks drop their bos and are freed (chunks on the other lists are
 * leaked, as in the kernel). `drm.dmem` stays set.
 */
export function nouveau_dmem_fini(k: Kernel, drm: NouveauDrm): void {
  const dmem = drm.dmem;
  if (dmem === null) return;
  WARN_ON(k, dmem.chunk_free.length !== 0);
  WARN_ON(k, dmem.chunk_full.length !== 0);
  for (let c = dmem.chunk_empty.head; c !== null;) {
    const next = c.next;
    if (c.bo !== null) {
      nouveau_bo_unpin(k, c.bo);
      nouveau_bo_put(k, drm.vram, c.bo);
    }
    dmem.chunk_empty.del(c);
    c.freed = true;
    c = next;
  }
}

// ---- to VRAM ----

/** nouveau_dmem_migrate_alloc_and_copy. */
export function nouveau_dmem_migrate_alloc_and_copy(
  k: Kernel,
  _vma: VmAreaStruct,
  src: MigratePfns,
  dst: MigratePfns,
  start: number,
  end: number,
  priv: unknown,
): void {
  const migrate = priv as NouveauMigrate;
  const drm = migrate.drm;
  const dmem = drm.dmem!;
  const n = (end - start) / 4096;
  if (dmem.allocAddrs.length < n) dmem.allocAddrs = new Float64Array(n);
  const addrs = dmem.allocAddrs;
  let npages = 0;
  for (let i = 0; i < n; i++) {
    dst[i] = 0;
    const s = src[i]!;
    if ((s & 1) === 0 || (s & MIGRATE_PFN_MIGRATE) === 0) continue; // !spage || !MIGRATE
    const dpage = nouveau_dmem_page_alloc_locked(k, drm);
    if (dpage === null) continue;
    // nouveau_dmem_page_addr(drm, dpage), read now: the page's hmm_data is the chunk it came from
    const c = dmem.lastAllocChunk!;
    addrs[i] = (dpage - c.pfn_first) * 4096 + c.bo!.offset;
    dst[i] = orBits(migrate_pfn(dpage), MIGRATE_PFN_LOCKED | MIGRATE_PFN_DEVICE);
    npages++;
  }
  if (npages === 0) return;
  for (let i = 0; i < n; i++) {
    const d = dst[i]!;
    if ((d & 1) === 0 || d === MIGRATE_PFN_ERROR) continue;
    const dpage = (d - (d & 63)) / 64;
    const dst_addr = addrs[i]!;
    if (migrate.vramPages !== null) migrate.vramPages[i] = dst_addr / 4096;
    const s = src[i]!;
    if ((s & 1) === 0 || (s & MIGRATE_PFN_MIGRATE) === 0) {
      nouveau_dmem_page_free_locked(k, drm, dpage);
      dst[i] = 0;
      continue;
    }
    const src_addr = dma_map_page_attrs(
      k,
      drm.pdev,
      (s - (s & 63)) / 64,
      0,
      4096, // PAGE_SIZE
      DMA_BIDIRECTIONAL,
      DMA_ATTR_SKIP_CPU_SYNC,
    );
    if (src_addr < 0) {
      nouveau_dmem_page_free_locked(k, drm, dpage);
      dst[i] = 0;
      continue;
    }
    migrate.dma_nr++;
    const ret = nvc0b5_migrate_copy(
      k,
      drm,
      1,
      NOUVEAU_APER_VRAM,
      dst_addr,
      NOUVEAU_APER_HOST,
      src_addr,
    );
    if (ret) {
      nouveau_dmem_page_free_locked(k, drm, dpage);
      dst[i] = 0;
      continue;
    }
  }
  nouveau_fence_new(k, drm, false, migrate);
}

/**
 * nouveau_dmem_migrate_finalize_and_map: wait for the fence, unmap the DMA.
 * nouveau leaves the GPU page table alone ("FIXME optimization"); the SVM
 * fault path's `map` hook maps what moved.
 */
export function nouveau_dmem_migrate_finalize_and_map(
  k: Kernel,
  _vma: VmAreaStruct,
  src: MigratePfns,
  dst: MigratePfns,
  start: number,
  end: number,
  priv: unknown,
): void {
  const migrate = priv as NouveauMigrate;
  if (migrate.fence !== null) {
    nouveau_fence_wait(k, migrate.fence, true, false);
    migrate.fence = null;
  }
  migrate.dma_nr = 0;
  const n = (end - start) / 4096;
  const map = migrate.map;
  let moved = 0;
  for (let i = 0; i < n; i++) {
    const s = src[i]!, d = dst[i]!;
    if ((s & MIGRATE_PFN_MIGRATE) === 0 || (d & 1) === 0) continue;
    moved++;
    if (map !== null) map(start + i * 4096, s, migrate.vramPages![i]!);
  }
  migrate.moved += moved;
  migrate.drm.dmem!.migrated += moved;
}

/** nouveau_dmem_migrate_ops. */
export const nouveau_dmem_migrate_ops: MigrateVmaOps = {
  alloc_and_copy: nouveau_dmem_migrate_alloc_and_copy,
  finalize_and_map: nouveau_dmem_migrate_finalize_and_map,
};

/**
 * nouveau_dmem_migrate_vma(drm, vma, start, end): migrate [start, end) of
 * `vma` to VRAM in SG_MAX_SINGLE_ALLOC-page migrate_vma calls (with v5.1's
 * batch arithmetic, see the module doc). 0 or migrate_vma's -EINVAL (the
 * pages of earlier batches stay moved). Pages that moved are counted in
 * the device's `migrated`.
 */
export function nouveau_dmem_migrate_vma(
  k: Kernel,
  drm: NouveauDrm,
  vma: VmAreaStruct,
  start: number,
  end: number,
): number {
  const dmem = dmemOf(drm);
  const first = start;
  const npages = Math.floor((end - start) / 4096);
  const migrate = new NouveauMigrate(drm);
  migrate.vma = vma;
  migrate.npages = npages;
  const src = dmem.migSrc, dst = dmem.migDst;
  let ret = 0;
  for (let i = 0, c = 0; i < npages; i += c) {
    c = Math.min(SG_MAX_SINGLE_ALLOC, npages);
    const next = start + c * 4096;
    ret = migrate_vma(k, nouveau_dmem_migrate_ops, vma, start, next, src, dst, migrate);
    if (ret) break;
    start = next;
  }
  if (k.tracing) emit(k, drm, "migrate", first, migrate.moved);
  return ret;
}

/** nouveau_dmem_page(drm, page): a device-private page of this device's devmem. */
export function nouveau_dmem_page(k: Kernel, drm: NouveauDrm, page: Page): boolean {
  if (zone_device_type(k, page) !== MEMORY_DEVICE_PRIVATE) return false; // is_device_private_page
  return drm.dmem !== null && zone_device_pgmap(k, page)?.data === drm.dmem.devmem;
}

/**
 * nouveau_dmem_convert_pfn(drm, range): every entry of `range` with
 * flags[DEVICE_PRIVATE] that is one of this device's pages becomes that
 * page's VRAM page number (same low flag bits); another device's page
 * WARNs "Some unknown device memory !" and becomes 0.
 */
export function nouveau_dmem_convert_pfn(k: Kernel, drm: NouveauDrm, range: HmmRange): void {
  const npages = (range.end - range.start) / 4096;
  const dp = range.flags[HMM_PFN_DEVICE_PRIVATE]!;
  const unit = 2 ** range.pfn_shift;
  for (let i = 0; i < npages; i++) {
    const e = range.pfns[i]!;
    const page = hmm_pfn_to_page(range, e);
    if (page === null) continue;
    if ((e & dp) === 0) continue;
    if (!nouveau_dmem_page(k, drm, page)) {
      WARN(k, true, "Some unknown device memory !");
      range.pfns[i] = 0;
      continue;
    }
    const chunk = nouveau_dmem_page_chunk(k, drm, page);
    const vpage = page - chunk.pfn_first + chunk.bo!.mem_start;
    range.pfns[i] = (e % unit) + vpage * unit;
  }
}
