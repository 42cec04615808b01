/**
 * Typed trace events with simulated timestamp, task and CPU.
 *
 * The trace is generic over its event union (lib/sim knows nothing of Linux;
 * lib/kernel supplies the kernel's events). Emit sites are guarded by the
 * `on` field, so a disabled trace costs one property load and a branch:
 *
 * ```ts ignore
 * if (k.trace.on) k.trace.emit({ kind: "percpu_ref", op: "get", ref: ref.id, n: 1 });
 * ```
 *
 * A run of uniform events may be one event carrying a range and a count.
 *
 * @module
 */
import type { Clock } from "./clock.ts";

/** Fields every recorded event carries. */
export interface TraceStamp {
  /** Simulated time, ns. */
  t: number;
  /** Task id (0 = the RCU/softirq context, -1 = outside any task). */
  task: number;
  /** Simulated CPU the task ran on (-1 outside any task). */
  cpu: number;
  /** Sequence number in the trace. */
  seq: number;
}

/** A recorded event: the emitted event plus its stamp. */
export type Traced<E> = E & TraceStamp;

/** Where the trace reads the current task and CPU from (the scheduler). */
export interface TraceSource {
  /** The current task id. */
  readonly taskId: number;
  /** The current CPU. */
  readonly cpuId: number;
}

/** A subscriber: called synchronously for each recorded event. */
export type TraceSubscriber<E> = (e: Traced<E>) => void;

/** A typed, filterable, subscribable event trace. */
export class Trace<E extends { kind: string }> {
  #on = false;
  /** Called when {@link Trace.on} changes (the kernel mirrors it in a field of its own). */
  onToggle: ((on: boolean) => void) | null = null;

  /** Whether emit sites record anything. Check it before building an event. */
  get on(): boolean {
    return this.#on;
  }

  set on(v: boolean) {
    this.#on = v;
    this.onToggle?.(v);
  }
  /** Everything recorded, in order. */
  readonly events: Traced<E>[] = [];
  #subs: TraceSubscriber<E>[] = [];
  #clock: Clock;
  #source: TraceSource;

  /**
   * Creates the object.
   * @param clock the simulated clock that stamps events.
   * @param source where the current task and CPU are read.
   */
  constructor(clock: Clock, source: TraceSource) {
    this.#clock = clock;
    this.#source = source;
  }

  /** Records `e` with the current time, task and CPU (call only when `on`). */
  emit(e: E): void {
    const ev = e as Traced<E>;
    ev.t = this.#clock.now;
    ev.task = this.#source.taskId;
    ev.cpu = this.#source.cpuId;
    ev.seq = this.events.length;
    this.events.push(ev);
    for (let i = 0; i < this.#subs.length; i++) this.#subs[i]!(ev);
  }

  /** Events of one kind, narrowed to their type. */
  filter<K extends E["kind"]>(kind: K): Traced<Extract<E, { kind: K }>>[] {
    return this.events.filter((e) => e.kind === kind) as Traced<Extract<E, { kind: K }>>[];
  }

  /** Events matching a predicate. */
  where(pred: (e: Traced<E>) => boolean): Traced<E>[] {
    return this.events.filter(pred);
  }

  /** Calls `fn` for every event recorded from now on; returns the unsubscribe function. */
  subscribe(fn: TraceSubscriber<E>): () => void {
    this.#subs.push(fn);
    return () => {
      this.#subs = this.#subs.filter((s) => s !== fn);
    };
  }

  /** Drops every recorded event (subscribers stay). */
  clear(): void {
    this.events.length = 0;
  }
}
