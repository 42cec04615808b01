/**
 * The hardware part of a machine description: NVDIMM buses, the PCIe
 * hierarchy, GPUs and CPU-coherent device memory — their zod fields, the
 * cross-checks (references, alignment, the physical address map), and the
 * conversion to lib/hw's {@link HardwareConfig}.
 *
 * ```json
 * "nvdimm": { "buses": [{ "name": "nfit", "dimms": [{ "name": "dimm0", "handle": "0x1", "size": "16GiB", "labelSize": "128KiB" }],
 *             "regions": [{ "name": "pm0", "start": "24GiB", "size": "16GiB", "dimms": ["dimm0"] }] }] },
 * "pci": { "hostBridges": [{ "name": "pci0", "windows": [{ "start": "0xc0000000", "size": "1GiB" }] }],
 *          "devices": [{ "name": "rp1", "type": "root-port", "parent": "pci0", "slot": 1, "link": { "gen": 3, "width": 16 } }] },
 * "gpus": [{ "name": "gpu0", "parent": "rp1", "vram": "16GiB", "bar": "256MiB", "link": { "gen": 3, "width": 16 } }],
 * "coherentMemory": [{ "name": "gpu0 coherent memory", "start": "64GiB", "size": "16GiB", "owner": "gpu0" }]
 * ```
 *
 * A device is unbound unless it names the driver to bind at boot:
 * `"driver": "nouveau"` on a GPU, `"driver": "p2pmem"` on a PCI endpoint
 * that is a p2pdma provider, with `"p2pmem": { "bars": [2, 4], "publish":
 * true, "fatal": false }` as the provider driver takes them (default: BAR 2,
 * published, a failed BAR only warned about). See {@link toBootDrivers}.
 *
 * @module
 */
import { z } from "zod";
import { gpuEndpointConfig, type HardwareConfig } from "../hw/hardware.ts";
import { PciTopology } from "../hw/pcie/topology.ts";
import { notASize, size } from "./fields.ts";
import { formatSize, hex, parseSize } from "./sizes.ts";

const PAGE = 4096;
const FOUR_G = 2 ** 32;
const isPow2 = (n: number) => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/** A whole number, or a hex string like "0x10" (handles). */
const integer = z.unknown().transform((v, ctx) => {
  const n = typeof v === "string" && /^0x[0-9a-f_]+$/i.test(v.trim()) ? parseSize(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    ctx.addIssue({
      code: "custom",
      message: `${JSON.stringify(v)} is not a whole number (decimal, or hex like "0x11")`,
    });
    return z.NEVER;
  }
  return n;
});

/** One size, or one size per DIMM. */
const sizeOrSizes = z.unknown().transform((v, ctx) => {
  const one = (x: unknown) => {
    const n = parseSize(x);
    if (n === null) ctx.addIssue({ code: "custom", message: notASize(x) });
    return n ?? 0;
  };
  return Array.isArray(v) ? v.map(one) : one(v);
});

const name = z.string().min(1, "needs a name");
const node = z.number().int("must be a whole number").nonnegative("a NUMA node number is 0 or more")
  .default(0);

const link = z.strictObject({
  gen: z.number().refine((g) => Number.isInteger(g) && g >= 3 && g <= 6, {
    message:
      "PCIe generation must be 3, 4, 5 or 6 (the cost model has link rates for Gen3 to Gen6)",
  }),
  width: z.number().refine((w) => [1, 2, 4, 8, 16, 32].includes(w), {
    message: "link width must be 1, 2, 4, 8, 16 or 32 lanes",
  }),
});

const mps = z.number().refine((m) => m === 128 || m === 256 || m === 512, {
  message:
    "max payload size must be 128, 256 or 512 bytes (the TLP efficiencies the cost model has)",
}).default(256);

const dimm = z.strictObject({
  name,
  handle: integer.optional(),
  size,
  labelSize: size.optional(),
  node,
});

const region = z.strictObject({
  name,
  start: size,
  size,
  dimms: z.array(z.string()).min(1, "a region interleaves at least one DIMM"),
  dpa: sizeOrSizes.optional(),
  granularity: size.optional(),
  labels: z.boolean().default(true),
  readOnly: z.boolean().default(false),
  node,
});

