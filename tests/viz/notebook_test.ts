/**
 * The figures fixture notebook on the real Deno kernel: every code cell ends
 * with `await show(...)`, so every code cell has display_data outputs and
 * no execute_result, and every figure arrives as text/html whose svgs carry
 * xmlns and a size — what JupyterLab, VS Code, nbconvert and our report need.
 */
import { assert, assertEquals } from "@std/assert";
import { type CodeCell, runNotebooks } from "../../lib/notebook/mod.ts";
import { assertSvgShape } from "./_snapshot.ts";

const NOTEBOOK = new URL("../fixtures/notebooks/04-figures-viz.ipynb", import.meta.url).pathname;

Deno.test("figures fixture notebook: each cell shows its figures as text/html display_data, with xmlns", async () => {
  const [run] = await runNotebooks([NOTEBOOK], { cellTimeoutMs: 60_000, prestart: false });
  assertEquals(run!.failure, null, run!.failure?.message);
  const code = run!.notebook!.cells.filter((c): c is CodeCell => c.cell_type === "code");
  let figures = 0;
  for (const [i, cell] of code.entries()) {
    assert(cell.outputs.length > 0, `code cell ${i + 1} has no output`);
    for (const o of cell.outputs) {
      assertEquals(o.output_type, "display_data", `code cell ${i + 1}: ${o.output_type}`);
      const data = (o as { data: Record<string, string | string[]> }).data;
      assert(typeof data["text/plain"] !== "undefined", `code cell ${i + 1}: no text/plain`);
      assert(!("image/svg+xml" in data), `code cell ${i + 1}: SVG sent as image/svg+xml`);
      const html = data["text/html"];
      if (html === undefined) continue;
      const markup = Array.isArray(html) ? html.join("") : html;
      if (markup.includes("<svg")) {
        assertSvgShape(markup);
        figures++;
      }
    }
  }
  assertEquals(figures, 6);
});
