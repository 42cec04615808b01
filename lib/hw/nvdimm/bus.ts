/**
 * An NVDIMM bus: the NFIT's DIMMs and persistent-memory regions, the bus
 * commands of its firmware — modelled on nfit_test's emulation
 * (tools/testing/nvdimm/test/nfit.c, v4.20) — and the libnvdimm core's
 * per-boot knowledge of media errors.
 *
 * Two error lists, as on a real system:
 * - {@link NvdimmBus.poison}: the media's errors (nfit_test's `t->badrange`),
 *   changed only by ARS_INJECT_SET/CLEAR and CLEAR_ERROR. A CPU read of a
 *   poisoned range fails with -EIO.
 * - {@link NvdimmBus.badrange}: what the kernel has learnt from ARS
 *   (`nvdimm_bus->badrange`), from which region and namespace badblocks are
 *   populated. An injection without notify is invisible to it until a scrub.
 *
 * Address Range Scrub follows nfit_test: ARS_START snapshots the media errors
 * within the requested range and sets a 1 s deadline; a start or a status
 * before the deadline is BUSY (-EBUSY). The kernel's scrub
 * ({@link NvdimmBus.startScrub}) walks the bus's PM ranges one after another,
 * each taking one busy window, then adds the records to its badrange and
 * repopulates badblocks. Scrubs advance lazily with simulated time (whenever
 * kernel state is read, or {@link NvdimmBus.waitScrub} moves the clock).
 *
 * Media, label areas and the error list persist across a power cycle except
 * on nfit_test buses, whose "media" is vmalloc memory that a reboot loses.
 *
 * @module
 */
import type { Kernel } from "../../kernel/kernel.ts";
import type { NvdimmEvent } from "../../kernel/events.ts";
import { badblocksPopulate, Badrange, type BadrangeEntry } from "./badrange.ts";
import { Nvdimm, type NvdimmConfig } from "./dimm.ts";
import { NdRegion, type NdRegionConfig, type RegionMapping } from "./region.ts";

/** nfit_test's ARS clear-error unit (NFIT_TEST_CLEAR_ERR_UNIT). */
export const CLEAR_ERR_UNIT = 256;
/** The ARS busy window: nfit_test's `jiffies + 1*HZ`. */
export const ARS_BUSY_NS = 1_000_000_000;
/** ARS status: busy. */
export const NFIT_ARS_STATUS_BUSY: number = 1 << 16;
/** ARS start: busy. */
export const NFIT_ARS_START_BUSY = 6;
/** ARS inject: invalid parameter. */
export const NFIT_ARS_INJECT_INVALID = 2;
/** ND_ARS_VOLATILE. */
export const ND_ARS_VOLATILE = 1;
/** ND_ARS_PERSISTENT. */
export const ND_ARS_PERSISTENT = 2;
const EINVAL = -22, EBUSY = -16, ENXIO = -6;

/** What a bus is built from (the description's `nvdimm.buses[]`). */
export interface NvdimmBusConfig {
  /** Description name. */
  name: string;
  /** Provider string ("ACPI.NFIT", "nfit_test.0"). */
  provider: string;
  /** An nfit_test bus: volatile media, nfit_test's TRANSLATE_SPA, no iomem resources. */
  nfitTest: boolean;
  /** DIMMs. */
  dimms: NvdimmConfig[];
  /** PM regions (SPA ranges). */
  regions: NdRegionConfig[];
}

/** ND_CMD_ARS_CAP output. */
export interface ArsCap {
  /** Command return (0). */
  rc: number;
  /** (ND_ARS_PERSISTENT | ND_ARS_VOLATILE) << 16. */
  status: number;
  /** Largest ARS_STATUS payload. */
  maxArsOut: number;
  /** Clear-error unit (256). */
  clearErrUnit: number;
}

/** ND_CMD_ARS_START output. */
export interface ArsStart {
  /** Command return (0). */
  rc: number;
  /** 0 or NFIT_ARS_START_BUSY. */
  status: number;
  /** 0 or -EBUSY. */
  cmdRc: number;
  /** Estimated seconds (1). */
  scrubTime: number;
}

/** ND_CMD_ARS_STATUS output. */
export interface ArsStatus {
  /** Command return (0). */
  rc: number;
  /** 0 or NFIT_ARS_STATUS_BUSY. */
  status: number;
  /** 0 or -EBUSY. */
  cmdRc: number;
  /** Scrubbed range start. */
  address: number;
  /** Scrubbed range length. */
  length: number;
  /** Error records (clipped to the range). */
  records: BadrangeEntry[];
}

/** NFIT_CMD_TRANSLATE_SPA output. */
export interface TranslateSpa {
  /** Command return (0). */
  rc: number;
  /** 0, or 2 (invalid SPA). */
  status: number;
  /** DIMMs holding the address (one). */
  devices: Array<{ handle: number; dpa: number }>;
}