const bus = z.strictObject({
  name,
  provider: z.string().min(1, 'needs a provider name (the default is "ACPI.NFIT")').default(
    "ACPI.NFIT",
  ),
  nfitTest: z.boolean().default(false),
  dimms: z.array(dimm).min(1, "a bus needs at least one DIMM"),
  regions: z.array(region).default([]),
});

const window = z.strictObject({ start: size, size, prefetch: z.boolean().default(false) });

const hostBridge = z.strictObject({
  name,
  domain: z.number().int("must be a whole number").nonnegative("a PCI domain number is 0 or more")
    .default(0),
  bus: z.number().int("must be a whole number").min(0, "a bus number is 0..255").max(
    255,
    "a bus number is 0..255",
  ).default(0),
  node,
  windows: z.array(window).min(1, "a host bridge forwards at least one MMIO window"),
});

const bar = z.strictObject({
  index: z.number().int("must be a whole number").min(0, "a BAR index is 0..5").max(
    5,
    "a BAR index is 0..5",
  ),
  size,
  type: z.enum(["mem32", "mem64"], 'must be "mem32" or "mem64"').default("mem64"),
  prefetch: z.boolean().default(false),
  address: size.optional(),
});

const device = z.strictObject({
  name,
  type: z.enum(
    ["root-port", "switch-upstream", "switch-downstream", "endpoint"],
    'must be "root-port", "switch-upstream", "switch-downstream" or "endpoint"',
  ),
  parent: z.string().min(1, "needs the name of its parent (a host bridge or a port)"),
  slot: z.number().int("must be a whole number").min(0, "a device number is 0..31").max(
    31,
    "a device number is 0..31",
  ).default(0),
  function: z.number().int("must be a whole number").min(0, "a function number is 0..7").max(
    7,
    "a function number is 0..7",
  ).default(0),
  link: link.optional(),
  mps,
  bars: z.array(bar).default([]),
  acsRedirect: z.boolean().default(false),
  class: z.string().default(""),
  driver: z.enum(
    ["p2pmem"],
    'the only driver a PCI device can have bound at boot is "p2pmem" (a p2pdma provider); a GPU is listed in "gpus", with "driver": "nouveau"',
  ).optional(),
  p2pmem: z.strictObject({
    bars: z.array(
      z.number().int("must be a whole number").min(0, "a BAR index is 0..5").max(
        5,
        "a BAR index is 0..5",
      ),
    ).min(1, "a p2pmem provider registers at least one BAR").optional(),
    publish: z.boolean().default(true),
    fatal: z.boolean().default(false),
  }).optional(),
});

const gpu = z.strictObject({
  name,
  parent: z.string().min(1, "needs the name of the port it is plugged into"),
  slot: z.number().int("must be a whole number").min(0, "a device number is 0..31").max(
    31,
    "a device number is 0..31",
  ).default(0),
  vram: size,
  bar: z.unknown().transform((v, ctx) => {
    if (v === "resizable") return "resizable" as const;
    const n = parseSize(v);
    if (n === null) {
      ctx.addIssue({
        code: "custom",
        message: `${notASize(v)}, or "resizable" for a BAR covering all of VRAM`,
      });
      return z.NEVER;
    }
    return n;
  }).optional(),
  link,
  mps,
  copyRate: z.number().positive("a copy-engine rate is a positive number of GB/s").optional(),
  node,
  driver: z.enum(
    ["nouveau"],
    'the driver of a GPU must be "nouveau" (the GPU driver the model has), or absent for an unbound GPU',
  ).optional(),
});

const coherent = z.strictObject({
  name,
  start: size,
  size,
  node,
  owner: z.string().optional(),
});

/** The hardware fields of the machine schema (spread into its top-level object). */
export const hardwareSchema = {
  nvdimm: z.strictObject({ buses: z.array(bus).default([]) }).optional(),
  pci: z.strictObject({
    hostBridges: z.array(hostBridge).default([]),
    devices: z.array(device).default([]),
  }).optional(),
  gpus: z.array(gpu).default([]),
  coherentMemory: z.array(coherent).default([]),
};

