/**
 * UUIDs and GUIDs as libnvdimm stores them: 16 raw bytes. A namespace or
 * pfn uuid is printed with "%pUb" (bytes in order); the label type and
 * abstraction GUIDs are little-endian GUIDs ("%pUl": the first three fields
 * byte-swapped). Also the fletcher64 checksum every on-media structure of
 * libnvdimm carries (drivers/nvdimm/core.c nd_fletcher64).
 *
 * @module
 */
import type { Prng } from "../../sim/prng.ts";

/** The all-zero uuid (what a label-less namespace reports). */
export const NULL_UUID: Uint8Array = new Uint8Array(16);

const HEX = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses "xxxxxxxx-xxxx-..." into 16 bytes in order (uuid_parse). */
export function uuidParse(s: string): Uint8Array {
  if (!HEX.test(s)) {
    throw new TypeError(`Cannot parse uuid ${JSON.stringify(s)}: expected 8-4-4-4-12 hex digits`);
  }
  const hex = s.replaceAll("-", "");
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** "%pUb": the 16 bytes in order, 8-4-4-4-12. */
export function uuidString(u: Uint8Array): string {
  const h = [...u].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** guid_parse: like {@link uuidParse} with the first three fields stored little-endian. */
export function guidParse(s: string): Uint8Array {
  const b = uuidParse(s);
  return new Uint8Array([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.slice(8)]);
}

/** "%pUl" of a GUID's bytes. */
export function guidString(g: Uint8Array): string {
  return uuidString(
    new Uint8Array([g[3]!, g[2]!, g[1]!, g[0]!, g[5]!, g[4]!, g[7]!, g[6]!, ...g.slice(8)]),
  );
}

/** A random (version 4) uuid from the machine's PRNG: deterministic per seed. */
export function uuidGenerate(prng: Prng): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i += 4) {
    const v = prng.nextU32();
    out[i] = v & 0xff;
    out[i + 1] = (v >>> 8) & 0xff;
    out[i + 2] = (v >>> 16) & 0xff;
    out[i + 3] = v >>> 24;
  }
  out[6] = (out[6]! & 0x0f) | 0x40;
  out[8] = (out[8]! & 0x3f) | 0x80;
  return out;
}

/** Whether two uuids are equal. */
export function uuidEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * nd_fletcher64(addr, len, le): sums `len / 4` little-endian 32-bit words;
 * returns (hi << 32 | lo) as a bigint, lo wrapping at 2^32.
 *
 * @example
 * ```ts
 * import { fletcher64 } from "./uuid.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(fletcher64(new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0])), (4n << 32n) | 3n);
 * ```
 */
export function fletcher64(bytes: Uint8Array, offset = 0, len = bytes.length): bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, len);
  let lo = 0, hi = 0;
  for (let i = 0; i + 4 <= len; i += 4) {
    lo = (lo + dv.getUint32(i, true)) >>> 0;
    hi = (hi + lo) % 0x1_0000_0000;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}
