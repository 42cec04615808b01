/**
 * Completions (kernel/sched/completion.c): a counter and a wait queue.
 *
 * @module
 */
import { type KGen, WaitQueue } from "../sim/task.ts";
import type { Kernel } from "./kernel.ts";
import { might_sleep, noteBlock } from "./sched.ts";

/** complete_all() sets done to UINT_MAX. */
const UINT_MAX = 0xffffffff;

/** struct completion. */
export class Completion {
  /** The counter. */
  done = 0;
  /** Waiters. */
  readonly wq: WaitQueue;
  /**
   * What is expected to complete it (e.g. the percpu_ref whose release calls
   * complete()), for hang reports. Set by whoever wires the release up.
   */
  completer: unknown = null;

  /**

   * Creates the object.

   * @param name a label for traces and hang reports.

   */
  constructor(readonly name: string) {
    this.wq = new WaitQueue("completion", name, this);
  }
}

/**
 * init_completion(x) (include/linux/completion.h): done = 0 — the
 * completion `x` (made with `new Completion(name)`, the model's
 * DECLARE_COMPLETION) starts over with nothing completed.
 */
export function init_completion(x: Completion): void {
  x.done = 0;
}

/** reinit_completion(): done = 0. */
export function reinit_completion(x: Completion): void {
  x.done = 0;
}

/** complete(): done++ and wake one waiter. */
export function complete(k: Kernel, x: Completion): void {
  if (x.done !== UINT_MAX) x.done++;
  k.sched.wakeOne(x.wq);
}

/** complete_all(): done = UINT_MAX and wake every waiter. */
export function complete_all(k: Kernel, x: Completion): void {
  x.done = UINT_MAX;
  k.sched.wakeAll(x.wq);
}

/**
 * wait_for_completion(): blocks (uninterruptibly) until done > 0, then consumes one.
 * Sleeps: call with `yield*` or `machine.call`.
 */
export function* wait_for_completion(k: Kernel, x: Completion): KGen<void> {
  might_sleep(k);
  if (x.done === 0) noteBlock(k);
  while (x.done === 0) yield x.wq;
  if (x.done !== UINT_MAX) x.done--;
}

/** try_wait_for_completion(): consume one without blocking; false if none. */
export function try_wait_for_completion(x: Completion): boolean {
  if (x.done === 0) return false;
  if (x.done !== UINT_MAX) x.done--;
  return true;
}

/** completion_done(): whether a wait would not block. */
export function completion_done(x: Completion): boolean {
  return x.done !== 0;
}
