/**
 * percpu_ref (lib/percpu-refcount.c, include/linux/percpu-refcount.h, v4.20).
 *
 * State as the kernel keeps it: an atomic count that carries PERCPU_COUNT_BIAS
 * while the ref is in percpu mode, per-CPU counters, and the ATOMIC and DEAD
 * flag bits. The model stores the atomic count without the bias plus a `bias`
 * flag, so every value stays an exact Number; the semantics are the kernel's:
 *
 * - percpu mode: get/put touch this CPU's counter only; a put never detects zero.
 * - a switch to atomic (kill, or switch_to_atomic) sets ATOMIC at once, takes an
 *   extra ref, and queues an RCU callback; after a grace period the callback
 *   folds the per-CPU counters into the count, drops the bias, WARNs if the
 *   result is ≤ 0, calls confirm_switch, and drops the extra ref — which may be
 *   the put that reaches zero and calls release.
 * - kill = set DEAD, switch to atomic, then put the initial ref. A second kill
 *   WARNs once and puts again (one put too many).
 * - release runs when the atomic count reaches exactly 0; below zero nothing happens.
 *
 * Fast paths are plain functions; with tracing off they cost a few ns.
 *
 * @module
 */
import { ENOMEM } from "./errno.ts";
import type { PercpuRefEvent } from "./events.ts";
import type { Kernel, SubsystemKey } from "./kernel.ts";
import { WARN_ON_ONCE, WARN_ONCE } from "./printk.ts";
import { call_rcu_sched, might_sleep, noteBlock } from "./sched.ts";
import { type KGen, WaitQueue } from "../sim/task.ts";

/** percpu_ref_init flag: start in atomic mode, sticky until switch_to_percpu. */
export const PERCPU_REF_INIT_ATOMIC = 1;
/** percpu_ref_init flag: start dead (count 0); must be revived with percpu_ref_reinit. */
export const PERCPU_REF_INIT_DEAD = 2;
/** percpu_ref_init flag: allow switching to percpu mode (v4.20 has it as a no-op compat). */
export const PERCPU_REF_ALLOW_REINIT = 0;

/** __PERCPU_REF_ATOMIC: the low bit of percpu_count_ptr. */
const __PERCPU_REF_ATOMIC = 1;
/** __PERCPU_REF_DEAD: the next bit. */
const __PERCPU_REF_DEAD = 2;
/** Both: a ref is in percpu mode when neither is set. */
const __PERCPU_REF_ATOMIC_DEAD = 3;

/** The counters of a ref that has none (before init, after exit): no slot. */
const NO_COUNTERS: Int32Array = new Int32Array(0);

/** The release callback: must not sleep (it may run from an RCU callback). */
export type PercpuRefFunc = (ref: PercpuRef) => void;

/** struct percpu_ref. Allocate with `new PercpuRef()`, then percpu_ref_init it. */
export class PercpuRef {
  // the fast paths' fields first: read right after the object's map word (one host cache line)
  /**
   * @internal The kernel's counter pool chunk holding this ref's per-CPU
   * counters (shared by many refs, so it stays in the host's caches); empty
   * before init.
   */
  counters: Int32Array = NO_COUNTERS;
  /**
   * percpu_count_ptr: where this ref's CPU 0 counter sits in
   * {@link PercpuRef.counters}, times 4, plus the flag bits __PERCPU_REF_ATOMIC
   * (1) and __PERCPU_REF_DEAD (2) — one word, as the kernel packs the flags
   * into the low bits of the per-CPU pointer, so that __ref_is_percpu is one
   * read and one test. Starts ATOMIC|DEAD (no counters).
   */
  percpu_count_ptr: number = __PERCPU_REF_ATOMIC_DEAD;
  /** Id for traces (assigned at init). */
  id = 0;
  /** Name for traces and messages (the release function's name). */
  name = "";
  /** The atomic count, without PERCPU_COUNT_BIAS. */
  count = 0;
  /** Whether the atomic count carries PERCPU_COUNT_BIAS (percpu mode, or a switch in flight). */
  bias = false;
  /**
   * Per-CPU counters; null before init and after exit. Int32 for speed (a
   * Float64Array element increment costs ten times more in V8); a counter that
   * would leave the int32 range spills into {@link PercpuRef.spill}. A view of
   * this ref's slot in the kernel's counter pool ({@link PercpuRef.counters}
   * from {@link PercpuRef.base}); the fast paths index the pool directly.
   */
  pcpu: Int32Array | null = null;
  /** What the per-CPU counters spilled (only their sum matters, as in the fold). */
  spill = 0;
  /** Sticky atomic mode. */
  forceAtomic = false;
  /** The release callback. */
  release: PercpuRefFunc | null = null;
  /** Non-null while a switch to atomic is in flight. */
  confirmSwitch: PercpuRefFunc | null = null;
  /** How many times release has been called (the kernel calls it once; a model check). */
  releaseFired = 0;
  /** @internal waiters for a confirmed switch. */
  switchWq: WaitQueue | null = null;