/** The parsed shape {@link checkHardware} and {@link toHardwareConfig} read. */
export interface ParsedHardware {
  /** System RAM, already checked. */
  ram: Array<{ start: number; size: number; node: number }>;
  /** NVDIMM buses. */
  nvdimm?: z.output<(typeof hardwareSchema)["nvdimm"]>;
  /** PCIe. */
  pci?: z.output<(typeof hardwareSchema)["pci"]>;
  /** GPUs. */
  gpus: z.output<(typeof hardwareSchema)["gpus"]>;
  /** Coherent memory. */
  coherentMemory: z.output<(typeof hardwareSchema)["coherentMemory"]>;
}

type Ctx = z.RefinementCtx;
type Path = Array<string | number>;

function issue(ctx: Ctx, path: Path, message: string): void {
  ctx.addIssue({ code: "custom", path, message });
}

/** The BAR the p2pmem provider registers when the description names none (its driver's default). */
const P2PMEM_DEFAULT_BAR = 2;

/** The default GPU BAR1: the legacy 256 MiB aperture. */
const DEFAULT_GPU_BAR = 256 * 2 ** 20;

function gpuBar(vram: number, bar: number | "resizable" | undefined): number {
  if (bar === undefined) return DEFAULT_GPU_BAR;
  if (bar !== "resizable") return bar;
  let b = 2 ** 20;
  while (b < vram) b *= 2;
  return b;
}

const describeRange = (s: number, n: number) => `[${hex(s)}, ${hex(s + n)})`;

/**
 * Cross-checks the hardware: names and references, sizes and alignment,
 * DIMM capacity, BAR placement, and that no two physical ranges (RAM,
 * persistent memory, coherent memory, PCI windows) overlap.
 */
