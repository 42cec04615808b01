/**
 * Every rule of the machine schema has a case in tests/machine/bad/: each
 * message literal of lib/machine/schema.ts, hardware.ts and fields.ts (its
 * static parts, around the interpolated values) appears in some
 * NN-name.expected.txt. A new rule without a corpus case fails here.
 */
import { assertEquals } from "@std/assert";

const ROOT = new URL("../../", import.meta.url);
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
];

Deno.test("machine: the bad-description corpus covers every schema rule", () => {
  const bad = new URL("tests/machine/bad/", ROOT);
  const expected = [...Deno.readDirSync(bad)]
    .filter((e) => e.name.endsWith(".expected.txt"))
    .map((e) => Deno.readTextFileSync(new URL(e.name, bad)))
    .join("\n");
  const missing: string[] = [];
  for (const f of FILES) {
    const src = Deno.readTextFileSync(new URL(f, ROOT)).split("\n")
      .filter((l) => !/^\s*(\*|\/\/|\/\*\*|import)/.test(l)).join("\n");
    for (const m of src.matchAll(/([`"])((?:\\.|(?!\1)[^\\])*?)\1/gs)) {
      const msg = m[2]!;
      if (msg.length < 12 || !/ /.test(msg)) continue;
      if (NOT_RULES.some((n) => msg.includes(n))) continue;
      const parts = msg.split(/\$\{(?:[^{}]|\{[^{}]*\})*\}/)
        .map((p) => p.replace(/\\"/g, '"'))
        .filter((p) => p.trim().length >= 6);
      for (const p of parts) if (!expected.includes(p)) missing.push(`${f}: ${JSON.stringify(p)}`);
    }
  }
  assertEquals(missing, []);
});
