/**
 * Every rule of the machine schema has a case in tests/machine/bad/, where
 * each NN-name.json sits beside NN-name.expected.txt (boot_test.ts checks
 * the messages are exactly those). The rules are enumerated two ways, and a
 * rule without a corpus case fails here:
 *
 * 1. The zod schema itself is walked: every check (min, max, int, ...) and
 *    enum of every field is a rule, and the corpus needs that message *at
 *    that field's path*; every kind of type mismatch (a string where a
 *    number belongs, ...), a missing required field and an unknown field
 *    are rules too. A check without a newcomer message of its own fails.
 * 2. The cross-checks (superRefine, transforms) are code, not schema nodes:
 *    each message literal of lib/machine/schema.ts, hardware.ts and
 *    fields.ts (its static parts, around the interpolated values) must
 *    appear in some expected message.
 */
import { assert, assertEquals } from "@std/assert";
import { machineSchema } from "../../lib/machine/schema.ts";

const ROOT = new URL("../../", import.meta.url);
const BAD = new URL("tests/machine/bad/", ROOT);
const FILES = ["lib/machine/schema.ts", "lib/machine/hardware.ts", "lib/machine/fields.ts"];
/** Literals that are not rule messages (formatting, the first line, code). */
const NOT_RULES = [
  "at ram[0].size: <rule>",
  "unknown field(s) ",
  "something else",
  "Cannot boot machine ",
  "/.exec((e as Error).message)",
  ", Math.max(0, hi), ",
  "/^Cannot assign BARs under host bridge ",
  ').join(", ")}',
  '" (known: ', // the "no GPU named" rule's list, covered with its known GPUs
  "tests/machine/bad_coverage_test.ts", // the @internal note on machineSchema
];

/** Every expected message line of the corpus. */
function corpus(): string[] {
  return [...Deno.readDirSync(BAD)]
    .filter((e) => e.name.endsWith(".expected.txt"))
    .flatMap((e) => Deno.readTextFileSync(new URL(e.name, BAD)).trimEnd().split("\n"));
}

/** A rule of the schema: the message, and the path pattern it applies at (null: anywhere). */
interface Rule {
  what: string;
  path: string | null;
  message: string;
}

// zod 4's definition objects, as far as the walk reads them
interface Def {
  type: string;
  shape?: Record<string, Node>;
  element?: Node;
  innerType?: Node;
  in?: Node;
  out?: Node;
  checks?: Array<{ _zod: { def: { check: string; error?: () => string } } }>;
  error?: () => string;
}
interface Node {
  _zod: { def: Def };
}

/** The rules the zod schema states (fields, their checks and enums, their types). */
function schemaRules(): { rules: Rule[]; unnamed: string[] } {
  const rules: Rule[] = [];
  const unnamed: string[] = [];
  const types = new Set<string>();
  let required = false, strict = false;
  const walk = (node: Node, path: string, optional: boolean) => {
    const def = node._zod.def;
    const shown = path === "" ? "(top level)" : path;
    for (const c of def.checks ?? []) {
      const d = c._zod.def;
      if (d.check === "custom") continue; // superRefine: part 2
      const message = d.error?.();
      if (message === undefined) unnamed.push(`${shown}: ${d.check}`);
      else rules.push({ what: `${shown} ${d.check}`, path, message });
    }
    switch (def.type) {
      case "default":
      case "optional":
        return walk(def.innerType!, path, true);
      case "pipe": // z.unknown().transform(...): its messages are literals (part 2)
        return walk(def.in!, path, optional);
      case "object":
        types.add("object");
        strict = true;
        for (const [key, v] of Object.entries(def.shape!)) {
          walk(v, path === "" ? key : `${path}.${key}`, false);
        }
        break;
      case "array":
        types.add("array");
        walk(def.element!, `${path}[]`, false);
        break;
      case "enum": {
        const message = def.error?.();
        if (message === undefined) unnamed.push(`${shown}: enum`);
        else rules.push({ what: `${shown} enum`, path, message });
        break;
      }
      case "string":
      case "number":
      case "boolean":
        types.add(def.type);
        break;
      case "unknown":
        if (!optional) required = true; // fields.ts's size: "is required"
        return;
      default:
        unnamed.push(`${shown}: zod type ${def.type} the walk does not know`);
    }
    if (!optional && path !== "") required = true;
  };
  walk(machineSchema as unknown as Node, "", false);
  const a = (w: string) => (/^[aeiou]/.test(w) ? `an ${w}` : `a ${w}`);
  for (const t of types) {
    rules.push({ what: `type ${t}`, path: null, message: `must be ${a(t)}, not` });
  }
  if (required) rules.push({ what: "required field", path: null, message: "is required" });
  if (strict) rules.push({ what: "strict object", path: null, message: "unknown field(s) " });
  return { rules, unnamed };
}

/** `at <path>: ` as a pattern: "[]" stands for any index. */
function atPath(path: string | null): RegExp {
  if (path === null) return /^at [^:]+: /;
  const p = path === "" ? "(top level)" : path;
  const re = p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replaceAll("\\[\\]", "\\[\\d+\\]");
  return new RegExp(`^at ${re}: `);
}

Deno.test("machine: the bad-description corpus covers every rule of the zod schema, at its field", () => {
  const lines = corpus();
  const { rules, unnamed } = schemaRules();
  assertEquals(unnamed, [], "checks without a newcomer message of their own");
  // the walk found the schema's rules (not an empty walk that passes vacuously)
  assert(rules.length >= 40, `only ${rules.length} rules found`);
  const missing = rules.filter((r) =>
    !lines.some((l) => atPath(r.path).test(l) && l.replace(atPath(r.path), "").includes(r.message))
  ).map((r) => `${r.what}: ${JSON.stringify(r.message)}`);
  assertEquals(missing, []);
});

Deno.test("machine: the bad-description corpus covers every message of the cross-checks", () => {
  const expected = corpus().join("\n");
  const missing: string[] = [];
  let found = 0;
  for (const f of FILES) {
    const src = Deno.readTextFileSync(new URL(f, ROOT)).split("\n")
      .filter((l) => !/^\s*(\*|\/\/|\/\*\*|import)/.test(l)).join("\n");
    for (const m of src.matchAll(/([`"])((?:\\.|(?!\1)[^\\])*?)\1/gs)) {
      const msg = m[2]!;
      if (msg.length < 12 || !/ /.test(msg)) continue;
      if (NOT_RULES.some((n) => msg.includes(n))) continue;
      found++;
      const parts = msg.split(/\$\{(?:[^{}]|\{[^{}]*\})*\}/)
        .map((p) => p.replace(/\\"/g, '"'))
        .filter((p) => p.trim().length >= 6);
      for (const p of parts) if (!expected.includes(p)) missing.push(`${f}: ${JSON.stringify(p)}`);
    }
  }
  assert(found >= 40, `only ${found} message literals found`);
  assertEquals(missing, []);
});

Deno.test("machine: every corpus case has its expected message beside it", () => {
  const names = [...Deno.readDirSync(BAD)].map((e) => e.name);
  const json = names.filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5)).sort();
  const txt = names.filter((n) => n.endsWith(".expected.txt")).map((n) => n.slice(0, -13)).sort();
  assertEquals(json, txt);
  assertEquals(names.filter((n) => !/^\d{2,}-[a-z0-9-]+\.(json|expected\.txt)$/.test(n)), []);
  // numbered 01..N without gaps or repeats
  const numbers = json.map((n) => parseInt(n, 10)).sort((a, b) => a - b);
  assertEquals(numbers, json.map((_, i) => i + 1));
});
