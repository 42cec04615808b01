/**
 * A persistent-memory region: one NFIT system-physical-address (SPA) range
 * interleaved across DIMMs. Region offset `o` lives on DIMM
 * `(o / g) mod ways` at DPA `dpa + floor(o / (g × ways)) × g + o mod g`
 * (g: the interleave granularity, a multiple of 4 KiB, so every 4 KiB page
 * lies on exactly one DIMM).
 *
 * CPU access to the media goes through {@link NdRegion.read} and
 * {@link NdRegion.write}: a read that touches poisoned media fails with
 * -EIO, as memcpy_mcsafe does; a plain store does not clear poison (the
 * kernel clears it with the CLEAR_ERROR command, see bus.ts).
 *
 * @module
 */
import type { PageStore } from "../chunks.ts";
import { Badblocks, type Badrange } from "./badrange.ts";
import type { Nvdimm } from "./dimm.ts";
import { fletcher64 } from "./uuid.ts";

const PAGE = 4096;

/** One DIMM's share of a region (struct nd_mapping). */
export interface RegionMapping {
  /** The DIMM. */
  dimm: Nvdimm;
  /** First DPA of the share. */
  dpa: number;
  /** Bytes of the share (region size / ways). */
  size: number;
}

/** What a region is built from (the description's `nvdimm.buses[].regions[]`). */
export interface NdRegionConfig {
  /** Description name. */
  name: string;
  /** SPA start. */
  start: number;
  /** Bytes. */
  size: number;
  /** DIMMs in interleave order, with the DPA each share starts at. */
  mappings: Array<{ dimm: string; dpa: number }>;
  /** Interleave granularity in bytes (a multiple of 4 KiB). */
  granularity: number;
  /** Whether namespaces come from labels (else one label-less namespace_io). */
  labels: boolean;
  /** Read-only region (nd_region->ro). */
  readOnly: boolean;
  /** NUMA node. */
  node: number;
}

/** A pmem region: the hardware range plus the kernel's per-boot view of it. */
export class NdRegion {
  /** The description. */
  readonly config: NdRegionConfig;
  /** Kernel id: region<id>. */
  readonly id: number;
  /** DIMM shares in interleave order. */
  readonly mappings: readonly RegionMapping[];
  /** The interleave-set cookie labels must carry to belong here. */
  readonly isetcookie: bigint;
  readonly #poison: Badrange;

  // --- the kernel's per-boot view (reset at power-on) ---
  /** Whether the region device is enabled (nd_region probed). */
  enabled = true;
  /** nd_region->bb: bad sectors relative to the region start. */
  readonly bb: Badblocks = new Badblocks();

  /**
   * Creates a region.
   * @param config range, DIMMs, granularity, flags.
   * @param id the kernel's region index.
   * @param mappings resolved DIMM shares.
   * @param poison the bus's media-error list (system-physical).
   */
  constructor(config: NdRegionConfig, id: number, mappings: RegionMapping[], poison: Badrange) {
    this.config = config;
    this.id = id;
    this.mappings = mappings;
    this.#poison = poison;
    const b = new Uint8Array(16 * mappings.length);
    const dv = new DataView(b.buffer);
    mappings.forEach((m, i) => {
      dv.setUint32(16 * i, m.dimm.handle, true);
      dv.setBigUint64(16 * i + 8, BigInt(m.dpa), true);
    });
    this.isetcookie = fletcher64(b);
  }

  /** "region<id>". */
  get name(): string {
    return `region${this.id}`;
  }

  /** SPA start (ndr_start). */
  get start(): number {
    return this.config.start;
  }

  /** Bytes (ndr_size). */
  get size(): number {
    return this.config.size;
  }

  /** Interleave ways (ndr_mappings). */
  get ways(): number {
    return this.mappings.length;
  }

  /** Whether the region is read-only. */
  get readOnly(): boolean {
    return this.config.readOnly;
  }

  /** The DIMM and DPA behind region offset `offset`. */
  locate(offset: number): { dimm: Nvdimm; dpa: number; position: number } {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.size) {
      throw new RangeError(
        `Cannot locate offset ${offset} in ${this.name}: the region has ${this.size} bytes`,
      );
    }
    const g = this.config.granularity, w = this.mappings.length;
    const stripe = Math.floor(offset / g);
    const position = stripe % w;
    const m = this.mappings[position]!;
    return { dimm: m.dimm, dpa: m.dpa + Math.floor(stripe / w) * g + (offset % g), position };
  }

  /** The media store and page index holding the 4 KiB page at region offset `offset`. */
  pageAt(offset: number): { store: PageStore; page: number } {
    const { dimm, dpa } = this.locate(offset - (offset % PAGE));
    return { store: dimm.media, page: dpa / PAGE };
  }

  /** Whether any byte of [offset, offset + length) is poisoned. */
  isPoisoned(offset: number, length: number): boolean {
    return this.#poison.intersects(this.start + offset, length);
  }

  #check(action: string, offset: number, length: number): void {
    if (
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
      offset + length > this.size
    ) {
      throw new RangeError(
        `Cannot ${action} ${this.name}: [${offset}, ${
          offset + length
        }) is outside its ${this.size} bytes`,
      );
    }
  }

  /**
   * Copies `length` bytes at region offset `offset` (memcpy_mcsafe): the
   * bytes, or -EIO (-5) if the range touches poisoned media.
   */
  read(offset: number, length: number): Uint8Array | number {
    this.#check("read", offset, length);
    if (this.isPoisoned(offset, length)) return -5;
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const o = offset + done;
      const n = Math.min(PAGE - (o % PAGE), length - done);
      const { dimm, dpa } = this.locate(o);
      dimm.media.readInto(dpa, out.subarray(done, done + n));
      done += n;
    }
    return out;
  }

  /** Stores `data` at region offset `offset` (poison, if any, stays). */
  write(offset: number, data: Uint8Array): void {
    this.#check("write", offset, data.length);
    let done = 0;
    while (done < data.length) {
      const o = offset + done;
      const n = Math.min(PAGE - (o % PAGE), data.length - done);
      const { dimm, dpa } = this.locate(o);
      dimm.media.write(dpa, data.subarray(done, done + n));
      done += n;
    }
  }

  /** Zeroes [offset, offset + length) (whole pages drop their chunks). */
  zero(offset: number, length: number): void {
    this.#check("zero", offset, length);
    let done = 0;
    while (done < length) {
      const o = offset + done;
      const n = Math.min(PAGE - (o % PAGE), length - done);
      const { dimm, dpa } = this.locate(o);
      dimm.media.zero(dpa, n);
      done += n;
    }
  }
}
