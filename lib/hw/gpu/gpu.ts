/**
 * A discrete GPU: VRAM (real bytes in the kernel's chunk pool, so a
 * migration shares chunks with struct pages), a PCIe endpoint whose BAR1
 * exposes a window of VRAM to the CPU (a small legacy BAR or a resizable one
 * covering all of VRAM), a copy engine, a device page table mirroring a
 * process, and the replayable fault buffer.
 *
 * The copy engine moves whole pages between VRAM, system RAM (struct pages,
 * through lib/kernel/mm/page-contents.ts) and any {@link PageStore}. Its
 * time comes from the cost model — PCIe (lib/hw/pcie/dma.ts) for host
 * transfers, `gpu.hbmBW` within VRAM — capped by the description's
 * copy-engine rate. Work is queued on the engine's own timeline; the caller
 * waits for the fence ({@link CopyEngine.wait}), which advances the clock.
 * Fault point "gpu_copy" makes a copy fail with -EIO and move nothing.
 *
 * VRAM, page table and fault buffer are volatile: power-on clears them.
 *
 * @module
 */
import type { Kernel } from "../../kernel/kernel.ts";
import {
  CONTENTS,
  pageChunk,
  pageReadWords,
  pageWriteWords,
  WORDS_PER_PAGE,
} from "../../kernel/mm/page-contents.ts";
import type { Page } from "../../kernel/mm/types.ts";
import { PAGE_BYTES, PageStore } from "../chunks.ts";
import { hostPath, pathBandwidth } from "../pcie/dma.ts";
import type { PciBar, PciDevice } from "../pcie/topology.ts";
import { type FaultBatch, FaultBuffer } from "./faults.ts";
import { DevicePageTable } from "./page-table.ts";
import { createChunkPool } from "../chunks.ts";

/** What a GPU is built from (the description's `gpus[]`). */
export interface GpuConfig {
  /** Description name ("gpu0"). */
  name: string;
  /** VRAM bytes. */
  vram: number;
  /** BAR1 bytes (a power of two; equal to VRAM rounded up for a resizable BAR). */
  bar: number;
  /** Copy-engine throughput cap in GB/s, or null for "link or HBM limited". */
  copyRate: number | null;
  /** NUMA node. */
  node: number;
}

/** Where a copy reads or writes one page. */
export type CopyEnd =
  | { vram: number }
  | { page: Page }
  | { store: PageStore; page: number };

/** A queued copy: when it completes and how it ended. */
export interface CopyFence {
  /** 0, or -EIO (-5) when the engine faulted (nothing was copied). */
  status: number;
  /** Simulated ns the copy occupies the engine. */
  ns: number;
  /** Simulated time it completes. */
  done: number;
}

/** The GPU's DMA copy engine. */
export class CopyEngine {
  readonly #gpu: Gpu;
  #busyUntil = 0;
  /** Copies performed since power-on. */
  copies = 0;
  /** Pages moved since power-on. */
  pages = 0;

  /**
   * Creates the engine.
   * @param gpu its GPU.
   */
  constructor(gpu: Gpu) {
    this.#gpu = gpu;
  }

  #linkBW = 1;
  #hbmBW = 1;
  #latency = 0;
  #ns1 = 0;

  /** Forgets queued work and reads the cost model of the new kernel (power-on). */
  reset(): void {
    const g = this.#gpu, k = g.kernel;
    this.#busyUntil = 0;
    this.lastNs = 0;
    this.lastDone = 0;
    this.copies = 0;
    this.pages = 0;
    const cap = g.config.copyRate ?? Infinity;
    this.#linkBW = Math.min(pathBandwidth(k.cost, hostPath(g.pci)), cap);
    this.#hbmBW = Math.min(k.cost.get("gpu.hbmBW"), cap);
    this.#latency = k.cost.get("pcie.dmaLatency");
    this.#ns1 = Math.round(this.#latency + PAGE_BYTES / this.#linkBW);
  }

