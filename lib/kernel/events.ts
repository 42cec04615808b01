/**
 * The kernel's trace events: one discriminated union, `kind` first.
 * Each subsystem adds its members here.
 *
 * @module
 */
import type { SchedEvent } from "../sim/sched.ts";

/** percpu_ref operations; `count` is the logical count (bias excluded) after the operation. */
export interface PercpuRefEvent {
  /** Discriminant. */
  kind: "percpu_ref";
  /** What happened. */
  op:
    | "init"
    | "get"
    | "put"
    | "tryget_fail"
    | "kill"
    | "switch_to_atomic"
    | "confirm"
    | "switch_to_percpu"
    | "release"
    | "exit"
    | "reinit";
  /** The ref's id. */
  ref: number;
  /** The ref's name. */
  name: string;
  /** How many references moved (get_many / put_many). */
  n: number;
  /** Logical count after the operation. */
  count: number;
}

/** devres and device-core events. */
export interface DevresEvent {
  /** Discriminant. */
  kind: "devres";
  /** What happened. */
  op: "add" | "release" | "remove" | "group_open" | "group_close" | "release_all";
  /** Device name. */
  dev: string;
  /** The node's name (the action's function name, "devm_kzalloc", ...). */
  name: string;
}

/** Driver-core events. */
export interface DeviceEvent {
  /** Discriminant. */
  kind: "device";
  /** What happened. */
  op: "probe" | "probe_failed" | "bound" | "remove" | "unbound";
  /** Device name. */
  dev: string;
  /** Driver name. */
  driver: string;
  /** Probe's return code, where relevant. */
  ret: number;
}

/** iomem resource events. */
export interface ResourceEvent {
  /** Discriminant. */
  kind: "resource";
  /** What happened. */
  op: "request" | "release" | "conflict" | "insert";
  /** First byte. */
  start: number;
  /** Last byte (inclusive, as struct resource). */
  end: number;
  /** Resource name. */
  name: string;
}

/** Log lines and crashes, mirrored into the trace. */
export interface LogEvent {
  /** Discriminant. */
  kind: "log";
  /** "warn", "oops", "inject". */
  op: "warn" | "oops" | "inject";
  /** First line. */
  text: string;
}

/** Module loader events (kernel/module.c). */
export interface ModuleEvent {
  /** Discriminant. */
  kind: "module";
  /** "load" (now live), "load_failed", "unknown_symbol", "unload". */
  op: "load" | "load_failed" | "unknown_symbol" | "unload";
  /** Module name. */
  module: string;
  /** The unresolved symbol ("unknown_symbol"), else "". */
  symbol: string;
  /** load_module / delete_module return code, or the symbol's error. */
  ret: number;
}

/** Sparse-section events (mm/sparse.c, mm/memory_hotplug.c): one per run of sections. */
export interface SectionEvent {
  /** Discriminant. */
  kind: "section";
  /** add/remove; add_failed = the section a hot-add stopped at. */
  op: "add" | "remove" | "add_failed";
  /** First section number. */
  nr: number;
  /** Number of sections. */
  count: number;
  /** Where the memmap lives: "ram", "device" (altmap) or "none". */
  memmap: "ram" | "device" | "none";
  /** Return code (0, or the error of add_failed). */
  ret: number;
}

/** memmap initialisation (mm/page_alloc.c): one event per initialised range. */
export interface MemmapEvent {
  /** Discriminant. */
  kind: "memmap";
  /** memmap_init_zone (hotplug), memmap_init_zone_device, or a section's per-page arrays being created. */
  op: "init_zone" | "init_zone_device" | "materialise";
  /** First pfn. */
  start_pfn: number;
  /** Pages. */
  nr_pages: number;
  /** enum zone_type. */
  zone: number;
  /** Id of the pgmap written to page->pgmap (0 for none). */
  pgmap: number;
}

/** struct page refcount changes: per page with tracing on, aggregated per run in bulk paths. */
export interface PageRefEvent {
  /** Discriminant. */
  kind: "page_ref";
  /** get/put; page_free = the pgmap's page_free ran; free = a normal page reached 0. */
  op: "get" | "put" | "page_free" | "free";
  /** First pfn. */
  pfn: number;
  /** Pages affected. */
  n: number;
  /** Refcount of those pages after the operation. */
  count: number;
}

/** Hotplug side effects (linear map, PAT, KASAN shadow, memory blocks, mem_hotplug_lock). */
export interface HotplugEvent {
  /** Discriminant. */
  kind: "hotplug";
  /** What happened. */
  op:
    | "linear_map"
    | "linear_unmap"
    | "pat_track"
    | "pat_untrack"
    | "kasan_add"
    | "kasan_remove"
    | "memblock_register"
    | "lock"
    | "unlock";
  /** First physical byte (or 0 for lock events). */
  start: number;
  /** Bytes (or 0). */
  size: number;
  /** Return code. */
  ret: number;
}

/** kernel/memremap.c events: devm_memremap_pages and its release, step by step. */
export interface MemremapEvent {
  /** Discriminant. */
  kind: "memremap";
  /** What happened. */
  op:
    | "map"
    | "map_failed"
    | "ram_passthrough"
    | "conflict"
    | "array_store"
    | "array_delete"
    | "kill"
    | "cleanup"
    | "cleanup_done"
    | "release"
    | "release_done"
    | "still_live"
    | "remove_memory";
  /** The pgmap's id (0 before it has one). */
  pgmap: number;
  /** pgmap->res.start. */
  start: number;
  /** pgmap->res.end (inclusive). */
  end: number;
  /** Return code (0, or the -errno of map_failed). */
  ret: number;
}

/** Every event a simulated kernel records. */
export type KernelEvent =
  | SchedEvent
  | PercpuRefEvent
  | DevresEvent
  | DeviceEvent
  | ResourceEvent
  | LogEvent
  | ModuleEvent
  | SectionEvent
  | MemmapEvent
  | PageRefEvent
  | HotplugEvent
  | MemremapEvent;
