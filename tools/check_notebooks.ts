/**
 * `deno run -A tools/check_notebooks.ts [notebooks...]` (part of `deno task check`).
 *
 * The Deno kernel never type-checks, and `deno check` cannot read .ipynb. For
 * each notebook (default: notebooks/*.ipynb) this script:
 *
 * 1. fails if a code cell has a stored output or execution count (notebooks
 *    are committed clean; the report executes them);
 * 2. fails if a top-level name is declared in two cells (the kernel keeps one
 *    scope, so the second cell would fail or shadow the first);
 * 3. writes the code cells, in order, to `.notebook-check/<name>.ts` (git-ignored),
 *    with relative imports rewritten for that directory, and runs `deno check`
 *    on all of them at once.
 *
 * Exits 1 naming notebook, cell and problem; 0 when every notebook is clean.
 *
 * @module
 */
import { basename, dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const OUT = join(ROOT, ".notebook-check");

interface Cell {
  cell_type: string;
  id?: string;
  source: string | string[];
  outputs?: unknown[];
  execution_count?: number | null;
}

/** One problem found in a notebook. */
interface Problem {
  notebook: string;
  cell: number | null;
  message: string;
}

function sourceOf(cell: Cell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

/** The index just past a comment starting at `i`, or -1 if none starts there. */
function skipComment(src: string, i: number): number {
  if (src[i] !== "/") return -1;
  if (src[i + 1] === "/") {
    const e = src.indexOf("\n", i);
    return e < 0 ? src.length : e;
  }
  if (src[i + 1] === "*") {
    const e = src.indexOf("*/", i + 2);
    return e < 0 ? src.length : e + 2;
  }
  return -1;
}

/** The index just past the string or template literal whose quote is at `i`. */
function skipString(src: string, i: number): number {
  const q = src[i]!;
  i++;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "\\") i += 2;
    else if (q === "`" && c === "$" && src[i + 1] === "{") i = skipBraces(src, i + 1);
    else if (c === q) return i + 1;
    else i++;
  }
  return src.length;
}

/** The index just past the `}` matching the `{` at `i` (strings and comments skipped). */
function skipBraces(src: string, i: number): number {
  let depth = 0;
  while (i < src.length) {
    const c = src[i]!;
    const comment = skipComment(src, i);
    if (comment >= 0) i = comment;
    else if (c === '"' || c === "'" || c === "`") i = skipString(src, i);
    else {
      if (c === "{") depth++;
      else if (c === "}" && --depth === 0) return i + 1;
      i++;
    }
  }
  return src.length;
}

/**
 * The cell's text with comments, strings and everything inside brackets
 * blanked out (same length, newlines kept), so that only top-level tokens remain.
 */
function topLevel(src: string): string {
  const out = src.split("");
  const blank = (a: number, b: number) => {
    for (let j = a; j < b; j++) if (out[j] !== "\n") out[j] = " ";
  };
  let depth = 0;
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const comment = skipComment(src, i);
    if (comment >= 0) {
      blank(i, comment);
      i = comment;
    } else if (c === '"' || c === "'" || c === "`") {
      const j = skipString(src, i);
      blank(i, j);
      i = j;
    } else {
      // brackets at the top level stay visible; everything inside them is blanked
      if ("{([".includes(c)) {
        if (depth > 0) blank(i, i + 1);
        depth++;
      } else if ("})]".includes(c)) {
        depth = Math.max(0, depth - 1);
        if (depth > 0) blank(i, i + 1);
      } else if (depth > 0) blank(i, i + 1);
      i++;
    }
  }
  return out.join("");
}

const IDENT = /^[A-Za-z_$][\w$]*/;