  /** __PERCPU_REF_ATOMIC, from {@link PercpuRef.percpu_count_ptr}. */
  get atomic(): boolean {
    return (this.percpu_count_ptr & __PERCPU_REF_ATOMIC) !== 0;
  }
  set atomic(on: boolean) {
    const p = this.percpu_count_ptr & ~__PERCPU_REF_ATOMIC;
    this.percpu_count_ptr = on ? p | __PERCPU_REF_ATOMIC : p;
  }

  /** __PERCPU_REF_DEAD, from {@link PercpuRef.percpu_count_ptr}. */
  get dead(): boolean {
    return (this.percpu_count_ptr & __PERCPU_REF_DEAD) !== 0;
  }
  set dead(on: boolean) {
    const p = this.percpu_count_ptr & ~__PERCPU_REF_DEAD;
    this.percpu_count_ptr = on ? p | __PERCPU_REF_DEAD : p;
  }

  /** @internal Index of this ref's CPU 0 counter in {@link PercpuRef.counters}. */
  get base(): number {
    return this.percpu_count_ptr >> 2;
  }

  /** Whether the ref is in percpu mode (neither ATOMIC nor DEAD). */
  get isPercpu(): boolean {
    return (this.percpu_count_ptr & __PERCPU_REF_ATOMIC_DEAD) === 0;
  }

  /** The logical count: what the count would be after folding (bias excluded). */
  get value(): number {
    let v = this.count;
    if (this.bias && this.pcpu !== null) {
      v += this.spill;
      for (let i = 0; i < this.pcpu.length; i++) v += this.pcpu[i]!;
    }
    return v;
  }
}

/**
 * Every percpu_ref of a kernel between percpu_ref_init and percpu_ref_exit
 * (simulator bookkeeping, no kernel counterpart): the invariant checker
 * (lib/check/invariants.ts) compares each one's count with its holders.
 */
export const PERCPU_REFS: SubsystemKey<Set<PercpuRef>> = {
  name: "percpu-refs",
  create: () => new Set(),
};

/**
 * this_cpu_add on the per-CPU counter of a ref in percpu mode (its
 * percpu_count_ptr has no flag bits, so it is the slot × 4), spilling what
 * leaves the int32 range.
 */
function pcpuAdd(ref: PercpuRef, ptr: number, cpu: number, n: number): void {
  const p = ref.counters;
  const i = (ptr >> 2) + cpu;
  const v = p[i]! + n;
  if (v > 0x7fffffff || v < -0x80000000) {
    ref.spill += v;
    p[i] = 0;
  } else p[i] = v;
}

/** Counters per pool chunk (a chunk is never reallocated, so the `pcpu` views stay valid). */
const POOL_CHUNK = 4096;

