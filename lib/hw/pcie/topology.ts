/**
 * The PCIe hierarchy of a machine: host bridges with their MMIO windows,
 * root ports, switches (an upstream port and its downstream ports) and
 * endpoints with memory BARs, each link with its generation, width and max
 * payload size.
 *
 * Bus numbers are given depth-first as the kernel's scan does
 * (pci_scan_child_bus): each bridge takes the next free bus number as its
 * secondary bus. Devices are named "dddd:bb:dd.f".
 *
 * BARs are placed as firmware would, inside the host bridge's windows:
 * either every BAR under a host bridge carries an address from the
 * description, or none does and they are assigned here the way
 * drivers/pci/setup-bus.c sizes and assigns: bottom-up, each bridge window
 * sized to hold its children (largest alignment first, rounded to 1 MiB,
 * aligned to its largest child), then top-down in that order; prefetchable
 * 64-bit BARs go to the prefetchable window above 4 GiB, the rest below
 * 4 GiB. Bridge windows are the span of what they forward.
 *
 * @module
 */

/** 4 GiB: the top of 32-bit address space. */
const FOUR_G = 2 ** 32;
/** Bridge memory windows have 1 MiB granularity. */
const BRIDGE_GRANULE = 2 ** 20;

/** An MMIO window a host bridge forwards. */
export interface PciWindowConfig {
  /** First byte. */
  start: number;
  /** Bytes. */
  size: number;
  /** Prefetchable (where 64-bit prefetchable BARs go). */
  prefetch: boolean;
}

/** A host bridge (PCI root bus). */
export interface PciHostBridgeConfig {
  /** Description name. */
  name: string;
  /** PCI domain (segment). */
  domain: number;
  /** Root bus number. */
  bus: number;
  /** NUMA node. */
  node: number;
  /** MMIO windows. */
  windows: PciWindowConfig[];
}

/** A PCIe link's trained parameters. */
export interface PciLinkConfig {
  /** Generation 3..6 (the rates the cost model has). */
  gen: number;
  /** Lanes. */
  width: number;
}

/** A memory BAR. */
export interface PciBarConfig {
  /** BAR index 0..5 (a 64-bit BAR also uses index + 1). */
  index: number;
  /** Bytes: a power of two. */
  size: number;
  /** 32- or 64-bit. */
  type: "mem32" | "mem64";
  /** Prefetchable. */
  prefetch: boolean;
  /** Address given by the description, or null to assign. */
  address: number | null;
}

/** Kinds of PCIe function the model knows. */
export type PciDeviceType = "root-port" | "switch-upstream" | "switch-downstream" | "endpoint";

/** One PCIe function. */
export interface PciDeviceConfig {
  /** Description name. */
  name: string;
  /** What it is. */
  type: PciDeviceType;
  /** Parent: a host bridge (root ports, integrated endpoints) or a port. */
  parent: string;
  /** Device number on its bus. */
  slot: number;
  /** Function number. */
  function: number;
  /** The link to its parent port (endpoints, switch upstream ports); for ports, the port's capability. */
  link: PciLinkConfig | null;
  /** Max payload size supported (128, 256, 512). */
  mps: number;
  /** Memory BARs. */
  bars: PciBarConfig[];
  /** ACS redirect bits (RR, CR or EC) set in the ACS control register. */
  acsRedirect: boolean;
  /** Class label ("nvme", "display", "nic", "bridge", ...). */
  class: string;
}

/** The whole hierarchy. */
export interface PciConfig {
  /** Host bridges. */
  hostBridges: PciHostBridgeConfig[];
  /** Functions. */
  devices: PciDeviceConfig[];
}

/** An assigned memory BAR (a struct resource in the device's pci_dev). */
export interface PciBar {
  /** The device. */
  dev: PciDevice;
  /** BAR index. */
  index: number;
  /** First byte. */
  start: number;
  /** Bytes. */
  size: number;
  /** 64-bit. */
  mem64: boolean;
  /** Prefetchable. */
  prefetch: boolean;
}

