/**
 * Sleeping locks (kernel/locking/mutex.c) and spinlocks
 * (include/linux/spinlock.h) on the scheduler.
 *
 * @module
 */
import { type KGen, PREEMPT, type Task, WaitQueue } from "../sim/task.ts";
import type { Kernel } from "./kernel.ts";
import { might_sleep, noteBlock } from "./sched.ts";

/** struct mutex. */
export class Mutex {
  /** The owning task, or null. */
  owner: Task | null = null;
  /** Waiters. */
  readonly wq: WaitQueue;
  /**
   * Creates the object.
   * @param name lock name for hang reports.
   */
  constructor(readonly name: string) {
    this.wq = new WaitQueue("mutex", name, this);
  }
}

/**
 * mutex_lock(): a preemption point, then blocks while another task owns it.
 * Sleeps: call with `yield*`.
 */
export function* mutex_lock(k: Kernel, m: Mutex): KGen<void> {
  might_sleep(k);
  yield PREEMPT;
  const me = k.sched.current;
  if (me === null) throw new TypeError(`Cannot take mutex ${m.name}: not inside a task`);
  if (m.owner === me) {
    // the kernel would deadlock on itself; lockdep would say so
    k.dmesg.printk("warning", `WARNING: possible recursive locking detected (${m.name})`);
  }
  if (m.owner !== null) noteBlock(k);
  while (m.owner !== null) yield m.wq;
  m.owner = me;
  me.held.add(m);
}

/** mutex_trylock(): 1 if taken, 0 if owned by someone. */
export function mutex_trylock(k: Kernel, m: Mutex): number {
  const me = k.sched.current;
  if (me === null) throw new TypeError(`Cannot take mutex ${m.name}: not inside a task`);
  if (m.owner !== null) return 0;
  m.owner = me;
  me.held.add(m);
  return 1;
}

/** mutex_unlock(): releases and wakes one waiter. */
export function mutex_unlock(k: Kernel, m: Mutex): void {
  const me = k.sched.current;
  if (m.owner !== me) {
    k.dmesg.printk("warning", `DEBUG_LOCKS_WARN_ON(__owner_task(owner) != current) (${m.name})`);
  }
  m.owner?.held.delete(m);
  m.owner = null;
  k.sched.wakeOne(m.wq);
}

/** mutex_is_locked(). */
export function mutex_is_locked(m: Mutex): boolean {
  return m.owner !== null;
}

/** spinlock_t: preemption is off while held; never sleeps. */
export class Spinlock {
  /** The owning task, or null. */
  owner: Task | null = null;
  /**
   * Creates the object.
   * @param name lock name.
   */
  constructor(readonly name: string) {}
}

/** spin_lock(): disables preemption. A lock held by a task that can no longer run is a lockup. */
export function spin_lock(k: Kernel, l: Spinlock): void {
  const me = k.sched.current;
  if (l.owner !== null && l.owner !== me) {
    k.oops(`BUG: spinlock lockup suspected on CPU#${k.cpu}, ${l.name} held by ${l.owner}`);
  }
  if (me !== null) {
    me.spinDepth++;
    me.preemptDepth++;
    me.held.add(l);
  }
  l.owner = me;
}

/** spin_unlock(). */
export function spin_unlock(k: Kernel, l: Spinlock): void {
  const me = k.sched.current;
  l.owner = null;
  if (me !== null) {
    me.spinDepth--;
    me.preemptDepth--;
    me.held.delete(l);
    if (!me.inReadSide) me.readerGen++;
  }
}
