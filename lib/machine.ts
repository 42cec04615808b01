/**
 * A simulated machine: one kernel (and, later, its hardware and drivers) as a
 * value. Tests, scenarios and notebooks run kernel code through
 * {@link Machine.run} and {@link Machine.call}.
 *
 * @module
 */
import { type Exploration, explore } from "./sim/explore.ts";
import { Prng } from "./sim/prng.ts";
import {
  defaultPolicy,
  explicitPolicy,
  type HangReport,
  isGenerator,
  type OopsRecord,
  type SchedulePolicy,
  seededPolicy,
} from "./sim/sched.ts";
import type { KGen, Task } from "./sim/task.ts";
import { checkOptions, Kernel, KERNEL_OPTIONS, type KernelOptions } from "./kernel/kernel.ts";
import { export_kernel_symbols } from "./kernel/exports.ts";
import { loadCostModel } from "./sim/cost-model.ts";
import type { SeriesOptions } from "./series.ts";
import {
  type BootDriver,
  type MachineDescription,
  parseMachineDescription,
} from "./machine/schema.ts";
import { Hardware, type HardwareDrivers } from "./hw/hardware.ts";
import { nvdimmDrivers } from "./drivers/nvdimm/bind.ts";
import { nouveau_bind } from "./drivers/gpu/drm.ts";
import { p2pmemProviderDriver } from "./drivers/pci/p2pmem-provider.ts";
import { PCI, pci_scan, type PciDev } from "./drivers/pci/pci.ts";
import { driver_probe_device } from "./kernel/device.ts";
import { EINTR } from "./kernel/errno.ts";
import { mm_init } from "./kernel/mm/boot.ts";
import {
  insert_resource,
  iomem_resource,
  IORESOURCE_BUSY,
  IORESOURCE_SYSTEM_RAM,
  Resource,
} from "./kernel/resource.ts";

/** How to order tasks at decision points. */
export type Schedule =
  | "default"
  | readonly string[]
  | { readonly seed: number }
  | SchedulePolicy;

/** What a run returns. */
export interface RunResult<T> {
  /** The task's return value (undefined unless it finished). */
  value: T | undefined;
  /** Whether the task finished (not Oopsed, not blocked). */
  done: boolean;
  /** Oopses during the run (any task). */
  oopses: OopsRecord[];
  /** Hang report if any task is left blocked, else null. */
  blocked: HangReport | null;
  /** Labels chosen at decision points. */
  schedule: string[];
}

/** The value a kernel function returns, through its generator if it sleeps. */
export type KResult<R> = R extends KGen<infer T> ? T : R;

/** Options for {@link createMachine}. */
export type MachineOptions = KernelOptions;

function toPolicy(s: Schedule | undefined): SchedulePolicy {
  if (s === undefined || s === "default") return defaultPolicy;
  if (Array.isArray(s)) return explicitPolicy(s as readonly string[]);
  if (typeof s === "object" && s !== null && "seed" in s) {
    checkOptions("use schedule { seed }", s, ["seed"]);
    return seededPolicy(new Prng(s.seed));
  }
  if (typeof s === "object" && s !== null && "choose" in s) return s as SchedulePolicy;
  throw new TypeError(
    `Cannot use schedule ${
      JSON.stringify(s)
    }: expected "default", a list of task names, { seed }, or a policy`,
  );
}

/** One simulated machine. */
export class Machine {
  /** The kernel. */
  readonly kernel: Kernel;
  /** The description it was booted from (null for {@link createMachine}'s minimal machine). */
  description: MachineDescription | null = null;
  /**
   * The hardware: NVDIMM buses (`hw.nvdimm`, with `hw.ndctl` for the
   * kernel's namespaces), the PCIe hierarchy (`hw.pci`), GPUs (`hw.gpus`) and
   * coherent memory. It outlives the kernel: {@link Machine.powerCycle} boots
   * a new kernel on the same hardware. Null for {@link createMachine}'s
   * minimal machine.
   */
  hw: Hardware | null = null;
  /** The options this machine was booted with (for {@link Machine.powerCycle}). */
  bootOptions: BootOptions = {};
  /**
   * The drivers the description bound at boot (`"driver": "nouveau"` on a
   * GPU, `"driver": "p2pmem"` on a PCI endpoint), in bind order, each with
   * its PCI function and what the probe returned (0, or the -errno the
   * driver core printed as "probe of ... failed"). The bound state is live
   * on the function: `pdev.driver` is null once it is unbound, and
   * `pdev.driver_data` is the driver's data — a NouveauDrm (also listed by
   * `nouveauDevices(m.k)`) or a P2pmemProviderData. Empty when the
   * description binds nothing; every power cycle binds them again.
   *
   * @example The bound workstation's GPU has its VRAM registered at boot
   * ```ts
   * import { bootMachine } from "./machine.ts";
   * import { nouveauDevices } from "./drivers/gpu/drm.ts";
   * import { assertEquals } from "@std/assert";
   * const m = bootMachine("workstation-2018-bound");
   * assertEquals(m.bootDrivers.map((b) => [b.driver, b.device, b.ret]), [["nouveau", "gpu0", 0]]);
   * assertEquals(nouveauDevices(m.k)[0]!.dmem !== null, true);
   * ```
   */
  bootDrivers: readonly BootBinding[] = [];

