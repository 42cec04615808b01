import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import fc from "fast-check";
import { Kernel } from "../../lib/kernel/kernel.ts";
import {
  percpu_ref_exit,
  percpu_ref_get,
  percpu_ref_get_many,
  percpu_ref_init,
  PERCPU_REF_INIT_ATOMIC,
  PERCPU_REF_INIT_DEAD,
  percpu_ref_is_dying,
  percpu_ref_is_zero,
  percpu_ref_kill,
  percpu_ref_kill_and_confirm,
  percpu_ref_put,
  percpu_ref_put_many,
  percpu_ref_reinit,
  percpu_ref_switch_to_atomic_sync,
  percpu_ref_switch_to_percpu,
  percpu_ref_tryget,
  percpu_ref_tryget_live,
  PERCPU_REFS,
  PercpuRef,
} from "../../lib/kernel/percpu-refcount.ts";
import { ENOMEM } from "../../lib/kernel/errno.ts";
import { createMachine } from "../../lib/machine.ts";

function fresh(flags = 0) {
  const k = new Kernel({ cpus: 4 });
  const ref = new PercpuRef();
  const rel = { n: 0 };
  assertEquals(
    percpu_ref_init(
      k,
      ref,
      function dev_pagemap_release() {
        rel.n++;
      },
      flags,
      0,
    ),
    0,
  );
  return { k, ref, rel };
}

Deno.test("percpu_ref: init modes and counts", () => {
  let { ref } = fresh();
  assertEquals([ref.isPercpu, ref.value, percpu_ref_is_dying(ref), percpu_ref_is_zero(ref)], [
    true,
    1,
    false,
    false,
  ]);
  ({ ref } = fresh(PERCPU_REF_INIT_ATOMIC));
  assertEquals([ref.isPercpu, ref.count, ref.forceAtomic], [false, 1, true]);
  ({ ref } = fresh(PERCPU_REF_INIT_DEAD));
  assertEquals([ref.isPercpu, percpu_ref_is_dying(ref), percpu_ref_is_zero(ref)], [
    false,
    true,
    true,
  ]);
});

Deno.test("percpu_ref: percpu puts never detect zero; only a kill + grace period releases", () => {
  const { k, ref, rel } = fresh();
  percpu_ref_get_many(k, ref, 10);
  percpu_ref_put_many(k, ref, 10);
  percpu_ref_put(k, ref); // the initial ref, in percpu mode: no release
  assertEquals(rel.n, 0);
  assertEquals(ref.value, 0);
  percpu_ref_get(k, ref); // give the initial ref back
  percpu_ref_kill(k, ref);
  assertEquals(rel.n, 0, "release never runs synchronously inside kill from percpu mode");
  assert(percpu_ref_is_dying(ref));
  k.sched.runUntilQuiescent(); // grace period
  assertEquals(rel.n, 1);
  assert(percpu_ref_is_zero(ref));
});

Deno.test("percpu_ref: per-CPU counters may go negative; the fold adds them up", () => {
  const m = createMachine({ cpus: 2 });
  const ref = new PercpuRef();
  let released = 0;
  m.call((k) => percpu_ref_init(k, ref, () => released++, 0, 0));
  m.spawn("cpu0", (k) => percpu_ref_get_many(k, ref, 5), 0);
  m.spawn("cpu1", (k) => percpu_ref_put_many(k, ref, 5), 1);
  m.runAll();
  assertEquals([ref.pcpu![0], ref.pcpu![1], ref.value], [5, -5, 1]);
  m.call((k) => percpu_ref_kill(k, ref));
  assertEquals(released, 1);
});

Deno.test("percpu_ref: a held reference keeps the ref alive after the kill until the last put", () => {
  const { k, ref, rel } = fresh();
  percpu_ref_get(k, ref);
  percpu_ref_kill(k, ref);
  k.sched.runUntilQuiescent();
  assertEquals([rel.n, ref.value], [0, 1]);
  assert(percpu_ref_tryget(k, ref), "tryget succeeds on a killed ref that is not zero");
  assert(!percpu_ref_tryget_live(k, ref), "tryget_live fails once DEAD is set");
  percpu_ref_put(k, ref);
  percpu_ref_put(k, ref);
  assertEquals(rel.n, 1);
  assert(!percpu_ref_tryget(k, ref), "tryget fails at zero");
});

