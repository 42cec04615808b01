/**
 * drivers/dax/pmem.c: dax_pmem, the driver of a dax (devdax) claim — a
 * device-dax region over a pmem namespace, with its own percpu_ref and
 * completion as the pgmap ref — at every level of the series.
 *
 * dax_pmem_probe: nvdimm_setup_pfn (the pgmap range and, for map=dev, the
 * altmap); devm_request_mem_region of the namespace (-EBUSY, "could not
 * reserve region"); init_completion and percpu_ref_init (release =
 * dax_pmem_percpu_release: complete); then, by level (SCENARIOS.md,
 * Conventions — this driver *is* the in-tree pattern):
 * - levels 0..2: devm_add_action(dax_pmem_percpu_exit) before
 *   devm_memremap_pages (on failure: percpu_ref_exit); on a
 *   devm_memremap_pages error, devm_remove_action of the exit action and
 *   percpu_ref_exit by hand; after success,
 *   devm_add_action_or_reset(dax_pmem_percpu_kill). Unbind (LIFO):
 *   unregister_dev_dax (kill_dax, zap every mapping) → dax_region_unregister
 *   → kill → memremap release → exit (wait for zero, percpu_ref_exit).
 * - levels 3..7, v5.0 (patch 3/7): pgmap->kill = dax_pmem_percpu_kill, no
 *   kill action; a devm_memremap_pages error just returns (the exit action
 *   stays registered: on the conflict path, which returns before the kill,
 *   the probe's unwind then waits forever — kernel-reference §11 S7).
 * - v5.2 (50f44ee7248a): pgmap->cleanup = dax_pmem_percpu_exit, no exit
 *   action. (The real v5.2 tree had moved this ref into dev_dax with the
 *   v5.1 dax-bus rework, which the model leaves out; the Conventions give
 *   dax_pmem the same cleanup change.)
 * Then the dax region (pgmap->res moved forward by the info block's
 * dataoff, aligned to its align, PFN_DEV|PFN_MAP) and the one device-dax
 * instance "dax<region>.<id>" of the namespace "namespace<region>.<id>".
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import { complete, Completion, wait_for_completion } from "../../kernel/completion.ts";
import { dev_dbg, dev_warn, type Device, Driver } from "../../kernel/device.ts";
import {
  devm_add_action,
  devm_add_action_or_reset,
  devm_kzalloc,
  devm_remove_action,
} from "../../kernel/devres.ts";
import { EBUSY, EINVAL, ENOMEM, IS_ERR, PTR_ERR, PTR_ERR_OR_ZERO } from "../../kernel/errno.ts";
import type { MemremapResult } from "../../kernel/memremap.ts";
import { DevPagemap } from "../../kernel/mm/types.ts";
import {
  percpu_ref_exit,
  percpu_ref_init,
  percpu_ref_kill,
  PercpuRef,
} from "../../kernel/percpu-refcount.ts";
import { IORESOURCE_MEM, Resource } from "../../kernel/resource.ts";
import type { KGen } from "../../sim/task.ts";
import { ND_LINK } from "../nvdimm/link.ts";
import { nd_claim_of, nvdimm_setup_pfn, to_ndns } from "../nvdimm/nd.ts";
import { alloc_dax_region, dax_region_put, type DevDax, devm_create_dev_dax } from "./device.ts";
import { PFN_DEV, PFN_MAP } from "./super.ts";

/** The percpu_ref of one dax_pmem: container_of(ref, struct dax_pmem, ref). */
export class DaxPmemRef extends PercpuRef {
  /**
   * Creates the ref (percpu_ref_init it before use).
   * @param dax_pmem the driver data embedding it.
   */
  constructor(readonly dax_pmem: DaxPmem) {
    super();
  }
}

/** struct dax_pmem: the driver data of a bound dax claim. */
export class DaxPmem {
  /** The ref embedded in the driver data (the pgmap ref). */
  readonly ref: DaxPmemRef;
  /** The embedded pgmap. */
  readonly pgmap: DevPagemap = new DevPagemap();
  /** Completed by the ref's release. */
  readonly cmp: Completion;
  /** What devm_memremap_pages returned (null before it ran). */
  addr: MemremapResult | null = null;
  /** The device-dax instance once created. */
  dev_dax: DevDax | null = null;
  /** Times the kill ran (simulator bookkeeping). */
  kills = 0;

  /**
   * Creates the driver data (devm_kzalloc'ed by the probe).
   * @param k the kernel (the release completes on it).
   * @param dev the dax claim's device.
   */
  constructor(readonly k: Kernel, readonly dev: Device) {
    this.ref = new DaxPmemRef(this);
    this.cmp = new Completion(`dax_pmem ${dev.name} ref`);
    this.cmp.completer = this.ref;
  }
}

function to_dax_pmem(ref: PercpuRef): DaxPmem {
  return (ref as DaxPmemRef).dax_pmem;
}

/** dax_pmem_percpu_release(ref): the ref reached zero — complete(&dax_pmem->cmp). Must not sleep. */
function dax_pmem_percpu_release(ref: PercpuRef): void {
  const dax_pmem = to_dax_pmem(ref);
  complete(dax_pmem.k, dax_pmem.cmp);
}

/**
 * dax_pmem_percpu_exit(ref): wait_for_completion, then percpu_ref_exit —
 * the devm action of levels 0..7 and v5.0, pgmap->cleanup at v5.2. Sleeps.
 */
