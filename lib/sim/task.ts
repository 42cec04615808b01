/**
 * Tasks and wait queues: what the scheduler runs and what tasks block on.
 *
 * @module
 */
import { parseStack } from "./callchain.ts";

/** Yielded by kernel code at a preemption point: the task stays runnable. */
export const PREEMPT: unique symbol = Symbol("preempt");

/** What a kernel generator yields: a preemption point, or the wait queue it blocks on. */
export type Yielded = typeof PREEMPT | WaitQueue;

/**
 * Kernel code the scheduler may preempt: a generator called with `yield*`.
 * A sleeping model function's doc comment says so.
 */
export type KGen<T = void> = Generator<Yielded, T, void>;

/** Life states of a task. */
export type TaskState = "runnable" | "blocked" | "done" | "oopsed";

/**
 * Something a task can block on. The kernel's completion, mutex, RCU grace
 * period and timers are all wait queues; `kind` selects the explainer the hang
 * report uses, `owner` is the object the queue belongs to.
 */
export class WaitQueue {
  /** Tasks blocked here, in arrival order. */
  readonly waiters: Task[] = [];
  /** Absolute simulated wake-up time for timer queues, else -1. */
  wakeAt: number = -1;

  /**
   * Creates the object.
   * @param kind explainer key ("completion", "mutex", "rcu_gp", "timer", ...).
   * @param label human-readable name for reports.
   * @param owner the object this queue belongs to (for explainers).
   */
  constructor(
    readonly kind: string,
    readonly label: string,
    readonly owner: unknown = null,
  ) {}
}

/** A simulated task (a kernel thread or a process in the kernel). */
export class Task {
  /** Lifecycle state. */
  state: TaskState = "runnable";
  /** What it is blocked on, while blocked. */
  waitingOn: WaitQueue | null = null;
  /** Return value once done. */
  result: unknown = undefined;
  /** rcu_read_lock nesting (preemptible readers). */
  rcuDepth = 0;
  /** preempt_disable nesting (sched readers; spinlocks add to it too). */
  preemptDepth = 0;
  /** Spinlocks held. */
  spinDepth = 0;
  /** Bumped each time the task leaves its outermost read-side section. */
  readerGen = 0;
  /** Locks currently held (for hang reports); kept on Oops, as the kernel does. */
  readonly held: Set<object> = new Set();
  /**
   * Where the task last went to sleep: the simulated call chain, innermost
   * first. Read from a stack captured when it blocked ({@link Task.noteBlockedAt}),
   * parsed on first read: most blocks are never reported.
   */
  get blockedIn(): string[] {
    if (this.#blockedAt !== null) {
      this.#blockedIn = parseStack(this.#blockedAt.stack ?? "", 1).map((f) => f.fn);
      this.#blockedAt = null;
    }
    return this.#blockedIn;
  }
  set blockedIn(chain: string[]) {
    this.#blockedAt = null;
    this.#blockedIn = chain;
  }
  #blockedIn: string[] = [];
  #blockedAt: Error | null = null;

  /**
   * Records where the task goes to sleep: `at` is an Error created by the
   * sleeping primitive itself (its frame is dropped), parsed lazily.
   */
  noteBlockedAt(at: Error): void {
    this.#blockedAt = at;
  }
  /** Oops text if the task was killed by an Oops. */
  oops: string | null = null;
  /** @internal the generator being run. */
  gen: KGen<unknown> | null = null;

  /**
   * Creates the object.
   * @param id task id (1-based; 0 is the RCU/softirq context).
   * @param name comm-like name.
   * @param cpu the simulated CPU it runs on.
   */
  constructor(readonly id: number, readonly name: string, readonly cpu: number) {}

  /** Whether the task is inside any read-side critical section. */
  get inReadSide(): boolean {
    return this.rcuDepth > 0 || this.preemptDepth > 0;
  }

  /** Whether the task may sleep here (no spinlock, no RCU read side, preemption on). */
  get canSleep(): boolean {
    return this.spinDepth === 0 && this.rcuDepth === 0 && this.preemptDepth === 0;
  }

  /** "name[id]" as in kernel messages. */
  toString(): string {
    return `${this.name}[${this.id}]`;
  }
}
