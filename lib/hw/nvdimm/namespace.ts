/**
 * Namespaces of a pmem region and their claims, as libnvdimm (v4.20) builds
 * them from labels and info blocks: a labelled region's namespaces come from
 * the DIMMs' label areas (namespace_devs.c scan_labels), a label-less one has
 * a single namespace_io covering it. A namespace is raw, or claimed by a pfn
 * device (fsdax) or a dax device (devdax) whose info block at offset 4 KiB
 * describes the data offset and the memmap reserve.
 *
 * {@link enableNamespace} runs the libnvdimm half of a probe — nsio badblocks,
 * claim autodetection (nd_pfn_probe / nd_dax_probe), nd_pfn_init with
 * trim_pfn_device, clearing memmap-area poison (new in 4.20), the dax region
 * alignment check — and builds the block device (pmem_do_bvec semantics) or
 * the device-dax instance. The kernel half (devm_memremap_pages and the
 * queue / percpu_ref) belongs to the drivers, which receive
 * {@link NdClaim.setup}.
 *
 * Everything here is per boot; what persists is on the media (labels, info
 * blocks, data).
 *
 * @module
 */
import {
  IORES_DESC_NONE,
  IORESOURCE_SYSTEM_RAM,
  region_intersects,
  REGION_MIXED,
} from "../../kernel/resource.ts";
import type { Kernel } from "../../kernel/kernel.ts";
import { Badblocks, badblocksPopulate } from "./badrange.ts";
import type { NvdimmBus } from "./bus.ts";
import {
  DAX_SIG,
  decodePfnSb,
  encodePfnSb,
  nd_sb_checksum,
  ndPfnLayout,
  nvdimmSetupPfnParams,
  PFN_MODE_PMEM,
  PFN_MODE_RAM,
  PFN_SB_OFFSET,
  PFN_SB_SIZE,
  PFN_SIG,
  type PfnSetup,
  type PfnSuperblock,
  physSectionAlignDown,
  physSectionAlignUp,
} from "./pfn.ts";
import type { NdRegion } from "./region.ts";
import { NULL_UUID, uuidEqual } from "./uuid.ts";

const EIO = -5, ENXIO = -6, ENOMEM = -12, EFAULT = -14, ENODEV = -19, EINVAL = -22, EBUSY = -16;

/** What a namespace presents. */
export type NamespaceMode = "raw" | "fsdax" | "devdax";
/** A label's claim class (v1.2 abstraction GUID). */
export type ClaimClass = "none" | "pfn" | "dax" | "btt";

/** A pfn (fsdax) or dax (devdax) device claiming a namespace (struct nd_pfn / nd_dax). */
export class NdClaim {
  /** "pfn" or "dax". */
  readonly kind: "pfn" | "dax";
  /** Index within the region (pfn<R>.<id> / dax<R>.<id>). */
  readonly id: number;
  /** The region's id. */
  readonly regionId: number;
  /** The device uuid (null until set or read from an info block). */
  uuid: Uint8Array | null;
  /** PFN_MODE_RAM (map=mem) or PFN_MODE_PMEM (map=dev). */
  mode: number;
  /** Mapping alignment. */
  align: number;
  /** The validated info block once enabled. */
  sb: PfnSuperblock | null = null;
  /** __nvdimm_setup_pfn's result once enabled: what devm_memremap_pages needs. */
  setup: PfnSetup | null = null;

  /**
   * Creates a claim.
   * @param kind pfn or dax.
   * @param regionId the region's id.
   * @param id the device index.
   * @param init uuid, mode and align.
   */
  constructor(
    kind: "pfn" | "dax",
    regionId: number,
    id: number,
    init: { uuid: Uint8Array | null; mode: number; align: number },
  ) {
    this.kind = kind;
    this.regionId = regionId;
    this.id = id;
    this.uuid = init.uuid;
    this.mode = init.mode;
    this.align = init.align;
  }

  /** "pfn<R>.<id>" or "dax<R>.<id>". */
  get name(): string {
    return `${this.kind}${this.regionId}.${this.id}`;
  }

  /** The info block signature this claim writes. */
  get signature(): string {
    return this.kind === "dax" ? DAX_SIG : PFN_SIG;
  }
}

