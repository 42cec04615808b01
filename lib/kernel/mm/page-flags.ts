/**
 * The packed struct page word of the model's memmap (the state the kernel
 * keeps in page->flags and page->_refcount; include/linux/page-flags.h,
 * page_ref.h, mm.h set_page_links).
 *
 * One 32-bit word per materialised page, in a per-section Uint32Array:
 *
 * ```
 *   31    30       29        28       27      26   24 23                     0
 * +-----+--------+---------+--------+---------+-------+------------------------+
 * |spare|PG_locked|PG_waiters|PG_active|PG_reserved| zone | _refcount (signed 24) |
 * +-----+--------+---------+--------+---------+-------+------------------------+
 * ```
 *
 * - `_refcount` is a two's-complement 24-bit field (-8,388,607 .. 8,388,607).
 *   The value -8,388,608 (0x800000) is a sentinel: the real count lives in the
 *   section's side table (a Map from page index to count), so counts of any
 *   size, and the kernel's underflows, stay exact.
 * - `zone` is enum zone_type (3 bits, ZONES_SHIFT on x86_64), kept per page as
 *   the kernel keeps it in page->flags.
 * - The all-ones word is the poison pattern: a struct page that
 *   sparse_add_one_section allocated and nothing initialised yet (the kernel
 *   fills it with 0xff under CONFIG_DEBUG_VM's page_init_poison). Read as
 *   fields it gives refcount -1, zone 7 (no such zone) and every flag set, as
 *   the kernel would read it.
 *
 * The node id and page->pgmap are per section (pgmap as runs within a section).
 *
 * @module
 */

/** Bits 0..23: _refcount, signed. */
export const REF_MASK = 0x00ffffff;
/** Field value meaning "look in the side table". */
export const REF_SPILL: number = -0x800000;
/** Largest count stored inline. */
export const REF_MAX_INLINE = 0x7fffff;
/** Bits 24..26: zone. */
export const ZONE_SHIFT = 24;
/** ZONES_MASK. */
export const ZONES_MASK = 7;
/** PG_reserved. */
export const PG_reserved = 1 << 27;
/** PG_active. */
export const PG_active = 1 << 28;
/** PG_waiters. */
export const PG_waiters = 1 << 29;
/** PG_locked. */
export const PG_locked = 1 << 30;
/** The poison word (PAGE_POISON_PATTERN in every byte of the struct page). */
export const PAGE_POISON_WORD = 0xffffffff;

/** The signed refcount field of word `w` (may be REF_SPILL). */
export function wordRef(w: number): number {
  return (w << 8) >> 8;
}

/** The zone field of word `w`. */
export function wordZone(w: number): number {
  return (w >>> ZONE_SHIFT) & ZONES_MASK;
}

/** Word `w` with refcount field `rc` (caller ensures -0x7fffff ≤ rc ≤ 0x7fffff or REF_SPILL). */
export function withRef(w: number, rc: number): number {
  return ((w & ~REF_MASK) | (rc & REF_MASK)) >>> 0;
}

/** A freshly initialised page: __init_single_page (refcount 1, zone) plus `flags`. */
export function initWord(zone: number, flags: number): number {
  return ((flags | (zone << ZONE_SHIFT) | 1) >>> 0);
}

/** Whether `rc` fits the inline field. */
export function refFits(rc: number): boolean {
  return rc >= -REF_MAX_INLINE && rc <= REF_MAX_INLINE;
}
