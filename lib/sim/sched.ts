/**
 * The deterministic scheduler: tasks on simulated CPUs, blocking on wait
 * queues, RCU grace periods and timers as scheduler events, explicit, seeded
 * or explored schedules, deadlock and hang detection with wait-for chains.
 *
 * Only code that may sleep is a generator; it yields {@link PREEMPT} at a
 * preemption point or a {@link WaitQueue} to block on. Hot paths are plain
 * functions that run to completion. A *decision point* is any moment where
 * more than one thing could run next (two runnable tasks, or a runnable task
 * and a ready grace period); the {@link SchedulePolicy} picks one. Nothing
 * else is ever reordered, so a schedule is just the list of those picks.
 *
 * @module
 */
import { callChain, formatCallTrace, type Frame } from "./callchain.ts";
import type { Clock } from "./clock.ts";
import type { Prng } from "./prng.ts";
import { Rcu } from "./rcu.ts";
import { type KGen, PREEMPT, Task, WaitQueue, type Yielded } from "./task.ts";

export { type KGen, PREEMPT, Task, WaitQueue, type Yielded };

/** Scheduler events recorded in the trace. */
export type SchedEvent =
  | {
    kind: "sched";
    op: "spawn" | "exit" | "block" | "wake" | "oops";
    target: number;
    what: string;
  }
  | { kind: "rcu"; op: "gp_start" | "gp_end"; gp: number };

/** The part of a trace the scheduler writes to. */
export interface SchedTraceSink {
  /** Whether tracing is on. */
  on: boolean;
  /** Records an event. */
  emit(e: SchedEvent): void;
}

/** One thing the scheduler could run next. */
export type Choice =
  | { kind: "task"; task: Task }
  | { kind: "gp" };

/** Picks the next thing to run at a decision point. */
export interface SchedulePolicy {
  /** Returns the index of the chosen option. `current` is the task that ran last. */
  choose(options: readonly Choice[], current: Task | null): number;
}

/** Label of a choice in schedules: the task's name, or "gp". */
export function choiceLabel(c: Choice): string {
  return c.kind === "gp" ? "gp" : c.task.name;
}

/**
 * The default policy: keep running the task that ran last while it can (no
 * gratuitous preemption); otherwise the lowest-id runnable task; complete a
 * grace period only when no task is runnable.
 */
export const defaultPolicy: SchedulePolicy = {
  choose(options, current) {
    let first = -1;
    for (let i = 0; i < options.length; i++) {
      const o = options[i]!;
      if (o.kind === "task") {
        if (o.task === current) return i;
        if (first < 0) first = i;
      }
    }
    return first >= 0 ? first : 0;
  },
};

/** A policy that follows a list of labels (task names or "gp"), then the default. */
export function explicitPolicy(labels: readonly string[]): SchedulePolicy {
  let i = 0;
  return {
    choose(options, current) {
      while (i < labels.length) {
        const want = labels[i++]!;
        const idx = options.findIndex((o) => choiceLabel(o) === want);
        if (idx >= 0) return idx;
        // the named task cannot run here: skip the entry, as a real schedule would
      }
      return defaultPolicy.choose(options, current);
    },
  };
}

/** A seeded random policy: every decision is a uniform pick. */
export function seededPolicy(prng: Prng): SchedulePolicy {
  return { choose: (options) => prng.int(options.length) };
}

/** One link of a wait-for chain in a hang report. */
export interface WaitLink {
  /** What this link says. */
  text: string;
  /** What it, in turn, waits on. */
  next: WaitLink[];
}

/** What an explainer returns for a wait queue: a sentence and what is behind it. */
export interface Explanation {
  /** e.g. "completion 'dev_pagemap ref' (completed by the release of percpu_ref 3)". */
  text: string;
  /** Tasks, wait queues, or free-form links behind it. */
  next: Array<Task | WaitQueue | WaitLink>;
}

/** Explains one kind of wait queue (lib/kernel registers them). */
export type WaitExplainer = (wq: WaitQueue) => Explanation;

/** A blocked task and the chain behind its wait. */
export interface HangEntry {
  /** The blocked task. */
  task: string;
  /** Task id. */
  taskId: number;
  /** What it waits on, with the chain behind it. */
  chain: WaitLink;
}

/** The hang report of a run: every task left blocked, with its chain. */
export interface HangReport {
  /** One entry per blocked task. */
  entries: HangEntry[];
  /** The whole report as text (indented chains). */
  text: string;
}

/** A task killed by an Oops. */
export interface OopsRecord {
  /** The task's name. */
  task: string;
  /** Task id. */
  taskId: number;
  /** The first line of the oops ("BUG: unable to handle ..."). */
  message: string;
  /** The simulated call chain, innermost first. */
  chain: string[];
}

