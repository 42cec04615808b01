/**
 * zod fields shared by the machine schema and its hardware part.
 *
 * @module
 */
import { z } from "zod";
import { parseSize, SIZE_UNITS } from "./sizes.ts";

/** The rule a size field states when it cannot parse a value. */
export function notASize(v: unknown): string {
  return `${
    JSON.stringify(v)
  } is not a size: write a number of bytes or a string like "16GiB" (units ${
    SIZE_UNITS.join(", ")
  }, or hex like "0x100000000")`;
}

/** A size or address field: number of bytes or a string like "16GiB". */
export const size: z.ZodType<number, unknown> = z.unknown().transform((v, ctx) => {
  if (v === undefined) {
    ctx.addIssue({ code: "custom", message: "is required" });
    return z.NEVER;
  }
  const n = parseSize(v);
  if (n === null) {
    ctx.addIssue({ code: "custom", message: notASize(v) });
    return z.NEVER;
  }
  return n;
});
