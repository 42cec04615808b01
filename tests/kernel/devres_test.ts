import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import fc from "fast-check";
import { createMachine } from "../../lib/machine.ts";
import type { Kernel } from "../../lib/kernel/kernel.ts";
import {
  dev_err,
  Device,
  device_release_driver,
  Driver,
  driver_probe_device,
} from "../../lib/kernel/device.ts";
import {
  devm_add_action,
  devm_add_action_or_reset,
  devm_kzalloc,
  devm_release_action,
  devm_remove_action,
  devres_close_group,
  devres_open_group,
  devres_release_all,
  devres_release_group,
  devres_remove_group,
  devresNames,
} from "../../lib/kernel/devres.ts";
import { EINVAL, ENOMEM } from "../../lib/kernel/errno.ts";
import { complete, Completion, wait_for_completion } from "../../lib/kernel/completion.ts";
import {
  percpu_ref_exit,
  percpu_ref_init,
  percpu_ref_kill,
  PercpuRef,
} from "../../lib/kernel/percpu-refcount.ts";

Deno.test("devres: release is LIFO and moves nodes off the list first", () => {
  const m = createMachine();
  const dev = new Device(m.k, "dev0", "nd");
  const order: string[] = [];
  const a = (_k: Kernel, d: string) => void order.push(d);
  for (const x of ["first", "second", "third"]) assertEquals(m.call(devm_add_action, dev, a, x), 0);
  assertEquals(devresNames(dev).length, 3);
  // an action that tries to remove itself during release WARNs (its node is already off the list)
  const selfRemove = (k: Kernel, d: Device) => devm_remove_action(k, d, selfRemove, d);
  m.call(devm_add_action, dev, selfRemove, dev);
  assertEquals(m.call(devres_release_all, dev), 4);
  assertEquals(order, ["third", "second", "first"]);
  assertEquals(m.k.dmesg.grep("WARNING: CPU").length, 1);
  assertEquals(dev.devres.length, 0);
});

Deno.test("devres: devm_add_action fails only with -ENOMEM; _or_reset runs the action at once", () => {
  const m = createMachine();
  const dev = new Device(m.k, "dev0");
  let ran = 0;
  const act = function kill_action() {
    ran++;
  };
  m.k.faults.arm("devm_add_action", { nth: 1 });
  assertEquals(m.call(devm_add_action, dev, act, null), -ENOMEM);
  assertEquals(ran, 0);
  m.k.faults.arm("devm_add_action", { nth: 1 });
  assertEquals(m.call(devm_add_action_or_reset, dev, act, null), -ENOMEM);
  assertEquals(ran, 1);
  assertEquals(dev.devres.length, 0);
});

Deno.test("fault injection: the caller filter fails devm_add_action only under devm_add_action_or_reset", () => {
  const m = createMachine();
  const dev = new Device(m.k, "dev0");
  m.k.faults.arm("devm_add_action", { every: true, caller: "devm_add_action_or_reset" });
  assertEquals(m.call(devm_add_action, dev, () => {}, 1), 0);
  assertEquals(m.call(devm_add_action_or_reset, dev, () => {}, 2), -ENOMEM);
  assertEquals(m.k.faults.injected.map((f) => f.caller), ["devm_add_action"]);
});

Deno.test("devres: devm_remove_action unlinks without running; missing → WARN_ON", () => {
  const m = createMachine();
  const dev = new Device(m.k, "dev0");
  let ran = 0;
  const act = () => void ran++;
  m.call(devm_add_action, dev, act, "x");
  m.call(devm_remove_action, dev, act, "x");
  assertEquals([ran, dev.devres.length, m.k.dmesg.grep("WARNING").length], [0, 0, 0]);
  m.call(devm_remove_action, dev, act, "x");
  assertEquals(m.k.dmesg.grep("WARNING").length, 1);
});

