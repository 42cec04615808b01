/**
 * The Deno kernel can report idle before a cell's last outputs arrive; the
 * executor routes by parent msg_id and keeps listening. 500 cells, each with
 * a console.log, a display and a trailing expression carrying its index:
 * nothing may be missing, in the wrong cell, or duplicated.
 */
import { assert, assertEquals } from "@std/assert";
import { type CodeCell, runNotebooks } from "../../lib/notebook/mod.ts";
import { makeNotebook, processAlive, writeTemp } from "./_helpers.ts";

const N = 500;

Deno.test(`runNotebooks() puts every output of ${N} fast cells into its own cell, once`, async () => {
  const cells = Array.from({ length: N }, (_, i) =>
    `console.log("log ${i}");\n` +
    `await Deno.jupyter.display({ "text/plain": "display ${i}" }, { raw: true });\n` +
    `"expr ${i}"`);
  const tmp = await writeTemp({ "many.ipynb": makeNotebook(cells) });
  try {
    const t0 = performance.now();
    const [run] = await runNotebooks([tmp.paths["many.ipynb"]!]);
    const wall = performance.now() - t0;
    assertEquals(run!.failure, null);
    const seen = new Map<string, number[]>(); // token -> cells it appeared in
    const code = run!.notebook!.cells.filter((c): c is CodeCell => c.cell_type === "code");
    code.forEach((cell, i) => {
      for (const o of cell.outputs) {
        const t = o.output_type === "stream"
          ? [o.text].flat().join("")
          : "data" in o
          ? [o.data["text/plain"]].flat().join("")
          : JSON.stringify(o);
        for (const m of t.matchAll(/(log|display|expr) (\d+)/g)) {
          const key = `${m[1]} ${m[2]}`;
          seen.set(key, [...(seen.get(key) ?? []), i]);
        }
      }
    });
    let missing = 0, wrong = 0, duplicated = 0;
    for (let i = 0; i < N; i++) {
      for (const kind of ["log", "display", "expr"]) {
        const where = seen.get(`${kind} ${i}`) ?? [];
        if (where.length === 0) missing++;
        if (where.length > 1) duplicated++;
        if (where.some((c) => c !== i)) {
          wrong++;
          console.log(`${kind} ${i} found in cell(s) ${where}`);
        }
      }
    }
    const stats = run!.stats!;
    const overhead = stats.overheadMs.reduce((a, b) => a + b, 0) / stats.overheadMs.length;
    console.log(
      `${N} cells: ${wall.toFixed(0)} ms wall (kernel start ${
        run!.kernelStartMs.toFixed(0)
      } ms), ` +
        `overhead ${overhead.toFixed(3)} ms/cell, drain ${stats.drainMs.toFixed(1)} ms, ` +
        `${stats.lateMessages} outputs after idle (${stats.reroutedResults} results re-routed by execution_count, ${stats.reroutedOutputs} outputs before their execute_input); missing ${missing}, wrong cell ${wrong}, duplicated ${duplicated}`,
    );
    assertEquals({ missing, wrong, duplicated }, { missing: 0, wrong: 0, duplicated: 0 });
    assertEquals(code.map((c) => c.execution_count), code.map((_, i) => i + 1));
    assertEquals(stats.overheadMs.length, N - 1);
    assert(overhead <= 2, `executor overhead ${overhead} ms per cell is above 2 ms`);
    assert(!processAlive(run!.kernelPid!));
  } finally {
    await tmp.cleanup();
  }
});