/**
 * The per-CPU counters of a kernel's refs: fixed-size Int32Array chunks, one
 * slot of nr_cpu_ids counters per initialised ref, slots of exited refs
 * reused. The model's alloc_percpu: one array for many refs saves the fast
 * paths a typed-array object and a backing store per ref.
 */
interface PercpuPool {
  /** The chunk being filled. */
  chunk: Int32Array;
  /** Next free index in `chunk`. */
  used: number;
  /** Slots freed by percpu_ref_exit: chunks and bases, pairwise. */
  readonly freeChunks: Int32Array[];
  /** Bases of the freed slots. */
  readonly freeBases: number[];
}

const PERCPU_POOL: SubsystemKey<PercpuPool> = {
  name: "percpu_ref counters",
  create: () => ({ chunk: NO_COUNTERS, used: 0, freeChunks: [], freeBases: [] }),
};

/** alloc_percpu(int) for a ref: a zeroed slot of `nr` counters. */
function allocCounters(k: Kernel, ref: PercpuRef, nr: number): void {
  const pool = k.state(PERCPU_POOL);
  let chunk: Int32Array, base: number;
  if (pool.freeChunks.length > 0) {
    chunk = pool.freeChunks.pop()!;
    base = pool.freeBases.pop()!;
    chunk.fill(0, base, base + nr);
  } else {
    if (pool.used + nr > pool.chunk.length) {
      pool.chunk = new Int32Array(Math.max(nr, POOL_CHUNK - (POOL_CHUNK % nr)));
      pool.used = 0;
    }
    chunk = pool.chunk;
    base = pool.used;
    pool.used += nr;
  }
  ref.counters = chunk;
  ref.percpu_count_ptr = base * 4 + (ref.percpu_count_ptr & __PERCPU_REF_ATOMIC_DEAD);
  ref.pcpu = chunk.subarray(base, base + nr);
}

/** free_percpu of a ref's slot. */
function freeCounters(k: Kernel, ref: PercpuRef): void {
  const pool = k.state(PERCPU_POOL);
  pool.freeChunks.push(ref.counters);
  pool.freeBases.push(ref.base);
  ref.counters = NO_COUNTERS;
  ref.percpu_count_ptr &= __PERCPU_REF_ATOMIC_DEAD;
  ref.pcpu = null;
}

function emit(k: Kernel, ref: PercpuRef, op: PercpuRefEvent["op"], n: number): void {
  k.trace.emit({ kind: "percpu_ref", op, ref: ref.id, name: ref.name, n, count: ref.value });
}

/**
 * percpu_ref_init(ref, release, flags, gfp): 0, or -ENOMEM when the per-CPU
 * counters cannot be allocated (fault point "percpu_ref_init").
 *
 * @example Kill → grace period → release
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { PercpuRef, percpu_ref_init, percpu_ref_kill } from "./percpu-refcount.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ cpus: 2 });
 * const ref = new PercpuRef();
 * let released = 0;
 * assertEquals(percpu_ref_init(k, ref, () => released++, 0, 0), 0);
 * percpu_ref_kill(k, ref);
 * assertEquals(released, 0); // the bias keeps it alive until the grace period
 * k.sched.runUntilQuiescent(); // the grace period completes
 * assertEquals(released, 1);
 * ```
 */
export function percpu_ref_init(
  k: Kernel,
  ref: PercpuRef,
  release: PercpuRefFunc,
  flags: number,
  _gfp: number,
): number {
  if (k.faults.shouldFail("percpu_ref_init")) return -ENOMEM;
  ref.id = k.newId();
  k.state(PERCPU_REFS).add(ref);
  ref.name = release.name || "release";
  allocCounters(k, ref, k.nr_cpu_ids);
  ref.spill = 0;
  ref.forceAtomic = (flags & PERCPU_REF_INIT_ATOMIC) !== 0;
  ref.release = release;
  ref.confirmSwitch = null;
  ref.releaseFired = 0;
  ref.switchWq = new WaitQueue("percpu_ref_switch", ref.name, ref);
  if ((flags & (PERCPU_REF_INIT_ATOMIC | PERCPU_REF_INIT_DEAD)) !== 0) {
    ref.atomic = true;
    ref.bias = false;
  } else {
    ref.atomic = false;
    ref.bias = true;
  }
  if ((flags & PERCPU_REF_INIT_DEAD) !== 0) {
    ref.dead = true;
    ref.count = 0;
  } else {
    ref.dead = false;
    ref.count = 1;
  }
  if (k.tracing) emit(k, ref, "init", 1);
  return 0;
}