Deno.test("devres: devm_release_action exists only with its follow-up, and runs the action now", () => {
  const m0 = createMachine({ series: "v5.0" });
  const d0 = new Device(m0.k, "d");
  let msg = "";
  try {
    m0.call(devm_release_action, d0, () => {}, 1);
  } catch (e) {
    msg = String((e as Error).message);
  }
  assertStringIncludes(msg, "devm_release_action");
  const m = createMachine({ series: "v5.2" });
  const dev = new Device(m.k, "d");
  let ran = 0;
  const act = () => void ran++;
  m.call(devm_add_action, dev, act, 7);
  m.call(devm_release_action, dev, act, 7);
  assertEquals([ran, dev.devres.length], [1, 0]);
});

Deno.test("devres: groups release their own range, LIFO, nested groups included", () => {
  const m = createMachine();
  const dev = new Device(m.k, "dev0");
  const order: number[] = [];
  const act = (_k: Kernel, n: number) => void order.push(n);
  m.call(devm_add_action, dev, act, 1);
  const g = m.call(devres_open_group, dev, null, 0);
  m.call(devm_add_action, dev, act, 2);
  const inner = m.call(devres_open_group, dev, null, 0);
  m.call(devm_add_action, dev, act, 3);
  m.call(devres_close_group, dev, inner);
  m.call(devres_close_group, dev, g);
  m.call(devm_add_action, dev, act, 4);
  assertEquals(m.call(devres_release_group, dev, g), 2);
  assertEquals(order, [3, 2]);
  const g2 = m.call(devres_open_group, dev, null, 0);
  m.call(devm_add_action, dev, act, 5);
  m.call(devres_remove_group, dev, g2);
  m.call(devres_release_all, dev);
  assertEquals(order, [3, 2, 5, 4, 1]);
});

Deno.test("driver core: a failed probe unwinds devres and prints the kernel's line", () => {
  const m = createMachine();
  const dev = new Device(m.k, "namespace0.0", "nd");
  const order: string[] = [];
  const drv = new Driver("nd_pmem", function* (k, d) {
    assert(devm_kzalloc(k, d, () => ({ a: 1 })) !== null);
    yield* devm_add_action_or_reset(k, d, (_k, x: string) => void order.push(x), "undo");
    dev_err(k, d, "could not reserve region");
    return -EINVAL;
  });
  assertEquals(m.call(driver_probe_device, drv, dev), -EINVAL);
  assertEquals(order, ["undo"]);
  assertEquals(dev.driver, null);
  assertEquals(dev.devres.length, 0);
  assertEquals(m.k.dmesg.grep("nd_pmem namespace0.0: could not reserve region").length, 1);
  assertEquals(m.k.dmesg.grep("nd_pmem: probe of namespace0.0 failed with error -22").length, 1);
});

Deno.test("driver core: unbind runs remove, then devres LIFO, then clears the driver", () => {
  const m = createMachine();
  const dev = new Device(m.k, "dax0.0");
  const order: string[] = [];
  const drv = new Driver("dax_pmem", (k, d) => {
    devm_add_action(k, d, () => void order.push("a1"), null);
    devm_add_action(k, d, () => void order.push("a2"), null);
    return 0;
  }, () => void order.push("remove"));
  assertEquals(m.call(driver_probe_device, drv, dev), 0);
  assertEquals(dev.driver, drv);
  m.call(device_release_driver, dev);
  assertEquals(order, ["remove", "a2", "a1"]);
  assertEquals(dev.driver, null);
});

