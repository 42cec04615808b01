/**
 * Exhaustive exploration of the schedules of a small scenario by stateless
 * re-execution: run it, record every decision point and how many options it
 * had, then re-run with the deepest decision that still has an untried option
 * advanced by one. Every distinct schedule is run exactly once.
 *
 * @module
 */
import type { Choice, SchedulePolicy, Task } from "./sched.ts";
import { choiceLabel } from "./sched.ts";

/** How one explored schedule ended. */
export type ScheduleOutcome = "oops" | "deadlock/hang" | "clean";

/** What a scenario run reports back to the explorer. */
export interface RunVerdict {
  /** Oops headlines (non-empty → "oops"). */
  oopses: readonly { message: string }[];
  /** Hang report (non-null → "deadlock/hang" unless there was an oops). */
  blocked: { text: string } | null;
}

/** One explored schedule. */
export interface ExploredSchedule {
  /** Labels chosen at each decision point. */
  schedule: string[];
  /** How it ended. */
  outcome: ScheduleOutcome;
  /** The first oops headline, or the hang report (kept as detail for an "oops" too). */
  detail: string;
}

/** The result of an exploration. */
export interface Exploration {
  /** Every schedule run, in DFS order. */
  schedules: ExploredSchedule[];
  /** Counts by outcome. */
  counts: Record<ScheduleOutcome, number>;
  /** False if the bound stopped the search before it was exhaustive. */
  complete: boolean;
}

/** Classifies a run: "oops" if any task Oopsed, else "deadlock/hang" if any is blocked, else "clean". */
export function classify(v: RunVerdict): ScheduleOutcome {
  if (v.oopses.length > 0) return "oops";
  if (v.blocked !== null) return "deadlock/hang";
  return "clean";
}

class ReplayPolicy implements SchedulePolicy {
  readonly taken: number[] = [];
  readonly widths: number[] = [];
  readonly labels: string[] = [];
  constructor(private readonly prefix: readonly number[]) {}
  choose(options: readonly Choice[], _current: Task | null): number {
    const i = this.taken.length;
    const pick = i < this.prefix.length ? this.prefix[i]! : 0;
    if (pick >= options.length) {
      throw new Error(
        `Cannot replay schedule: decision ${i} had ${options.length} options, wanted ${pick} (the scenario is not deterministic)`,
      );
    }
    this.taken.push(pick);
    this.widths.push(options.length);
    this.labels.push(choiceLabel(options[pick]!));
    return pick;
  }
}

/**
 * Explores every schedule of `runOnce` (which must build a fresh machine each
 * call and run it with the given policy), up to `maxSchedules`.
 *
 * @example Two tasks with one preemption point each: C(4,2) = 6 interleavings
 * ```ts ignore
 * const x = explore((policy) => twoTaskScenario(policy));
 * assertEquals(x.schedules.length, 6);
 * ```
 */
export function explore(
  runOnce: (policy: SchedulePolicy) => RunVerdict,
  opts: { maxSchedules?: number } = {},
): Exploration {
  const max = opts.maxSchedules ?? 100_000;
  if (!(Number.isInteger(max) && max >= 1)) {
    throw new RangeError(
      `Cannot explore schedules: maxSchedules must be an integer ≥ 1, got ${String(max)}`,
    );
  }
  const schedules: ExploredSchedule[] = [];
  const counts: Record<ScheduleOutcome, number> = { "oops": 0, "deadlock/hang": 0, "clean": 0 };
  let prefix: number[] = [];
  for (;;) {
    if (schedules.length >= max) return { schedules, counts, complete: false };
    const p = new ReplayPolicy(prefix);
    const v = runOnce(p);
    const outcome = classify(v);
    counts[outcome]++;
    const detail = v.oopses.length > 0
      ? v.oopses[0]!.message + (v.blocked ? `\n${v.blocked.text}` : "")
      : v.blocked?.text ?? "";
    schedules.push({ schedule: p.labels.slice(), outcome, detail });
    let i = p.taken.length - 1;
    while (i >= 0 && p.taken[i]! + 1 >= p.widths[i]!) i--;
    if (i < 0) return { schedules, counts, complete: true };
    prefix = p.taken.slice(0, i);
    prefix.push(p.taken[i]! + 1);
  }
}
