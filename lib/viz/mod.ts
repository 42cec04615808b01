/**
 * Figures for notebooks and reports: Observable Plot rendered on the server
 * (linkedom), returned as `text/html` display bundles whose `<svg>`s carry
 * `xmlns` and a fixed size, with fixed colour domains and deterministic
 * markup (snapshot-tested under tests/viz).
 *
 * Notebook cells end with `await show(...)` (display.ts explains why).
 *
 * @example A notebook cell
 * ```ts
 * import { percpuRefDemo } from "../scenarios/percpu-ref-demo.ts";
 * import { refcountTimeline, show } from "./mod.ts";
 * import { assert } from "@std/assert";
 * const fig = refcountTimeline(percpuRefDemo(), { axis: "order" });
 * assert(fig.html!.includes('<svg xmlns="http://www.w3.org/2000/svg"'));
 * await show(fig); // in the kernel: a text/html display_data; here: prints fig.text
 * ```
 *
 * @module
 */
export {
  Display,
  display,
  type Displayable,
  type DisplayOptions,
  escapeHtml,
  type HasOuterHTML,
  html,
  JUPYTER_DISPLAY,
  type MimeBundle,
  show,
  SVG_NS,
  table,
  type TableOptions,
  text,
  withSvgNamespace,
} from "./display.ts";
export {
  REFCOUNT_MARKER_STYLE,
  REFCOUNT_MARKERS,
  REFCOUNT_PALETTE,
  type RefcountMarker,
  refcountTimeline,
  type RefcountTimelineOptions,
  type TimelineEvent,
  type TraceInput,
} from "./refcount-timeline.ts";
export {
  memoryTypeKey,
  SECTION_CATEGORIES,
  SECTION_COLORS,
  type SectionCategory,
  sectionCategory,
  type SectionCell,
  type SectionMapInput,
} from "./sections.ts";
export { sectionMap, type SectionMapOptions } from "./section-map.ts";
export {
  diffSections,
  type SectionChange,
  sectionMapDiff,
  type SectionMapDiffOptions,
} from "./section-map-diff.ts";
export { type MachineLike, sectionsOf, type SectionsOfOptions } from "./sections-of.ts";
export {
  type BenchSamples,
  latencyDistribution,
  type LatencyDistributionOptions,
  type LatencyInput,
  latencyStats,
  type PathStats,
} from "./latency-distribution.ts";
export {
  type DecidingGroup,
  decidingGroups,
  type ExplorationInput,
  type ExploredScheduleInput,
  OUTCOME_COLORS,
  SCHEDULE_OUTCOMES,
  type ScheduleOutcome,
  scheduleOutcomes,
  type ScheduleOutcomesOptions,
} from "./schedule-outcomes.ts";