/** The pmem block device of a raw or fsdax namespace (pmem_attach_disk's geometry, pmem_do_bvec's I/O). */
export class PmemDisk {
  /** "pmem<R>" or "pmem<R>.<n>". */
  readonly name: string;
  /** The namespace. */
  readonly ns: Namespace;
  /** pmem->phys_addr: the namespace start (4.20 does not add start_pad here). */
  readonly physAddr: number;
  /** Where virt_addr points: pgmap->res.start for fsdax, the namespace start for raw. */
  readonly virtBase: number;
  /** pmem->data_offset: the info block's dataoff (0 raw). */
  readonly dataOffset: number;
  /** pmem->pfn_pad: start_pad + end_trunc. */
  readonly pfnPad: number;
  /** pmem->bb: bad sectors relative to the data start. */
  readonly bb: Badblocks = new Badblocks();
  /** The range bb covers (bb_res), end inclusive. */
  readonly bbRes: { start: number; end: number };

  /**
   * Creates the disk.
   * @param ns the namespace.
   * @param geometry phys/virt bases, data offset, pad.
   */
  constructor(
    ns: Namespace,
    geometry: {
      virtBase: number;
      dataOffset: number;
      pfnPad: number;
      bbRes: { start: number; end: number };
    },
  ) {
    this.ns = ns;
    const r = ns.region;
    this.name = ns.type === "pmem" && ns.id !== 0 ? `pmem${r.id}.${ns.id}` : `pmem${r.id}`;
    this.physAddr = ns.start;
    this.virtBase = geometry.virtBase;
    this.dataOffset = geometry.dataOffset;
    this.pfnPad = geometry.pfnPad;
    this.bbRes = geometry.bbRes;
    this.repopulate();
  }

  /** Capacity in 512-byte sectors: (size - pfn_pad - data_offset) / 512. */
  get sectors(): number {
    return Math.floor((this.ns.size - this.pfnPad - this.dataOffset) / 512);
  }

  /** nvdimm_badblocks_populate over bb_res (adds, never removes). */
  repopulate(): void {
    const bus = this.ns.bus;
    bus.sync();
    badblocksPopulate(bus.badrange, this.bb, this.bbRes.start, this.bbRes.end);
  }

  #check(action: string, sector: number, bytes: number): void {
    if (
      !Number.isInteger(sector) || sector < 0 || bytes % 512 !== 0 ||
      sector * 512 + bytes > this.sectors * 512
    ) {
      throw new RangeError(
        `Cannot ${action} /dev/${this.name}: sectors [${sector}, ${
          sector + bytes / 512
        }) are outside its ${this.sectors} sectors`,
      );
    }
  }

  /**
   * A read of `count` sectors (pmem_do_bvec): -EIO if a known bad block lies
   * in the range, or if the media read fails (memcpy_mcsafe); else the bytes.
   */
  read(sector: number, count: number): Uint8Array | number {
    this.#check("read", sector, count * 512);
    if (!this.ns.active) return ENXIO;
    this.ns.bus.sync();
    if (this.bb.isBad(sector, count * 512)) return EIO;
    const pmemOff = sector * 512 + this.dataOffset;
    return this.ns.region.read(this.virtBase - this.ns.region.start + pmemOff, count * 512);
  }

  /**
   * A write of whole sectors (pmem_do_bvec): writes; if the range has known
   * bad blocks, clears poison (nvdimm_clear_poison at phys_addr + offset —
   * 4.20 omits start_pad there), clears the badblocks it was told were
   * cleared, and writes again. 0, or -EIO when less than all was cleared.
   */
  write(sector: number, data: Uint8Array): number {
    this.#check("write", sector, data.length);
    if (!this.ns.active) return ENXIO;
    const region = this.ns.region;
    this.ns.bus.sync();
    const pmemOff = sector * 512 + this.dataOffset;
    const bad = this.bb.isBad(sector, data.length);
    region.write(this.virtBase - region.start + pmemOff, data);
    if (!bad) return 0;
    let rc = 0;
    const cleared = this.ns.bus.clearPoison(this.physAddr + pmemOff, data.length);
    if (cleared < data.length) rc = EIO;
    if (cleared > 0 && Math.floor(cleared / 512) > 0) {
      this.bb.clear(sector, Math.floor(cleared / 512));
    }
    region.write(this.virtBase - region.start + pmemOff, data);
    return rc;
  }
}

/** A device-dax instance (/dev/dax<R>.<n>) over a devdax namespace's data. */
export interface DaxDevice {
  /** "dax<R>.<n>" (from the namespace's name, as dax_pmem_probe does). */
  name: string;
  /** The dax region: pgmap->res moved forward by dataoff (end inclusive). */
  res: { start: number; end: number };
  /** Fault granularity. */
  align: number;
}

