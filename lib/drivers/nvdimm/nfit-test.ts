/**
 * tools/testing/nvdimm/test/iomap.c: nfit_test's interposer. The nfit_test
 * builds of libnvdimm, pmem and dax_pmem are linked with `--wrap=` so that
 * each wrapped call asks nfit_test's lookup whether the address is one of
 * its fake resources — the SPA ranges of its buses, carved (in the real
 * test) from a gen_pool at [4 GiB, 8 GiB) and backed by vmalloc — and, if
 * so, emulates the call; otherwise the real function runs. On a machine
 * with nfit_test buses {@link nfit_test_setup} installs the wrappers in the
 * drivers' link table (link.ts) and loads the `nfit_test_iomap` module,
 * which exports them.
 *
 * - __wrap_devm_memremap_pages: for a fake range, return the vmalloc buffer
 *   address: **no struct pages, no pgmap registration, no page refs**.
 *   Patch 3/7 adds a devm action, nfit_test_kill, that calls
 *   pgmap->kill(pgmap->ref) at unbind — callers now rely on
 *   devm_memremap_pages to kill their ref (without it dax_pmem's unbind
 *   would wait forever) — registered with devm_add_action_or_reset
 *   (ERR_PTR on failure). 50f44ee7248a makes that action WARN_ON a missing
 *   ref/kill/cleanup and call pgmap->cleanup too.
 * - Patch 1/7 changes its export from EXPORT_SYMBOL to EXPORT_SYMBOL_GPL,
 *   in step with devm_memremap_pages.
 * - __wrap_devm_memremap: the buffer address for a fake range.
 * - __wrap_phys_to_pfn_t: clears PFN_MAP for a fake range (no struct pages
 *   behind it).
 * - __wrap___devm_request_region (nfit_test_request_region): a fake range's
 *   requests are tracked on the resource — past its end → NULL; a second
 *   request at the same start → WARN "%pr already busy", NULL — and
 *   released by a devres node (nfit_devres_release, which WARNs on a
 *   mismatch); other ranges go to the real request.
 *
 * Not modelled: nfit_test's strong overrides of dax_pgoff_to_phys and
 * __pmem_direct_access that map the vmalloc pages themselves (so DAX
 * faults on nfit_test ranges are not emulated), and ioremap/memunmap
 * wrappers nothing here calls.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import type { Device } from "../../kernel/device.ts";
import { devm_add_action_or_reset, devres_add } from "../../kernel/devres.ts";
import { ERR_PTR, type ErrPtr } from "../../kernel/errno.ts";
import { devm_memremap_pages, type MemremapResult } from "../../kernel/memremap.ts";
import { load_module, type ModuleInfo } from "../../kernel/module.ts";
import type { DevPagemap } from "../../kernel/mm/types.ts";
import { pr_debug, WARN, WARN_ON } from "../../kernel/printk.ts";
import { __devm_request_region } from "../../kernel/resource-devm.ts";
import {
  iomem_resource,
  IORESOURCE_BUSY,
  IORESOURCE_MEM,
  Resource,
} from "../../kernel/resource.ts";
import type { KGen } from "../../sim/task.ts";
import { isGenerator } from "../../sim/sched.ts";
import type { NvdimmBus } from "../../hw/nvdimm/bus.ts";
import { PFN_MAP, type PfnT, phys_to_pfn_t } from "../dax/super.ts";
import { ND_LINK } from "./link.ts";
import { devm_memremap } from "./memremap-io.ts";

/** struct nfit_test_resource: one fake range, its buffer, its requests. */
export class NfitTestResource {
  /** Outstanding requests (nfit_test_request), newest first. */
  readonly requests: Resource[] = [];
  /**
   * Creates the resource (test_alloc).
   * @param start first fake physical byte.
   * @param end last byte (inclusive).
   * @param buf the vmalloc buffer's address.
   */
  constructor(readonly start: number, readonly end: number, readonly buf: bigint) {}
}

/** The interposer's state on one kernel. */
export interface NfitTestState {
  /** The fake resources (iomap_head's lookup walks them). */
  readonly resources: NfitTestResource[];
  /** Next vmalloc address for a buffer. */
  nextBuf: bigint;
  /** nfit_test_kill calls (simulator bookkeeping). */
  kills: number;
}

