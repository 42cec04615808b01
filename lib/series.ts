/**
 * The seven patches of "mm: Merge hmm into devm_memremap_pages, mark GPL-only"
 * (v8, 20 Nov 2018), the presets, the follow-up fixes and the unmerged
 * variants — as data. lib/kernel consults a {@link Series} through one guard per
 * site: `applied(n)`, `fixed("<key>")`, `variant("<key>")`.
 *
 * A preset is the series' code paths as they stood in that release, not the
 * whole release.
 *
 * @module
 */

/** Cover letter of the v8 series on lore.kernel.org. */
export const SERIES_URL =
  "https://lore.kernel.org/lkml/154275556908.76910.8966087090637564219.stgit@dwillia2-desk3.amr.corp.intel.com/";

/** One patch of the series. */
export interface Patch {
  /** 1..7. */
  n: number;
  /** The patch subject. */
  subject: string;
}

/** The seven patches, in order. */
export const PATCHES: readonly Patch[] = [
  { n: 1, subject: "mm, devm_memremap_pages: Mark devm_memremap_pages() EXPORT_SYMBOL_GPL" },
  { n: 2, subject: 'mm, devm_memremap_pages: Kill mapping "System RAM" support' },
  { n: 3, subject: "mm, devm_memremap_pages: Fix shutdown handling" },
  { n: 4, subject: "mm, devm_memremap_pages: Add MEMORY_DEVICE_PRIVATE support" },
  { n: 5, subject: "mm, hmm: Use devm semantics for hmm_devmem_{add, remove}" },
  { n: 6, subject: "mm, hmm: Replace hmm_devmem_pages_create() with devm_memremap_pages()" },
  { n: 7, subject: "mm, hmm: Mark hmm_devmem_{add, add_resource} EXPORT_SYMBOL_GPL" },
];

/** Names of the presets. */
export type PresetName = "v4.20" | "v5.0" | "v5.2";

/** Follow-up fixes, by kernel commit id or slug. */
export type FollowupKey =
  | "p2pdma-pgmap-kill"
  | "hmm-page-fault-move"
  | "devm_release_action"
  | "devm_memunmap_pages"
  | "p2pdma-gen-pool-add-virt-fix"
  | "genalloc-chunk-owners"
  | "1570175abd16"
  | "50f44ee7248a";

/** Unmerged variants. */
export type VariantKey = "logan-wait-in-kill";

/** What a follow-up or variant is and what it needs. */
export interface KeyInfo {
  /** One line: what it changes. */
  what: string;
  /** The preset that first includes it, or "never". */
  preset: PresetName | "never";
  /** Minimum series level. */
  minLevel: number;
  /** Follow-ups it requires. */
  requires: readonly FollowupKey[];
  /** Keys it cannot be combined with. */
  conflicts: readonly (FollowupKey | VariantKey)[];
}

/** The key table of SCENARIOS.md (Conventions). */
export const FOLLOWUPS: Readonly<Record<FollowupKey, KeyInfo>> = {
  "p2pdma-pgmap-kill": {
    what: "p2pdma sets pgmap->kill to its is_dying-guarded kill and drops its separate kill action",
    preset: "v5.0",
    minLevel: 3,
    requires: [],
    conflicts: [],
  },
  "hmm-page-fault-move": {
    what: "dev_page_fault_t moves from dev_pagemap into hmm_devmem (Dec 2018)",
    preset: "v5.0",
    minLevel: 6,
    requires: [],
    conflicts: [],
  },
  "devm_release_action": {
    what: "drivers/base/devres: run a registered action now and unregister it",
    preset: "v5.2",
    minLevel: 0,
    requires: [],
    conflicts: [],
  },
  "devm_memunmap_pages": {
    what: "devm_release_action(dev, devm_memremap_pages_release, pgmap)",
    preset: "v5.2",
    minLevel: 0,
    requires: ["devm_release_action"],
    conflicts: [],
  },
  "p2pdma-gen-pool-add-virt-fix": {
    what: "unmap the pages before freeing the pgmap when gen_pool_add_virt fails",
    preset: "v5.2",
    minLevel: 0,
    requires: ["devm_memunmap_pages", "p2pdma-pgmap-kill"],
    conflicts: [],
  },
  "genalloc-chunk-owners": {
    what: "gen_pool chunks carry an owner pointer through alloc/free",
    preset: "v5.2",
    minLevel: 0,
    requires: [],
    conflicts: [],
  },
  "1570175abd16": {
    what: "one percpu_ref per p2pdma pgmap",
    preset: "v5.2",
    minLevel: 0,
    requires: ["genalloc-chunk-owners", "p2pdma-gen-pool-add-virt-fix"],
    conflicts: [],
  },
  "50f44ee7248a": {
    what: "pgmap->cleanup; the release waits before removal; the conflict path kills and cleans up",
    preset: "v5.2",
    minLevel: 0,
    requires: ["devm_memunmap_pages", "1570175abd16"],
    conflicts: ["logan-wait-in-kill"],
  },
};

/** The variant table of SCENARIOS.md (Conventions). */
export const VARIANTS: Readonly<Record<VariantKey, KeyInfo>> = {
  "logan-wait-in-kill": {
    what:
      "kill after the put loop; wait inside the p2pdma kill (Logan Gunthorpe, 27 Nov 2018; never merged)",
    preset: "never",
    minLevel: 0,
    requires: ["p2pdma-pgmap-kill"],
    conflicts: ["50f44ee7248a"],
  },
};

