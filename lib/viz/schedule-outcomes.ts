/**
 * The outcome of every explored interleaving: a bar per outcome (oops,
 * deadlock/hang, clean) and a strip of the schedules in exploration order,
 * coloured by outcome and grouped by the choice that decides it.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import type { ScheduleOutcome } from "../sim/explore.ts";
import { type Display, escapeHtml } from "./display.ts";
import { checkSize, FIGURE_STYLE, finish, newDocument } from "./_plot.ts";

// How an explored schedule ended: "oops" | "deadlock/hang" | "clean" (lib/sim's type, re-exported)
export type { ScheduleOutcome };

/** One explored schedule: what lib/sim/explore.ts records (ExploredSchedule has this shape). */
export interface ExploredScheduleInput {
  /** Labels chosen at each decision point. */
  readonly schedule: readonly string[];
  /** How it ended. */
  readonly outcome: ScheduleOutcome;
  /** The oops headline or hang report. */
  readonly detail?: string;
}

/** What the figure reads from an Exploration (explore / exploreMachine). */
export interface ExplorationInput {
  /** Every schedule run, in exploration (depth-first) order. */
  readonly schedules: readonly ExploredScheduleInput[];
  /** False if a bound stopped the search before it was exhaustive (default true). */
  readonly complete?: boolean;
  /** Counts by outcome (not read: the figure counts the schedules itself). */
  readonly counts?: Readonly<Record<ScheduleOutcome, number>>;
}

/**
 * The outcomes, in legend order: the fixed colour domain (with {@link OUTCOME_COLORS}).
 *
 * @example
 * ```ts
 * import { OUTCOME_COLORS, SCHEDULE_OUTCOMES } from "./schedule-outcomes.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(SCHEDULE_OUTCOMES, ["oops", "deadlock/hang", "clean"]);
 * assertEquals(OUTCOME_COLORS.oops, "#d55e00");
 * ```
 */
export const SCHEDULE_OUTCOMES: readonly ScheduleOutcome[] = ["oops", "deadlock/hang", "clean"];

/** The fixed colours of {@link SCHEDULE_OUTCOMES} (Okabe–Ito vermilion, orange, bluish green). */
export const OUTCOME_COLORS: Readonly<Record<ScheduleOutcome, string>> = {
  "oops": "#d55e00",
  "deadlock/hang": "#e69f00",
  "clean": "#009e73",
};

/** A run of schedules (consecutive in exploration order) whose outcome one choice decides. */
export interface DecidingGroup {
  /** Index of the first schedule. */
  start: number;
  /** One past the last schedule. */
  end: number;
  /** The outcome every schedule of the group has. */
  outcome: ScheduleOutcome;
  /** Decision points in the shared prefix (0: every schedule has this outcome). */
  depth: number;
  /** The shared prefix of choices; its last element is the deciding choice. */
  prefix: readonly string[];
  /** "step 3: killer", or "any order" at depth 0. */
  label: string;
}

interface TrieNode {
  outcomes: Set<ScheduleOutcome>;
  next: Map<string, TrieNode>;
}

/**
 * Groups the schedules by their deciding choice: for each schedule, the
 * shortest prefix of its choices that every schedule sharing it ends the same
 * way. Exploration is depth-first, so each group is a run of consecutive
 * schedules; groups are returned in order.
 *
 * @example Whoever runs first decides
 * ```ts
 * import { decidingGroups } from "./schedule-outcomes.ts";
 * import { assertEquals } from "@std/assert";
 * const g = decidingGroups({
 *   complete: true,
 *   counts: { "oops": 1, "deadlock/hang": 0, "clean": 2 },
 *   schedules: [
 *     { schedule: ["A", "A"], outcome: "clean", detail: "" },
 *     { schedule: ["A", "B"], outcome: "clean", detail: "" },
 *     { schedule: ["B", "A"], outcome: "oops", detail: "Oops" },
 *   ],
 * });
 * assertEquals(g.map((x) => [x.start, x.end, x.label]), [[0, 2, "step 1: A"], [2, 3, "step 1: B"]]);
 * ```
 */
