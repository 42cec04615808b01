/**
 * errno values and the ERR_PTR convention (include/uapi/asm-generic/errno-base.h,
 * errno.h, include/linux/err.h).
 *
 * Kernel functions return `-errno` as a number, or an {@link ErrPtr} where the
 * kernel returns `ERR_PTR(-errno)`. NULL is `null`.
 *
 * @module
 */

/** Operation not permitted. */
export const EPERM = 1;
/** No such file or directory. */
export const ENOENT = 2;
/** Interrupted system call. */
export const EINTR = 4;
/** I/O error. */
export const EIO = 5;
/** No such device or address. */
export const ENXIO = 6;
/** Exec format error. */
export const ENOEXEC = 8;
/** Try again. */
export const EAGAIN = 11;
/** Out of memory. */
export const ENOMEM = 12;
/** Permission denied. */
export const EACCES = 13;
/** Bad address. */
export const EFAULT = 14;
/** Device or resource busy. */
export const EBUSY = 16;
/** File exists. */
export const EEXIST = 17;
/** No such device. */
export const ENODEV = 19;
/** Invalid argument. */
export const EINVAL = 22;
/** No space left on device. */
export const ENOSPC = 28;
/** Math result not representable. */
export const ERANGE = 34;
/** Function not implemented. */
export const ENOSYS = 38;
/** Operation not supported on transport endpoint. */
export const EOPNOTSUPP = 95;
/** Connection timed out. */
export const ETIMEDOUT = 110;
/** Memory page has hardware error. */
export const EHWPOISON = 133;
/** Kernel-internal: operation is not supported. */
export const ENOTSUPP = 524;

/** The largest errno an ERR_PTR can carry (include/linux/err.h). */
export const MAX_ERRNO = 4095;

const NAMES: Record<number, string> = {
  [EPERM]: "EPERM",
  [ENOENT]: "ENOENT",
  [EINTR]: "EINTR",
  [EIO]: "EIO",
  [ENXIO]: "ENXIO",
  [ENOEXEC]: "ENOEXEC",
  [EAGAIN]: "EAGAIN",
  [ENOMEM]: "ENOMEM",
  [EACCES]: "EACCES",
  [EFAULT]: "EFAULT",
  [EBUSY]: "EBUSY",
  [EEXIST]: "EEXIST",
  [ENODEV]: "ENODEV",
  [EINVAL]: "EINVAL",
  [ENOSPC]: "ENOSPC",
  [ERANGE]: "ERANGE",
  [ENOSYS]: "ENOSYS",
  [EOPNOTSUPP]: "EOPNOTSUPP",
  [ETIMEDOUT]: "ETIMEDOUT",
  [EHWPOISON]: "EHWPOISON",
  [ENOTSUPP]: "ENOTSUPP",
};

/** "-ENOMEM" for -12, "0" for 0, "-E123" for unknown values. */
export function errname(err: number): string {
  if (err === 0) return "0";
  const n = NAMES[Math.abs(err)];
  return `${err < 0 ? "-" : ""}${n ?? `E${Math.abs(err)}`}`;
}

/** An encoded error pointer: what `ERR_PTR(-errno)` returns. Compare with IS_ERR. */
export class ErrPtr {
  /** @param err the negative errno. */
  private constructor(readonly err: number) {}
  /** @internal one shared instance per errno. */
  static readonly cache: Map<number, ErrPtr> = new Map();
  /** @internal */
  static of(err: number): ErrPtr {
    let p = ErrPtr.cache.get(err);
    if (p === undefined) {
      p = new ErrPtr(err);
      ErrPtr.cache.set(err, p);
    }
    return p;
  }
  /** "ERR_PTR(-ENOMEM)". */
  toString(): string {
    return `ERR_PTR(${errname(this.err)})`;
  }
}

/**
 * Encodes `-errno` as an error pointer (include/linux/err.h).
 *
 * @example
 * ```ts
 * import { ERR_PTR, ENOMEM, IS_ERR, PTR_ERR } from "./errno.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const p = ERR_PTR(-ENOMEM);
 * assert(IS_ERR(p));
 * assertEquals(PTR_ERR(p), -12);
 * ```
 */
export function ERR_PTR(err: number): ErrPtr {
  if (!(Number.isInteger(err) && err < 0 && err >= -MAX_ERRNO)) {
    throw new RangeError(`Cannot encode ERR_PTR(${err}): expected -${MAX_ERRNO}..-1`);
  }
  return ErrPtr.of(err);
}

/** Whether `p` is an error pointer. */
export function IS_ERR(p: unknown): p is ErrPtr {
  return p instanceof ErrPtr;
}

/** Whether `p` is an error pointer or NULL. */
export function IS_ERR_OR_NULL(p: unknown): p is ErrPtr | null | undefined {
  return p === null || p === undefined || p instanceof ErrPtr;
}

/** The negative errno inside an error pointer (0 for anything else, as the kernel's cast would give garbage). */
export function PTR_ERR(p: unknown): number {
  if (!(p instanceof ErrPtr)) {
    throw new TypeError(`Cannot take PTR_ERR of ${String(p)}: it is not an error pointer`);
  }
  return p.err;
}

/** PTR_ERR_OR_ZERO: the errno of an error pointer, else 0. */
export function PTR_ERR_OR_ZERO(p: unknown): number {
  return p instanceof ErrPtr ? p.err : 0;
}