  /**

   * Creates the object.

   * @param opts CPUs, seed, series, cost model.

   */
  constructor(opts: MachineOptions = {}) {
    checkOptions("create a machine", opts, KERNEL_OPTIONS);
    this.kernel = new Kernel(opts);
    // vmlinux's exported symbols, as the series level exports them
    export_kernel_symbols(this.kernel);
  }

  /** Shorthand for {@link Machine.kernel}. */
  get k(): Kernel {
    return this.kernel;
  }

  /** Creates a task that runs `fn(k)`; it runs at the next {@link Machine.runAll} or {@link Machine.run}. */
  spawn(name: string, fn: (k: Kernel) => KGen<unknown> | unknown, cpu?: number): Task {
    checkBody("spawn a task", fn);
    return this.kernel.sched.spawn(name, fn, cpu);
  }

  /** Runs every spawned task until all have finished or are blocked. */
  runAll(opts: { schedule?: Schedule } = {}): Omit<RunResult<unknown>, "value" | "done"> {
    checkOptions("run the machine", opts, ["schedule"]);
    return this.kernel.sched.runUntilQuiescent(toPolicy(opts.schedule));
  }

  /**
   * Spawns `fn` as a task and runs the machine until quiescence. Never throws
   * for kernel outcomes: an Oops or a hang is in the result.
   *
   * @example
   * ```ts
   * import { Machine } from "./machine.ts";
   * import { assertEquals } from "@std/assert";
   * const m = new Machine({ cpus: 2 });
   * const r = m.run(function* (k) { return k.cpu; });
   * assertEquals([r.done, r.value], [true, 0]);
   * ```
   */
  run<T>(
    fn: (k: Kernel) => KGen<T> | T,
    opts: { schedule?: Schedule; name?: string; cpu?: number } = {},
  ): RunResult<T> {
    checkBody("run", fn);
    checkOptions("run", opts, ["schedule", "name", "cpu"]);
    const t = this.spawn(opts.name ?? (fn.name || "task"), fn, opts.cpu);
    const out = this.runAll(opts.schedule === undefined ? {} : { schedule: opts.schedule });
    return {
      value: t.state === "done" ? t.result as T : undefined,
      done: t.state === "done",
      ...out,
    };
  }

  /**
   * Calls one kernel function, sleeping or not, in a fresh task and returns its
   * kernel result (address, ERR_PTR, errno ...). For code expected to finish:
   * if the task Oopses or stays blocked, throws an Error with the oops text or
   * the hang report (use {@link Machine.run} to inspect those instead).
   */
  call<A extends unknown[], R>(fn: (k: Kernel, ...args: A) => R, ...args: A): KResult<R> {
    checkBody("call", fn);
    const r = this.run((k) => {
      const v = fn(k, ...args);
      return isGenerator(v) ? v : v;
    }, { name: fn.name || "call" });
    if (!r.done) {
      const why = r.oopses.length > 0
        ? `Oops: ${r.oopses[0]!.message}`
        : r.blocked?.text ?? "not finished";
      throw new Error(
        `Cannot return from ${fn.name || "the call"}: the task did not finish\n${why}`,
      );
    }
    return r.value as KResult<R>;
  }

