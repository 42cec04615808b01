/**
 * Bad input at the API boundary: each misuse is a TypeError or RangeError
 * "Cannot <action>: <detail>" naming the bad value — never a silent default
 * and never a crash deep in the model (a native "x is not a function", an
 * Oops for a pfn no machine has, a kernel error code for a malformed range).
 */
import { assertEquals, assertThrows } from "@std/assert";
import { bootMachine, createMachine, exploreMachine } from "../../lib/machine.ts";
import { Device } from "../../lib/kernel/device.ts";
import { devm_release_action } from "../../lib/kernel/devres.ts";
import {
  devm_memremap_pages,
  devm_memunmap_pages,
  get_dev_pagemap,
} from "../../lib/kernel/memremap.ts";
import { hmm_devmem_add, hmm_devmem_remove } from "../../lib/kernel/hmm.ts";
import {
  __va,
  arch_add_memory,
  DevPagemap,
  get_page,
  page_count,
  pfn_to_page,
  Process,
  sectionState,
} from "../../lib/kernel/mm/mod.ts";
import { dmirror_create } from "../../lib/drivers/dmirror.ts";
import { TestDaxDevice } from "../../lib/scenarios/driver.ts";

type ErrorClass = typeof TypeError | typeof RangeError;

/** fn throws `cls` whose message starts "Cannot " and matches `re`. */
function rejects(fn: () => unknown, cls: ErrorClass, re: RegExp): void {
  const e = assertThrows(fn, cls);
  if (!/^Cannot [^:]+: /.test(e.message)) {
    throw new Error(`not "Cannot <action>: <detail>": ${e.message}`);
  }
  if (!re.test(e.message)) throw new Error(`${e.message} does not match ${re}`);
}

