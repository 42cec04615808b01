/**
 * Wait explainers for hang reports: lib/sim asks, for each blocked task, what
 * its wait queue is; these answer for the kernel's objects and follow the
 * chain — mutex → owner task; completion → the percpu_ref whose release
 * completes it → that ref's holders by kind → for holders only a devres action
 * would drop, that action and the task that will run it.
 *
 * @module
 */
import type { Explanation, WaitLink } from "../sim/sched.ts";
import type { WaitQueue } from "../sim/task.ts";
import type { Completion } from "./completion.ts";
import { DEVICES } from "./device.ts";
import type { DevmAction } from "./devres.ts";
import type { Kernel, SubsystemKey } from "./kernel.ts";
import type { Mutex } from "./mutex.ts";
import { PercpuRef } from "./percpu-refcount.ts";

/** A group of holders of a percpu_ref, as a subsystem reports it. */
export interface RefHolders {
  /** How many references this group holds. */
  count: number;
  /** Who holds them: "pages of pgmap 3 [16 GiB, +128 MiB)", "get_dev_pagemap by task 4". */
  what: string;
  /** The devres action that would drop them, if any. */
  droppedBy?: { fn: DevmAction<never>; data: unknown };
}

/** A function that lists the holders of `ref` it knows about. */
export type RefHolderSource = (ref: PercpuRef) => RefHolders[];

/** Per-kernel list of holder sources (memmap pages, allocations, lookups ...). */
export const REF_HOLDER_SOURCES: SubsystemKey<RefHolderSource[]> = {
  name: "ref-holder-sources",
  create: () => [],
};

/** Describes where the devres action (fn, data) stands on any device. */
function pendingAction(k: Kernel, fn: DevmAction<never>, data: unknown): string {
  for (const dev of k.state(DEVICES)) {
    const r = dev.releasing;
    if (r !== null) {
      for (let i = r.next; i >= 0; i--) {
        const n = r.nodes[i]!;
        if (n.fn === fn && n.data === data) {
          return `dropped by devres action ${n.name} of ${dev.name}, still pending: task ${r.task} runs it only after its current wait returns`;
        }
      }
    }
    for (const n of dev.devres) {
      if (n.fn === fn && n.data === data) {
        return `dropped by devres action ${n.name} of ${dev.name}, which runs when ${dev.name} is unbound`;
      }
    }
  }
  return `no registered devres action drops them (${fn.name} is not on any device's list): they are never released`;
}

/** Explains a percpu_ref: its count, mode, and who holds it. */
export function explainRef(k: Kernel, ref: PercpuRef): WaitLink {
  const state = ref.pcpu === null ? "exited" : ref.dead ? "killed" : "live (never killed)";
  const value = ref.value;
  const next: WaitLink[] = [];
  let attributed = 0;
  for (const src of k.state(REF_HOLDER_SOURCES)) {
    for (const h of src(ref)) {
      if (h.count === 0) continue;
      attributed += h.count;
      next.push({
        text: `${h.count} held by ${h.what}`,
        next: h.droppedBy
          ? [{ text: pendingAction(k, h.droppedBy.fn, h.droppedBy.data), next: [] }]
          : [],
      });
    }
  }
  if (value > attributed) {
    const rest = value - attributed;
    next.push({
      text: ref.dead
        ? `${rest} reference(s) not attributed to any holder`
        : `${rest} reference(s), including the initial one, which only a kill drops`,
      next: [],
    });
  }
  return {
    text: `the release of percpu_ref '${ref.name}' #${ref.id}, count ${value}, ${state}`,
    next,
  };
}

/** Installs the kernel's explainers on its scheduler. */
export function installExplainers(k: Kernel): void {
  k.sched.explainers.set("mutex", (wq: WaitQueue): Explanation => {
    const m = wq.owner as Mutex;
    return m.owner === null
      ? { text: `mutex '${m.name}' (free; about to be taken)`, next: [] }
      : { text: `mutex '${m.name}' held by task ${m.owner}`, next: [m.owner] };
  });
  k.sched.explainers.set("completion", (wq: WaitQueue): Explanation => {
    const c = wq.owner as Completion;
    const head = `wait_for_completion '${c.name}' (done=${c.done})`;
    if (c.completer instanceof PercpuRef) {
      return { text: `${head}, completed by`, next: [explainRef(k, c.completer)] };
    }
    return { text: `${head}; nothing known will complete it`, next: [] };
  });
  k.sched.explainers.set("percpu_ref_switch", (wq: WaitQueue): Explanation => {
    const ref = wq.owner as PercpuRef;
    return {
      text: `percpu_ref '${ref.name}' switch to atomic in flight (needs an RCU grace period)`,
      next: [],
    };
  });
}