interface ScrubJob {
  ranges: Array<{ start: number; length: number }>;
  next: number; // index of the range being scrubbed
  startedAt: number; // when the current range's ARS_START succeeded (-1: not yet)
  t: number; // earliest time the current range may start
}

/** One NVDIMM bus (ndbus<id>). */
export class NvdimmBus {
  /** The description. */
  readonly config: NvdimmBusConfig;
  /** Kernel id: ndbus<id>. */
  readonly id: number;
  /** DIMMs in NFIT order. */
  readonly dimms: readonly Nvdimm[];
  /** PM regions in NFIT order. */
  readonly regions: readonly NdRegion[];
  /** Media errors (nfit_test's t->badrange): persistent hardware state. */
  readonly poison: Badrange = new Badrange();

  // firmware state (volatile)
  #arsDeadline = -1;
  #arsPosted: ArsStatus | null = null;
  // kernel state (per boot)
  /** nvdimm_bus->badrange: the errors the kernel knows of (per boot). */
  readonly badrange: Badrange = new Badrange();
  /** Completed scrubs since boot (the boot-time scrub counts as one). */
  scrubCount = 0;
  #jobs: ScrubJob[] = [];
  #k: Kernel | null = null;
  /** Called after a scrub completes (namespaces repopulate their badblocks). */
  onScrubDone: (() => void) | null = null;

  /**
   * Creates the bus's DIMMs and regions.
   * @param config DIMMs, regions, kind.
   * @param id the kernel's ndbus index.
   * @param firstDimmId the nmem index of this bus's first DIMM.
   * @param firstRegionId the region index of this bus's first region.
   */
  constructor(config: NvdimmBusConfig, id: number, firstDimmId: number, firstRegionId: number) {
    this.config = config;
    this.id = id;
    this.dimms = config.dimms.map((d, i) => new Nvdimm(d, firstDimmId + i));
    const byName = new Map(this.dimms.map((d) => [d.config.name, d]));
    this.regions = config.regions.map((r, i) => {
      const share = r.size / r.mappings.length;
      const mappings: RegionMapping[] = r.mappings.map((m) => {
        const dimm = byName.get(m.dimm);
        if (dimm === undefined) {
          throw new RangeError(`Cannot build region "${r.name}": no DIMM named "${m.dimm}"`);
        }
        return { dimm, dpa: m.dpa, size: share };
      });
      return new NdRegion(r, firstRegionId + i, mappings, this.poison);
    });
  }

  /** "ndbus<id>". */
  get name(): string {
    return `ndbus${this.id}`;
  }

  /** The provider string. */
  get provider(): string {
    return this.config.provider;
  }

  /** The kernel this bus is attached to (throws before the first boot). */
  get kernel(): Kernel {
    if (this.#k === null) {
      throw new TypeError(`Cannot use ${this.name}: the machine has not booted`);
    }
    return this.#k;
  }

  /**
   * Power-on with kernel `k`: firmware and kernel state start afresh; an
   * nfit_test bus also loses its media and injected errors. The boot-time
   * scrub then reports every media error in the PM ranges (scrub count 1),
   * and region badblocks are populated.
   */
  attach(k: Kernel): void {
    this.#k = k;
    this.#arsDeadline = -1;
    this.#arsPosted = null;
    this.#jobs = [];
    this.badrange.clear();
    this.onScrubDone = null;
    if (this.config.nfitTest) {
      this.poison.clear();
      for (const d of this.dimms) {
        d.media.clear();
        d.labelArea?.clear();
      }
      // nfit_test seeds each label area with "label%d"
      this.dimms.forEach((d, i) => d.labelArea?.write(0, new TextEncoder().encode(`label${i}\0`)));
    }
    for (const r of this.regions) {
      for (const e of this.poison.clipped(r.start, r.size)) this.badrange.add(e.start, e.length);
    }
    this.scrubCount = 1;
    for (const r of this.regions) {
      r.enabled = true;
      r.bb.reset();
      badblocksPopulate(this.badrange, r.bb, r.start, r.start + r.size - 1);
    }
  }

