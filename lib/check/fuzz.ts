/**
 * The model-based fuzzer: fast-check generates whole-machine operation
 * sequences ({@link Op}s of world.ts — bind and unbind of every driver,
 * namespace create / destroy / reconfigure, hmm_devmem_add, migration to
 * device memory, CPU touches, device (GPU) faults, p2pmem allocation and
 * mapping, GUP pins, fork, madvise (MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE
 * and MADV_NOHUGEPAGE: THP),
 * mprotect, the hugetlb pool (vm.nr_hugepages) and MAP_HUGETLB mappings
 * (private and shared), partial munmap, module loads, a fault injected at any named point
 * under any step, power cycles, and two steps' tasks interleaved by the
 * scheduler), runs each on a fresh machine (by default the `fuzz` machine at
 * preset v5.2), and checks every invariant of invariants.ts after every
 * step and once more after draining (every user hold dropped, every blocked
 * task finished; for one sequence in four every driver unbound too). A
 * failure is shrunk — by fast-check's shrinker, then by a bounded greedy
 * pass ({@link minimise}) — and printed with its seed, its fast-check path,
 * and the sequence as JSON that {@link replaySequence} (and `deno task
 * fuzz --replay`) runs again. An exception thrown from inside the model is
 * a failure too (`simulator-error`).
 *
 * @module
 */
import fc from "fast-check";
import type { SeriesOptions } from "../series.ts";
import { faultPointsOf, MODULE_SYMBOLS, type Op, type StepRecord, World } from "./world.ts";
import type { Violation } from "./invariants.ts";
import { MM } from "../kernel/mm/mmzone.ts";
import { pgmapArray } from "../kernel/memremap.ts";
import { xaEntries } from "../kernel/xarray.ts";
import { presentSections } from "../kernel/mm/section-info.ts";

export type { Op } from "./world.ts";

/** The op kinds, for restricting a run to some of them. */
export const OP_KINDS = [
  "ns-create",
  "ns-destroy",
  "ns-reconfigure",
  "ns-disable",
  "ns-enable",
  "p2p-bind",
  "p2p-unbind",
  "p2p-alloc",
  "p2p-free",
  "p2p-map",
  "hmm-add",
  "hmm-unbind",
  "gpu-bind",
  "gpu-unbind",
  "proc-new",
  "proc-exit",
  "mmap",
  "munmap",
  "touch",
  "migrate",
  "gpu-fault",
  "pin",
  "unpin",
  "dax-map",
  "module",
  "fail",
  "power-cycle",
  "parallel",
  "fork",
  "madvise",
  "mprotect",
  "hugetlb-pool",
  "mmap-huge",
  "munmap-part",
] as const;

/** One op kind. */
export type OpKind = typeof OP_KINDS[number];

/** Options of {@link fuzz}. */
export interface FuzzOptions {
  /** Sequences to run (default 100). */
  runs?: number;
  /** fast-check seed (default: time based). */
  seed?: number;
  /** Longest sequence (default 30). */
  maxSteps?: number;
  /** Series (default "v5.2"). */
  series?: SeriesOptions["series"];
  /** Follow-ups. */
  followups?: readonly string[];
  /** Variants. */
  variants?: readonly string[];
  /** Keep namespaces section aligned (default true). */
  aligned?: boolean;
  /** Only these op kinds (default: all). */
  kinds?: readonly OpKind[];
  /** Only these fault points for "fail" (default: every point of the machine). */
  points?: readonly string[];
  /** Relative weights by kind (default 1 each, see DEFAULT_WEIGHTS). */
  weights?: Partial<Record<OpKind, number>>;
  /** Stop generating new sequences after this many ms (shrinking still finishes). */
  timeLimitMs?: number;
  /** Skip shrinking (faster when only the existence of a failure matters). */
  noShrink?: boolean;
  /**
   * Sequences each shrinking phase may run (default 600): the budget that
   * binds, so that a shrunk failure is the same on a busy machine as on an
   * idle one.
   */
  shrinkRuns?: number;
  /** Wall-time safety net of each shrinking phase, ms (default 120,000; see shrinkRuns). */
  shrinkMs?: number;
  /** fast-check's counterexample path: replays that case (with `seed`). */
  path?: string;
  /** Machine description (default "fuzz"). */
  machine?: string | object;
  /**
   * Unbind every driver after the last step (default: for one sequence in
   * four, by schedule seed; every sequence drops its user holds and must
   * finish its tasks).
   */
  teardown?: boolean;
  /** See WorldOptions.touchDyingDeviceMemory (default false). */
  touchDyingDeviceMemory?: boolean;
  /** See WorldOptions.sharedHugetlbFault (default false). */
  sharedHugetlbFault?: boolean;
}

