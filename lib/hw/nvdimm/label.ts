/**
 * The namespace label area of a DIMM (drivers/nvdimm/label.{c,h}, v4.20),
 * as real bytes: two index blocks, then an array of label slots. The model
 * writes the v1.2 format (256-byte labels) that 4.20 initialises on a blank
 * area, and reads it back at every scan — so namespaces survive a power cycle
 * because their labels do.
 *
 * ```
 *  0            index 0   "NAMESPACE_INDEX\0", seq, myoff, otheroff, labeloff, nslot, free bitmap
 *  indexSize    index 1   (the other copy; the valid one with the newer seq wins)
 *  2*indexSize  label slot 0, 1, ... nslot-1 (256 bytes each)
 * ```
 *
 * Like the kernel, an update never rewrites a label in place: new labels go
 * to free slots and the next index (seq advanced 1 → 2 → 3 → 1) marks which
 * slots are in use. v1.1 (128-byte) areas are not read (documented
 * simplification).
 *
 * @module
 */
import type { PageStore } from "../chunks.ts";
import { fletcher64, guidParse } from "./uuid.ts";

/** "NAMESPACE_INDEX\0". */
export const NSINDEX_SIGNATURE = "NAMESPACE_INDEX\0";
/** Index blocks are padded to this alignment. */
export const NSINDEX_ALIGN = 256;
/** sizeof(struct nd_namespace_index) without the free bitmap. */
const INDEX_HEADER = 72;
/** A v1.2 label. */
export const LABEL_SIZE = 256;
/** NSLABEL_FLAG_LOCAL: a BLK (DIMM-local) label. */
export const NSLABEL_FLAG_LOCAL = 0x2;

/** The NFIT type GUID of persistent-memory SPA ranges (a label's type_guid). */
export const NFIT_SPA_PM_GUID = "66f0d379-b4f3-4074-ac43-0d3318b78cdb";
/** Abstraction GUID of a pfn (fsdax) claim. */
export const NVDIMM_PFN_GUID = "266400ba-fb9f-4677-bcb0-968f11d0d225";
/** Abstraction GUID of a device-dax claim. */
export const NVDIMM_DAX_GUID = "97a86d9c-3cdd-4eda-986f-5068b4f80088";
/** Abstraction GUID of a BTT (sector) claim. */
export const NVDIMM_BTT_GUID = "8aed63a2-29a2-4c66-8b12-f05d15d3922a";

/** One decoded namespace label (struct nd_namespace_label, v1.2). */
export interface NamespaceLabel {
  /** Namespace uuid. */
  uuid: Uint8Array;
  /** Optional name ("alt name"). */
  name: string;
  /** NSLABEL_FLAG_*. */
  flags: number;
  /** Labels describing the namespace (interleave ways). */
  nlabel: number;
  /** This label's position in the interleave set. */
  position: number;
  /** Interleave-set cookie of the region the label belongs to. */
  isetcookie: bigint;
  /** 0 for pmem. */
  lbasize: number;
  /** DPA of this DIMM's extent. */
  dpa: number;
  /** Bytes of this DIMM's extent. */
  rawsize: number;
  /** Slot the label lives in (filled in by the writer/reader). */
  slot: number;
  /** Region type (NFIT SPA type GUID bytes). */
  typeGuid: Uint8Array;
  /** Claim class (pfn/dax/btt GUID bytes, or zeros). */
  abstractionGuid: Uint8Array;
}

/** Where the parts of a label area lie. */
export interface LabelGeometry {
  /** Number of label slots. */
  nslot: number;
  /** Size of one index block. */
  indexSize: number;
}

/**
 * nvdimm_num_label_slots + sizeof_namespace_index for v1.2 labels:
 * nslot = size / (256 + 1), an index block holds the header and one bit per
 * slot rounded up to 256 bytes. 128 KiB gives 510 slots and 256-byte indexes.
 */
export function labelGeometry(configSize: number): LabelGeometry {
  const nslot = Math.floor(configSize / (LABEL_SIZE + 1));
  const indexSize = Math.ceil((INDEX_HEADER + Math.ceil(nslot / 8)) / NSINDEX_ALIGN) *
    NSINDEX_ALIGN;
  return { nslot, indexSize };
}

/** nd_inc_seq: 1 → 2 → 3 → 1 (0 is invalid). */
export function nd_inc_seq(seq: number): number {
  return [0, 2, 3, 1][seq & 3]!;
}

function best_seq(a: number, b: number): number {
  a &= 3;
  b &= 3;
  if (a === 0 || a === b) return b;
  if (b === 0) return a;
  return nd_inc_seq(a) === b ? b : a;
}