/** One namespace (namespace<R>.<n>): the kernel's per-boot device for a label set or a label-less range. */
export class Namespace {
  /** The region. */
  readonly region: NdRegion;
  /** The bus. */
  readonly bus: NvdimmBus;
  /** Index within the region. */
  readonly id: number;
  /** "pmem" (from labels) or "io" (label-less). */
  readonly type: "pmem" | "io";
  /** uuid (null for io, or a pmem namespace not yet given one). */
  uuid: Uint8Array | null = null;
  /** Alt name. */
  altName = "";
  /** System-physical start (nsio->res.start). */
  start: number;
  /** Bytes (0 for a seed). */
  size: number;
  /** Claim class from the labels. */
  claimClass: ClaimClass = "none";
  /** force_raw: skip claim detection. */
  forceRaw = false;
  /** The pfn/dax device claiming this namespace (ndns->claim). */
  claim: NdClaim | null = null;
  /** Whether a driver is bound (the namespace or its claim is enabled). */
  active = false;
  /** nsio->bb: bad sectors relative to the namespace start. */
  readonly bb: Badblocks = new Badblocks();
  /** The block device (raw, fsdax) while active. */
  disk: PmemDisk | null = null;
  /** The device-dax instance (devdax) while active. */
  dax: DaxDevice | null = null;

  /**
   * Creates a namespace device.
   * @param region its region.
   * @param bus its bus.
   * @param id index in the region.
   * @param type pmem or io.
   * @param start SPA start.
   * @param size bytes.
   */
  constructor(
    region: NdRegion,
    bus: NvdimmBus,
    id: number,
    type: "pmem" | "io",
    start: number,
    size: number,
  ) {
    this.region = region;
    this.bus = bus;
    this.id = id;
    this.type = type;
    this.start = start;
    this.size = size;
  }

  /** "namespace<R>.<n>". */
  get name(): string {
    return `namespace${this.region.id}.${this.id}`;
  }

  /** Last byte (inclusive). */
  get end(): number {
    return this.start + this.size - 1;
  }

  /** nd_dev_to_uuid: the uuid, or the null uuid for io namespaces. */
  get parentUuid(): Uint8Array {
    return this.uuid ?? NULL_UUID;
  }

  /** What the namespace presents. */
  get mode(): NamespaceMode {
    if (this.claim === null) return "raw";
    return this.claim.kind === "dax" ? "devdax" : "fsdax";
  }

  /** Offset of this namespace in its region. */
  get regionOffset(): number {
    return this.start - this.region.start;
  }

  /**
   * nsio_rw_bytes: raw namespace access used for info blocks. Reads fail
   * with -EIO on known bad sectors or poisoned media; a write over known
   * bad sectors clears them first when 512-byte aligned (else -EIO), then
   * writes.
   */
  rwBytes(offset: number, buf: Uint8Array, rw: "read" | "write"): number {
    const size = buf.length;
    if (size === 0) return 0;
    if (offset + size > this.size) {
      this.bus.kernel.dmesg.printk("warning", `WARNING: ${this.name}: request out of range`);
      return EFAULT;
    }
    this.bus.sync();
    const sector = Math.floor(offset / 512);
    const szAlign = Math.ceil((size + (offset % 512)) / 512) * 512;
    if (rw === "read") {
      if (this.bb.isBad(sector, szAlign)) return EIO;
      const r = this.region.read(this.regionOffset + offset, size);
      if (typeof r === "number") return r;
      buf.set(r);
      return 0;
    }
    let rc = 0;
    if (this.bb.isBad(sector, szAlign)) {
      if (offset % 512 === 0 && size % 512 === 0) {
        const cleared = this.bus.clearPoison(this.start + offset, size);
        if (cleared < size) rc = EIO;
        if (cleared > 0 && Math.floor(cleared / 512) > 0) {
          this.bb.clear(sector, Math.floor(cleared / 512));
        }
      } else rc = EIO;
    }
    this.region.write(this.regionOffset + offset, buf);
    return rc;
  }

  /** Reads the 4 KiB at namespace offset 4 KiB (the info block), bypassing badblocks (for tools). */
  readInfoBlock(): Uint8Array {
    const r = this.region.read(this.regionOffset + PFN_SB_OFFSET, PFN_SB_SIZE);
    return typeof r === "number" ? new Uint8Array(PFN_SB_SIZE) : r;
  }
}

