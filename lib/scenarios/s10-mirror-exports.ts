/**
 * Scenario 10 (SCENARIOS.md), the mirror and migration part: the v4.20
 * mirror and fault APIs and migrate_vma are EXPORT_SYMBOL (mm/hmm.c,
 * mm/migrate.c — verified in v4.20 and v5.0; the series did not touch them),
 * so a non-GPL module resolves them at every level, while the four
 * device-memory symbols fail once their patch made them GPL-only. The later
 * APIs (hmm_range_fault v5.2, migrate_vma_setup v5.4, make_device_exclusive
 * v5.14, migrate_device_range v6.1) do not exist at any level.
 *
 * @module
 */
import { createMachine } from "../machine.ts";
import type { SeriesOptions } from "../series.ts";
import { export_kernel_symbols } from "../kernel/exports.ts";
import { insmod, load_module } from "../kernel/module.ts";
import { DEVMEM_SYMBOLS } from "./s10-export-matrix.ts";

/** The mirror, fault and migration entry points of the 2018 API. */
export const MIRROR_SYMBOLS: readonly string[] = [
  "hmm_mirror_register",
  "hmm_vma_get_pfns",
  "hmm_vma_fault",
  "migrate_vma",
];

/** Later HMM/migration APIs: absent from every tree the series describes. */
export const LATER_SYMBOLS: readonly string[] = [
  "hmm_range_fault",
  "migrate_vma_setup",
  "make_device_exclusive",
  "migrate_device_range",
];

/** What loading the modules of scenario 10 (mirror part) gives at one series point. */
export interface MirrorExports {
  /** The series label. */
  series: string;
  /** Symbols a proprietary module importing the four device-memory and the four mirror symbols could not resolve. */
  proprietaryUnknown: string[];
  /** A GPL module importing all eight: load_module's result. */
  gplRet: number;
  /** Per later symbol: whether any module (even GPL) can resolve it. */
  later: Record<string, boolean>;
}

/** Scenario 10's mirror rows at one series point. */
export function mirrorExports(series: SeriesOptions["series"]): MirrorExports {
  const m = createMachine(series === undefined ? {} : { series });
  const k = m.k;
  export_kernel_symbols(k);
  const all = [...DEVMEM_SYMBOLS, ...MIRROR_SYMBOLS];
  const blob = insmod(k, { name: "gpu_blob", license: "Proprietary", imports: all });
  const proprietaryUnknown = blob.log.flatMap((l) => {
    const x = /^gpu_blob: Unknown symbol (\S+) /.exec(l);
    return x === null ? [] : [x[1]!];
  });
  const gplRet = load_module(k, { name: "gpu_gpl", license: "GPL", imports: all });
  const later: Record<string, boolean> = {};
  LATER_SYMBOLS.forEach((s, i) => {
    later[s] = load_module(k, { name: `later${i}`, license: "GPL", imports: [s] }) === 0;
  });
  return { series: k.series.label, proprietaryUnknown, gplRet, later };
}