/** Names bound by a destructuring pattern (`{ a, b: c, ...d }` or `[a, , b]`). */
function patternNames(pattern: string): string[] {
  const inner = pattern.slice(1, -1);
  const parts: string[] = [];
  let depth = 0, last = 0;
  for (let i = 0; i <= inner.length; i++) {
    const c = inner[i];
    if (c === undefined || (c === "," && depth === 0)) {
      parts.push(inner.slice(last, i).trim());
      last = i + 1;
    } else if ("{[(".includes(c)) depth++;
    else if ("}])".includes(c)) depth--;
  }
  const names: string[] = [];
  for (let p of parts) {
    if (p === "") continue;
    p = p.replace(/^\.\.\./, "");
    const colon = p.search(/:(?![^{[]*[}\]])/);
    let target = colon >= 0 && pattern[0] === "{" ? p.slice(colon + 1).trim() : p;
    target = target.replace(/=.*$/s, "").trim();
    if (target.startsWith("{") || target.startsWith("[")) names.push(...patternNames(target));
    else {
      const m = IDENT.exec(target);
      if (m) names.push(m[0]);
    }
  }
  return names;
}

/** The names of `a = 1, b = 2` (top-level text) up to the end of the statement; "" for a part without one. */
function declarators(flat: string): string[] {
  const end = flat.search(/[;\n]/);
  return (end < 0 ? flat : flat.slice(0, end)).split(",").map((d) =>
    IDENT.exec(d.trim())?.[0] ?? ""
  ).filter((n, i) => n !== "" || i === 0);
}