/** percpu_ref_get_many(ref, nr). */
export function percpu_ref_get_many(k: Kernel, ref: PercpuRef, nr: number): void {
  const ptr = ref.percpu_count_ptr;
  if ((ptr & __PERCPU_REF_ATOMIC_DEAD) === 0) pcpuAdd(ref, ptr, k.cpu, nr);
  else ref.count += nr;
  if (k.tracing) emit(k, ref, "get", nr);
}

/** percpu_ref_get(ref). */
export function percpu_ref_get(k: Kernel, ref: PercpuRef): void {
  const ptr = ref.percpu_count_ptr;
  if ((ptr & __PERCPU_REF_ATOMIC_DEAD) === 0) pcpuAdd(ref, ptr, k.cpu, 1);
  else ref.count++;
  if (k.tracing) emit(k, ref, "get", 1);
}

/** percpu_ref_put_many(ref, nr): in atomic mode, reaching exactly 0 calls release. */
export function percpu_ref_put_many(k: Kernel, ref: PercpuRef, nr: number): void {
  const ptr = ref.percpu_count_ptr;
  if ((ptr & __PERCPU_REF_ATOMIC_DEAD) === 0) {
    pcpuAdd(ref, ptr, k.cpu, -nr);
    if (k.tracing) emit(k, ref, "put", nr);
    return;
  }
  ref.count -= nr;
  if (k.tracing) emit(k, ref, "put", nr);
  if (ref.count === 0 && !ref.bias) fireRelease(k, ref);
}

/** percpu_ref_put(ref). */
export function percpu_ref_put(k: Kernel, ref: PercpuRef): void {
  const ptr = ref.percpu_count_ptr;
  if ((ptr & __PERCPU_REF_ATOMIC_DEAD) === 0) {
    pcpuAdd(ref, ptr, k.cpu, -1);
    if (k.tracing) emit(k, ref, "put", 1);
    return;
  }
  putAtomic(k, ref);
}

/** percpu_ref_put in atomic mode (out of line, so the percpu fast path inlines small). */
function putAtomic(k: Kernel, ref: PercpuRef): void {
  ref.count--;
  if (k.tracing) emit(k, ref, "put", 1);
  if (ref.count === 0 && !ref.bias) fireRelease(k, ref);
}

function fireRelease(k: Kernel, ref: PercpuRef): void {
  ref.releaseFired++;
  if (k.tracing) emit(k, ref, "release", 0);
  ref.release?.(ref);
}

/** percpu_ref_tryget(ref): percpu mode always; atomic mode inc_not_zero (succeeds on a killed ref > 0). */
export function percpu_ref_tryget(k: Kernel, ref: PercpuRef): boolean {
  const ptr = ref.percpu_count_ptr;
  if ((ptr & __PERCPU_REF_ATOMIC_DEAD) === 0) {
    pcpuAdd(ref, ptr, k.cpu, 1);
    if (k.tracing) emit(k, ref, "get", 1);
    return true;
  }
  if (ref.count === 0 && !ref.bias) {
    if (k.tracing) emit(k, ref, "tryget_fail", 0);
    return false;
  }
  ref.count++;
  if (k.tracing) emit(k, ref, "get", 1);
  return true;
}

