/**
 * The scenarios' in-test driver (SCENARIOS.md, Conventions): a small
 * dax_pmem-like driver (drivers/dax/pmem.c dax_pmem_probe) that binds one
 * pgmap over a device range, following the in-tree pattern of the level it
 * runs at. It stands in until the hardware issue's real pmem / dax_pmem
 * drivers land.
 *
 * - Levels 0..2: percpu_ref_init (release completes a completion); a devm
 *   "wait-and-exit" action registered before devm_memremap_pages; after it
 *   succeeds, a devm kill action (devm_add_action_or_reset). On failure
 *   devm_remove_action(wait-and-exit) and percpu_ref_exit. Unbind (LIFO):
 *   kill action → memremap release → wait-and-exit.
 * - Levels 3..7 and v5.0 (patch 3/7): pgmap->kill = percpu_ref_kill, no kill
 *   action, no unwinding on failure. Unbind: memremap release → wait-and-exit.
 * - v5.2 (50f44ee7248a): pgmap->cleanup = wait-and-exit, no devm
 *   wait-and-exit action. Unbind: memremap release (kill, puts, cleanup, removal).
 *
 * Like dax_pmem, probe claims the range with devm_request_mem_region first.
 * With type MEMORY_DEVICE_FS_DAX it also does what pmem's
 * setup_pagemap_fsdax does: dev_pagemap_get_ops (devmap_managed_key on), a
 * devm action that puts it back, and page_free = fsdax_pagefree (the model
 * records the pfn instead of wake_up_var).
 *
 * @module
 */
import { complete, Completion, wait_for_completion } from "../kernel/completion.ts";
import { dev_warn, Device, Driver } from "../kernel/device.ts";
import {
  devm_add_action,
  devm_add_action_or_reset,
  devm_kzalloc,
  devm_remove_action,
} from "../kernel/devres.ts";
import { EBUSY, ENOMEM, IS_ERR, PTR_ERR } from "../kernel/errno.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { devm_memremap_pages, type MemremapResult } from "../kernel/memremap.ts";
import { dev_pagemap_get_ops, dev_pagemap_put_ops } from "../kernel/mm/devmap.ts";
import {
  DevPagemap,
  MEMORY_DEVICE_FS_DAX,
  type MemoryType,
  type Page,
  type VmemAltmap,
} from "../kernel/mm/types.ts";
import {
  percpu_ref_exit,
  percpu_ref_init,
  percpu_ref_kill,
  PercpuRef,
} from "../kernel/percpu-refcount.ts";
import { devm_request_mem_region } from "../kernel/resource-devm.ts";
import { IORESOURCE_MEM, Resource } from "../kernel/resource.ts";
import type { KGen } from "../sim/task.ts";

/** Where and what the test namespace is. */
export interface TestDaxConfig {
  /** First byte of the device range. */
  start: number;
  /** Bytes. */
  size: number;
  /** enum memory_type of the pgmap (default 0, what dax_pmem leaves). */
  type?: MemoryType;
  /** An altmap carved out of the device (default none). */
  altmap?: VmemAltmap | null;
  /** dev_name of the namespace the region is claimed for (default "namespace0.0"). */
  namespace?: string;
}

/** The percpu_ref of one test device: container_of(ref, struct dax_pmem, ref). */
export class TestDaxRef extends PercpuRef {
  /**
   * Creates the ref (percpu_ref_init it before use).
   * @param dax_pmem the driver data embedding this ref.
   */
  constructor(readonly dax_pmem: TestDaxPmem) {
    super();
  }
}

/** struct dax_pmem: the driver data of one bound test device. */
export class TestDaxPmem {
  /** The device. */
  readonly dev: Device;
  /** The ref embedded in the driver data. */
  readonly ref: TestDaxRef;
  /** The pgmap embedded in the driver data. */
  readonly pgmap: DevPagemap = new DevPagemap();
  /** Completed by the ref's release. */
  readonly cmp: Completion;
  /** What devm_memremap_pages returned (null before it ran). */
  addr: MemremapResult | null = null;
  /** pfns page_free (fsdax_pagefree) was called for, in order. */
  readonly pageFrees: Page[] = [];
  /** How many times the kill ran. */
  kills = 0;

