/**
 * The device and driver core (drivers/base/core.c, dd.c; include/linux/device.h):
 * devices, drivers, probe with devres unwinding on failure, bind and unbind
 * (devres released LIFO after remove), and dev_printk.
 *
 * @module
 */
import { type KGen, type Task } from "../sim/task.ts";
import type { DevresNode } from "./devres.ts";
import { devres_release_all } from "./devres.ts";
import { errname } from "./errno.ts";
import type { Kernel, SubsystemKey } from "./kernel.ts";
import { Mutex, mutex_lock, mutex_unlock } from "./mutex.ts";

/** A driver's probe: 0 or -errno. May sleep (a generator) or not. */
export type ProbeFn = (k: Kernel, dev: Device) => KGen<number> | number;
/**
 * A driver's remove: struct device_driver's `int (*remove)(struct device *)`
 * (0 or -errno, which the driver core ignores) — or, for a bus whose remove
 * returns void (pci_driver's), nothing. May sleep.
 */
export type RemoveFn = (k: Kernel, dev: Device) => KGen<number | void> | number | void;

/** struct device_driver. */
export class Driver {
  /**
   * Creates the object.
   * @param name driver name ("nd_pmem", "dax_pmem", ...).
   * @param probe the probe routine.
   * @param remove the remove routine, if any.
   */
  constructor(
    readonly name: string,
    readonly probe: ProbeFn,
    readonly remove: RemoveFn | null = null,
  ) {}
}

/** Per-kernel list of registered devices (for hang reports and invariants). */
export const DEVICES: SubsystemKey<Device[]> = { name: "devices", create: () => [] };

/** struct device. */
export class Device {
  /** Id. */
  readonly id: number;
  /** The bound driver, or null. */
  driver: Driver | null = null;
  /** The devres list (oldest first). */
  devres: DevresNode[] = [];
  /** Nodes moved off the list by a release in progress, oldest first, and how many have run. */
  releasing: { nodes: DevresNode[]; next: number; task: Task | null } | null = null;
  /** device_lock(). */
  readonly lock: Mutex;
  /** dev_get_drvdata / dev_set_drvdata. */
  driver_data: unknown = null;

  /**
   * Creates and registers a device (device_register).
   * @param k the kernel.
   * @param name dev_name() ("namespace0.0", "0000:01:00.0", ...).
   * @param bus bus name used by dev_driver_string when unbound.
   * @param parent parent device.
   */
  constructor(
    k: Kernel,
    readonly name: string,
    readonly bus: string = "",
    readonly parent: Device | null = null,
  ) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError("Cannot register a device: it needs a non-empty name");
    }
    this.id = k.newId();
    this.lock = new Mutex(`device_lock(${name})`);
    k.state(DEVICES).push(this);
  }

  /** dev_name(). */
  toString(): string {
    return this.name;
  }
}

/** dev_name(dev). */
export function dev_name(dev: Device): string {
  return dev.name;
}

/** dev_driver_string(dev): the driver's name if bound, else the bus name. */
export function dev_driver_string(dev: Device): string {
  return dev.driver?.name ?? dev.bus;
}

function devPrintk(
  k: Kernel,
  level: "err" | "warning" | "info" | "debug",
  dev: Device,
  msg: string,
) {
  k.dmesg.printk(level, `${dev_driver_string(dev)} ${dev_name(dev)}: ${msg}`);
}

/** dev_err(dev, fmt): "<driver> <device>: message". */
export function dev_err(k: Kernel, dev: Device, msg: string): void {
  devPrintk(k, "err", dev, msg);
}

/** dev_warn(dev, fmt). */
export function dev_warn(k: Kernel, dev: Device, msg: string): void {
  devPrintk(k, "warning", dev, msg);
}

/** dev_info(dev, fmt). */
export function dev_info(k: Kernel, dev: Device, msg: string): void {
  devPrintk(k, "info", dev, msg);
}

/** dev_dbg(dev, fmt) (dynamic debug on). */
export function dev_dbg(k: Kernel, dev: Device, msg: string): void {
  devPrintk(k, "debug", dev, msg);
}

function* runMaybe<T>(r: KGen<T> | T): KGen<T> {
  if (
    typeof r === "object" && r !== null &&
    Object.prototype.toString.call(r) === "[object Generator]"
  ) {
    return yield* (r as KGen<T>);
  }
  return r as T;
}

/**
 * driver_probe_device(drv, dev) → really_probe (drivers/base/dd.c): under
 * device_lock, set dev->driver, call probe; on failure release all devres
 * (LIFO), clear dev->driver and print "<drv>: probe of <dev> failed with error
 * <n>" (-ENODEV and -ENXIO only at debug level, as "rejects match").
 * Returns probe's result. Sleeps: call with `yield*` or `machine.call`.
 */
export function* driver_probe_device(k: Kernel, drv: Driver, dev: Device): KGen<number> {
  yield* mutex_lock(k, dev.lock);
  if (dev.driver !== null) {
    mutex_unlock(k, dev.lock);
    return -16; // -EBUSY: already bound (device_driver_attach)
  }
  dev.driver = drv;
  if (k.trace.on) {
    k.trace.emit({ kind: "device", op: "probe", dev: dev.name, driver: drv.name, ret: 0 });
  }
  const ret = yield* runMaybe(drv.probe(k, dev));
  if (ret !== 0) {
    yield* devres_release_all(k, dev);
    dev.driver = null;
    dev.driver_data = null;
    if (ret === -19 || ret === -6) {
      k.dmesg.printk("debug", `${drv.name}: probe of ${dev.name} rejects match ${ret}`);
    } else {
      k.dmesg.printk("warning", `${drv.name}: probe of ${dev.name} failed with error ${ret}`);
    }
    if (k.trace.on) {
      k.trace.emit({ kind: "device", op: "probe_failed", dev: dev.name, driver: drv.name, ret });
    }
  } else if (k.trace.on) {
    k.trace.emit({ kind: "device", op: "bound", dev: dev.name, driver: drv.name, ret: 0 });
  }
  mutex_unlock(k, dev.lock);
  return ret;
}

/**
 * device_release_driver(dev) (unbind): under device_lock, call the driver's
 * remove, then devres_release_all (LIFO), then clear dev->driver.
 * Sleeps: call with `yield*` or `machine.call`.
 */
export function* device_release_driver(k: Kernel, dev: Device): KGen<void> {
  yield* mutex_lock(k, dev.lock);
  const drv = dev.driver;
  if (drv === null) {
    mutex_unlock(k, dev.lock);
    return;
  }
  if (k.trace.on) {
    k.trace.emit({ kind: "device", op: "remove", dev: dev.name, driver: drv.name, ret: 0 });
  }
  if (drv.remove !== null) yield* runMaybe(drv.remove(k, dev));
  yield* devres_release_all(k, dev);
  dev.driver = null;
  dev.driver_data = null;
  if (k.trace.on) {
    k.trace.emit({ kind: "device", op: "unbound", dev: dev.name, driver: drv.name, ret: 0 });
  }
  mutex_unlock(k, dev.lock);
}

/** "probe of x failed with error -12" style helper for notebooks. */
export function describeProbe(ret: number): string {
  return ret === 0 ? "bound" : `failed with ${errname(ret)}`;
}