export function checkHardware(d: ParsedHardware, ctx: Ctx, limit: number, maxBits: number): void {
  // ---- the physical address map ----
  const ranges: Array<{ start: number; size: number; what: string; kind: string }> = d.ram.map((
    r,
    i,
  ) => ({
    start: r.start,
    size: r.size,
    what: `ram[${i}]`,
    kind: "System RAM",
  }));
  const place = (
    path: Path,
    start: number,
    n: number,
    label: string,
    what: string,
    kind: string,
  ) => {
    if (start + n > limit) {
      issue(
        ctx,
        path,
        `the range ends at ${hex(start + n)}, beyond what the machine's paging can address (${
          formatSize(limit)
        }; MAX_PHYSMEM_BITS ${maxBits})`,
      );
      return;
    }
    for (const r of ranges) {
      if (start < r.start + r.size && r.start < start + n) {
        issue(
          ctx,
          path,
          `overlaps ${r.what} (${describeRange(r.start, r.size)}): ${label} must not overlap ${
            r.kind === kind ? "another one" : r.kind
          }`,
        );
        return;
      }
    }
    ranges.push({ start, size: n, what, kind });
  };

  // ---- NVDIMM ----
  const dimmNames = new Map<string, Path>();
  (d.nvdimm?.buses ?? []).forEach((b, bi) => {
    const bp: Path = ["nvdimm", "buses", bi];
    const used = new Map<string, Array<{ start: number; end: number; region: string }>>();
    const dimms = new Map(b.dimms.map((x) => [x.name, x]));
    b.dimms.forEach((x, di) => {
      const p: Path = [...bp, "dimms", di];
      if (dimmNames.has(x.name)) {
        issue(ctx, [...p, "name"], `the name "${x.name}" is already used by another DIMM`);
      }
      dimmNames.set(x.name, p);
      if (x.size === 0 || x.size % PAGE !== 0) {
        issue(
          ctx,
          [...p, "size"],
          `a DIMM's capacity must be a positive multiple of 4 KiB (got ${x.size})`,
        );
      }
      const ls = x.labelSize ?? 0;
      if (ls !== 0 && (ls % PAGE !== 0 || ls < PAGE)) {
        issue(
          ctx,
          [...p, "labelSize"],
          `a label area is 0 (none) or a multiple of 4 KiB (got ${ls})`,
        );
      }
    });
    b.regions.forEach((r, ri) => {
      const p: Path = [...bp, "regions", ri];
      const ways = r.dimms.length;
      const gran = r.granularity ?? PAGE;
      let ok = true;
      if (r.start % PAGE !== 0 || r.size % PAGE !== 0 || r.size === 0) {
        issue(
          ctx,
          p,
          `a persistent-memory region must start and end on a 4 KiB page boundary and not be empty (start ${
            hex(r.start)
          }, size ${hex(r.size)})`,
        );
        ok = false;
      }
      if (gran % PAGE !== 0 || !isPow2(gran)) {
        issue(
          ctx,
          [...p, "granularity"],
          `the interleave granularity must be a power of two multiple of 4 KiB (got ${gran})`,
        );
        ok = false;
      }
      if (ok && ways > 0 && r.size % (ways * gran) !== 0) {
        issue(
          ctx,
          [...p, "size"],
          `a region interleaved ${ways} ways with ${
            formatSize(gran)
          } granularity must be a multiple of ${formatSize(ways * gran)} (got ${
            hex(r.size)
          } bytes)`,
        );
        ok = false;
      }
      const seen = new Set<string>();
      const dpas = Array.isArray(r.dpa)
        ? r.dpa
        : r.dimms.map(() => (r.dpa as number | undefined) ?? 0);
      if (Array.isArray(r.dpa) && r.dpa.length !== ways) {
        issue(ctx, [...p, "dpa"], `give one DPA per DIMM (${ways}), or a single DPA for all`);
        ok = false;
      }
      r.dimms.forEach((n, mi) => {
        const x = dimms.get(n);
        if (x === undefined) {
          const other = dimmNames.has(n) ? ` ("${n}" is on another bus)` : "";
          issue(ctx, [...p, "dimms", mi], `no DIMM named "${n}" on this bus${other}`);
          ok = false;
          return;
        }
        if (seen.has(n)) {
          issue(
            ctx,
            [...p, "dimms", mi],
            `DIMM "${n}" appears twice: each DIMM holds one share of an interleave set`,
          );
          ok = false;
        }
        seen.add(n);
        if (r.labels && (x.labelSize ?? 0) === 0) {
          issue(
            ctx,
            [...p, "labels"],
            `a labelled region needs a label area on every DIMM, and "${n}" has none (set "labels": false for a label-less region)`,
          );
          ok = false;
        }
        if (!ok) return;
        const share = r.size / ways, dpa = dpas[mi] ?? 0;
        if (dpa % PAGE !== 0) {
          issue(ctx, [...p, "dpa"], `a DIMM offset (DPA) must be a multiple of 4 KiB (got ${dpa})`);
          return;
        }
        if (dpa + share > x.size) {
          issue(
            ctx,
            p,
            `DIMM "${n}" would hold DPA [${hex(dpa)}, ${hex(dpa + share)}) (its ${
              formatSize(share)
            } share of ${formatSize(r.size)} over ${ways} DIMMs), past its ${
              formatSize(x.size)
            } capacity`,
          );
          return;
        }
        const list = used.get(n) ?? [];
        const clash = list.find((u) => dpa < u.end && u.start < dpa + share);
        if (clash) {
          issue(
            ctx,
            p,
            `DIMM "${n}" already gives DPA [${hex(clash.start)}, ${
              hex(clash.end)
            }) to region "${clash.region}"`,
          );
        }
        list.push({ start: dpa, end: dpa + share, region: r.name });
        used.set(n, list);
      });
      if (r.start % PAGE === 0 && r.size > 0) {
        place(
          p,
          r.start,
          r.size,
          "a persistent-memory region",
          `nvdimm.buses[${bi}].regions[${ri}]`,
          "persistent memory",
        );
      }
    });
  });

  // ---- coherent memory and GPUs ----
  const gpuNames = new Set(d.gpus.map((g) => g.name));
  d.coherentMemory.forEach((c, i) => {
    const p: Path = ["coherentMemory", i];
    if (c.start % PAGE !== 0 || c.size % PAGE !== 0 || c.size === 0) {
      issue(
        ctx,
        p,
        `coherent device memory must start and end on a 4 KiB page boundary (start ${
          hex(c.start)
        }, size ${c.size})`,
      );
      return;
    }
    if (c.owner !== undefined && !gpuNames.has(c.owner)) {
      issue(
        ctx,
        [...p, "owner"],
        gpuNames.size === 0
          ? `no GPU named "${c.owner}" (the machine has no GPUs)`
          : `no GPU named "${c.owner}" (known: ${[...gpuNames].join(", ")})`,
      );
    }
    place(
      p,
      c.start,
      c.size,
      "coherent device memory",
      `coherentMemory[${i}]`,
      "coherent device memory",
    );
  });

  // ---- PCIe ----
  const pci = d.pci ?? { hostBridges: [], devices: [] };
  const kinds = new Map<string, { type: string; path: Path }>();
  const declare = (n: string, type: string, path: Path) => {
    if (kinds.has(n)) {
      issue(
        ctx,
        [...path, "name"],
        `the name "${n}" is already used by another PCI device, host bridge or GPU`,
      );
      return;
    }
    kinds.set(n, { type, path });
  };
  pci.hostBridges.forEach((h, i) => {
    declare(h.name, "host-bridge", ["pci", "hostBridges", i]);
    h.windows.forEach((w, wi) => {
      const p: Path = ["pci", "hostBridges", i, "windows", wi];
      if (w.start % PAGE !== 0 || w.size % PAGE !== 0 || w.size === 0) {
        issue(
          ctx,
          p,
          `an MMIO window must start and end on a 4 KiB page boundary (start ${
            hex(w.start)
          }, size ${w.size})`,
        );
        return;
      }
      place(
        p,
        w.start,
        w.size,
        `an MMIO window of host bridge "${h.name}"`,
        `pci.hostBridges[${i}].windows[${wi}]`,
        "an MMIO window",
      );
    });
  });
  pci.devices.forEach((x, i) => declare(x.name, x.type, ["pci", "devices", i]));
  d.gpus.forEach((g, i) => declare(g.name, "gpu", ["gpus", i]));

  const allowed: Record<string, string[]> = {
    "root-port": ["host-bridge"],
    "switch-upstream": ["root-port", "switch-downstream"],
    "switch-downstream": ["switch-upstream"],
    "endpoint": ["host-bridge", "root-port", "switch-downstream"],
    "gpu": ["host-bridge", "root-port", "switch-downstream"],
  };
  const what: Record<string, string> = {
    "host-bridge": "a host bridge",
    "root-port": "a root port",
    "switch-upstream": "a switch upstream port",
    "switch-downstream": "a switch downstream port",
    "endpoint": "an endpoint",
    "gpu": "a GPU",
  };
  let pciOk = true;
  const checkParent = (type: string, parent: string, path: Path) => {
    const p = kinds.get(parent);
    if (parent === "") {
      pciOk = false; // already reported: the field needs a name
      return;
    }
    if (p === undefined) {
      issue(ctx, [...path, "parent"], `no host bridge or port named "${parent}"`);
      pciOk = false;
      return;
    }
    if (!allowed[type]!.includes(p.type)) {
      issue(
        ctx,
        [...path, "parent"],
        `${what[type]} cannot hang off ${what[p.type]} ("${parent}"); its parent must be ${
          orList(allowed[type]!.map((t) => what[t]!))
        }`,
      );
      pciOk = false;
    }
  };
  // cycles: walk parents
  const parentOf = new Map<string, string>(pci.devices.map((x) => [x.name, x.parent]));
  pci.devices.forEach((x, i) => {
    const path: Path = ["pci", "devices", i];
    checkParent(x.type, x.parent, path);
    if (
      x.link === undefined && x.type !== "root-port" && x.type !== "switch-downstream" &&
      kinds.get(x.parent)?.type !== "host-bridge"
    ) {
      issue(
        ctx,
        [...path, "link"],
        `${what[x.type]} below a port needs its link: { "gen": 3..6, "width": lanes }`,
      );
      pciOk = false;
    }
    const taken = new Map<number, number>();
    x.bars.forEach((b, bj) => {
      const bp: Path = [...path, "bars", bj];
      const slots = b.type === "mem64" ? [b.index, b.index + 1] : [b.index];
      if (b.type === "mem64" && b.index === 5) {
        issue(ctx, [...bp, "index"], "a 64-bit BAR takes two BAR registers, so it cannot be BAR 5");
        pciOk = false;
      }
      for (const s of slots) {
        if (taken.has(s)) {
          issue(
            ctx,
            [...bp, "index"],
            `BAR register ${s} is already used by bars[${taken.get(s)}] (a 64-bit BAR takes two)`,
          );
          pciOk = false;
        }
        taken.set(s, bj);
      }
      if (!isPow2(b.size) || b.size < PAGE) {
        issue(
          ctx,
          [...bp, "size"],
          `a memory BAR's size must be a power of two of at least 4 KiB (got ${b.size})`,
        );
        pciOk = false;
      }
      if (b.address !== undefined) {
        if (isPow2(b.size) && b.address % b.size !== 0) {
          issue(
            ctx,
            [...bp, "address"],
            `a BAR must be aligned to its size (${formatSize(b.size)}); ${hex(b.address)} is not`,
          );
          pciOk = false;
        }
        if (b.type === "mem32" && b.address + b.size > FOUR_G) {
          issue(ctx, [...bp, "address"], `a 32-bit BAR must lie below 4 GiB`);
          pciOk = false;
        }
      }
    });
    // a driver bound at boot: p2pmem drives an endpoint's memory BARs
    if (x.p2pmem !== undefined && x.driver !== "p2pmem") {
      issue(
        ctx,
        [...path, "p2pmem"],
        `"p2pmem" configures the p2pmem driver: set "driver": "p2pmem" on this device too, or drop it`,
      );
    }
    if (x.driver === "p2pmem") {
      if (x.type !== "endpoint") {
        issue(
          ctx,
          [...path, "driver"],
          `the p2pmem driver binds to an endpoint with memory BARs, and "${x.name}" is ${
            what[x.type]
          }`,
        );
      } else {
        const have = x.bars.map((b) => b.index);
        const its = have.length === 0 ? "it has no BARs" : `its BARs: ${have.join(", ")}`;
        const seenBars = new Set<number>();
        (x.p2pmem?.bars ?? [P2PMEM_DEFAULT_BAR]).forEach((b, j) => {
          const bp: Path = x.p2pmem?.bars === undefined
            ? [...path, "driver"]
            : [...path, "p2pmem", "bars", j];
          if (seenBars.has(b)) {
            issue(ctx, bp, `BAR ${b} is listed twice: the driver registers each BAR once`);
          } else if (!have.includes(b)) {
            issue(
              ctx,
              bp,
              x.p2pmem?.bars === undefined
                ? `the p2pmem driver registers BAR ${b} unless "p2pmem": { "bars": [...] } names others, and "${x.name}" has no BAR ${b} (${its})`
                : `"${x.name}" has no BAR ${b} for the p2pmem driver to register (${its})`,
            );
          }
          seenBars.add(b);
        });
      }
    }
    // a parent chain that loops never reaches a host bridge
    const seen = new Set<string>([x.name]);
    for (let p = x.parent; parentOf.has(p); p = parentOf.get(p)!) {
      if (seen.has(p)) {
        issue(ctx, [...path, "parent"], `the parent chain of "${x.name}" loops back to "${p}"`);
        pciOk = false;
        break;
      }
      seen.add(p);
    }
  });
  d.gpus.forEach((g, i) => {
    const path: Path = ["gpus", i];
    checkParent("gpu", g.parent, path);
    if (g.vram === 0 || g.vram % PAGE !== 0) {
      issue(ctx, [...path, "vram"], `VRAM must be a positive multiple of 4 KiB (got ${g.vram})`);
      pciOk = false;
    }
    if (g.bar !== undefined && g.bar !== "resizable" && (!isPow2(g.bar) || g.bar < 2 ** 20)) {
      issue(
        ctx,
        [...path, "bar"],
        `a GPU's BAR must be a power of two of at least 1 MiB, or "resizable" (got ${g.bar})`,
      );
      pciOk = false;
    }
  });
  if (!pciOk) return;

  // BAR addresses: all or none per host bridge, inside a window, no overlaps
  const hostOf = (n: string): string => {
    let p = n;
    while (parentOf.has(p)) p = parentOf.get(p)!;
    return p;
  };
  for (const h of pci.hostBridges) {
    const devs = pci.devices.map((x, i) => ({ x, i })).filter(({ x }) => hostOf(x.name) === h.name);
    const withAddr = devs.flatMap(({ x, i }) => x.bars.map((b, j) => ({ b, i, j }))).filter((e) =>
      e.b.address !== undefined
    );
    const withoutAddr = devs.flatMap(({ x, i }) => x.bars.map((b, j) => ({ b, i, j }))).filter((
      e,
    ) => e.b.address === undefined);
    const gpusHere = d.gpus.map((g, i) => ({ g, i })).filter(({ g }) =>
      hostOf(g.parent) === h.name || g.parent === h.name
    );
    if (withAddr.length > 0 && (withoutAddr.length > 0 || gpusHere.length > 0)) {
      const e = withoutAddr[0];
      issue(
        ctx,
        e !== undefined ? ["pci", "devices", e.i, "bars", e.j] : ["gpus", gpusHere[0]!.i],
        `BARs under host bridge "${h.name}" have addresses but this one does not: give every BAR under a host bridge an address, or none (GPUs' BARs are always assigned)`,
      );
      return;
    }
    const placed: Array<{ s: number; n: number; p: Path }> = [];
    for (const { b, i, j } of withAddr) {
      const s = b.address!, p: Path = ["pci", "devices", i, "bars", j, "address"];
      if (!h.windows.some((w) => s >= w.start && s + b.size <= w.start + w.size)) {
        issue(
          ctx,
          p,
          `the BAR ${
            describeRange(s, b.size)
          } lies outside every MMIO window of host bridge "${h.name}" (${
            h.windows.map((w) => describeRange(w.start, w.size)).join(", ")
          }): firmware can only place BARs inside a window the host bridge forwards`,
        );
        return;
      }
      const c = placed.find((q) => s < q.s + q.n && q.s < s + b.size);
      if (c) {
        issue(
          ctx,
          p,
          `the BAR ${describeRange(s, b.size)} overlaps another BAR ${describeRange(c.s, c.n)}`,
        );
        return;
      }
      placed.push({ s, n: b.size, p });
    }
  }
  // build it: sizes must fit the windows; explicit bridge windows must not interleave
  try {
    const hw = toHardwareConfig(d);
    const t = new PciTopology({
      hostBridges: hw.pci.hostBridges,
      devices: [...hw.pci.devices, ...hw.gpus.map(gpuEndpointConfig)],
    });
    for (const dev of t.devices) {
      const sibs = (dev.parent?.children ?? dev.host.children).filter((s) => s !== dev);
      for (const w of dev.windows) {
        for (const s of sibs) {
          for (const v of s.windows) {
            if (w.start < v.start + v.size && v.start < w.start + w.size && dev.bdf < s.bdf) {
              const di = pci.devices.findIndex((x) => x.name === dev.name);
              issue(
                ctx,
                ["pci", "devices", di],
                `the BARs below "${dev.name}" and below "${s.name}" interleave: a bridge forwards one contiguous window per kind, so their windows ${
                  describeRange(w.start, w.size)
                } and ${describeRange(v.start, v.size)} would overlap`,
              );
              return;
            }
          }
        }
      }
    }
  } catch (e) {
    const m = /under host bridge "([^"]+)"/.exec((e as Error).message);
    const hi = m ? pci.hostBridges.findIndex((h) => h.name === m[1]) : 0;
    issue(
      ctx,
      ["pci", "hostBridges", Math.max(0, hi), "windows"],
      (e as Error).message.replace(
        /^Cannot assign BARs under host bridge "([^"]+)": its /,
        "the BARs do not fit: ",
      ),
    );
  }
}