/**
 * Thrown inside a task to Oops it. The scheduler catches it, kills the task
 * (its locks stay held) and lets the machine run on. Never escapes to users.
 */
export class OopsSignal extends Error {
  /** The call chain captured where the oops happened. */
  readonly frames: Frame[];
  /**
   * Creates the object.
   * @param message the oops headline.
   * @param skip innermost frames to leave out (the oops helpers themselves).
   */
  constructor(message: string, skip = 0) {
    super(message);
    this.name = "OopsSignal";
    this.frames = callChain(1 + skip);
  }
}

/** Hooks the kernel layer fills in. */
export interface SchedHooks {
  /** Called when a task Oopses (the kernel prints and taints). */
  onOops?(task: Task, sig: OopsSignal): void;
  /** Called whenever the running task changes (null: no task). */
  onSwitch?(task: Task | null): void;
}

/** Options for one scheduler. */
export interface SchedulerOptions {
  /** Number of simulated CPUs (≥ 1). */
  cpus: number;
  /** Simulated length of a grace period, ns. */
  gracePeriodNs: number;
  /** Simulated cost of a context switch, ns. */
  contextSwitchNs: number;
}

/** The outcome of running until quiescence. */
export interface RunOutcome {
  /** Oopses during this run. */
  oopses: OopsRecord[];
  /** Hang report, or null if no task is blocked. */
  blocked: HangReport | null;
  /** Labels of the choices made at decision points. */
  schedule: string[];
}

/** The deterministic scheduler of one machine. */
export class Scheduler<Ctx> {
  /** Every task ever spawned, by id order (index 0 is the softirq context). */
  readonly tasks: Task[] = [];
  /** The RCU engine. */
  readonly rcu: Rcu;
  /** Wait-queue explainers by kind. */
  readonly explainers: Map<string, WaitExplainer> = new Map();
  /** Hooks the kernel fills in. */
  hooks: SchedHooks = {};
  /** Trace sink (set by the kernel). */
  trace: SchedTraceSink = { on: false, emit() {} };
  /** Every Oops so far. */
  readonly oopses: OopsRecord[] = [];
  #current: Task | null = null;

  /** The task running now (the softirq task while RCU callbacks run). */
  get current(): Task | null {
    return this.#current;
  }

  set current(t: Task | null) {
    this.#current = t;
    this.hooks.onSwitch?.(t);
  }
  readonly #softirq: Task;
  readonly #clock: Clock;
  readonly #ctx: Ctx;
  readonly #opts: SchedulerOptions;
  #timers: WaitQueue[] = [];
  /** Spawned tasks that have not finished or Oopsed, in id order (a superset: pruned as it is scanned). */
  #live: Task[] = [];
  #last: Task | null = null;

