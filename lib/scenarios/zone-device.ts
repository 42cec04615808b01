/**
 * Shared pieces of the devm_memremap_pages scenarios (SCENARIOS.md 1-9, 33):
 * the series points they iterate, a pgmap with a live ref whose kill and
 * cleanup are counted, and a one-line-per-step summary of a trace.
 *
 * @module
 */
import { complete, Completion, wait_for_completion } from "../kernel/completion.ts";
import { errname, IS_ERR, PTR_ERR } from "../kernel/errno.ts";
import type { KernelEvent } from "../kernel/events.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { MemremapResult } from "../kernel/memremap.ts";
import { pgmapArray } from "../kernel/memremap.ts";
import { __va } from "../kernel/mm/init-64.ts";
import { DevPagemap, type MemoryType } from "../kernel/mm/types.ts";
import {
  percpu_ref_exit,
  percpu_ref_init,
  percpu_ref_kill,
  PercpuRef,
} from "../kernel/percpu-refcount.ts";
import { xaEntries } from "../kernel/xarray.ts";
import type { PresetName } from "../series.ts";
import type { Traced } from "../sim/trace.ts";
import type { KGen } from "../sim/task.ts";

/** A point of the series: a patch level or a preset. */
export type SeriesPoint = number | PresetName;

/** Every level and preset, in order: 0..7, "v4.20", "v5.0", "v5.2". */
export const ALL_SERIES: readonly SeriesPoint[] = [0, 1, 2, 3, 4, 5, 6, 7, "v4.20", "v5.0", "v5.2"];

/** 1 MiB. */
export const MiB = 2 ** 20;
/** 1 GiB. */
export const GiB = 2 ** 30;
/** One x86_64 memory section, 128 MiB. */
export const SECTION = 2 ** 27;
/** The scenarios' device ranges start here: 16 GiB, section aligned, far from RAM. */
export const DEVICE_BASE = 16 * GiB;

/** A pgmap with a live ref whose release completes `done`, and counted kill / cleanup callbacks. */
export interface TestPgmap {
  /** The pgmap. */
  pgmap: DevPagemap;
  /** Its ref (percpu mode, count 1). */
  ref: PercpuRef;
  /** Completed by the ref's release. */
  done: Completion;
  /** Calls of pgmap->kill. */
  kills: number;
  /** Calls of pgmap->cleanup. */
  cleanups: number;
}

/**
 * A pgmap over [start, start + size) with a fresh live ref. `kill` and
 * `cleanup` (percpu_ref_kill; wait for `done`, then percpu_ref_exit) are set
 * as the series point has them unless the options say otherwise: kill from
 * patch 3/7, cleanup with 50f44ee7248a.
 */
export function testPgmap(
  k: Kernel,
  start: number,
  size: number,
  opts: { type?: MemoryType; ref?: boolean; kill?: boolean; cleanup?: boolean } = {},
): TestPgmap {
  const pgmap = new DevPagemap();
  pgmap.res = { start, end: start + size - 1 };
  pgmap.type = opts.type ?? 0;
  const ref = new PercpuRef();
  const done = new Completion(`pgmap@${start.toString(16)} ref`);
  done.completer = ref;
  percpu_ref_init(
    k,
    ref,
    function test_pgmap_release() {
      complete(k, done);
    },
    0,
    0,
  );
  const t: TestPgmap = { pgmap, ref, done, kills: 0, cleanups: 0 };
  if (opts.ref ?? true) pgmap.ref = ref;
  if (opts.kill ?? k.applied(3)) {
    pgmap.kill = function test_pgmap_kill(kk, r) {
      t.kills++;
      percpu_ref_kill(kk, r);
    };
  }
  if (opts.cleanup ?? k.fixed("50f44ee7248a")) {
    pgmap.cleanup = function* test_pgmap_cleanup(kk, r): KGen<void> {
      t.cleanups++;
      yield* wait_for_completion(kk, done);
      percpu_ref_exit(kk, r);
    };
  }
  return t;
}

/** "__va(res.start)" when `r` is the direct-map address of `start`, "-ENOMEM" for an ERR_PTR, else the hex address. */
export function describeResult(k: Kernel, r: MemremapResult, start: number): string {
  if (IS_ERR(r)) return errname(PTR_ERR(r));
  return r === __va(k, start) ? "__va(res.start)" : `0x${r.toString(16)}`;
}

/** Number of multi-index entries in the kernel's pgmap_array (0 = no pfn → pgmap lookup entries). */
export function arrayEntries(k: Kernel): number {
  let n = 0;
  for (const _ of xaEntries(pgmapArray(k))) n++;
  return n;
}

/** The WARN text lines (the line after each "cut here") in dmesg. */
export function warnings(k: Kernel): string[] {
  const out: string[] = [];
  const lines = k.dmesg.lines;
  for (let i = 0; i + 1 < lines.length; i++) {
    if (lines[i]!.text.includes("[ cut here ]") && !lines[i + 1]!.text.startsWith("WARNING:")) {
      out.push(lines[i + 1]!.text);
    }
  }
  return out;
}

/**
 * One label per event that matters to a teardown story, in trace order:
 * "memremap <op>", "ref <op>" (percpu_ref kill / release / exit /
 * tryget_fail), "page put ×n → c" (consecutive puts to the same count
 * merged), "page_free <pfn>", "sections removed",
 * "untrack_pfn", "devres <action>", "oops".
 */
export function teardownSteps(events: readonly Traced<KernelEvent>[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    switch (e.kind) {
      case "memremap":
        out.push(`memremap ${e.op}`);
        break;
      case "percpu_ref":
        if (e.op === "kill" || e.op === "release" || e.op === "exit" || e.op === "tryget_fail") {
          out.push(`ref ${e.op}`);
        }
        break;
      case "page_ref":
        if (e.op === "put") {
          // consecutive puts to the same count merge into one step
          const m = /^page put ×(\d+) → (-?\d+)$/.exec(out[out.length - 1] ?? "");
          if (m !== null && Number(m[2]) === e.count) {
            out[out.length - 1] = `page put ×${Number(m[1]) + e.n} → ${e.count}`;
          } else out.push(`page put ×${e.n} → ${e.count}`);
        } else if (e.op === "page_free") out.push(`page_free ${e.pfn}`);
        break;
      case "section":
        if (e.op === "remove") out.push("sections removed");
        break;
      case "hotplug":
        if (e.op === "pat_untrack") out.push("untrack_pfn");
        break;
      case "devres":
        if (e.op === "release") out.push(`devres ${e.name}`);
        break;
      case "log":
        if (e.op === "oops") out.push("oops");
        break;
    }
  }
  return out;
}

/** The index of the first step starting with `prefix` (-1 if none). */
export function stepAt(steps: readonly string[], prefix: string): number {
  return steps.findIndex((s) => s.startsWith(prefix));
}

/** Two 32-bit hashes (FNV-1a and djb2) of the trace as JSON, hex: equal for bit-identical traces. */
export function traceHash(events: readonly Traced<KernelEvent>[]): string {
  let a = 0x811c9dc5, b = 5381;
  for (const e of events) {
    const s = JSON.stringify(e);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = (Math.imul(b, 33) + c) | 0;
    }
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}
