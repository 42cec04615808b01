/**
 * VRAM buffer objects as nouveau's dmem code uses them
 * (drivers/gpu/drm/nouveau/nouveau_bo.c through TTM): `nouveau_bo_new` of
 * a VRAM placement, `nouveau_bo_pin`, `nouveau_bo_unpin`, and dropping the
 * last reference (`nouveau_bo_ref(NULL, &bo)`). Only what dmem needs: a bo
 * is a pinned, physically contiguous range of VRAM whose byte offset is
 * `bo.offset` (nouveau's `bo->bo.offset`, the GPU address of VRAM) and
 * whose first page is `mem_start` (`bo->bo.mem.start`).
 *
 * The VRAM manager stands in for TTM's drm_mm range allocator: a first-fit
 * allocator in {@link VRAM_GRANULE} units, lowest address first, so bo
 * placement is deterministic. TTM eviction, placement flags other than
 * VRAM, tiling and the GART are not modelled.
 *
 * Fault point "nouveau_bo_new": TTM cannot place the object (-ENOMEM).
 *
 * @module
 */
import { ENOMEM } from "../../kernel/errno.ts";
import type { Kernel } from "../../kernel/kernel.ts";

/** Allocation unit of the VRAM manager (nouveau's large page size on Pascal). */
export const VRAM_GRANULE = 2 * 2 ** 20;

/** The fault points of the bo layer. */
export const NOUVEAU_BO_FAULT_POINTS: ReadonlyArray<readonly [string, string]> = [
  [
    "nouveau_bo_new",
    "TTM cannot place a VRAM buffer object (nouveau_bo_new returns -ENOMEM)",
  ],
];

/** A VRAM buffer object (struct nouveau_bo, the parts dmem reads). */
export class NouveauBo {
  /** Bytes. */
  readonly size: number;
  /** GPU address of its first byte in VRAM (`bo->bo.offset`). */
  readonly offset: number;
  /** Pin count (`nouveau_bo_pin` / `_unpin`). */
  pin_refcnt = 0;
  /** Whether the last reference was dropped. */
  freed = false;

  /**
   * Creates the object (use {@link nouveau_bo_new}).
   * @param offset VRAM byte offset.
   * @param size bytes.
   */
  constructor(offset: number, size: number) {
    this.offset = offset;
    this.size = size;
  }

  /** `bo->bo.mem.start`: its first VRAM page. */
  get mem_start(): number {
    return this.offset / 4096;
  }
}

/** The VRAM range allocator of one GPU (TTM's VRAM manager). */
export class VramManager {
  /** VRAM bytes. */
  readonly size: number;
  /** One bit per granule: 1 = taken. */
  readonly #used: Uint8Array;
  /** Granules in use. */
  inUse = 0;

  /**
   * Creates an empty manager.
   * @param size VRAM bytes (rounded down to whole granules).
   */
  constructor(size: number) {
    this.size = size;
    this.#used = new Uint8Array(Math.floor(size / VRAM_GRANULE));
  }

  /** First-fit: the byte offset of `n` free consecutive granules, taken, or -1. */
  alloc(n: number): number {
    const used = this.#used;
    for (let i = 0, run = 0; i < used.length; i++) {
      run = used[i] === 0 ? run + 1 : 0;
      if (run === n) {
        const first = i - n + 1;
        used.fill(1, first, i + 1);
        this.inUse += n;
        return first * VRAM_GRANULE;
      }
    }
    return -1;
  }

  /** Gives back `n` granules at byte offset `offset`. */
  free(offset: number, n: number): void {
    const first = offset / VRAM_GRANULE;
    this.#used.fill(0, first, first + n);
    this.inUse -= n;
  }
}

/**
 * nouveau_bo_new(cli, size, align, TTM_PL_FLAG_VRAM, ...) for dmem: a bo of
 * `size` bytes (whole granules) in VRAM, or -ENOMEM when VRAM has no room
 * (or fault point "nouveau_bo_new"). The model passes the VRAM manager for
 * `cli`, leaves out the arguments dmem always passes the same (align 0,
 * VRAM, no tiling, no sg table or reservation object), and returns the bo
 * or -errno where the kernel returns 0 / -errno and the bo through `*pnvbo`.
 */
export function nouveau_bo_new(k: Kernel, vram: VramManager, size: number): NouveauBo | number {
  if (k.faults.shouldFail("nouveau_bo_new")) return -ENOMEM;
  const n = Math.ceil(size / VRAM_GRANULE);
  const off = vram.alloc(n);
  if (off < 0) return -ENOMEM;
  return new NouveauBo(off, n * VRAM_GRANULE);
}

/** nouveau_bo_pin(bo, TTM_PL_FLAG_VRAM, false): 0 (a VRAM bo is already placed; `memtype` and `contig`, always those, are left out). */
export function nouveau_bo_pin(_k: Kernel, bo: NouveauBo): number {
  bo.pin_refcnt++;
  return 0;
}

/**
 * nouveau_bo_unpin(bo) (nouveau_bo.c): drops a pin. 0, as the kernel's int
 * return on success (its -errno comes from reserving the TTM bo, which the
 * model does not do).
 */
export function nouveau_bo_unpin(_k: Kernel, bo: NouveauBo): number {
  if (bo.pin_refcnt > 0) bo.pin_refcnt--;
  return 0;
}

/** nouveau_bo_ref(NULL, &bo): drops the only reference; the VRAM goes back to the manager. */
export function nouveau_bo_put(_k: Kernel, vram: VramManager, bo: NouveauBo): void {
  if (bo.freed) return;
  bo.freed = true;
  vram.free(bo.offset, bo.size / VRAM_GRANULE);
}
