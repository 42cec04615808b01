import { assert, assertEquals, assertThrows } from "@std/assert";
import { Prng } from "../../lib/sim/prng.ts";
import { Clock } from "../../lib/sim/clock.ts";
import { CostModel, loadCostModel } from "../../lib/sim/cost-model.ts";
import { Trace } from "../../lib/sim/trace.ts";
import { FaultInjector } from "../../lib/sim/inject.ts";
import { parseStack } from "../../lib/sim/callchain.ts";
import { Kernel } from "../../lib/kernel/kernel.ts";

Deno.test("prng: deterministic, seed-sensitive, uniform enough", () => {
  const a = new Prng(1), b = new Prng(1), c = new Prng(2);
  const xs = Array.from({ length: 8 }, () => a.nextU32());
  assertEquals(xs, Array.from({ length: 8 }, () => b.nextU32()));
  assert(xs.join() !== Array.from({ length: 8 }, () => c.nextU32()).join());
  const p = new Prng(3);
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 100_000; i++) buckets[p.int(10)]++;
  for (const n of buckets) assert(n > 9_500 && n < 10_500, `bucket ${n}`);
  assertThrows(() => p.int(0), RangeError);
  const big = new Prng(4).int(2 ** 40);
  assert(big >= 0 && big < 2 ** 40 && Number.isInteger(big));
});

Deno.test("clock: integer nanoseconds, never backwards", () => {
  const c = new Clock();
  c.advance(10.4);
  c.advance(-5);
  c.advanceTo(3);
  assertEquals(c.now, 10);
  c.advanceTo(100);
  assertEquals(c.now, 100);
});

Deno.test("cost model: default loads, every parameter has unit and source, bad data is refused", () => {
  const m = loadCostModel();
  assertEquals(m.name, "default");
  assertEquals(m.get("cpu.minorFault"), 1100);
  assertEquals(m.unit("pcie.rawBW.gen4"), "GB/s");
  assert(m.source("pmem.readLatencyRandom").includes("Izraelevitz"));
  for (const [name, p] of Object.entries(m.parameters)) {
    assert(p.source.length >= 8, `${name} has no source`);
  }
  assertThrows(() => m.get("no.such"), RangeError, 'Cannot read cost parameter "no.such"');
  assertThrows(
    () =>
      new CostModel({
        name: "x",
        description: "",
        parameters: { a: { value: 1, unit: "parsecs", source: "somewhere" } },
      }),
    TypeError,
    "at parameters.a.unit",
  );
  assertThrows(
    () =>
      new CostModel({
        name: "x",
        description: "",
        parameters: { a: { value: -1, unit: "ns", source: "somewhere" } },
      }),
    TypeError,
    "at parameters.a.value",
  );
  assertEquals(CostModel.transferNs(4096, 4.096), 1000);
});

Deno.test("trace: stamps, filters, subscribers, off by default", () => {
  const clock = new Clock();
  const src = { taskId: 3, cpuId: 1 };
  type E = { kind: "a"; x: number } | { kind: "b"; y: string };
  const t = new Trace<E>(clock, src);
  assertEquals(t.on, false);
  const seen: string[] = [];
  const unsub = t.subscribe((e) => seen.push(e.kind));
  clock.advance(5);
  t.emit({ kind: "a", x: 1 });
  t.emit({ kind: "b", y: "z" });
  unsub();
  t.emit({ kind: "a", x: 2 });
  assertEquals(seen, ["a", "b"]);
  const as = t.filter("a");
  assertEquals(as.map((e) => [e.x, e.t, e.task, e.cpu]), [[1, 5, 3, 1], [2, 5, 3, 1]]);
  assertEquals(t.events.map((e) => e.seq), [0, 1, 2]);
});

Deno.test("fault injection: nth, every, probability (seeded), times, unknown points", () => {
  const f = new FaultInjector(new Prng(9));
  f.register("p", "test point");
  assertEquals(f.shouldFail("p"), false, "unarmed never fails");
  f.arm("p", { nth: 3 });
  assertEquals([1, 2, 3, 4].map(() => f.shouldFail("p")), [false, false, true, false]);
  f.arm("p", { every: true, times: 2 });
  assertEquals([1, 2, 3].map(() => f.shouldFail("p")), [true, true, false]);
  f.arm("p", { probability: 0.5 });
  const a = Array.from({ length: 64 }, () => f.shouldFail("p"));
  const g = new FaultInjector(new Prng(9));
  g.register("p", "test point");
  g.arm("p", { probability: 0.5 });
  assertEquals(
    a,
    Array.from({ length: 64 }, () => g.shouldFail("p")),
    "seeded: same seed, same failures",
  );
  assert(a.some((x) => x) && a.some((x) => !x));
  assertThrows(() => f.arm("nope", { nth: 1 }), RangeError, 'Cannot arm fault point "nope"');
  assertThrows(() => f.arm("p", { nth: 1, every: true }), TypeError);
  assertThrows(() => f.arm("p", { nth: 0 }), RangeError);
  f.disarm("p");
  assertEquals(f.shouldFail("p"), false);
});

function outer_kernel_fn(f: FaultInjector) {
  return inner_primitive(f);
}
function inner_primitive(f: FaultInjector) {
  return f.shouldFail("q");
}

Deno.test("fault injection: the caller filter matches the simulated call chain only", () => {
  // callChain keeps frames under a lib/ directory; simulate with a stack string
  const frames = parseStack(
    [
      "Error",
      "    at callChain (file:///r/lib/sim/callchain.ts:1:1)",
      "    at devm_add_action (file:///r/lib/kernel/devres.ts:10:3)",
      "    at devm_memremap_pages (file:///r/lib/kernel/memremap.ts:99:5)",
      "    at Generator.next (<anonymous>)",
      "    at #runSlice (file:///r/lib/sim/sched.ts:300:1)",
      "    at Object.test (file:///r/tests/x_test.ts:1:1)",
    ].join("\n"),
  );
  assertEquals(frames.map((f) => f.fn), ["devm_add_action", "devm_memremap_pages"]);
  const f = new FaultInjector(new Prng(1));
  f.register("q", "test point");
  f.arm("q", { every: true, caller: "devm_memremap_pages" });
  assertEquals(outer_kernel_fn(f), false, "tests/ frames are not kernel frames, so no match");
});

Deno.test("kernel: the foundation's fault points are registered", () => {
  const k = new Kernel();
  for (
    const p of [
      "kmalloc",
      "devm_kmalloc",
      "devm_add_action",
      "request_mem_region",
      "percpu_ref_init",
      "xa_store_range",
    ]
  ) {
    assert(k.faults.points.has(p), p);
  }
});
