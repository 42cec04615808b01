/**
 * The simulated kernel of one machine: the substrate (clock, cost model,
 * trace, PRNG, scheduler, RCU, fault injection) plus the kernel's global
 * state (dmesg, taint, the series guards, and each subsystem's globals).
 *
 * Kernel-modelling functions take the kernel `k` as their first parameter —
 * what C reaches through globals and `current` — followed by the kernel's own
 * arguments in the kernel's order.
 *
 * @module
 */
import { Clock } from "../sim/clock.ts";
import { type CostModel, loadCostModel } from "../sim/cost-model.ts";
import { FaultInjector } from "../sim/inject.ts";
import { Prng } from "../sim/prng.ts";
import { formatOops, OopsSignal, Scheduler, type Task } from "../sim/sched.ts";
import { Trace } from "../sim/trace.ts";
import { Series, type SeriesOptions } from "../series.ts";
import type { KernelEvent } from "./events.ts";
import { installExplainers } from "./explain.ts";
import { Dmesg, taintText, type WarnHost } from "./printk.ts";

/** The fault points of the foundation's primitives: name → what fails and what the caller sees. */
export const FOUNDATION_FAULT_POINTS: ReadonlyArray<readonly [string, string]> = [
  ["kmalloc", "slab allocation fails: kmalloc/kzalloc return NULL"],
  ["devm_kmalloc", "devres allocation fails: devm_kzalloc returns NULL"],
  ["devm_add_action", "devres node allocation fails: devm_add_action returns -ENOMEM"],
  ["request_mem_region", "resource allocation fails: __request_region returns NULL"],
  ["percpu_ref_init", "alloc_percpu fails: percpu_ref_init returns -ENOMEM"],
  ["xa_store_range", "XArray node allocation fails: xa_store_range returns an -ENOMEM entry"],
  ["radix_tree_insert", "radix tree node allocation fails: radix_tree_insert returns -ENOMEM"],
];

/**
 * Options objects at the edges are validated once: an unknown key (a typo
 * like `serie`) is a TypeError, never silently ignored, and so is a seed the
 * PRNG would silently truncate.
 */
