/**
 * The kernel's view of the PCIe hardware (drivers/pci/probe.c,
 * include/linux/pci.h): one `struct pci_dev` per function of the machine's
 * {@link PciTopology}, created by {@link pci_scan} in enumeration order with
 * its upstream bridge as the parent device, and the accessors drivers use —
 * pci_resource_start / _len / _flags, pci_bus_address, pci_name,
 * pci_upstream_bridge, pci_info / pci_warn / pci_err.
 *
 * `pdev->resource[bar]` is the BAR's resource in the iomem tree (inserted at
 * power-on by the hardware); a BAR index the function does not implement
 * (the upper half of a 64-bit BAR included) has flags 0 and length 0.
 *
 * Binding is the driver core's: `driver_probe_device(k, drv, pdev)` and
 * `device_release_driver(k, pdev)` (lib/kernel/device.ts).
 *
 * @module
 */
import type { PciDevice, PciTopology } from "../../hw/pcie/topology.ts";
import { dev_err, dev_info, dev_warn, Device } from "../../kernel/device.ts";
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import { iomem_resource, Resource, resource_size, resourceWalk } from "../../kernel/resource.ts";
import type { PciP2pdma } from "./p2pdma.ts";

/** PCI_STD_NUM_BARS: BARs 0..5. */
export const PCI_STD_NUM_BARS = 6;

/** struct pci_dev: a PCI function as the kernel sees it. */
export class PciDev extends Device {
  /** The hardware function. */
  readonly hw: PciDevice;
  /** pdev->resource[0..5]: each BAR's iomem resource, or null for an unimplemented BAR. */
  readonly resource: (Resource | null)[];
  /** pdev->p2pdma (drivers/pci/p2pdma.c), null until pci_p2pdma_add_resource sets it up. */
  p2pdma: PciP2pdma | null = null;
  /** sysfs attribute groups present under the device ("p2pmem"). */
  readonly sysfsGroups: Set<string> = new Set();
  /**
   * The bus address minus the CPU physical address of this function's memory
   * BARs (the host bridge window's translation offset, pcibios_resource_to_bus).
   * 0 on x86 and in every shipped machine; a simulator knob to show
   * kernel-reference §11 S24.
   */
  bus_offset = 0;

  /**
   * Creates and registers the pci_dev (pci_setup_device + device_add).
   * @param k the kernel.
   * @param hw the hardware function.
   * @param parent the upstream bridge's pci_dev, or null on a root bus.
   */
  constructor(k: Kernel, hw: PciDevice, parent: PciDev | null) {
    super(k, hw.bdf, "pci", parent);
    this.hw = hw;
    const bars: (Resource | null)[] = new Array(PCI_STD_NUM_BARS).fill(null);
    for (const b of hw.bars) bars[b.index] = findBarResource(k, hw, b.start, b.size);
    this.resource = bars;
  }
}

/** The BAR's resource in iomem (named by BDF), or a detached one when iomem lacks it. */
function findBarResource(k: Kernel, hw: PciDevice, start: number, size: number): Resource {
  for (const { res } of resourceWalk(iomem_resource(k))) {
    if (res.name === hw.bdf && res.start === start && resource_size(res) === size) return res;
  }
  throw new RangeError(
    `Cannot set up ${hw.bdf}: its BAR [${start.toString(16)}, +${
      size.toString(16)
    }) is not in iomem (was the machine booted from a description?)`,
  );
}

/** The PCI core's per-kernel device list. */
export interface PciState {
  /** Every pci_dev, in enumeration order (pci_get_device's order). */
  readonly devices: PciDev[];
  /** pci_dev by hardware function. */
  readonly byHw: Map<PciDevice, PciDev>;
}

/** The PCI core state of a kernel. */
export const PCI: SubsystemKey<PciState> = {
  name: "pci",
  create: () => ({ devices: [], byHw: new Map() }),
};

/**
 * pci_scan_root_bus for every host bridge: one pci_dev per function of
 * `topology`, parents first, each the child of its upstream bridge.
 * Idempotent (a function is scanned once per kernel); returns the list.
 *
 * @example The p2p-rig's provider and its upstream switch port
 * ```ts
 * import { bootMachine } from "../../machine.ts";
 * import { pci_scan, pci_upstream_bridge, pci_name, pciDevByName } from "./pci.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootMachine("p2p-rig");
 * pci_scan(m.k, m.hw!.pci);
 * const nvme = pciDevByName(m.k, m.hw!.pci, "nvme0");
 * assertEquals([pci_name(nvme), pci_name(pci_upstream_bridge(nvme)!)], ["0000:03:00.0", "0000:02:00.0"]);
 * ```
 */
