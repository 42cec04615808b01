/**
 * A p2pmem provider driver in the style of nvme_map_cmb (drivers/nvme/host/
 * pci.c, v4.20): probe hands one or more memory BARs (a controller memory
 * buffer) to pci_p2pdma_add_resource, whole, and publishes them. A failure
 * is not fatal by default — like NVMe it warns "failed to register the CMB"
 * and binds without p2pmem — unless `fatal` is set, when probe fails with
 * the error (and the driver core unwinds its devres).
 *
 * A machine description binds it at boot with `"driver": "p2pmem"` on the
 * endpoint (its `"p2pmem"` field is this config's bars, publish and fatal);
 * otherwise it is bound explicitly, as below.
 *
 * Only the p2pdma part of the driver is modelled: no queues, no I/O. The
 * warning goes to the PCI function ("nvme 0000:03:00.0: ..."), where NVMe
 * prints it on its controller device.
 *
 * @module
 */
import { type Device, Driver } from "../../kernel/device.ts";
import type { Kernel } from "../../kernel/kernel.ts";
import type { KGen } from "../../sim/task.ts";
import { pci_p2pdma_add_resource, pci_p2pmem_publish } from "./p2pdma.ts";
import { pci_warn, to_pci_dev } from "./pci.ts";

/** What the provider registers. */
export interface P2pmemProviderConfig {
  /** BAR indices handed to pci_p2pdma_add_resource, in order (default [2], a typical CMB BAR). */
  bars?: readonly number[];
  /** pci_p2pmem_publish after a successful registration (default true). */
  publish?: boolean;
  /** Fail probe when a BAR cannot be registered (default false: warn and bind, as NVMe). */
  fatal?: boolean;
  /** The driver's name (default "nvme"). */
  name?: string;
}

/** The driver data of one bound provider: what each BAR's registration returned. */
export class P2pmemProviderData {
  /** pci_p2pdma_add_resource's result per BAR, in order. */
  readonly results: { bar: number; ret: number }[] = [];
}

/**
 * A provider driver. Bind with `driver_probe_device(k, drv, pdev)`, unbind
 * with `device_release_driver(k, pdev)`; probe's results are in
 * `pdev.driver_data` ({@link P2pmemProviderData}).
 *
 * @example Two BARs, bound and published at v4.20
 * ```ts
 * import { bootMachine } from "../../machine.ts";
 * import { driver_probe_device } from "../../kernel/device.ts";
 * import { pciDevByName } from "./pci.ts";
 * import { p2pmemProviderDriver } from "./p2pmem-provider.ts";
 * import { pci_has_p2pmem } from "./p2pdma.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootMachine("p2p-rig", { series: "v4.20" });
 * const pdev = pciDevByName(m.k, m.hw!.pci, "nvme0");
 * assertEquals(m.call(driver_probe_device, p2pmemProviderDriver({ bars: [2, 4] }), pdev), 0);
 * assertEquals(pci_has_p2pmem(pdev), true);
 * ```
 */
export function p2pmemProviderDriver(cfg: P2pmemProviderConfig = {}): Driver {
  const bars = cfg.bars ?? [2];
  for (const b of bars) {
    if (!(Number.isInteger(b) && b >= 0 && b <= 5)) {
      throw new RangeError(`Cannot create the p2pmem provider: BAR ${b} is not 0..5`);
    }
  }
  const publish = cfg.publish ?? true;
  const fatal = cfg.fatal ?? false;
  function* p2pmem_provider_probe(k: Kernel, dev: Device): KGen<number> {
    const pdev = to_pci_dev(dev);
    const data = new P2pmemProviderData();
    let any = false;
    for (const bar of bars) {
      const ret = yield* pci_p2pdma_add_resource(k, pdev, bar, 0, 0);
      data.results.push({ bar, ret });
      if (ret !== 0) {
        pci_warn(k, pdev, "failed to register the CMB");
        if (fatal) return ret;
      } else any = true;
    }
    if (any && publish) pci_p2pmem_publish(k, pdev, true);
    dev.driver_data = data;
    return 0;
  }
  return new Driver(cfg.name ?? "nvme", p2pmem_provider_probe, null);
}