  /**
   * Simulated ns to copy `bytes` from `src` to `dst` (no side effects):
   * within VRAM at `gpu.hbmBW`, else one PCIe DMA (`pcie.dmaLatency` plus wire
   * time on the GPU's link), each capped by the copy-engine rate.
   */
  costNs(dst: CopyEnd, src: CopyEnd, bytes: number): number {
    if ("vram" in dst && "vram" in src) return Math.round(bytes / this.#hbmBW);
    return Math.round(this.#latency + bytes / this.#linkBW);
  }

  /**
   * Queues a copy of `npages` whole pages from `src` to `dst` (consecutive
   * pages from each start). Shares chunks where both ends use the kernel's
   * pool; struct-page destinations are written word by word (page-contents
   * exports no chunk setter). Returns the fence.
   */
  copy(dst: CopyEnd, src: CopyEnd, npages = 1): CopyFence {
    if ("vram" in dst && "page" in src && !("store" in src)) {
      const status = this.copyHostToVram(dst.vram, src.page, npages);
      return { status, ns: this.lastNs, done: this.lastDone };
    }
    const g = this.#gpu, k = g.kernel;
    const bytes = npages * PAGE_BYTES;
    const ns = this.costNs(dst, src, bytes);
    const start = Math.max(k.clock.now, this.#busyUntil);
    this.#busyUntil = start + ns;
    this.lastNs = ns;
    this.lastDone = this.#busyUntil;
    if (k.faults.shouldFail("gpu_copy")) {
      if (k.trace.on) k.trace.emit({ kind: "gpu", op: "copy_error", gpu: g.name, n: bytes, ns });
      return { status: -5, ns, done: this.#busyUntil };
    }
    for (let i = 0; i < npages; i++) g.copyPage(step(dst, i), step(src, i));
    this.copies++;
    this.pages += npages;
    if (k.trace.on) k.trace.emit({ kind: "gpu", op: "copy", gpu: g.name, n: bytes, ns });
    return { status: 0, ns, done: this.#busyUntil };
  }

  /** Simulated ns of the last copy queued. */
  lastNs = 0;
  /** Simulated time the last copy queued completes (its fence). */
  lastDone = 0;

  /**
   * `copy({ vram: vramOffset }, { page: pfn }, npages)` — the migration
   * direction, struct pages to VRAM, sharing chunks — without building the
   * two ends and the fence: the same time, counters, trace and fault point.
   * Returns the status (0 or -EIO); the fence's time is {@link lastDone}
   * (and its cost {@link lastNs}).
   */
  copyHostToVram(vramOffset: number, pfn: Page, npages = 1): number {
    const g = this.#gpu, k = g.kernel;
    const bytes = npages * PAGE_BYTES;
    // costNs of a host transfer (one page: computed at power-on)
    const ns = npages === 1 ? this.#ns1 : Math.round(this.#latency + bytes / this.#linkBW);
    const now = k.clock.now;
    const done = (now > this.#busyUntil ? now : this.#busyUntil) + ns;
    this.#busyUntil = done;
    this.lastNs = ns;
    this.lastDone = done;
    if (k.faults.anyArmed && k.faults.shouldFail("gpu_copy")) {
      if (k.trace.on) k.trace.emit({ kind: "gpu", op: "copy_error", gpu: g.name, n: bytes, ns });
      return -5;
    }
    const v = vramPage(g, vramOffset);
    if (v + npages > g.vram.pages) vramPage(g, vramOffset + (npages - 1) * PAGE_BYTES);
    for (let i = 0; i < npages; i++) g.vram.adoptChunk(v + i, pageChunk(k, pfn + i));
    this.copies++;
    this.pages += npages;
    if (k.trace.on) k.trace.emit({ kind: "gpu", op: "copy", gpu: g.name, n: bytes, ns });
    return 0;
  }

  /** Waits for `fence` (the fault path runs the wait atomically): advances the clock to its completion. */
  wait(fence: CopyFence): number {
    this.#gpu.kernel.clock.advanceTo(fence.done);
    return fence.status;
  }
}

function step(e: CopyEnd, i: number): CopyEnd {
  if ("vram" in e) return { vram: e.vram + i * PAGE_BYTES };
  if ("page" in e && !("store" in e)) return { page: e.page + i };
  return { store: (e as { store: PageStore }).store, page: (e as { page: number }).page + i };
}

/** One GPU. */
export class Gpu {
  /** The description. */
  readonly config: GpuConfig;
  /** Its PCIe function. */
  readonly pci: PciDevice;
  /** VRAM. */
  readonly vram: PageStore;
  /** The copy engine. */
  readonly copyEngine: CopyEngine;
  /** The device page table (one mirrored address space). */
  readonly pageTable: DevicePageTable = new DevicePageTable();
  /** The replayable fault buffer. */
  readonly faults: FaultBuffer = new FaultBuffer();
  /** VRAM offset BAR1 currently exposes. */
  barWindow = 0;
  #k: Kernel | null = null;

  /**
   * Creates a GPU with empty VRAM.
   * @param config VRAM, BAR, copy rate.
   * @param pci its PCIe endpoint (BAR0 registers, BAR1 the VRAM aperture).
   */
  constructor(config: GpuConfig, pci: PciDevice) {
    this.config = config;
    this.pci = pci;
    this.vram = new PageStore(config.vram, createChunkPool(), `${config.name} VRAM`);
    this.copyEngine = new CopyEngine(this);
  }

  /** Description name. */
  get name(): string {
    return this.config.name;
  }

  /** The kernel it is attached to (throws before boot). */
  get kernel(): Kernel {
    if (this.#k === null) {
      throw new TypeError(`Cannot use ${this.name}: the machine has not booted`);
    }
    return this.#k;
  }

  /** BAR1: the CPU's window onto VRAM. */
  get bar1(): PciBar {
    return this.pci.bar(1)!;
  }

  /** Whether BAR1 covers all of VRAM (a resizable BAR). */
  get resizableBar(): boolean {
    return this.config.bar >= this.config.vram;
  }

  /**
   * Power-on with kernel `k`: VRAM switches to the kernel's chunk pool and
   * reads as zeros; the page table, fault buffer and copy engine start empty;
   * fault point "gpu_copy" is registered.
   */
  attach(k: Kernel): void {
    this.#k = k;
    this.vram.rebind(k.state(CONTENTS));
    this.pageTable.clear();
    this.faults.reset();
    this.copyEngine.reset();
    this.barWindow = 0;
    k.faults.register(
      "gpu_copy",
      "a GPU copy engine faults: the copy moves nothing and its fence reports -EIO",
    );
  }

  /**
   * A device access to `vaddr` that missed the device page table: queues a
   * replayable fault (FAULT_READ or FAULT_WRITE). False when the buffer is full.
   */
  raiseFault(vaddr: number, access: number): boolean {
    const k = this.kernel;
    if (k.trace.on) k.trace.emit({ kind: "gpu", op: "fault", gpu: this.name, n: vaddr, ns: 0 });
    return this.faults.raise(vaddr, access);
  }

  /**
   * Fetches the next batch of faults (up to `batch.max`, de-duplicated and
   * sorted) for the driver to service; returns the distinct pages.
   */
  fetchFaults(batch: FaultBatch): number {
    const n = this.faults.fetch(batch);
    const k = this.kernel;
    if (k.trace.on) {
      k.trace.emit({ kind: "gpu", op: "fault_batch", gpu: this.name, n: batch.fetched, ns: 0 });
    }
    return n;
  }

  /** Points BAR1 at VRAM offset `offset` (a small BAR shows a window of VRAM). */
  setBarWindow(offset: number): void {
    if (
      !Number.isSafeInteger(offset) || offset < 0 || offset % PAGE_BYTES !== 0 ||
      offset + Math.min(this.config.bar, this.config.vram) > this.config.vram
    ) {
      throw new RangeError(
        `Cannot move ${this.name}'s BAR window to ${offset}: it must keep the window inside VRAM`,
      );
    }
    this.barWindow = offset;
  }

  /** The VRAM offset behind CPU physical address `phys` in BAR1, or null (outside, or past VRAM). */
  barToVram(phys: number): number | null {
    const b = this.bar1;
    if (phys < b.start || phys >= b.start + b.size) return null;
    const off = this.barWindow + (phys - b.start);
    return off < this.config.vram ? off : null;
  }

  /** Copies one page from `src` to `dst` (no cost: the copy engine charges). */
  copyPage(dst: CopyEnd, src: CopyEnd): void {
    const k = this.kernel;
    const pool = this.vram.pool; // the kernel's pool after power-on
    if ("vram" in dst || ("store" in dst)) {
      const store = "vram" in dst ? this.vram : dst.store;
      const page = "vram" in dst ? vramPage(this, dst.vram) : dst.page;
      if ("vram" in src) store.sharePage(page, this.vram, vramPage(this, src.vram));
      else if ("store" in src) store.sharePage(page, src.store, src.page);
      else if (store.pool === pool) store.adoptChunk(page, pageChunk(k, src.page));
      else {
        const w = new Int32Array(WORDS_PER_PAGE);
        pageReadWords(k, src.page, w);
        store.writePageWords(page, w);
      }
      return;
    }
    const w = new Int32Array(WORDS_PER_PAGE);
    if ("vram" in src) this.vram.readPageWords(vramPage(this, src.vram), w);
    else if ("store" in src) src.store.readPageWords(src.page, w);
    else pageReadWords(k, src.page, w);
    pageWriteWords(k, dst.page, w);
  }
}

function vramPage(g: Gpu, offset: number): number {
  // in range and a whole number of pages (a safe integer; NaN fails), without a floating modulo
  const page = offset / PAGE_BYTES;
  if (!(offset >= 0 && offset < g.config.vram && Math.floor(page) === page)) {
    throw new RangeError(
      `Cannot copy ${g.name} VRAM at ${offset}: not a page-aligned offset inside its ${g.config.vram} bytes`,
    );
  }
  return page;
}
