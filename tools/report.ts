/**
 * `deno task report [--no-execute] [--out site] [--timeout s] [--jobs n] [--verbose] [notebooks...]`
 *
 * Executes every notebook (default: notebooks/*.ipynb, or the fixtures in
 * tests/fixtures/notebooks while notebooks/ has none) on the real Deno
 * kernel and writes a static site: `<out>/index.html`, `<out>/<name>.html`,
 * the executed notebooks in `<out>/notebooks/`, and `<out>/build.json`
 * (statuses and timings, for tests and CI). Progress and a summary go to
 * stderr. Exits 1, naming notebook and cell, if anything failed; 2 on bad
 * usage.
 *
 * With `--no-execute`, renders each notebook as already executed in
 * `<out>/notebooks/` (or as stored, if it was never executed).
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  DEFAULT_CELL_TIMEOUT_MS,
  type Notebook,
  NotebookError,
  type NotebookRun,
  readNotebook,
  runNotebooks,
} from "../lib/notebook/mod.ts";
import { formatDuration, pageName, type SiteNotebook, writeSite } from "../lib/report/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const USAGE =
  "usage: deno task report [--no-execute] [--out site] [--timeout seconds] [--jobs n] [--verbose] [notebooks...]";

/** One notebook's line in build.json. */
interface BuildNotebook {
  path: string;
  name: string;
  status: "ok" | "failed" | "not-executed";
  failure: string | null;
  failedCell: number | null;
  cells: number;
  executedCells: number;
  durationMs: number | null;
  kernelWaitMs: number | null;
  kernelStartMs: number | null;
  overheadMeanMs: number | null;
  drainMs: number | null;
  lateMessages: number | null;
  rejectedMessages: number | null;
}

function rel(path: string): string {
  return path.startsWith(ROOT + "/") ? path.slice(ROOT.length + 1) : path;
}

