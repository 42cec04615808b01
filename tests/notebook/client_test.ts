/**
 * The Jupyter client against the real Deno kernel: outputs of every kind,
 * an error cell, a timeout, a kernel that dies, notebooks that cannot be
 * used, and no kernel process left afterwards.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import {
  type CodeCell,
  executeNotebook,
  Kernel,
  type NotebookRun,
  runNotebooks,
} from "../../lib/notebook/mod.ts";
import { makeNotebook, ourKernelProcesses, processAlive, writeTemp } from "./_helpers.ts";

const started: number[] = []; // kernel pids, checked at the end

function codeCells(run: NotebookRun): CodeCell[] {
  return run.notebook!.cells.filter((c): c is CodeCell => c.cell_type === "code");
}

function text(value: unknown): string {
  return Array.isArray(value) ? value.join("") : String(value);
}

Deno.test("executeNotebook() collects stream, display, execute_result, markdown, svg and png outputs in order", async () => {
  const nb = makeNotebook([
    'console.log("out 1"); console.log("out 2"); console.error("err 1");',
    "const x: number = 40 + 2;\nx",
    "await Deno.jupyter.display(Deno.jupyter.md`**bold**`);",
    'await Deno.jupyter.display({ "text/html": "<b>html</b>", "text/plain": "html" }, { raw: true });',
    'await Deno.jupyter.display({ "image/svg+xml": \'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>\' }, { raw: true });',
    "await Deno.jupyter.display(Deno.jupyter.image(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0])));",
    { source: "Not code: *markdown*.", markdown: true },
    'await Deno.jupyter.display({ "text/plain": "v1" }, { raw: true, display_id: "d" });\nawait Deno.jupyter.display({ "text/plain": "v2" }, { raw: true, display_id: "d", update: true });',
    "",
  ]);
  const kernel = await Kernel.start({ cwd: Deno.cwd() });
  started.push(kernel.pid);
  try {
    const { failure, stats } = await executeNotebook(kernel, nb, { name: "kinds.ipynb" });
    assertEquals(failure, null);
    assertEquals(stats.executedCells, 7); // the empty cell is skipped
    const cells = nb.cells.filter((c): c is CodeCell => c.cell_type === "code");
    assertEquals(cells.map((c) => c.execution_count), [1, 2, 3, 4, 5, 6, 7, null]);
    assertEquals(cells[0]!.outputs, [
      { output_type: "stream", name: "stdout", text: "out 1\nout 2\n" },
      { output_type: "stream", name: "stderr", text: "err 1\n" },
    ]);
    assertEquals(cells[1]!.outputs, [{
      output_type: "execute_result",
      execution_count: 2,
      data: { "text/plain": "42" },
      metadata: {},
    }]);
    assertEquals(cells[2]!.outputs[0]!.output_type, "display_data");
    assertEquals(
      text((cells[2]!.outputs[0] as { data: Record<string, unknown> }).data["text/markdown"]),
      "**bold**",
    );
    assertEquals((cells[3]!.outputs[0] as { data: unknown }).data, {
      "text/html": "<b>html</b>",
      "text/plain": "html",
    });
    assertStringIncludes(
      text((cells[4]!.outputs[0] as { data: Record<string, unknown> }).data["image/svg+xml"]),
      "<rect",
    );
    assertEquals(Object.keys((cells[5]!.outputs[0] as { data: Record<string, unknown> }).data), [
      "image/png",
    ]);
    assertEquals(cells[6]!.outputs, [{
      output_type: "display_data",
      data: { "text/plain": "v2" },
      metadata: {},
    }]);
    for (const c of cells) {
      for (const o of c.outputs) assert(!("transient" in o), "transient must be dropped");
    }
    const execution = cells[0]!.metadata.execution as Record<string, string>;
    for (
      const k of [
        "iopub.status.busy",
        "iopub.execute_input",
        "shell.execute_reply",
        "iopub.status.idle",
      ]
    ) {
      assertMatch(execution[k] ?? "", /^\d{4}-\d\d-\d\dT/, k);
    }
    assertEquals((nb.metadata.language_info as { name: string }).name, "typescript");
  } finally {
    await kernel.shutdown();
  }
  assert(!kernel.alive);
});

Deno.test("runNotebooks() stops at an error cell, names notebook and cell, and honours raises-exception", async () => {
  const nb = makeNotebook([
    { source: "# Title", markdown: true },
    { source: 'throw new RangeError("expected")', tags: ["raises-exception"] },
    'console.log("before");',
    '// the culprit\nJSON.parse("{oops");',
    'console.log("never");',
  ]);
  const tmp = await writeTemp({ "errors.ipynb": nb });
  try {
    const [run] = await runNotebooks([tmp.paths["errors.ipynb"]!]);
    started.push(run!.kernelPid!);
    assertEquals(run!.status, "failed");
    assertEquals(run!.failure?.kind, "cell-error");
    assertEquals(run!.failure?.cellIndex, 4);
    assertEquals(run!.failure?.cellFirstLine, "// the culprit");
    assertStringIncludes(run!.failure!.message, "errors.ipynb: cell 4");
    assertStringIncludes(run!.failure!.message, "SyntaxError");
    const cells = codeCells(run!);
    assertEquals(cells[0]!.outputs[0]!.output_type, "error"); // allowed by its tag
    assertEquals(cells[1]!.outputs, [{ output_type: "stream", name: "stdout", text: "before\n" }]);
    const err = cells[2]!.outputs.at(-1)!;
    assertEquals(err.output_type, "error");
    assertEquals((err as { ename: string }).ename, "SyntaxError");
    assertEquals(cells[3]!.outputs, []);
    assertEquals(cells[3]!.execution_count, null);
    const meta = run!.notebook!.metadata.memremap_run as { status: string; failure: string };
    assertEquals(meta.status, "failed");
    assertStringIncludes(meta.failure, "cell 4");
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("runNotebooks() times out an endless cell, kills its kernel and names the cell", async () => {
  const nb = makeNotebook([
    'console.log("ok");',
    "while (true) {}\n// spin",
    'console.log("never");',
  ]);
  const tmp = await writeTemp({ "spin.ipynb": nb });
  try {
    const t0 = performance.now();
    const [run] = await runNotebooks([tmp.paths["spin.ipynb"]!], { cellTimeoutMs: 1500 });
    const elapsed = performance.now() - t0;
    started.push(run!.kernelPid!);
    assertEquals(run!.failure?.kind, "timeout");
    assertEquals(run!.failure?.cellIndex, 2);
    assertEquals(run!.failure?.cellFirstLine, "while (true) {}");
    assertMatch(
      run!.failure!.message,
      /spin\.ipynb: cell 2 \("while \(true\) \{\}"\) did not finish within 1\.5 s/,
    );
    assert(elapsed < 10_000, `took ${elapsed} ms`);
    assert(!processAlive(run!.kernelPid!), "the kernel must be killed");
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("runNotebooks() reports a kernel that dies, with its exit code", async () => {
  const nb = makeNotebook(['console.log("alive");', "Deno.exit(1);", 'console.log("never");']);
  const tmp = await writeTemp({ "dies.ipynb": nb });
  try {
    const [run] = await runNotebooks([tmp.paths["dies.ipynb"]!]);
    started.push(run!.kernelPid!);
    assertEquals(run!.failure?.kind, "kernel-died");
    assertEquals(run!.failure?.cellIndex, 2);
    assertStringIncludes(run!.failure!.message, "dies.ipynb: cell 2");
    assertStringIncludes(run!.failure!.message, "exit code 1");
    assertEquals(codeCells(run!)[0]!.outputs.length, 1);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("runNotebooks() rejects malformed and foreign notebooks by name, without starting a kernel", async () => {
  const tmp = await writeTemp({
    "broken.ipynb": '{"cells": [',
    "nbformat3.ipynb": JSON.stringify({
      nbformat: 3,
      nbformat_minor: 0,
      metadata: {},
      worksheets: [],
    }),
    "python.ipynb": makeNotebook(["1"], {
      kernelspec: { name: "python3", display_name: "Python 3", language: "python" },
    }),
    "wrong-language.ipynb": makeNotebook(["1"], {
      kernelspec: { name: "deno-memremap", display_name: "x", language: "python" },
    }),
    "no-kernelspec.ipynb": { ...makeNotebook(["1"]), metadata: {} },
  });
  try {
    const paths = Object.values(tmp.paths);
    const runs = await runNotebooks([...paths, `${tmp.dir}/missing.ipynb`]);
    for (const run of runs) {
      assertEquals(run.failure?.kind, "invalid-notebook", run.path);
      assertEquals(run.kernelPid, null);
      assertStringIncludes(run.failure!.message, run.path);
    }
    const messages = runs.map((r) => r.failure!.message);
    assertMatch(messages[0]!, /broken\.ipynb: not valid JSON/);
    assertMatch(messages[1]!, /nbformat3\.ipynb: not an nbformat 4 notebook: nbformat/);
    assertMatch(messages[2]!, /python\.ipynb: metadata\.kernelspec names kernel "python3"/);
    assertMatch(
      messages[3]!,
      /wrong-language\.ipynb: metadata\.kernelspec names language "python"/,
    );
    assertMatch(messages[4]!, /no-kernelspec\.ipynb: metadata\.kernelspec\.name is missing/);
    assertMatch(messages[5]!, /missing\.ipynb: cannot read the file/);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("Kernel.start() fails clearly when the kernel command exits at once", async () => {
  let error: unknown = null;
  try {
    await Kernel.start({
      cwd: Deno.cwd(),
      argv: ["/bin/sh", "-c", "echo broken >&2; exit 3", "{connection_file}"],
    });
  } catch (e) {
    error = e;
  }
  assert(error instanceof Error);
  assertMatch(error.message, /exited with code 3 during start-up\nbroken/);
});

Deno.test("no kernel process is left behind, and connection files are removed", () => {
  assert(started.length >= 4, `expected kernels to have been started, got ${started}`);
  for (const pid of started) assert(!processAlive(pid), `kernel ${pid} is still running`);
  // Other test files of this run may have kernels running right now; ours must not.
  const leftovers = ourKernelProcesses().filter((p) => started.includes(p.pid));
  assertEquals(leftovers, []);
  for (const e of Deno.readDirSync(Deno.env.get("TMPDIR") || "/tmp")) {
    if (!e.name.startsWith(`memremap-kernel-${Deno.pid}-`)) continue;
    // A directory of ours must belong to a kernel that is still running (another file's).
    const conn = `${Deno.env.get("TMPDIR") || "/tmp"}/${e.name}/kernel.json`;
    const owners = ourKernelProcesses().filter((p) => p.cmdline.includes(conn));
    assert(owners.length > 0, `leftover connection file ${conn}`);
  }
});
