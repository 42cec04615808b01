/**
 * Reference counts over simulated time: one step line per percpu_ref and
 * per page run, with kill, release, exit and Oops marked.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { ticks } from "d3-array";
import type { Display } from "./display.ts";
import { checkSize, FIGURE_STYLE, finish, formatNs, newDocument, timeUnit } from "./_plot.ts";

/**
 * The fields of a trace event the timeline reads. A recorded kernel event
 * (`TimelineEvent`) has this shape: `percpu_ref` events carry `op`,
 * `ref`, `name` and the logical `count` after the operation; `page_ref`
 * events `op`, `pfn`, `n` and `count`; `log` events with op "oops" `text`.
 */
export interface TimelineEvent {
  /** Event kind; "percpu_ref", "page_ref" and "log" are drawn. */
  readonly kind: string;
  /** Simulated time, ns. */
  readonly t: number;
  /** The operation. */
  readonly op?: string;
  /** percpu_ref id. */
  readonly ref?: number;
  /** percpu_ref name. */
  readonly name?: string;
  /** Count after the operation. */
  readonly count?: number;
  /** First pfn (page_ref). */
  readonly pfn?: number;
  /** Pages affected (page_ref). */
  readonly n?: number;
  /** Log text (log). */
  readonly text?: string;
}

/** What the timeline reads: a trace's events, or anything carrying them (a Trace, percpuRefDemo()). */
export type TraceInput = readonly TimelineEvent[] | { readonly events: readonly TimelineEvent[] };

/**
 * The marked events: the fixed domain of the markers, each drawn as in
 * {@link REFCOUNT_MARKER_STYLE}.
 *
 * @example
 * ```ts
 * import { REFCOUNT_MARKER_STYLE, REFCOUNT_MARKERS } from "./refcount-timeline.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(REFCOUNT_MARKERS.map((m) => REFCOUNT_MARKER_STYLE[m].label), ["kill", "release", "exit", "Oops"]);
 * ```
 */
export const REFCOUNT_MARKERS = ["kill", "release", "exit", "oops"] as const;

/** A marked event kind. */
export type RefcountMarker = typeof REFCOUNT_MARKERS[number];

/** How each marker is drawn (fixed, so figures compare across notebooks). */
export const REFCOUNT_MARKER_STYLE: Readonly<
  Record<RefcountMarker, { stroke: string; dash: string; label: string }>
> = {
  kill: { stroke: "#555555", dash: "4,3", label: "kill" },
  release: { stroke: "#222222", dash: "1,2", label: "release" },
  exit: { stroke: "#999999", dash: "6,2,1,2", label: "exit" },
  oops: { stroke: "#d62728", dash: "none", label: "Oops" },
};

/** Line colours, assigned to refs in order of first appearance (no red: red is Oops). */
export const REFCOUNT_PALETTE: readonly string[] = [
  "#4269d0",
  "#efb118",
  "#3ca951",
  "#a463f2",
  "#6cc5b0",
  "#ff8ab7",
  "#9c6b4e",
  "#97bbf5",
  "#9498a0",
];

/** Options of {@link refcountTimeline}. */
export interface RefcountTimelineOptions {
  /** Which lines to draw, by name (`"demo_release#1"`, `"page 0x400200"`) or predicate (default all). */
  refs?: readonly string[] | ((name: string) => boolean);
  /** Draw percpu_ref counts (default true). */
  percpu?: boolean;
  /** Draw page reference counts (default true). */
  pages?: boolean;
  /** x: simulated time ("time", default) or event order ("order": every plotted event one step). */
  axis?: "time" | "order";
  /** y scale: "linear" (default) or "symlog" (counts of very different sizes). */
  y?: "linear" | "symlog";
  /** Width in px (default 720). */
  width?: number;
  /** Height in px (default 280). */
  height?: number;
  /** Title (default "Reference counts"). */
  title?: string;
  /** Subtitle (default: none). */
  subtitle?: string;
  /** Caption (default: none). */
  caption?: string;
}

interface Point {
  ev: TimelineEvent | null;
  series: string;
  t: number;
  x: number;
  count: number;
  op: string;
}

interface Marker {
  ev: TimelineEvent;
  kind: RefcountMarker;
  series: string | null;
  t: number;
  x: number;
  count: number | null;
  detail: string;
  lane: number;
}

function eventsOf(input: TraceInput): readonly TimelineEvent[] {
  const ev = Array.isArray(input) ? input : (input as { events?: unknown }).events;
  if (!Array.isArray(ev)) {
    throw new TypeError(
      "Cannot draw a refcount timeline: expected trace events or an object with `events`",
    );
  }
  return ev as readonly TimelineEvent[];
}

function pageSeries(pfn: number, n: number): string {
  return n > 1 ? `pages 0x${pfn.toString(16)}+${n}` : `page 0x${pfn.toString(16)}`;
}

