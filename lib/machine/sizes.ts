/**
 * Sizes and addresses in machine descriptions: a number of bytes, or a string
 * such as "16GiB", "128 MiB", "0x4_0000_0000" or "4096".
 *
 * @module
 */

const UNITS: Record<string, number> = {
  "": 1,
  "B": 1,
  "KiB": 2 ** 10,
  "MiB": 2 ** 20,
  "GiB": 2 ** 30,
  "TiB": 2 ** 40,
  "PiB": 2 ** 50,
};

/** The units a size string may use. */
export const SIZE_UNITS: readonly string[] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/**
 * Parses a size or address: a non-negative safe integer, a hex string, or a
 * decimal with a binary unit. Returns null when it is not one.
 *
 * @example
 * ```ts
 * import { parseSize } from "./sizes.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseSize("16GiB"), 16 * 2 ** 30);
 * assertEquals(parseSize("0x1_0000_0000"), 2 ** 32);
 * assertEquals(parseSize("12 parsecs"), null);
 * ```
 */
export function parseSize(v: unknown): number | null {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v !== "string") return null;
  const s = v.trim().replaceAll("_", "");
  if (/^0x[0-9a-fA-F]+$/.test(s)) {
    const n = Number.parseInt(s.slice(2), 16);
    return Number.isSafeInteger(n) ? n : null;
  }
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(s);
  if (!m) return null;
  const unit = UNITS[m[2]!];
  if (unit === undefined) return null;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : null;
}

/** "16 GiB", "128 MiB", "4 KiB", "1.5 GiB", or bytes. */
export function formatSize(bytes: number): string {
  for (const u of ["PiB", "TiB", "GiB", "MiB", "KiB"]) {
    const n = bytes / UNITS[u]!;
    if (n >= 1 && Number.isInteger(n * 4)) return `${n} ${u}`;
  }
  return `${bytes} B`;
}

/** "0x0000000400000000"-style address for messages. */
export function hex(n: number, width = 0): string {
  return `0x${n.toString(16).padStart(width, "0")}`;
}