/** The top-level names a cell declares: const/let/var, function, class, enum, imports. */
export function declaredNames(src: string): string[] {
  const flat = topLevel(src);
  const names: string[] = [];
  const decl =
    /(^|[;\n])\s*(?:export\s+)?(?:declare\s+)?(const|let|var|(?:async\s+)?function\*?|class|enum)\s*([A-Za-z_$][\w$]*|[{[])?/g;
  for (const m of flat.matchAll(decl)) {
    const kind = m[2]!;
    const at = m.index! + m[0].length;
    if (/function|class|enum/.test(kind)) {
      if (m[3] && IDENT.test(m[3])) names.push(m[3]);
      continue;
    }
    if (m[3] === "{" || m[3] === "[") {
      // a destructuring pattern: read it from the original text
      const open = at - 1;
      let depth = 0, j = open;
      for (; j < src.length; j++) {
        if ("{[".includes(src[j]!)) depth++;
        else if ("}]".includes(src[j]!) && --depth === 0) break;
      }
      names.push(...patternNames(src.slice(open, j + 1)));
      names.push(...declarators(flat.slice(j + 1)).slice(1));
      continue;
    }
    // `const a = 1, b = 2`: the declarators up to the end of the statement
    names.push(...declarators(flat.slice(at - (m[3]?.length ?? 0))).filter((n) => n !== ""));
  }
  const imp = /(^|[;\n])\s*import\s+(type\s+)?([^;]*?)\s+from\s/g;
  for (const m of src.matchAll(imp)) {
    const clause = m[3]!;
    const star = /\*\s+as\s+([A-Za-z_$][\w$]*)/.exec(clause);
    if (star) names.push(star[1]!);
    const def = /^([A-Za-z_$][\w$]*)\s*(,|$)/.exec(clause.trim());
    if (def) names.push(def[1]!);
    const braces = /\{([^}]*)\}/.exec(clause);
    if (braces) {
      for (const spec of braces[1]!.split(",")) {
        const s = spec.trim().replace(/^type\s+/, "");
        if (s === "") continue;
        const as = /\sas\s+([A-Za-z_$][\w$]*)$/.exec(s);
        names.push(as ? as[1]! : IDENT.exec(s)?.[0] ?? s);
      }
    }
  }
  return names;
}

/** Rewrites relative module specifiers of `src`, written for `fromDir`, for a file in `toDir`. */
function rewriteImports(src: string, fromDir: string, toDir: string): string {
  const fix = (spec: string) => {
    if (!spec.startsWith("./") && !spec.startsWith("../")) return spec;
    let r = relative(toDir, resolve(fromDir, spec));
    if (!r.startsWith(".")) r = `./${r}`;
    return r;
  };
  return src
    .replace(/(\bfrom\s*)(["'])([^"']+)\2/g, (_m, a, q, s) => `${a}${q}${fix(s)}${q}`)
    .replace(/(\bimport\s*\(\s*)(["'])([^"']+)\2/g, (_m, a, q, s) => `${a}${q}${fix(s)}${q}`)
    .replace(
      /(^|\n)(\s*import\s*)(["'])([^"']+)\3/g,
      (_m, a, b, q, s) => `${a}${b}${q}${fix(s)}${q}`,
    );
}

async function listNotebooks(): Promise<string[]> {
  const dir = join(ROOT, "notebooks");
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".ipynb") && !e.name.startsWith(".")) {
        out.push(join(dir, e.name));
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** Checks one notebook's cells and writes its .ts; returns the problems and the file written. */
async function prepare(path: string): Promise<{ problems: Problem[]; file: string | null }> {
  const name = relative(ROOT, path);
  const problems: Problem[] = [];
  let nb: { cells?: Cell[] };
  try {
    nb = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    return {
      problems: [{ notebook: name, cell: null, message: `cannot read: ${(e as Error).message}` }],
      file: null,
    };
  }
  const cells = nb.cells ?? [];
  const first = new Map<string, number>();
  const parts: string[] = [
    '/// <reference lib="deno.ns" />',
    '/// <reference lib="deno.unstable" />',
    `// Generated by tools/check_notebooks.ts from ${name}: its code cells, in order. Do not edit.`,
    "",
  ];
  const toDir = OUT;
  cells.forEach((cell, index) => {
    if (cell.cell_type !== "code") return;
    const n = index + 1;
    if ((cell.outputs?.length ?? 0) > 0 || (cell.execution_count ?? null) !== null) {
      problems.push({
        notebook: name,
        cell: n,
        message: "has a stored output (commit notebooks without outputs)",
      });
    }
    const src = sourceOf(cell);
    for (const id of new Set(declaredNames(src))) {
      const was = first.get(id);
      if (was !== undefined && was !== n) {
        problems.push({
          notebook: name,
          cell: n,
          message: `redeclares \`${id}\` (first declared in cell ${was})`,
        });
      } else first.set(id, n);
    }
    parts.push(
      `// --- cell ${n}${cell.id ? ` (${cell.id})` : ""}`,
      rewriteImports(src, dirname(path), toDir),
      "",
    );
  });
  const file = join(OUT, `${basename(path, ".ipynb")}.ts`);
  await Deno.writeTextFile(file, `${parts.join("\n")}\nexport {};\n`);
  return { problems, file };
}

if (import.meta.main) {
  const args = Deno.args.map((a) => resolve(a));
  const notebooks = args.length > 0 ? args : await listNotebooks();
  if (notebooks.length === 0) {
    console.log("check_notebooks: no notebooks");
    Deno.exit(0);
  }
  await Deno.mkdir(OUT, { recursive: true });
  const problems: Problem[] = [];
  const files: string[] = [];
  for (const nb of notebooks) {
    const r = await prepare(nb);
    problems.push(...r.problems);
    if (r.file !== null) files.push(r.file);
  }
  for (const p of problems) {
    console.error(`${p.notebook}${p.cell === null ? "" : `, cell ${p.cell}`}: ${p.message}`);
  }
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", ...files],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!check.success) {
    console.error(
      `check_notebooks: deno check failed on the code cells (generated files in ${
        relative(ROOT, OUT)
      }/)`,
    );
  }
  const ok = problems.length === 0 && check.success;
  console.error(
    `check_notebooks: ${notebooks.length} notebook${notebooks.length === 1 ? "" : "s"}, ${
      ok
        ? "clean"
        : `${problems.length} problem${problems.length === 1 ? "" : "s"}${
          check.success ? "" : ", type errors"
        }`
    }`,
  );
  Deno.exit(ok ? 0 : 1);
}
