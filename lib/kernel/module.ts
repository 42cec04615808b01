/**
 * Loadable modules and exported symbols (kernel/module.c,
 * include/linux/license.h, include/linux/export.h, v4.20).
 *
 * Each kernel has a symbol table: the symbols vmlinux exports and those of
 * each loaded module, each with its licence class — EXPORT_SYMBOL (any
 * module), EXPORT_SYMBOL_GPL (GPL-compatible modules only) or
 * EXPORT_SYMBOL_GPL_FUTURE (anyone, with a warning for non-GPL users). Which
 * symbols exist and how they are exported depends on the series level; the
 * code that wires the series calls the EXPORT_* functions and
 * {@link unexport_symbol} to set the table up.
 *
 * {@link load_module} follows the v4.20 order: modinfo checks (out-of-tree
 * and licence taints), reserving the name (-EEXIST), resolving every
 * undefined symbol (one "Unknown symbol" line each; the last error is
 * returned, -ENOENT for a missing or GPL-only symbol), verifying the module's
 * own exports, then init. A module whose licence is not GPL-compatible taints
 * the kernel "P" before any symbol is resolved, so it sees no GPL-only symbol;
 * the taint stays even if the load then fails. Loading and unloading run as
 * one atomic step (module_mutex and the RCU-sched syncs are not modelled);
 * init and exit are plain functions. Module signing is not modelled.
 *
 * @module
 */
import { EAGAIN, EBUSY, EEXIST, ENOENT, ENOEXEC } from "./errno.ts";
import type { Kernel, SubsystemKey } from "./kernel.ts";
import { pr_debug, pr_err, pr_warn } from "./printk.ts";

/** The licence class of an exported symbol (enum in struct symsearch). */
export type SymbolLicence = "NOT_GPL_ONLY" | "GPL_ONLY" | "WILL_BE_GPL_ONLY";

/** One exported symbol: struct kernel_symbol plus where it was found. */
export interface KernelSymbol {
  /** Symbol name. */
  readonly name: string;
  /** How it is exported. */
  readonly licence: SymbolLicence;
  /** The module exporting it; null for vmlinux. */
  readonly owner: Module | null;
}

/** enum module_state. */
export type ModuleState = "LIVE" | "COMING" | "GOING" | "UNFORMED";

/** What a module is made of: its .modinfo, its undefined symbols, its exports and its init/exit. */
export interface ModuleInfo {
  /** Module name (KBUILD_MODNAME). */
  name: string;
  /** MODULE_LICENSE; absent means no license tag ("unspecified"). */
  license?: string;
  /** Undefined symbols it references, in symbol-table order. */
  imports?: readonly string[];
  /** Symbols it exports with EXPORT_SYMBOL. */
  exports?: readonly string[];
  /** Symbols it exports with EXPORT_SYMBOL_GPL. */
  exportsGpl?: readonly string[];
  /** Symbols it exports with EXPORT_SYMBOL_GPL_FUTURE. */
  exportsGplFuture?: readonly string[];
  /** Whether it was built in-tree (modinfo "intree"); default true. Out-of-tree taints "O". */
  intree?: boolean;
  /** module_init: 0 or -errno; runs when the module is formed. */
  init?: (k: Kernel) => number;
  /** module_exit. A module with init but no exit cannot be unloaded. */
  exit?: (k: Kernel) => void;
}

/** struct module (the parts the model uses). */
export class Module {
  /** Name. */
  readonly name: string;
  /** The license string ("unspecified" when none was given). */
  readonly license: string;
  /** Lifecycle state. */
  state: ModuleState = "UNFORMED";
  /** Taint flags this module caused ("P", "O"). */
  readonly taints: Set<string> = new Set();
  /** References held on this module (module_refcount): users of its symbols and try_module_get. */
  refcnt = 0;
  /** Modules using this one's symbols (source_list). */
  readonly usedBy: Module[] = [];
  /** Modules whose symbols this one uses (target_list). */
  readonly uses: Module[] = [];
  /** Its exported symbols, by name. */
  readonly syms: Map<string, KernelSymbol> = new Map();
  /** module_init. */
  readonly init: ((k: Kernel) => number) | null;
  /** module_exit. */
  readonly exit: ((k: Kernel) => void) | null;

  /**
   * A module not yet loaded (load_module creates it).
   *
   * @param info the module's description.
   */
  constructor(info: ModuleInfo) {
    this.name = info.name;
    this.license = info.license ?? "unspecified";
    this.init = info.init ?? null;
    this.exit = info.exit ?? null;
  }
}