/** The lines' points, the markers, and every plotted event in order. */
function extract(events: readonly TimelineEvent[], o: RefcountTimelineOptions) {
  const keep = o.refs === undefined
    ? () => true
    : typeof o.refs === "function"
    ? o.refs
    : ((set) => (name: string) => set.has(name))(new Set(o.refs));
  const points: Point[] = [];
  const markers: Marker[] = [];
  const order: TimelineEvent[] = [];
  for (const e of events) {
    const op = e.op ?? "", count = e.count ?? 0;
    if (e.kind === "percpu_ref" && o.percpu !== false) {
      const series = `${e.name}#${e.ref}`;
      if (!keep(series)) continue;
      order.push(e);
      points.push({ ev: e, series, t: e.t, x: 0, count, op });
      if (op === "kill" || op === "release" || op === "exit") {
        markers.push({
          ev: e,
          kind: op,
          series,
          t: e.t,
          x: 0,
          count,
          detail: `${series} ${op} at ${formatNs(e.t)} (count ${count})`,
          lane: 0,
        });
      }
    } else if (e.kind === "page_ref" && o.pages !== false) {
      const series = pageSeries(e.pfn ?? 0, e.n ?? 1);
      if (!keep(series)) continue;
      order.push(e);
      points.push({ ev: e, series, t: e.t, x: 0, count, op });
    } else if (e.kind === "log" && op === "oops") {
      order.push(e);
      markers.push({
        ev: e,
        kind: "oops",
        series: null,
        t: e.t,
        x: 0,
        count: null,
        detail: `Oops at ${formatNs(e.t)}: ${e.text}`,
        lane: 0,
      });
    }
  }
  return { points, markers, order };
}

/** Whole-number ticks across the counts (counts are integers; d3 would tick at halves). */
function integerTicks(points: readonly Point[]): number[] {
  const lo = Math.min(0, ...points.map((p) => p.count));
  const hi = Math.max(1, ...points.map((p) => p.count));
  const t = ticks(lo, hi, 6).filter(Number.isInteger);
  return t.length >= 2 ? t : [lo, hi];
}

/** Puts marker labels in up to 4 lanes so that labels close in x do not overlap. */
function assignLanes(markers: Marker[], span: number): void {
  const gap = span * 0.08;
  const lastX: number[] = [];
  const seen = new Set<string>();
  for (const m of [...markers].sort((a, b) => a.x - b.x)) {
    const key = `${m.kind}@${m.x}`;
    if (seen.has(key)) {
      m.lane = -1; // same kind at the same x: one label
      continue;
    }
    seen.add(key);
    let lane = lastX.findIndex((x) => m.x - x >= gap);
    if (lane < 0) lane = lastX.length < 4 ? lastX.length : 3;
    lastX[lane] = m.x;
    m.lane = lane;
  }
}

/**
 * Draws percpu_ref and page reference counts over simulated time: a step
 * line per ref (`percpu_ref` events carry the logical count after each
 * operation; `page_ref` events the page's count), extended to the end of the
 * trace unless the ref was exited. kill, release and exit are dots on their
 * line plus a rule and a label; an Oops is a red rule. Line colours follow
 * {@link REFCOUNT_PALETTE} in order of first appearance; marker styles are
 * fixed ({@link REFCOUNT_MARKER_STYLE}).
 *
 * @param trace trace events, a Trace, or an object with `events` (e.g. percpuRefDemo()).
 * @param options which refs, axis, size, titles.
 * @returns the figure as a `text/html` display.
 * @throws {TypeError} if `trace` has no events array.
 * @throws {RangeError} if nothing is left to draw, or a size is not positive.
 *
 * @example The percpu_ref demonstration: one line, kill → release → exit
 * ```ts
 * import { percpuRefDemo } from "../scenarios/percpu-ref-demo.ts";
 * import { refcountTimeline } from "./refcount-timeline.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const fig = refcountTimeline(percpuRefDemo());
 * const html = fig.html!;
 * assert(html.includes('xmlns="http://www.w3.org/2000/svg"'));
 * assertEquals(html.match(/<path [^>]*stroke="#4269d0"/g)?.length, 1); // one line
 * assert(fig.text.startsWith("refcount timeline: 1 ref (demo_release#1)"));
 * ```
 */