Deno.test("percpu_ref: a double kill WARNs once and drops one ref too many", () => {
  const { k, ref, rel } = fresh();
  percpu_ref_get(k, ref); // a user's ref
  percpu_ref_kill(k, ref);
  percpu_ref_kill(k, ref);
  k.sched.runUntilQuiescent();
  assertEquals(
    rel.n,
    1,
    "the second kill's put released the ref early, while a user still holds it",
  );
  assertEquals(
    k.dmesg.grep("percpu_ref_kill_and_confirm called more than once on dev_pagemap_release!")
      .length,
    1,
  );
  percpu_ref_put(k, ref); // the user's put goes below zero silently
  assertEquals([ref.count, rel.n], [-1, 1]);
  percpu_ref_kill(k, ref);
  assertEquals(k.dmesg.grep("called more than once").length, 1, "WARN_ONCE: once per boot");
});

Deno.test("percpu_ref: kill_and_confirm calls confirm after the grace period; tryget_live fails at once", () => {
  const { k, ref } = fresh();
  let confirmed = 0;
  percpu_ref_kill_and_confirm(k, ref, () => confirmed++);
  assert(!percpu_ref_tryget_live(k, ref));
  assertEquals(confirmed, 0);
  k.sched.runUntilQuiescent();
  assertEquals(confirmed, 1);
});

Deno.test("percpu_ref: atomic-mode kill can release synchronously", () => {
  const { k, ref, rel } = fresh(PERCPU_REF_INIT_ATOMIC);
  percpu_ref_kill(k, ref);
  assertEquals(rel.n, 1);
});

Deno.test("percpu_ref: exit while a switch is in flight WARNs, and the RCU callback Oopses", () => {
  const { k, ref } = fresh();
  percpu_ref_kill(k, ref);
  percpu_ref_exit(k, ref);
  assertEquals(k.dmesg.grep("WARNING: CPU").length, 1);
  const r = k.sched.runUntilQuiescent();
  assertEquals(r.oopses.length, 1);
  assertStringIncludes(r.oopses[0]!.message, "percpu_ref_switch_to_atomic_rcu");
  assertEquals(r.oopses[0]!.task, "rcu_softirq[0]");
  assert(
    r.oopses[0]!.chain.includes("percpu_ref_switch_to_atomic_rcu"),
    `chain: ${r.oopses[0]!.chain}`,
  );
  assertStringIncludes(k.dmesg.toString(), "RIP: 0010:percpu_ref_switch_to_atomic_rcu");
});

Deno.test("percpu_ref: use after exit works on the count only", () => {
  const { k, ref, rel } = fresh();
  percpu_ref_kill(k, ref);
  k.sched.runUntilQuiescent();
  percpu_ref_exit(k, ref);
  assert(!percpu_ref_tryget_live(k, ref));
  percpu_ref_put(k, ref);
  assertEquals([ref.count, rel.n], [-1, 1]);
});

Deno.test("percpu_ref: reinit revives a dead, zero ref in percpu mode", () => {
  const { k, ref, rel } = fresh();
  percpu_ref_kill(k, ref);
  k.sched.runUntilQuiescent();
  assertEquals(rel.n, 1);
  percpu_ref_reinit(k, ref);
  assertEquals([ref.isPercpu, ref.value, k.dmesg.grep("WARNING").length], [true, 1, 0]);
});