/** A bridge window (what a port forwards downstream), end exclusive. */
export interface PciBridgeWindow {
  /** First byte. */
  start: number;
  /** Bytes. */
  size: number;
  /** The prefetchable window (else the non-prefetchable one). */
  prefetch: boolean;
}

/** A host bridge. */
export class PciHostBridge {
  /** The description. */
  readonly config: PciHostBridgeConfig;
  /** Root ports and integrated endpoints, by slot. */
  readonly children: PciDevice[] = [];

  /**
   * Creates a host bridge.
   * @param config its description.
   */
  constructor(config: PciHostBridgeConfig) {
    this.config = config;
  }

  /** "pci0000:00". */
  get name(): string {
    return `pci${hex(this.config.domain, 4)}:${hex(this.config.bus, 2)}`;
  }

  /** "PCI Bus 0000:00" (the iomem name of its windows). */
  get busName(): string {
    return `PCI Bus ${hex(this.config.domain, 4)}:${hex(this.config.bus, 2)}`;
  }
}

/** One PCIe function (struct pci_dev, as far as the hardware goes). */
export class PciDevice {
  /** The description. */
  readonly config: PciDeviceConfig;
  /** The host bridge it is under. */
  readonly host: PciHostBridge;
  /** Parent port (null for root ports and integrated endpoints). */
  readonly parent: PciDevice | null;
  /** Children, by slot. */
  readonly children: PciDevice[] = [];
  /** Bus it sits on. */
  bus = 0;
  /** Secondary bus (bridges). */
  secondary: number = -1;
  /** Highest bus number below (bridges). */
  subordinate: number = -1;
  /** Assigned memory BARs. */
  readonly bars: PciBar[] = [];
  /** Bridge windows (ports). */
  readonly windows: PciBridgeWindow[] = [];

  /**
   * Creates a function.
   * @param config its description.
   * @param host its host bridge.
   * @param parent its parent port, or null.
   */
  constructor(config: PciDeviceConfig, host: PciHostBridge, parent: PciDevice | null) {
    this.config = config;
    this.host = host;
    this.parent = parent;
  }

  /** Description name. */
  get name(): string {
    return this.config.name;
  }

  /** "dddd:bb:dd.f" (pci_name). */
  get bdf(): string {
    return `${hex(this.host.config.domain, 4)}:${hex(this.bus, 2)}:${
      hex(this.config.slot, 2)
    }.${this.config.function}`;
  }

  /** Whether this is a bridge (a port). */
  get isBridge(): boolean {
    return this.config.type !== "endpoint";
  }

  /** pci_upstream_bridge: the parent port, or null on a root bus. */
  get upstreamBridge(): PciDevice | null {
    return this.parent;
  }

  /** Whether ACS redirection is enabled on this function. */
  get acsRedirect(): boolean {
    return this.config.acsRedirect;
  }

  /** The BAR with `index`, or undefined. */
  bar(index: number): PciBar | undefined {
    return this.bars.find((b) => b.index === index);
  }

  /**
   * The link above this function (to its parent port): negotiated as the
   * lower generation and width of both ends. Null for a root port or an
   * integrated endpoint (no link above), or a switch downstream port (on the
   * switch's internal bus).
   */
  get link(): PciLinkConfig | null {
    if (this.config.type === "root-port" || this.config.type === "switch-downstream") return null;
    const mine = this.config.link;
    if (mine === null || this.parent === null) return mine;
    const cap = this.parent.config.link;
    if (cap === null) return mine;
    return { gen: Math.min(mine.gen, cap.gen), width: Math.min(mine.width, cap.width) };
  }

  /** Effective max payload size: the smallest supported on the way to the root port. */
  get mps(): number {
    let m = this.config.mps;
    for (let p = this.parent; p !== null; p = p.parent) m = Math.min(m, p.config.mps);
    return m;
  }
}