/** The driver dev_err names while a claim probes ("nd_pmem pfn0.0: ..."). */
function claimDriver(claim: NdClaim): string {
  return claim.kind === "dax" ? "dax_pmem" : "nd_pmem";
}

/** devm_nsio_enable's badblocks: reset and populate nsio->bb from the bus badrange. */
export function nsioPopulate(ns: Namespace): void {
  ns.bus.sync();
  ns.bb.reset();
  badblocksPopulate(ns.bus.badrange, ns.bb, ns.start, ns.end);
}

/**
 * nd_pfn_validate(nd_pfn, sig) (v4.20): 0 for a valid block matching the
 * claim (adopting uuid, align and mode when the claim has no uuid yet);
 * -ENODEV for no/other signature, bad checksum or another parent; -EINVAL
 * for changed settings or align beyond capacity; -EBUSY when dataoff exceeds
 * the namespace; -ENXIO for a bad mode or misaligned offset, or a failed read.
 * A valid map=dev block then has memmap-area poison cleared
 * (nd_pfn_clear_memmap_errors).
 */
export function nd_pfn_validate(k: Kernel, ns: Namespace, claim: NdClaim): number {
  const buf = new Uint8Array(PFN_SB_SIZE);
  if (ns.rwBytes(PFN_SB_OFFSET, buf, "read") !== 0) return ENXIO;
  const sb = decodePfnSb(buf);
  if (sb.signature !== claim.signature) return ENODEV;
  if (sb.checksum !== nd_sb_checksum(buf)) return ENODEV;
  if (!uuidEqual(sb.parent_uuid, ns.parentUuid)) return ENODEV;
  if (sb.version_minor < 1) {
    sb.start_pad = 0;
    sb.end_trunc = 0;
  }
  if (sb.version_minor < 2) sb.align = 0;
  if (sb.mode !== PFN_MODE_RAM && sb.mode !== PFN_MODE_PMEM) return ENXIO;
  let align = sb.align;
  const offset = sb.dataoff;
  if (align === 0) align = 2 ** Math.floor(Math.log2(offset));
  if (claim.uuid === null) {
    claim.uuid = sb.uuid;
    claim.align = align;
    claim.mode = sb.mode;
  } else {
    if (!uuidEqual(claim.uuid, sb.uuid)) return ENODEV;
    if (claim.align !== align || claim.mode !== sb.mode) {
      k.dmesg.printk("err", `${claimDriver(claim)} ${claim.name}: init failed, settings mismatch`);
      return EINVAL;
    }
  }
  if (align > ns.size) {
    k.dmesg.printk(
      "err",
      `${claimDriver(claim)} ${claim.name}: alignment: ${align.toString(16)} exceeds capacity ${
        ns.size.toString(16)
      }`,
    );
    return EINVAL;
  }
  if (offset >= ns.size) {
    k.dmesg.printk(
      "err",
      `${claimDriver(claim)} ${claim.name}: pfn array size exceeds capacity of ${ns.name}`,
    );
    return EBUSY;
  }
  if ((align && (ns.start + offset + sb.start_pad) % align !== 0) || offset % 4096 !== 0) {
    k.dmesg.printk(
      "err",
      `${claimDriver(claim)} ${claim.name}: bad offset: 0x${
        offset.toString(16)
      } dax disabled align: 0x${align.toString(16)}`,
    );
    return ENXIO;
  }
  claim.sb = sb;
  return nd_pfn_clear_memmap_errors(k, ns, claim);
}

/**
 * nd_pfn_clear_memmap_errors (new in v4.20): for map=dev, zero-writes every
 * known bad block between the info block's end (sector 16) and dataoff,
 * which clears the poison. As in 4.20 it looks the sectors up in the
 * *region's* badblocks with namespace-relative numbers, so it only finds the
 * right blocks for a namespace at the region's start.
 */
