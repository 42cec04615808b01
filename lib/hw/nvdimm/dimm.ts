/**
 * An NVDIMM: its NFIT handle, capacity, label (config) area and media. Both
 * the label area and the media are {@link PageStore}s over a chunk pool the
 * DIMM owns, so they outlive any kernel that booted with it (a power cycle
 * keeps them).
 *
 * @module
 */
import { createChunkPool, PageStore } from "../chunks.ts";

/** What a DIMM is built from (the machine description's `nvdimm.buses[].dimms[]`). */
export interface NvdimmConfig {
  /** Description name (for references). */
  name: string;
  /** NFIT device handle (node/socket/imc/channel/dimm packed as in the NFIT). */
  handle: number;
  /** Capacity in bytes (DPA space). */
  size: number;
  /** Label (config) area size in bytes; 0 = label-less. */
  labelSize: number;
  /** NUMA node. */
  node: number;
}

/** NFIT_DIMM_HANDLE(node, socket, imc, chan, dimm) as nfit_test packs it. */
export function nfitDimmHandle(
  node: number,
  socket: number,
  imc: number,
  chan: number,
  dimm: number,
): number {
  return ((node & 0xfff) << 16) | ((socket & 0xf) << 12) | ((imc & 0xf) << 8) |
    ((chan & 0xf) << 4) | (dimm & 0xf);
}

/** One NVDIMM (the hardware; `nmemN` is the kernel's name for it). */
export class Nvdimm {
  /** The description's name. */
  readonly config: NvdimmConfig;
  /** Kernel id: nmem<id> (global across buses, in NFIT order). */
  readonly id: number;
  /** The media: `size` bytes of DPA space. */
  readonly media: PageStore;
  /** The label area (config data), or null when the DIMM has none. */
  readonly labelArea: PageStore | null;

  /**
   * Creates a DIMM with blank media and label area.
   * @param config handle, size, label area size, node.
   * @param id the kernel's nmem index.
   */
  constructor(config: NvdimmConfig, id: number) {
    this.config = config;
    this.id = id;
    const pool = createChunkPool();
    this.media = new PageStore(config.size, pool, `${config.name} media`);
    this.labelArea = config.labelSize > 0
      ? new PageStore(config.labelSize, pool, `${config.name} label area`)
      : null;
  }

  /** "nmem<id>". */
  get name(): string {
    return `nmem${this.id}`;
  }

  /** The NFIT handle. */
  get handle(): number {
    return this.config.handle;
  }

  /** Capacity in bytes. */
  get size(): number {
    return this.config.size;
  }
}