interface IndexBlock {
  seq: number;
  free: Uint8Array; // bitmap, bit set = slot free
}

function readIndex(area: PageStore, i: number, g: LabelGeometry): IndexBlock | null {
  const b = area.read(i * g.indexSize, g.indexSize);
  const dv = new DataView(b.buffer);
  if (new TextDecoder().decode(b.subarray(0, 16)) !== NSINDEX_SIGNATURE) return null;
  const major = dv.getUint16(60, true), minor = dv.getUint16(62, true);
  if (major * 100 + minor < 102 || 1 << (7 + b[19]!) !== LABEL_SIZE) return null;
  const sum = dv.getBigUint64(64, true);
  dv.setBigUint64(64, 0n, true);
  if (fletcher64(b, 0, g.indexSize) !== sum) return null;
  const seq = dv.getUint32(20, true);
  if ((seq & 3) === 0) return null;
  if (Number(dv.getBigUint64(24, true)) !== i * g.indexSize) return null;
  if (Number(dv.getBigUint64(40, true)) !== (1 - i) * g.indexSize) return null;
  if (Number(dv.getBigUint64(48, true)) !== 2 * g.indexSize) return null;
  const nslot = dv.getUint32(56, true);
  if (nslot * LABEL_SIZE + 2 * g.indexSize > area.size) return null;
  return { seq, free: b.slice(INDEX_HEADER, INDEX_HEADER + Math.ceil(g.nslot / 8)) };
}

function writeIndex(area: PageStore, i: number, g: LabelGeometry, seq: number, free: Uint8Array) {
  const b = new Uint8Array(g.indexSize);
  const dv = new DataView(b.buffer);
  b.set(new TextEncoder().encode(NSINDEX_SIGNATURE), 0);
  b[19] = 1; // labelsize: 1 << (7 + 1) = 256
  dv.setUint32(20, seq, true);
  dv.setBigUint64(24, BigInt(i * g.indexSize), true);
  dv.setBigUint64(32, BigInt(g.indexSize), true);
  dv.setBigUint64(40, BigInt((1 - i) * g.indexSize), true);
  dv.setBigUint64(48, BigInt(2 * g.indexSize), true);
  dv.setUint32(56, g.nslot, true);
  dv.setUint16(60, 1, true);
  dv.setUint16(62, 2, true);
  b.set(free, INDEX_HEADER);
  dv.setBigUint64(64, fletcher64(b, 0, g.indexSize), true);
  area.write(i * g.indexSize, b);
}

/** The current index: which block, its seq and free map; null for a blank or corrupt area. */
function currentIndex(area: PageStore, g: LabelGeometry): { i: number; idx: IndexBlock } | null {
  if (g.nslot < 2) return null;
  const a = readIndex(area, 0, g), b = readIndex(area, 1, g);
  if (a && b) {
    const s = best_seq(a.seq, b.seq);
    return s === (b.seq & 3) ? { i: 1, idx: b } : { i: 0, idx: a };
  }
  if (a) return { i: 0, idx: a };
  if (b) return { i: 1, idx: b };
  return null;
}

function encodeLabel(l: NamespaceLabel): Uint8Array {
  const b = new Uint8Array(LABEL_SIZE);
  const dv = new DataView(b.buffer);
  b.set(l.uuid, 0);
  b.set(new TextEncoder().encode(l.name).subarray(0, 63), 16);
  dv.setUint32(80, l.flags, true);
  dv.setUint16(84, l.nlabel, true);
  dv.setUint16(86, l.position, true);
  dv.setBigUint64(88, l.isetcookie, true);
  dv.setBigUint64(96, BigInt(l.lbasize), true);
  dv.setBigUint64(104, BigInt(l.dpa), true);
  dv.setBigUint64(112, BigInt(l.rawsize), true);
  dv.setUint32(120, l.slot, true);
  b.set(l.typeGuid, 128);
  b.set(l.abstractionGuid, 144);
  dv.setBigUint64(248, fletcher64(b), true);
  return b;
}

