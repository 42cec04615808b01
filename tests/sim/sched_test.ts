import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { createMachine, exploreMachine, Machine } from "../../lib/machine.ts";
import type { Kernel } from "../../lib/kernel/kernel.ts";
import {
  preempt_point,
  rcu_read_lock,
  rcu_read_unlock,
  synchronize_rcu,
} from "../../lib/kernel/sched.ts";
import { Mutex, mutex_lock, mutex_unlock } from "../../lib/kernel/mutex.ts";
import { complete, Completion, wait_for_completion } from "../../lib/kernel/completion.ts";
import { spin_lock, spin_unlock, Spinlock } from "../../lib/kernel/mutex.ts";
import type { KGen } from "../../lib/sim/task.ts";

function* steps(k: Kernel, log: string[], name: string, n: number): KGen<void> {
  for (let i = 0; i < n; i++) {
    log.push(`${name}${i}`);
    if (i < n - 1) yield* preempt_point(k);
  }
}

Deno.test("scheduler: the default policy runs a task until it yields control for good", () => {
  const m = createMachine({ cpus: 2 });
  const log: string[] = [];
  m.spawn("A", (k) => steps(k, log, "a", 3));
  m.spawn("B", (k) => steps(k, log, "b", 3));
  const r = m.runAll();
  assertEquals(log, ["a0", "a1", "a2", "b0", "b1", "b2"]);
  assertEquals(r.oopses, []);
  assertEquals(r.blocked, null);
});

Deno.test("scheduler: an explicit schedule interleaves at preemption points", () => {
  const m = createMachine({ cpus: 2 });
  const log: string[] = [];
  m.spawn("A", (k) => steps(k, log, "a", 3));
  m.spawn("B", (k) => steps(k, log, "b", 3));
  const r = m.runAll({ schedule: ["B", "A", "B", "A"] });
  assertEquals(log, ["b0", "a0", "b1", "a1", "a2", "b2"]);
  assertEquals(r.schedule.slice(0, 4), ["B", "A", "B", "A"]);
});

Deno.test("scheduler: exploration counts exactly the interleavings of two tasks (C(6,3) = 20)", () => {
  const seen = new Set<string>();
  const t0 = performance.now();
  const x = exploreMachine(() => createMachine({ cpus: 2 }), (m) => {
    const log: string[] = [];
    m.spawn("A", function* (k) {
      yield* steps(k, log, "a", 3);
    });
    m.spawn("B", function* (k) {
      yield* steps(k, log, "b", 3);
      seen.add(log.join(","));
    });
  });
  const ms = performance.now() - t0;
  assert(x.complete);
  assertEquals(x.schedules.length, 20);
  assertEquals(x.counts, { "oops": 0, "deadlock/hang": 0, "clean": 20 });
  // every schedule is a distinct interleaving (B's last step sees the full order when B ends last)
  assertEquals(new Set(x.schedules.map((s) => s.schedule.join(" "))).size, 20);
  assert(ms < 1000, `exploration took ${ms} ms`);
});

Deno.test("scheduler: exploration of 2×(2 blocks) gives C(4,2) = 6, and a bound stops early", () => {
  const make = () => createMachine({ cpus: 1 });
  const setup = (m: Machine) => {
    const log: string[] = [];
    m.spawn("A", (k) => steps(k, log, "a", 2));
    m.spawn("B", (k) => steps(k, log, "b", 2));
  };
  assertEquals(exploreMachine(make, setup).schedules.length, 6);
  const bounded = exploreMachine(make, setup, { maxSchedules: 4 });
  assertEquals([bounded.schedules.length, bounded.complete], [4, false]);
});