/** The interposer's state of a kernel. */
export const NFIT_TEST: SubsystemKey<NfitTestState> = {
  name: "nfit-test-iomap",
  create: () => ({ resources: [], nextBuf: 0xffffc90100000000n, kills: 0 }),
};

/** get_nfit_res(resource): the fake resource containing `addr` (physical), or null. */
export function get_nfit_res(k: Kernel, addr: number): NfitTestResource | null {
  for (const r of k.state(NFIT_TEST).resources) {
    if (addr >= r.start && addr <= r.end) return r;
  }
  return null;
}

/**
 * nfit_test_kill(pgmap) (iomap.c, patch 3/7): pgmap->kill(pgmap->ref); with
 * 50f44ee7248a first WARN_ON a missing ref/kill/cleanup, and then
 * pgmap->cleanup(pgmap->ref). Sleeps if the cleanup does.
 */
export function* nfit_test_kill(k: Kernel, pgmap: DevPagemap): KGen<void> {
  k.state(NFIT_TEST).kills++;
  // 50f44ee7248a: the action checks the whole teardown definition and reaps the ref too
  if (k.fixed("50f44ee7248a")) {
    WARN_ON(k, pgmap.ref === null || pgmap.kill === null || pgmap.cleanup === null);
  }
  const r = pgmap.kill!(k, pgmap.ref!);
  if (isGenerator(r)) yield* r;
  // 50f44ee7248a: ... and waits for the ref and reaps it
  if (k.fixed("50f44ee7248a")) {
    const c = pgmap.cleanup!(k, pgmap.ref!);
    if (isGenerator(c)) yield* c;
  }
}

/**
 * __wrap_devm_memremap_pages(dev, pgmap): see the module doc. Sleeps
 * (the real devm_memremap_pages does; the action's reset may).
 */
export function* __wrap_devm_memremap_pages(
  k: Kernel,
  dev: Device,
  pgmap: DevPagemap,
): KGen<MemremapResult> {
  const offset = pgmap.res.start;
  const nfit_res = get_nfit_res(k, offset);
  if (nfit_res !== null) {
    // patch 3/7: callers rely on devm_memremap_pages to kill their ref: emulate that
    if (k.applied(3)) {
      const rc = yield* devm_add_action_or_reset(k, dev, nfit_test_kill, pgmap);
      if (rc) return ERR_PTR(rc);
    }
    return nfit_res.buf + BigInt(offset - nfit_res.start);
  }
  return yield* devm_memremap_pages(k, dev, pgmap);
}

/** __wrap_devm_memremap(dev, offset, size, flags): the buffer for a fake range, else devm_memremap. */
export function* __wrap_devm_memremap(
  k: Kernel,
  dev: Device,
  offset: number,
  size: number,
  flags: number,
): KGen<bigint | ErrPtr> {
  const nfit_res = get_nfit_res(k, offset);
  if (nfit_res !== null) return nfit_res.buf + BigInt(offset - nfit_res.start);
  return yield* devm_memremap(k, dev, offset, size, flags);
}

/** __wrap_phys_to_pfn_t(addr, flags): PFN_MAP cleared for a fake range. `out` is the model's phys_to_pfn_t's (it fills and returns it). */
export function __wrap_phys_to_pfn_t(k: Kernel, addr: number, flags: number, out: PfnT): PfnT {
  if (get_nfit_res(k, addr) !== null) flags &= ~PFN_MAP;
  return phys_to_pfn_t(addr, flags, out);
}

/** nfit_devres_release: the devres node of a tracked request; WARNs when it is no longer there. */
function nfit_devres_release(k: Kernel, res: Resource): void {
  const nfit_res = get_nfit_res(k, res.start);
  const i = nfit_res === null ? -1 : nfit_res.requests.indexOf(res);
  WARN(
    k,
    i < 0,
    `nfit_test_release_region: start: ${res.start.toString(16)} n: ${
      (res.end - res.start + 1).toString(16)
    } mismatch`,
  );
  if (i >= 0) nfit_res!.requests.splice(i, 1);
}

/**
 * __wrap___devm_request_region(dev, parent, start, n, name)
 * (nfit_test_request_region with a device): see the module doc. Outside a
 * fake range it is __devm_request_region(dev, parent, start, n, name).
 */
