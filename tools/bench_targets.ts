/**
 * `deno task bench:targets [--runs N] [--only a,b] [--strict]`: runs the
 * benches that carry an issue's host-time target (`deno bench --json`, one
 * process per case and run) and prints each target beside the measured
 * average and minimum per operation — the figures a closing note quotes.
 *
 * One process per case, not per bench file: a case measured after another
 * in the same process runs slower. Each case object brings new closures of
 * the same functions (`run`, `setup`), V8's optimised code for the second
 * closure is slower than for the first, and the loss shows on the shortest
 * operations: get-dev-pagemap-1 takes 14 ns per lookup measured first and
 * 20 ns measured after get-dev-pagemap-1000 (or after itself). A second
 * machine run through the same closure costs nothing extra (14.4 ns). So
 * each case is measured as the first; `deno bench -A <file>` still runs a
 * whole file in one process.
 *
 * - `--runs N` (default 1): repeat; the average is the median of the runs'
 *   averages, the minimum the least of all.
 * - `--only a,b`: only these cases (names as in the table).
 * - `--strict`: exit 1 when a target is missed (for a quiet machine; CI does
 *   not run this, host time being a fact about the host).
 *
 * `DEVPRIV_PAGES` passes through to bench/fault_bench.ts. Run it with nothing
 * else on the machine: the figures are wall time.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  BENCH_TARGETS,
  type DenoBenchJson,
  evaluateTargets,
  formatTargets,
} from "../lib/bench/targets.ts";

const ROOT = new URL("..", import.meta.url).pathname;

function usage(msg: string): never {
  console.error(`bench_targets: ${msg}`);
  console.error("usage: deno task bench:targets [--runs N] [--only name,name] [--strict]");
  Deno.exit(2);
}

let args;
try {
  args = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "1" },
      only: { type: "string" },
      strict: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (e) {
  usage((e as Error).message);
}
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 1) usage(`--runs must be an integer ≥ 1, not ${args.runs}`);
const names = args.only?.split(",").map((s) => s.trim()).filter((s) => s !== "");
const unknown = names?.filter((n) => !BENCH_TARGETS.some((t) => t.name === n)) ?? [];
if (unknown.length > 0) {
  usage(
    `no target named ${unknown.join(", ")} (known: ${BENCH_TARGETS.map((t) => t.name).join(", ")})`,
  );
}
const targets = BENCH_TARGETS.filter((t) => names === undefined || names.includes(t.name));

/** Runs one bench file for the given cases and returns its JSON. */
async function benchJson(file: string, cases: readonly string[]): Promise<DenoBenchJson> {
  const filter = `/^(${cases.map((c) => c.replace(/[-]/g, "\\-")).join("|")})$/`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bench", "-A", "--json", "--filter", filter, file],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    console.error(new TextDecoder().decode(out.stderr));
    throw new Error(`deno bench ${file} failed (exit ${out.code})`);
  }
  return JSON.parse(text.slice(text.indexOf("{"))) as DenoBenchJson;
}

const outputs: DenoBenchJson[] = [];
for (let r = 1; r <= runs; r++) {
  for (const t of targets) {
    console.error(`run ${r}/${runs}: ${t.file} (${t.name})`);
    outputs.push(await benchJson(t.file, [t.name]));
  }
}
const results = evaluateTargets(outputs, targets);
const head = outputs[0];
console.log(
  `${head?.runtime ?? "deno"} on ${head?.cpu ?? "an unknown CPU"}, ${runs} run${
    runs === 1 ? "" : "s"
  }; per operation (GPU: per batch; memmap: per registration)\n`,
);
console.log(formatTargets(results));
const missed = results.filter((r) => !r.met).length;
console.log(`\n${results.length - missed} of ${results.length} targets met`);
if (args.strict && missed > 0) Deno.exit(1);
