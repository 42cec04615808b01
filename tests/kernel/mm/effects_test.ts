import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { EINVAL, ENOMEM } from "../../../lib/kernel/errno.ts";
import {
  __pa,
  __va,
  kasan_add_zero_shadow,
  kasan_remove_zero_shadow,
  mem_hotplug_begin,
  mem_hotplug_done,
  MM,
  MM_FAULT_POINTS,
  track_pfn_remap,
  untrack_pfn,
} from "../../../lib/kernel/mm/mod.ts";
import { preempt_point } from "../../../lib/kernel/sched.ts";
import { GiB, machine, SECTION } from "./_setup.ts";

const S = 16 * GiB;
const PFN = S / 4096;

Deno.test("track_pfn_remap / untrack_pfn: a PAT reservation per device range, RAM untracked", () => {
  const m = machine();
  const k = m.k;
  const mm = k.state(MM);
  assertEquals(track_pfn_remap(k, null, null, PFN, 0, 2 * SECTION), 0);
  assertEquals(mm.pat, [{ start: S, end: S + 2 * SECTION, type: "write-back" }]);
  // RAM, and a range mixing RAM and device memory, take the RAM branch: nothing recorded
  assertEquals(track_pfn_remap(k, null, null, 0, 0, SECTION), 0);
  assertEquals(track_pfn_remap(k, null, null, (4 * GiB - SECTION) / 4096, 0, 2 * SECTION), 0);
  assertEquals(mm.pat.length, 1);
  // a leftover is visible; freeing one that does not exist logs
  untrack_pfn(k, null, PFN, SECTION);
  assertEquals(
    k.dmesg.grep(/x86\/PAT: .*freeing invalid memtype \[mem 0x400000000-0x407ffffff\]/).length,
    1,
  );
  untrack_pfn(k, null, PFN, 2 * SECTION);
  assertEquals(mm.pat, []);
  // the fault point: the memtype node allocation
  k.faults.arm("track_pfn_remap", { nth: 1 });
  assertEquals(track_pfn_remap(k, null, null, PFN, 0, SECTION), -ENOMEM);
  assertEquals(mm.pat, []);
  assertEquals(track_pfn_remap(k, null, null, PFN, 0, 0), -EINVAL);
  assertEquals(k.dmesg.grep("WARNING").length, 1);
});

Deno.test("kasan_add_zero_shadow: a no-op without KASAN; with it, recorded, removable, injectable", () => {
  const off = machine();
  assertEquals(kasan_add_zero_shadow(off.k, __va(off.k, S), SECTION), 0);
  assertEquals(off.k.state(MM).kasan, []);
  const m = machine({ ram: [{ start: 0, end: 4 * GiB }], kasan: true });
  const k = m.k;
  assertEquals(__pa(k, __va(k, S)), S);
  assertEquals(__va(k, S), 0xffff888400000000n);
  assertEquals(kasan_add_zero_shadow(k, __va(k, S), 2 * SECTION), 0);
  assertEquals(k.state(MM).kasan, [{ start: S, size: 2 * SECTION }]);
  kasan_remove_zero_shadow(k, __va(k, S), SECTION);
  assertEquals(k.state(MM).kasan, [{ start: S + SECTION, size: SECTION }]);
  k.faults.arm("kasan_add_zero_shadow", { nth: 1 });
  assertEquals(kasan_add_zero_shadow(k, __va(k, S), SECTION), -ENOMEM);
  assertEquals(kasan_add_zero_shadow(k, __va(k, S + 4096), SECTION), -EINVAL);
  assertEquals(k.dmesg.grep("WARNING").length, 1);
});

Deno.test("mem_hotplug_begin: a second writer waits; a task dying with it held leaves a hang the report explains", () => {
  const m = machine();
  m.k.trace.on = true;
  const order: string[] = [];
  m.spawn("a", function* (k) {
    yield* mem_hotplug_begin(k);
    order.push("a in");
    yield* preempt_point(k); // b runs here and blocks on the lock
    mem_hotplug_done(k);
    order.push("a out");
  });
  m.spawn("b", function* (k) {
    yield* mem_hotplug_begin(k);
    order.push("b in");
    mem_hotplug_done(k);
  });
  const r = m.runAll({ schedule: ["a", "a", "b"] });
  assertEquals(r.blocked, null);
  assertEquals(order, ["a in", "a out", "b in"]);
  const blocks = m.k.trace.filter("sched").filter((e) => e.op === "block");
  assertEquals(blocks.map((e) => e.what), ["mem_hotplug_lock mem_hotplug_lock"]);
  // an Oops with the lock held: the lock stays held, the next writer hangs
  m.spawn("c", function* (k) {
    yield* mem_hotplug_begin(k);
    k.oops("BUG: something");
  });
  m.spawn("d", function* (k) {
    yield* mem_hotplug_begin(k);
  });
  const r2 = m.runAll();
  assertEquals(r2.oopses.length, 1);
  assert(r2.blocked !== null);
  assertStringIncludes(r2.blocked.text, "mem_hotplug_lock held for write by task c");
});

Deno.test("the memory model's fault points are registered with their errnos", () => {
  const m = machine();
  for (const [name] of MM_FAULT_POINTS) assert(m.k.faults.points.has(name), name);
  assertEquals(
    MM_FAULT_POINTS.map(([n]) => n),
    [
      "arch_add_memory",
      "sparse_add_one_section",
      "vmemmap_populate",
      "kasan_add_zero_shadow",
      "track_pfn_remap",
    ],
  );
});