/** Bytes as "N MiB" / "N GiB" for messages. */
function mib(n: number): string {
  return n >= 2 ** 30 && n % 2 ** 30 === 0
    ? `${n / 2 ** 30} GiB`
    : n >= 2 ** 20
    ? `${n / 2 ** 20} MiB`
    : `${n} bytes`;
}

/** "%0Nx". */
function hex(n: number, w: number): string {
  return n.toString(16).padStart(w, "0");
}

type Kind = "mem" | "pref";
interface Item {
  size: number;
  align: number;
  place: (base: number) => void;
}

function barKind(b: PciBarConfig): Kind {
  return b.type === "mem64" && b.prefetch ? "pref" : "mem";
}

function layout(items: Item[]): { size: number; align: number; order: Array<[Item, number]> } {
  const sorted = [...items].sort((a, b) => b.align - a.align || b.size - a.size);
  let at = 0;
  const order: Array<[Item, number]> = [];
  let align = 1;
  for (const it of sorted) {
    at = Math.ceil(at / it.align) * it.align;
    order.push([it, at]);
    at += it.size;
    align = Math.max(align, it.align);
  }
  return { size: at, align, order };
}

/** The machine's PCIe hierarchy, with BARs assigned. */
export class PciTopology {
  /** Host bridges. */
  readonly hostBridges: readonly PciHostBridge[];
  /** Every function, in enumeration order (depth first). */
  readonly devices: readonly PciDevice[];

  /**
   * Builds the hierarchy, numbers buses, assigns BARs. Throws a RangeError
   * when BARs do not fit the host bridge's windows (the machine schema
   * reports the same with the JSON path first).
   * @param config host bridges and functions.
   */
  constructor(config: PciConfig) {
    const hosts = config.hostBridges.map((h) => new PciHostBridge(h));
    const byName = new Map<string, PciDevice>();
    const hostByName = new Map(hosts.map((h) => [h.config.name, h]));
    const pending = [...config.devices];
    // create parents before children
    for (let guard = 0; pending.length > 0 && guard < 10000; guard++) {
      const d = pending.shift()!;
      const host = hostByName.get(d.parent);
      if (host !== undefined) {
        const dev = new PciDevice(d, host, null);
        host.children.push(dev);
        byName.set(d.name, dev);
        continue;
      }
      const parent = byName.get(d.parent);
      if (parent === undefined) {
        if (!config.devices.some((x) => x.name === d.parent)) {
          throw new RangeError(
            `Cannot build the PCI hierarchy: "${d.name}" has no parent "${d.parent}"`,
          );
        }
        pending.push(d);
        continue;
      }
      const dev = new PciDevice(d, parent.host, parent);
      parent.children.push(dev);
      byName.set(d.name, dev);
    }
    const order: PciDevice[] = [];
    for (const h of hosts) {
      h.children.sort((a, b) =>
        a.config.slot - b.config.slot || a.config.function - b.config.function
      );
      let maxBus = h.config.bus;
      const visit = (dev: PciDevice, bus: number) => {
        dev.bus = bus;
        order.push(dev);
        if (!dev.isBridge) return;
        dev.secondary = ++maxBus;
        dev.children.sort((a, b) =>
          a.config.slot - b.config.slot || a.config.function - b.config.function
        );
        for (const c of dev.children) visit(c, dev.secondary);
        dev.subordinate = maxBus;
      };
      for (const c of h.children) visit(c, h.config.bus);
      this.#assign(h);
    }
    this.hostBridges = hosts;
    this.devices = order;
  }

