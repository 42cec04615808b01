/**
 * The kernel log: printk levels, WARN / WARN_ONCE / WARN_ON, taint, and the
 * text of an Oops — formatted like the real ones (kernel/printk, kernel/panic.c,
 * lib/bug.c), with simulated timestamps and simulated call traces.
 *
 * @module
 */
import { callChain, formatCallTrace } from "../sim/callchain.ts";

/** printk log levels. */
export type LogLevel = "emerg" | "alert" | "crit" | "err" | "warning" | "notice" | "info" | "debug";

/** One line of dmesg. */
export interface LogLine {
  /** Simulated time, ns. */
  t: number;
  /** Log level. */
  level: LogLevel;
  /** The message, without timestamp. */
  text: string;
}

/** Taint flags in print order (kernel/panic.c taint_flags, v4.20). */
const TAINT_ORDER = "PFSRMBUDAWCIOELKXT";

/** What WARN needs from the kernel. */
export interface WarnHost {
  /** The log. */
  readonly dmesg: Dmesg;
  /** Current simulated time. */
  readonly now: number;
  /** The current task's "CPU: n PID: n" and comm. */
  readonly currentDesc: { cpu: number; pid: number; comm: string };
  /** Adds a taint flag. */
  taint(flag: string): void;
  /** Taint text: "Not tainted" or "Tainted: G        W ". */
  readonly taintText: string;
  /** Release string ("4.20.0", "5.0.0", ...). */
  readonly release: string;
}

/** The kernel log buffer of one machine. */
export class Dmesg {
  /** Every line, in order. */
  readonly lines: LogLine[] = [];
  #clockNow: () => number;
  #warnedOnce = new Set<string>();
  #traceId = 0x7e3a1c2b9d4f5061n;

  /**

   * Creates the object.

   * @param now reads the simulated clock.

   */
  constructor(now: () => number) {
    this.#clockNow = now;
  }

  /** printk at `level`; multi-line text becomes several lines. */
  printk(level: LogLevel, text: string): void {
    const t = this.#clockNow();
    for (const line of text.split("\n")) this.lines.push({ t, level, text: line });
  }

  /** Lines containing `needle` (string or RegExp). */
  grep(needle: string | RegExp): LogLine[] {
    return this.lines.filter((l) =>
      typeof needle === "string" ? l.text.includes(needle) : needle.test(l.text)
    );
  }

  /** The log as `dmesg` prints it: "[    1.000123] text". */
  toString(): string {
    return this.lines.map((l) => `${stamp(l.t)} ${l.text}`).join("\n");
  }

  /** @internal once-per-site bookkeeping for WARN_ONCE. */
  firstAt(site: string): boolean {
    if (this.#warnedOnce.has(site)) return false;
    this.#warnedOnce.add(site);
    return true;
  }

  /** @internal the next "---[ end trace ... ]---" id. */
  nextTraceId(): string {
    this.#traceId = (this.#traceId * 6364136223846793005n + 1442695040888963407n) &
      0xffffffffffffffffn;
    return this.#traceId.toString(16).padStart(16, "0");
  }
}

/** "[    1.000123]" for t in ns. */
export function stamp(t: number): string {
  const us = Math.floor(t / 1000);
  const s = Math.floor(us / 1_000_000);
  return `[${String(s).padStart(5, " ")}.${String(us % 1_000_000).padStart(6, "0")}]`;
}

/** Formats the taint line part as kernel/panic.c print_tainted() does. */
export function taintText(flags: ReadonlySet<string>): string {
  if (flags.size === 0) return "Not tainted";
  let s = "Tainted: ";
  for (const f of TAINT_ORDER) {
    if (f === "P") s += flags.has("P") ? "P" : "G";
    else s += flags.has(f) ? f : " ";
  }
  return s;
}

function emitWarning(k: WarnHost, msg: string | null, skip: number): void {
  const frames = callChain(skip + 1);
  const top = frames[0];
  if (msg !== null) {
    k.dmesg.printk("warning", "------------[ cut here ]------------");
    k.dmesg.printk("warning", msg);
  } else {
    k.dmesg.printk("warning", "------------[ cut here ]------------");
  }
  const cur = k.currentDesc;
  const where = top ? `${top.file}:${top.line} ${top.fn}+0x0/0x0` : "unknown";
  k.dmesg.printk("warning", `WARNING: CPU: ${cur.cpu} PID: ${cur.pid} at ${where}`);
  k.taint("W");
  k.dmesg.printk(
    "warning",
    `CPU: ${cur.cpu} PID: ${cur.pid} Comm: ${cur.comm} ${k.taintText} ${k.release} #1`,
  );
  for (const l of formatCallTrace(frames)) k.dmesg.printk("warning", l);
  k.dmesg.printk("warning", `---[ end trace ${k.dmesg.nextTraceId()} ]---`);
}

/** WARN(cond, fmt): prints the message and a warning with the call trace; returns `cond`. */
export function WARN(k: WarnHost, cond: boolean, msg: string): boolean {
  if (cond) emitWarning(k, msg, 1);
  return cond;
}

/** WARN_ON(cond): a warning without a message; returns `cond`. */
export function WARN_ON(k: WarnHost, cond: boolean): boolean {
  if (cond) emitWarning(k, null, 1);
  return cond;
}

/** WARN_ONCE(cond, fmt): like WARN, but once per call site per boot; returns `cond`. */
export function WARN_ONCE(k: WarnHost, cond: boolean, msg: string): boolean {
  if (cond && k.dmesg.firstAt(siteOf())) emitWarning(k, msg, 1);
  return cond;
}

/** WARN_ON_ONCE(cond): like WARN_ON, once per call site per boot; returns `cond`. */
export function WARN_ON_ONCE(k: WarnHost, cond: boolean): boolean {
  if (cond && k.dmesg.firstAt(siteOf())) emitWarning(k, null, 1);
  return cond;
}

/** The caller's caller's JS location: one WARN_ONCE site. */
function siteOf(): string {
  const st = new Error().stack?.split("\n")[3] ?? "";
  return st.trim();
}

/** pr_err. */
export function pr_err(k: { dmesg: Dmesg }, msg: string): void {
  k.dmesg.printk("err", msg);
}

/** pr_warn. */
export function pr_warn(k: { dmesg: Dmesg }, msg: string): void {
  k.dmesg.printk("warning", msg);
}

/** pr_info. */
export function pr_info(k: { dmesg: Dmesg }, msg: string): void {
  k.dmesg.printk("info", msg);
}

/** pr_debug (always recorded; the model has dynamic debug on). */
export function pr_debug(k: { dmesg: Dmesg }, msg: string): void {
  k.dmesg.printk("debug", msg);
}
