/**
 * Shared pieces of the HMM device-memory scenarios (SCENARIOS.md 10, 12,
 * 27-30): a small GPU-like test driver that registers device memory with
 * hmm_devmem_add (a size) or hmm_devmem_add_resource (a DEVICE_PUBLIC
 * resource) at probe, a helper that inserts such a resource into iomem the
 * way a platform or CAPI/CCIX driver would, and readers of the WARNs and the
 * hmm wait events.
 *
 * The driver stands in until the hardware issue's GPU driver lands. Like
 * nouveau's dmem code it owns the pages it allocates: "allocating and
 * mapping" a device page is one get_page (refcount 1 → 2), "unmapping" it one
 * put_page (2 → 1, which runs `ops->free`).
 *
 * @module
 */
import { Device, Driver } from "../kernel/device.ts";
import { errname, type ErrPtr, IS_ERR, PTR_ERR } from "../kernel/errno.ts";
import type { KernelEvent } from "../kernel/events.ts";
import {
  hmm_devmem_add,
  hmm_devmem_add_resource,
  type HmmDevmem,
  type HmmDevmemOps,
} from "../kernel/hmm.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Page } from "../kernel/mm/types.ts";
import { VM_FAULT_SIGBUS } from "../kernel/mm/mm-types.ts";
import {
  insert_resource,
  iomem_resource,
  IORES_DESC_DEVICE_PUBLIC_MEMORY,
  IORESOURCE_MEM,
  Resource,
} from "../kernel/resource.ts";
import type { Traced } from "../sim/trace.ts";
import type { KGen } from "../sim/task.ts";

/** What the test GPU registers at probe. */
export interface HmmTestConfig {
  /** hmm_devmem_add(size): device-private memory found by HMM's free-space search. */
  size?: number;
  /** hmm_devmem_add_resource(res): the caller's DEVICE_PUBLIC resource. */
  res?: Resource;
  /**
   * Whether probe still succeeds when the registration fails (device memory
   * as an optional feature, the way nvme treats p2pdma). Default false.
   */
  optional?: boolean;
}

/** The driver data of one probe. */
export class HmmTestGpu {
  /** What the registration returned (null before it ran). */
  result: HmmDevmem | ErrPtr | null = null;
  /** The devmem, if the registration succeeded. */
  devmem: HmmDevmem | null = null;
  /** Pages `ops->free` was called for, in order. */
  readonly frees: Page[] = [];
  /** Calls of `ops->fault`. */
  faults = 0;
  /** The driver's callbacks. */
  readonly ops: HmmDevmemOps;

  /** Creates the driver data and its ops. */
  constructor() {
    this.ops = {
      free: (_k: Kernel, _devmem: HmmDevmem, page: Page): void => {
        this.frees.push(page);
      },
      fault: (): number => {
        this.faults++;
        return VM_FAULT_SIGBUS; // the test device cannot migrate back
      },
    };
  }
}

/** The device the test GPU driver binds to. */
export class HmmTestDevice extends Device {
  /** What it registers. */
  readonly config: Readonly<HmmTestConfig>;
  /** The driver data of the last probe (kept after unbind). */
  last: HmmTestGpu | null = null;

  /**
   * Creates and registers the device.
   * @param k the kernel.
   * @param name dev_name ("gpu0").
   * @param config what probe registers: exactly one of `size` and `res`.
   */
  constructor(k: Kernel, name: string, config: HmmTestConfig) {
    super(k, name, "pci");
    if ((config.size === undefined) === (config.res === undefined)) {
      throw new TypeError(`Cannot create ${name}: give exactly one of size and res`);
    }
    this.config = config;
  }
}

/**
 * The test GPU's probe: hmm_devmem_add or hmm_devmem_add_resource, at
 * whatever level the kernel runs. Returns the registration's errno unless
 * the config says the memory is optional. Sleeps.
 */