  #assign(h: PciHostBridge): void {
    const all: PciDevice[] = [];
    const collect = (d: PciDevice) => {
      all.push(d);
      d.children.forEach(collect);
    };
    h.children.forEach(collect);
    const explicit = all.some((d) => d.config.bars.some((b) => b.address !== null));
    if (explicit) {
      for (const d of all) {
        for (const b of d.config.bars) {
          d.bars.push({
            dev: d,
            index: b.index,
            start: b.address ?? 0,
            size: b.size,
            mem64: b.type === "mem64",
            prefetch: b.prefetch,
          });
        }
      }
      const span = (d: PciDevice, kind: Kind): PciBridgeWindow | null => {
        let lo = Infinity, hi = -Infinity;
        const walk = (x: PciDevice) => {
          for (const b of x.bars) {
            if ((b.mem64 && b.prefetch ? "pref" : "mem") !== kind) continue;
            lo = Math.min(lo, b.start);
            hi = Math.max(hi, b.start + b.size);
          }
          x.children.forEach(walk);
        };
        d.children.forEach(walk);
        if (lo === Infinity) return null;
        lo = Math.floor(lo / BRIDGE_GRANULE) * BRIDGE_GRANULE;
        hi = Math.ceil(hi / BRIDGE_GRANULE) * BRIDGE_GRANULE;
        return { start: lo, size: hi - lo, prefetch: kind === "pref" };
      };
      for (const d of all) {
        if (!d.isBridge) continue;
        for (const kind of ["mem", "pref"] as const) {
          const w = span(d, kind);
          if (w !== null) d.windows.push(w);
        }
      }
      return;
    }
    for (const kind of ["mem", "pref"] as const) {
      const sizeOf = (d: PciDevice): Item | null => {
        const items: Item[] = [];
        for (const b of d.config.bars) {
          if (barKind(b) !== kind) continue;
          items.push({
            size: b.size,
            align: b.size,
            place: (base) =>
              d.bars.push({
                dev: d,
                index: b.index,
                start: base,
                size: b.size,
                mem64: b.type === "mem64",
                prefetch: b.prefetch,
              }),
          });
        }
        if (!d.isBridge) {
          if (items.length === 0) return null;
          // an endpoint's BARs are laid out together under its port
          const l = layout(items);
          return {
            size: l.size,
            align: l.align,
            place: (base) => l.order.forEach(([it, off]) => it.place(base + off)),
          };
        }
        for (const c of d.children) {
          const it = sizeOf(c);
          if (it !== null) items.push(it);
        }
        if (items.length === 0) return null;
        const l = layout(items);
        const size = Math.ceil(l.size / BRIDGE_GRANULE) * BRIDGE_GRANULE;
        const align = Math.max(BRIDGE_GRANULE, l.align);
        return {
          size,
          align,
          place: (base) => {
            d.windows.push({ start: base, size, prefetch: kind === "pref" });
            l.order.forEach(([it, off]) => it.place(base + off));
          },
        };
      };
      const top: Item[] = [];
      for (const c of h.children) {
        const it = sizeOf(c);
        if (it !== null) top.push(it);
      }
      if (top.length === 0) continue;
      const l = layout(top);
      const win = pickWindow(h.config.windows, kind, l.size, l.align);
      if (win === null) {
        throw new RangeError(
          `Cannot assign BARs under host bridge "${h.config.name}": its ${
            kind === "pref" ? "prefetchable 64-bit" : "non-prefetchable"
          } BARs need ${mib(l.size)} aligned to ${mib(l.align)}, and ${
            kind === "pref"
              ? "no window holds that much"
              : "no non-prefetchable window below 4 GiB holds that much (non-prefetchable BARs must sit below 4 GiB)"
          }`,
        );
      }
      const base = Math.ceil(win.start / l.align) * l.align;
      l.order.forEach(([it, off]) => it.place(base + off));
    }
    for (const d of all) d.bars.sort((a, b) => a.index - b.index);
  }

  /** The function named `name` (description name or BDF), or undefined. */
  device(name: string): PciDevice | undefined {
    return this.devices.find((d) => d.name === name || d.bdf === name);
  }

  /** Every assigned BAR, lowest address first. */
  allBars(): PciBar[] {
    return this.devices.flatMap((d) => d.bars).sort((a, b) => a.start - b.start);
  }
}