export function nd_pfn_clear_memmap_errors(k: Kernel, ns: Namespace, claim: NdClaim): number {
  const sb = claim.sb!;
  if (claim.mode !== PFN_MODE_PMEM) return 0;
  const region = ns.region;
  const metaStart = (4096 + PFN_SB_SIZE) / 512;
  const metaNum = Math.floor(sb.dataoff / 512) - metaStart;
  for (let guard = 0; guard < 1_000_000; guard++) {
    ns.bus.sync();
    const c = region.bb.check(metaStart, metaNum);
    if (c.rc === 0) return 0;
    let nsoff = Math.floor((region.start + c.firstBad * 512 - ns.start) / 4096) * 4096;
    let zeroLen = Math.ceil((c.badSectors * 512) / 4096) * 4096;
    let rc = 0;
    while (zeroLen > 0) {
      const chunk = Math.min(zeroLen, 4096);
      rc = nsoff < 0 ? EFAULT : ns.rwBytes(nsoff, new Uint8Array(chunk), "write");
      if (rc !== 0) break;
      zeroLen -= chunk;
      nsoff += chunk;
    }
    if (rc !== 0) {
      k.dmesg.printk(
        "err",
        `${claimDriver(claim)} ${claim.name}: error clearing ${
          c.badSectors.toString(16)
        } badblocks at ${c.firstBad.toString(16)}`,
      );
      return rc;
    }
  }
  return EIO;
}

/**
 * nd_region_conflict: whether [start, start + size) touches another PM
 * region of the same bus (region_conflict's two end checks).
 */
export function nd_region_conflict(
  region: NdRegion,
  bus: NvdimmBus,
  start: number,
  size: number,
): boolean {
  const resEnd = start + size;
  for (const r of bus.regions) {
    if (r === region) continue;
    const rs = r.start, re = r.start + r.size;
    if (start >= rs && start < re) return true;
    if (resEnd > rs && resEnd <= re) return true;
  }
  return false;
}

/**
 * trim_pfn_device (v4.20): start_pad when the section-aligned start
 * collides with System RAM (REGION_MIXED) or another region; end_trunc when
 * the section-aligned end collides, or the end is not aligned to `align`
 * (then trimmed to the lower of the section and `align` boundaries).
 */
export function trim_pfn_device(
  k: Kernel,
  ns: Namespace,
  align: number,
): { startPad: number; endTrunc: number } {
  const start = ns.start, end = ns.start + ns.size;
  let startPad = 0, endTrunc = 0;
  let adjust = start - physSectionAlignDown(start);
  let size = ns.size + adjust;
  if (
    region_intersects(k, start - adjust, size, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) ===
      REGION_MIXED ||
    nd_region_conflict(ns.region, ns.bus, start - adjust, size)
  ) startPad = physSectionAlignUp(start) - start;
  adjust = physSectionAlignUp(end) - end;
  size = ns.size + adjust;
  if (
    region_intersects(k, start, size, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) === REGION_MIXED ||
    end % align !== 0 ||
    nd_region_conflict(ns.region, ns.bus, start, size + adjust)
  ) {
    const down = Math.min(physSectionAlignDown(end), Math.floor(end / align) * align);
    endTrunc = end - down;
  }
  return { startPad, endTrunc };
}

/**
 * nd_pfn_init (v4.20): validates an existing info block, or — when there
 * is none (-ENODEV) — writes a fresh one: -ENXIO on a read-only region,
 * trim_pfn_device, the layout of {@link ndPfnLayout}, version 1.2.
 */
export function nd_pfn_init(k: Kernel, ns: Namespace, claim: NdClaim): number {
  const rc = nd_pfn_validate(k, ns, claim);
  if (rc !== ENODEV) return rc;
  if (ns.region.readOnly) {
    k.dmesg.printk(
      "info",
      `${
        claimDriver(claim)
      } ${claim.name}: ${ns.region.name} is read-only, unable to init metadata`,
    );
    return ENXIO;
  }
  const { startPad, endTrunc } = trim_pfn_device(k, ns, claim.align);
  if (startPad + endTrunc) {
    k.dmesg.printk(
      "info",
      `${claimDriver(claim)} ${claim.name}: ${ns.name} alignment collision, truncate ${
        startPad + endTrunc
      } bytes`,
    );
  }
  const layout = ndPfnLayout({
    start: ns.start,
    size: ns.size,
    startPad,
    endTrunc,
    mode: claim.mode,
    align: claim.align,
    dax: claim.kind === "dax",
  });
  if (layout.rc !== 0) {
    if (claim.mode === PFN_MODE_PMEM || claim.mode === PFN_MODE_RAM) {
      k.dmesg.printk(
        "err",
        `${claimDriver(claim)} ${claim.name}: ${ns.name} unable to satisfy requested alignment`,
      );
    }
    return layout.rc;
  }
  const sb = {
    signature: claim.signature,
    uuid: claim.uuid ?? NULL_UUID,
    parent_uuid: ns.parentUuid,
    flags: 0,
    version_major: 1,
    version_minor: 2,
    dataoff: layout.dataoff,
    npfns: layout.npfns,
    mode: claim.mode,
    start_pad: startPad,
    end_trunc: endTrunc,
    align: claim.align,
  };
  const block = encodePfnSb(sb);
  claim.sb = decodePfnSb(block);
  return ns.rwBytes(PFN_SB_OFFSET, block, "write");
}