/** A failing sequence, shrunk. */
export interface FuzzFailure {
  /** fast-check's seed of the run. */
  seed: number;
  /** fast-check's counterexample path (replays the shrunk case with `seed`). */
  path: string;
  /** The shrunk sequence. */
  sequence: FuzzSequence;
  /** What the checker found (after the failing step, or after draining). */
  violations: FuzzViolation[];
  /** The failing step's index, or -1 when the violations were found after draining. */
  step: number;
  /** Each step's outcome. */
  log: StepRecord[];
  /** What was left at the failure: present device sections, pgmap_array entries, PAT reservations. */
  left: LeftState;
  /** Shrink steps fast-check took. */
  shrinks: number;
  /** Faults injected in the shrunk run. */
  injected: Array<{ point: string; call: number; caller: string }>;
}

/** A replayable sequence. */
export interface FuzzSequence {
  /** Seed of each step's schedule. */
  scheduleSeed: number;
  /** The ops. */
  ops: Op[];
}

/** The state a failure left (for hang and leak reports). */
export interface LeftState {
  /** Present sections above boot RAM (section numbers). */
  deviceSections: number[];
  /** pgmap_array entries (ranges of pfns). */
  arrayEntries: Array<[number, number]>;
  /** PAT reservations [start, end). */
  pat: Array<[number, number]>;
  /** Blocked tasks. */
  blocked: string[];
}

/** What a fuzz run did. */
export interface FuzzResult {
  /** Sequences run (not counting shrinking). */
  sequences: number;
  /** Steps run (not counting shrinking). */
  steps: number;
  /**
   * Full invariant checks: one after every step whose op was not skipped,
   * and one after draining each sequence (a skipped step leaves the machine
   * as the previous check saw it).
   */
  checks: number;
  /** Wall time, ms. */
  ms: number;
  /** The seed used. */
  seed: number;
  /** The failure, if one was found. */
  failure: FuzzFailure | null;
}

/** Relative weights of the op kinds (tuned so that sequences reach device memory often). */
export const DEFAULT_WEIGHTS: Readonly<Record<OpKind, number>> = {
  "ns-create": 6,
  "ns-destroy": 2,
  "ns-reconfigure": 2,
  "ns-disable": 2,
  "ns-enable": 2,
  "p2p-bind": 3,
  "p2p-unbind": 2,
  "p2p-alloc": 3,
  "p2p-free": 2,
  "p2p-map": 2,
  "hmm-add": 3,
  "hmm-unbind": 2,
  "gpu-bind": 2,
  "gpu-unbind": 1,
  "proc-new": 4,
  "proc-exit": 1,
  "mmap": 5,
  "munmap": 1,
  "touch": 6,
  "migrate": 4,
  "gpu-fault": 3,
  "pin": 3,
  "unpin": 2,
  "dax-map": 3,
  "module": 1,
  "fail": 4,
  "power-cycle": 1,
  "parallel": 3,
  "fork": 2,
  "madvise": 2,
  "mprotect": 1,
  "hugetlb-pool": 2,
  "mmap-huge": 2,
  "munmap-part": 1,
};

/** Every fault point of the fuzz machine (booted for the question: no module-level cache). */
export function fuzzFaultPoints(machine?: string | object): string[] {
  return faultPointsOf(new World(machine === undefined ? {} : { machine }).m);
}

const small = (max: number) => fc.nat({ max });