  /**
   * Creates the driver data (devm_kzalloc'ed by probe).
   * @param k the kernel (the ref's release runs without one).
   * @param dev the device being probed.
   */
  constructor(readonly k: Kernel, dev: Device) {
    this.dev = dev;
    this.ref = new TestDaxRef(this);
    this.cmp = new Completion(`dax_pmem ${dev.name} ref`);
    this.cmp.completer = this.ref;
  }
}

/** The nd_dax device the test driver binds to: a Device carrying its namespace's range. */
export class TestDaxDevice extends Device {
  /** The namespace configuration. */
  readonly config: Readonly<TestDaxConfig>;
  /** The driver data of the last probe (kept after unbind, for inspection). */
  last: TestDaxPmem | null = null;
  /** Every probe's driver data, in order. */
  readonly probes: TestDaxPmem[] = [];

  /**
   * Creates and registers the device.
   * @param k the kernel.
   * @param name dev_name ("dax0.0").
   * @param config the device range.
   */
  constructor(k: Kernel, name: string, config: TestDaxConfig) {
    super(k, name, "nd");
    if (!(Number.isSafeInteger(config.start) && Number.isSafeInteger(config.size))) {
      throw new TypeError(`Cannot create ${name}: start and size must be integers`);
    }
    if (config.size <= 0 || config.start % 4096 !== 0 || config.size % 4096 !== 0) {
      throw new RangeError(`Cannot create ${name}: the range must be non-empty and page aligned`);
    }
    this.config = config;
  }
}

function to_dax_pmem(ref: PercpuRef): TestDaxPmem {
  return (ref as TestDaxRef).dax_pmem;
}

/** dax_pmem_percpu_release: the ref reached zero. Must not sleep. */
function dax_pmem_percpu_release(ref: PercpuRef): void {
  const dax_pmem = to_dax_pmem(ref);
  complete(dax_pmem.k, dax_pmem.cmp);
}

/** dax_pmem_percpu_exit: wait for the ref to reach zero, then percpu_ref_exit (devm action, or pgmap->cleanup at v5.2). */
export function* dax_pmem_percpu_exit(k: Kernel, ref: PercpuRef): KGen<void> {
  const dax_pmem = to_dax_pmem(ref);
  yield* wait_for_completion(k, dax_pmem.cmp);
  percpu_ref_exit(k, ref);
}

/** dax_pmem_percpu_kill: percpu_ref_kill (devm action at levels 0..2, pgmap->kill from patch 3/7). */
export function dax_pmem_percpu_kill(k: Kernel, ref: PercpuRef): void {
  to_dax_pmem(ref).kills++;
  percpu_ref_kill(k, ref);
}

/** pmem_release_pgmap_ops: dev_pagemap_put_ops (devm action). */
function pmem_release_pgmap_ops(k: Kernel, _pgmap: DevPagemap): void {
  dev_pagemap_put_ops(k);
}

/** fsdax_pagefree: wake_up_var(&page->_refcount) — recorded. */
function fsdax_pagefree(_k: Kernel, page: Page, data: unknown): void {
  (data as TestDaxPmem).pageFrees.push(page);
}

/**
 * dax_pmem_probe for a {@link TestDaxDevice}, in the pattern of the level
 * it runs at (see the module doc). Sleeps: a driver's probe.
 */