export function decidingGroups(exploration: ExplorationInput): DecidingGroup[] {
  const schedules = schedulesOf(exploration);
  const root: TrieNode = { outcomes: new Set(), next: new Map() };
  for (const s of schedules) {
    let n = root;
    n.outcomes.add(s.outcome);
    for (const c of s.schedule) {
      let m = n.next.get(c);
      if (m === undefined) {
        m = { outcomes: new Set(), next: new Map() };
        n.next.set(c, m);
      }
      m.outcomes.add(s.outcome);
      n = m;
    }
  }
  const depthOf = (s: ExploredScheduleInput) => {
    let n = root, d = 0;
    while (n.outcomes.size > 1 && d < s.schedule.length) n = n.next.get(s.schedule[d++]!)!;
    return d;
  };
  const groups: DecidingGroup[] = [];
  schedules.forEach((s, i) => {
    const d = depthOf(s);
    const prefix = s.schedule.slice(0, d);
    const last = groups[groups.length - 1];
    if (
      last !== undefined && last.depth === d && last.prefix.join("\u0000") === prefix.join("\u0000")
    ) {
      last.end = i + 1;
      return;
    }
    groups.push({
      start: i,
      end: i + 1,
      outcome: s.outcome,
      depth: d,
      prefix,
      label: d === 0 ? "any order" : `step ${d}: ${prefix[d - 1]}`,
    });
  });
  return groups;
}

function schedulesOf(x: ExplorationInput): readonly ExploredScheduleInput[] {
  if (x === null || typeof x !== "object" || !Array.isArray(x.schedules)) {
    throw new TypeError(
      "Cannot draw schedule outcomes: expected an Exploration ({ schedules, counts })",
    );
  }
  x.schedules.forEach((s, i) => {
    if (!SCHEDULE_OUTCOMES.includes(s?.outcome) || !Array.isArray(s.schedule)) {
      throw new TypeError(
        `Cannot draw schedule outcomes: schedules[${i}] needs schedule: string[] and outcome ${
          SCHEDULE_OUTCOMES.map((o) => `"${o}"`).join(" | ")
        }`,
      );
    }
  });
  return x.schedules;
}

/** Options of {@link scheduleOutcomes}. */
export interface ScheduleOutcomesOptions {
  /** Width in px (default 720). */
  width?: number;
  /** Title (default "Interleavings and their outcomes"). */
  title?: string;
  /** Subtitle (default: how many schedules, and whether the search was exhaustive). */
  subtitle?: string;
  /** Caption (default: how to read the strip). */
  caption?: string;
}

const COLOR = {
  domain: [...SCHEDULE_OUTCOMES],
  range: SCHEDULE_OUTCOMES.map((o) => OUTCOME_COLORS[o]),
};

/** Gives each label a lane (0..2, -1: no room) so that labels closer than `gap` do not overlap. */
function lanes(centres: readonly number[], gap: number): number[] {
  const last: number[] = [];
  return centres.map((x) => {
    let lane = last.findIndex((l) => x - l >= gap);
    if (lane < 0) lane = last.length < 3 ? last.length : -1;
    if (lane >= 0) last[lane] = x;
    return lane;
  });
}

/**
 * Draws the outcomes of an exploration: one bar per outcome (fixed domain
 * {@link SCHEDULE_OUTCOMES}, fixed colours {@link OUTCOME_COLORS}, empty
 * outcomes shown as 0), and below it a strip of every schedule in
 * exploration order, coloured by outcome, divided into the
 * {@link decidingGroups} and labelled with the choice that decides each
 * ("step 3: killer": the third decision ran `killer`). A cell's tooltip is
 * its whole schedule and the oops or hang detail.
 *
 * @param exploration what explore / exploreMachine returned.
 * @param options width and titles.
 * @returns the figure (two SVGs in one `<figure>`) as a `text/html` display.
 * @throws {TypeError} for input of the wrong shape; {@link RangeError} when there are no schedules.
 *
 * @example
 * ```ts
 * import { scheduleOutcomes, SCHEDULE_OUTCOMES } from "./schedule-outcomes.ts";
 * import { assert } from "@std/assert";
 * const fig = scheduleOutcomes({
 *   complete: true,
 *   counts: { "oops": 1, "deadlock/hang": 0, "clean": 1 },
 *   schedules: [
 *     { schedule: ["A", "B"], outcome: "clean", detail: "" },
 *     { schedule: ["B", "A"], outcome: "oops", detail: "BUG: unable to handle page fault" },
 *   ],
 * });
 * for (const o of SCHEDULE_OUTCOMES) assert(fig.html!.includes(`</svg>${o}</span>`)); // the legend
 * assert(fig.text.startsWith("schedule outcomes: 2 schedules (exhaustive): oops 1, deadlock/hang 0, clean 1"));
 * ```
 */