/** The arbitrary of one op, by kind. */
function kindArb(kind: OpKind, aligned: boolean): fc.Arbitrary<Op> {
  const mode = fc.constantFrom("raw" as const, "fsdax" as const, "devdax" as const);
  const map = fc.constantFrom("mem" as const, "dev" as const);
  switch (kind) {
    case "ns-create":
      return fc.record({
        op: fc.constant("ns-create" as const),
        mode,
        map,
        units: fc.integer({ min: 1, max: aligned ? 3 : 8 }),
      });
    case "ns-destroy":
    case "ns-disable":
    case "ns-enable":
      return fc.record({ op: fc.constant(kind), ns: small(7) }) as fc.Arbitrary<Op>;
    case "ns-reconfigure":
      return fc.record({ op: fc.constant("ns-reconfigure" as const), ns: small(7), mode, map });
    case "p2p-bind":
      return fc.record({
        op: fc.constant("p2p-bind" as const),
        bars: fc.constantFrom<readonly number[]>([2], [4], [2, 4], [4, 2]),
      });
    case "p2p-unbind":
    case "gpu-bind":
    case "gpu-unbind":
    case "proc-new":
    case "power-cycle":
      return fc.constant({ op: kind } as Op);
    case "p2p-alloc":
      return fc.record({
        op: fc.constant("p2p-alloc" as const),
        pages: fc.integer({ min: 1, max: 4 }),
      });
    case "p2p-free":
    case "p2p-map":
      return fc.record({ op: fc.constant(kind), a: small(7) }) as fc.Arbitrary<Op>;
    case "hmm-add":
      return fc.record({
        op: fc.constant("hmm-add" as const),
        sections: fc.integer({ min: 1, max: 2 }),
      });
    case "hmm-unbind":
      return fc.record({ op: fc.constant("hmm-unbind" as const), dev: small(3) });
    case "proc-exit":
      return fc.record({ op: fc.constant("proc-exit" as const), p: small(3) });
    case "mmap":
      return fc.record({
        op: fc.constant("mmap" as const),
        p: small(3),
        pages: fc.integer({ min: 1, max: 64 }),
      });
    case "munmap":
      return fc.record({ op: fc.constant("munmap" as const), p: small(3), vma: small(3) });
    case "touch":
      return fc.record({
        op: fc.constant("touch" as const),
        p: small(3),
        vma: small(3),
        page: small(63),
        write: fc.boolean(),
      });
    case "migrate":
      return fc.record({
        op: fc.constant("migrate" as const),
        p: small(3),
        vma: small(3),
        page: small(63),
        n: fc.integer({ min: 1, max: 16 }),
        dev: small(3),
      });
    case "gpu-fault":
      return fc.record({
        op: fc.constant("gpu-fault" as const),
        p: small(3),
        vma: small(3),
        page: small(63),
        n: fc.integer({ min: 1, max: 16 }),
        dev: small(3),
        write: fc.boolean(),
      });
    case "pin":
      return fc.record({
        op: fc.constant("pin" as const),
        p: small(3),
        vma: small(3),
        page: small(511),
      });
    case "unpin":
      return fc.record({ op: fc.constant("unpin" as const), pin: small(7) });
    case "dax-map":
      return fc.record({ op: fc.constant("dax-map" as const), p: small(3), ns: small(7) });
    case "module":
      return fc.record({
        op: fc.constant("module" as const),
        gpl: fc.boolean(),
        syms: fc.array(small(MODULE_SYMBOLS.length - 1), { minLength: 1, maxLength: 3 }),
      });
    case "fork":
      return fc.record({ op: fc.constant("fork" as const), p: small(3) });
    case "madvise":
      return fc.record({
        op: fc.constant("madvise" as const),
        p: small(3),
        vma: small(3),
        page: small(63),
        n: fc.integer({ min: 1, max: 32 }),
        advice: fc.constantFrom(
          "dontneed" as const,
          "free" as const,
          "hugepage" as const,
          "nohugepage" as const,
        ),
      });
    case "mprotect":
      return fc.record({
        op: fc.constant("mprotect" as const),
        p: small(3),
        vma: small(3),
        page: small(63),
        n: fc.integer({ min: 1, max: 64 }),
        write: fc.boolean(),
      });
    case "hugetlb-pool":
      return fc.record({ op: fc.constant("hugetlb-pool" as const), n: small(8) });
    case "mmap-huge":
      return fc.record({
        op: fc.constant("mmap-huge" as const),
        p: small(3),
        huge: fc.integer({ min: 1, max: 3 }),
        kind: fc.constantFrom("thp" as const, "private" as const, "shared" as const),
      });
    case "munmap-part":
      return fc.record({
        op: fc.constant("munmap-part" as const),
        p: small(3),
        vma: small(3),
        first: small(63),
        n: fc.integer({ min: 1, max: 16 }),
      });
    case "fail":
    case "parallel":
      throw new RangeError(`Cannot build a plain arbitrary for composite op "${kind}"`);
  }
}