  /**
   * Power-cycles the machine: boots a new kernel (same description, the
   * same boot options unless `opts` overrides them — another series level,
   * say) on the same hardware. Persistent memory keeps its media, labels and
   * errors; VRAM, BAR and coherent memory, firmware state and everything the
   * old kernel held are gone. Returns the new machine; this one must not be
   * used afterwards.
   *
   * @example Data written to pmem survives a power cycle
   * ```ts
   * import { bootMachine } from "./machine.ts";
   * import { assertEquals } from "@std/assert";
   * const m = bootMachine("workstation-2018");
   * const region = m.hw!.nvdimm[0]!.regions[0]!;
   * region.write(0x10000, new Uint8Array([1, 2, 3]));
   * const m2 = m.powerCycle();
   * assertEquals([...(m2.hw!.nvdimm[0]!.regions[0]!.read(0x10000, 3) as Uint8Array)], [1, 2, 3]);
   * ```
   */
  powerCycle(opts: BootOptions = {}): Machine {
    checkOptions("power-cycle", opts, BOOT_OPTIONS);
    if (this.description === null || this.hw === null) {
      throw new TypeError("Cannot power-cycle a machine that was not booted from a description");
    }
    return bootDescription(this.description, { ...this.bootOptions, ...opts }, this.hw);
  }
}