export function* dax_pmem_probe(k: Kernel, dev: Device): KGen<number> {
  if (!(dev instanceof TestDaxDevice)) {
    throw new TypeError(
      `Cannot probe ${dev.name} with the test dax_pmem driver: not a TestDaxDevice`,
    );
  }
  const cfg = dev.config;
  const dax_pmem = devm_kzalloc(k, dev, () => new TestDaxPmem(k, dev));
  if (dax_pmem === null) return -ENOMEM;
  dev.last = dax_pmem;
  dev.probes.push(dax_pmem);
  const pgmap = dax_pmem.pgmap;
  pgmap.res = { start: cfg.start, end: cfg.start + cfg.size - 1 };
  pgmap.type = cfg.type ?? 0;
  if (cfg.altmap) {
    pgmap.altmap = cfg.altmap;
    pgmap.altmap_valid = true;
  }
  if (
    devm_request_mem_region(k, dev, cfg.start, cfg.size, cfg.namespace ?? "namespace0.0") === null
  ) {
    const r = new Resource({
      name: null,
      start: cfg.start,
      end: cfg.start + cfg.size - 1,
      flags: IORESOURCE_MEM,
    });
    dev_warn(k, dev, `could not reserve region ${r}`);
    return -EBUSY;
  }
  const ref = dax_pmem.ref;
  let rc = percpu_ref_init(k, ref, dax_pmem_percpu_release, 0, 0);
  if (rc) return rc;
  // 50f44ee7248a: the wait-and-exit becomes pgmap->cleanup instead of a devm action
  if (k.fixed("50f44ee7248a")) {
    pgmap.cleanup = dax_pmem_percpu_exit;
  } else {
    rc = devm_add_action(k, dev, dax_pmem_percpu_exit, ref as PercpuRef);
    if (rc) {
      percpu_ref_exit(k, ref);
      return rc;
    }
  }
  if (pgmap.type === MEMORY_DEVICE_FS_DAX) {
    // pmem's setup_pagemap_fsdax
    dev_pagemap_get_ops(k);
    if ((yield* devm_add_action_or_reset(k, dev, pmem_release_pgmap_ops, pgmap)) !== 0) {
      return -ENOMEM;
    }
    pgmap.page_free = fsdax_pagefree;
    pgmap.data = dax_pmem;
  }
  pgmap.ref = ref;
  // patch 3/7: dax_pmem hands its kill to devm_memremap_pages (pgmap->kill)
  if (k.applied(3)) {
    pgmap.kill = dax_pmem_percpu_kill;
    const addr = yield* devm_memremap_pages(k, dev, pgmap);
    dax_pmem.addr = addr;
    if (IS_ERR(addr)) return PTR_ERR(addr);
  } else {
    const addr = yield* devm_memremap_pages(k, dev, pgmap);
    dax_pmem.addr = addr;
    if (IS_ERR(addr)) {
      devm_remove_action(k, dev, dax_pmem_percpu_exit, ref as PercpuRef);
      percpu_ref_exit(k, ref);
      return PTR_ERR(addr);
    }
    rc = yield* devm_add_action_or_reset(k, dev, dax_pmem_percpu_kill, ref as PercpuRef);
    if (rc) return rc;
  }
  dev.driver_data = dax_pmem;
  return 0;
}

/**
 * The test driver ("dax_pmem"). One instance per machine is enough; bind it
 * with driver_probe_device and unbind with device_release_driver.
 *
 * @example Bind and unbind at v5.0
 * ```ts
 * import { bootZoneDeviceMachine } from "./boot.ts";
 * import { TestDaxDevice, testDaxPmemDriver } from "./driver.ts";
 * import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0" });
 * const dev = new TestDaxDevice(m.k, "dax0.0", { start: 2 ** 34, size: 2 ** 27 });
 * assertEquals(m.call(driver_probe_device, testDaxPmemDriver(), dev), 0);
 * assertEquals(dev.last!.ref.value, 1 + 32768);
 * m.call(device_release_driver, dev);
 * assertEquals(dev.last!.ref.pcpu, null); // percpu_ref_exit ran
 * ```
 */
export function testDaxPmemDriver(): Driver {
  return new Driver("dax_pmem", dax_pmem_probe, null);
}
