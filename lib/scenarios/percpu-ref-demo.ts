/**
 * The foundation's demonstration: one percpu_ref on two simulated CPUs —
 * gets and puts in percpu mode, a kill, the RCU grace period that folds the
 * per-CPU counters, and the release when the last reference goes.
 *
 * @module
 */
import { complete, Completion, wait_for_completion } from "../kernel/completion.ts";
import type { KernelEvent } from "../kernel/events.ts";
import {
  percpu_ref_exit,
  percpu_ref_get_many,
  percpu_ref_init,
  percpu_ref_kill,
  percpu_ref_put_many,
  PercpuRef,
} from "../kernel/percpu-refcount.ts";
import { stamp } from "../kernel/printk.ts";
import { createMachine } from "../machine.ts";
import type { Traced } from "../sim/trace.ts";

/** What the demonstration returns. */
export interface PercpuRefDemo {
  /** Every trace event, in order. */
  events: Traced<KernelEvent>[];
  /** The trace formatted one event per line. */
  lines: string[];
  /** How many times release ran (1). */
  released: number;
  /** Simulated time at which release ran, ns. */
  releasedAt: number;
  /** Simulated time of the kill, ns. */
  killedAt: number;
}

/** Formats one trace event as a line: time, CPU, task, event. */
export function formatEvent(
  e: Traced<KernelEvent>,
  taskNames: ReadonlyMap<number, string>,
): string {
  const who = `${(taskNames.get(e.task) ?? (e.task < 0 ? "-" : `task${e.task}`)).padEnd(12)} cpu${
    e.cpu < 0 ? "-" : e.cpu
  }`;
  let what: string;
  switch (e.kind) {
    case "percpu_ref":
      what = `percpu_ref ${e.name}#${e.ref} ${e.op}${e.n > 1 ? ` ×${e.n}` : ""} → count ${e.count}`;
      break;
    case "sched":
      what = `sched ${e.op} ${e.what}`;
      break;
    case "rcu":
      what = `rcu ${e.op} #${e.gp}`;
      break;
    case "devres":
      what = `devres ${e.op} ${e.dev}: ${e.name}`;
      break;
    case "device":
      what = `device ${e.op} ${e.dev} (${e.driver})${e.ret ? ` ret ${e.ret}` : ""}`;
      break;
    default:
      what = `${e.kind} ${
        JSON.stringify({ ...e, t: undefined, task: undefined, cpu: undefined, seq: undefined })
      }`;
  }
  return `${stamp(e.t)} ${who}  ${what}`;
}

/**
 * Runs the demonstration on a fresh two-CPU machine.
 *
 * @example
 * ```ts
 * import { percpuRefDemo } from "./percpu-ref-demo.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const d = percpuRefDemo();
 * assertEquals(d.released, 1);
 * assert(d.releasedAt > d.killedAt); // a grace period lies between
 * ```
 */
export function percpuRefDemo(seed = 1): PercpuRefDemo {
  const m = createMachine({ cpus: 2, seed });
  const k = m.kernel;
  k.trace.on = true;
  const ref = new PercpuRef();
  const done = new Completion("ref released");
  done.completer = ref;
  let released = 0, releasedAt = -1, killedAt = -1;
  m.call(
    percpu_ref_init,
    ref,
    function demo_release() {
      released++;
      releasedAt = k.clock.now;
      complete(k, done);
    },
    0,
    0,
  );
  m.spawn("user@cpu0", (kk) => {
    percpu_ref_get_many(kk, ref, 3);
    kk.clock.advance(1_000);
    percpu_ref_put_many(kk, ref, 1);
  }, 0);
  m.spawn("user@cpu1", (kk) => {
    percpu_ref_get_many(kk, ref, 2);
    kk.clock.advance(2_000);
    percpu_ref_put_many(kk, ref, 4); // more than it took: per-CPU counters may go negative
  }, 1);
  m.runAll();
  m.spawn("killer", function* (kk) {
    killedAt = kk.clock.now;
    percpu_ref_kill(kk, ref);
    yield* wait_for_completion(kk, done);
    percpu_ref_exit(kk, ref);
  }, 0);
  m.spawn("last-user", (kk) => {
    kk.clock.advance(5_000);
  }, 1);
  m.runAll();
  const names = new Map(k.sched.tasks.map((t) => [t.id, t.name]));
  const events = k.trace.events;
  return {
    events,
    lines: events.map((e) => formatEvent(e, names)),
    released,
    releasedAt,
    killedAt,
  };
}