/** percpu_ref_tryget_live(ref): fails once DEAD is set (on this CPU at once). */
export function percpu_ref_tryget_live(k: Kernel, ref: PercpuRef): boolean {
  const ptr = ref.percpu_count_ptr;
  if ((ptr & __PERCPU_REF_ATOMIC_DEAD) === 0) {
    pcpuAdd(ref, ptr, k.cpu, 1);
    if (k.tracing) emit(k, ref, "get", 1);
    return true;
  }
  return trygetLiveAtomic(k, ref);
}

/** percpu_ref_tryget_live in atomic mode (out of line, so the percpu fast path inlines small). */
function trygetLiveAtomic(k: Kernel, ref: PercpuRef): boolean {
  if (ref.dead || (ref.count === 0 && !ref.bias)) {
    if (k.tracing) emit(k, ref, "tryget_fail", 0);
    return false;
  }
  ref.count++;
  if (k.tracing) emit(k, ref, "get", 1);
  return true;
}

/** percpu_ref_is_dying(ref): DEAD is set. */
export function percpu_ref_is_dying(ref: PercpuRef): boolean {
  return ref.dead;
}

/** percpu_ref_is_zero(ref): atomic mode and count == 0 (false in percpu mode). */
export function percpu_ref_is_zero(ref: PercpuRef): boolean {
  if ((ref.percpu_count_ptr & __PERCPU_REF_ATOMIC_DEAD) === 0) return false;
  return !ref.bias && ref.count === 0;
}

/**
 * percpu_ref_switch_to_atomic_rcu(rcu): the call_rcu_sched callback; `ref`
 * is the percpu_ref embedding the rcu_head (the kernel's container_of).
 */
function percpu_ref_switch_to_atomic_rcu(k: Kernel, ref: PercpuRef): void {
  const p = ref.pcpu;
  if (p === null) {
    // percpu_ref_exit freed the counters while the switch was in flight
    k.oops(
      "BUG: unable to handle kernel NULL pointer dereference in percpu_ref_switch_to_atomic_rcu",
    );
  }
  let sum = ref.spill;
  ref.spill = 0;
  for (let i = 0; i < p.length; i++) sum += p[i]!;
  ref.count += sum;
  ref.bias = false;
  WARN_ONCE(
    k,
    ref.count <= 0,
    `percpu ref (${ref.name}) <= 0 (${ref.count}) after switching to atomic`,
  );
  const confirm = ref.confirmSwitch;
  if (k.tracing) emit(k, ref, "confirm", 0);
  confirm?.(ref);
  ref.confirmSwitch = null;
  if (ref.switchWq !== null) k.sched.wakeAll(ref.switchWq);
  percpu_ref_put(k, ref); // drop the ref taken when the switch started
}

function __percpu_ref_switch_to_atomic(
  k: Kernel,
  ref: PercpuRef,
  confirm: PercpuRefFunc | null,
): void {
  if (ref.atomic) {
    confirm?.(ref);
    return;
  }
  ref.atomic = true;
  ref.count++; // keep the ref alive across the grace period
  ref.confirmSwitch = confirm ?? (() => {});
  if (k.tracing) emit(k, ref, "switch_to_atomic", 0);
  call_rcu_sched(k, ref, (rcu) => percpu_ref_switch_to_atomic_rcu(k, rcu));
}

function __percpu_ref_switch_to_percpu(k: Kernel, ref: PercpuRef): void {
  if (!ref.atomic) return;
  if (ref.pcpu === null) return;
  ref.bias = true;
  ref.pcpu.fill(0);
  ref.spill = 0;
  ref.atomic = false;
  if (k.tracing) emit(k, ref, "switch_to_percpu", 0);
}

function __percpu_ref_switch_mode(k: Kernel, ref: PercpuRef, confirm: PercpuRefFunc | null): void {
  // The kernel waits here (wait_event_lock_irq) for a switch already in flight.
  // The model's kill is a plain function: it proceeds, as if the earlier switch
  // had been confirmed; only the order of the two confirm callbacks can differ.
  if (ref.forceAtomic || ref.dead) __percpu_ref_switch_to_atomic(k, ref, confirm);
  else __percpu_ref_switch_to_percpu(k, ref);
}