/** Op kinds whose work runs in tasks (what "parallel" combines). */
const TASK_KINDS: ReadonlySet<OpKind> = new Set([
  "p2p-bind",
  "p2p-unbind",
  "p2p-alloc",
  "p2p-free",
  "p2p-map",
  "hmm-add",
  "hmm-unbind",
  "gpu-bind",
  "gpu-unbind",
  "touch",
  "migrate",
  "gpu-fault",
  "pin",
  "unpin",
  "munmap",
  "proc-exit",
  "fork",
  "madvise",
  "mprotect",
  "munmap-part",
]);

/** Op kinds that do kernel work a fault can hit (what "fail" wraps). */
const FAILABLE_KINDS: ReadonlySet<OpKind> = new Set([
  "ns-create",
  "ns-reconfigure",
  "ns-enable",
  "p2p-bind",
  "p2p-alloc",
  "hmm-add",
  "gpu-bind",
  "touch",
  "migrate",
  "gpu-fault",
  "pin",
  "dax-map",
  "fork",
  "madvise",
  "hugetlb-pool",
  "mmap-huge",
]);

/** The arbitrary of one op under `opts`. */
export function opArbitrary(opts: FuzzOptions = {}): fc.Arbitrary<Op> {
  const aligned = opts.aligned ?? true;
  const kinds = opts.kinds ?? OP_KINDS;
  for (const kind of kinds) {
    if (!(OP_KINDS as readonly string[]).includes(kind)) {
      throw new RangeError(`Cannot fuzz op kind "${kind}": known kinds are ${OP_KINDS.join(", ")}`);
    }
  }
  const w = { ...DEFAULT_WEIGHTS, ...opts.weights };
  const plain = kinds.filter((k) => k !== "fail" && k !== "parallel");
  if (plain.length === 0) throw new RangeError("Cannot fuzz: no plain op kind left");
  const weighted = (ks: readonly OpKind[]) =>
    fc.oneof(...ks.map((k) => ({ arbitrary: kindArb(k, aligned), weight: w[k] })));
  const arbs: Array<{ arbitrary: fc.Arbitrary<Op>; weight: number }> = plain.map((k) => ({
    arbitrary: kindArb(k, aligned),
    weight: w[k],
  }));
  if (kinds.includes("fail")) {
    const points = opts.points ?? fuzzFaultPoints(opts.machine);
    const failable = plain.filter((k) => FAILABLE_KINDS.has(k));
    if (points.length > 0 && failable.length > 0) {
      arbs.push({
        weight: w.fail,
        arbitrary: fc.record({
          op: fc.constant("fail" as const),
          point: fc.constantFrom(...points),
          nth: fc.integer({ min: 1, max: 3 }),
          step: weighted(failable),
        }),
      });
    }
  }
  if (kinds.includes("parallel")) {
    const tasky = plain.filter((k) => TASK_KINDS.has(k));
    if (tasky.length > 0) {
      const t = weighted(tasky);
      arbs.push({
        weight: w.parallel,
        arbitrary: fc.record({ op: fc.constant("parallel" as const), a: t, b: t }),
      });
    }
  }
  return fc.oneof(...arbs);
}