export function pci_scan(k: Kernel, topology: PciTopology): readonly PciDev[] {
  const st = k.state(PCI);
  for (const hw of topology.devices) {
    if (st.byHw.has(hw)) continue;
    const parent = hw.parent === null ? null : st.byHw.get(hw.parent) ?? null;
    const pdev = new PciDev(k, hw, parent);
    st.byHw.set(hw, pdev);
    st.devices.push(pdev);
  }
  return st.devices;
}

/** The pci_dev of the function named `name` (description name or BDF); scans first. A RangeError if none. */
export function pciDevByName(k: Kernel, topology: PciTopology, name: string): PciDev {
  pci_scan(k, topology);
  const hw = topology.device(name);
  if (hw === undefined) {
    throw new RangeError(
      `Cannot find PCI function "${name}": the machine has ${
        topology.devices.map((d) => d.name).join(", ")
      }`,
    );
  }
  return k.state(PCI).byHw.get(hw)!;
}

/** pci_get_device(PCI_ANY_ID, PCI_ANY_ID, from) as a list: every scanned pci_dev. */
export function pci_devices(k: Kernel): readonly PciDev[] {
  return k.state(PCI).devices;
}

/** dev_is_pci(dev). */
export function dev_is_pci(dev: Device): dev is PciDev {
  return dev instanceof PciDev;
}

/** to_pci_dev(dev): a TypeError for a device that is not a PCI function (container_of misuse). */
export function to_pci_dev(dev: Device): PciDev {
  if (!(dev instanceof PciDev)) {
    throw new TypeError(`Cannot use ${dev.name} as a pci_dev: it is not a PCI function`);
  }
  return dev;
}

/** pci_name(pdev): "dddd:bb:dd.f". */
export function pci_name(pdev: PciDev): string {
  return pdev.name;
}

/** pci_upstream_bridge(pdev): the bridge above, or null on a root bus. */
export function pci_upstream_bridge(pdev: PciDev): PciDev | null {
  return pdev.parent instanceof PciDev ? pdev.parent : null;
}

function bar(pdev: PciDev, n: number): Resource | null {
  if (!(Number.isInteger(n) && n >= 0 && n < PCI_STD_NUM_BARS)) {
    throw new RangeError(`Cannot read BAR ${n} of ${pdev.name}: BARs are 0..5`);
  }
  return pdev.resource[n]!;
}

/** pci_resource_start(pdev, bar): the BAR's first byte (0 if unimplemented). */
export function pci_resource_start(pdev: PciDev, n: number): number {
  return bar(pdev, n)?.start ?? 0;
}

/** pci_resource_end(pdev, bar): the BAR's last byte (0 if unimplemented). */
export function pci_resource_end(pdev: PciDev, n: number): number {
  return bar(pdev, n)?.end ?? 0;
}

/** pci_resource_flags(pdev, bar): IORESOURCE_* of the BAR (0 if unimplemented). */
export function pci_resource_flags(pdev: PciDev, n: number): number {
  return bar(pdev, n)?.flags ?? 0;
}

/** pci_resource_len(pdev, bar): bytes (0 if unimplemented). */
export function pci_resource_len(pdev: PciDev, n: number): number {
  const r = bar(pdev, n);
  return r === null ? 0 : resource_size(r);
}

/** pci_bus_address(pdev, bar): the BAR's start as a PCI bus address (start + the window's offset). */
export function pci_bus_address(pdev: PciDev, n: number): number {
  const r = bar(pdev, n);
  return r === null ? 0 : r.start + pdev.bus_offset;
}

/** pci_info(pdev, fmt): dev_info on the function ("<driver|pci> 0000:03:00.0: ..."). */
export function pci_info(k: Kernel, pdev: PciDev, msg: string): void {
  dev_info(k, pdev, msg);
}

/** pci_warn(pdev, fmt). */
export function pci_warn(k: Kernel, pdev: PciDev, msg: string): void {
  dev_warn(k, pdev, msg);
}

/** pci_err(pdev, fmt). */
export function pci_err(k: Kernel, pdev: PciDev, msg: string): void {
  dev_err(k, pdev, msg);
}
