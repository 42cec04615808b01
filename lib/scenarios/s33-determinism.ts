/**
 * Scenario 33 (SCENARIOS.md): determinism. Booting the same machine
 * description with the same seed and running the same scenario twice gives
 * an identical trace (same hash) and identical simulated times. Checked on
 * scenario 7 (unbind ordering, both grace-period placements) and scenario 9
 * (the pinned-page teardown, Oops and hang included).
 *
 * @module
 */
import { unbindOrdering } from "./s07-unbind-ordering.ts";
import { pinnedTeardown } from "./s09-pinned-teardown.ts";
import type { SeriesPoint } from "./zone-device.ts";

/** Two runs of one scenario: their trace hashes and end times. */
export interface RunPair {
  /** Scenario name. */
  scenario: string;
  /** Trace hash of each run. */
  hashes: [string, string];
  /** Simulated end time of each run, ns. */
  simNs: [number, number];
}

/**
 * Runs scenarios 7 and 9 twice each at one series point with `seed`.
 *
 * @example
 * ```ts
 * import { determinism } from "./s33-determinism.ts";
 * import { assertEquals } from "@std/assert";
 * for (const p of determinism("v5.0", 7)) assertEquals(p.hashes[0], p.hashes[1]);
 * ```
 */
export function determinism(series: SeriesPoint, seed: number): RunPair[] {
  const out: RunPair[] = [];
  const pair = (scenario: string, run: () => { traceHash: string; simNs: number }) => {
    const a = run(), b = run();
    out.push({ scenario, hashes: [a.traceHash, b.traceHash], simNs: [a.simNs, b.simNs] });
  };
  pair("7", () => unbindOrdering(series, { seed }));
  pair("7 (grace period early)", () => unbindOrdering(series, { seed, early: true }));
  pair("9", () => pinnedTeardown(series, { seed }));
  return out;
}