  /**
   * Creates the object.
   * @param ctx what task functions receive (the kernel).
   * @param clock the simulated clock.
   * @param opts CPUs and costs.
   */
  constructor(ctx: Ctx, clock: Clock, opts: SchedulerOptions) {
    if (!(Number.isInteger(opts.cpus) && opts.cpus >= 1)) {
      throw new RangeError(
        `Cannot create a scheduler: cpus must be an integer ≥ 1, got ${opts.cpus}`,
      );
    }
    this.#ctx = ctx;
    this.#clock = clock;
    this.#opts = opts;
    this.#softirq = new Task(0, "rcu_softirq", 0);
    this.#softirq.state = "done";
    this.tasks.push(this.#softirq);
    this.rcu = new Rcu(
      {
        tasks: this.tasks,
        runInSoftirq: (fn) => this.#runSoftirq(fn),
        wakeAll: (wq) => this.wakeAll(wq),
        onGracePeriod: (op, gp) => {
          if (this.trace.on) this.trace.emit({ kind: "rcu", op, gp });
        },
      },
      clock,
      opts.gracePeriodNs,
    );
  }

  /** Number of simulated CPUs. */
  get cpus(): number {
    return this.#opts.cpus;
  }

  /** Current task id for the trace (-1 outside any task). */
  get taskId(): number {
    return this.current === null ? -1 : this.current.id;
  }

  /** Current CPU for the trace (-1 outside any task). */
  get cpuId(): number {
    return this.current === null ? -1 : this.current.cpu;
  }

  /** The CPU the running code is on (0 outside any task). */
  get cpu(): number {
    return this.current === null ? 0 : this.current.cpu;
  }

  /**
   * Creates a task that will run `body(ctx)` (a generator or a plain function).
   * CPUs default to round-robin by task id.
   */
  spawn(name: string, body: (ctx: Ctx) => KGen<unknown> | unknown, cpu?: number): Task {
    const id = this.tasks.length;
    const c = cpu ?? ((id - 1) % this.#opts.cpus);
    if (!(Number.isInteger(c) && c >= 0 && c < this.#opts.cpus)) {
      throw new RangeError(
        `Cannot spawn task "${name}" on CPU ${c}: the machine has CPUs 0..${this.#opts.cpus - 1}`,
      );
    }
    const t = new Task(id, name, c);
    const ctx = this.#ctx;
    t.gen = (function* (): KGen<unknown> {
      const r = body(ctx);
      if (isGenerator(r)) return yield* r;
      return r;
    })();
    this.tasks.push(t);
    this.#live.push(t);
    if (this.trace.on) this.trace.emit({ kind: "sched", op: "spawn", target: id, what: name });
    return t;
  }

  /** Wakes every task blocked on `wq`. */
  wakeAll(wq: WaitQueue): void {
    const ws = wq.waiters.splice(0);
    for (const t of ws) this.#wake(t, wq);
  }

  /** Wakes the first task blocked on `wq` (returns it, or null). */
  wakeOne(wq: WaitQueue): Task | null {
    const t = wq.waiters.shift();
    if (t === undefined) return null;
    this.#wake(t, wq);
    return t;
  }

  /** A timer wait queue that wakes its waiters at absolute simulated time `at`. */
  timer(label: string, at: number): WaitQueue {
    const wq = new WaitQueue("timer", label, null);
    wq.wakeAt = at;
    this.#timers.push(wq);
    return wq;
  }

  /**
   * Runs until every task has finished or is blocked and no grace period or
   * timer can make progress. Returns what happened in this run.
   */
  runUntilQuiescent(policy: SchedulePolicy = defaultPolicy): RunOutcome {
    const oopsesBefore = this.oopses.length;
    const schedule: string[] = [];
    const options: Choice[] = [];
    const gpChoice: Choice = { kind: "gp" };
    for (;;) {
      this.#fireDueTimers();
      options.length = 0;
      // the tasks not yet finished, in id order (finished ones leave the list for good)
      const live = this.#live;
      let n = 0;
      for (let i = 0; i < live.length; i++) {
        const t = live[i]!;
        if (t.state === "done" || t.state === "oopsed") continue;
        live[n++] = t;
        if (t.state === "runnable") options.push({ kind: "task", task: t });
      }
      live.length = n;
      if (this.rcu.ready()) options.push(gpChoice);
      if (options.length === 0) {
        if (this.#advanceToNextTimer()) continue;
        break;
      }
      let pick = 0;
      if (options.length > 1) {
        pick = policy.choose(options, this.#last);
        if (!(pick >= 0 && pick < options.length)) {
          throw new RangeError(`Cannot schedule: policy chose option ${pick} of ${options.length}`);
        }
        schedule.push(choiceLabel(options[pick]!));
      }
      const c = options[pick]!;
      if (c.kind === "gp") this.rcu.complete();
      else this.#runSlice(c.task);
    }
    return {
      oopses: this.oopses.slice(oopsesBefore),
      blocked: this.hangReport(),
      schedule,
    };
  }

  /** The hang report of tasks blocked now, or null if none is. */
  hangReport(): HangReport | null {
    const blocked = this.tasks.filter((t) => t.state === "blocked");
    if (blocked.length === 0) return null;
    const entries = blocked.map((t) => ({
      task: t.toString(),
      taskId: t.id,
      chain: this.#explainTask(t, new Set()),
    }));
    const lines: string[] = [];
    const render = (l: WaitLink, depth: number) => {
      lines.push(`${"  ".repeat(depth)}${depth === 0 ? "" : "└─ "}${l.text}`);
      for (const n of l.next) render(n, depth + 1);
    };
    for (const e of entries) render(e.chain, 0);
    return { entries, text: lines.join("\n") };
  }

  /** Runs `t` until it yields at a decision point, blocks, finishes or Oopses. */
  #runSlice(t: Task): void {
    if (this.#last !== null && this.#last !== t && this.#last.cpu === t.cpu) {
      this.#clock.advance(this.#opts.contextSwitchNs);
    }
    this.#last = t;
    this.current = t;
    const gen = t.gen!;
    try {
      for (;;) {
        const r = gen.next();
        if (r.done) {
          t.state = "done";
          t.result = r.value;
          t.gen = null;
          if (this.trace.on) {
            this.trace.emit({ kind: "sched", op: "exit", target: t.id, what: t.name });
          }
          break;
        }
        const y: Yielded = r.value;
        if (y === PREEMPT) {
          // no preemption while preemption is disabled (spinlocks, sched readers)
          if (t.preemptDepth > 0 || t.spinDepth > 0) continue;
          break;
        }
        t.state = "blocked";
        t.waitingOn = y;
        y.waiters.push(t);
        if (this.trace.on) {
          this.trace.emit({
            kind: "sched",
            op: "block",
            target: t.id,
            what: `${y.kind} ${y.label}`,
          });
        }
        break;
      }
    } catch (e) {
      if (!(e instanceof OopsSignal)) {
        this.current = null;
        throw e;
      }
      this.#oopsTask(t, e);
    }
    this.current = null;
  }

  #oopsTask(t: Task, sig: OopsSignal): void {
    t.state = "oopsed";
    t.gen = null;
    t.oops = sig.message;
    this.oopses.push({
      task: t.toString(),
      taskId: t.id,
      message: sig.message,
      chain: sig.frames.map((f) => f.fn),
    });
    if (this.trace.on) {
      this.trace.emit({ kind: "sched", op: "oops", target: t.id, what: sig.message });
    }
    this.hooks.onOops?.(t, sig);
  }

  #runSoftirq(fn: () => void): void {
    const saved = this.current;
    this.current = this.#softirq;
    try {
      fn();
    } catch (e) {
      if (!(e instanceof OopsSignal)) {
        this.current = saved;
        throw e;
      }
      // an Oops in softirq context: recorded against the softirq task, machine runs on
      this.oopses.push({
        task: this.#softirq.toString(),
        taskId: 0,
        message: e.message,
        chain: e.frames.map((f) => f.fn),
      });
      this.hooks.onOops?.(this.#softirq, e);
    }
    this.current = saved;
  }

  #wake(t: Task, wq: WaitQueue): void {
    if (t.state !== "blocked" || t.waitingOn !== wq) return;
    t.state = "runnable";
    t.waitingOn = null;
    t.blockedIn = [];
    if (this.trace.on) {
      this.trace.emit({ kind: "sched", op: "wake", target: t.id, what: `${wq.kind} ${wq.label}` });
    }
  }

  #fireDueTimers(): void {
    if (this.#timers.length === 0) return;
    const now = this.#clock.now;
    const keep: WaitQueue[] = [];
    for (const wq of this.#timers) {
      if (wq.wakeAt <= now) this.wakeAll(wq);
      else keep.push(wq);
    }
    this.#timers = keep;
  }

  #advanceToNextTimer(): boolean {
    const live = this.#timers.filter((w) => w.waiters.length > 0);
    if (live.length === 0) return false;
    let at = Infinity;
    for (const w of live) at = Math.min(at, w.wakeAt);
    this.#clock.advanceTo(at);
    this.#fireDueTimers();
    return true;
  }

  #explainTask(t: Task, seen: Set<object>): WaitLink {
    const head = `task ${t} on CPU ${t.cpu}`;
    if (seen.has(t)) return { text: `${head} (already shown above: a cycle)`, next: [] };
    seen.add(t);
    switch (t.state) {
      case "done":
        return { text: `${head} has exited`, next: [] };
      case "oopsed":
        return {
          text: `${head} was killed by an Oops (${t.oops}); it never releases what it held`,
          next: [],
        };
      case "runnable":
        return { text: `${head} is runnable`, next: [] };
      case "blocked":
        return {
          text: `${head} is blocked${
            t.blockedIn.length > 0 ? ` in ${t.blockedIn.join(" ← ")}` : ""
          }`,
          next: [this.#explainWait(t.waitingOn!, seen)],
        };
    }
  }

  #explainWait(wq: WaitQueue, seen: Set<object>): WaitLink {
    if (seen.has(wq)) return { text: `${wq.kind} '${wq.label}' (already shown above)`, next: [] };
    seen.add(wq);
    let ex: Explanation;
    const explainer = this.explainers.get(wq.kind);
    if (explainer) ex = explainer(wq);
    else if (wq.kind === "rcu_gp") {
      const readers = this.rcu.blockingReaders();
      ex = {
        text:
          `waits for an RCU grace period (${readers.length} reader(s) still inside a read-side section)`,
        next: readers,
      };
    } else if (wq.kind === "timer") ex = { text: `sleeps until t=${wq.wakeAt} ns`, next: [] };
    else ex = { text: `waits on ${wq.kind} '${wq.label}'`, next: [] };
    return {
      text: ex.text,
      next: ex.next.map((n) =>
        n instanceof Task
          ? this.#explainTask(n, seen)
          : n instanceof WaitQueue
          ? this.#explainWait(n, seen)
          : n
      ),
    };
  }
}

/** Whether `v` is a generator object (kernel code that may sleep). */
export function isGenerator(v: unknown): v is KGen<unknown> {
  return typeof v === "object" && v !== null &&
    Object.prototype.toString.call(v) === "[object Generator]";
}

/** Formats an Oops for dmesg: headline, task, call trace. */
export function formatOops(task: Task, sig: OopsSignal, tainted: string): string[] {
  return [
    sig.message,
    `CPU: ${task.cpu} PID: ${task.id} Comm: ${task.name} ${tainted}`,
    ...formatCallTrace(sig.frames),
  ];
}