export function* hmm_test_probe(k: Kernel, dev: Device): KGen<number> {
  if (!(dev instanceof HmmTestDevice)) {
    throw new TypeError(`Cannot probe ${dev.name} with the test GPU driver: not an HmmTestDevice`);
  }
  const gpu = new HmmTestGpu();
  dev.last = gpu;
  dev.driver_data = gpu;
  const cfg = dev.config;
  const r = cfg.res !== undefined
    ? yield* hmm_devmem_add_resource(k, gpu.ops, dev, cfg.res)
    : yield* hmm_devmem_add(k, gpu.ops, dev, cfg.size!);
  gpu.result = r;
  if (IS_ERR(r)) return cfg.optional ? 0 : PTR_ERR(r);
  gpu.devmem = r;
  return 0;
}

/**
 * The test GPU driver ("hmm_gpu"): bind with driver_probe_device, unbind with
 * device_release_driver.
 *
 * @example A 128 MiB device-private region at v5.0
 * ```ts
 * import { bootZoneDeviceMachine } from "./boot.ts";
 * import { HmmTestDevice, hmmTestDriver } from "./hmm-driver.ts";
 * import { driver_probe_device } from "../kernel/device.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootZoneDeviceMachine("ram-4g", { series: "v5.0" });
 * const gpu = new HmmTestDevice(m.k, "gpu0", { size: 2 ** 27 });
 * assertEquals(m.call(driver_probe_device, hmmTestDriver(), gpu), 0);
 * assertEquals(gpu.last!.devmem!.resource!.start, 2 ** 46 - 2 ** 27);
 * ```
 */
export function hmmTestDriver(): Driver {
  return new Driver("hmm_gpu", hmm_test_probe, null);
}

/**
 * A top-level iomem resource for coherent device memory, as a CAPI/CCIX
 * platform driver would insert it: IORESOURCE_MEM, not busy, with `desc`
 * (default IORES_DESC_DEVICE_PUBLIC_MEMORY). Throws if it cannot be inserted.
 */
export function insertDeviceMemoryResource(
  k: Kernel,
  name: string,
  start: number,
  size: number,
  desc: number = IORES_DESC_DEVICE_PUBLIC_MEMORY,
): Resource {
  const res = new Resource({ name, start, end: start + size - 1, flags: IORESOURCE_MEM, desc });
  if (insert_resource(k, iomem_resource(k), res) !== 0) {
    throw new RangeError(`Cannot insert ${res}: it conflicts with an existing resource`);
  }
  return res;
}

/** The "WARNING: CPU: ..." headers in dmesg (one per WARN, WARN_ON, WARN_ONCE that fired). */
export function warnHeaders(k: Kernel): string[] {
  return k.dmesg.lines.filter((l) => l.text.startsWith("WARNING: CPU:")).map((l) => l.text);
}

/** How many WARNs fired inside devm_remove_action (an action that could not find its own node). */
export function removeActionWarns(k: Kernel): number {
  return warnHeaders(k).filter((l) => l.includes(" devm_remove_action+")).length;
}

/** One wait of hmm_devmem_ref_kill / hmm_devmem_ref_exit, from the trace. */
export interface HmmWait {
  /** The waiting function. */
  fn: string;
  /** The devmem's device. */
  dev: string;
  /** When the wait began (ns). */
  from: number;
  /** How long it lasted (ns), or null if it never returned. */
  ns: number | null;
}

/** The hmm waits in a trace, in order. */
export function hmmWaits(events: readonly Traced<KernelEvent>[]): HmmWait[] {
  const out: HmmWait[] = [];
  for (const e of events) {
    if (e.kind !== "hmm") continue;
    if (e.op === "wait") out.push({ fn: e.fn, dev: e.dev, from: e.t, ns: null });
    else if (e.op === "woken") {
      const w = out.findLast((x) => x.fn === e.fn && x.dev === e.dev && x.ns === null);
      if (w !== undefined) w.ns = e.t - w.from;
    }
  }
  return out;
}

/** "ok" for a devmem, "-EBUSY" style for an ERR_PTR, "none" for null. */
export function describeDevmem(r: HmmDevmem | ErrPtr | null): string {
  if (r === null) return "none";
  if (IS_ERR(r)) return errname(r.err);
  return "ok";
}