async function listNotebooks(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".ipynb") && !e.name.startsWith(".")) {
        out.push(`${dir}/${e.name}`);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

async function chooseNotebooks(args: string[]): Promise<string[]> {
  if (args.length > 0) {
    const out: string[] = [];
    for (const a of args) {
      const stat = await Deno.stat(a).catch(() => null);
      if (stat?.isDirectory) out.push(...await listNotebooks(a.replace(/\/$/, "")));
      else out.push(a);
    }
    return out;
  }
  const real = await listNotebooks(`${ROOT}/notebooks`);
  if (real.length > 0) return real.map(rel);
  console.error(
    "report: notebooks/ has no .ipynb yet; building from tests/fixtures/notebooks instead",
  );
  return (await listNotebooks(`${ROOT}/tests/fixtures/notebooks`)).map(rel);
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function progressPrinter(verbose: boolean) {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  const lastPrint = new Map<string, number>();
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  let lineOpen = false;
  return {
    cell(notebook: string, n: number, total: number, elapsedMs: number) {
      const line = `  ${rel(notebook)}: cell ${n}/${total} (${formatDuration(elapsedMs)})`;
      if (tty && !verbose) {
        write(`\r\x1b[2K${line}`);
        lineOpen = true;
        return;
      }
      const now = performance.now();
      if (verbose || now - (lastPrint.get(notebook) ?? now) >= 2000) {
        write(line + "\n");
        lastPrint.set(notebook, now);
      } else if (!lastPrint.has(notebook)) {
        lastPrint.set(notebook, now);
      }
    },
    line(text: string) {
      write(`${lineOpen ? "\r\x1b[2K" : ""}${text}\n`);
      lineOpen = false;
    },
  };
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        "no-execute": { type: "boolean", default: false },
        out: { type: "string", default: "site" },
        timeout: { type: "string" },
        jobs: { type: "string" },
        verbose: { type: "boolean", short: "v", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(`report: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const timeoutS = values.timeout === undefined
    ? DEFAULT_CELL_TIMEOUT_MS / 1000
    : Number(values.timeout);
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
  if (!(timeoutS > 0) || (jobs !== undefined && !(Number.isInteger(jobs) && jobs > 0))) {
    console.error(`report: --timeout must be > 0 and --jobs a positive integer\n${USAGE}`);
    return 2;
  }
  const out = values.out.replace(/\/$/, "") || ".";
  const t0 = performance.now();
  const paths = await chooseNotebooks(positionals);
  if (paths.length === 0) {
    console.error("report: no notebooks to build");
    return 1;
  }
  const progress = progressPrinter(values.verbose);
  const names = new Map<string, string>();
  for (const p of paths) {
    let name = pageName(p);
    for (let n = 2; [...names.values()].includes(name); n++) name = `${pageName(p)}-${n}`;
    names.set(p, name);
  }

  const records: BuildNotebook[] = [];
  const site: SiteNotebook[] = [];
  const failures: string[] = [];
  const overheads: number[] = [];
  const drains: number[] = [];

  if (values["no-execute"]) {
    progress.line(`report: rendering ${paths.length} notebooks without executing them`);
    for (const p of paths) {
      const name = names.get(p)!;
      const executed = `${out}/notebooks/${name}.ipynb`;
      let notebook: Notebook;
      try {
        const useExecuted = await Deno.stat(executed).then(() => true, () => false);
        notebook = await readNotebook(useExecuted ? executed : p);
      } catch (e) {
        failures.push(e instanceof NotebookError ? e.message : String(e));
        continue;
      }
      site.push({ name, notebook });
      const run = notebook.metadata.memremap_run as { status?: "ok" | "failed" } | undefined;
      records.push({
        path: p,
        name,
        status: run?.status ?? "not-executed",
        failure: null,
        failedCell: null,
        cells: notebook.cells.length,
        executedCells: 0,
        durationMs: null,
        kernelWaitMs: null,
        kernelStartMs: null,
        overheadMeanMs: null,
        drainMs: null,
        lateMessages: null,
        rejectedMessages: null,
      });
    }
  } else {
    progress.line(
      `report: executing ${paths.length} notebooks (${jobs ?? "up to 2"} at once, ` +
        `cell timeout ${timeoutS} s)`,
    );
    const runs: NotebookRun[] = await runNotebooks(paths, {
      cellTimeoutMs: timeoutS * 1000,
      ...(jobs === undefined ? {} : { concurrency: jobs }),
      onProgress: (e) => progress.cell(e.notebook, e.cell, e.cells, e.elapsedMs),
      onDone: (r) =>
        progress.line(
          `  ${r.status === "ok" ? "ok    " : "FAILED"} ${rel(r.path)}` +
            (r.stats
              ? ` (${r.stats.executedCells} cells, ${formatDuration(r.stats.durationMs)})`
              : ""),
        ),
      onWarning: (m) => progress.line(`  warning: ${m}`),
    });
    for (const r of runs) {
      const name = names.get(r.path)!;
      if (r.failure) failures.push(r.failure.message);
      if (r.stats) {
        overheads.push(...r.stats.overheadMs);
        drains.push(r.stats.drainMs);
      }
      if (r.notebook) {
        const entry: SiteNotebook = { name, notebook: r.notebook };
        if (r.failure?.cellIndex) entry.failedCell = r.failure.cellIndex;
        site.push(entry);
      }
      records.push({
        path: r.path,
        name,
        status: r.status,
        failure: r.failure?.message ?? null,
        failedCell: r.failure?.cellIndex ?? null,
        cells: r.notebook?.cells.length ?? 0,
        executedCells: r.stats?.executedCells ?? 0,
        durationMs: r.stats?.durationMs ?? null,
        kernelWaitMs: r.kernelWaitMs,
        kernelStartMs: r.kernelStartMs,
        overheadMeanMs: r.stats ? mean(r.stats.overheadMs) : null,
        drainMs: r.stats?.drainMs ?? null,
        lateMessages: r.stats?.lateMessages ?? null,
        rejectedMessages: r.stats?.rejectedMessages ?? null,
      });
    }
  }

  const builtAt = new Date().toISOString();
  await writeSite(out, site, {
    subtitle: `Built ${builtAt.replace(/\.\d+Z$/, "Z")} with Deno ${Deno.version.deno}` +
      (values["no-execute"] ? " (not executed)" : ""),
  });
  const wallMs = performance.now() - t0;
  const overheadMean = mean(overheads);
  const drainMean = mean(drains);
  const build = {
    builtAt,
    deno: Deno.version.deno,
    executed: !values["no-execute"],
    out,
    wallMs,
    notebooks: records,
    overhead: {
      meanMs: overheadMean,
      maxMs: overheads.length ? Math.max(...overheads) : null,
      samples: overheads.length,
    },
    drain: {
      meanMs: drainMean,
      totalMs: drains.reduce((a, b) => a + b, 0),
      notebooks: drains.length,
    },
    failures,
  };
  await Deno.writeTextFile(`${out}/build.json`, JSON.stringify(build, null, 2) + "\n");

  // Summary.
  progress.line("");
  progress.line("report summary");
  for (const r of records) {
    const time = r.durationMs === null ? "-" : formatDuration(r.durationMs);
    progress.line(
      `  ${r.status.padEnd(12)} ${r.name.padEnd(28)} ${String(r.cells).padStart(4)} cells  ${time}`,
    );
  }
  if (!values["no-execute"]) {
    progress.line(
      `  executor overhead (idle+reply -> next execute_request): ${
        overheadMean === null ? "n/a" : `${overheadMean.toFixed(3)} ms mean`
      } over ${overheads.length} cells` +
        (overheads.length ? `, max ${Math.max(...overheads).toFixed(3)} ms` : ""),
    );
    progress.line(
      `  final drain (quiet 20 ms after the last cell): ${
        drainMean === null ? "n/a" : `${drainMean.toFixed(1)} ms mean`
      } over ${drains.length} notebooks`,
    );
  }
  progress.line(
    `  site: ${out}/index.html (${site.length} pages), built in ${formatDuration(wallMs)}`,
  );
  if (failures.length) {
    progress.line("");
    for (const f of failures) progress.line(`FAILED: ${f}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
