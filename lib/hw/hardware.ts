/**
 * All the simulated hardware of one machine — NVDIMM buses, the PCIe
 * hierarchy, GPUs, CPU-coherent device memory — as one value that outlives
 * the kernels booted on it. {@link Hardware.attach} is power-on: volatile
 * state (VRAM, BAR memory, coherent memory, firmware state) starts afresh,
 * persistent state (pmem media, label areas, media errors) stays, and the
 * firmware's iomem resources are inserted into the new kernel's tree:
 *
 * - a top-level "Persistent Memory" resource (desc PERSISTENT_MEMORY) per PM
 *   region, as acpi_nfit_insert_resource does (not for nfit_test buses,
 *   whose ranges its iomap wrappers keep out of iomem);
 * - a top-level resource with desc DEVICE_PUBLIC_MEMORY per coherent range;
 * - each host bridge window as "PCI Bus dddd:bb", bridge windows nested as
 *   "PCI Bus dddd:ss" (secondary bus), BARs nested in those, named by BDF.
 *
 * No driver is bound here; the namespaces libnvdimm finds at boot are
 * enabled through {@link Hardware.ndctl}'s binder, which has none yet.
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";
import {
  insert_resource,
  iomem_resource,
  IORES_DESC_DEVICE_PUBLIC_MEMORY,
  IORES_DESC_PERSISTENT_MEMORY,
  IORESOURCE_MEM,
  IORESOURCE_MEM_64,
  IORESOURCE_PREFETCH,
  IORESOURCE_WINDOW,
  Resource,
} from "../kernel/resource.ts";
import { CONTENTS } from "../kernel/mm/page-contents.ts";
import { createChunkPool, PAGE_BYTES, PageStore } from "./chunks.ts";
import { CoherentMemory, type CoherentMemoryConfig } from "./coherent.ts";
import { Gpu, type GpuConfig } from "./gpu/gpu.ts";
import { NvdimmBus, type NvdimmBusConfig } from "./nvdimm/bus.ts";
import { type NamespaceBinder, Ndctl } from "./nvdimm/ndctl.ts";
import {
  type PciBar,
  type PciConfig,
  type PciDevice,
  type PciDeviceConfig,
  type PciLinkConfig,
  PciTopology,
} from "./pcie/topology.ts";

/** Where a GPU sits in the PCIe hierarchy. */
export interface GpuPlacement {
  /** Parent port (or host bridge). */
  parent: string;
  /** Device number. */
  slot: number;
  /** Its link. */
  link: PciLinkConfig;
  /** Max payload size supported. */
  mps: number;
}

/** Everything {@link Hardware} is built from (the machine description's hardware part). */
export interface HardwareConfig {
  /** NVDIMM buses. */
  nvdimm: NvdimmBusConfig[];
  /** PCIe hierarchy (without the GPUs' endpoints, which are added from `gpus`). */
  pci: PciConfig;
  /** GPUs with their placement. */
  gpus: Array<GpuConfig & GpuPlacement>;
  /** CPU-coherent device memory. */
  coherent: CoherentMemoryConfig[];
}

/** GPU BAR0: the register aperture. */
export const GPU_BAR0_SIZE = 16 * 2 ** 20;

/**
 * The PCIe function a GPU presents: BAR0 16 MiB of registers (32-bit,
 * non-prefetchable) and BAR1 the VRAM aperture (64-bit, prefetchable).
 */
export function gpuEndpointConfig(g: GpuConfig & GpuPlacement): PciDeviceConfig {
  return {
    name: g.name,
    type: "endpoint",
    parent: g.parent,
    slot: g.slot,
    function: 0,
    link: g.link,
    mps: g.mps,
    bars: [
      { index: 0, size: GPU_BAR0_SIZE, type: "mem32", prefetch: false, address: null },
      { index: 1, size: g.bar, type: "mem64", prefetch: true, address: null },
    ],
    acsRedirect: false,
    class: "display",
  };
}

/**
 * What the drivers layer plugs into a power-on (machine.ts passes
 * lib/drivers' hooks; the hardware layer imports nothing from above).
 */
export interface HardwareDrivers {
  /**
   * Called at power-on before libnvdimm scans the buses: sets the kernel up
   * for the NVDIMM drivers and returns the namespace binder, so namespaces
   * found at boot are bound.
   */
  nvdimm?: (k: Kernel, hw: Hardware) => NamespaceBinder;
}

