/**
 * `deno run -R tests/report/_compare_outputs.ts <ours-dir> <theirs-dir>`
 *
 * For nbconvert_compat.sh: compares, cell by cell, the outputs of the
 * notebooks our executor wrote with those `jupyter nbconvert --execute`
 * wrote, and prints how many outputs nbconvert is missing (the Deno
 * kernel's idle-before-output race) and how many code cells it left without
 * any output. Exits 0 (a count, not a failure) unless a notebook is absent.
 *
 * @module
 */
import { type CodeCell, readNotebook } from "../../lib/notebook/nbformat.ts";

const [ours, theirs] = Deno.args;
if (!ours || !theirs) {
  console.error("usage: _compare_outputs.ts <ours-dir> <theirs-dir>");
  Deno.exit(2);
}
let missing = 0, emptyCells = 0, total = 0, cells = 0, absent = 0;
for await (const e of Deno.readDir(theirs)) {
  if (!e.name.endsWith(".ipynb")) continue;
  const a = await readNotebook(`${ours}/${e.name}`).catch(() => null);
  if (a === null) {
    console.log(`  ${e.name}: not in ${ours}`);
    absent++;
    continue;
  }
  const b = await readNotebook(`${theirs}/${e.name}`);
  const code = (nb: typeof a) => nb.cells.filter((c): c is CodeCell => c.cell_type === "code");
  const [ca, cb] = [code(a), code(b)];
  let nbMissing = 0, nbEmpty = 0;
  ca.forEach((cell, i) => {
    const theirsCount = cb[i]?.outputs.length ?? 0;
    cells++;
    total += cell.outputs.length;
    if (theirsCount < cell.outputs.length) nbMissing += cell.outputs.length - theirsCount;
    if (cell.outputs.length > 0 && theirsCount === 0) nbEmpty++;
  });
  missing += nbMissing;
  emptyCells += nbEmpty;
  console.log(`  ${e.name}: nbconvert missing ${nbMissing} outputs, ${nbEmpty} cells left empty`);
}
console.log(
  `nbconvert missing outputs: ${missing} of ${total} (${emptyCells} of ${cells} code cells left empty)`,
);
Deno.exit(absent ? 1 : 0);
