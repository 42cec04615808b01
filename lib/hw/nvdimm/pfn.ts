/**
 * pfn and dax info blocks (drivers/nvdimm/pfn.h, pfn_devs.c, v4.20): the
 * 4 KiB "superblock" a pfn (fsdax) or dax (devdax) claim writes at offset
 * 4 KiB of its namespace, and the arithmetic that places the data and, with
 * `map=dev`, the memmap carved from the device.
 *
 * ```
 * namespace offset:  0        4K          8K                         dataoff          size
 *                    |  (pad) | nd_pfn_sb |  memmap (map=dev: 64 B × npfns,  |  data ... |
 *                    |        |           |   padded to the alignment)       |           |
 * ```
 *
 * Field offsets of struct nd_pfn_sb (little-endian): signature 0, uuid 16,
 * parent_uuid 32, flags 48, version_major 52, version_minor 54, dataoff 56,
 * npfns 64, mode 72, start_pad 76, end_trunc 80, align 84, padding 88..4087,
 * checksum 4088 (nd_sb_checksum: fletcher64 of the block with the checksum
 * zeroed).
 *
 * @module
 */
import { fletcher64 } from "./uuid.ts";

/** PFN_SIG: the signature of a pfn (fsdax) info block. */
export const PFN_SIG = "NVDIMM_PFN_INFO\0";
/** DAX_SIG: the signature of a device-dax info block. */
export const DAX_SIG = "NVDIMM_DAX_INFO\0";
/** enum nd_pfn_mode: no mode set. */
export const PFN_MODE_NONE = 0;
/** PFN_MODE_RAM: memmap in System RAM (ndctl --map=mem). */
export const PFN_MODE_RAM = 1;
/** PFN_MODE_PMEM: memmap on the device (ndctl --map=dev). */
export const PFN_MODE_PMEM = 2;
/** The info block's offset in the namespace (SZ_4K). */
export const PFN_SB_OFFSET = 4096;
/** sizeof(struct nd_pfn_sb). */
export const PFN_SB_SIZE = 4096;
/** Offset of `dataoff` in the block (what pfn-meta-errors.sh reads at 4096 + 56). */
export const PFN_SB_DATAOFF = 56;
/** The reserve before the memmap (SZ_8K: 4 KiB pad + the info block). */
export const SZ_8K = 8192;
/** dax_label_reserve: devdax keeps 128 KiB more ahead of the memmap. */
export const DAX_LABEL_RESERVE = 128 * 1024;
/** sizeof(struct page) assumed by nd_pfn_init. */
export const PFN_STRUCT_PAGE = 64;
/** PAGES_PER_SECTION on x86_64. */
const PAGES_PER_SECTION = 32768;
const PAGE_SIZE = 4096;
const PMD_SIZE = 2 * 1024 * 1024;
/** 128 MiB. */
const SECTION_SIZE = 2 ** 27;

/** nd_pfn_supported_alignments on x86_64 with THP and PUD THP: 4 KiB, 2 MiB, 1 GiB. */
export const PFN_SUPPORTED_ALIGNMENTS: readonly number[] = [4096, 2 ** 21, 2 ** 30];
/** PFN_DEFAULT_ALIGNMENT (HPAGE_PMD_SIZE with THP). */
export const PFN_DEFAULT_ALIGNMENT = 2 ** 21;

/** A decoded struct nd_pfn_sb. */
export interface PfnSuperblock {
  /** PFN_SIG or DAX_SIG (or whatever the bytes say). */
  signature: string;
  /** The pfn/dax device's uuid. */
  uuid: Uint8Array;
  /** The namespace's uuid. */
  parent_uuid: Uint8Array;
  /** Flags (0). */
  flags: number;
  /** 1. */
  version_major: number;
  /** 2 for blocks 4.20 writes (1: no align; 0: no pads). */
  version_minor: number;
  /** Data offset from namespace base + start_pad. */
  dataoff: number;
  /** Pages of data. */
  npfns: number;
  /** PFN_MODE_RAM or PFN_MODE_PMEM. */
  mode: number;
  /** Bytes skipped at the start to avoid a section collision. */
  start_pad: number;
  /** Bytes dropped at the end. */
  end_trunc: number;
  /** Mapping alignment (0 in pre-v1.2 blocks). */
  align: number;
  /** The stored checksum. */
  checksum: bigint;
}

/** nd_sb_checksum of a 4 KiB block: fletcher64 with the checksum field (at 4088) zeroed. */
export function nd_sb_checksum(block: Uint8Array): bigint {
  const copy = block.slice(0, PFN_SB_SIZE);
  new DataView(copy.buffer).setBigUint64(4088, 0n, true);
  return fletcher64(copy);
}