Deno.test("bad input: levels, presets, follow-ups and variants", () => {
  rejects(
    () => bootMachine("small", { series: 8 as never }),
    RangeError,
    /level 8: levels are the integers 0\.\.7/,
  );
  rejects(() => bootMachine("small", { series: -1 as never }), RangeError, /level -1/);
  rejects(
    () => bootMachine("small", { series: "v5.1" as never }),
    RangeError,
    /"v5\.1": expected a level 0\.\.7 or one of "v4\.20", "v5\.0", "v5\.2"/,
  );
  rejects(
    () => bootMachine("small", { followups: ["50f44ee7249a"] }),
    RangeError,
    /follow-up "50f44ee7249a": unknown key \(known: .*50f44ee7248a/,
  );
  rejects(
    () => bootMachine("small", { variants: ["logan"] }),
    RangeError,
    /variant "logan": unknown key/,
  );
  // a follow-up without its prerequisite, or below its level
  rejects(
    () => bootMachine("small", { series: "v5.0", followups: ["devm_memunmap_pages"] }),
    RangeError,
    /follow-up "devm_memunmap_pages": it requires "devm_release_action"/,
  );
  rejects(
    () => bootMachine("small", { series: 2, followups: ["p2pdma-pgmap-kill"] }),
    RangeError,
    /"p2pdma-pgmap-kill" at level 2: it needs level ≥ 3/,
  );
  rejects(
    () => bootMachine("small", { series: "v5.2", variants: ["logan-wait-in-kill"] }),
    RangeError,
    /"50f44ee7248a" together with "logan-wait-in-kill"/,
  );
  rejects(
    () => bootMachine("small", { followups: "50f44ee7248a" as never }),
    TypeError,
    /give an array of keys/,
  );
});

Deno.test("bad input: options objects are checked, never silently defaulted", () => {
  rejects(
    () => bootMachine("small", { serie: "v5.0" } as never),
    TypeError,
    /unknown option "serie" \(known: series, followups, variants, seed\)/,
  );
  rejects(
    () => bootMachine("small", { seed: 1.5 }),
    TypeError,
    /seed must be an integer .* got 1\.5/,
  );
  rejects(() => bootMachine("small", { seed: "7" as never }), TypeError, /got "7"/);
  rejects(
    () => createMachine({ cpu: 4 } as never),
    TypeError,
    /Cannot create a machine: unknown option "cpu"/,
  );
  rejects(() => createMachine({ cpus: 0 }), RangeError, /cpus must be an integer ≥ 1, got 0/);
  rejects(() => bootMachine("small").powerCycle({ series: 9 as never }), RangeError, /level 9/);
  rejects(
    () => bootMachine("small").powerCycle({ sed: 1 } as never),
    TypeError,
    /unknown option "sed"/,
  );
  rejects(() => bootMachine("no-such-machine"), RangeError, /no such description \(known: /);
  // running and exploring: a misspelt option or a bound that would explore nothing
  const m = createMachine();
  rejects(
    () => m.run(() => 1, { schedul: "default" } as never),
    TypeError,
    /Cannot run: unknown option "schedul" \(known: schedule, name, cpu\)/,
  );
  rejects(() => m.runAll({ shedule: [] } as never), TypeError, /unknown option "shedule"/);
  rejects(() => m.run(() => 1, { schedule: { seed: 1.5 } }), TypeError, /seed must be an integer/);
  rejects(() => m.run(() => 1, { cpu: 5 }), RangeError, /on CPU 5: the machine has CPUs 0\.\.1/);
  rejects(
    () => exploreMachine(() => createMachine(), () => {}, { maxSchedules: 0 }),
    RangeError,
    /maxSchedules must be an integer ≥ 1, got 0/,
  );
  rejects(
    () => exploreMachine(() => createMachine(), () => {}, { max: 3 } as never),
    TypeError,
    /Cannot explore schedules: unknown option "max"/,
  );
});

Deno.test("bad input: negative, fractional and unaligned sizes", () => {
  const m = bootMachine("fuzz", { series: "v5.2" });
  const k = m.k;
  rejects(
    () => new TestDaxDevice(k, "dax9.0", { start: 2 ** 34, size: -4096 }),
    RangeError,
    /non-empty and page aligned/,
  );
  rejects(
    () => new TestDaxDevice(k, "dax9.1", { start: 2 ** 34 + 100, size: 4096 }),
    RangeError,
    /page aligned/,
  );
  rejects(
    () => m.call(hmm_devmem_add, { free() {}, fault: () => 0 } as never, new Device(k, "g0"), -1),
    RangeError,
    /size -1 is not in 1\.\.2\^46/,
  );
  rejects(
    () => m.call(hmm_devmem_add, { free() {}, fault: () => 0 } as never, new Device(k, "g1"), 1.5),
    RangeError,
    /size 1\.5/,
  );
  rejects(() => m.call(dmirror_create, { size: -4096 }), RangeError, /size -4096/);
  rejects(
    () => arch_add_memory(k, 0, 2 ** 34 + 1, 2 ** 27, null, false),
    RangeError,
    /non-empty and page aligned/,
  );
  rejects(
    () => arch_add_memory(k, 0, 2 ** 34, -(2 ** 27), null, false),
    RangeError,
    /non-empty and page aligned/,
  );
  rejects(() => new Process(k, "p").mmap(0, -4096, 3, 0x22), RangeError, /mmap -4096 bytes/);
  const inverted = new DevPagemap();
  inverted.res = { start: 2 ** 34, end: 2 ** 34 - 100 };
  rejects(
    () => m.call(devm_memremap_pages, new Device(k, "d0"), inverted),
    RangeError,
    /Cannot map pgmap \[mem 0x400000000-0x3ffffff9c\]: the range is empty or inverted/,
  );
  const fractional = new DevPagemap();
  fractional.res = { start: 2 ** 34 + 0.5, end: 2 ** 35 };
  rejects(
    () => m.call(devm_memremap_pages, new Device(k, "d2"), fractional),
    TypeError,
    /res\.start and res\.end are integer byte addresses/,
  );
  const huge = new DevPagemap();
  huge.res = { start: 2 ** 50, end: 2 ** 50 + 2 ** 27 - 1 };
  rejects(
    () => m.call(devm_memremap_pages, new Device(k, "d1"), huge),
    RangeError,
    /beyond the physical address space \(2\^46 bytes\)/,
  );
  // ndctl's own validation is an outcome, as ndctl prints it
  assertEquals(m.hw!.ndctl!.createNamespace({ size: -1 }), {
    ok: false,
    rc: -22,
    error: "failed to parse namespace size '-1'",
  });
});

Deno.test("bad input: pfns outside physical memory", () => {
  const m = bootMachine("fuzz", { series: "v5.2" });
  const k = m.k;
  rejects(
    () => page_count(k, 2 ** 40),
    RangeError,
    /pfn 0x10000000000: it is beyond the physical address space \(pfns below 0x400000000, MAX_PHYSMEM_BITS 46\)/,
  );
  rejects(() => page_count(k, -5), TypeError, /pfn -5: a pfn is a non-negative integer/);
  rejects(() => pfn_to_page(k, 2 ** 36), RangeError, /beyond the physical address space/);
  rejects(() => get_dev_pagemap(k, 2 ** 50, null), RangeError, /look up the pgmap of pfn/);
  rejects(() => get_dev_pagemap(k, -1, null), TypeError, /pfn -1/);
  rejects(() => sectionState(k, 2 ** 40), RangeError, /sections are numbered 0\.\.524287/);
  rejects(() => __va(k, 2 ** 47), RangeError, /not a physical address below 2\^46/);
  // inside a task too: misuse surfaces to the caller, not as an Oops
  rejects(
    () => m.run((kk) => get_page(kk, 2 ** 45)),
    RangeError,
    /beyond the physical address space/,
  );
  // a pfn inside the address space whose section is absent is the kernel's Oops, in the task
  const r = m.run((kk) => get_page(kk, 2 ** 30));
  assertEquals(r.oopses.length, 1);
  // not a pfn at all: fractional, NaN, a string
  rejects(() => pfn_to_page(k, 1.5), TypeError, /pfn 1\.5: a pfn is a non-negative integer/);
  rejects(() => get_dev_pagemap(k, NaN, null), TypeError, /pfn NaN/);
  rejects(() => pfn_to_page(k, "12" as never), TypeError, /pfn "12"/);
});

Deno.test("bad input: valid pfns past 2^32 pass the hot paths' one-comparison check", () => {
  // 4-level: pfns up to 2^34; 5-level (bench-64t): up to 2^40
  const m4 = bootMachine("fuzz");
  assertEquals(pfn_to_page(m4.k, 2 ** 34 - 1), 2 ** 34 - 1);
  assertEquals(get_dev_pagemap(m4.k, 2 ** 33, null), null);
  const m5 = bootMachine("bench-64t");
  assertEquals(pfn_to_page(m5.k, 2 ** 39), 2 ** 39);
  assertEquals(get_dev_pagemap(m5.k, 2 ** 39, null), null);
  rejects(
    () => pfn_to_page(m5.k, 2 ** 40),
    RangeError,
    /pfns below 0x10000000000, MAX_PHYSMEM_BITS 52/,
  );
});

Deno.test("bad input: functions that do not exist at the chosen level", () => {
  const m = bootMachine("small", { series: "v5.0" });
  const k = m.k;
  rejects(
    () => m.call(devm_memunmap_pages, new Device(k, "a"), new DevPagemap()),
    RangeError,
    /devm_memunmap_pages at v5\.0: it exists only with the follow-up "devm_memunmap_pages"/,
  );
  rejects(
    () => m.call(devm_release_action, new Device(k, "b"), () => {}, null),
    RangeError,
    /devm_release_action at v5\.0/,
  );
  rejects(
    () => m.call(hmm_devmem_remove as never, null as never),
    RangeError,
    /hmm_devmem_remove at v5\.0: patch 5\/7 removed it/,
  );
  // not a function at all
  rejects(() => m.run(42 as never), TypeError, /Cannot run 42: expected a function/);
  rejects(
    () => m.call("devm_memremap_pages" as never),
    TypeError,
    /Cannot call "devm_memremap_pages"/,
  );
});