export function* dax_pmem_percpu_exit(k: Kernel, ref: PercpuRef): KGen<void> {
  const dax_pmem = to_dax_pmem(ref);
  if (k.tracing) dev_dbg(k, dax_pmem.dev, "trace");
  yield* wait_for_completion(k, dax_pmem.cmp);
  percpu_ref_exit(k, ref);
}

/** dax_pmem_percpu_kill(ref): percpu_ref_kill — a devm action at levels 0..2, pgmap->kill from patch 3/7. */
export function dax_pmem_percpu_kill(k: Kernel, ref: PercpuRef): void {
  const dax_pmem = to_dax_pmem(ref);
  dax_pmem.kills++;
  if (k.tracing) dev_dbg(k, dax_pmem.dev, "trace");
  percpu_ref_kill(k, ref);
}

/**
 * dax_pmem_probe(dev): see the module doc. 0 or -errno. Sleeps: call with
 * `yield*`.
 */
export function* dax_pmem_probe(k: Kernel, dev: Device): KGen<number> {
  const ns = to_ndns(k, dev);
  const claim = nd_claim_of(k, dev);
  if (claim === null || claim.kind !== "dax") {
    throw new TypeError(`Cannot probe ${dev.name} with dax_pmem: not a dax device`);
  }
  const link = k.state(ND_LINK);
  const dax_pmem = devm_kzalloc(k, dev, () => new DaxPmem(k, dev));
  if (dax_pmem === null) return -ENOMEM;
  const probes = k.state(DAX_PMEM_PROBES);
  if (!probes.has(dev)) probes.set(dev, []);
  probes.get(dev)!.push(dax_pmem);
  // parse the 'pfn' info block via ->rw_bytes
  let rc = nvdimm_setup_pfn(k, claim, dax_pmem.pgmap);
  if (rc) return rc;
  const pfn_sb = claim.sb!;
  if (link.devm_request_mem_region(k, dev, ns.start, ns.size, ns.name) === null) {
    const r = new Resource({ name: null, start: ns.start, end: ns.end, flags: IORESOURCE_MEM });
    dev_warn(k, dev, `could not reserve region ${r}`);
    return -EBUSY;
  }
  const ref = dax_pmem.ref;
  rc = percpu_ref_init(k, ref, dax_pmem_percpu_release, 0, 0);
  if (rc) return rc;
  // 50f44ee7248a: the wait-and-exit becomes pgmap->cleanup instead of a devm action
  if (k.fixed("50f44ee7248a")) {
    dax_pmem.pgmap.cleanup = dax_pmem_percpu_exit;
  } else {
    rc = devm_add_action(k, dev, dax_pmem_percpu_exit, ref as PercpuRef);
    if (rc) {
      percpu_ref_exit(k, ref);
      return rc;
    }
  }
  const pgmap = dax_pmem.pgmap;
  pgmap.ref = ref;
  // patch 3/7: the kill is handed to devm_memremap_pages (pgmap->kill)
  if (k.applied(3)) {
    pgmap.kill = dax_pmem_percpu_kill;
    const addr = yield* link.devm_memremap_pages(k, dev, pgmap);
    dax_pmem.addr = addr;
    if (IS_ERR(addr)) return PTR_ERR(addr);
  } else {
    const addr = yield* link.devm_memremap_pages(k, dev, pgmap);
    dax_pmem.addr = addr;
    if (IS_ERR(addr)) {
      devm_remove_action(k, dev, dax_pmem_percpu_exit, ref as PercpuRef);
      percpu_ref_exit(k, ref);
      return PTR_ERR(addr);
    }
    rc = yield* devm_add_action_or_reset(k, dev, dax_pmem_percpu_kill, ref as PercpuRef);
    if (rc) return rc;
  }
  // adjust the dax_region resource to the start of data
  const res = { start: pgmap.res.start + pfn_sb.dataoff, end: pgmap.res.end };
  const m = /^namespace(\d+)\.(\d+)$/.exec(ns.name);
  if (m === null) return -EINVAL;
  const region_id = Number(m[1]), id = Number(m[2]);
  const dax_region = yield* alloc_dax_region(
    k,
    dev,
    region_id,
    res,
    pfn_sb.align,
    dax_pmem.addr as bigint,
    PFN_DEV | PFN_MAP,
  );
  if (dax_region === null) return -ENOMEM;
  const dev_dax = yield* devm_create_dev_dax(k, dax_region, id, [res], 1);
  // child dev_dax instances now own the lifetime of the dax_region
  dax_region_put(k, dax_region);
  if (!IS_ERR(dev_dax)) dax_pmem.dev_dax = dev_dax;
  return PTR_ERR_OR_ZERO(dev_dax);
}

/** The dax_pmem driver. */
export function daxPmemDriver(): Driver {
  return new Driver("dax_pmem", dax_pmem_probe, null);
}

/** Every dax_pmem a device was probed with, in order (kept after unbind, for inspection). */
export const DAX_PMEM_PROBES: SubsystemKey<WeakMap<Device, DaxPmem[]>> = {
  name: "dax-pmem-probes",
  create: () => new WeakMap(),
};

/** The driver data of `dev`'s last dax_pmem probe (its driver_data is the dax region), or null. */
export function daxPmemOf(k: Kernel, dev: Device): DaxPmem | null {
  return k.state(DAX_PMEM_PROBES).get(dev)?.at(-1) ?? null;
}