Deno.test("percpu_ref: switch_to_atomic_sync sleeps for a grace period; switch_to_percpu returns", () => {
  const m = createMachine();
  const ref = new PercpuRef();
  m.call((k) => percpu_ref_init(k, ref, () => {}, 0, 0));
  m.call(percpu_ref_switch_to_atomic_sync, ref);
  assertEquals([ref.isPercpu, ref.bias, ref.count], [false, false, 1]);
  m.call(percpu_ref_switch_to_percpu, ref);
  assertEquals([ref.isPercpu, ref.value], [true, 1]);
});

Deno.test("percpu_ref: init fails with -ENOMEM at the fault point", () => {
  const k = new Kernel();
  k.faults.arm("percpu_ref_init", { nth: 1 });
  assertEquals(percpu_ref_init(k, new PercpuRef(), () => {}, 0, 0), -ENOMEM);
});

Deno.test("percpu_ref: trace events carry the logical count", () => {
  const { k, ref } = fresh();
  k.trace.on = true;
  percpu_ref_get_many(k, ref, 3);
  percpu_ref_kill(k, ref);
  k.sched.runUntilQuiescent();
  percpu_ref_put_many(k, ref, 3);
  const ev = k.trace.filter("percpu_ref").map((e) => `${e.op}:${e.count}`);
  assertEquals(ev, [
    "get:4",
    "kill:4",
    "switch_to_atomic:5",
    "put:4",
    "confirm:4",
    "put:3",
    "put:0",
    "release:0",
  ]);
});

// ---- property test against a reference model ----

type Op = { op: "get"; cpu: number; n: number } | { op: "put"; cpu: number; n: number } | {
  op: "kill";
} | {
  op: "gp";
} | { op: "tryget_live"; cpu: number };

Deno.test("percpu_ref property: counts conserve, release fires exactly once at the true zero", () => {
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constant("get" as const),
      cpu: fc.integer({ min: 0, max: 3 }),
      n: fc.integer({ min: 1, max: 4 }),
    }),
    fc.record({
      op: fc.constant("put" as const),
      cpu: fc.integer({ min: 0, max: 3 }),
      n: fc.integer({ min: 1, max: 4 }),
    }),
    fc.constant({ op: "kill" as const }),
    fc.constant({ op: "gp" as const }),
    fc.record({ op: fc.constant("tryget_live" as const), cpu: fc.integer({ min: 0, max: 3 }) }),
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const m = createMachine({ cpus: 4 });
      const ref = new PercpuRef();
      let released = 0;
      m.call((k) => percpu_ref_init(k, ref, () => released++, 0, 0));
      // reference model: users' refs (never put more than held), killed flag, released
      let held = 0;
      let killed = false;
      let gpDone = false;
      for (const o of ops) {
        if (o.op === "get") {
          if (killed) continue; // users only take refs through tryget_live after a kill
          m.spawn("g", (k) => percpu_ref_get_many(k, ref, o.n), o.cpu);
          held += o.n;
        } else if (o.op === "put") {
          const n = Math.min(o.n, held);
          if (n === 0) continue;
          m.spawn("p", (k) => percpu_ref_put_many(k, ref, n), o.cpu);
          held -= n;
        } else if (o.op === "kill") {
          if (killed) continue;
          m.spawn("kill", (k) => percpu_ref_kill(k, ref));
          killed = true;
        } else if (o.op === "tryget_live") {
          let ok = false;
          m.spawn("t", (k) => {
            ok = percpu_ref_tryget_live(k, ref);
          }, o.cpu);
          m.runAll();
          if (ok) held++;
          assertEquals(ok, !killed, "tryget_live succeeds iff the ref is not dying");
          continue;
        } else {
          m.runAll(); // includes a grace period if one is pending
          if (killed) gpDone = true;
          continue;
        }
        m.runAll();
        if (killed) gpDone = true;
      }
      m.runAll();
      // conservation: logical count = users' refs + the initial ref while alive
      assertEquals(ref.value, held + (killed ? 0 : 1));
      const shouldRelease = killed && gpDone && held === 0;
      assertEquals(
        released,
        shouldRelease ? 1 : 0,
        `released=${released} held=${held} killed=${killed}`,
      );
      // drain: put everything; release fires exactly once after a kill
      if (!killed) m.call((k) => percpu_ref_kill(k, ref));
      if (held > 0) m.call((k) => percpu_ref_put_many(k, ref, held));
      m.runAll();
      assertEquals(released, 1);
      assertEquals(ref.value, 0);
    }),
    { numRuns: 300, seed: 20181120 },
  );
});

