/**
 * What a PCIe transfer costs, from the cost model (perf-anchors.md §3, §8a):
 *
 *   ns = pcie.dmaLatency + bytes / (rawBW(gen) × width / 16 × efficiency(MPS) × factor)
 *
 * - rawBW: `pcie.rawBW.genN`, per direction at x16; the slowest link on the
 *   path sets the rate (lowest generation and width of any hop).
 * - efficiency: `pcie.efficiency.mpsN`, TLP payload efficiency at the path's
 *   smallest max payload size.
 * - factor: 1 for device ↔ host memory; for peer-to-peer,
 *   `p2p.switchFactor` when the path turns around in a switch and
 *   `p2p.rootComplexFactor` when it goes up through the root complex (no
 *   common switch, or a common root port).
 *
 * These are hardware costs: they hold whether or not the kernel would allow
 * the transfer (4.20 p2pdma refuses paths without a common upstream bridge;
 * see {@link upstream_bridge_distance}).
 *
 * @module
 */
import type { CostModel } from "../../sim/cost-model.ts";
import type { Kernel } from "../../kernel/kernel.ts";
import { type PciDevice, upstream_bridge_distance } from "./topology.ts";

/** The rate-limiting parameters of a path. */
export interface PciPath {
  /** Lowest generation on the path. */
  gen: number;
  /** Narrowest width on the path. */
  width: number;
  /** Smallest max payload size on the path. */
  mps: number;
  /** "host" (to system memory), "switch" or "root-complex" (peer-to-peer). */
  via: "host" | "switch" | "root-complex";
  /** Links crossed. */
  hops: number;
}

function linksUp(dev: PciDevice, stop: PciDevice | null): Array<{ gen: number; width: number }> {
  const out: Array<{ gen: number; width: number }> = [];
  for (let d: PciDevice | null = dev; d !== null && d !== stop; d = d.parent) {
    const l = d.link;
    if (l !== null) out.push(l);
  }
  return out;
}

/** The path from `dev` to system memory (up to its root port). */
export function hostPath(dev: PciDevice): PciPath {
  const links = linksUp(dev, null);
  return {
    gen: Math.min(6, ...links.map((l) => l.gen)),
    width: Math.min(32, ...links.map((l) => l.width)),
    mps: dev.mps,
    via: "host",
    hops: links.length,
  };
}

/** The path between two functions: through their common switch, or up through the root complex. */
export function peerPath(a: PciDevice, b: PciDevice): PciPath {
  const { common } = upstream_bridge_distance(a, b);
  const viaSwitch = common !== null &&
    (common.config.type === "switch-upstream" || common.config.type === "switch-downstream");
  const stop = viaSwitch ? common : null;
  const links = [...linksUp(a, stop), ...linksUp(b, stop)];
  return {
    gen: Math.min(6, ...links.map((l) => l.gen)),
    width: Math.min(32, ...links.map((l) => l.width)),
    mps: Math.min(a.mps, b.mps),
    via: viaSwitch ? "switch" : "root-complex",
    hops: links.length,
  };
}

/** Bytes per simulated ns (= GB/s) a path sustains. */
export function pathBandwidth(cost: CostModel, p: PciPath): number {
  const raw = cost.get(`pcie.rawBW.gen${p.gen}`) * p.width / 16;
  const eff = cost.get(`pcie.efficiency.mps${Math.min(512, Math.max(128, p.mps))}`);
  const factor = p.via === "switch"
    ? cost.get("p2p.switchFactor")
    : p.via === "root-complex"
    ? cost.get("p2p.rootComplexFactor")
    : 1;
  return raw * eff * factor;
}

/** Simulated ns to move `bytes` over path `p` (latency + wire time), rounded. */
export function transferNs(cost: CostModel, p: PciPath, bytes: number): number {
  return Math.round(cost.get("pcie.dmaLatency") + bytes / pathBandwidth(cost, p));
}

/**
 * A DMA by `dev` of `bytes` to or from system memory, or to or from `peer`:
 * returns its simulated duration and records a "dma" trace event. The clock
 * is not advanced: the caller decides whether it waits (a fence) or overlaps.
 */
export function dmaTransfer(
  k: Kernel,
  dev: PciDevice,
  bytes: number,
  peer: PciDevice | null = null,
): number {
  const p = peer === null ? hostPath(dev) : peerPath(dev, peer);
  const ns = transferNs(k.cost, p, bytes);
  if (k.trace.on) {
    k.trace.emit({
      kind: "dma",
      op: peer === null ? "host" : "p2p",
      dev: dev.bdf,
      peer: peer?.bdf ?? "",
      bytes,
      ns,
      via: peer === null ? "" : p.via,
    });
  }
  return ns;
}