/** What running one sequence found. */
export interface SequenceOutcome {
  /** Steps run. */
  steps: number;
  /** Invariant checks run (see FuzzResult.checks). */
  checks: number;
  /** Violations (empty when the sequence passed); a simulator exception is a `simulator-error`. */
  violations: FuzzViolation[];
  /** The failing step's index, or -1 (after draining, or no failure). */
  step: number;
  /** Each step's outcome. */
  log: StepRecord[];
  /** What the failure left, or null. */
  left: LeftState | null;
  /** Faults injected (point, call, innermost caller). */
  injected: Array<{ point: string; call: number; caller: string }>;
}

/** A violation, or an exception thrown from inside the model (never expected: misuse surfaces as TypeError/RangeError). */
export type FuzzViolation = Violation | { invariant: "simulator-error"; message: string };

function leftState(world: World): LeftState {
  const k = world.k;
  return {
    deviceSections: presentSections(k).filter((s) => s.addedBy !== 0).map((s) => s.nr),
    arrayEntries: [...xaEntries(pgmapArray(k))].map((e) => [e.first, e.last] as [number, number]),
    pat: k.state(MM).pat.map((r) => [r.start, r.end] as [number, number]),
    blocked: k.sched.tasks.filter((t) => t.state === "blocked").map((t) => t.name),
  };
}

function worldFor(seq: FuzzSequence, opts: FuzzOptions): World {
  return new World({
    ...(opts.series !== undefined ? { series: opts.series } : {}),
    ...(opts.followups ? { followups: opts.followups } : {}),
    ...(opts.variants ? { variants: opts.variants } : {}),
    ...(opts.machine !== undefined ? { machine: opts.machine } : {}),
    aligned: opts.aligned ?? true,
    scheduleSeed: seq.scheduleSeed,
    touchDyingDeviceMemory: opts.touchDyingDeviceMemory ?? false,
    sharedHugetlbFault: opts.sharedHugetlbFault ?? false,
  });
}

/**
 * Runs one sequence on a fresh world, checking every invariant after every
 * step (a step whose op was skipped leaves the machine as the last check saw
 * it, and is not checked again) and once more after draining (see
 * World.drain). Returns at the first step that breaks one.
 */
export function runSequence(seq: FuzzSequence, opts: FuzzOptions = {}): SequenceOutcome {
  const world = worldFor(seq, opts);
  let steps = 0, checks = 0;
  const out = (violations: FuzzViolation[], step: number): SequenceOutcome => ({
    steps,
    checks,
    violations,
    step,
    log: world.log,
    left: violations.length > 0 ? leftState(world) : null,
    injected: world.k.faults.injected.map((f) => ({ ...f })),
  });
  try {
    for (let i = 0; i < seq.ops.length; i++) {
      const rec = world.step(seq.ops[i]!);
      steps++;
      // a skipped op called nothing, spawned nothing and registered nothing: the machine is
      // the one the last check saw (about a third of all steps)
      if (rec.outcome === "skipped") continue;
      checks++;
      const r = world.checker.check();
      if (r.violations.length > 0) return out(r.violations, i);
    }
    // every fourth schedule seed also unbinds every driver at the end (the rest rely on the
    // sequence's own unbind steps): the full teardown costs as much as a dozen steps
    world.drain(opts.teardown ?? seq.scheduleSeed % 4 === 0);
    checks++;
    return out(world.checker.check({ drained: true }).violations, -1);
  } catch (e) {
    const err = e as Error;
    return out([{
      invariant: "simulator-error",
      message: `${err?.name ?? "Error"}: ${err?.message ?? String(e)}\n${err?.stack ?? ""}`,
    }], steps - 1);
  }
}

/** Replays a sequence (from a failure's JSON): what it ends with. */
export function replaySequence(seq: FuzzSequence, opts: FuzzOptions = {}): SequenceOutcome {
  return runSequence(seq, opts);
}

const kindsOf = (o: SequenceOutcome) => new Set(o.violations.map((v) => v.invariant));

/** Whether `o` still fails the way `ref` did (one invariant in common). */
function sameFailure(o: SequenceOutcome, ref: Set<string>): boolean {
  return o.violations.some((v) => ref.has(v.invariant));
}