/**
 * percpu_ref_kill_and_confirm(ref, confirm_kill): set DEAD, switch to atomic
 * (confirm_kill runs after the grace period), then drop the initial ref.
 * A second kill WARNs once ("... called more than once on <release>!") and
 * still drops a ref.
 */
export function percpu_ref_kill_and_confirm(
  k: Kernel,
  ref: PercpuRef,
  confirm_kill: PercpuRefFunc | null,
): void {
  WARN_ONCE(
    k,
    ref.dead,
    `percpu_ref_kill_and_confirm called more than once on ${ref.name}!`,
  );
  ref.dead = true;
  if (k.tracing) emit(k, ref, "kill", 0);
  __percpu_ref_switch_mode(k, ref, confirm_kill);
  percpu_ref_put(k, ref);
}

/** percpu_ref_kill(ref) = percpu_ref_kill_and_confirm(ref, NULL). */
export function percpu_ref_kill(k: Kernel, ref: PercpuRef): void {
  percpu_ref_kill_and_confirm(k, ref, null);
}

/** percpu_ref_switch_to_atomic(ref, confirm_switch): sticky atomic mode. */
export function percpu_ref_switch_to_atomic(
  k: Kernel,
  ref: PercpuRef,
  confirm_switch: PercpuRefFunc | null,
): void {
  ref.forceAtomic = true;
  __percpu_ref_switch_mode(k, ref, confirm_switch);
}

/**
 * percpu_ref_switch_to_atomic_sync(ref): switch and wait for confirmation.
 * Sleeps: call with `yield*`.
 */
export function* percpu_ref_switch_to_atomic_sync(k: Kernel, ref: PercpuRef): KGen<void> {
  might_sleep(k);
  percpu_ref_switch_to_atomic(k, ref, null);
  if (ref.confirmSwitch !== null) noteBlock(k);
  while (ref.confirmSwitch !== null) yield ref.switchWq!;
}

/** percpu_ref_switch_to_percpu(ref): clears sticky atomic; back to percpu unless dead. */
export function percpu_ref_switch_to_percpu(k: Kernel, ref: PercpuRef): void {
  ref.forceAtomic = false;
  __percpu_ref_switch_mode(k, ref, null);
}

/** percpu_ref_resurrect(ref): WARN unless dead; clear DEAD, get, back to percpu. */
export function percpu_ref_resurrect(k: Kernel, ref: PercpuRef): void {
  WARN_ON_ONCE(k, !ref.dead);
  ref.dead = false;
  percpu_ref_get(k, ref);
  __percpu_ref_switch_mode(k, ref, null);
}

/** percpu_ref_reinit(ref): WARN unless zero, then resurrect. */
export function percpu_ref_reinit(k: Kernel, ref: PercpuRef): void {
  WARN_ON_ONCE(k, !percpu_ref_is_zero(ref));
  if (k.tracing) emit(k, ref, "reinit", 0);
  percpu_ref_resurrect(k, ref);
}

/**
 * percpu_ref_exit(ref): frees the per-CPU counters and leaves the ref
 * ATOMIC|DEAD. Does not look at the count; WARNs once if a switch is in flight.
 */
export function percpu_ref_exit(k: Kernel, ref: PercpuRef): void {
  if (ref.pcpu !== null) {
    WARN_ON_ONCE(k, ref.confirmSwitch !== null);
    k.state(PERCPU_REFS).delete(ref);
    freeCounters(k, ref);
    ref.atomic = true;
    ref.dead = true;
    if (k.tracing) {
      k.trace.emit({
        kind: "percpu_ref",
        op: "exit",
        ref: ref.id,
        name: ref.name,
        n: 0,
        count: ref.count,
      });
    }
  }
}
