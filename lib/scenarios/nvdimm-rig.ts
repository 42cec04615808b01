/**
 * The real-driver rig of the devm_memremap_pages scenarios (7, 8, 9): the
 * "ram-4g" machine plus one NVDIMM whose 128 MiB pmem region sits at the
 * scenarios' device range (16 GiB, one section), with one namespace over
 * all of it, enabled through ndctl and bound to a real driver:
 *
 * - "pmem": fsdax, map=mem — nd_pmem, FS_DAX pages, the block queue's
 *   q_usage_counter as the pgmap ref;
 * - "dax_pmem": devdax, map=mem — dax_pmem with its own ref and completion.
 *
 * With map=mem and no padding the pgmap covers the whole namespace: 32768
 * pages, each holding one pgmap reference, as the scenarios expect.
 *
 * @module
 */
import { bootMachine, type Machine } from "../machine.ts";
import type { Device } from "../kernel/device.ts";
import type { DevPagemap } from "../kernel/mm/types.ts";
import type { PercpuRef } from "../kernel/percpu-refcount.ts";
import type { Namespace } from "../hw/nvdimm/namespace.ts";
import type { NamespaceInfo, NdctlResult } from "../hw/nvdimm/ndctl.ts";
import { nd_bound_device, nd_match } from "../drivers/nvdimm/bind.ts";
import { pmemOf } from "../drivers/nvdimm/pmem.ts";
import { daxPmemOf } from "../drivers/dax/pmem.ts";
import { DEVICE_BASE, type SeriesPoint } from "./zone-device.ts";

/** Which real driver a scenario runs on. */
export type RealDriver = "pmem" | "dax_pmem";

/** The rig's machine description: ram-4g plus a 128 MiB pmem region at 16 GiB. */
export function rigDescription(): object {
  return {
    name: "ram-4g-pmem",
    description: "ram-4g plus one 128 MiB NVDIMM region at 16 GiB (the scenarios' device range)",
    cpus: 2,
    paging: "4-level",
    ram: [{ start: "0", size: "4GiB", node: 0 }],
    nvdimm: {
      buses: [{
        name: "nfit",
        provider: "ACPI.NFIT",
        dimms: [{ name: "dimm0", handle: "0x1", size: "128MiB", labelSize: "128KiB" }],
        regions: [{ name: "pm0", start: DEVICE_BASE, size: "128MiB", dimms: ["dimm0"] }],
      }],
    },
  };
}

/** A namespace of the rig bound (or not) to its driver. */
export interface RigNamespace {
  /** The ndctl result of creating it. */
  created: NdctlResult<NamespaceInfo>;
  /** The namespace (null if ndctl failed before creating one). */
  ns: Namespace | null;
  /** The device its driver binds to (pfn0.0 or dax0.0). */
  dev: Device | null;
}

/** Boots the rig at a series point. */
export function bootRig(series: SeriesPoint, seed = 0): Machine {
  return bootMachine(rigDescription(), { series, seed });
}

/** Creates the rig's namespace in the driver's mode (fsdax or devdax, map=mem, the whole region). */
export function createRigNamespace(m: Machine, driver: RealDriver): RigNamespace {
  const nd = m.hw!.ndctl!;
  const created = nd.createNamespace({ mode: driver === "pmem" ? "fsdax" : "devdax", map: "mem" });
  const ns = nd.namespaces().find((n) => n.size > 0) ?? null;
  const dev = ns === null || ns.claim === null ? null : nd_match(m.k, ns).dev;
  return { created, ns, dev };
}

/** The pgmap and ref of the driver's last probe of `dev`. */
export function rigPgmap(
  m: Machine,
  driver: RealDriver,
  dev: Device,
): { pgmap: DevPagemap; ref: PercpuRef } | null {
  if (driver === "pmem") {
    const p = pmemOf(m.k, dev);
    return p === null ? null : { pgmap: p.pgmap, ref: p.pgmap.ref! };
  }
  const d = daxPmemOf(m.k, dev);
  return d === null ? null : { pgmap: d.pgmap, ref: d.ref };
}

/** Whether `ns`'s driver is bound now. */
export function rigBound(m: Machine, ns: Namespace): boolean {
  return nd_bound_device(m.k, ns) !== null;
}
