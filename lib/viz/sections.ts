/**
 * The input of the section-map figures: one {@link SectionCell} per 128 MiB
 * section, and the fixed categories and colours every section map uses.
 *
 * @module
 */

/** One 128 MiB section. */
export interface SectionCell {
  /** Section number (physical address / 128 MiB). */
  nr: number;
  /** First physical byte: must be nr × 128 MiB. */
  start: number;
  /** System RAM, ZONE_DEVICE memory, or no section. */
  kind: "ram" | "device" | "free";
  /** Id of the dev_pagemap its pages point to (device sections). */
  pgmapId?: number;
  /**
   * enum memory_type, by kernel name or short: "MEMORY_DEVICE_FS_DAX" /
   * "fs_dax", "MEMORY_DEVICE_PRIVATE" / "private", "public", "p2pdma";
   * "0" or "devdax" for device-dax's untyped pgmap.
   */
  type?: string;
  /** Whether any of it is in the kernel's linear (direct) map. */
  linearMap: boolean;
  /** Where its memmap (struct pages) lives: RAM, the device itself (altmap), or nowhere. */
  memmap: "ram" | "device" | "none";
  /** Left behind: present or mapped with nothing that will remove it. */
  leaked?: boolean;
  /** A note for the cell's tooltip (the resource name, ...). */
  note?: string;
}

/** What {@link sectionMap} draws: sections in any order; absent numbers are not drawn. */
export interface SectionMapInput {
  /** The sections. */
  sections: readonly SectionCell[];
}

/**
 * The fill categories, in legend order: the fixed colour domain of every
 * section map (with {@link SECTION_COLORS}).
 *
 * @example
 * ```ts
 * import { SECTION_CATEGORIES, SECTION_COLORS } from "./sections.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(SECTION_CATEGORIES.length, Object.keys(SECTION_COLORS).length);
 * assertEquals([SECTION_CATEGORIES[0], SECTION_CATEGORIES.at(-1)], ["System RAM", "leaked"]);
 * ```
 */
export const SECTION_CATEGORIES = [
  "System RAM",
  "device fs_dax",
  "device devdax",
  "device private",
  "device public",
  "device p2pdma",
  "device (other)",
  "free",
  "leaked",
] as const;

/** A fill category. */
export type SectionCategory = typeof SECTION_CATEGORIES[number];

/** The fixed colours of {@link SECTION_CATEGORIES}. */
export const SECTION_COLORS: Readonly<Record<SectionCategory, string>> = {
  "System RAM": "#9ecae1",
  "device fs_dax": "#f2b447",
  "device devdax": "#b07aa1",
  "device private": "#59a14f",
  "device public": "#8cd17d",
  "device p2pdma": "#76b7b2",
  "device (other)": "#bab0ac",
  "free": "#f4f4f4",
  "leaked": "#d62728",
};

/**
 * The short memory type of a type string: "fs_dax", "devdax", "private",
 * "public", "p2pdma" or "other". Accepts enum memory_type names, short
 * names and numbers.
 *
 * @example
 * ```ts
 * import { memoryTypeKey } from "./sections.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(["MEMORY_DEVICE_FS_DAX", "0", "private", "?"].map(memoryTypeKey), ["fs_dax", "devdax", "private", "other"]);
 * ```
 */
export function memoryTypeKey(type: string | undefined): string {
  if (type === undefined) return "other";
  const t = type.trim().toLowerCase().replace(/^memory_device_/, "").replace(/^pci_/, "");
  if (t === "fs_dax" || t === "fsdax" || t === "3") return "fs_dax";
  if (t === "0" || t === "devdax" || t === "device_dax" || t === "device-dax") return "devdax";
  if (t === "private" || t === "1") return "private";
  if (t === "public" || t === "2") return "public";
  if (t === "p2pdma" || t === "4") return "p2pdma";
  return "other";
}

/**
 * The fill category of a section: "leaked" first, then by kind and memory type.
 *
 * @example
 * ```ts
 * import { sectionCategory } from "./sections.ts";
 * import { assertEquals } from "@std/assert";
 * const s = { nr: 1, start: 2 ** 27, kind: "device" as const, type: "MEMORY_DEVICE_PRIVATE", linearMap: false, memmap: "ram" as const };
 * assertEquals([sectionCategory(s), sectionCategory({ ...s, leaked: true })], ["device private", "leaked"]);
 * ```
 */
export function sectionCategory(s: SectionCell): SectionCategory {
  if (s.leaked) return "leaked";
  if (s.kind === "ram") return "System RAM";
  if (s.kind === "free") return "free";
  const key = memoryTypeKey(s.type);
  return key === "other" ? "device (other)" : `device ${key}` as SectionCategory;
}
