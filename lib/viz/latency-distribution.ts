/**
 * Per-path latency distributions on a log axis: every sample as a tick (a
 * barcode, which shows n and modes), a box (quartiles, whiskers at 1.5 IQR,
 * median), the p99 as a red tick, and p50 / p99 written beside each path.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { quantileSorted } from "d3-array";
import type { Display } from "./display.ts";
import { checkSize, FIGURE_STYLE, finish, formatNs, newDocument } from "./_plot.ts";

/** The part of a benchmark result the figure reads (lib/bench's CaseResult has this shape). */
export interface BenchSamples {
  /** Case name. */
  readonly name: string;
  /** Operations per iteration. */
  readonly ops: number;
  /** Wall time per iteration, ns. */
  readonly samples: readonly number[];
}

/** Samples by path name, or benchmark results (their wall-time samples). */
export type LatencyInput = Readonly<Record<string, readonly number[]>> | readonly BenchSamples[];

/** Options of {@link latencyDistribution}. */
export interface LatencyDistributionOptions {
  /** For CaseResult input: divide each iteration's wall time by its `ops` (default true). */
  perOp?: boolean;
  /** Formats a value for ticks and labels (default: ns as "850 ns", "1.2 µs", ...). */
  format?: (value: number) => string;
  /** x-axis label (default "wall time per operation (ns, log) →" for CaseResult, else "latency (log) →"). */
  label?: string;
  /** Path order: as given (default) or by median. */
  order?: "input" | "median";
  /** Width in px (default 720). */
  width?: number;
  /** Height in px (default 70 + 36 per path). */
  height?: number;
  /** Title (default "Latency distributions"). */
  title?: string;
  /** Subtitle. */
  subtitle?: string;
  /** Caption (default: how to read the marks). */
  caption?: string;
}

/** One path's summary as the figure annotates it. */
export interface PathStats {
  /** Path name. */
  path: string;
  /** Samples drawn (positive and finite). */
  n: number;
  /** Samples dropped (zero, negative or not finite: a log axis cannot show them). */
  dropped: number;
  /** Median. */
  p50: number;
  /** 99th percentile. */
  p99: number;
}

function isCaseResults(x: LatencyInput): x is readonly BenchSamples[] {
  return Array.isArray(x);
}

function samplesOf(input: LatencyInput, perOp: boolean): Array<[string, readonly number[]]> {
  if (isCaseResults(input)) {
    return input.map((c, i) => {
      if (typeof c?.name !== "string" || !Array.isArray(c.samples)) {
        throw new TypeError(
          `Cannot draw latency distributions: input[${i}] is not a CaseResult (name, samples)`,
        );
      }
      return [c.name, perOp ? c.samples.map((s) => s / c.ops) : c.samples];
    });
  }
  if (input === null || typeof input !== "object") {
    throw new TypeError(
      "Cannot draw latency distributions: expected a record of sample arrays or CaseResult[]",
    );
  }
  return Object.entries(input).map(([k, v]) => {
    if (!Array.isArray(v)) {
      throw new TypeError(`Cannot draw latency distributions: samples of "${k}" are not an array`);
    }
    return [k, v];
  });
}

/** Powers of ten within [lo, hi]; with 2× and 5× steps too when fewer than three powers fit. */
function logTicks(lo: number, hi: number): number[] {
  const within = (steps: readonly number[]) => {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of steps) {
        const v = +(m * 10 ** e).toPrecision(12);
        if (v >= lo && v <= hi) out.push(v);
      }
    }
    return out;
  };
  const powers = within([1]);
  if (powers.length >= 3) return powers;
  const more = within([1, 2, 5]);
  return more.length >= 2 ? more : [lo, hi];
}

/**
 * Computes per-path statistics: samples that are zero, negative or not
 * finite are dropped (a log axis cannot show them) and counted.
 *
 * @example
 * ```ts
 * import { latencyStats } from "./latency-distribution.ts";
 * import { assertEquals } from "@std/assert";
 * const [s] = latencyStats({ fault: [0, 100, 200, 300] });
 * assertEquals([s!.n, s!.dropped, s!.p50], [3, 1, 200]);
 * ```
 */
export function latencyStats(
  input: LatencyInput,
  options: { perOp?: boolean } = {},
): PathStats[] {
  return samplesOf(input, options.perOp ?? true).map(([path, raw]) => {
    const ok = Float64Array.from(raw.filter((v) => Number.isFinite(v) && v > 0)).sort();
    return {
      path,
      n: ok.length,
      dropped: raw.length - ok.length,
      p50: ok.length > 0 ? quantileSorted(ok, 0.5)! : NaN,
      p99: ok.length > 0 ? quantileSorted(ok, 0.99)! : NaN,
    };
  });
}

