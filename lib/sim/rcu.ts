/**
 * RCU on the scheduler: one grace-period engine, two kinds of reader.
 *
 * v4.20 consolidated the RCU flavours (kernel/rcu/tree.c: synchronize_sched
 * and call_rcu_sched became the same grace period as synchronize_rcu), so a
 * grace period waits for preemptible readers (rcu_read_lock) and for
 * preempt-disabled readers (rcu_read_lock_sched, spinlocks) alike.
 *
 * A grace period starts when a callback or a synchronize_rcu needs one. It
 * snapshots the tasks then inside a read-side section; it may complete once
 * each of them has left that section. Completion is a scheduler event: the
 * default policy completes a ready grace period when no task is runnable, and
 * explicit, seeded and explored schedules may place it anywhere it is ready.
 * Callbacks queued during a grace period wait for the next one.
 *
 * @module
 */
import type { Clock } from "./clock.ts";
import type { Task } from "./task.ts";
import { WaitQueue } from "./task.ts";

/** An RCU callback (runs in softirq context: must not sleep). */
export type RcuCallback = () => void;

/** What the engine needs from the scheduler. */
export interface RcuHost {
  /** All tasks of the machine. */
  readonly tasks: readonly Task[];
  /** Runs `fn` as the RCU softirq context (task 0). */
  runInSoftirq(fn: () => void): void;
  /** Wakes every task blocked on `wq`. */
  wakeAll(wq: WaitQueue): void;
  /** Trace hook. */
  onGracePeriod?(op: "gp_start" | "gp_end", seq: number): void;
}

/** The grace-period engine of one machine. */
export class Rcu {
  /** Completed grace periods. */
  completed = 0;
  /** Whether a grace period is in progress. */
  inProgress = false;
  /** Simulated time the current grace period started. */
  startedAt = 0;
  #holders: Array<[Task, number]> = [];
  #cur: RcuCallback[] = [];
  #next: RcuCallback[] = [];
  #host: RcuHost;
  #clock: Clock;
  #gpNs: number;

  /**
   * Creates the object.
   * @param host the scheduler.
   * @param clock the simulated clock.
   * @param gpNs the simulated length of a grace period (cost model `rcu.gracePeriod`).
   */
  constructor(host: RcuHost, clock: Clock, gpNs: number) {
    this.#host = host;
    this.#clock = clock;
    this.#gpNs = gpNs;
  }

  /** Queues `cb` to run after a grace period (call_rcu / call_rcu_sched). */
  call(cb: RcuCallback): void {
    if (this.inProgress) this.#next.push(cb);
    else {
      this.#cur.push(cb);
      this.#start();
    }
  }

  /** Callbacks not yet run. */
  get pending(): number {
    return this.#cur.length + this.#next.length;
  }

  /** Whether the grace period in progress may complete now. */
  ready(): boolean {
    if (!this.inProgress) return false;
    for (const [t, gen] of this.#holders) {
      if (t.state === "done" || t.state === "oopsed") continue;
      if (t.readerGen === gen && t.inReadSide) return false;
    }
    return true;
  }

  /** The readers the current grace period still waits for. */
  blockingReaders(): Task[] {
    if (!this.inProgress) return [];
    return this.#holders.filter(([t, gen]) =>
      t.state !== "done" && t.state !== "oopsed" && t.readerGen === gen && t.inReadSide
    ).map(([t]) => t);
  }

  /** Completes the ready grace period: advances the clock and runs its callbacks. */
  complete(): void {
    if (!this.ready()) throw new Error("Cannot complete a grace period: readers still hold it");
    this.#clock.advanceTo(this.startedAt + this.#gpNs);
    const cbs = this.#cur;
    this.#cur = [];
    this.inProgress = false;
    this.completed++;
    this.#host.onGracePeriod?.("gp_end", this.completed);
    this.#host.runInSoftirq(() => {
      for (const cb of cbs) cb();
    });
    if (this.#next.length > 0 && !this.inProgress) {
      this.#cur = this.#next;
      this.#next = [];
      this.#start();
    } else if (this.#next.length > 0) {
      // a callback queued a callback while a new grace period started: keep order
      this.#cur.push(...this.#next);
      this.#next = [];
    }
  }

  /** A wait queue that is woken after a full grace period (synchronize_rcu's wait). */
  waitQueue(label: string): WaitQueue {
    const wq = new WaitQueue("rcu_gp", label, this);
    let done = false;
    this.call(() => {
      done = true;
      this.#host.wakeAll(wq);
    });
    Object.defineProperty(wq, "done", { get: () => done });
    return wq;
  }

  #start(): void {
    this.inProgress = true;
    this.startedAt = this.#clock.now;
    this.#holders = [];
    for (const t of this.#host.tasks) {
      if (t.inReadSide && t.state !== "done" && t.state !== "oopsed") {
        this.#holders.push([t, t.readerGen]);
      }
    }
    this.#host.onGracePeriod?.("gp_start", this.completed + 1);
  }
}
