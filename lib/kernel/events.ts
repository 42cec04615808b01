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

/** Every event a simulated kernel records. */
export type KernelEvent =
  | SchedEvent
  | PercpuRefEvent
  | DevresEvent
  | DeviceEvent
  | ResourceEvent
  | LogEvent;