const V50: readonly FollowupKey[] = ["p2pdma-pgmap-kill", "hmm-page-fault-move"];
const V52: readonly FollowupKey[] = [
  ...V50,
  "devm_release_action",
  "devm_memunmap_pages",
  "genalloc-chunk-owners",
  "p2pdma-gen-pool-add-virt-fix",
  "1570175abd16",
  "50f44ee7248a",
];

/** Each preset's level and follow-ups. */
export const PRESETS: Readonly<
  Record<PresetName, { level: number; followups: readonly FollowupKey[] }>
> = {
  "v4.20": { level: 0, followups: [] },
  "v5.0": { level: 7, followups: V50 },
  "v5.2": { level: 7, followups: V52 },
};

/** The default series: the merged result. */
export const DEFAULT_SERIES: PresetName = "v5.0";

/** What `bootMachine` accepts to choose the series. */
export interface SeriesOptions {
  /** Patch level 0..7 or a preset name (default "v5.0"). */
  series?: number | PresetName;
  /** Extra follow-ups on top of the preset's. */
  followups?: readonly string[];
  /** Unmerged variants. */
  variants?: readonly string[];
}

/** A resolved, validated series configuration: the guards kernel code asks. */
export class Series {
  /** Patch level 0..7. */
  readonly level: number;
  /** The preset it was built from, if any. */
  readonly preset: PresetName | null;
  /** Active follow-ups. */
  readonly followups: ReadonlySet<FollowupKey>;
  /** Active variants. */
  readonly variants: ReadonlySet<VariantKey>;

  /**
   * Validates a combination; an impossible one is a RangeError naming what is missing.
   *
   * @example
   * ```ts
   * import { Series } from "./series.ts";
   * import { assert, assertThrows } from "@std/assert";
   * const s = new Series({ series: "v5.2" });
   * assert(s.applied(7) && s.fixed("50f44ee7248a"));
   * assertThrows(() => new Series({ series: 2, followups: ["p2pdma-pgmap-kill"] }), RangeError);
   * ```
   */
  constructor(opts: SeriesOptions = {}) {
    const s = opts.series ?? DEFAULT_SERIES;
    let level: number;
    let fu: FollowupKey[];
    if (typeof s === "number") {
      if (!(Number.isInteger(s) && s >= 0 && s <= 7)) {
        throw new RangeError(`Cannot use series level ${s}: levels are the integers 0..7`);
      }
      level = s;
      fu = [];
      this.preset = null;
    } else if (typeof s === "string" && Object.hasOwn(PRESETS, s)) {
      level = PRESETS[s].level;
      fu = [...PRESETS[s].followups];
      this.preset = s;
    } else {
      throw new RangeError(
        `Cannot use series ${JSON.stringify(s)}: expected a level 0..7 or one of ${
          Object.keys(PRESETS).map((p) => `"${p}"`).join(", ")
        }`,
      );
    }
    for (const [key, v] of [["followups", opts.followups], ["variants", opts.variants]] as const) {
      if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== "string"))) {
        throw new TypeError(
          `Cannot apply ${key} ${JSON.stringify(v)}: give an array of keys, e.g. ["50f44ee7248a"]`,
        );
      }
    }
    for (const f of opts.followups ?? []) {
      if (!Object.hasOwn(FOLLOWUPS, f)) {
        throw new RangeError(
          `Cannot apply follow-up "${f}": unknown key (known: ${
            Object.keys(FOLLOWUPS).join(", ")
          })`,
        );
      }
      if (!fu.includes(f as FollowupKey)) fu.push(f as FollowupKey);
    }
    const vs: VariantKey[] = [];
    for (const v of opts.variants ?? []) {
      if (!Object.hasOwn(VARIANTS, v)) {
        throw new RangeError(
          `Cannot apply variant "${v}": unknown key (known: ${Object.keys(VARIANTS).join(", ")})`,
        );
      }
      if (!vs.includes(v as VariantKey)) vs.push(v as VariantKey);
    }
    const active = new Set<string>([...fu, ...vs]);
    const check = (key: string, info: KeyInfo, kind: string) => {
      if (level < info.minLevel) {
        throw new RangeError(
          `Cannot apply ${kind} "${key}" at level ${level}: it needs level ≥ ${info.minLevel}`,
        );
      }
      const missing = info.requires.filter((r) => !active.has(r));
      if (missing.length > 0) {
        throw new RangeError(
          `Cannot apply ${kind} "${key}": it requires ${missing.map((m) => `"${m}"`).join(", ")}`,
        );
      }
      const clash = info.conflicts.filter((c) => active.has(c));
      if (clash.length > 0) {
        throw new RangeError(
          `Cannot apply ${kind} "${key}" together with "${
            clash[0]
          }": the two change the same code in incompatible ways`,
        );
      }
    };
    for (const f of fu) check(f, FOLLOWUPS[f], "follow-up");
    for (const v of vs) check(v, VARIANTS[v], "variant");
    this.level = level;
    this.followups = new Set(fu);
    this.variants = new Set(vs);
  }

  /** Whether patch `n` (1..7) is applied. */
  applied(n: number): boolean {
    return this.level >= n;
  }

  /** Whether follow-up `key` is applied. */
  fixed(key: FollowupKey): boolean {
    return this.followups.has(key);
  }

  /** Whether variant `key` is active. */
  variant(key: VariantKey): boolean {
    return this.variants.has(key);
  }

  /** "v5.0", or "level 3", or "level 7 + 50f44ee7248a". */
  get label(): string {
    if (this.preset !== null) {
      const extra = [...this.followups].filter((f) => !PRESETS[this.preset!].followups.includes(f));
      return [this.preset, ...extra, ...this.variants].join(" + ");
    }
    return [`level ${this.level}`, ...this.followups, ...this.variants].join(" + ");
  }
}
