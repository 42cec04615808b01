/**
 * HMM device-memory registration cases, shared by bench/hmm_bench.ts and the
 * notebooks: `hmm-register-sections-l5-<N>` and `hmm-register-sections-l6-<N>`
 * for N ∈ {1, 8, 64, 512}.
 *
 * One iteration = one hmm_devmem_add_resource of an N-section DEVICE_PUBLIC
 * resource (an exception to the 1,024 rule); the device's devres release —
 * what unbind does after remove — runs in the untimed check. At level 5 the
 * registration walks HMM's section radix (a radix_tree_lookup and a
 * radix_tree_insert per section under hmm_devmem_lock); at level 6 it is
 * devm_memremap_pages (two conflict probes and one xa_store_range). Both then
 * hot-add the same N sections, so the difference is the registry. Tracing off.
 *
 * @module
 */
import { Device, DEVICES } from "../../kernel/device.ts";
import { devres_release_all } from "../../kernel/devres.ts";
import { type ErrPtr, IS_ERR } from "../../kernel/errno.ts";
import { HMM, hmm_devmem_add_resource, type HmmDevmem } from "../../kernel/hmm.ts";
import { pfn_valid } from "../../kernel/mm/mmzone.ts";
import type { Resource } from "../../kernel/resource.ts";
import type { Machine } from "../../machine.ts";
import { bootZoneDeviceMachine } from "../../scenarios/boot.ts";
import { HmmTestGpu, insertDeviceMemoryResource } from "../../scenarios/hmm-driver.ts";
import type { BenchCase } from "../harness.ts";

/** The section counts of the cases. */
export const HMM_SECTION_COUNTS: readonly number[] = [1, 8, 64, 512];

const SECTION = 2 ** 27;
/** Where the resource sits: 1 TiB, far above System RAM. */
const BASE = 2 ** 40;

/** State of one registration case. */
export interface HmmRegisterState {
  /** The machine (tracing off). */
  m: Machine;
  /** The DEVICE_PUBLIC resource, N sections. */
  res: Resource;
  /** The device of the current iteration. */
  dev: Device;
  /** The driver callbacks. */
  gpu: HmmTestGpu;
  /** What the last registration returned. */
  ret: HmmDevmem | ErrPtr | null;
}

/**
 * `hmm-register-sections-l<level>-<n>`: Deno.bench group
 * `hmm-register-sections-<n>`, level 6 as the baseline.
 */
export function hmmRegisterSections(level: 5 | 6, n: number): BenchCase<HmmRegisterState> {
  if (!HMM_SECTION_COUNTS.includes(n)) {
    throw new RangeError(
      `Cannot make the HMM registration case: ${n} sections is not one of ${
        HMM_SECTION_COUNTS.join(", ")
      }`,
    );
  }
  return {
    name: `hmm-register-sections-l${level}-${n}`,
    group: `hmm-register-sections-${n}`,
    ...(level === 6 ? { baseline: true } : {}),
    ops: 1,
    setup() {
      const m = bootZoneDeviceMachine("ram-4g", { series: level, seed: 1 });
      const res = insertDeviceMemoryResource(m.k, "cdm-bench", BASE, n * SECTION);
      return { m, res, dev: new Device(m.k, "cdm0", "platform"), gpu: new HmmTestGpu(), ret: null };
    },
    prepare(s) {
      s.dev = new Device(s.m.k, "cdm0", "platform");
      // one device and one devmem per iteration: keep the simulator's lists short
      const devs = s.m.k.state(DEVICES);
      if (devs.length > 64) devs.splice(0, devs.length - 64);
      const devmems = s.m.k.state(HMM).devmems;
      if (devmems.length > 64) devmems.splice(0, devmems.length - 64);
    },
    run(s) {
      s.ret = s.m.call(hmm_devmem_add_resource, s.gpu.ops, s.dev, s.res);
    },
    check(s) {
      if (IS_ERR(s.ret) || s.ret === null) {
        throw new Error(`hmm_devmem_add_resource failed: ${s.ret}`);
      }
      s.m.call(devres_release_all, s.dev); // the unbind, untimed
      if (pfn_valid(s.m.k, BASE / 4096) || pfn_valid(s.m.k, BASE / 4096 + n * 32768 - 1)) {
        throw new Error("the unbind left sections behind");
      }
    },
    simNow: (s) => s.m.k.clock.now,
  };
}
