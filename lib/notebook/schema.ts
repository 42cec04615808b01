/**
 * A small JSON Schema (draft 4) validator for the subset the nbformat
 * schemas use: `$ref` (local), `type`, `enum`, `const`, `properties`,
 * `required`, `additionalProperties`, `patternProperties`, `items`,
 * `minItems`, `maxItems`, `uniqueItems`, `oneOf`, `anyOf`, `allOf`, `not`,
 * `pattern`, `minLength`, `maxLength`, `minimum`, `maximum`. Other keywords
 * (descriptions, `$schema`) are ignored.
 *
 * @module
 */

/** A JSON Schema document or sub-schema. */
export type JsonSchema = { [keyword: string]: unknown } | boolean;

/** One violation: where (a JSON pointer) and which rule. */
export interface SchemaViolation {
  /** JSON pointer to the offending value, "" for the root. */
  path: string;
  /** What rule it breaks. */
  message: string;
}

type Obj = Record<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function matchesType(v: unknown, type: string): boolean {
  const t = typeOf(v);
  return t === type || (type === "number" && t === "integer");
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function resolveRef(root: JsonSchema, ref: string): JsonSchema {
  if (!ref.startsWith("#")) throw new RangeError(`Cannot resolve $ref ${ref}: only local refs`);
  let node: unknown = root;
  for (const raw of ref.slice(1).split("/").filter(Boolean)) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    node = (node as Obj | undefined)?.[key];
  }
  if (node === undefined) throw new RangeError(`Cannot resolve $ref ${ref}: not found`);
  return node as JsonSchema;
}

function check(
  root: JsonSchema,
  schema: JsonSchema,
  value: unknown,
  path: string,
  out: SchemaViolation[],
): void {
  if (schema === true) return;
  if (schema === false) {
    out.push({ path, message: "no value is allowed here" });
    return;
  }
  const s = schema as Obj;
  if (typeof s.$ref === "string") {
    check(root, resolveRef(root, s.$ref), value, path, out);
    return;
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type as string[] : [s.type as string];
    if (!types.some((t) => matchesType(value, t))) {
      out.push({ path, message: `must be of type ${types.join(" or ")}, got ${typeOf(value)}` });
      return;
    }
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => deepEqual(e, value))) {
    out.push({ path, message: `must be one of ${JSON.stringify(s.enum)}` });
  }
  if ("const" in s && !deepEqual(s.const, value)) {
    out.push({ path, message: `must equal ${JSON.stringify(s.const)}` });
  }
  if (typeof value === "string") {
    if (typeof s.pattern === "string" && !new RegExp(s.pattern, "u").test(value)) {
      out.push({ path, message: `must match ${s.pattern}` });
    }
    if (typeof s.minLength === "number" && [...value].length < s.minLength) {
      out.push({ path, message: `must be at least ${s.minLength} characters` });
    }
    if (typeof s.maxLength === "number" && [...value].length > s.maxLength) {
      out.push({ path, message: `must be at most ${s.maxLength} characters` });
    }
  }
  if (typeof value === "number") {
    if (typeof s.minimum === "number" && value < s.minimum) {
      out.push({ path, message: `must be >= ${s.minimum}` });
    }
    if (typeof s.maximum === "number" && value > s.maximum) {
      out.push({ path, message: `must be <= ${s.maximum}` });
    }
  }
  if (Array.isArray(value)) {
    if (s.items !== undefined && !Array.isArray(s.items)) {
      value.forEach((v, i) => check(root, s.items as JsonSchema, v, `${path}/${i}`, out));
    }
    if (typeof s.minItems === "number" && value.length < s.minItems) {
      out.push({ path, message: `must have at least ${s.minItems} items` });
    }
    if (typeof s.maxItems === "number" && value.length > s.maxItems) {
      out.push({ path, message: `must have at most ${s.maxItems} items` });
    }
    if (s.uniqueItems === true) {
      const seen = new Set(value.map((v) => JSON.stringify(v)));
      if (seen.size !== value.length) out.push({ path, message: "items must be unique" });
    }
  }
  if (typeOf(value) === "object") {
    const obj = value as Obj;
    for (const key of (s.required as string[] | undefined) ?? []) {
      if (!(key in obj)) out.push({ path, message: `must have property "${key}"` });
    }
    const props = (s.properties ?? {}) as Record<string, JsonSchema>;
    const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, JsonSchema>)
      .map(([p, sub]) => [new RegExp(p, "u"), sub] as const);
    for (const [key, v] of Object.entries(obj)) {
      const at = `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
      let matched = false;
      if (key in props) {
        matched = true;
        check(root, props[key]!, v, at, out);
      }
      for (const [re, sub] of patterns) {
        if (re.test(key)) {
          matched = true;
          check(root, sub, v, at, out);
        }
      }
      if (!matched && s.additionalProperties !== undefined) {
        if (s.additionalProperties === false) {
          out.push({ path: at, message: "is not an allowed property" });
        } else if (typeof s.additionalProperties === "object") {
          check(root, s.additionalProperties as JsonSchema, v, at, out);
        }
      }
    }
  }
  const count = (subs: JsonSchema[]) =>
    subs.map((sub) => {
      const errs: SchemaViolation[] = [];
      check(root, sub, value, path, errs);
      return errs;
    });
  if (Array.isArray(s.allOf)) { for (const errs of count(s.allOf)) out.push(...errs); }
  if (Array.isArray(s.anyOf)) {
    const results = count(s.anyOf);
    if (!results.some((e) => e.length === 0)) {
      out.push({ path, message: "must match at least one schema in anyOf" });
    }
  }
  if (Array.isArray(s.oneOf)) {
    const results = count(s.oneOf);
    const ok = results.filter((e) => e.length === 0).length;
    if (ok !== 1) {
      // Report the closest alternative's problems so the message is useful.
      const best = results.reduce((a, b) => (b.length < a.length ? b : a));
      const why = ok === 0 && best.length
        ? `; closest: ${best.slice(0, 3).map((e) => `${e.path || "/"} ${e.message}`).join(", ")}`
        : "";
      out.push({ path, message: `must match exactly one schema in oneOf (matched ${ok})${why}` });
    }
  }
  if (s.not !== undefined) {
    const errs: SchemaViolation[] = [];
    check(root, s.not as JsonSchema, value, path, errs);
    if (errs.length === 0) out.push({ path, message: "must not match the schema in not" });
  }
}

/**
 * Validates a value against a JSON schema.
 *
 * @example Catching a wrong output shape
 * ```ts
 * import { validateJsonSchema } from "./schema.ts";
 * const schema = { type: "object", required: ["name"], additionalProperties: false,
 *   properties: { name: { type: "string" } } };
 * if (validateJsonSchema({ name: 1 }, schema).length !== 1) throw new Error("expected 1");
 * ```
 *
 * @param value The value (parsed JSON).
 * @param schema The schema; `$ref`s resolve against it.
 * @returns The violations; empty if the value is valid.
 */
export function validateJsonSchema(value: unknown, schema: JsonSchema): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  check(schema, schema, value, "", out);
  return out;
}
