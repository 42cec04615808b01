/**
 * The simulated clock: integer nanoseconds held in a Number (exact up to
 * 2^53 ns ≈ 104 days), advanced only by the cost model.
 *
 * @module
 */

/** Simulated time. Never wall time. */
export class Clock {
  /** Current simulated time in integer nanoseconds. */
  now = 0;

  /**
   * Advances the clock by `ns` (rounded to an integer, never backwards).
   *
   * @example
   * ```ts
   * import { Clock } from "./clock.ts";
   * import { assertEquals } from "@std/assert";
   * const c = new Clock();
   * c.advance(1.6);
   * assertEquals(c.now, 2);
   * ```
   */
  advance(ns: number): void {
    if (ns > 0) this.now += Math.round(ns);
  }

  /** Moves the clock to `t` if `t` is later than now (timers). */
  advanceTo(t: number): void {
    if (t > this.now) this.now = t;
  }
}
