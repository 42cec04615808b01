/**
 * nbformat reading and writing, the JSON-schema check against the vendored
 * nbformat 4.5 schema, and IOPub-to-output conversion.
 */
import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  type CodeCell,
  createMessage,
  type JsonSchema,
  NotebookError,
  OutputCollector,
  parseNotebook,
  serializeNotebook,
  validateJsonSchema,
} from "../../lib/notebook/mod.ts";
import { makeNotebook } from "./_helpers.ts";

const SCHEMA: JsonSchema = JSON.parse(
  await Deno.readTextFile(
    new URL("../fixtures/nbformat/nbformat.v4.5.schema.json", import.meta.url),
  ),
);

function withOutputs(outputs: unknown[]): unknown {
  const nb = makeNotebook(["1"]);
  (nb.cells[0] as CodeCell).outputs = outputs as CodeCell["outputs"];
  (nb.cells[0] as CodeCell).execution_count = 1;
  return JSON.parse(serializeNotebook(nb));
}

Deno.test("parseNotebook() gives 4.4 cells ids, upgrades to 4.5 and replaces duplicate ids", () => {
  const nb = parseNotebook(
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 4,
      metadata: {},
      cells: [
        { cell_type: "markdown", metadata: {}, source: ["# a\n", "b"] },
        { cell_type: "code", metadata: {}, source: "1", id: "same" },
        {
          cell_type: "code",
          metadata: {},
          source: "2",
          id: "same",
          outputs: [],
          execution_count: 3,
        },
      ],
    }),
    "old.ipynb",
  );
  assertEquals(nb.nbformat_minor, 5);
  const ids = nb.cells.map((c) => c.id);
  assertEquals(new Set(ids).size, 3);
  assertEquals(ids[1], "same");
  assertMatch(ids[0]!, /^[0-9a-f]{8}$/);
  assertEquals((nb.cells[1] as CodeCell).outputs, []);
  assertEquals(validateJsonSchema(JSON.parse(serializeNotebook(nb)), SCHEMA), []);
});

Deno.test("parseNotebook() errors name the notebook and the problem", () => {
  const cases: [string, RegExp][] = [
    ["", /Cannot use notebook x\.ipynb: not valid JSON/],
    ["[]", /not an nbformat 4 notebook: \(document\)/],
    ['{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', /cells/],
    [
      '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}}]}',
      /cells\.0\.source/,
    ],
    [
      '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "sql", "metadata": {}, "source": ""}]}',
      /cells\.0\.cell_type/,
    ],
  ];
  for (const [text, re] of cases) {
    const e = assertThrows(() => parseNotebook(text, "x.ipynb"), NotebookError);
    assertMatch(e.message, re);
    assertEquals(e.notebook, "x.ipynb");
  }
});

Deno.test("serializeNotebook() writes sorted keys, line arrays and output shapes that validate", () => {
  const doc = withOutputs([
    { output_type: "stream", name: "stdout", text: "a\nb\n" },
    {
      output_type: "display_data",
      data: { "text/html": "<p>\nx</p>", "image/png": "iVBORw0K", "application/json": { a: 1 } },
      metadata: {},
    },
    {
      output_type: "execute_result",
      execution_count: 1,
      data: { "text/plain": "1" },
      metadata: {},
    },
    { output_type: "error", ename: "Error", evalue: "boom", traceback: ["Error: boom"] },
  ]) as { cells: { outputs: Record<string, unknown>[] }[] };
  assertEquals(validateJsonSchema(doc, SCHEMA), []);
  const outputs = doc.cells[0]!.outputs;
  assertEquals(outputs[0]!.text, ["a\n", "b\n"]);
  assertEquals((outputs[1]!.data as Record<string, unknown>)["text/html"], ["<p>\n", "x</p>"]);
  assertEquals((outputs[1]!.data as Record<string, unknown>)["image/png"], "iVBORw0K");
  assertEquals((outputs[1]!.data as Record<string, unknown>)["application/json"], { a: 1 });
  assertEquals(Object.keys(doc), ["cells", "metadata", "nbformat", "nbformat_minor"]);
});

Deno.test("validateJsonSchema() catches wrong output shapes against the nbformat 4.5 schema", () => {
  const bad: [string, unknown][] = [
    ["stream without name", { output_type: "stream", text: "x" }],
    ["display_data with transient", {
      output_type: "display_data",
      data: {},
      metadata: {},
      transient: {},
    }],
    ["execute_result without execution_count", {
      output_type: "execute_result",
      data: {},
      metadata: {},
    }],
    ["error with a string traceback", {
      output_type: "error",
      ename: "E",
      evalue: "",
      traceback: "x",
    }],
    ["text as a number", { output_type: "stream", name: "stdout", text: 3 }],
  ];
  for (const [what, output] of bad) {
    const errors = validateJsonSchema(withOutputs([output]), SCHEMA);
    assert(errors.length > 0, `${what} must not validate`);
    assert(errors.some((e) => e.path.startsWith("/cells/0")), `${what}: ${JSON.stringify(errors)}`);
  }
  const noId = JSON.parse(serializeNotebook(makeNotebook(["1"])));
  delete noId.cells[0].id;
  assertMatch(JSON.stringify(validateJsonSchema(noId, SCHEMA)), /oneOf/);
  const badId = JSON.parse(serializeNotebook(makeNotebook(["1"])));
  badId.cells[0].id = "has space";
  assert(validateJsonSchema(badId, SCHEMA).length > 0);
  const minor4 = JSON.parse(serializeNotebook(makeNotebook(["1"])));
  minor4.nbformat_minor = 4;
  assertEquals(validateJsonSchema(minor4, SCHEMA).map((e) => e.path), ["/nbformat_minor"]);
});

Deno.test("OutputCollector merges streams, applies display updates across cells and clear_output(wait)", () => {
  const nb = makeNotebook(["a", "b"]);
  const [a, b] = nb.cells as CodeCell[];
  const c = new OutputCollector();
  const msg = (type: string, content: Record<string, unknown>) => createMessage(type, content, "s");
  c.apply(a!, msg("stream", { name: "stdout", text: "1" }));
  c.apply(a!, msg("stream", { name: "stdout", text: "2\n" }));
  c.apply(a!, msg("stream", { name: "stderr", text: "e" }));
  c.apply(
    a!,
    msg("display_data", {
      data: { "text/plain": "old" },
      metadata: {},
      transient: { display_id: "p" },
    }),
  );
  c.apply(
    b!,
    msg("update_display_data", {
      data: { "text/plain": "new" },
      metadata: {},
      transient: { display_id: "p" },
    }),
  );
  assertEquals(a!.outputs, [
    { output_type: "stream", name: "stdout", text: "12\n" },
    { output_type: "stream", name: "stderr", text: "e" },
    { output_type: "display_data", data: { "text/plain": "new" }, metadata: {} },
  ]);
  assertEquals(b!.outputs, []);
  c.apply(b!, msg("stream", { name: "stdout", text: "x" }));
  c.apply(b!, msg("clear_output", { wait: true }));
  assertEquals(b!.outputs.length, 1);
  c.apply(b!, msg("stream", { name: "stdout", text: "y" }));
  assertEquals(b!.outputs, [{ output_type: "stream", name: "stdout", text: "y" }]);
  c.apply(b!, msg("execute_input", { code: "", execution_count: 7 }));
  assertEquals(b!.execution_count, 7);
});