interface ModuleTable {
  /** vmlinux's exports. */
  vmlinux: Map<string, KernelSymbol>;
  /** Loaded modules, newest first (list_add_rcu at the head of `modules`). */
  modules: Module[];
  /** lib/debug_locks.c debug_locks. */
  debugLocks: boolean;
}

const MODULES: SubsystemKey<ModuleTable> = {
  name: "module",
  create: () => ({ vmlinux: new Map(), modules: [], debugLocks: true }),
};

/**
 * license_is_gpl_compatible(license) (include/linux/license.h, v4.20): true
 * exactly for "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
 * "Dual MIT/GPL" and "Dual MPL/GPL" (compared as whole, case-sensitive strings).
 *
 * @example
 * ```ts
 * import { license_is_gpl_compatible } from "./module.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(license_is_gpl_compatible("Dual BSD/GPL"), true);
 * assertEquals(license_is_gpl_compatible("Proprietary"), false);
 * assertEquals(license_is_gpl_compatible("GPLv2"), false);
 * ```
 */
export function license_is_gpl_compatible(license: string): boolean {
  return license === "GPL" ||
    license === "GPL v2" ||
    license === "GPL and additional rights" ||
    license === "Dual BSD/GPL" ||
    license === "Dual MIT/GPL" ||
    license === "Dual MPL/GPL";
}

function checkName(what: string, name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0 || /\s/.test(name)) {
    throw new TypeError(`Cannot ${what}: ${JSON.stringify(name)} is not a symbol or module name`);
  }
}

function exportSymbol(
  k: Kernel,
  name: string,
  licence: SymbolLicence,
  owner: string | undefined,
): void {
  checkName("export a symbol", name);
  const t = k.state(MODULES);
  let mod: Module | null = null;
  if (owner !== undefined) {
    mod = find_module(k, owner);
    if (mod === null) {
      throw new RangeError(`Cannot export ${name} from module ${owner}: no such module is loaded`);
    }
  }
  const existing = t.vmlinux.get(name) ?? t.modules.find((m) => m.syms.has(name))?.syms.get(name);
  if (existing !== undefined && existing.owner !== mod) {
    throw new RangeError(
      `Cannot export ${name} from ${mod?.name ?? "vmlinux"}: it is already exported by ${
        existing.owner?.name ?? "vmlinux"
      }`,
    );
  }
  (mod === null ? t.vmlinux : mod.syms).set(name, { name, licence, owner: mod });
}

/**
 * EXPORT_SYMBOL(sym): exports `name` to every module, from vmlinux or from
 * the loaded module `owner`. Exporting it again with another macro changes
 * its licence (the source at another series level); exporting a name
 * another owner exports throws.
 *
 * @example A proprietary module sees EXPORT_SYMBOL symbols, not EXPORT_SYMBOL_GPL ones
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { EXPORT_SYMBOL, EXPORT_SYMBOL_GPL, load_module } from "./module.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * EXPORT_SYMBOL(k, "get_dev_pagemap");
 * EXPORT_SYMBOL_GPL(k, "devm_memremap_pages");
 * assertEquals(load_module(k, { name: "blob", license: "Proprietary", imports: ["get_dev_pagemap"] }), 0);
 * assertEquals(load_module(k, { name: "blob2", license: "Proprietary", imports: ["devm_memremap_pages"] }), -2);
 * assertEquals(k.dmesg.grep("Unknown symbol").map((l) => l.text), ["blob2: Unknown symbol devm_memremap_pages (err -2)"]);
 * ```
 */
export function EXPORT_SYMBOL(k: Kernel, name: string, owner?: string): void {
  exportSymbol(k, name, "NOT_GPL_ONLY", owner);
}

/** EXPORT_SYMBOL_GPL(sym): exports `name` to GPL-compatible modules only. See {@link EXPORT_SYMBOL}. */
export function EXPORT_SYMBOL_GPL(k: Kernel, name: string, owner?: string): void {
  exportSymbol(k, name, "GPL_ONLY", owner);
}

/**
 * EXPORT_SYMBOL_GPL_FUTURE(sym): exports `name` to every module; a non-GPL
 * module using it gets "Symbol <sym> is being used by a non-GPL module, which
 * will not be allowed in the future". See {@link EXPORT_SYMBOL}.
 */
export function EXPORT_SYMBOL_GPL_FUTURE(k: Kernel, name: string, owner?: string): void {
  exportSymbol(k, name, "WILL_BE_GPL_ONLY", owner);
}