Deno.test("scheduler: an ABBA deadlock is found with its full chain", () => {
  const m = createMachine({ cpus: 2 });
  const a = new Mutex("lock_a"), b = new Mutex("lock_b");
  m.spawn("T1", function* (k) {
    yield* mutex_lock(k, a);
    yield* mutex_lock(k, b);
  });
  m.spawn("T2", function* (k) {
    yield* mutex_lock(k, b);
    yield* mutex_lock(k, a);
  });
  // T1 takes a, T2 takes b, then each wants the other's
  const r = m.runAll({ schedule: ["T1", "T2", "T1", "T2"] });
  assert(r.blocked !== null);
  assertEquals(r.blocked.entries.length, 2);
  const text = r.blocked.text;
  assertStringIncludes(text, "task T1[1] on CPU 0 is blocked");
  assertStringIncludes(text, "mutex 'lock_b' held by task T2[2]");
  assertStringIncludes(text, "mutex 'lock_a' held by task T1[1]");
  assertStringIncludes(text, "a cycle");
});

Deno.test("scheduler: exploring ABBA finds both the deadlocks and the clean orders", () => {
  const x = exploreMachine(() => createMachine({ cpus: 2 }), (m) => {
    const a = new Mutex("a"), b = new Mutex("b");
    m.spawn("T1", function* (k) {
      yield* mutex_lock(k, a);
      yield* mutex_lock(k, b);
      mutex_unlock(k, b);
      mutex_unlock(k, a);
    });
    m.spawn("T2", function* (k) {
      yield* mutex_lock(k, b);
      yield* mutex_lock(k, a);
      mutex_unlock(k, a);
      mutex_unlock(k, b);
    });
  });
  assert(x.complete);
  assert(x.counts["deadlock/hang"] > 0);
  assert(x.counts.clean > 0);
  assertEquals(x.counts.oops, 0);
});

Deno.test("scheduler: a completion nobody completes is a hang with its explanation", () => {
  const m = createMachine();
  const c = new Completion("never");
  const r = m.run(function* waiter(k) {
    yield* wait_for_completion(k, c);
  });
  assertEquals(r.done, false);
  assertStringIncludes(
    r.blocked!.text,
    "wait_for_completion 'never' (done=0); nothing known will complete it",
  );
});

Deno.test("scheduler: complete() wakes the waiter", () => {
  const m = createMachine();
  const c = new Completion("c");
  const order: string[] = [];
  m.spawn("W", function* (k) {
    yield* wait_for_completion(k, c);
    order.push("woken");
  });
  m.spawn("C", (k) => {
    order.push("complete");
    complete(k, c);
  });
  const r = m.runAll();
  assertEquals(order, ["complete", "woken"]);
  assertEquals(r.blocked, null);
});

Deno.test("RCU: a reader delays synchronize_rcu until it leaves its section", () => {
  const m = createMachine({ cpus: 2 });
  const log: string[] = [];
  m.spawn("reader", function* (k) {
    rcu_read_lock(k);
    log.push("reader in");
    yield* preempt_point(k);
    yield* preempt_point(k);
    log.push("reader out");
    rcu_read_unlock(k);
  });
  m.spawn("updater", function* (k) {
    log.push("sync start");
    yield* synchronize_rcu(k);
    log.push("sync done");
  });
  // reader enters, updater starts the grace period; the GP may not complete while the reader is in
  const r = m.runAll({ schedule: ["reader", "updater", "gp", "reader"] });
  assertEquals(log, ["reader in", "sync start", "reader out", "sync done"]);
  assertEquals(r.blocked, null);
  assert(m.k.clock.now >= m.k.cost.get("rcu.gracePeriod"), "a grace period takes simulated time");
});