function decodeLabel(b: Uint8Array, slot: number): NamespaceLabel | null {
  const dv = new DataView(b.buffer, b.byteOffset, LABEL_SIZE);
  const sum = dv.getBigUint64(248, true);
  const copy = b.slice();
  new DataView(copy.buffer).setBigUint64(248, 0n, true);
  if (fletcher64(copy) !== sum) return null;
  if (dv.getUint32(120, true) !== slot) return null;
  const nameBytes = b.subarray(16, 80);
  const z = nameBytes.indexOf(0);
  return {
    uuid: b.slice(0, 16),
    name: new TextDecoder().decode(nameBytes.subarray(0, z < 0 ? 64 : z)),
    flags: dv.getUint32(80, true),
    nlabel: dv.getUint16(84, true),
    position: dv.getUint16(86, true),
    isetcookie: dv.getBigUint64(88, true),
    lbasize: Number(dv.getBigUint64(96, true)),
    dpa: Number(dv.getBigUint64(104, true)),
    rawsize: Number(dv.getBigUint64(112, true)),
    slot,
    typeGuid: b.slice(128, 144),
    abstractionGuid: b.slice(144, 160),
  };
}

/** What {@link readLabels} found. */
export interface LabelAreaContents {
  /** Whether a valid index block exists. */
  valid: boolean;
  /** The current index's seq (0 when invalid). */
  seq: number;
  /** Valid labels in in-use slots, by slot. */
  labels: NamespaceLabel[];
}

/**
 * nd_label_validate + the active-label walk: the labels of the current index.
 * A blank, zeroed or garbage area has no valid index and no labels.
 */
export function readLabels(area: PageStore): LabelAreaContents {
  const g = labelGeometry(area.size);
  const cur = currentIndex(area, g);
  if (cur === null) return { valid: false, seq: 0, labels: [] };
  const labels: NamespaceLabel[] = [];
  for (let slot = 0; slot < g.nslot; slot++) {
    if (cur.idx.free[slot >> 3]! & (1 << (slot & 7))) continue;
    const l = decodeLabel(area.read(2 * g.indexSize + slot * LABEL_SIZE, LABEL_SIZE), slot);
    if (l !== null) labels.push(l);
  }
  return { valid: true, seq: cur.idx.seq & 3, labels };
}

function sameLabel(a: NamespaceLabel, b: NamespaceLabel): boolean {
  // each side encoded once (encoding b inside the per-byte callback made this 256 encodings)
  const eb = encodeLabel({ ...b, slot: 0 });
  return encodeLabel({ ...a, slot: 0 }).every((v, i) => v === eb[i]);
}

/**
 * Commits a new label set: labels already on media keep their slots, new
 * ones take free slots, dropped ones are freed, and the other index block is
 * written with the next seq. A blank area is initialised first (index 0 with
 * seq 3, index 1 with seq 2, as init_labels does). Returns 0, or -ENOSPC
 * (-28) when the slots run out.
 */
export function writeLabels(area: PageStore, labels: NamespaceLabel[]): number {
  const g = labelGeometry(area.size);
  let cur = currentIndex(area, g);
  if (cur === null) {
    const allFree = new Uint8Array(Math.ceil(g.nslot / 8));
    for (let s = 0; s < g.nslot; s++) allFree[s >> 3]! |= 1 << (s & 7);
    writeIndex(area, 0, g, 3, allFree);
    writeIndex(area, 1, g, 2, allFree);
    cur = currentIndex(area, g)!;
  }
  const old = readLabels(area).labels;
  const free = new Uint8Array(Math.ceil(g.nslot / 8));
  for (let s = 0; s < g.nslot; s++) free[s >> 3]! |= 1 << (s & 7);
  const kept = new Set<number>();
  const pending: NamespaceLabel[] = [];
  for (const l of labels) {
    const match = old.find((o) => !kept.has(o.slot) && sameLabel(o, l));
    if (match) {
      kept.add(match.slot);
      free[match.slot >> 3]! &= ~(1 << (match.slot & 7));
    } else pending.push(l);
  }
  // a slot the current index marks used is not reused for a new label (no in-place update)
  const busy = (s: number) => !(cur!.idx.free[s >> 3]! & (1 << (s & 7))) || kept.has(s);
  let next = 0;
  for (const l of pending) {
    while (next < g.nslot && (busy(next) || !(free[next >> 3]! & (1 << (next & 7))))) next++;
    if (next >= g.nslot) return -28;
    area.write(2 * g.indexSize + next * LABEL_SIZE, encodeLabel({ ...l, slot: next }));
    free[next >> 3]! &= ~(1 << (next & 7));
    next++;
  }
  writeIndex(area, 1 - cur.i, g, nd_inc_seq(cur.idx.seq), free);
  return 0;
}

/** ndctl zero-labels: the whole area becomes zeros (no valid index, no labels). */
export function zeroLabels(area: PageStore): void {
  area.zero(0, area.size);
}

/** The type GUID bytes of a pmem label. */
export function pmemTypeGuid(): Uint8Array {
  return guidParse(NFIT_SPA_PM_GUID);
}