/**
 * Removes `name` from the symbol table (simulator: the symbol does not exist
 * at this series level). Modules already linked against it keep working.
 * Returns whether it was exported.
 */
export function unexport_symbol(k: Kernel, name: string): boolean {
  const t = k.state(MODULES);
  if (t.vmlinux.delete(name)) return true;
  for (const m of t.modules) if (m.syms.delete(name)) return true;
  return false;
}

/** Every exported symbol: vmlinux's first, then each loaded module's, newest module first. */
export function exportedSymbols(k: Kernel): KernelSymbol[] {
  const t = k.state(MODULES);
  return [...t.vmlinux.values(), ...t.modules.flatMap((m) => [...m.syms.values()])];
}

/**
 * find_symbol(name, owner, crc, gplok, warn) (kernel/module.c): searches
 * vmlinux's tables, then each formed module's, newest first. With `gplok`
 * false a GPL_ONLY symbol does not match (the search goes on and fails);
 * with `warn`, a WILL_BE_GPL_ONLY match for a non-GPL caller prints the
 * "will not be allowed in the future" warning. Returns the symbol, or NULL
 * after pr_debug "Failed to find symbol <name>". The out-parameters `owner`
 * and `crc` are left out: the symbol's `owner` is the kernel's *owner, and
 * the model has no symbol versions (CONFIG_MODVERSIONS).
 */
export function find_symbol(
  k: Kernel,
  name: string,
  gplok: boolean,
  warn: boolean,
): KernelSymbol | null {
  const t = k.state(MODULES);
  const check = (sym: KernelSymbol | undefined): KernelSymbol | null => {
    if (sym === undefined) return null;
    if (!gplok) {
      if (sym.licence === "GPL_ONLY") return null;
      if (sym.licence === "WILL_BE_GPL_ONLY" && warn) {
        pr_warn(
          k,
          `Symbol ${name} is being used by a non-GPL module, which will not be allowed in the future`,
        );
      }
    }
    return sym;
  };
  let found = check(t.vmlinux.get(name));
  for (let i = 0; found === null && i < t.modules.length; i++) {
    const m = t.modules[i]!;
    if (m.state === "UNFORMED") continue;
    found = check(m.syms.get(name));
  }
  if (found === null) pr_debug(k, `Failed to find symbol ${name}`);
  return found;
}

/** find_module(name) (kernel/module.c): the formed module called `name`, or null. */
export function find_module(k: Kernel, name: string): Module | null {
  return k.state(MODULES).modules.find((m) => m.name === name && m.state !== "UNFORMED") ?? null;
}

/** The loaded modules, newest first (the order of /proc/modules). */
export function loadedModules(k: Kernel): readonly Module[] {
  return k.state(MODULES).modules.filter((m) => m.state !== "UNFORMED");
}

/** module_refcount(mod): references held on `mod`. */
export function module_refcount(mod: Module): number {
  return mod.refcnt;
}

/** try_module_get(mod): takes a reference unless the module is going away; NULL (vmlinux) always succeeds. */
export function try_module_get(mod: Module | null): boolean {
  if (mod === null) return true;
  if (mod.state === "GOING" || mod.state === "UNFORMED") return false;
  mod.refcnt++;
  return true;
}

/** module_put(mod): drops a reference taken by try_module_get. */
export function module_put(mod: Module | null): void {
  if (mod === null) return;
  if (mod.refcnt <= 0) {
    throw new RangeError(`Cannot put module ${mod.name}: it holds no reference`);
  }
  mod.refcnt--;
}

/**
 * __debug_locks_off() (include/linux/debug_locks.h): turns lock debugging
 * off and returns the old value of debug_locks — 1 if it was on, 0 if not
 * (`xchg(&debug_locks, 0)`). Every kernel starts with it on.
 */
export function __debug_locks_off(k: Kernel): number {
  const t = k.state(MODULES);
  const was = t.debugLocks;
  t.debugLocks = false;
  return was ? 1 : 0;
}

/**
 * add_taint_module(mod, flag, lockdep_ok) (kernel/module.c + add_taint in
 * kernel/panic.c): taints the kernel and the module; a taint that makes
 * lockdep unreliable ("P") turns lock debugging off, printing "Disabling lock
 * debugging due to kernel taint" the first time.
 */
function add_taint_module(
  k: Kernel,
  mod: Module,
  flag: string,
  lockdepNowUnreliable: boolean,
): void {
  if (lockdepNowUnreliable && __debug_locks_off(k)) {
    pr_warn(k, "Disabling lock debugging due to kernel taint");
  }
  k.taint(flag);
  mod.taints.add(flag);
}