export function scheduleOutcomes(
  exploration: ExplorationInput,
  options: ScheduleOutcomesOptions = {},
): Display {
  const what = "schedule outcomes";
  const schedules = schedulesOf(exploration);
  if (schedules.length === 0) throw new RangeError(`Cannot draw ${what}: there are no schedules`);
  const width = checkSize(what, "width", options.width ?? 720);
  const counts = SCHEDULE_OUTCOMES.map((outcome) => ({
    outcome,
    count: schedules.filter((s) => s.outcome === outcome).length,
  }));
  const groups = decidingGroups(exploration);
  const document = newDocument();

  const bars = Plot.plot({
    document,
    width,
    height: 110,
    marginLeft: 100,
    marginRight: 40,
    style: FIGURE_STYLE,
    color: COLOR,
    x: { label: "schedules →", grid: true, tickFormat: "d" },
    y: { domain: [...SCHEDULE_OUTCOMES], label: null },
    marks: [
      Plot.barX(counts, { x: "count", y: "outcome", fill: "outcome" }),
      Plot.text(counts, { x: "count", y: "outcome", text: "count", dx: 4, textAnchor: "start" }),
      Plot.ruleX([0]),
    ],
  });

  // Plot reads `document` from legend options at run time; its types omit it
  const legend = Plot.legend(
    { document, color: { ...COLOR, type: "ordinal" } } as Plot.LegendScales,
  );

  const n = schedules.length;
  const marginLeft = 100, marginRight = 40;
  const pxPer = (width - marginLeft - marginRight) / n;
  const cells = schedules.map((s, i) => ({
    i,
    i1: i + 1,
    outcome: s.outcome,
    title: `#${i + 1} ${s.outcome}: ${s.schedule.join(" → ") || "(no decision)"}` +
      (s.detail ? `\n${s.detail}` : ""),
  }));
  const centres = groups.map((g) => (g.start + g.end) / 2);
  // one row of horizontal labels if they fit; else vertical labels under runs at least 10 px wide
  const fits = lanes(centres, 90 / pxPer).every((l) => l === 0);
  const labelled = groups.map((g, j) => ({ ...g, mid: centres[j]! }))
    .filter((g) => fits || (g.end - g.start) * pxPer >= 10);
  const longest = Math.max(0, ...labelled.map((g) => g.label.length));
  const marginBottom = fits ? 24 : 12 + Math.ceil(longest * 5.6);
  const stripMarks: Plot.Markish[] = [
    Plot.barX(cells, {
      x1: "i",
      x2: "i1",
      fill: "outcome",
      insetLeft: pxPer >= 4 ? 0.5 : 0,
      insetRight: pxPer >= 4 ? 0.5 : 0,
      title: "title",
    }),
    Plot.ruleX(groups.slice(1), { x: "start", stroke: "#111", strokeWidth: 1.5, insetTop: -4 }),
    Plot.text(labelled, {
      x: "mid",
      frameAnchor: "bottom",
      dy: fits ? 12 : 6,
      text: "label",
      ...(fits ? {} : { rotate: -90, textAnchor: "end" as const }),
      title: (g: DecidingGroup) =>
        `${g.end - g.start} schedule(s), all ${g.outcome}, after ${
          g.prefix.join(" → ") || "any order"
        }`,
    }),
  ];
  const strip = Plot.plot({
    document,
    width,
    height: 44 + 8 + marginBottom,
    marginLeft,
    marginRight,
    marginTop: 8,
    marginBottom,
    style: FIGURE_STYLE,
    color: COLOR,
    x: { domain: [0, n], axis: null },
    y: { axis: null },
    marks: stripMarks,
  });

  const complete = exploration.complete !== false;
  const subtitle = options.subtitle ??
    `${n} schedule${n === 1 ? "" : "s"}, ${
      complete ? "every interleaving" : "bounded: NOT exhaustive"
    }`;
  const unlabelled = groups.length - labelled.length;
  const caption = options.caption ??
    "Strip: every schedule in exploration order, coloured by outcome; black rules divide the runs " +
      'decided by one choice, labelled with that choice ("step 3: killer": the third decision ran killer).' +
      (unlabelled > 0
        ? ` ${unlabelled} narrow run${unlabelled === 1 ? "" : "s"} unlabelled (see tooltips).`
        : "");
  const figure = {
    outerHTML: `<figure class="memremap-figure" style="max-width:initial">` +
      `<h2>${escapeHtml(options.title ?? "Interleavings and their outcomes")}</h2>` +
      `<h3>${escapeHtml(subtitle)}</h3>${legend.outerHTML}${bars.outerHTML}${strip.outerHTML}` +
      `<figcaption>${escapeHtml(caption)}</figcaption></figure>`,
  };
  const alt = [
    `schedule outcomes: ${n} schedule${n === 1 ? "" : "s"} (${
      complete ? "exhaustive" : "bounded"
    }): ` +
    counts.map((c) => `${c.outcome} ${c.count}`).join(", "),
    ...groups.slice(0, 12).map((g) => `  ${g.label} → ${g.outcome} ×${g.end - g.start}`),
    ...(groups.length > 12 ? [`  … ${groups.length - 12} more groups`] : []),
  ].join("\n");
  return finish(figure, alt);
}