export function refcountTimeline(
  trace: TraceInput,
  options: RefcountTimelineOptions = {},
): Display {
  const what = "a refcount timeline";
  const width = checkSize(what, "width", options.width ?? 720);
  const height = checkSize(what, "height", options.height ?? 280);
  const events = eventsOf(trace);
  const { points, markers, order } = extract(events, options);
  if (points.length === 0) {
    throw new RangeError(
      "Cannot draw a refcount timeline: the trace has no percpu_ref or page_ref events to draw" +
        (options.refs ? " (check `refs`)" : " (was tracing on?)"),
    );
  }
  const byOrder = options.axis === "order";
  const tEnd = Math.max(...events.map((e) => e.t));
  const { div, unit } = timeUnit(tEnd);
  const index = new Map(order.map((e, i) => [e, i]));
  const xOf = (t: number, e: TimelineEvent | null) =>
    byOrder ? (e === null ? order.length : index.get(e)!) : t / div;
  for (const p of points) p.x = xOf(p.t, p.ev);
  for (const m of markers) m.x = xOf(m.t, m.ev);
  // extend each line to the end of the trace unless its ref was exited
  const series = [...new Set(points.map((p) => p.series))];
  for (const s of series) {
    let last: Point | undefined;
    for (const p of points) if (p.series === s) last = p;
    if (last && last.op !== "exit") {
      points.push({
        ev: null,
        series: s,
        t: tEnd,
        x: xOf(tEnd, null),
        count: last.count,
        op: "end",
      });
    }
  }
  const xs = [...points.map((p) => p.x), ...markers.map((m) => m.x)];
  const span = Math.max(...xs) - Math.min(...xs) || 1;
  assignLanes(markers, span);
  const palette = series.map((_, i) => REFCOUNT_PALETTE[i % REFCOUNT_PALETTE.length]!);

  const marks: Plot.Markish[] = [Plot.ruleY([0], { stroke: "#bbb" })];
  for (const kind of REFCOUNT_MARKERS) {
    const ms = markers.filter((m) => m.kind === kind);
    if (ms.length === 0) continue;
    const st = REFCOUNT_MARKER_STYLE[kind];
    marks.push(Plot.ruleX(ms, {
      x: "x",
      stroke: st.stroke,
      strokeDasharray: st.dash,
      strokeWidth: kind === "oops" ? 2 : 1,
      title: "detail",
    }));
  }
  marks.push(Plot.line(points, {
    x: "x",
    y: "count",
    z: "series",
    stroke: "series",
    curve: "step-after",
    strokeWidth: 1.75,
  }));
  const dotted = markers.filter((m) => m.series !== null);
  if (dotted.length > 0) {
    marks.push(Plot.dot(dotted, {
      x: "x",
      y: "count",
      fill: "series",
      stroke: "white",
      r: 3.5,
      title: "detail",
    }));
  }
  const xMax = Math.max(...xs);
  for (let lane = 0; lane < 4; lane++) {
    for (const right of [false, true]) {
      // labels near the right edge are anchored at their end, so they stay inside
      const ms = markers.filter((m) => m.lane === lane && (xMax - m.x < span * 0.15) === right);
      if (ms.length === 0) continue;
      marks.push(Plot.text(ms, {
        x: "x",
        frameAnchor: "top",
        dy: -14 + lane * 12,
        dx: right ? -3 : 3,
        textAnchor: right ? "end" : "start",
        text: (m: Marker) => REFCOUNT_MARKER_STYLE[m.kind].label,
        fill: (m: Marker) => m.kind === "oops" ? REFCOUNT_MARKER_STYLE.oops.stroke : "#333",
        title: "detail",
      }));
    }
  }
  const lanes = Math.max(0, ...markers.map((m) => m.lane + 1));
  const opts: Plot.PlotOptions = {
    document: newDocument(),
    width,
    height,
    marginTop: 22 + 12 * Math.max(0, lanes - 1),
    marginLeft: 56,
    marginRight: 24,
    style: FIGURE_STYLE,
    title: options.title ?? "Reference counts",
    x: {
      label: byOrder ? "event order →" : `simulated time (${unit}) →`,
      ...(byOrder ? { tickFormat: "d" } : {}),
    },
    y: {
      label: "↑ count",
      grid: true,
      nice: true,
      ...(options.y === "symlog" ? { type: "symlog" as const } : { ticks: integerTicks(points) }),
    },
    color: { domain: series, range: palette, legend: true },
    marks,
  };
  if (options.subtitle !== undefined) opts.subtitle = options.subtitle;
  if (options.caption !== undefined) opts.caption = options.caption;
  const node = Plot.plot(opts);
  const counts = REFCOUNT_MARKERS.map((k) =>
    [k, markers.filter((m) => m.kind === k).length] as const
  )
    .filter(([, n]) => n > 0).map(([k, n]) => `${k} ×${n}`);
  const alt =
    `refcount timeline: ${series.length} ref${series.length === 1 ? "" : "s"} (${
      series.join(", ")
    }), ${points.length} points over ${formatNs(0)}–${formatNs(tEnd)}` +
    (counts.length > 0 ? `; marks: ${counts.join(", ")}` : "");
  return finish(node, alt);
}