/** ref_module(a, b): records that `a` uses `b` and pins `b`. 0, -EBUSY while `b` is coming, -ENOENT if going. */
function ref_module(a: Module, b: Module | null): number {
  if (b === null || a.uses.includes(b)) return 0;
  if (b.state === "COMING") return -EBUSY;
  if (!try_module_get(b)) return -ENOENT;
  b.usedBy.push(a);
  a.uses.push(b);
  return 0;
}

/** module_unload_free(mod): drops the references `mod` holds on the modules it uses. */
function module_unload_free(mod: Module): void {
  for (const b of mod.uses) {
    b.usedBy.splice(b.usedBy.indexOf(mod), 1);
    module_put(b);
  }
  mod.uses.length = 0;
}

function unlink(k: Kernel, mod: Module): void {
  const list = k.state(MODULES).modules;
  const i = list.indexOf(mod);
  if (i >= 0) list.splice(i, 1);
}

function emit(
  k: Kernel,
  op: "load" | "load_failed" | "unknown_symbol" | "unload",
  mod: string,
  symbol: string,
  ret: number,
): void {
  k.trace.emit({ kind: "module", op, module: mod, symbol, ret });
}

function checkInfo(info: ModuleInfo): void {
  if (typeof info !== "object" || info === null) {
    throw new TypeError("Cannot load a module: expected { name, license, imports, ... }");
  }
  checkName("load a module", info.name);
  if (info.license !== undefined && typeof info.license !== "string") {
    throw new TypeError(`Cannot load module ${info.name}: license must be a string`);
  }
  for (const key of ["imports", "exports", "exportsGpl", "exportsGplFuture"] as const) {
    const v = info[key];
    if (v === undefined) continue;
    if (!Array.isArray(v)) {
      throw new TypeError(`Cannot load module ${info.name}: ${key} must be an array of names`);
    }
    for (const s of v) checkName(`load module ${info.name} (${key})`, s);
  }
}

/**
 * load_module(info, uargs, flags) (kernel/module.c, v4.20), for a module
 * described by `info` (the model's struct load_info: what the ELF image
 * says); `uargs` (module parameters) and `flags` (MODULE_INIT_IGNORE_*,
 * finit_module's) are left out — the model's modules take no parameters
 * and carry no version magic to ignore. In order:
 * 1. check_modinfo: no "intree" tag → "<mod>: loading out-of-tree module
 *    taints kernel." (once per boot) and taint "O"; set_license: a licence
 *    that is not GPL-compatible → "<mod>: module license '<lic>' taints
 *    kernel." (once per boot) and taint "P", with "Disabling lock debugging
 *    due to kernel taint" the first time lock debugging is turned off.
 * 2. A formed module of the same name → -EEXIST.
 * 3. simplify_symbols: each import is resolved with find_symbol (GPL-only
 *    symbols are invisible to a "P"-tainted module); each one that fails
 *    prints "<mod>: Unknown symbol <sym> (err <n>)" — n is -2 (-ENOENT) for
 *    a missing or GPL-only symbol — and the load fails with the last error.
 *    A resolved symbol of another module pins that module.
 * 4. verify_export_symbols: exporting a name already exported →
 *    "<mod>: exports duplicate symbol <sym> (owned by <owner>)", -ENOEXEC.
 * 5. do_init_module: init's negative return fails the load with it; a
 *    positive one is warned about and the module loads anyway.
 * Returns 0 with the module LIVE, or the -errno; the taints stay either way.
 *
 * @example A proprietary module importing a GPL-only symbol
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * import { EXPORT_SYMBOL_GPL, load_module } from "./module.ts";
 * import { assertEquals } from "@std/assert";
 * const k = new Kernel({ seed: 1 });
 * EXPORT_SYMBOL_GPL(k, "devm_memremap_pages");
 * const rc = load_module(k, { name: "nvblob", license: "Proprietary", imports: ["devm_memremap_pages"] });
 * assertEquals(rc, -2);
 * assertEquals(k.dmesg.lines.filter((l) => l.level !== "debug").map((l) => l.text), [
 *   "nvblob: module license 'Proprietary' taints kernel.",
 *   "Disabling lock debugging due to kernel taint",
 *   "nvblob: Unknown symbol devm_memremap_pages (err -2)",
 * ]);
 * assertEquals(k.taints.has("P"), true);
 * ```
 */