/**
 * Draws per-path latency distributions on a log x axis: a barcode of every
 * sample (tickX), a box plot (quartiles, 1.5 IQR whiskers, median), a red
 * tick at p99, and "p50 … · p99 …" to the right of each path. Samples ≤ 0
 * cannot sit on a log axis: they are dropped and counted in the caption.
 *
 * @param samples a record of sample arrays by path, or CaseResult[] (wall ns per iteration).
 * @param options scale label and format, order, size, titles.
 * @returns the figure as a `text/html` display.
 * @throws {TypeError} for input of the wrong shape.
 * @throws {RangeError} if a path has no drawable sample.
 *
 * @example Two paths, one slower with a tail
 * ```ts
 * import { latencyDistribution } from "./latency-distribution.ts";
 * import { assert } from "@std/assert";
 * const fast = Array.from({ length: 50 }, (_, i) => 100 + i);
 * const slow = Array.from({ length: 50 }, (_, i) => 1000 + 40 * i);
 * const fig = latencyDistribution({ fast, slow });
 * assert(fig.html!.includes('xmlns="http://www.w3.org/2000/svg"'));
 * assert(fig.text.includes("fast: n=50, p50 125 ns, p99 149 ns"));
 * ```
 */
export function latencyDistribution(
  samples: LatencyInput,
  options: LatencyDistributionOptions = {},
): Display {
  const what = "latency distributions";
  const caseInput = isCaseResults(samples);
  const perOp = options.perOp ?? true;
  const fmt = options.format ?? formatNs;
  let stats = latencyStats(samples, { perOp });
  if (stats.length === 0) throw new RangeError(`Cannot draw ${what}: there are no paths`);
  const empty = stats.find((s) => s.n === 0);
  if (empty) {
    throw new RangeError(
      `Cannot draw ${what}: path "${empty.path}" has no positive sample to put on a log axis`,
    );
  }
  if (options.order === "median") stats = [...stats].sort((a, b) => a.p50 - b.p50);
  const rows: Array<{ path: string; v: number }> = [];
  for (const [path, raw] of samplesOf(samples, perOp)) {
    for (const v of raw) if (Number.isFinite(v) && v > 0) rows.push({ path, v });
  }
  const paths = stats.map((s) => s.path);
  const lo = Math.min(...rows.map((r) => r.v)), hi = Math.max(...rows.map((r) => r.v));
  const domain: [number, number] = lo === hi ? [lo / 2, hi * 2] : [lo / 1.15, hi * 1.15];
  const xTicks = logTicks(domain[0], domain[1]);
  const width = checkSize(what, "width", options.width ?? 720);
  const height = checkSize(what, "height", options.height ?? 70 + 36 * paths.length);
  const dropped = stats.reduce((a, s) => a + s.dropped, 0);
  const caption = options.caption ??
    "Blue ticks: every sample. Box: quartiles, whiskers to 1.5 IQR, black tick the median. Red tick: p99." +
      (dropped > 0 ? ` ${dropped} sample${dropped === 1 ? "" : "s"} ≤ 0 not drawn.` : "");
  const opts: Plot.PlotOptions = {
    document: newDocument(),
    width,
    height,
    marginLeft: Math.min(220, 12 + 6.2 * Math.max(...paths.map((p) => p.length))),
    marginRight: 190,
    style: FIGURE_STYLE,
    title: options.title ?? "Latency distributions",
    caption,
    x: { type: "log", domain },
    y: { domain: paths, label: null, padding: 0.25 },
    marks: [
      // explicit axis marks: with a function tickFormat, Plot's log axis drops labels (d3's log tickFormat)
      Plot.gridX(xTicks),
      Plot.axisX(xTicks, {
        text: (v: number) => fmt(v),
        label: options.label ??
          (caseInput
            ? `wall time per ${perOp ? "operation" : "iteration"} (ns, log) →`
            : "latency (log) →"),
      }),
      Plot.tickX(rows, { x: "v", y: "path", stroke: "#4269d0", strokeOpacity: 0.3 }),
      Plot.boxX(rows, {
        x: "v",
        y: "path",
        fill: "#bbb",
        fillOpacity: 0.5,
        stroke: "#111",
        r: 1.5,
      }),
      Plot.tickX(stats, { x: "p99", y: "path", stroke: "#d62728", strokeWidth: 2 }),
      Plot.text(stats, {
        y: "path",
        frameAnchor: "right",
        textAnchor: "start",
        dx: 10,
        text: (s: PathStats) => `p50 ${fmt(s.p50)} · p99 ${fmt(s.p99)}`,
      }),
    ],
  };
  if (options.subtitle !== undefined) opts.subtitle = options.subtitle;
  const node = Plot.plot(opts);
  const alt = [
    `latency distributions (${paths.length} path${paths.length === 1 ? "" : "s"})`,
    ...stats.map((s) => `  ${s.path}: n=${s.n}, p50 ${fmt(s.p50)}, p99 ${fmt(s.p99)}`),
  ].join("\n");
  return finish(node, alt);
}