/** The hardware of one machine. */
export class Hardware {
  /** The description it was built from. */
  readonly config: HardwareConfig;
  /** NVDIMM buses, in description order (ndbus0, ndbus1, ...). */
  readonly nvdimm: readonly NvdimmBus[];
  /** The PCIe hierarchy (GPUs included). */
  readonly pci: PciTopology;
  /** GPUs. */
  readonly gpus: readonly Gpu[];
  /** CPU-coherent device memory. */
  readonly coherent: readonly CoherentMemory[];
  /** The kernel's namespace view and ndctl commands (rebuilt at each power-on). */
  ndctl: Ndctl | null = null;
  /** Resources inserted at the last power-on. */
  readonly resources: Resource[] = [];
  #barMemory = new Map<PciBar, PageStore>();
  #k: Kernel | null = null;
  /** Power-ons so far. */
  boots = 0;

  /**
   * Builds the hardware (blank media). Throws a RangeError for descriptions
   * that cannot be built (the machine schema catches those first).
   * @param config buses, PCIe, GPUs, coherent memory.
   */
  constructor(config: HardwareConfig) {
    this.config = config;
    let dimmId = 0, regionId = 0;
    this.nvdimm = config.nvdimm.map((b, i) => {
      const bus = new NvdimmBus(b, i, dimmId, regionId);
      dimmId += b.dimms.length;
      regionId += b.regions.length;
      return bus;
    });
    const devices = [...config.pci.devices, ...config.gpus.map(gpuEndpointConfig)];
    this.pci = new PciTopology({ hostBridges: config.pci.hostBridges, devices });
    this.gpus = config.gpus.map((g) =>
      new Gpu(
        { name: g.name, vram: g.vram, bar: g.bar, copyRate: g.copyRate, node: g.node },
        this.pci.device(g.name)!,
      )
    );
    this.coherent = config.coherent.map((c) => new CoherentMemory(c));
  }

  /** The kernel powered on last (throws before the first power-on). */
  get kernel(): Kernel {
    if (this.#k === null) {
      throw new TypeError("Cannot use the hardware: the machine has not booted");
    }
    return this.#k;
  }

  /**
   * Power-on with kernel `k` (whose System RAM is already in iomem): resets
   * volatile state, inserts the firmware's iomem resources, and lets
   * libnvdimm scan the buses — binding drivers through `drivers.nvdimm`
   * when given.
   */
  attach(k: Kernel, drivers: HardwareDrivers = {}): void {
    this.#k = k;
    this.boots++;
    for (const b of this.nvdimm) b.attach(k);
    for (const g of this.gpus) g.attach(k);
    for (const c of this.coherent) c.attach(k);
    for (const s of this.#barMemory.values()) s.rebind(k.state(CONTENTS));
    this.resources.length = 0;
    this.#insertResources(k);
    const binder = drivers.nvdimm?.(k, this) ?? null;
    this.ndctl = new Ndctl(k, this.nvdimm, binder);
  }

  #insert(k: Kernel, parent: Resource, r: Resource): void {
    const rc = insert_resource(k, parent, r);
    if (rc !== 0) {
      throw new RangeError(
        `Cannot insert firmware resource ${r.name} ${r}: it conflicts with the iomem tree`,
      );
    }
    this.resources.push(r);
  }

