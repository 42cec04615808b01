/**
 * Managed device resources (drivers/base/devres.c, v4.20; devm_release_action
 * from 2019).
 *
 * Each device keeps a list of nodes, oldest first. Release is LIFO: the nodes
 * of the range are first moved off the device's list (so an action that calls
 * devm_remove_action on itself no longer finds its node and WARNs), then run
 * newest first. An action may sleep (the model's actions may be generators).
 *
 * @module
 */
import { isGenerator } from "../sim/sched.ts";
import type { KGen } from "../sim/task.ts";
import type { Device } from "./device.ts";
import { ENOENT, ENOMEM } from "./errno.ts";
import type { Kernel } from "./kernel.ts";
import { WARN_ON } from "./printk.ts";

/** A devm action: `void (*action)(void *data)`; the model's may sleep. */
export type DevmAction<T> = (k: Kernel, data: T) => void | KGen<void>;

/** One devres node. */
export interface DevresNode {
  /** "action", "alloc", "region", "group-open", "group-close". */
  kind: "action" | "alloc" | "region" | "group-open" | "group-close";
  /** A name for traces: the action's function name, "devm_kzalloc", ... */
  name: string;
  /** The action (for "action" nodes) — matched by devm_remove_action. */
  fn: DevmAction<never> | null;
  /** The data pointer. */
  data: unknown;
  /** Release routine run by devres_release_all (null for allocations and markers). */
  release: ((k: Kernel) => void | KGen<void>) | null;
  /** Group id for markers. */
  group: unknown;
}

function fnName(fn: { name: string }): string {
  return fn.name || "anonymous_action";
}

function trace(
  k: Kernel,
  op: "add" | "release" | "remove" | "group_open" | "group_close" | "release_all",
  dev: Device,
  name: string,
) {
  k.trace.emit({ kind: "devres", op, dev: dev.name, name });
}

/** devres_add(dev, res): append a node. */
export function devres_add(k: Kernel, dev: Device, node: DevresNode): void {
  dev.devres.push(node);
  if (k.trace.on) trace(k, "add", dev, node.name);
}

/**
 * devm_add_action(dev, action, data): 0, or -ENOMEM when the node cannot be
 * allocated (fault point "devm_add_action"; its only failure).
 */
export function devm_add_action<T>(k: Kernel, dev: Device, action: DevmAction<T>, data: T): number {
  if (k.faults.shouldFail("devm_add_action")) return -ENOMEM;
  devres_add(k, dev, {
    kind: "action",
    name: fnName(action),
    fn: action as DevmAction<never>,
    data,
    release: (kk) => action(kk, data),
    group: null,
  });
  return 0;
}

/**
 * devm_add_action_or_reset(dev, action, data) (include/linux/device.h): if
 * devm_add_action fails, run `action(data)` at once and return the error.
 * Sleeps if the action does: call with `yield*`.
 */
export function* devm_add_action_or_reset<T>(
  k: Kernel,
  dev: Device,
  action: DevmAction<T>,
  data: T,
): KGen<number> {
  const rc = devm_add_action(k, dev, action, data);
  if (rc !== 0) {
    const r = action(k, data);
    if (isGenerator(r)) yield* r;
  }
  return rc;
}

function findAction(dev: Device, action: DevmAction<never>, data: unknown): number {
  for (let i = dev.devres.length - 1; i >= 0; i--) {
    const n = dev.devres[i]!;
    if (n.kind === "action" && n.fn === action && n.data === data) return i;
  }
  return -1;
}

/**
 * devm_remove_action(dev, action, data): unlink the newest matching node
 * without running it; WARN_ON if there is none (as from inside a release,
 * where the node has already been moved off the list).
 */
export function devm_remove_action<T>(
  k: Kernel,
  dev: Device,
  action: DevmAction<T>,
  data: T,
): void {
  const i = findAction(dev, action as DevmAction<never>, data);
  if (WARN_ON(k, i < 0)) return;
  const [n] = dev.devres.splice(i, 1);
  if (k.trace.on) trace(k, "remove", dev, n!.name);
}

/**
 * devm_release_action(dev, action, data) (2019, follow-up "devm_release_action"):
 * unlink the newest matching node and run it now; WARN_ON if none.
 * Sleeps if the action does: call with `yield*`.
 */
export function* devm_release_action<T>(
  k: Kernel,
  dev: Device,
  action: DevmAction<T>,
  data: T,
): KGen<void> {
  if (!k.fixed("devm_release_action")) {
    throw new RangeError(
      `Cannot call devm_release_action at ${k.series.label}: it exists only with the follow-up "devm_release_action" (preset v5.2)`,
    );
  }
  const i = findAction(dev, action as DevmAction<never>, data);
  if (WARN_ON(k, i < 0)) return;
  const [n] = dev.devres.splice(i, 1);
  if (k.trace.on) trace(k, "release", dev, n!.name);
  const r = n!.release!(k);
  if (isGenerator(r)) yield* r;
}

/**
 * kzalloc(size, gfp): the model allocates by calling `init`; NULL when the
 * allocation fails (fault point "kmalloc").
 */
export function kzalloc<T>(k: Kernel, init: () => T, _gfp = 0): T | null {
  if (k.faults.shouldFail("kmalloc")) return null;
  k.clock.advance(k.cost.get("kmalloc.small"));
  return init();
}

/** kfree(p): nothing to do in a garbage-collected model; kept for symmetry with the kernel's code. */
export function kfree(_k: Kernel, _p: unknown): void {}

/**
 * devm_kzalloc(dev, size, gfp): allocation freed when the device's devres is
 * released; NULL on failure (fault point "devm_kmalloc").
 */
