import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { bootMachine, type Machine } from "../../../lib/machine.ts";
import { nd_bound_device, nd_unbind_namespace } from "../../../lib/drivers/nvdimm/bind.ts";
import { pmemOf } from "../../../lib/drivers/nvdimm/pmem.ts";
import { daxPmemOf } from "../../../lib/drivers/dax/pmem.ts";
import {
  __wrap___devm_request_region,
  get_nfit_res,
  NFIT_TEST,
} from "../../../lib/drivers/nvdimm/nfit-test.ts";
import { ND_LINK } from "../../../lib/drivers/nvdimm/link.ts";
import { PFN_DEV, PfnT } from "../../../lib/drivers/dax/super.ts";
import { __pmem_direct_access } from "../../../lib/drivers/nvdimm/pmem.ts";
import { pfn_valid } from "../../../lib/kernel/mm/mmzone.ts";
import { Device } from "../../../lib/kernel/device.ts";
import { insert_resource, iomem_resource, Resource } from "../../../lib/kernel/resource.ts";
import { devresNames } from "../../../lib/kernel/devres.ts";
import { find_module, load_module } from "../../../lib/kernel/module.ts";
import type { DevPagemap } from "../../../lib/kernel/mm/types.ts";
import type { KGen } from "../../../lib/sim/task.ts";
import type { MemremapResult } from "../../../lib/kernel/memremap.ts";
import type { Kernel } from "../../../lib/kernel/kernel.ts";
import type { NamespaceInfo, NdctlResult } from "../../../lib/hw/nvdimm/ndctl.ts";

function ok(r: NdctlResult<NamespaceInfo>): NamespaceInfo {
  if (!r.ok) throw new Error(`ndctl failed: ${r.rc} ${r.error}`);
  return r;
}

function create(m: Machine, mode: "fsdax" | "devdax") {
  const nd = m.hw!.ndctl!;
  const info = ok(nd.createNamespace({ region: "region0", mode, map: "mem", align: "4K" }));
  const ns = nd.namespace(info.dev)!;
  return { nd, ns, dev: nd_bound_device(m.k, ns)! };
}

Deno.test("nfit_test: __wrap_devm_memremap_pages returns the vmalloc buffer — no struct pages, no pgmap registration, no page refs", () => {
  const m = bootMachine("nfit-test", { series: "v4.20" });
  const k = m.k;
  assert(k.state(ND_LINK).nfitTest);
  const { ns, dev } = create(m, "fsdax");
  const pmem = pmemOf(k, dev)!;
  const res = get_nfit_res(k, ns.start)!;
  assertEquals(pmem.virt_addr, res.buf + BigInt(pmem.pgmap.res.start - res.start));
  assert(!pfn_valid(k, ns.start / 4096));
  assertEquals(pmem.pgmap.ref!.value, 1);
  // phys_to_pfn_t is wrapped too: no PFN_MAP for a fake range, one page per direct_access
  const pfn = new PfnT();
  assertEquals(__pmem_direct_access(k, pmem, 0, 4, pfn), 1);
  assertEquals(pfn.flags, PFN_DEV);
  // the request is tracked by the interposer, not in iomem
  assertEquals(res.requests.length, 1);
  assertEquals(m.hw!.ndctl!.disableNamespace(ns.name).rc, 0);
  assertEquals(res.requests.length, 0);
  assertEquals(k.state(NFIT_TEST).kills, 0);
});

Deno.test("nfit_test: from patch 3/7 the wrapper registers nfit_test_kill, so dax_pmem's unbind finishes at every level", () => {
  for (const series of [0, 2, 3, 7, "v4.20", "v5.0", "v5.2"] as const) {
    const m = bootMachine("nfit-test", { series });
    const k = m.k;
    const { nd, ns, dev } = create(m, "devdax");
    const what = k.series.label;
    const names = devresNames(dev);
    const level = typeof series === "number" ? series : series === "v4.20" ? 0 : 7;
    assertEquals(names.includes("nfit_test_kill"), level >= 3, `${what}: ${names}`);
    assertEquals(names.includes("dax_pmem_percpu_kill"), level < 3, `${what}: ${names}`);
    const dax = daxPmemOf(k, dev)!;
    assertEquals(nd.disableNamespace(ns.name).rc, 0, what);
    assertEquals([dax.kills, dax.ref.releaseFired, dax.ref.pcpu], [1, 1, null], what);
    assertEquals(k.state(NFIT_TEST).kills, level >= 3 ? 1 : 0, what);
  }
});

