/**
 * Sleeping, preemption and RCU read-side primitives for kernel code
 * (include/linux/rcupdate.h, kernel/rcu/tree.c, kernel/sched/core.c).
 *
 * A sleeping function is a generator: call it with `yield*`. The read-side
 * primitives are plain functions. Outside any task (tests calling a hot path
 * directly) they do nothing: there is no concurrency to protect against.
 *
 * @module
 */
import { callChain, formatCallTrace } from "../sim/callchain.ts";
import { type KGen, PREEMPT } from "../sim/task.ts";
import type { Kernel } from "./kernel.ts";

/**
 * Records where the current task goes to sleep (its simulated call chain), for
 * hang reports. Called by the sleeping primitives before they block; costs a
 * stack walk, so never on a hot path.
 */
export function noteBlock(k: Kernel): void {
  const t = k.current;
  if (t === null) return;
  // capture only (V8 formats the stack on first read): a hang report parses it, most never do
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 64;
  t.noteBlockedAt(new Error("noteBlock"));
  Error.stackTraceLimit = saved;
}

/** rcu_read_lock(): enter a preemptible RCU read-side section. */
export function rcu_read_lock(k: Kernel): void {
  const t = k.current;
  if (t !== null) t.rcuDepth++;
}

/** rcu_read_unlock(): leave it. */
export function rcu_read_unlock(k: Kernel): void {
  const t = k.current;
  if (t === null) return;
  if (t.rcuDepth === 0) k.BUG("include/linux/rcupdate.h: rcu_read_unlock without rcu_read_lock");
  t.rcuDepth--;
  if (!t.inReadSide) t.readerGen++;
}

/** rcu_read_lock_sched(): a preempt-disabled (sched) reader. */
export function rcu_read_lock_sched(k: Kernel): void {
  preempt_disable(k);
}

/** rcu_read_unlock_sched(). */
export function rcu_read_unlock_sched(k: Kernel): void {
  preempt_enable(k);
}

/** preempt_disable(). */
export function preempt_disable(k: Kernel): void {
  const t = k.sched.current;
  if (t !== null) t.preemptDepth++;
}

/** preempt_enable(). */
export function preempt_enable(k: Kernel): void {
  const t = k.sched.current;
  if (t === null) return;
  if (t.preemptDepth === 0) k.BUG("include/linux/preempt.h: preempt_enable underflow");
  t.preemptDepth--;
  if (!t.inReadSide) t.readerGen++;
}

/**
 * might_sleep(): prints "BUG: sleeping function called from invalid context"
 * (kernel/sched/core.c ___might_sleep) when the current task holds a spinlock,
 * is inside rcu_read_lock, or has preemption disabled; taints W; continues.
 */
export function might_sleep(k: Kernel): void {
  const t = k.sched.current;
  if (t === null || t.canSleep) return;
  const frames = callChain(1);
  const at = frames[0] ? `${frames[0].file}:${frames[0].line}` : "unknown";
  k.dmesg.printk("err", `BUG: sleeping function called from invalid context at ${at}`);
  k.dmesg.printk(
    "err",
    `in_atomic(): ${
      t.preemptDepth + t.spinDepth > 0 ? 1 : 0
    }, irqs_disabled(): 0, pid: ${t.id}, name: ${t.name}`,
  );
  k.taint("W");
  for (const l of formatCallTrace(frames)) k.dmesg.printk("err", l);
}

/**
 * A preemption point (cond_resched-like, or an explicitly marked step): the
 * scheduler may switch tasks here unless preemption is disabled.
 * Sleeps: call with `yield*`.
 */
export function* preempt_point(_k: Kernel): KGen<void> {
  yield PREEMPT;
}

/**
 * synchronize_rcu() (kernel/rcu/tree.c): blocks until every RCU reader, of
 * either kind, that began before the call has finished.
 * Sleeps: call with `yield*` or `machine.call`.
 */
export function* synchronize_rcu(k: Kernel): KGen<void> {
  might_sleep(k);
  const wq = k.sched.rcu.waitQueue("synchronize_rcu");
  if (!(wq as unknown as { done: boolean }).done) noteBlock(k);
  while (!(wq as unknown as { done: boolean }).done) yield wq;
}

/** synchronize_sched(): the same grace period since the v4.20 flavour consolidation. */
export function* synchronize_sched(k: Kernel): KGen<void> {
  yield* synchronize_rcu(k);
}

/**
 * call_rcu(head, func) (kernel/rcu/tree.c): runs `func(head)` after a grace
 * period, in softirq context. The model has no struct rcu_head: `head` is
 * the object that embeds it, so the callback's container_of is the identity.
 */
export function call_rcu<T>(k: Kernel, head: T, func: (head: T) => void): void {
  k.sched.rcu.call(() => func(head));
}

/** call_rcu_sched(head, func): the same engine as call_rcu in v4.20. See {@link call_rcu}. */
export function call_rcu_sched<T>(k: Kernel, head: T, func: (head: T) => void): void {
  k.sched.rcu.call(() => func(head));
}

/**
 * msleep(): sleeps for `ms` milliseconds of simulated time.
 * Sleeps: call with `yield*`.
 */
export function* msleep(k: Kernel, ms: number): KGen<void> {
  might_sleep(k);
  const wq = k.sched.timer(`msleep(${ms})`, k.clock.now + ms * 1_000_000);
  noteBlock(k);
  while (k.clock.now < wq.wakeAt) yield wq;
}
