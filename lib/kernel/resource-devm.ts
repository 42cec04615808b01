/**
 * The devm half of kernel/resource.c: __devm_request_region and
 * devm_release_mem_region, which tie an iomem claim to a device's devres.
 *
 * @module
 */
import type { Device } from "./device.ts";
import { devres_add } from "./devres.ts";
import type { Kernel } from "./kernel.ts";
import { WARN_ON } from "./printk.ts";
import { __release_region, __request_region, iomem_resource, type Resource } from "./resource.ts";

function trace(k: Kernel, dev: Device, name: string) {
  k.trace.emit({ kind: "devres", op: "release", dev: dev.name, name });
}

/**
 * __devm_request_region(dev, parent, start, n, name) (kernel/resource.c):
 * __request_region(parent, start, n, name, 0) with a devres node that
 * releases it with the device's devres: the region, or NULL (on conflict,
 * or when the node or the resource cannot be allocated — fault points
 * "devm_kmalloc" and "request_mem_region").
 */
export function __devm_request_region(
  k: Kernel,
  dev: Device,
  parent: Resource,
  start: number,
  n: number,
  name: string,
): Resource | null {
  if (k.faults.shouldFail("devm_kmalloc")) return null;
  const res = __request_region(k, parent, start, n, name, 0);
  if (res === null) return null;
  devres_add(k, dev, {
    kind: "region",
    name: "devm_region_release",
    fn: null,
    data: res,
    release: (kk) => __release_region(kk, parent, start, n),
    group: null,
  });
  return res;
}

/**
 * devm_request_mem_region(dev, start, n, name) (include/linux/ioport.h):
 * `__devm_request_region(dev, &iomem_resource, start, n, name)`.
 */
export function devm_request_mem_region(
  k: Kernel,
  dev: Device,
  start: number,
  n: number,
  name: string,
): Resource | null {
  return __devm_request_region(k, dev, iomem_resource(k), start, n, name);
}

/** devm_release_mem_region(dev, start, n): release now and destroy the node (WARN_ON if missing). */
export function devm_release_mem_region(k: Kernel, dev: Device, start: number, n: number): void {
  const i = dev.devres.findLastIndex((x) =>
    x.kind === "region" && (x.data as Resource).start === start &&
    (x.data as Resource).end === start + n - 1
  );
  if (WARN_ON(k, i < 0)) return;
  const [node] = dev.devres.splice(i, 1);
  if (k.trace.on) trace(k, dev, node!.name);
  __release_region(k, iomem_resource(k), start, n);
}