export function load_module(k: Kernel, info: ModuleInfo): number {
  checkInfo(info);
  const t = k.state(MODULES);
  const mod = new Module(info);
  // check_modinfo (from layout_and_allocate)
  if (info.intree === false) {
    if (!k.taints.has("O")) pr_warn(k, `${mod.name}: loading out-of-tree module taints kernel.`);
    add_taint_module(k, mod, "O", false);
  }
  if (!license_is_gpl_compatible(mod.license)) {
    if (!k.taints.has("P")) {
      pr_warn(k, `${mod.name}: module license '${mod.license}' taints kernel.`);
    }
    add_taint_module(k, mod, "P", true);
  }
  // add_unformed_module
  if (t.modules.some((m) => m.name === mod.name)) return fail(k, mod, -EEXIST, false);
  t.modules.unshift(mod);
  // simplify_symbols
  let ret = 0;
  for (const name of info.imports ?? []) {
    const sym = find_symbol(k, name, !mod.taints.has("P"), true);
    const err = sym === null ? -ENOENT : ref_module(mod, sym.owner);
    if (err === 0) continue;
    ret = err;
    pr_warn(k, `${mod.name}: Unknown symbol ${name} (err ${ret})`);
    if (k.trace.on) emit(k, "unknown_symbol", mod.name, name, ret);
  }
  if (ret < 0) return fail(k, mod, ret, true);
  // complete_formation: verify_export_symbols, then the module is COMING.
  const own: [readonly string[] | undefined, SymbolLicence][] = [
    [info.exports, "NOT_GPL_ONLY"],
    [info.exportsGpl, "GPL_ONLY"],
    [info.exportsGplFuture, "WILL_BE_GPL_ONLY"],
  ];
  for (const [names, licence] of own) {
    for (const name of names ?? []) {
      const other = find_symbol(k, name, true, false);
      if (other !== null || mod.syms.has(name)) {
        const owner = other === null ? mod.name : other.owner?.name ?? "kernel";
        pr_err(k, `${mod.name}: exports duplicate symbol ${name} (owned by ${owner})`);
        return fail(k, mod, -ENOEXEC, true);
      }
      mod.syms.set(name, { name, licence, owner: mod });
    }
  }
  mod.state = "COMING";
  // do_init_module
  const rc = mod.init === null ? 0 : mod.init(k);
  if (rc < 0) return fail(k, mod, rc, true);
  if (rc > 0) {
    pr_warn(
      k,
      `do_init_module: '${mod.name}'->init suspiciously returned ${rc}, it should follow 0/-E convention\n` +
        "do_init_module: loading module anyway...",
    );
  }
  mod.state = "LIVE";
  if (k.trace.on) emit(k, "load", mod.name, "", 0);
  return 0;
}

function fail(k: Kernel, mod: Module, err: number, linked: boolean): number {
  mod.state = "GOING";
  if (linked) {
    module_unload_free(mod);
    unlink(k, mod);
  }
  if (k.trace.on) emit(k, "load_failed", mod.name, "", err);
  return err;
}

/**
 * `insmod`: {@link load_module} plus the kernel log lines it printed (all
 * levels), for notebooks and scenarios.
 */
export function insmod(k: Kernel, info: ModuleInfo): { ret: number; log: string[] } {
  const before = k.dmesg.lines.length;
  const ret = load_module(k, info);
  return { ret, log: k.dmesg.lines.slice(before).map((l) => l.text) };
}

/**
 * delete_module(name, flags) (kernel/module.c): -ENOENT if no such module;
 * -EWOULDBLOCK (-EAGAIN) while other modules use its symbols or references
 * are held; -EBUSY if it is not live, or has init but no exit. Otherwise
 * runs exit, drops the references it holds and removes it with its exports;
 * 0. Forced unload (O_TRUNC) is not modelled, so `flags` is left out.
 */
export function delete_module(k: Kernel, name: string): number {
  const mod = find_module(k, name);
  let ret = 0;
  if (mod === null) ret = -ENOENT;
  else if (mod.usedBy.length > 0) ret = -EAGAIN;
  else if (mod.state !== "LIVE") ret = -EBUSY;
  else if (mod.init !== null && mod.exit === null) ret = -EBUSY;
  else if (mod.refcnt !== 0) ret = -EAGAIN;
  if (ret !== 0 || mod === null) return ret;
  mod.state = "GOING";
  mod.exit?.(k);
  module_unload_free(mod);
  unlink(k, mod);
  if (k.trace.on) emit(k, "unload", mod.name, "", 0);
  return 0;
}
