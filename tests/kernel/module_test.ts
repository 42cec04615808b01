import { assert, assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { Kernel } from "../../lib/kernel/kernel.ts";
import {
  __debug_locks_off,
  delete_module,
  EXPORT_SYMBOL,
  EXPORT_SYMBOL_GPL,
  EXPORT_SYMBOL_GPL_FUTURE,
  exportedSymbols,
  find_module,
  find_symbol,
  insmod,
  license_is_gpl_compatible,
  load_module,
  loadedModules,
  module_put,
  module_refcount,
  try_module_get,
  unexport_symbol,
} from "../../lib/kernel/module.ts";

/** A kernel exporting a few of the series' symbols as v5.0 does. */
function kernel(): Kernel {
  const k = new Kernel({ cpus: 2, seed: 1 });
  EXPORT_SYMBOL_GPL(k, "devm_memremap_pages");
  EXPORT_SYMBOL_GPL(k, "hmm_devmem_add");
  EXPORT_SYMBOL(k, "get_dev_pagemap");
  EXPORT_SYMBOL(k, "__put_devmap_managed_page");
  EXPORT_SYMBOL(k, "hmm_mirror_register");
  return k;
}

/** dmesg without the pr_debug lines. */
function log(k: Kernel): string[] {
  return k.dmesg.lines.filter((l) => l.level !== "debug").map((l) => l.text);
}

Deno.test("module: license_is_gpl_compatible is v4.20's exact list", () => {
  const yes = [
    "GPL",
    "GPL v2",
    "GPL and additional rights",
    "Dual BSD/GPL",
    "Dual MIT/GPL",
    "Dual MPL/GPL",
  ];
  for (const l of yes) assert(license_is_gpl_compatible(l), l);
  for (
    const l of ["Proprietary", "GPLv2", "gpl", "Dual BSD/GPL ", "BSD", "MIT", "unspecified", ""]
  ) {
    assert(!license_is_gpl_compatible(l), l);
  }
});

Deno.test("module: a GPL module resolves GPL-only and plain exports; nothing is printed or tainted", () => {
  const k = kernel();
  const rc = load_module(k, {
    name: "nouveau",
    license: "GPL and additional rights",
    imports: ["devm_memremap_pages", "hmm_devmem_add", "get_dev_pagemap"],
  });
  assertEquals(rc, 0);
  assertEquals(log(k), []);
  assertEquals(k.taints.size, 0);
  assertEquals(loadedModules(k).map((m) => [m.name, m.state]), [["nouveau", "LIVE"]]);
});

Deno.test("module: 'Dual BSD/GPL' is GPL-compatible", () => {
  const k = kernel();
  assertEquals(
    load_module(k, { name: "dual", license: "Dual BSD/GPL", imports: ["devm_memremap_pages"] }),
    0,
  );
  assertEquals(k.taints.has("P"), false);
});

Deno.test("module: a proprietary module taints P and cannot see a GPL-only symbol (exact dmesg)", () => {
  const k = kernel();
  k.trace.on = true;
  const rc = load_module(k, {
    name: "nvidia_uvm",
    license: "Proprietary",
    imports: ["get_dev_pagemap", "devm_memremap_pages", "hmm_mirror_register", "hmm_devmem_add"],
  });
  assertEquals(rc, -2);
  assertEquals(log(k), [
    "nvidia_uvm: module license 'Proprietary' taints kernel.",
    "Disabling lock debugging due to kernel taint",
    "nvidia_uvm: Unknown symbol devm_memremap_pages (err -2)",
    "nvidia_uvm: Unknown symbol hmm_devmem_add (err -2)",
  ]);
  assertEquals(
    k.dmesg.lines.filter((l) => l.level === "debug").map((l) => l.text),
    ["Failed to find symbol devm_memremap_pages", "Failed to find symbol hmm_devmem_add"],
  );
  assertEquals(k.dmesg.grep("taints kernel")[0]!.level, "warning");
  assert(k.taints.has("P"));
  assert(k.taintText.startsWith("Tainted: P"));
  assertEquals(find_module(k, "nvidia_uvm"), null);
  assertEquals(
    k.trace.filter("module").map((e) => `${e.op} ${e.symbol} ${e.ret}`),
    [
      "unknown_symbol devm_memremap_pages -2",
      "unknown_symbol hmm_devmem_add -2",
      "load_failed  -2",
    ],
  );
  // The taint stays; a second proprietary module prints neither taint line again.
  assertEquals(
    load_module(k, { name: "nvidia", license: "Proprietary", imports: ["get_dev_pagemap"] }),
    0,
  );
  assertEquals(log(k).length, 4);
});

Deno.test("module: EXPORT_SYMBOL symbols are usable by any module, also without a license tag", () => {
  const k = kernel();
  const r = insmod(k, { name: "blob", imports: ["get_dev_pagemap", "__put_devmap_managed_page"] });
  assertEquals(r.ret, 0);
  assertEquals(r.log, [
    "blob: module license 'unspecified' taints kernel.",
    "Disabling lock debugging due to kernel taint",
  ]);
  assertEquals(find_module(k, "blob")!.license, "unspecified");
});

Deno.test("module: a missing symbol is 'Unknown symbol ... (err -2)' and -ENOENT, GPL or not", () => {
  const k = kernel();
  const r = insmod(k, {
    name: "pmem_test",
    license: "GPL v2",
    imports: ["hmm_devmem_remove", "get_dev_pagemap"],
  });
  assertEquals(r, {
    ret: -2,
    log: [
      "Failed to find symbol hmm_devmem_remove",
      "pmem_test: Unknown symbol hmm_devmem_remove (err -2)",
    ],
  });
  assertEquals(loadedModules(k), []);
});

Deno.test("module: the series can change exports — unexport and re-export with another licence", () => {
  const k = kernel();
  const gpl = { name: "m", license: "Proprietary", imports: ["hmm_devmem_add"] } as const;
  assertEquals(load_module(k, gpl), -2);
  EXPORT_SYMBOL(k, "hmm_devmem_add"); // as before patch 7
  assertEquals(find_symbol(k, "hmm_devmem_add", false, false)?.licence, "NOT_GPL_ONLY");
  assertEquals(load_module(k, gpl), 0);
  assert(unexport_symbol(k, "hmm_devmem_add"));
  assertEquals(unexport_symbol(k, "hmm_devmem_add"), false);
  assertEquals(find_symbol(k, "hmm_devmem_add", true, false), null);
  assertEquals(exportedSymbols(k).map((s) => s.name).includes("hmm_devmem_add"), false);
});

Deno.test("module: EXPORT_SYMBOL_GPL_FUTURE warns a non-GPL user and lets it link", () => {
  const k = kernel();
  EXPORT_SYMBOL_GPL_FUTURE(k, "future_sym");
  const r = insmod(k, { name: "blob", license: "Proprietary", imports: ["future_sym"] });
  assertEquals(r.ret, 0);
  assertEquals(
    r.log.at(-1),
    "Symbol future_sym is being used by a non-GPL module, which will not be allowed in the future",
  );
  assertEquals(insmod(k, { name: "gpl", license: "GPL", imports: ["future_sym"] }).log, []);
});

Deno.test("module: module exports pin their owner; delete_module refuses while used", () => {
  const k = kernel();
  assertEquals(
    load_module(k, {
      name: "libnvdimm",
      license: "GPL v2",
      exportsGpl: ["nvdimm_bus_register"],
      exports: ["nd_fletcher64"],
    }),
    0,
  );
  const lib = find_module(k, "libnvdimm")!;
  assertStrictEquals(find_symbol(k, "nvdimm_bus_register", true, false)?.owner, lib);
  // A proprietary module does not see the module's GPL-only export either.
  assertEquals(
    load_module(k, { name: "blob", license: "Proprietary", imports: ["nvdimm_bus_register"] }),
    -2,
  );
  assertEquals(
    load_module(k, {
      name: "nfit",
      license: "GPL v2",
      imports: ["nvdimm_bus_register", "nd_fletcher64"],
    }),
    0,
  );
  assertEquals(module_refcount(lib), 1); // one user, however many of its symbols
  assertEquals(lib.usedBy.map((m) => m.name), ["nfit"]);
  assertEquals(delete_module(k, "libnvdimm"), -11); // -EWOULDBLOCK
  assertEquals(delete_module(k, "nfit"), 0);
  assertEquals(module_refcount(lib), 0);
  assert(try_module_get(lib));
  assertEquals(delete_module(k, "libnvdimm"), -11);
  module_put(lib);
  assertEquals(delete_module(k, "libnvdimm"), 0);
  assertEquals(find_symbol(k, "nvdimm_bus_register", true, false), null);
  assertEquals(delete_module(k, "libnvdimm"), -2);
  assertThrows(() => module_put(lib), RangeError, "Cannot put module");
});

Deno.test("module: duplicate names, duplicate exports and failing init", () => {
  const k = kernel();
  let exited = 0;
  assertEquals(
    load_module(k, { name: "a", license: "GPL", init: () => 0, exit: () => void exited++ }),
    0,
  );
  assertEquals(load_module(k, { name: "a", license: "GPL" }), -17);
  const dup = insmod(k, { name: "b", license: "GPL", exports: ["get_dev_pagemap"] });
  assertEquals(dup.ret, -8);
  assertEquals(dup.log.at(-1), "b: exports duplicate symbol get_dev_pagemap (owned by kernel)");
  assertEquals(
    load_module(k, { name: "c", license: "GPL", exports: ["c_sym"], init: () => -19 }),
    -19,
  );
  assertEquals([find_module(k, "c"), find_symbol(k, "c_sym", true, false)], [null, null]);
  const odd = insmod(k, { name: "d", license: "GPL", init: () => 1 });
  assertEquals(odd.ret, 0);
  assertEquals(odd.log, [
    "do_init_module: 'd'->init suspiciously returned 1, it should follow 0/-E convention",
    "do_init_module: loading module anyway...",
  ]);
  assertEquals(load_module(k, { name: "e", license: "GPL", init: () => 0 }), 0);
  assertEquals(delete_module(k, "e"), -16); // init without exit cannot be unloaded
  assertEquals(delete_module(k, "a"), 0);
  assertEquals(exited, 1);
  assertEquals(loadedModules(k).map((m) => m.name), ["e", "d"]);
});

Deno.test("module: an out-of-tree module taints O with its own message, once", () => {
  const k = kernel();
  assertEquals(insmod(k, { name: "oot", license: "GPL", intree: false }).log, [
    "oot: loading out-of-tree module taints kernel.",
  ]);
  assertEquals(insmod(k, { name: "oot2", license: "GPL", intree: false }).log, []);
  assert(k.taints.has("O"));
  assertEquals(k.taints.has("P"), false);
  assertEquals(find_module(k, "oot")!.taints.has("O"), true);
});

Deno.test("module: misuse throws", () => {
  const k = kernel();
  assertThrows(() => load_module(k, { name: "" }), TypeError, "Cannot load a module");
  assertThrows(() => EXPORT_SYMBOL(k, "x", "not_loaded"), RangeError, "no such module");
  load_module(k, { name: "m", license: "GPL", exports: ["m_sym"] });
  assertThrows(() => EXPORT_SYMBOL(k, "m_sym"), RangeError, "already exported by m");
  EXPORT_SYMBOL_GPL(k, "m_sym", "m"); // same owner: the licence changes
  assertEquals(find_symbol(k, "m_sym", true, false)?.licence, "GPL_ONLY");
});

Deno.test("__debug_locks_off(): returns the old debug_locks as an int (1, then 0), as xchg(&debug_locks, 0) does", () => {
  const k = new Kernel({ seed: 1 });
  assertStrictEquals(__debug_locks_off(k), 1);
  assertStrictEquals(__debug_locks_off(k), 0);
});
