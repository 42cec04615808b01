/**
 * The notebooks of this run's report build (built once, shared with the
 * browser test): every one ran, every code cell has output, and each
 * executed .ipynb is valid nbformat 4.5 — by our schema check and, when
 * python3-nbformat is installed, by nbformat's own validator.
 */
import { assert, assertEquals } from "@std/assert";
import {
  type CodeCell,
  type JsonSchema,
  readNotebook,
  validateJsonSchema,
} from "../../lib/notebook/mod.ts";
import { ensureReportBuild, ROOT } from "../report/_build.ts";
import { haveTool } from "../report/_tools.ts";

const SCHEMA: JsonSchema = JSON.parse(
  await Deno.readTextFile(
    new URL("../fixtures/nbformat/nbformat.v4.5.schema.json", import.meta.url),
  ),
);

async function executedNotebooks(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/notebooks`)) {
    if (e.name.endsWith(".ipynb")) out.push(`${dir}/notebooks/${e.name}`);
  }
  return out.sort();
}

Deno.test("report build: every notebook ran and every code cell has output and no error", async () => {
  const build = await ensureReportBuild();
  assertEquals(build.code, 0, `tools/report.ts failed:\n${build.stderr}`);
  const files = await executedNotebooks(build.dir);
  assertEquals(files.length, build.build.notebooks.length);
  assert(files.length > 0);
  for (const file of files) {
    const nb = await readNotebook(file);
    const code = nb.cells.filter((c): c is CodeCell => c.cell_type === "code");
    for (const [i, cell] of code.entries()) {
      const tags = (cell.metadata.tags as string[] | undefined) ?? [];
      if (tags.includes("no-output")) continue;
      assert(cell.outputs.length > 0, `${file}: code cell ${i + 1} has no output`);
      assert(
        cell.outputs.every((o) => o.output_type !== "error"),
        `${file}: code cell ${i + 1} has an error`,
      );
      assertEquals(typeof cell.execution_count, "number");
    }
    assertEquals((nb.metadata.memremap_run as { status: string }).status, "ok");
  }
});

Deno.test("report build: executed notebooks validate against the nbformat 4.5 JSON schema", async () => {
  const build = await ensureReportBuild();
  for (const file of await executedNotebooks(build.dir)) {
    const doc = JSON.parse(await Deno.readTextFile(file));
    assertEquals(validateJsonSchema(doc, SCHEMA), [], file);
    assertEquals([doc.nbformat, doc.nbformat_minor], [4, 5]);
  }
});

Deno.test("report build: executed notebooks pass nbformat.validate (python3-nbformat)", async () => {
  if (!(await haveTool("python3-nbformat", "nbformat.validate on the executed notebooks"))) return;
  const build = await ensureReportBuild();
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [`${ROOT}/tests/report/validate_nbformat.py`, `${build.dir}/notebooks`],
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, text);
  assert(/(\d+) valid, 0 invalid/.test(text), text);
});

Deno.test("report build: build.json has timings, and the summary reports overhead and drain", async () => {
  const { build, stderr } = await ensureReportBuild();
  assertEquals(build.executed, true);
  assert(build.overhead.samples > 0);
  assert(build.overhead.meanMs <= 2, `executor overhead ${build.overhead.meanMs} ms`);
  assert(build.drain.notebooks === build.notebooks.length);
  assert(/executor overhead .* ms mean over \d+ cells/.test(stderr), stderr);
  assert(/final drain .* ms mean over \d+ notebooks/.test(stderr), stderr);
  for (const nb of build.notebooks) {
    assertEquals(nb.status, "ok");
    assert(nb.durationMs > 0 && nb.kernelStartMs > 0);
  }
});