Deno.test("hang report: a wait-and-exit action whose ref is never killed names the ref and its holders", () => {
  // The Conventions' driver at level 0 with the kill action missing: unbind waits forever.
  const m = createMachine();
  const dev = new Device(m.k, "pmem0");
  const ref = new PercpuRef();
  const done = new Completion("dev_pagemap ref");
  done.completer = ref;
  const drv = new Driver("nd_pmem", function* (k, d) {
    percpu_ref_init(
      k,
      ref,
      function pmem_release() {
        complete(k, done);
      },
      0,
      0,
    );
    return yield* devm_add_action_or_reset(
      k,
      d,
      function* pmem_wait_and_exit(kk: Kernel, r: PercpuRef) {
        yield* wait_for_completion(kk, done);
        percpu_ref_exit(kk, r);
      },
      ref,
    );
  });
  assertEquals(m.call(driver_probe_device, drv, dev), 0);
  const r = m.run(function* unbind(k) {
    yield* device_release_driver(k, dev);
  });
  assertEquals(r.done, false);
  const text = r.blocked!.text;
  assertStringIncludes(text, "wait_for_completion 'dev_pagemap ref' (done=0), completed by");
  assertStringIncludes(text, "the release of percpu_ref 'pmem_release'");
  assertStringIncludes(text, "live (never killed)");
  assertStringIncludes(text, "which only a kill drops");
  // with the kill, the same unbind completes
  const m2 = createMachine();
  const ref2 = new PercpuRef();
  const done2 = new Completion("c");
  m2.call((k) => percpu_ref_init(k, ref2, () => complete(k, done2), 0, 0));
  m2.call((k) => percpu_ref_kill(k, ref2));
  m2.call(wait_for_completion, done2);
});

// ---- property: devres against a reference list ----

Deno.test("devres property: random add/remove/group/release sequences keep LIFO order", () => {
  type Op = { op: "add" } | { op: "remove"; i: number } | { op: "open" } | { op: "close" } | {
    op: "releaseGroup";
  };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.constant({ op: "add" as const }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("remove" as const), i: fc.nat(20) }) },
    { weight: 1, arbitrary: fc.constant({ op: "open" as const }) },
    { weight: 1, arbitrary: fc.constant({ op: "close" as const }) },
    { weight: 1, arbitrary: fc.constant({ op: "releaseGroup" as const }) },
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const m = createMachine();
      const dev = new Device(m.k, "d");
      const ran: number[] = [];
      const act = (_k: Kernel, n: number) => void ran.push(n);
      // model: list of entries (numbers) and group markers
      type Entry = { n: number } | { open: unknown } | { close: unknown };
      let model: Entry[] = [];
      const openStack: unknown[] = [];
      let next = 0;
      for (const o of ops) {
        if (o.op === "add") {
          m.call(devm_add_action, dev, act, next);
          model.push({ n: next++ });
        } else if (o.op === "remove") {
          const live = model.filter((e): e is { n: number } => "n" in e);
          if (live.length === 0) continue;
          const target = live[o.i % live.length]!.n;
          m.call(devm_remove_action, dev, act, target);
          model = model.filter((e) => !("n" in e && e.n === target));
        } else if (o.op === "open") {
          const g = m.call(devres_open_group, dev, null, 0);
          openStack.push(g);
          model.push({ open: g });
        } else if (o.op === "close") {
          const g = openStack.pop();
          if (g === undefined) continue;
          m.call(devres_close_group, dev, g);
          model.push({ close: g });
        } else {
          const g = openStack.pop();
          if (g === undefined) continue;
          const start = model.findIndex((e) => "open" in e && e.open === g);
          const before = ran.length;
          m.call(devres_release_group, dev, g);
          const released = model.slice(start).filter((e): e is { n: number } => "n" in e).map((e) =>
            e.n
          ).reverse();
          assertEquals(ran.slice(before), released);
          // nested groups opened inside are gone too
          const gone = new Set(model.slice(start).flatMap((e) => ("open" in e ? [e.open] : [])));
          for (let i = openStack.length - 1; i >= 0; i--) {
            if (gone.has(openStack[i])) openStack.splice(i, 1);
          }
          model = model.slice(0, start);
        }
      }
      const before = ran.length;
      m.call(devres_release_all, dev);
      const rest = model.filter((e): e is { n: number } => "n" in e).map((e) => e.n).reverse();
      assertEquals(ran.slice(before), rest);
      assertEquals(new Set(ran).size, ran.length, "each action runs at most once");
      assertEquals(m.k.dmesg.grep("WARNING").length, 0);
    }),
    { numRuns: 300, seed: 4200 },
  );
});
