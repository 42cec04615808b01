/**
 * A seeded pseudo-random number generator (xoshiro128**, seeded by splitmix32).
 *
 * Model code never calls `Math.random`: every random choice of a simulated
 * machine comes from its own `Prng`, so the same seed gives the same run.
 *
 * @module
 */

/** A small, fast, seeded PRNG. Same seed → same sequence, on every platform. */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  /** The seed this generator was created with. */
  readonly seed: number;

  /**
   * Creates the object.
   * @param seed any 32-bit integer (other numbers are truncated).
   *
   * @example Same seed, same sequence
   * ```ts
   * import { Prng } from "./prng.ts";
   * import { assertEquals } from "@std/assert";
   * const a = new Prng(42), b = new Prng(42);
   * assertEquals([a.next(), a.next()], [b.next(), b.next()]);
   * ```
   */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`Cannot seed a Prng: ${seed} is not a number`);
    this.seed = seed | 0;
    let s = this.seed >>> 0;
    const sm = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = sm();
    this.#b = sm();
    this.#c = sm();
    this.#d = sm() | 1;
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result;
  }

  /** Next float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform integer in [0, n) for 0 < n ≤ 2^53. */
  int(n: number): number {
    if (!(n > 0)) {
      throw new RangeError(`Cannot draw an integer below ${n}: the bound must be positive`);
    }
    if (n <= 4294967296) return Math.floor(this.next() * n);
    const hi = this.nextU32() * 2097152; // 2^21
    return Math.floor(((hi + (this.nextU32() >>> 11)) / 9007199254740992) * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A new generator derived from this one (for an independent stream). */
  fork(): Prng {
    return new Prng(this.nextU32() | 0);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