Deno.test("RCU: a reader that never leaves blocks synchronize_rcu forever and the report names it", () => {
  const m = createMachine({ cpus: 2 });
  const gate = new Completion("gate");
  m.spawn("reader", function* (k) {
    rcu_read_lock(k);
    yield* preempt_point(k);
    yield* wait_for_completion(k, gate); // sleeping inside rcu_read_lock: a BUG splat too
    rcu_read_unlock(k);
  });
  m.spawn("updater", function* (k) {
    yield* synchronize_rcu(k);
  });
  const r = m.runAll({ schedule: ["reader", "updater"] });
  assert(r.blocked !== null);
  assertStringIncludes(r.blocked.text, "waits for an RCU grace period (1 reader(s)");
  assertStringIncludes(r.blocked.text, "task reader[1] on CPU 0 is blocked");
  assert(m.k.dmesg.grep("BUG: sleeping function called from invalid context").length === 1);
  assert(m.k.taints.has("W"));
});

Deno.test("Oops: the task is killed, its locks stay held, the machine runs on", () => {
  const m = createMachine({ cpus: 2 });
  const lock = new Mutex("victim_lock");
  m.spawn("crasher", function* crasher(k) {
    yield* mutex_lock(k, lock);
    k.oops("BUG: unable to handle kernel paging request at ffffea0000400000");
  });
  m.spawn("next", function* (k) {
    yield* mutex_lock(k, lock);
  });
  const r = m.runAll();
  assertEquals(r.oopses.length, 1);
  assertEquals(r.oopses[0]!.task, "crasher[1]");
  assert(
    !r.oopses[0]!.chain.includes("oops"),
    `the oops helper is not part of the chain: ${r.oopses[0]!.chain}`,
  );
  assertStringIncludes(r.blocked!.text, "mutex 'victim_lock' held by task crasher[1]");
  assertStringIncludes(r.blocked!.text, "was killed by an Oops");
  const log = m.k.dmesg.toString();
  assertStringIncludes(log, "BUG: unable to handle kernel paging request at ffffea0000400000");
  assertStringIncludes(log, "Oops: 0000 [#1] SMP PTI");
  assertStringIncludes(log, "Tainted: G      D");
  assert(m.k.taints.has("D"));
});

Deno.test("might_sleep: sleeping under a spinlock prints the kernel's BUG line, but preemption does not switch", () => {
  const m = createMachine({ cpus: 1 });
  const l = new Spinlock("sl");
  const log: string[] = [];
  m.spawn("A", function* (k) {
    spin_lock(k, l);
    log.push("A1");
    yield* preempt_point(k); // preemption is disabled: no switch
    log.push("A2");
    spin_unlock(k, l);
  });
  m.spawn("B", () => {
    log.push("B");
  });
  m.runAll({ schedule: ["A", "B"] });
  assertEquals(log, ["A1", "A2", "B"]);
  assertEquals(m.k.dmesg.grep("BUG: sleeping function").length, 0);
});

Deno.test("machine.call returns the kernel result and throws with the hang report when blocked", () => {
  const m = createMachine();
  assertEquals(m.call((_k, a: number, b: number) => a + b, 2, 3), 5);
  const c = new Completion("stuck");
  let msg = "";
  try {
    m.call(function* stuck(k) {
      yield* wait_for_completion(k, c);
    });
  } catch (e) {
    msg = (e as Error).message;
  }
  assertStringIncludes(msg, "Cannot return from stuck");
  assertStringIncludes(msg, "wait_for_completion 'stuck'");
});

Deno.test("determinism: the same seed gives the same seeded schedule and trace", () => {
  const runOnce = (seed: number) => {
    const m = createMachine({ cpus: 2, seed });
    m.k.trace.on = true;
    const log: string[] = [];
    for (const n of ["A", "B", "C"]) m.spawn(n, (k) => steps(k, log, n, 4));
    const r = m.runAll({ schedule: { seed } });
    return {
      log: log.join(","),
      sched: r.schedule.join(","),
      t: m.k.clock.now,
      ev: m.k.trace.events.length,
    };
  };
  assertEquals(runOnce(7), runOnce(7));
  const differ = [1, 2, 3, 4, 5].some((s) => runOnce(s).log !== runOnce(7).log);
  assert(differ, "different seeds should give some different interleavings");
});
