/**
 * The part of the block layer pmem leans on (block/blk-core.c, blk-mq.c,
 * blk-sysfs.c, v4.20): a bio-based request queue whose usage counter,
 * `q_usage_counter`, pmem hands to devm_memremap_pages as the pgmap ref —
 * so every ZONE_DEVICE page of an fsdax namespace pins the queue — and the
 * freeze / cleanup machinery that kills and drains that counter.
 *
 * - blk_alloc_queue_node: the counter starts in atomic mode
 *   (PERCPU_REF_INIT_ATOMIC, "faster to shut down"); blk_register_queue
 *   (device_add_disk) switches it to percpu mode once.
 * - blk_freeze_queue_start: mq_freeze_depth++, and only the 0 → 1 step
 *   kills the counter, so pmem's freeze (its kill) and blk_cleanup_queue's
 *   own freezes never double-kill.
 * - blk_mq_freeze_queue_wait: wait_event(mq_freeze_wq,
 *   percpu_ref_is_zero(&q->q_usage_counter)); the counter's release
 *   (blk_queue_usage_counter_release) wakes mq_freeze_wq.
 * - blk_cleanup_queue: dying (a freeze), blk_freeze_queue (another freeze,
 *   then the wait for zero), dead, percpu_ref_exit. Sleeps.
 *
 * Requests, bios, elevators and sysfs are not modelled: pmem's I/O goes
 * through the namespace's disk object (lib/hw/nvdimm), not through here.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import type { Explanation } from "../../sim/sched.ts";
import { type KGen, WaitQueue } from "../../sim/task.ts";
import { explainRef } from "../../kernel/explain.ts";
import { Mutex, mutex_lock, mutex_unlock, type Spinlock } from "../../kernel/mutex.ts";
import {
  percpu_ref_exit,
  percpu_ref_init,
  PERCPU_REF_INIT_ATOMIC,
  percpu_ref_is_zero,
  percpu_ref_kill,
  percpu_ref_switch_to_percpu,
  PercpuRef,
} from "../../kernel/percpu-refcount.ts";
import { might_sleep, noteBlock } from "../../kernel/sched.ts";

/** q->q_usage_counter: a percpu_ref that knows its queue (container_of). */
export class QueueUsageCounter extends PercpuRef {
  /**
   * Creates the counter (percpu_ref_init it before use).
   * @param q the queue embedding it.
   */
  constructor(readonly q: RequestQueue) {
    super();
  }
}

/** struct request_queue (the fields the model uses). */
export class RequestQueue {
  /** The usage counter (pmem: the pgmap ref). */
  readonly q_usage_counter: QueueUsageCounter;
  /** atomic mq_freeze_depth. */
  mq_freeze_depth = 0;
  /** mq_freeze_wq: woken by the counter's release and when the queue dies. */
  readonly mq_freeze_wq: WaitQueue;
  /** q->sysfs_lock. */
  readonly sysfs_lock: Mutex;
  /** QUEUE_FLAG_INIT_DONE (set by blk_register_queue). */
  init_done = false;
  /** QUEUE_FLAG_DYING. */
  dying = false;
  /** QUEUE_FLAG_DEAD. */
  dead = false;
  /** QUEUE_FLAG_DAX (pmem with struct pages). */
  dax = false;
  /** q->queuedata (the driver's device). */
  queuedata: unknown = null;
  /** The name traces and hang reports use (the disk's, once known). */
  name: string;

  /**
   * Creates an unregistered queue (blk_alloc_queue_node does the rest).
   * @param name label for traces.
   */
  constructor(name: string) {
    this.name = name;
    this.q_usage_counter = new QueueUsageCounter(this);
    this.mq_freeze_wq = new WaitQueue("blk_freeze", name, this);
    this.sysfs_lock = new Mutex(`${name} sysfs_lock`);
  }
}

/** Installs the hang-report explainer of mq_freeze_wq once per kernel. */
const BLK: SubsystemKey<{ installed: true }> = {
  name: "blk",
  create(k: Kernel) {
    k.sched.explainers.set("blk_freeze", (wq: WaitQueue): Explanation => {
      const q = wq.owner as RequestQueue;
      return {
        text:
          `blk_mq_freeze_queue_wait on queue '${q.name}' (freeze depth ${q.mq_freeze_depth}), woken when q_usage_counter reaches zero:`,
        next: [explainRef(k, q.q_usage_counter)],
      };
    });
    return { installed: true };
  },
};

function emit(
  k: Kernel,
  op: "freeze_start" | "freeze_wait" | "freeze_done" | "dying" | "cleanup_done" | "register",
  q: RequestQueue,
): void {
  k.trace.emit({ kind: "blk", op, queue: q.name, depth: q.mq_freeze_depth });
}