/** Encodes `sb` as the 4 KiB on-media block, computing the checksum. */
export function encodePfnSb(sb: Omit<PfnSuperblock, "checksum">): Uint8Array {
  const b = new Uint8Array(PFN_SB_SIZE);
  const dv = new DataView(b.buffer);
  b.set(new TextEncoder().encode(sb.signature).subarray(0, 16), 0);
  b.set(sb.uuid, 16);
  b.set(sb.parent_uuid, 32);
  dv.setUint32(48, sb.flags, true);
  dv.setUint16(52, sb.version_major, true);
  dv.setUint16(54, sb.version_minor, true);
  dv.setBigUint64(56, BigInt(sb.dataoff), true);
  dv.setBigUint64(64, BigInt(sb.npfns), true);
  dv.setUint32(72, sb.mode, true);
  dv.setUint32(76, sb.start_pad, true);
  dv.setUint32(80, sb.end_trunc, true);
  dv.setUint32(84, sb.align, true);
  dv.setBigUint64(4088, nd_sb_checksum(b), true);
  return b;
}

/** Decodes a 4 KiB block (no validation: see {@link nd_sb_checksum}). */
export function decodePfnSb(b: Uint8Array): PfnSuperblock {
  const dv = new DataView(b.buffer, b.byteOffset, PFN_SB_SIZE);
  return {
    signature: new TextDecoder().decode(b.subarray(0, 16)),
    uuid: b.slice(16, 32),
    parent_uuid: b.slice(32, 48),
    flags: dv.getUint32(48, true),
    version_major: dv.getUint16(52, true),
    version_minor: dv.getUint16(54, true),
    dataoff: Number(dv.getBigUint64(56, true)),
    npfns: Number(dv.getBigUint64(64, true)),
    mode: dv.getUint32(72, true),
    start_pad: dv.getUint32(76, true),
    end_trunc: dv.getUint32(80, true),
    align: dv.getUint32(84, true),
    checksum: dv.getBigUint64(4088, true),
  };
}

const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;
const alignDown = (x: number, a: number) => Math.floor(x / a) * a;
/** PFN_SECTION_ALIGN_UP on a page count. */
export const pfnSectionAlignUp = (pfns: number): number => alignUp(pfns, PAGES_PER_SECTION);
/** PHYS_SECTION_ALIGN_DOWN. */
export const physSectionAlignDown = (phys: number): number => alignDown(phys, SECTION_SIZE);
/** PHYS_SECTION_ALIGN_UP. */
export const physSectionAlignUp = (phys: number): number => alignUp(phys, SECTION_SIZE);

/** What nd_pfn_init computes for a fresh info block. */
export interface PfnLayout {
  /** 0, or -ENXIO (-6) when the alignment cannot be satisfied. */
  rc: number;
  /** Data offset (namespace base + start_pad relative). */
  dataoff: number;
  /** Pages of data recorded in the block. */
  npfns: number;
  /** The npfns used to size the memmap (section aligned). */
  memmapPfns: number;
}

/**
 * The arithmetic of nd_pfn_init (v4.20) for a namespace at `start` of `size`
 * bytes, after trim_pfn_device chose `startPad`/`endTrunc`:
 *
 * - npfns = PFN_SECTION_ALIGN_UP((size - start_pad - end_trunc - SZ_8K) / PAGE_SIZE)
 * - map=dev (PFN_MODE_PMEM): offset = ALIGN(start + start_pad + SZ_8K + 64 × npfns
 *   + dax_label_reserve, max(align, PMD_SIZE)) - (start + start_pad)
 * - map=mem (PFN_MODE_RAM): offset = ALIGN(start + start_pad + SZ_8K + dax_label_reserve,
 *   align) - (start + start_pad)
 * - offset + start_pad + end_trunc >= size: -ENXIO ("unable to satisfy
 *   requested alignment"); else npfns = (size - offset - start_pad - end_trunc) / SZ_4K.
 *
 * dax_label_reserve is 128 KiB for a dax claim and 0 for a pfn claim. (The
 * often-quoted `ALIGN(start + SZ_8K + 64 * npfns, align) - start` omits both
 * the dax reserve and the PMD_SIZE floor.)
 *
 * @example A 1 GiB fsdax namespace at 16 GiB with map=dev, align 2 MiB
 * ```ts
 * import { ndPfnLayout, PFN_MODE_PMEM } from "./pfn.ts";
 * import { assertEquals } from "@std/assert";
 * const l = ndPfnLayout({ start: 2 ** 34, size: 2 ** 30, startPad: 0, endTrunc: 0,
 *   mode: PFN_MODE_PMEM, align: 2 ** 21, dax: false });
 * // memmap for 262,144 pages = 16 MiB; 8 KiB + 16 MiB rounded up to 2 MiB = 18 MiB
 * assertEquals([l.rc, l.dataoff, l.npfns], [0, 18 * 2 ** 20, (2 ** 30 - 18 * 2 ** 20) / 4096]);
 * ```
 */
