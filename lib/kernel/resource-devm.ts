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
 * devm_request_mem_region(dev, start, n, name) → __devm_request_region on
 * iomem_resource: the region, or NULL (on conflict, or when the node or the
 * resource cannot be allocated). Released with the device's devres.
 */
export function devm_request_mem_region(
  k: Kernel,
  dev: Device,
  start: number,
  n: number,
  name: string,
): Resource | null {
  if (k.faults.shouldFail("devm_kmalloc")) return null;
  const root = iomem_resource(k);
  const res = __request_region(k, root, start, n, name, 0);
  if (res === null) return null;
  devres_add(k, dev, {
    kind: "region",
    name: "devm_region_release",
    fn: null,
    data: res,
    release: (kk) => __release_region(kk, root, start, n),
    group: null,
  });
  return res;
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