/** Simulator misuse: what should run as kernel code is not a function. */
function checkBody(action: string, fn: unknown): void {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot ${action} ${
        typeof fn === "string" ? JSON.stringify(fn) : String(fn)
      }: expected a function of the kernel, like (k) => ... or function* (k) { ... }`,
    );
  }
}

/** Creates a minimal machine (CPUs, seed, series); descriptions come with bootMachine. */
export function createMachine(opts: MachineOptions = {}): Machine {
  return new Machine(opts);
}

/**
 * Explores every interleaving of the tasks `setup` spawns on a fresh machine
 * from `make`, by stateless re-execution. Each schedule ends "oops",
 * "deadlock/hang" or "clean".
 */
export function exploreMachine(
  make: () => Machine,
  setup: (m: Machine) => void,
  opts: { maxSchedules?: number } = {},
): Exploration {
  checkOptions("explore schedules", opts, ["maxSchedules"]);
  return explore((policy) => {
    const m = make();
    setup(m);
    return m.runAll({ schedule: policy });
  }, opts);
}

/** A driver bound at boot: see {@link Machine.bootDrivers}. */
export interface BootBinding {
  /** The driver ("nouveau" or "p2pmem"). */
  readonly driver: BootDriver["driver"];
  /** The device's name in the description. */
  readonly device: string;
  /** Its PCI function (the device the driver core bound). */
  readonly pdev: PciDev;
  /** 0, or the probe's -errno (-EINTR if the probe did not return). */
  readonly ret: number;
}

/** The keys {@link BootOptions} has. */
const BOOT_OPTIONS: readonly string[] = ["series", "followups", "variants", "seed"];

/** Options of {@link bootMachine}: the series and the seed. */
export interface BootOptions extends SeriesOptions {
  /** PRNG seed (default 0). */
  seed?: number;
}

const MACHINES_DIR = new URL("../data/machines/", import.meta.url);

/** Names of the machine descriptions shipped in data/machines. */
export function machineNames(): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync(MACHINES_DIR)) {
    if (e.isFile && e.name.endsWith(".json")) names.push(e.name.slice(0, -5));
  }
  return names.sort();
}

function readDescription(src: string | object): { data: unknown; origin: string } {
  if (typeof src === "object" && src !== null) {
    return { data: src, origin: JSON.stringify((src as { name?: unknown }).name ?? "(object)") };
  }
  if (typeof src !== "string" || src === "") {
    throw new TypeError(
      `Cannot boot machine: expected a name, a path or a description object, got ${String(src)}`,
    );
  }
  const isPath = src.includes("/") || src.endsWith(".json");
  const url = isPath ? src : new URL(`${src}.json`, MACHINES_DIR);
  let text: string;
  try {
    text = Deno.readTextFileSync(url);
  } catch {
    if (isPath) throw new RangeError(`Cannot boot machine from ${src}: the file cannot be read`);
    throw new RangeError(
      `Cannot boot machine "${src}": no such description (known: ${machineNames().join(", ")})`,
    );
  }
  try {
    return { data: JSON.parse(text), origin: isPath ? src : `"${src}"` };
  } catch (e) {
    throw new TypeError(
      `Cannot boot machine ${isPath ? src : `"${src}"`}: not valid JSON (${(e as Error).message})`,
    );
  }
}

function costModelFor(name: string) {
  if (name === "default") return loadCostModel();
  const url = new URL(`../data/cost-models/${name}.json`, import.meta.url);
  let text: string;
  try {
    text = Deno.readTextFileSync(url);
  } catch {
    throw new RangeError(
      `Cannot load cost model "${name}": data/cost-models/${name}.json does not exist`,
    );
  }
  return loadCostModel(JSON.parse(text));
}

/**
 * Boots a machine from a description: a bare name (resolved in data/machines
 * through `import.meta.url`, never the working directory), a path to a JSON
 * file, or a description object. The series defaults to preset "v5.0".
 *
 * @example
 * ```ts
 * import { bootMachine } from "./machine.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootMachine("bench-64t", { series: "v4.20" });
 * assertEquals([m.description?.paging, m.k.series.level], ["5-level", 0]);
 * ```
 */
export function bootMachine(nameOrPathOrObject: string | object, opts: BootOptions = {}): Machine {
  checkOptions("boot machine", opts, BOOT_OPTIONS);
  const { data, origin } = readDescription(nameOrPathOrObject);
  const desc = parseMachineDescription(data, origin);
  return bootDescription(desc, opts, new Hardware(desc.hardware));
}

/** The drivers every booted machine gets at power-on. */
const MACHINE_DRIVERS: HardwareDrivers = { nvdimm: nvdimmDrivers };

/** Boots a validated description on `hw` (fresh, or kept from a power cycle). */
function bootDescription(desc: MachineDescription, opts: BootOptions, hw: Hardware): Machine {
  const m = new Machine({ ...opts, cpus: desc.cpus, cost: costModelFor(desc.costModel) });
  m.bootOptions = opts;
  m.description = desc;
  const k = m.kernel;
  // firmware (e820): every RAM range is a top-level, BUSY "System RAM" resource
  for (const r of [...desc.ram].sort((a, b) => a.start - b.start)) {
    insert_resource(
      k,
      iomem_resource(k),
      new Resource({
        name: "System RAM",
        start: r.start,
        end: r.start + r.size - 1,
        flags: IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY,
      }),
    );
  }
  // sparse memory: RAM sections present, with a memmap, online, linearly mapped
  mm_init(k, {
    paging: desc.paging,
    ram: desc.ram.map((r) => ({ start: r.start, end: r.start + r.size, nid: r.node })),
    nodes: Math.max(...desc.numa.map((n) => n.node)) + 1,
  });
  // firmware: NFIT "Persistent Memory", PCI windows and BARs, coherent memory;
  // libnvdimm scans the buses and the drivers bind
  hw.attach(k, MACHINE_DRIVERS);
  m.hw = hw;
  // the PCI drivers the description names probe after libnvdimm's
  m.bootDrivers = bindBootDrivers(m, desc.drivers, hw);
  return m;
}

/**
 * Binds the drivers a description names, in PCI enumeration order, through
 * the paths an explicit bind takes (nouveau_bind; driver_probe_device of a
 * p2pmem provider). A failing probe is the driver core's to report ("probe
 * of ... failed with error", in dmesg) and never throws; a probe that Oopses
 * or blocks for good is left as the run left it, with -EINTR recorded. The
 * probes run as "swapper/0", the boot context that probes built-in drivers.
 */
function bindBootDrivers(m: Machine, drivers: readonly BootDriver[], hw: Hardware): BootBinding[] {
  if (drivers.length === 0) return [];
  const k = m.kernel;
  pci_scan(k, hw.pci);
  const byName = new Map(drivers.map((d) => [d.device, d]));
  const out: BootBinding[] = [];
  for (const pdev of [...k.state(PCI).devices]) {
    const d = byName.get(pdev.hw.name);
    if (d === undefined) continue;
    const r = d.driver === "nouveau"
      ? m.run((kk) => nouveau_bind(kk, hw, d.device), { name: "swapper/0" })
      : m.run(
        (kk) => driver_probe_device(kk, p2pmemProviderDriver({ ...d.config }), pdev),
        { name: "swapper/0" },
      );
    const v = r.value;
    const ret = !r.done ? -EINTR : typeof v === "number" ? v : 0;
    out.push({ driver: d.driver, device: d.device, pdev, ret });
  }
  return out;
}