function orList(xs: string[]): string {
  return xs.length <= 1 ? xs.join("") : `${xs.slice(0, -1).join(", ")} or ${xs[xs.length - 1]}`;
}

/** The parsed description's hardware as lib/hw's configuration (defaults resolved). */
export function toHardwareConfig(d: ParsedHardware): HardwareConfig {
  return {
    nvdimm: (d.nvdimm?.buses ?? []).map((b) => ({
      name: b.name,
      provider: b.provider,
      nfitTest: b.nfitTest,
      dimms: b.dimms.map((x, i) => ({
        name: x.name,
        handle: x.handle ?? i,
        size: x.size,
        labelSize: x.labelSize ?? 0,
        node: x.node,
      })),
      regions: b.regions.map((r) => ({
        name: r.name,
        start: r.start,
        size: r.size,
        mappings: r.dimms.map((n, i) => ({
          dimm: n,
          dpa: Array.isArray(r.dpa) ? r.dpa[i] ?? 0 : (r.dpa as number | undefined) ?? 0,
        })),
        granularity: r.granularity ?? PAGE,
        labels: r.labels,
        readOnly: r.readOnly,
        node: r.node,
      })),
    })),
    pci: {
      hostBridges: (d.pci?.hostBridges ?? []).map((h) => ({
        name: h.name,
        domain: h.domain,
        bus: h.bus,
        node: h.node,
        windows: h.windows.map((w) => ({ start: w.start, size: w.size, prefetch: w.prefetch })),
      })),
      devices: (d.pci?.devices ?? []).map((x) => ({
        name: x.name,
        type: x.type,
        parent: x.parent,
        slot: x.slot,
        function: x.function,
        link: x.link ?? null,
        mps: x.mps,
        bars: x.bars.map((b) => ({
          index: b.index,
          size: b.size,
          type: b.type,
          prefetch: b.prefetch,
          address: b.address ?? null,
        })),
        acsRedirect: x.acsRedirect,
        class: x.class,
      })),
    },
    gpus: d.gpus.map((g) => ({
      name: g.name,
      vram: g.vram,
      bar: gpuBar(g.vram, g.bar),
      copyRate: g.copyRate ?? null,
      node: g.node,
      parent: g.parent,
      slot: g.slot,
      link: g.link,
      mps: g.mps,
    })),
    coherent: d.coherentMemory.map((c) => ({
      name: c.name,
      start: c.start,
      size: c.size,
      node: c.node,
      owner: c.owner ?? null,
    })),
  };
}