export function devm_kzalloc<T>(k: Kernel, dev: Device, init: () => T, _gfp = 0): T | null {
  if (k.faults.shouldFail("devm_kmalloc")) return null;
  k.clock.advance(k.cost.get("kmalloc.small"));
  const p = init();
  devres_add(k, dev, {
    kind: "alloc",
    name: "devm_kzalloc",
    fn: null,
    data: p,
    release: null,
    group: null,
  });
  return p;
}

/** devm_kfree(dev, p): destroy the allocation's node; WARN_ON if it is not there. */
export function devm_kfree(k: Kernel, dev: Device, p: unknown): void {
  const i = dev.devres.findLastIndex((n) => n.kind === "alloc" && n.data === p);
  if (WARN_ON(k, i < 0)) return;
  dev.devres.splice(i, 1);
  if (k.trace.on) trace(k, "remove", dev, "devm_kzalloc");
}

/** devres_open_group(dev, id, gfp): the group id (a fresh object if `id` is null), or null on failure. */
export function devres_open_group(k: Kernel, dev: Device, id: unknown, _gfp = 0): unknown {
  if (k.faults.shouldFail("kmalloc")) return null;
  const gid = id ?? { group: k.newId() };
  devres_add(k, dev, {
    kind: "group-open",
    name: "devres_group",
    fn: null,
    data: null,
    release: null,
    group: gid,
  });
  if (k.trace.on) trace(k, "group_open", dev, "devres_group");
  return gid;
}

function findGroup(dev: Device, id: unknown): number {
  for (let i = dev.devres.length - 1; i >= 0; i--) {
    const n = dev.devres[i]!;
    if (n.kind === "group-open" && (id === null || n.group === id)) return i;
  }
  return -1;
}

/** devres_close_group(dev, id): close the group (the newest open one if id is null); WARN_ON if none. */
export function devres_close_group(k: Kernel, dev: Device, id: unknown): void {
  const i = findGroup(dev, id);
  if (WARN_ON(k, i < 0)) return;
  devres_add(k, dev, {
    kind: "group-close",
    name: "devres_group",
    fn: null,
    data: null,
    release: null,
    group: dev.devres[i]!.group,
  });
}

/** The slice [open, close] of a group (close = end of list while the group is open). */
function groupRange(dev: Device, id: unknown): [number, number] | null {
  const open = findGroup(dev, id);
  if (open < 0) return null;
  const gid = dev.devres[open]!.group;
  let close = dev.devres.length - 1;
  for (let j = open + 1; j < dev.devres.length; j++) {
    const n = dev.devres[j]!;
    if (n.kind === "group-close" && n.group === gid) {
      close = j;
      break;
    }
  }
  return [open, close];
}

/** devres_remove_group(dev, id): drop only the group's markers; the resources stay. WARN_ON if none. */
export function devres_remove_group(k: Kernel, dev: Device, id: unknown): void {
  const r = groupRange(dev, id);
  if (WARN_ON(k, r === null)) return;
  const gid = dev.devres[r![0]]!.group;
  dev.devres = dev.devres.filter((n) =>
    !((n.kind === "group-open" || n.kind === "group-close") && n.group === gid)
  );
}

/**
 * devres_release_group(dev, id): release everything from the group's open
 * marker to its close marker (or the end of the list while it is open), LIFO;
 * returns the number of non-marker nodes released (-ENOENT path: WARN_ON and 0).
 * Sleeps if an action does: call with `yield*`.
 */
export function* devres_release_group(k: Kernel, dev: Device, id: unknown): KGen<number> {
  const r = groupRange(dev, id);
  if (WARN_ON(k, r === null)) return 0;
  const [open, close] = r!;
  const todo = dev.devres.splice(open, close - open + 1);
  return yield* releaseNodes(k, dev, todo);
}

/**
 * devres_release_all(dev): move every node off the list, then run them newest
 * first. Returns the number of nodes released (-ENODEV if the device has no
 * devres list is not modelled: every device has one).
 * Sleeps if an action does: call with `yield*`.
 */
export function* devres_release_all(k: Kernel, dev: Device): KGen<number> {
  const todo = dev.devres;
  dev.devres = [];
  if (k.trace.on) trace(k, "release_all", dev, `${todo.length} nodes`);
  return yield* releaseNodes(k, dev, todo);
}

function* releaseNodes(k: Kernel, dev: Device, todo: DevresNode[]): KGen<number> {
  const prev = dev.releasing;
  const state = { nodes: todo, next: todo.length - 1, task: k.sched.current };
  dev.releasing = state;
  let count = 0;
  for (let i = todo.length - 1; i >= 0; i--) {
    state.next = i - 1;
    const n = todo[i]!;
    if (n.kind === "group-open" || n.kind === "group-close") continue;
    count++;
    if (k.trace.on) trace(k, "release", dev, n.name);
    if (n.release !== null) {
      const r = n.release(k);
      if (isGenerator(r)) yield* r;
    }
  }
  dev.releasing = prev;
  return count;
}

/** devres_find-like query for tests and notebooks: names of the device's nodes, oldest first. */
export function devresNames(dev: Device): string[] {
  return dev.devres.map((n) => n.name);
}

/** Whether an action node (fn, data) is registered on `dev` (devres_find for actions). */
export function devresHasAction<T>(dev: Device, action: DevmAction<T>, data: T): boolean {
  return findAction(dev, action as DevmAction<never>, data) >= 0;
}

/** @internal -ENOENT, for callers that map WARN paths to errno. */
export const DEVRES_NOT_FOUND: number = -ENOENT;