/**
 * A bounded greedy minimiser after fast-check's shrinker: drop the steps
 * after the failing one, then try dropping each step, then unwrapping
 * `fail` and `parallel` steps, keeping every change that still fails the
 * same way, until nothing changes or `budgetRuns` sequences have run (or,
 * as a safety net only, `budgetMs` has passed).
 */
export function minimise(
  seq: FuzzSequence,
  opts: FuzzOptions,
  budgetRuns = 600,
  budgetMs = 120_000,
): FuzzSequence {
  const t0 = performance.now();
  let left = budgetRuns;
  const spent = () => left <= 0 || performance.now() - t0 > budgetMs;
  const first = runSequence(seq, opts);
  if (first.violations.length === 0) return seq;
  const ref = kindsOf(first);
  let best: FuzzSequence = first.step >= 0
    ? { ...seq, ops: seq.ops.slice(0, first.step + 1) }
    : seq;
  const tryIt = (cand: FuzzSequence): boolean => {
    if (spent()) return false;
    left--;
    const o = runSequence(cand, opts);
    if (!sameFailure(o, ref)) return false;
    best = o.step >= 0 ? { ...cand, ops: cand.ops.slice(0, o.step + 1) } : cand;
    return true;
  };
  for (let changed = true; changed && !spent();) {
    changed = false;
    for (let i = best.ops.length - 1; i >= 0; i--) {
      if (i >= best.ops.length) continue;
      const ops = best.ops.filter((_, j) => j !== i);
      if (tryIt({ ...best, ops })) changed = true;
    }
    for (let i = 0; i < best.ops.length; i++) {
      const op = best.ops[i]!;
      const inner: Op[][] = op.op === "fail"
        ? [[op.step]]
        : op.op === "parallel"
        ? [[op.a, op.b], [op.a], [op.b]]
        : [];
      for (const repl of inner) {
        const ops = [...best.ops.slice(0, i), ...repl, ...best.ops.slice(i + 1)];
        if (tryIt({ ...best, ops })) {
          changed = true;
          break;
        }
      }
    }
    if (best.scheduleSeed !== 0 && tryIt({ ...best, scheduleSeed: 0 })) changed = true;
  }
  return best;
}

/**
 * Runs `runs` random sequences (fast-check, seed `seed`, default 0). The
 * first failure is shrunk — by fast-check within `shrinkRuns` sequences,
 * then by {@link minimise} within as many — and returned with fast-check's
 * seed and path.
 *
 * @example A short clean run at v5.2
 * ```ts
 * import { fuzz } from "./fuzz.ts";
 * import { assertEquals } from "@std/assert";
 * const r = fuzz({ runs: 5, seed: 1, maxSteps: 8 });
 * assertEquals([r.sequences, r.failure], [5, null]);
 * ```
 */