export function ndPfnLayout(p: {
  start: number;
  size: number;
  startPad: number;
  endTrunc: number;
  mode: number;
  align: number;
  dax: boolean;
}): PfnLayout {
  const reserve = p.dax ? DAX_LABEL_RESERVE : 0;
  const start = p.start + p.startPad;
  const memmapPfns = pfnSectionAlignUp(
    Math.floor((p.size - p.startPad - p.endTrunc - SZ_8K) / PAGE_SIZE),
  );
  let offset: number;
  if (p.mode === PFN_MODE_PMEM) {
    offset =
      alignUp(start + SZ_8K + PFN_STRUCT_PAGE * memmapPfns + reserve, Math.max(p.align, PMD_SIZE)) -
      start;
  } else if (p.mode === PFN_MODE_RAM) {
    offset = alignUp(start + SZ_8K + reserve, p.align) - start;
  } else return { rc: -6, dataoff: 0, npfns: 0, memmapPfns };
  if (offset + p.startPad + p.endTrunc >= p.size) {
    return { rc: -6, dataoff: offset, npfns: 0, memmapPfns };
  }
  const npfns = Math.floor((p.size - offset - p.startPad - p.endTrunc) / 4096);
  return { rc: 0, dataoff: offset, npfns, memmapPfns };
}

/** The vmem_altmap fields __nvdimm_setup_pfn derives for map=dev. */
export interface AltmapParams {
  /** init_altmap_base: the section-aligned-down pfn of the data range's base. */
  base_pfn: number;
  /** init_altmap_reserve: SZ_8K in pages plus the pages from that section start to the base. */
  reserve: number;
  /** PHYS_PFN(dataoff - SZ_8K): pages available for the memmap. */
  free: number;
}

/** What __nvdimm_setup_pfn hands the driver for devm_memremap_pages. */
export interface PfnSetup {
  /** 0, or -EINVAL (map=mem with dataoff < 8 KiB) / -ENXIO (bad mode). */
  rc: number;
  /** pgmap->res: the namespace moved in by start_pad and end_trunc (end inclusive). */
  res: { start: number; end: number };
  /** The altmap (map=dev), or null (map=mem: pgmap->altmap_valid = false). */
  altmap: AltmapParams | null;
  /** nd_pfn->npfns: map=dev recomputes it, section aligned; map=mem takes the block's. */
  npfns: number;
  /** The block's dataoff. */
  dataoff: number;
}

/**
 * __nvdimm_setup_pfn (v4.20): the pgmap resource and altmap of a validated
 * info block `sb` on a namespace [nsStart, nsStart + nsSize).
 */
export function nvdimmSetupPfnParams(sb: PfnSuperblock, nsStart: number, nsSize: number): PfnSetup {
  const res = { start: nsStart + sb.start_pad, end: nsStart + nsSize - 1 - sb.end_trunc };
  const base = res.start;
  const basePfn = Math.floor(base / PAGE_SIZE);
  const sectionBase = alignDown(basePfn, PAGES_PER_SECTION);
  if (sb.mode === PFN_MODE_RAM) {
    if (sb.dataoff < SZ_8K) return { rc: -22, res, altmap: null, npfns: 0, dataoff: sb.dataoff };
    return { rc: 0, res, altmap: null, npfns: sb.npfns, dataoff: sb.dataoff };
  }
  if (sb.mode === PFN_MODE_PMEM) {
    const npfns = pfnSectionAlignUp(Math.floor((res.end - res.start + 1 - sb.dataoff) / PAGE_SIZE));
    return {
      rc: 0,
      res,
      altmap: {
        base_pfn: sectionBase,
        reserve: SZ_8K / PAGE_SIZE + basePfn - sectionBase,
        free: Math.floor((sb.dataoff - SZ_8K) / PAGE_SIZE),
      },
      npfns,
      dataoff: sb.dataoff,
    };
  }
  return { rc: -6, res, altmap: null, npfns: 0, dataoff: sb.dataoff };
}
