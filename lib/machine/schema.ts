/**
 * The machine description (data/machines/*.json), validated with zod. Every
 * error names the JSON path and the rule in words a newcomer understands —
 * never a stack trace. Beyond CPUs and RAM a machine may have NVDIMM buses
 * (DIMMs with label areas, interleaved persistent-memory regions), a PCIe
 * hierarchy (host bridges with MMIO windows, root ports, switches, endpoints
 * with memory BARs), GPUs, and CPU-coherent device memory; cross-references
 * and address-map conflicts are checked here (see hardware.ts).
 *
 * @module
 */
import { z } from "zod";
import { formatSize, hex } from "./sizes.ts";
import { size } from "./fields.ts";
import type { HardwareConfig } from "../hw/hardware.ts";
import {
  type BootDriver,
  checkHardware,
  hardwareSchema,
  toBootDrivers,
  toHardwareConfig,
} from "./hardware.ts";

export type { BootDriver, P2pmemBootConfig } from "./hardware.ts";

const MAX_ADDR_BITS = 52;
const PAGE = 4096;

/** A System RAM range. */
export interface RamDescription {
  /** First byte. */
  start: number;
  /** Length in bytes. */
  size: number;
  /** NUMA node. */
  node: number;
}

/** A validated machine description (the part the kernel needs at boot). */
export interface MachineDescription {
  /** Machine name. */
  name: string;
  /** What it is. */
  description: string;
  /** Number of CPUs. */
  cpus: number;
  /** "4-level" (MAX_PHYSMEM_BITS 46) or "5-level" (52), decided at boot. */
  paging: "4-level" | "5-level";
  /** NUMA nodes and their CPUs. */
  numa: { node: number; cpus: number[] }[];
  /** System RAM ranges. */
  ram: RamDescription[];
  /** Which cost model (data/cost-models/<name>.json). */
  costModel: string;
  /** NVDIMMs, PCIe, GPUs and coherent device memory, as lib/hw builds them. */
  hardware: HardwareConfig;
  /**
   * The drivers bound at boot, after the NVDIMM drivers (`"driver"` on a GPU
   * or a PCI endpoint; empty when the description names none).
   */
  drivers: BootDriver[];
}

const ramRange = z.strictObject({
  start: size,
  size: size,
  node: z.number().int("must be a whole number").nonnegative("a NUMA node number is 0 or more")
    .default(0),
});

const schema = z.strictObject({
  name: z.string().min(1, "the machine needs a name"),
  description: z.string().default(""),
  cpus: z.number().int("must be a whole number").min(1, "a machine needs at least 1 CPU").max(
    256,
    "the model supports at most 256 CPUs",
  ),
  paging: z.enum(["4-level", "5-level"], 'must be "4-level" or "5-level"').default("4-level"),
  numa: z.array(
    z.strictObject({
      node: z.number().int("must be a whole number").nonnegative("a NUMA node number is 0 or more"),
      cpus: z.array(
        z.number().int("must be a whole number").nonnegative("a CPU number is 0 or more"),
      ),
    }),
  )
    .optional(),
  ram: z.array(ramRange).min(1, "a machine needs at least one System RAM range"),
  costModel: z.string().default("default"),
  ...hardwareSchema,
}).superRefine((d, ctx) => {
  const maxBits = d.paging === "5-level" ? 52 : 46;
  const limit = 2 ** Math.min(maxBits, MAX_ADDR_BITS);
  const sorted = d.ram.map((r, i) => ({ ...r, i })).sort((a, b) => a.start - b.start);
  for (const r of d.ram) {
    const i = d.ram.indexOf(r);
    if (r.size === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["ram", i, "size"],
        message: "a RAM range cannot be empty",
      });
    }
    if (r.start % PAGE !== 0 || r.size % PAGE !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["ram", i],
        message: `a RAM range must start and end on a 4 KiB page boundary (start ${
          hex(r.start)
        }, size ${r.size})`,
      });
    }
    if (r.start + r.size > limit) {
      ctx.addIssue({
        code: "custom",
        path: ["ram", i],
        message: `the range ends at ${
          hex(r.start + r.size)
        }, beyond what ${d.paging} paging can address (${
          formatSize(limit)
        }; MAX_PHYSMEM_BITS ${maxBits})`,
      });
    }
  }
  for (let j = 1; j < sorted.length; j++) {
    const a = sorted[j - 1]!, b = sorted[j]!;
    if (b.start < a.start + a.size) {
      ctx.addIssue({
        code: "custom",
        path: ["ram", b.i],
        message: `overlaps ram[${a.i}] ([${hex(a.start)}, ${
          hex(a.start + a.size)
        })): RAM ranges must not overlap`,
      });
    }
  }
  const nodes = new Set((d.numa ?? [{ node: 0, cpus: [] }]).map((n) => n.node));
  d.ram.forEach((r, i) => {
    if (!nodes.has(r.node)) {
      ctx.addIssue({
        code: "custom",
        path: ["ram", i, "node"],
        message: `NUMA node ${r.node} is not declared in "numa"`,
      });
    }
  });
  (d.numa ?? []).forEach((n, i) =>
    n.cpus.forEach((c, j) => {
      if (c >= d.cpus) {
        ctx.addIssue({
          code: "custom",
          path: ["numa", i, "cpus", j],
          message: `CPU ${c} does not exist: the machine has CPUs 0..${d.cpus - 1}`,
        });
      }
    })
  );
  checkHardware(d, ctx, limit, maxBits);
});

/**
 * @internal The zod schema of a machine description, for tests that
 * enumerate its rules (tests/machine/bad_coverage_test.ts).
 */
export const machineSchema: unknown = schema;

/* Formats a zod error as "at ram[0].size: <rule>" lines. */
function formatIssues(error: z.ZodError): string {
  return error.issues.map((iss) => {
    const path = iss.path.reduce<string>(
      (acc, p) =>
        typeof p === "number" ? `${acc}[${p}]` : acc === "" ? String(p) : `${acc}.${String(p)}`,
      "",
    );
    let msg = iss.message;
    if (iss.code === "unrecognized_keys") {
      msg = `unknown field(s) ${iss.keys.map((k) => `"${k}"`).join(", ")}`;
    } else if (iss.code === "invalid_type" && iss.expected === "int") {
      msg = "must be a whole number";
    } else if (iss.code === "invalid_type") {
      const received = /received (\w+)/.exec(iss.message)?.[1] ?? "something else";
      const a = (w: string) => (/^[aeiou]/.test(w) ? `an ${w}` : `a ${w}`);
      msg = received === "undefined"
        ? "is required"
        : `must be ${a(iss.expected)}, not ${a(received)}`;
    }
    return `at ${path === "" ? "(top level)" : path}: ${msg}`;
  }).join("\n");
}

/**
 * Validates a machine description; throws a TypeError "Cannot boot machine
 * <name>: at <path>: <rule>" (one line per problem) on bad input.
 */
export function parseMachineDescription(data: unknown, origin = "description"): MachineDescription {
  const r = schema.safeParse(data);
  if (!r.success) throw new TypeError(`Cannot boot machine ${origin}:\n${formatIssues(r.error)}`);
  const d = r.data;
  return {
    name: d.name,
    description: d.description,
    cpus: d.cpus,
    paging: d.paging,
    numa: d.numa ?? [{ node: 0, cpus: Array.from({ length: d.cpus }, (_, i) => i) }],
    ram: d.ram,
    costModel: d.costModel,
    hardware: toHardwareConfig(d),
    drivers: toBootDrivers(d),
  };
}