/** The window a kind of BAR goes in: prefetchable 64-bit BARs prefer a prefetchable window above 4 GiB. */
function pickWindow(
  windows: PciWindowConfig[],
  kind: Kind,
  size: number,
  align: number,
): PciWindowConfig | null {
  const fits = (w: PciWindowConfig) => {
    const base = Math.ceil(w.start / align) * align;
    return base + size <= w.start + w.size;
  };
  const below4g = (w: PciWindowConfig) => w.start + w.size <= FOUR_G;
  const candidates = kind === "mem" ? windows.filter((w) => below4g(w) && !w.prefetch) : [
    ...windows.filter((w) => w.prefetch && !below4g(w)),
    ...windows.filter((w) => w.prefetch && below4g(w)),
    ...windows.filter((w) => !w.prefetch && !below4g(w)),
    ...windows.filter((w) => !w.prefetch && below4g(w)),
  ];
  for (const w of candidates) if (fits(w)) return w;
  return null;
}

/** What {@link upstream_bridge_distance} found. */
export interface BridgeDistance {
  /** Hops through the nearest common upstream bridge; -1 none; -2 ACS redirect on the path. */
  distance: number;
  /** The common upstream bridge (null when none). */
  common: PciDevice | null;
  /** Functions on the path with ACS redirect set (the acs_list). */
  acs: PciDevice[];
}

/**
 * upstream_bridge_distance(a, b, acs_list) (drivers/pci/p2pdma.c, v4.20):
 * walks `a`'s upstream bridges (starting with `a`), and for each walks `b`'s
 * until they meet. The distance is the sum of both walks: 0 for the same
 * function, 2 for two functions under one port, 4 for two devices on one
 * switch. No common upstream bridge (different root ports: 4.20 has no
 * host-bridge whitelist) gives -1. A function with ACS redirect on `a`'s
 * path up to and including the common bridge, or on `b`'s path below it,
 * gives -2.
 *
 * @example Two endpoints on one switch
 * ```ts
 * import { PciTopology, upstream_bridge_distance } from "./topology.ts";
 * import { assertEquals } from "@std/assert";
 * const link = { gen: 3, width: 16 };
 * const dev = (name: string, type: "root-port" | "switch-upstream" | "switch-downstream" | "endpoint", parent: string, slot = 0) =>
 *   ({ name, type, parent, slot, function: 0, link, mps: 256, bars: [], acsRedirect: false, class: "" });
 * const t = new PciTopology({
 *   hostBridges: [{ name: "hb0", domain: 0, bus: 0, node: 0, windows: [] }],
 *   devices: [dev("rp0", "root-port", "hb0", 1), dev("sw", "switch-upstream", "rp0"),
 *     dev("dp0", "switch-downstream", "sw", 0), dev("dp1", "switch-downstream", "sw", 1),
 *     dev("a", "endpoint", "dp0"), dev("b", "endpoint", "dp1"), dev("rp1", "root-port", "hb0", 2),
 *     dev("c", "endpoint", "rp1")],
 * });
 * const d = (x: string, y: string) => upstream_bridge_distance(t.device(x)!, t.device(y)!).distance;
 * assertEquals([d("a", "b"), d("a", "a"), d("a", "c")], [4, 0, -1]);
 * ```
 */
export function upstream_bridge_distance(a: PciDevice, b: PciDevice): BridgeDistance {
  let distA = 0;
  const acs: PciDevice[] = [];
  let common: PciDevice | null = null;
  let distB = 0;
  for (let x: PciDevice | null = a; x !== null; x = x.upstreamBridge, distA++) {
    distB = 0;
    if (x.acsRedirect) acs.push(x);
    let found = false;
    for (let y: PciDevice | null = b; y !== null; y = y.upstreamBridge, distB++) {
      if (x === y) {
        found = true;
        break;
      }
    }
    if (found) {
      common = x;
      break;
    }
  }
  if (common === null) return { distance: -1, common: null, acs };
  for (let y: PciDevice | null = b; y !== null && y !== common; y = y.upstreamBridge) {
    if (y.acsRedirect) acs.push(y);
  }
  if (acs.length > 0) return { distance: -2, common, acs };
  return { distance: distA + distB, common, acs };
}