export function fuzz(opts: FuzzOptions = {}): FuzzResult {
  const runs = opts.runs ?? 100;
  if (!(Number.isInteger(runs) && runs >= 1)) {
    throw new RangeError(`Cannot fuzz ${runs} sequences: give a positive integer`);
  }
  const maxSteps = opts.maxSteps ?? 30;
  if (!(Number.isInteger(maxSteps) && maxSteps >= 1)) {
    throw new RangeError(`Cannot fuzz sequences of ${maxSteps} steps: give a positive integer`);
  }
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) {
    throw new TypeError(`Cannot fuzz with seed ${seed}: give an integer`);
  }
  const shrinkMs = opts.shrinkMs ?? 120_000;
  const shrinkRuns = opts.shrinkRuns ?? 600;
  if (!(Number.isInteger(shrinkRuns) && shrinkRuns >= 0)) {
    throw new RangeError(`Cannot shrink within ${shrinkRuns} runs: give a non-negative integer`);
  }
  const t0 = performance.now();
  let sequences = 0, steps = 0, checks = 0;
  let counting = true;
  const arb = fc.record({
    scheduleSeed: fc.nat({ max: 2 ** 30 }),
    ops: fc.array(opArbitrary(opts), { maxLength: maxSteps, size: "max" }),
  });
  let shrinkLeft = shrinkRuns;
  const prop = fc.property(arb, (seq) => {
    // shrinking: once the budget is spent every candidate "passes", which ends the descent
    if (!counting && shrinkLeft-- <= 0) return true;
    const o = runSequence(seq, opts);
    if (counting) {
      sequences++;
      steps += o.steps;
      checks += o.checks;
    }
    return o.violations.length === 0;
  });
  // 1: find (no shrinking)
  const found = fc.check(prop, {
    numRuns: runs,
    seed,
    endOnFailure: true,
    ...(opts.path !== undefined ? { path: opts.path } : {}),
    ...(opts.timeLimitMs !== undefined
      ? { interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: false }
      : {}),
  });
  const ms = performance.now() - t0;
  if (!found.failed || found.counterexample === null) {
    return { sequences, steps, checks, ms, seed, failure: null };
  }
  counting = false;
  let seq = found.counterexample[0];
  let path = found.counterexamplePath ?? "";
  let shrinks = 0;
  // 2: fast-check's shrinker, from the failing case, within the budget
  if (!opts.noShrink) {
    const shrunk = fc.check(prop, {
      seed: found.seed,
      path,
      interruptAfterTimeLimit: shrinkMs,
      markInterruptAsFailure: false,
    });
    if (shrunk.failed && shrunk.counterexample !== null) {
      seq = shrunk.counterexample[0];
      path = shrunk.counterexamplePath ?? path;
      shrinks = shrunk.numShrinks;
    }
    // 3: the greedy pass
    seq = minimise(seq, opts, shrinkRuns, shrinkMs);
  }
  const o = runSequence(seq, opts);
  return {
    sequences,
    steps,
    checks,
    ms,
    seed,
    failure: {
      seed: found.seed,
      path,
      sequence: seq,
      violations: o.violations,
      step: o.step,
      log: o.log,
      left: o.left ?? { deviceSections: [], arrayEntries: [], pat: [], blocked: [] },
      shrinks,
      injected: o.injected,
    },
  };
}

/** A failure as text: the seed and path, the violations, the steps, and the JSON to replay. */
export function formatFailure(f: FuzzFailure, opts: FuzzOptions = {}): string {
  const lines: string[] = [];
  lines.push(`fuzz failure (seed ${f.seed}, path "${f.path}", ${f.shrinks} shrinks)`);
  lines.push(
    `series ${String(opts.series ?? "v5.2")}${
      opts.aligned === false ? ", unaligned namespaces" : ""
    }`,
  );
  lines.push(
    f.step >= 0 ? `after step ${f.step + 1} of ${f.sequence.ops.length}:` : "after draining:",
  );
  for (const v of f.violations) lines.push(`  ${v.invariant}: ${v.message}`);
  for (const f2 of f.injected) {
    lines.push(`  (injected: ${f2.point} call #${f2.call} from ${f2.caller})`);
  }
  lines.push("steps:");
  f.log.forEach((s, i) => lines.push(`  ${i + 1}. ${JSON.stringify(s.op)} → ${s.outcome}`));
  if (f.left.blocked.length > 0) lines.push(`blocked tasks: ${f.left.blocked.join(", ")}`);
  lines.push(
    `left: sections [${
      f.left.deviceSections.join(", ")
    }], ${f.left.arrayEntries.length} pgmap_array range(s), ${f.left.pat.length} PAT reservation(s)`,
  );
  lines.push("replay with:");
  lines.push(
    `  deno task fuzz --replay '${JSON.stringify(f.sequence)}'${
      opts.series !== undefined ? ` --series ${opts.series}` : ""
    }${opts.aligned === false ? " --unaligned" : ""}${
      opts.touchDyingDeviceMemory ? " --touch-dying" : ""
    }${opts.sharedHugetlbFault ? " --shared-hugetlb-fault" : ""}`,
  );
  lines.push(`  or: deno task fuzz --seed ${f.seed} --path '${f.path}' (with the same options)`);
  return lines.join("\n");
}
