/**
 * A small, std-compatible subset of `@std/assert` over `node:assert/strict`.
 *
 * JSR is not reachable from our machines, so deno.json maps `@std/assert` here.
 * Swapping in the real package is a one-line change of that import map entry.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** The error every assertion here throws (node's AssertionError). */
export const AssertionError: typeof nodeAssert.AssertionError = nodeAssert.AssertionError;

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg?: string): asserts expr {
  nodeAssert.ok(expr, msg);
}

/** Asserts deep, strict equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts deep, strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Asserts `Object.is` identity. */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  nodeAssert.equal(actual, expected, msg);
}

/** Asserts that `actual` is neither null nor undefined. */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  if (actual === null || actual === undefined) {
    throw new AssertionError({ message: msg ?? `expected a value, got ${actual}` });
  }
}

/** Asserts `|actual - expected| <= tolerance` (default 1e-7, as std). */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  msg?: string,
): void {
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  if (delta <= tolerance) return;
  throw new AssertionError({
    message: msg ??
      `expected ${actual} to be close to ${expected}: delta ${delta} is above ${tolerance}`,
  });
}

/** Asserts that `actual` is greater than `expected`. */
export function assertGreater(actual: number, expected: number, msg?: string): void {
  if (!(actual > expected)) {
    throw new AssertionError({ message: msg ?? `expected ${actual} > ${expected}` });
  }
}

/** Asserts that `actual` is less than or equal to `expected`. */
export function assertLessOrEqual(actual: number, expected: number, msg?: string): void {
  if (!(actual <= expected)) {
    throw new AssertionError({ message: msg ?? `expected ${actual} <= ${expected}` });
  }
}

/** Asserts that `actual` contains `expected` (strings and arrays). */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    throw new AssertionError({
      message: msg ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
    });
  }
}

/** Asserts that `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg);
}

/** Asserts that `actual` includes every element of `expected`. */
export function assertArrayIncludes<T>(
  actual: ArrayLike<T>,
  expected: ArrayLike<T>,
  msg?: string,
): void {
  const have = Array.from(actual);
  for (const e of Array.from(expected)) {
    if (!have.some((a) => isDeepStrictEqual(a, e))) {
      throw new AssertionError({ message: msg ?? `expected array to include ${String(e)}` });
    }
  }
}

function isDeepStrictEqual(a: unknown, b: unknown): boolean {
  try {
    nodeAssert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** Asserts that `fn` throws; optionally of class `ErrorClass` with a message containing `msgIncludes`. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass?: new (...args: any[]) => E,
  msgIncludes?: string,
  msg?: string,
): E {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) {
    throw new AssertionError({ message: msg ?? "expected function to throw" });
  }
  if (ErrorClass && !(thrown instanceof ErrorClass)) {
    throw new AssertionError({
      message: msg ??
        `expected ${ErrorClass.name}, got ${(thrown as Error)?.constructor?.name}: ${thrown}`,
    });
  }
  if (msgIncludes !== undefined && !String((thrown as Error).message).includes(msgIncludes)) {
    throw new AssertionError({
      message: msg ??
        `expected message to include ${JSON.stringify(msgIncludes)}, got ${
          JSON.stringify((thrown as Error).message)
        }`,
    });
  }
  return thrown as E;
}

/** Asserts that the promise returned by `fn` rejects. */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  ErrorClass?: new (...args: any[]) => E,
  msgIncludes?: string,
): Promise<E> {
  let thrown: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new AssertionError({ message: "expected promise to reject" });
  if (ErrorClass && !(thrown instanceof ErrorClass)) {
    throw new AssertionError({ message: `expected ${ErrorClass.name}, got ${thrown}` });
  }
  if (msgIncludes !== undefined && !String((thrown as Error).message).includes(msgIncludes)) {
    throw new AssertionError({ message: `expected message to include ${msgIncludes}` });
  }
  return thrown as E;
}

/** Always fails. */
export function fail(msg?: string): never {
  throw new AssertionError({ message: msg ?? "Failed assertion" });
}