export function __wrap___devm_request_region(
  k: Kernel,
  dev: Device,
  parent: Resource,
  start: number,
  n: number,
  name: string,
): Resource | null {
  const nfit_res = get_nfit_res(k, start);
  if (nfit_res === null) return __devm_request_region(k, dev, parent, start, n, name);
  if (start + n > nfit_res.end + 1) {
    pr_debug(
      k,
      `nfit_test_request_region: start: ${start.toString(16)} n: ${n.toString(16)} overflow`,
    );
    return null;
  }
  const busy = nfit_res.requests.find((r) => r.start === start);
  if (busy !== undefined) {
    WARN(k, true, `${busy.toString()} already busy`);
    return null;
  }
  const res = new Resource({
    name,
    start,
    end: start + n - 1,
    flags: IORESOURCE_MEM | IORESOURCE_BUSY,
  });
  nfit_res.requests.unshift(res);
  devres_add(k, dev, {
    kind: "region",
    name: "nfit_devres_release",
    fn: null,
    data: res,
    release: (kk) => nfit_devres_release(kk, res),
    group: null,
  });
  return res;
}

/**
 * The nfit_test_iomap module: GPL, exports the wrappers — every one with
 * EXPORT_SYMBOL, except that patch 1/7 makes __wrap_devm_memremap_pages
 * EXPORT_SYMBOL_GPL.
 */
export function nfitTestIomapModule(k: Kernel): ModuleInfo {
  const plain = [
    "nfit_test_setup",
    "nfit_test_teardown",
    "get_nfit_res",
    "__wrap_devm_ioremap_nocache",
    "__wrap_devm_memremap",
    "__wrap_phys_to_pfn_t",
    "__wrap_memremap",
    "__wrap_devm_memunmap",
    "__wrap_ioremap_nocache",
    "__wrap_ioremap_wc",
    "__wrap_iounmap",
    "__wrap_memunmap",
    "__wrap___request_region",
    "__wrap_insert_resource",
    "__wrap_remove_resource",
    "__wrap___devm_request_region",
    "__wrap___release_region",
    "__wrap___devm_release_region",
    "__wrap_acpi_evaluate_object",
    "__wrap_acpi_evaluate_dsm",
  ];
  const gpl: string[] = [];
  // patch 1/7: the wrapper's export follows devm_memremap_pages to EXPORT_SYMBOL_GPL
  if (k.applied(1)) gpl.push("__wrap_devm_memremap_pages");
  else plain.push("__wrap_devm_memremap_pages");
  return {
    name: "nfit_test_iomap",
    license: "GPL v2",
    imports: ["devm_memremap_pages"],
    exports: plain,
    exportsGpl: gpl,
    intree: false,
  };
}

/**
 * nfit_test_setup: registers one fake resource per SPA range of the
 * nfit_test buses (buffers at increasing vmalloc addresses), loads
 * nfit_test_iomap, and links the drivers against the wrappers. Returns the
 * module load's result (0). Not the shape of iomap.c's void
 * nfit_test_setup(lookup, evaluate), which only installs nfit_test.ko's
 * lookup: the model has no nfit_test.ko, so this does its setup too.
 */
export function nfit_test_setup(k: Kernel, buses: readonly NvdimmBus[]): number {
  const st = k.state(NFIT_TEST);
  for (const bus of buses) {
    if (!bus.config.nfitTest) continue;
    for (const r of bus.regions) {
      st.resources.push(new NfitTestResource(r.start, r.start + r.size - 1, st.nextBuf));
      st.nextBuf += BigInt(r.size + 2 ** 21);
    }
  }
  if (st.resources.length === 0) return 0;
  const rc = load_module(k, nfitTestIomapModule(k));
  if (rc) return rc;
  const link = k.state(ND_LINK);
  link.devm_memremap_pages = __wrap_devm_memremap_pages;
  link.devm_memremap = __wrap_devm_memremap;
  // devm_request_mem_region is __devm_request_region(dev, &iomem_resource, ...): the wrapped call
  link.devm_request_mem_region = (kk, dev, start, n, name) =>
    __wrap___devm_request_region(kk, dev, iomem_resource(kk), start, n, name);
  link.phys_to_pfn_t = __wrap_phys_to_pfn_t;
  link.nfitTest = true;
  return 0;
}