Deno.test("nfit_test: with the 4.20 wrapper at patch level 3 nobody kills dax_pmem's ref — the unbind waits forever (why 3/7 touched iomap.c)", () => {
  const m = bootMachine("nfit-test", { series: 3 });
  const k = m.k;
  // relink with the pre-patch wrapper: the buffer, and no kill action
  const link = k.state(ND_LINK);
  // deno-lint-ignore require-yield
  link.devm_memremap_pages = function* old_wrap(
    kk: Kernel,
    _dev: Device,
    pgmap: DevPagemap,
  ): KGen<MemremapResult> {
    const r = get_nfit_res(kk, pgmap.res.start)!;
    return r.buf + BigInt(pgmap.res.start - r.start);
  };
  const { ns } = create(m, "devdax");
  const r = m.run(function* unbind(kk) {
    yield* nd_unbind_namespace(kk, ns);
  });
  assertEquals(r.done, false);
  assertStringIncludes(r.blocked!.text, "wait_for_completion 'dax_pmem dax0.0 ref'");
  assertStringIncludes(r.blocked!.text, "including the initial one, which only a kill drops");
});

Deno.test("nfit_test: patch 1/7 makes __wrap_devm_memremap_pages EXPORT_SYMBOL_GPL", () => {
  const blob = { name: "blob", license: "Proprietary", imports: ["__wrap_devm_memremap_pages"] };
  const m0 = bootMachine("nfit-test", { series: 0 });
  assert(find_module(m0.k, "nfit_test_iomap") !== null);
  assertEquals(load_module(m0.k, blob), 0);
  const m1 = bootMachine("nfit-test", { series: 1 });
  assertEquals(load_module(m1.k, blob), -2);
  assertStringIncludes(
    m1.k.dmesg.lines.map((l) => l.text).join("\n"),
    "blob: Unknown symbol __wrap_devm_memremap_pages",
  );
  // the other wrappers stay EXPORT_SYMBOL
  assertEquals(
    load_module(m1.k, { name: "blob2", license: "Proprietary", imports: ["__wrap_devm_memremap"] }),
    0,
  );
});

Deno.test("nfit_test: a second request at the same start of a fake range WARNs 'already busy' and fails", () => {
  const m = bootMachine("nfit-test", { series: "v5.0" });
  const k = m.k;
  const res = k.state(NFIT_TEST).resources[0]!;
  const a = new Device(k, "a", "nd"), b = new Device(k, "b", "nd");
  assert(__wrap___devm_request_region(k, a, iomem_resource(k), res.start, 4096, "a") !== null);
  assertEquals(__wrap___devm_request_region(k, b, iomem_resource(k), res.start, 4096, "b"), null);
  assertStringIncludes(k.dmesg.lines.map((l) => l.text).join("\n"), "already busy");
  // past the fake resource's end: NULL, no WARN
  assertEquals(
    __wrap___devm_request_region(k, b, iomem_resource(k), res.end - 4095, 8192, "b"),
    null,
  );
});

Deno.test("__wrap___devm_request_region(dev, parent, start, n, name): the kernel's five arguments; outside a fake range it requests under `parent`", () => {
  const m = bootMachine("nfit-test", { series: "v5.0" });
  const k = m.k;
  const dev = new Device(k, "c", "nd");
  const parent = new Resource({
    name: "window",
    start: 2 ** 44,
    end: 2 ** 44 + 2 ** 30 - 1,
    flags: 0x200,
  });
  assertEquals(insert_resource(k, iomem_resource(k), parent), 0);
  const r = __wrap___devm_request_region(k, dev, parent, 2 ** 44, 4096, "c");
  assert(r !== null && r.parent === parent);
  assertEquals(devresNames(dev), ["devm_region_release"]);
});