Deno.test("percpu_ref: per-CPU counters spill beyond the int32 range without losing a reference", () => {
  const { k, ref, rel } = fresh();
  const big = 2 ** 34; // the pages of a 64 TiB mapping
  percpu_ref_get_many(k, ref, big);
  percpu_ref_get_many(k, ref, big);
  assertEquals(ref.value, 2 * big + 1);
  percpu_ref_put_many(k, ref, big);
  percpu_ref_kill(k, ref);
  k.sched.runUntilQuiescent();
  assertEquals([ref.value, rel.n], [big, 0]);
  percpu_ref_put_many(k, ref, big);
  assertEquals([ref.value, rel.n], [0, 1]);
});

Deno.test("percpu_ref: counters come from a per-kernel pool; exited slots are reused zeroed", () => {
  const k = new Kernel({ cpus: 3 });
  const refs: PercpuRef[] = [];
  // more refs than one pool chunk holds, so a second chunk is started
  for (let i = 0; i < 2000; i++) {
    const ref = new PercpuRef();
    assertEquals(percpu_ref_init(k, ref, () => {}, 0, 0), 0);
    refs.push(ref);
  }
  for (let i = 0; i < refs.length; i++) {
    k.cpu = i % 3;
    percpu_ref_get_many(k, refs[i]!, i + 1);
  }
  k.cpu = 0;
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i]!;
    assertEquals(ref.value, i + 2, `ref ${i}`);
    assertEquals(ref.pcpu!.length, 3);
    assertEquals(ref.pcpu![i % 3], i + 1, `ref ${i}'s view of its slot`);
  }
  assert(refs[0]!.counters !== refs[1999]!.counters, "a second chunk was started");
  // an exited ref's slot goes to the next init, zeroed, and the others keep their counts
  const old = refs[7]!;
  const [slotChunk, slotBase] = [old.counters, old.base];
  percpu_ref_exit(k, old);
  assertEquals(old.pcpu, null);
  const reused = new PercpuRef();
  assertEquals(percpu_ref_init(k, reused, () => {}, 0, 0), 0);
  assert(reused.counters === slotChunk && reused.base === slotBase, "the freed slot is reused");
  assertEquals([reused.value, Array.from(reused.pcpu!)], [1, [0, 0, 0]]);
  percpu_ref_get(k, reused);
  assertEquals([reused.value, refs[6]!.value, refs[8]!.value], [2, 8, 10]);
  // two kernels never share counters
  const k2 = new Kernel({ cpus: 3 });
  const other = new PercpuRef();
  assertEquals(percpu_ref_init(k2, other, () => {}, 0, 0), 0);
  percpu_ref_get_many(k2, other, 5);
  assertEquals([other.value, refs[0]!.value], [6, 2]);
});

Deno.test("PERCPU_REFS: a kernel's refs from percpu_ref_init to percpu_ref_exit (a failed init is not one)", () => {
  const k = new Kernel({ cpus: 2 });
  const a = new PercpuRef(), b = new PercpuRef();
  assertEquals(percpu_ref_init(k, a, () => {}, 0, 0), 0);
  k.faults.arm("percpu_ref_init", { nth: 1 });
  assertEquals(percpu_ref_init(k, b, () => {}, 0, 0), -ENOMEM);
  k.faults.disarm("percpu_ref_init");
  assertEquals([...k.state(PERCPU_REFS)], [a]);
  assertEquals(new Kernel({ cpus: 2 }).state(PERCPU_REFS).size, 0, "per kernel, not per module");
  percpu_ref_exit(k, a);
  assertEquals(k.state(PERCPU_REFS).size, 0);
});