  #insertResources(k: Kernel): void {
    const root = iomem_resource(k);
    for (const bus of this.nvdimm) {
      if (bus.config.nfitTest) continue;
      for (const r of bus.regions) {
        this.#insert(
          k,
          root,
          new Resource({
            name: "Persistent Memory",
            start: r.start,
            end: r.start + r.size - 1,
            flags: IORESOURCE_MEM,
            desc: IORES_DESC_PERSISTENT_MEMORY,
          }),
        );
      }
    }
    for (const c of this.coherent) {
      this.#insert(
        k,
        root,
        new Resource({
          name: c.config.name,
          start: c.config.start,
          end: c.config.start + c.config.size - 1,
          flags: IORESOURCE_MEM,
          desc: IORES_DESC_DEVICE_PUBLIC_MEMORY,
        }),
      );
    }
    // PCI: host windows at the top, then each bridge window and BAR claimed
    // inside its upstream window (pci_claim_resource), parents first
    const hostWin = new Map<object, Resource[]>();
    for (const h of this.pci.hostBridges) {
      const list: Resource[] = [];
      for (const w of h.config.windows) {
        const r = new Resource({
          name: h.busName,
          start: w.start,
          end: w.start + w.size - 1,
          flags: IORESOURCE_MEM | IORESOURCE_WINDOW | (w.prefetch ? IORESOURCE_PREFETCH : 0),
        });
        this.#insert(k, root, r);
        list.push(r);
      }
      hostWin.set(h, list);
    }
    const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");
    const bridgeWin = new Map<object, Resource[]>();
    const container = (d: PciDevice, start: number, end: number): Resource => {
      const cands = d.parent === null ? hostWin.get(d.host)! : bridgeWin.get(d.parent) ?? [];
      return cands.find((r) => r.start <= start && end <= r.end) ?? root;
    };
    for (const d of this.pci.devices) {
      const list: Resource[] = [];
      for (const w of d.windows) {
        const r = new Resource({
          name: `PCI Bus ${hex(d.host.config.domain, 4)}:${hex(d.secondary, 2)}`,
          start: w.start,
          end: w.start + w.size - 1,
          flags: IORESOURCE_MEM | (w.prefetch ? IORESOURCE_PREFETCH | IORESOURCE_MEM_64 : 0),
        });
        this.#insert(k, container(d, r.start, r.end), r);
        list.push(r);
      }
      bridgeWin.set(d, list);
      for (const b of d.bars) {
        const r = new Resource({
          name: d.bdf,
          start: b.start,
          end: b.start + b.size - 1,
          flags: IORESOURCE_MEM | (b.mem64 ? IORESOURCE_MEM_64 : 0) |
            (b.prefetch ? IORESOURCE_PREFETCH : 0),
        });
        this.#insert(k, container(d, r.start, r.end), r);
      }
    }
  }

  /** The NVDIMM bus named `name` ("ndbus0", a provider, or the description name). */
  bus(name: string): NvdimmBus | undefined {
    return this.nvdimm.find((b) =>
      b.name === name || b.provider === name || b.config.name === name
    );
  }

  /** The GPU named `name`. */
  gpu(name: string): Gpu | undefined {
    return this.gpus.find((g) => g.name === name);
  }

  /**
   * The memory behind a BAR that is plain memory (a prefetchable BAR of an
   * endpoint that is not a GPU aperture: an NVMe CMB, a p2pmem device). Its
   * bytes are volatile and created on first use.
   */
  barMemory(bar: PciBar): PageStore {
    let s = this.#barMemory.get(bar);
    if (s === undefined) {
      const pool = this.#k === null ? createChunkPool() : this.#k.state(CONTENTS);
      s = new PageStore(
        bar.size < PAGE_BYTES ? PAGE_BYTES : bar.size,
        pool,
        `${bar.dev.bdf} BAR${bar.index}`,
      );
      this.#barMemory.set(bar, s);
    }
    return s;
  }

  /**
   * What physical address `phys` is backed by: a page of a pmem DIMM, of
   * VRAM (through a GPU's BAR1), of coherent memory, or of BAR memory; null
   * for anything else (System RAM is the page-contents model's).
   */
  resolve(phys: number): { store: PageStore; page: number; offset: number } | null {
    const within = phys % PAGE_BYTES;
    for (const bus of this.nvdimm) {
      const r = bus.regionAt(phys);
      if (r !== null) {
        const { store, page } = r.pageAt(phys - r.start);
        return { store, page, offset: within };
      }
    }
    for (const c of this.coherent) {
      const o = phys - c.config.start;
      if (o >= 0 && o < c.config.size) {
        return { store: c.store, page: Math.floor(o / PAGE_BYTES), offset: within };
      }
    }
    for (const g of this.gpus) {
      const v = g.barToVram(phys);
      if (v !== null) return { store: g.vram, page: Math.floor(v / PAGE_BYTES), offset: within };
    }
    for (const d of this.pci.devices) {
      if (d.config.class === "display") continue;
      for (const b of d.bars) {
        if (!b.prefetch || phys < b.start || phys >= b.start + b.size) continue;
        return {
          store: this.barMemory(b),
          page: Math.floor((phys - b.start) / PAGE_BYTES),
          offset: within,
        };
      }
    }
    return null;
  }
}
