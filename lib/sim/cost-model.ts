/**
 * The simulated-time cost model: every parameter has a value, a unit and a
 * source (see data/cost-models/default.json and perf-anchors.md §8).
 *
 * @module
 */
import { z } from "zod";
import defaultModel from "../../data/cost-models/default.json" with { type: "json" };

/** Units a cost-model parameter may carry. */
export const COST_UNITS = ["ns", "GB/s", "B", "ratio", "count"] as const;

/** One cost-model parameter: its value, its unit and where the number comes from. */
export interface CostParameter {
  /** The value, in `unit`. */
  value: number;
  /** The unit. */
  unit: (typeof COST_UNITS)[number];
  /** Where the number comes from. */
  source: string;
}

/** A validated cost model as stored in data/cost-models/*.json. */
export interface CostModelData {
  /** Model name. */
  name: string;
  /** What the model is for. */
  description: string;
  /** Parameters by name. */
  parameters: Record<string, CostParameter>;
}

/** Schema of one parameter. */
const CostParameterSchema: z.ZodType<CostParameter> = z.strictObject({
  value: z.number().check(z.nonnegative()),
  unit: z.enum(COST_UNITS),
  source: z.string().min(8, "every parameter must cite its source"),
});

/** Schema of a whole cost model. */
const CostModelSchema: z.ZodType<CostModelData> = z.strictObject({
  name: z.string().min(1),
  description: z.string(),
  parameters: z.record(z.string(), CostParameterSchema),
});

/** A validated cost model with typed access to its parameters. */
export class CostModel {
  /** The model's name. */
  readonly name: string;
  /** Every parameter, by name. */
  readonly parameters: Readonly<Record<string, CostParameter>>;

  /**
   * Validates `data` (throws a TypeError naming the path and the rule).
   *
   * @example
   * ```ts
   * import { loadCostModel } from "./cost-model.ts";
   * import { assertEquals } from "@std/assert";
   * const m = loadCostModel();
   * assertEquals(m.unit("cpu.minorFault"), "ns");
   * ```
   */
  constructor(data: unknown) {
    const r = CostModelSchema.safeParse(data);
    if (!r.success) {
      const first = r.error.issues[0]!;
      throw new TypeError(
        `Cannot load cost model: at ${first.path.join(".")}: ${first.message}`,
      );
    }
    this.name = r.data.name;
    this.parameters = r.data.parameters;
  }

  /** The value of parameter `name`; a RangeError if the model has no such parameter. */
  get(name: string): number {
    const p = this.parameters[name];
    if (p === undefined) {
      throw new RangeError(`Cannot read cost parameter "${name}": model "${this.name}" has none`);
    }
    return p.value;
  }

  /** The unit of parameter `name`. */
  unit(name: string): CostParameter["unit"] {
    this.get(name);
    return this.parameters[name]!.unit;
  }

  /** The source of parameter `name`. */
  source(name: string): string {
    this.get(name);
    return this.parameters[name]!.source;
  }

  /** Nanoseconds to move `bytes` at `gbPerS` GB/s (10^9 bytes per second). */
  static transferNs(bytes: number, gbPerS: number): number {
    return Math.round(bytes / gbPerS);
  }
}

/** Loads the default cost model (resolved through `import.meta.url`, never the working directory). */
export function loadCostModel(data: unknown = defaultModel): CostModel {
  return new CostModel(data);
}