  #emit(op: NvdimmEvent["op"], start: number, length: number, rc: number): void {
    const k = this.#k;
    if (k !== null && k.trace.on) {
      k.trace.emit({ kind: "nvdimm", op, bus: this.name, start, length, rc });
    }
  }

  get #now(): number {
    return this.#k?.clock.now ?? 0;
  }

  /** The region containing system-physical address `spa`, or null. */
  regionAt(spa: number): NdRegion | null {
    for (const r of this.regions) if (spa >= r.start && spa < r.start + r.size) return r;
    return null;
  }

  // ------------------------------------------------------------------
  // Bus commands (the firmware side)
  // ------------------------------------------------------------------

  /** ND_CMD_ARS_CAP: capabilities for [address, address + length). */
  arsCap(_address: number, _length: number): ArsCap {
    const recs = Math.floor(4096 / 24);
    return {
      rc: 0,
      status: (ND_ARS_PERSISTENT | ND_ARS_VOLATILE) << 16,
      maxArsOut: 32 + recs * 24,
      clearErrUnit: CLEAR_ERR_UNIT,
    };
  }

  /**
   * ND_CMD_ARS_START: BUSY before the deadline of the previous start; else
   * snapshots the media errors within the range and sets a 1 s deadline.
   */
  arsStart(address: number, length: number): ArsStart {
    this.#advance();
    return this.#arsStartAt(address, length, this.#now);
  }

  #arsStartAt(address: number, length: number, t: number): ArsStart {
    if (t < this.#arsDeadline) {
      this.#emit("ars_busy", address, length, EBUSY);
      return { rc: 0, status: NFIT_ARS_START_BUSY, cmdRc: EBUSY, scrubTime: 0 };
    }
    this.#arsDeadline = t + ARS_BUSY_NS;
    this.#arsPosted = {
      rc: 0,
      status: 0,
      cmdRc: 0,
      address,
      length,
      records: this.poison.clipped(address, length),
    };
    this.#emit("ars_start", address, length, 0);
    return { rc: 0, status: 0, cmdRc: 0, scrubTime: 1 };
  }

  /** ND_CMD_ARS_STATUS: BUSY before the deadline, else the records of the last start. */
  arsStatus(): ArsStatus {
    this.#advance();
    if (this.#now < this.#arsDeadline) {
      return {
        rc: 0,
        status: NFIT_ARS_STATUS_BUSY,
        cmdRc: EBUSY,
        address: 0,
        length: 0,
        records: [],
      };
    }
    const p = this.#arsPosted;
    if (p === null) return { rc: 0, status: 0, cmdRc: 0, address: 0, length: 0, records: [] };
    return { ...p, records: p.records.map((r) => ({ ...r })) };
  }

  /**
   * ND_CMD_CLEAR_ERROR: address and length must be multiples of the
   * 256-byte clear unit (else rc -EINVAL); the range's media errors are
   * forgotten and `cleared` = length.
   */
  clearError(address: number, length: number): { rc: number; status: number; cleared: number } {
    this.#advance();
    if ((address % CLEAR_ERR_UNIT) !== 0 || (length % CLEAR_ERR_UNIT) !== 0) {
      this.#emit("clear_error", address, length, EINVAL);
      return { rc: EINVAL, status: 0, cleared: 0 };
    }
    this.poison.forget(address, length);
    this.#emit("clear_error", address, length, 0);
    return { rc: 0, status: 0, cleared: length };
  }

  /**
   * NFIT_CMD_ARS_INJECT_SET: adds a media error. With `notify` the platform
   * raises an uncorrectable-error notification, on which the kernel starts a
   * scrub; without it the kernel learns of the error only at the next scrub.
   */
  injectError(address: number, length: number, opts: { notify?: boolean } = {}): {
    rc: number;
    status: number;
  } {
    this.#advance();
    if (length <= 0) return { rc: EINVAL, status: NFIT_ARS_INJECT_INVALID };
    this.poison.add(address, length);
    this.#emit("inject", address, length, 0);
    if (opts.notify) {
      this.#emit("notify", address, length, 0);
      this.startScrub();
    }
    return { rc: 0, status: 0 };
  }

  /** NFIT_CMD_ARS_INJECT_CLEAR: forgets a media error (the kernel's badrange is untouched). */
  uninjectError(address: number, length: number): { rc: number; status: number } {
    this.#advance();
    if (length <= 0) return { rc: EINVAL, status: NFIT_ARS_INJECT_INVALID };
    this.poison.forget(address, length);
    this.#emit("uninject", address, length, 0);
    return { rc: 0, status: 0 };
  }

  /** NFIT_CMD_ARS_INJECT_GET: the injected (media) errors. */
  injectStatus(): { rc: number; status: number; records: BadrangeEntry[] } {
    return { rc: 0, status: 0, records: this.poison.snapshot() };
  }

  /**
   * NFIT_CMD_TRANSLATE_SPA. nfit_test answers with the region's last DIMM
   * and `dpa = spa - region start` (its documented test shortcut); a real
   * (ACPI) bus answers with the interleave's DIMM and DPA. Status 2 when no
   * region holds `spa`.
   */
  translateSpa(spa: number): TranslateSpa {
    const r = this.regionAt(spa);
    this.#emit("translate_spa", spa, 0, r === null ? 2 : 0);
    if (r === null) return { rc: 0, status: 2, devices: [] };
    if (this.config.nfitTest) {
      const last = r.mappings[r.mappings.length - 1]!;
      return { rc: 0, status: 0, devices: [{ handle: last.dimm.handle, dpa: spa - r.start }] };
    }
    const { dimm, dpa } = r.locate(spa - r.start);
    return { rc: 0, status: 0, devices: [{ handle: dimm.handle, dpa }] };
  }

  // ------------------------------------------------------------------
  // The kernel side (libnvdimm / acpi_nfit), per boot
  // ------------------------------------------------------------------

  /**
   * nvdimm_clear_poison(dev, phys, len) (drivers/nvdimm/bus.c): ARS_CAP for
   * the clear unit; -ENXIO unless phys and len are multiples of it;
   * CLEAR_ERROR; then the cleared range leaves the bus badrange and, in
   * whole sectors, the badblocks of the region containing it. Returns the
   * bytes cleared or -errno.
   */
  clearPoison(phys: number, len: number): number {
    const cap = this.arsCap(phys, len);
    const unit = cap.clearErrUnit;
    if (unit === 0 || (unit & (unit - 1)) !== 0) return ENXIO;
    if (phys % unit !== 0 || len % unit !== 0) return ENXIO;
    const r = this.clearError(phys, len);
    if (r.rc < 0) return r.rc;
    const cleared = r.cleared;
    if (cleared > 0) this.badrange.forget(phys, cleared);
    if (cleared > 0 && Math.floor(cleared / 512) > 0) {
      for (const reg of this.regions) {
        const ndrEnd = reg.start + reg.size - 1;
        // nvdimm_clear_badblocks_region: note `phys + cleared > ndr_end` (not >=)
        if (phys < reg.start || phys + cleared > ndrEnd) continue;
        reg.bb.clear(Math.floor((phys - reg.start) / 512), Math.floor(cleared / 512));
      }
    }
    return cleared;
  }

  /**
   * Requests a scrub of every PM range (ndctl start-scrub; the kernel's
   * acpi_nfit_ars_rescan). A scrub already running finishes first; this one
   * follows it. Returns 0.
   */
  startScrub(): number {
    this.#advance();
    const ranges = this.regions.map((r) => ({ start: r.start, length: r.size }));
    const last = this.#jobs[this.#jobs.length - 1];
    if (last !== undefined && last.next === 0 && last.startedAt < 0) return 0; // already queued
    this.#jobs.push({ ranges, next: 0, startedAt: -1, t: this.#now });
    this.#advance();
    return 0;
  }

  /** Whether a scrub is running or queued (the '+' of the bus's `scrub` attribute). */
  get scrubbing(): boolean {
    this.#advance();
    return this.#jobs.length > 0;
  }

  /**
   * ndctl wait-scrub: moves simulated time forward until every requested
   * scrub has completed; returns the scrub count.
   */
  waitScrub(): number {
    const k = this.kernel;
    for (let guard = 0; guard < 100000; guard++) {
      this.#advance();
      const j = this.#jobs[0];
      if (j === undefined) return this.scrubCount;
      const t = j.startedAt >= 0 ? j.startedAt + ARS_BUSY_NS : Math.max(j.t, this.#arsDeadline);
      k.clock.advanceTo(t);
    }
    throw new RangeError(`Cannot wait for the scrub of ${this.name}: it never completes`);
  }

  /** Runs the scrub state machine up to the current simulated time. */
  #advance(): void {
    const now = this.#now;
    for (;;) {
      const j = this.#jobs[0];
      if (j === undefined) return;
      const range = j.ranges[j.next]!;
      if (j.startedAt < 0) {
        const t = Math.max(j.t, this.#arsDeadline);
        if (t > now) return;
        this.#arsStartAt(range.start, range.length, t);
        j.startedAt = t;
      }
      const done = j.startedAt + ARS_BUSY_NS;
      if (done > now) return;
      for (const rec of this.#arsPosted?.records ?? []) this.badrange.add(rec.start, rec.length);
      this.#emit("ars_status", range.start, range.length, 0);
      j.next++;
      j.startedAt = -1;
      j.t = done;
      if (j.next < j.ranges.length) continue;
      this.#jobs.shift();
      if (this.#jobs[0] !== undefined) this.#jobs[0].t = Math.max(this.#jobs[0].t, done);
      this.scrubCount++;
      for (const r of this.regions) {
        badblocksPopulate(this.badrange, r.bb, r.start, r.start + r.size - 1);
      }
      this.#emit("scrub_done", 0, 0, 0);
      this.onScrubDone?.();
    }
  }

  /** Brings the kernel's view up to date with simulated time (call before reading badblocks). */
  sync(): void {
    this.#advance();
  }
}
