/**
 * One per-kernel object holding the process side's state (the page-ext
 * records, the RAM allocator, page contents, fault counters) and the memory
 * model's MmState, so that a fault path asks the kernel for one subsystem
 * instead of five (the kernel caches the last two it was asked for).
 * Simulator plumbing: no kernel counterpart.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../kernel.ts";
import { MM, type MmState } from "./mmzone.ts";
import { PageExtState } from "./page-ext.ts";
import { ChunkStore } from "./page-contents.ts";
import { RAM_FAULT_POINTS, RamAllocState } from "./ram-alloc.ts";
import { FaultState } from "./memory.ts";

/** The process side's per-kernel state. */
export class MmHub {
  /** The memory model (sections, memmap). */
  readonly mm: MmState;
  /** page-ext state (the per-page records hang off each MemSection). */
  readonly ext: PageExtState;
  /** System RAM allocator. */
  readonly ram: RamAllocState = new RamAllocState();
  /** Page contents. */
  readonly cs: ChunkStore;
  /** Fault counters and costs. */
  readonly faults: FaultState;
  /**
   * Creates the hub (registers the "alloc_page" fault point).
   * @param k the kernel.
   */
  constructor(k: Kernel) {
    this.mm = k.state(MM);
    this.ext = new PageExtState(this.mm.roots.length);
    this.cs = new ChunkStore(k.cost.get("dram.copy4KiB"));
    this.faults = new FaultState(k);
    for (const [n, d] of RAM_FAULT_POINTS) k.faults.register(n, d);
  }
}

/** The hub of a kernel. */
export const HUB: SubsystemKey<MmHub> = { name: "mm-hub", create: (k: Kernel) => new MmHub(k) };