export function checkOptions(action: string, opts: object, known: readonly string[]): void {
  if (typeof opts !== "object" || opts === null || Array.isArray(opts)) {
    throw new TypeError(`Cannot ${action}: options must be an object, got ${JSON.stringify(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `Cannot ${action}: unknown option "${key}" (known: ${known.join(", ")})`,
      );
    }
  }
  const seed = (opts as { seed?: unknown }).seed;
  if (
    seed !== undefined &&
    !(Number.isInteger(seed) && (seed as number) >= -(2 ** 31) && (seed as number) < 2 ** 32)
  ) {
    throw new TypeError(
      `Cannot ${action}: seed must be an integer in [-2^31, 2^32), got ${
        typeof seed === "string" ? JSON.stringify(seed) : String(seed)
      }`,
    );
  }
}

/** The keys {@link KernelOptions} has (checked by {@link checkOptions}). */
export const KERNEL_OPTIONS: readonly string[] = [
  "cpus",
  "seed",
  "series",
  "followups",
  "variants",
  "cost",
];

/** Options for a kernel. */
export interface KernelOptions extends SeriesOptions {
  /** Number of simulated CPUs (default 2). */
  cpus?: number;
  /** PRNG seed (default 0). */
  seed?: number;
  /** Cost model (default: data/cost-models/default.json). */
  cost?: CostModel;
}

/** A per-kernel registry slot for subsystem state, created on first use. */
export type SubsystemKey<T> = { readonly name: string; readonly create: (k: Kernel) => T };

/** One simulated kernel. A machine owns exactly one. */
export class Kernel implements WarnHost {
  /** Simulated time. */
  readonly clock: Clock = new Clock();
  /** The cost model. */
  readonly cost: CostModel;
  /** The machine's PRNG. */
  readonly prng: Prng;
  /**
   * Whether the trace records: a plain field mirroring `trace.on`, so that a
   * disabled emit site costs one load and a branch (`if (k.tracing) ...`).
   */
  tracing = false;
  /** The trace. Off by default; set `trace.on = true` to record. */
  readonly trace: Trace<KernelEvent>;
  /** The scheduler. */
  readonly sched: Scheduler<Kernel>;
  /** Fault-injection points. */
  readonly faults: FaultInjector;
  /** The kernel log. */
  readonly dmesg: Dmesg;
  /** The series configuration the guards consult. */
  readonly series: Series;
  /** Taint flags set so far ("W", "D", "P", ...). */
  readonly taints: Set<string> = new Set();
  #nextId = 1;
  #subsystems = new Map<SubsystemKey<unknown>, unknown>();

  /**

   * Creates the object.

   * @param opts CPUs, seed, series, cost model.

   */
  constructor(opts: KernelOptions = {}) {
    checkOptions("create a kernel", opts, KERNEL_OPTIONS);
    this.series = new Series(opts);
    this.cost = opts.cost ?? loadCostModel();
    this.prng = new Prng(opts.seed ?? 0);
    this.dmesg = new Dmesg(() => this.clock.now);
    const cpus = opts.cpus ?? 2;
    this.sched = new Scheduler<Kernel>(this, this.clock, {
      cpus,
      gracePeriodNs: this.cost.get("rcu.gracePeriod"),
      contextSwitchNs: this.cost.get("sched.contextSwitch"),
    });
    this.trace = new Trace<KernelEvent>(this.clock, this.sched);
    this.sched.trace = this.trace;
    this.trace.onToggle = (on) => {
      this.tracing = on;
    };
    this.faults = new FaultInjector(this.prng.fork());
    this.faults.onInject = (f) => {
      if (this.trace.on) {
        this.trace.emit({
          kind: "log",
          op: "inject",
          text: `${f.point} #${f.call} from ${f.caller}`,
        });
      }
    };
    for (const [name, what] of FOUNDATION_FAULT_POINTS) this.faults.register(name, what);
    this.sched.hooks.onOops = (task, sig) => this.#printOops(task, sig);
    this.sched.hooks.onSwitch = (task) => {
      this.current = task;
      this.cpu = task === null ? 0 : task.cpu;
    };
    installExplainers(this);
  }

  /** Release string of the modelled tree. */
  get release(): string {
    const p = this.series.preset;
    return p === "v5.2" ? "5.2.0" : p === "v5.0" || this.series.level === 7 ? "5.0.0" : "4.20.0";
  }

  /** Current simulated time (ns). */
  get now(): number {
    return this.clock.now;
  }

  /** The running task (null outside any task): a field the scheduler updates at each switch. */
  current: Task | null = null;

  /**
   * The CPU the running code is on (smp_processor_id()); 0 outside any task.
   * A plain field the scheduler updates at each switch: hot paths read it.
   */
  cpu = 0;

  /** Number of simulated CPUs. */
  get nr_cpu_ids(): number {
    return this.sched.cpus;
  }

  /** Whether patch `n` of the series is applied (the guard for patch n's changes). */
  applied(n: number): boolean {
    return this.series.applied(n);
  }

  /** Whether follow-up `key` is applied. */
  fixed(key: Parameters<Series["fixed"]>[0]): boolean {
    return this.series.fixed(key);
  }

  /** Whether variant `key` is active. */
  variant(key: Parameters<Series["variant"]>[0]): boolean {
    return this.series.variant(key);
  }

  /** A fresh object id (refs, devices, pgmaps): deterministic per machine. */
  newId(): number {
    return this.#nextId++;
  }

  // a two-entry cache in front of the map: hot paths ask for the same one or two keys
  #key0: SubsystemKey<unknown> | null = null;
  #val0: unknown = null;
  #key1: SubsystemKey<unknown> | null = null;
  #val1: unknown = null;

  /** The state of a subsystem, created on first use (one per kernel; no module globals). */
  state<T>(key: SubsystemKey<T>): T {
    if (key === this.#key0) return this.#val0 as T;
    if (key === this.#key1) return this.#val1 as T;
    const v = this.#stateSlow(key);
    this.#key1 = this.#key0;
    this.#val1 = this.#val0;
    this.#key0 = key as SubsystemKey<unknown>;
    this.#val0 = v;
    return v;
  }

  #stateSlow<T>(key: SubsystemKey<T>): T {
    let s = this.#subsystems.get(key as SubsystemKey<unknown>);
    if (s === undefined) {
      s = key.create(this);
      this.#subsystems.set(key as SubsystemKey<unknown>, s);
    }
    return s as T;
  }

  /** "CPU: n PID: n Comm: x" of the current task. */
  get currentDesc(): { cpu: number; pid: number; comm: string } {
    const t = this.current;
    return t === null
      ? { cpu: 0, pid: 0, comm: "swapper/0" }
      : { cpu: t.cpu, pid: t.id, comm: t.name };
  }

  /** Adds a taint flag (kernel/panic.c add_taint). */
  taint(flag: string): void {
    this.taints.add(flag);
  }

  /** "Not tainted" or "Tainted: G        W   ...". */
  get taintText(): string {
    return taintText(this.taints);
  }

  /**
   * Oopses the current task: never returns. The scheduler kills the task (its
   * locks stay held), dmesg gets the oops text and the call trace, the kernel
   * is tainted "D", and the machine runs on.
   */
  oops(message: string): never {
    throw new OopsSignal(message, 1);
  }

  /** BUG(): "kernel BUG at <site>!" and an Oops. */
  BUG(site: string): never {
    throw new OopsSignal(`kernel BUG at ${site}!`, 1);
  }

  /** BUG_ON(cond). */
  BUG_ON(cond: boolean, site: string): void {
    if (cond) this.BUG(site);
  }

  #oopsCount = 0;
  #printOops(task: Task, sig: OopsSignal): void {
    this.#oopsCount++;
    const lines = formatOops(task, sig, "");
    this.dmesg.printk("alert", lines[0]!);
    this.dmesg.printk("warning", `Oops: 0000 [#${this.#oopsCount}] SMP PTI`);
    this.taint("D");
    this.dmesg.printk(
      "warning",
      `CPU: ${task.cpu} PID: ${task.id} Comm: ${task.name} ${this.taintText} ${this.release} #1`,
    );
    const top = sig.frames[0];
    if (top) this.dmesg.printk("warning", `RIP: 0010:${top.fn}+0x0/0x0`);
    for (const l of lines.slice(2)) this.dmesg.printk("warning", l);
    this.dmesg.printk("warning", `---[ end trace ${this.dmesg.nextTraceId()} ]---`);
    if (this.trace.on) this.trace.emit({ kind: "log", op: "oops", text: sig.message });
  }
}
