/**
 * percpu_ref fast-path cases: 1,024 get+put pairs per iteration in percpu mode.
 *
 * @module
 */
import { Kernel } from "../../kernel/kernel.ts";
import {
  percpu_ref_get,
  percpu_ref_init,
  percpu_ref_kill,
  percpu_ref_put,
  PercpuRef,
} from "../../kernel/percpu-refcount.ts";
import type { BenchCase } from "../harness.ts";

/** State of a percpu_ref case. */
export interface RefBenchState {
  /** The kernel (trace off). */
  k: Kernel;
  /** The ref under test. */
  ref: PercpuRef;
}

/** Operations per iteration. */
export const REF_OPS = 1024;

function setup(): RefBenchState {
  const k = new Kernel({ cpus: 2, seed: 1 });
  const ref = new PercpuRef();
  percpu_ref_init(k, ref, () => {}, 0, 0);
  return { k, ref };
}

function check(s: RefBenchState): void {
  if (s.ref.value !== 1) throw new Error(`percpu_ref count drifted to ${s.ref.value}`);
}

/**
 * `percpu-ref-get-put` (and, in group trace-overhead, `trace-off`): the real
 * get/put, whose emit sites run with tracing off.
 */
export function percpuRefGetPut(
  name = "percpu-ref-get-put",
  group?: string,
): BenchCase<RefBenchState> {
  return {
    name,
    ...(group === undefined ? {} : { group }),
    ops: REF_OPS,
    setup,
    run(s) {
      const k = s.k, ref = s.ref;
      for (let i = 0; i < REF_OPS; i++) {
        percpu_ref_get(k, ref);
        percpu_ref_put(k, ref);
      }
    },
    check,
    teardown(s) {
      percpu_ref_kill(s.k, s.ref);
    },
    simNow: (s) => s.k.clock.now,
  };
}
