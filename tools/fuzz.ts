/**
 * `deno task fuzz [--runs N] [--seed S] [--steps N] [--series v5.2|v5.0|v4.20|0..7]
 *   [--unaligned] [--touch-dying] [--shared-hugetlb-fault] [--kinds a,b,...]
 *   [--points a,b,...]
 *   [--shrink-runs N] [--shrink-seconds N] [--no-shrink] [--path P] [--replay JSON]
 *   [--progress N]`
 *
 * Runs the model-based fuzzer of lib/check/fuzz.ts: N random whole-machine
 * operation sequences (default 2,000, at most --steps each) on the `fuzz`
 * machine, every invariant checked after every step. Prints the sequences
 * and steps checked and the wall time. A failure is shrunk and printed with
 * its seed, its fast-check path and the sequence as JSON; `--replay JSON`
 * runs such a sequence again (and prints every step), `--seed S --path P`
 * replays fast-check's case. Exits 1 on a failure, 2 on bad usage.
 *
 * Long runs go in slices of --progress sequences (default 10,000; seeds S,
 * S+1, ...), each slice reported on stderr with the sequences, steps,
 * elapsed time and rate so far; a failure names its slice's seed. Without
 * --seed the seed is time based (and printed).
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  formatFailure,
  fuzz,
  type FuzzOptions,
  type FuzzSequence,
  OP_KINDS,
  type OpKind,
  replaySequence,
} from "../lib/check/fuzz.ts";

const USAGE =
  "usage: deno task fuzz [--runs N] [--seed S] [--steps N] [--series P] [--unaligned] [--touch-dying] [--shared-hugetlb-fault] [--kinds a,b] [--points a,b] [--shrink-runs N] [--shrink-seconds N] [--no-shrink] [--path P] [--replay JSON] [--progress N]";

function die(msg: string): never {
  console.error(`fuzz: ${msg}\n${USAGE}`);
  Deno.exit(2);
}

function int(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) die(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

let args;
try {
  args = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string" },
      seed: { type: "string" },
      steps: { type: "string" },
      series: { type: "string" },
      unaligned: { type: "boolean" },
      "touch-dying": { type: "boolean" },
      "shared-hugetlb-fault": { type: "boolean" },
      "shrink-runs": { type: "string" },
      kinds: { type: "string" },
      points: { type: "string" },
      "shrink-seconds": { type: "string" },
      "no-shrink": { type: "boolean" },
      path: { type: "string" },
      replay: { type: "string" },
      progress: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }).values;
} catch (e) {
  die((e as Error).message);
}
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}

const opts: FuzzOptions = {};
if (args.series !== undefined) {
  const s = args.series;
  opts.series = /^\d+$/.test(s) ? Number(s) : s as "v5.2";
}
if (args.unaligned) opts.aligned = false;
if (args["touch-dying"]) opts.touchDyingDeviceMemory = true;
if (args["shared-hugetlb-fault"]) opts.sharedHugetlbFault = true;
if (args.kinds !== undefined) {
  const kinds = args.kinds.split(",").filter((x) => x !== "");
  for (const k of kinds) {
    if (!(OP_KINDS as readonly string[]).includes(k)) {
      die(`unknown op kind "${k}" (known: ${OP_KINDS.join(", ")})`);
    }
  }
  opts.kinds = kinds as OpKind[];
}
if (args.points !== undefined) opts.points = args.points.split(",").filter((x) => x !== "");
const steps = int("steps", args.steps, 1);
if (steps !== undefined) opts.maxSteps = steps;
const shrink = int("shrink-seconds", args["shrink-seconds"], 0);
if (shrink !== undefined) opts.shrinkMs = shrink * 1000;
const shrinkRuns = int("shrink-runs", args["shrink-runs"], 0);
if (shrinkRuns !== undefined) opts.shrinkRuns = shrinkRuns;
if (args["no-shrink"]) opts.noShrink = true;
if (args.path !== undefined) opts.path = args.path;

if (args.replay !== undefined) {
  let seq: FuzzSequence;
  try {
    seq = JSON.parse(args.replay);
  } catch (e) {
    die(`--replay is not JSON: ${(e as Error).message}`);
  }
  if (typeof seq !== "object" || seq === null || !Array.isArray(seq.ops)) {
    die(`--replay must be {"scheduleSeed": n, "ops": [...]}, as a failure prints it`);
  }
  seq.scheduleSeed ??= 0;
  const o = replaySequence(seq, opts);
  o.log.forEach((s, i) => console.log(`${i + 1}. ${JSON.stringify(s.op)} → ${s.outcome}`));
  if (o.violations.length === 0) {
    console.log("replay: every invariant holds after every step and after draining");
    Deno.exit(0);
  }
  console.log(o.step >= 0 ? `after step ${o.step + 1}:` : "after draining:");
  for (const v of o.violations) console.log(`  ${v.invariant}: ${v.message}`);
  if (o.left !== null && o.left.blocked.length > 0) {
    console.log(`blocked: ${o.left.blocked.join(", ")}`);
  }
  Deno.exit(1);
}

try {
  // validate everything once before a long run
  if (opts.series !== undefined) {
    const { Series } = await import("../lib/series.ts");
    new Series({ series: opts.series });
  }
} catch (e) {
  die((e as Error).message);
}

const runs = int("runs", args.runs, 1) ?? 2000;
const seed = int("seed", args.seed, 0) ?? Date.now() % 2 ** 31;
const slice = int("progress", args.progress, 1) ?? Math.min(runs, 10_000);
const t0 = performance.now();
let sequences = 0, totalSteps = 0, totalChecks = 0;
if (args.seed === undefined) console.error(`fuzz: seed ${seed} (time based)`);
for (let done = 0, s = seed; done < runs; done += slice, s++) {
  const n = Math.min(slice, runs - done);
  const r = fuzz({ ...opts, runs: n, seed: s });
  sequences += r.sequences;
  totalSteps += r.steps;
  totalChecks += r.checks;
  if (slice < runs) {
    const secs = (performance.now() - t0) / 1000;
    console.error(
      `  ${sequences} sequences, ${totalSteps} steps, ${totalChecks} checks, ${
        secs.toFixed(1)
      } s, ${(sequences / secs).toFixed(0)} sequences/s (slice seed ${s})`,
    );
  }
  if (r.failure !== null) {
    console.log(formatFailure(r.failure, opts));
    console.log(
      `${sequences} sequences, ${totalSteps} steps (${totalChecks} checks) before the failure, ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
    Deno.exit(1);
  }
}
const secs = (performance.now() - t0) / 1000;
console.log(
  `fuzz: ${sequences} sequences, ${totalSteps} steps, ${totalChecks} checks: every invariant held after every step (seed ${seed}, ${
    secs.toFixed(1)
  } s, ${(sequences / secs).toFixed(0)} sequences/s)`,
);