/**
 * A driver the description binds at boot: `"driver": "nouveau"` on a GPU,
 * or `"driver": "p2pmem"` (with its {@link P2pmemBootConfig}) on a PCI
 * endpoint.
 */
export type BootDriver =
  | { readonly driver: "nouveau"; readonly device: string }
  | { readonly driver: "p2pmem"; readonly device: string; readonly config: P2pmemBootConfig };

/** The p2pmem provider's configuration from a description (lib/drivers/pci/p2pmem-provider.ts). */
export interface P2pmemBootConfig {
  /** BAR indices handed to pci_p2pdma_add_resource, in order. */
  readonly bars: readonly number[];
  /** pci_p2pmem_publish after a successful registration. */
  readonly publish: boolean;
  /** Fail probe when a BAR cannot be registered (else warn and bind, as NVMe). */
  readonly fatal: boolean;
}

/** The drivers the parsed description binds at boot: PCI devices first, then GPUs, each in description order. */
export function toBootDrivers(d: ParsedHardware): BootDriver[] {
  const out: BootDriver[] = [];
  for (const x of d.pci?.devices ?? []) {
    if (x.driver !== "p2pmem") continue;
    out.push({
      driver: "p2pmem",
      device: x.name,
      config: {
        bars: x.p2pmem?.bars ?? [P2PMEM_DEFAULT_BAR],
        publish: x.p2pmem?.publish ?? true,
        fatal: x.p2pmem?.fatal ?? false,
      },
    });
  }
  for (const g of d.gpus) {
    if (g.driver === "nouveau") out.push({ driver: "nouveau", device: g.name });
  }
  return out;
}