/**
 * blk_alloc_queue_node(gfp_mask, node_id, lock) (block/blk-core.c, v4.20;
 * v5.0 drops `lock`, which bio-based drivers such as pmem pass as NULL and
 * the model does not use): a new queue whose q_usage_counter is initialised
 * in atomic mode with count 1 and release blk_queue_usage_counter_release
 * (wakes mq_freeze_wq; must not sleep); NULL (here: null) when
 * percpu_ref_init fails (fault point "percpu_ref_init"). `name`, a model
 * argument, labels the queue in traces.
 */
export function blk_alloc_queue_node(
  k: Kernel,
  _gfp: number,
  _node: number,
  _lock: Spinlock | null,
  name = "queue",
): RequestQueue | null {
  k.state(BLK);
  const q = new RequestQueue(name);
  // the release's name is the ref's name in traces and hang reports
  const release = function blk_queue_usage_counter_release(ref: PercpuRef): void {
    k.sched.wakeAll((ref as QueueUsageCounter).q.mq_freeze_wq);
  };
  const rc = percpu_ref_init(k, q.q_usage_counter, release, PERCPU_REF_INIT_ATOMIC, 0);
  if (rc) return null;
  return q;
}

/**
 * blk_register_queue(disk) (block/blk-sysfs.c, from device_add_disk): the
 * first registration marks the queue INIT_DONE and switches q_usage_counter
 * to percpu mode. Returns 0 (the kernel's -errno comes from sysfs and
 * kobject registration, which the model does not do). It takes the queue,
 * `disk->queue`: the model's disk (lib/hw/nvdimm) has no queue pointer.
 */
export function blk_register_queue(k: Kernel, q: RequestQueue): number {
  if (!q.init_done) {
    q.init_done = true;
    percpu_ref_switch_to_percpu(k, q.q_usage_counter);
    if (k.tracing) emit(k, "register", q);
  }
  return 0;
}

/**
 * blk_freeze_queue_start(q) (block/blk-mq.c, EXPORT_SYMBOL_GPL): increments
 * mq_freeze_depth; the 0 → 1 step kills q_usage_counter. pmem's kill.
 */
export function blk_freeze_queue_start(k: Kernel, q: RequestQueue): void {
  const depth = ++q.mq_freeze_depth;
  if (k.tracing) emit(k, "freeze_start", q);
  if (depth === 1) percpu_ref_kill(k, q.q_usage_counter);
}

/**
 * blk_mq_freeze_queue_wait(q): sleeps until q_usage_counter is zero (atomic
 * mode, count 0). Sleeps: call with `yield*`.
 */
export function* blk_mq_freeze_queue_wait(k: Kernel, q: RequestQueue): KGen<void> {
  might_sleep(k);
  if (k.tracing) emit(k, "freeze_wait", q);
  if (!percpu_ref_is_zero(q.q_usage_counter)) noteBlock(k);
  while (!percpu_ref_is_zero(q.q_usage_counter)) yield q.mq_freeze_wq;
  if (k.tracing) emit(k, "freeze_done", q);
}

/** blk_freeze_queue(q): blk_freeze_queue_start, then wait for zero (bio-based: no drain). Sleeps. */
export function* blk_freeze_queue(k: Kernel, q: RequestQueue): KGen<void> {
  blk_freeze_queue_start(k, q);
  yield* blk_mq_freeze_queue_wait(k, q);
}

/** blk_set_queue_dying(q): QUEUE_FLAG_DYING, a freeze, and a wake-up of mq_freeze_wq. */
export function blk_set_queue_dying(k: Kernel, q: RequestQueue): void {
  q.dying = true;
  if (k.tracing) emit(k, "dying", q);
  blk_freeze_queue_start(k, q);
  k.sched.wakeAll(q.mq_freeze_wq);
}

/**
 * blk_cleanup_queue(q) (block/blk-core.c): under sysfs_lock mark the queue
 * dying (a freeze: the kill if nothing froze it before), then
 * blk_freeze_queue — one more freeze and the wait until q_usage_counter
 * reaches zero — then DEAD and percpu_ref_exit. pmem's devm
 * pmem_release_queue action (and, with 50f44ee7248a, its pgmap->cleanup).
 * Sleeps: call with `yield*`.
 */
export function* blk_cleanup_queue(k: Kernel, q: RequestQueue): KGen<void> {
  yield* mutex_lock(k, q.sysfs_lock);
  blk_set_queue_dying(k, q);
  mutex_unlock(k, q.sysfs_lock);
  yield* blk_freeze_queue(k, q);
  q.dead = true;
  percpu_ref_exit(k, q.q_usage_counter);
  if (k.tracing) emit(k, "cleanup_done", q);
}
