/**
 * CPU-coherent device memory (2018's HMM "CDM" case: memory on a device the
 * CPU can cache, such as a GPU behind a coherent link): firmware reports it
 * as a top-level iomem resource with desc IORES_DESC_DEVICE_PUBLIC_MEMORY,
 * which a driver hands to hmm_devmem_add_resource. Its bytes live in the
 * kernel's chunk pool and are lost at power-off.
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";
import { CONTENTS } from "../kernel/mm/page-contents.ts";
import { createChunkPool, PageStore } from "./chunks.ts";

/** What a coherent range is built from (the description's `coherentMemory[]`). */
export interface CoherentMemoryConfig {
  /** Description name (also the iomem resource's name). */
  name: string;
  /** First byte. */
  start: number;
  /** Bytes. */
  size: number;
  /** NUMA node it is closest to. */
  node: number;
  /** The GPU that owns it, or null. */
  owner: string | null;
}

/** One range of CPU-coherent device memory. */
export class CoherentMemory {
  /** The description. */
  readonly config: CoherentMemoryConfig;
  /** Its contents. */
  readonly store: PageStore;

  /**
   * Creates the range (empty).
   * @param config range, node, owner.
   */
  constructor(config: CoherentMemoryConfig) {
    this.config = config;
    this.store = new PageStore(config.size, createChunkPool(), `${config.name}`);
  }

  /** Power-on: contents lost; pages live in the kernel's pool from now on. */
  attach(k: Kernel): void {
    this.store.rebind(k.state(CONTENTS));
  }
}