/** nd_pfn_probe / nd_dax_probe: a claim found from an info block the claim class allows, or null. */
export function detectClaim(
  k: Kernel,
  ns: Namespace,
  nextId: (kind: "pfn" | "dax") => number,
): NdClaim | null {
  if (ns.forceRaw) return null;
  for (const kind of ["pfn", "dax"] as const) {
    if (ns.claimClass !== "none" && ns.claimClass !== kind) continue;
    const claim = new NdClaim(kind, ns.region.id, -1, { uuid: null, mode: 0, align: 0 });
    if (nd_pfn_validate(k, ns, claim) === 0) {
      return new NdClaim(kind, ns.region.id, nextId(kind), {
        uuid: claim.uuid,
        mode: claim.mode,
        align: claim.align,
      });
    }
  }
  return null;
}

/**
 * The libnvdimm half of enabling a namespace (nd_pmem_probe / the pfn or
 * dax device's probe, up to the driver's devm_memremap_pages): nsio
 * badblocks, claim detection unless `claim` is given, nd_pfn_init,
 * __nvdimm_setup_pfn, the dax region alignment check, then the block device
 * or dax instance. Returns 0 or -errno; on failure nothing stays enabled.
 */
export function enableNamespace(
  k: Kernel,
  ns: Namespace,
  nextId: (kind: "pfn" | "dax") => number,
): number {
  if (ns.active) return 0;
  if (!ns.region.enabled) return ENXIO;
  if (ns.size === 0) return ENODEV;
  nsioPopulate(ns);
  let claim = ns.claim;
  let detected = false;
  if (claim === null) {
    claim = detectClaim(k, ns, nextId);
    detected = claim !== null;
  }
  if (claim !== null) {
    const rc = nd_pfn_init(k, ns, claim);
    if (rc !== 0) {
      if (detected) claim = null; // nd_pmem_probe falls back to a raw disk
      else return rc;
    }
  }
  if (claim !== null) {
    const setup = nvdimmSetupPfnParams(claim.sb!, ns.start, ns.size);
    if (setup.rc !== 0) return setup.rc;
    claim.setup = setup;
    const pfnPad = ns.size - (setup.res.end - setup.res.start + 1);
    if (claim.kind === "dax") {
      const res = { start: setup.res.start + claim.sb!.dataoff, end: setup.res.end };
      const align = claim.sb!.align;
      if (res.start % align !== 0 || (res.end - res.start + 1) % align !== 0) {
        claim.setup = null;
        return ENOMEM; // alloc_dax_region returns NULL
      }
      ns.dax = { name: `dax${ns.region.id}.${ns.id}`, res, align };
    } else {
      ns.disk = new PmemDisk(ns, {
        virtBase: setup.res.start,
        dataOffset: claim.sb!.dataoff,
        pfnPad,
        bbRes: { start: setup.res.start + claim.sb!.dataoff, end: setup.res.end },
      });
    }
    ns.claim = claim;
  } else {
    ns.disk = new PmemDisk(ns, {
      virtBase: ns.start,
      dataOffset: 0,
      pfnPad: 0,
      bbRes: { start: ns.start, end: ns.end },
    });
  }
  ns.active = true;
  return 0;
}

/** Disables a namespace: the block device or dax instance goes away (the claim stays attached). */
export function disableNamespace(ns: Namespace): void {
  ns.active = false;
  ns.disk = null;
  ns.dax = null;
  if (ns.claim) ns.claim.setup = null;
}

/** The info block of a namespace, decoded, or null when its signature is neither PFN nor DAX. */
export function readPfnSb(ns: Namespace): PfnSuperblock | null {
  const sb = decodePfnSb(ns.readInfoBlock());
  return sb.signature === PFN_SIG || sb.signature === DAX_SIG ? sb : null;
}
