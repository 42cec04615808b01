/**
 * fsdax-fault: 1,024 PTE faults per iteration on an fsdax mapping — CPU
 * loads from 1,024 untouched pages of a DAX file on an fsdax pmem namespace
 * (map=dev), mapped shared with MADV_NOHUGEPAGE so every fault is a
 * page-size one: the MMU walk misses, the fault goes through
 * handle_mm_fault_devmap → handle_mm_fault → do_fault → dax_iomap_fault
 * (PTE) → pmem's direct_access → vmf_insert_mixed, and the load retries.
 * Between iterations, outside the timed region, MADV_DONTNEED zaps the
 * 1,024 ptes (the file's DAX entries stay, as in the kernel).
 *
 * Target: ≥ 10 M faults/s of host time (≤ 100 ns per fault). The simulated
 * time per fault is the cost model's DAX fault (cpu.zeroPageReadFault: a
 * fault that installs an existing frame, nothing to clear); it is reported
 * beside the host figure, never mixed with it.
 *
 * After each iteration the case checks that PGFAULT grew by exactly 1,024
 * and that every page is mapped by a devmap pte of the namespace.
 *
 * @module
 */
import { bootMachine } from "../../machine.ts";
import type { Kernel } from "../../kernel/kernel.ts";
import { HUB } from "../../kernel/mm/hub.ts";
import { MADV_DONTNEED, MADV_NOHUGEPAGE, MAP_SHARED, PROT_READ } from "../../kernel/mm/mm-types.ts";
import { Process } from "../../kernel/mm/process.ts";
import { pte_devmap, pteAt } from "../../kernel/mm/pgtable.ts";
import { nd_bound_device } from "../../drivers/nvdimm/bind.ts";
import { pmemOf } from "../../drivers/nvdimm/pmem.ts";
import { dax_fs_create, dax_fs_open } from "../../drivers/dax/fsdax.ts";
import { userTouch } from "../../drivers/dax/uaccess.ts";
import type { BenchCase } from "../harness.ts";

/** Faults per iteration. */
export const FSDAX_FAULT_OPS = 1024;

/** State of `fsdax-fault`. */
export interface FsdaxFaultState {
  /** The kernel. */
  k: Kernel;
  /** The process. */
  p: Process;
  /** First address of the mapping. */
  base: number;
  /** PGFAULT before the last iteration. */
  pgfault0: number;
  /** First and last physical page of the namespace's data. */
  pfnRange: [number, number];
  /** Whether the previous iteration left ptes to zap. */
  dirty: boolean;
}

/**
 * The `fsdax-fault` case.
 *
 * @example One iteration through the harness
 * ```ts
 * import { fsdaxFault } from "./fsdax.ts";
 * import { runCase } from "../harness.ts";
 * import { assertEquals } from "@std/assert";
 * const r = runCase(fsdaxFault(), { iterations: 2, warmup: 1 });
 * assertEquals(r.ops, 1024);
 * assertEquals(r.simNs!.p50 / r.ops >= 470, true);
 * ```
 */
export function fsdaxFault(): BenchCase<FsdaxFaultState> {
  return {
    name: "fsdax-fault",
    group: "fault",
    ops: FSDAX_FAULT_OPS,
    setup() {
      const m = bootMachine("workstation-2018", { series: "v5.0" });
      const k = m.k;
      const nd = m.hw!.ndctl!;
      const r = nd.createNamespace({ mode: "fsdax", map: "dev", size: "1G" });
      if (!r.ok) throw new Error(`Cannot set up fsdax-fault: ${r.error}`);
      const ns = nd.namespace(r.dev)!;
      const pmem = pmemOf(k, nd_bound_device(k, ns)!)!;
      const len = FSDAX_FAULT_OPS * 4096;
      const inode = dax_fs_create(k, pmem, "bench", 0, len);
      const p = new Process(k, "bench");
      const base = p.mmap(0, len, PROT_READ, MAP_SHARED, dax_fs_open(k, inode, false), 0);
      p.madvise(base, len, MADV_NOHUGEPAGE);
      const first = (pmem.phys_addr + pmem.data_offset) / 4096;
      return {
        k,
        p,
        base,
        pgfault0: 0,
        pfnRange: [first, first + (pmem.size - pmem.pfn_pad - pmem.data_offset) / 4096 - 1],
        dirty: false,
      };
    },
    prepare(s) {
      if (s.dirty) s.p.madvise(s.base, FSDAX_FAULT_OPS * 4096, MADV_DONTNEED);
      s.dirty = true;
      s.pgfault0 = s.k.state(HUB).faults.pgfault;
    },
    run(s) {
      const k = s.k, p = s.p, base = s.base;
      for (let j = 0; j < FSDAX_FAULT_OPS; j++) userTouch(k, p, base + j * 4096, false);
    },
    check(s, iteration) {
      const faults = s.k.state(HUB).faults.pgfault - s.pgfault0;
      if (faults !== FSDAX_FAULT_OPS) {
        throw new Error(
          `fsdax-fault iteration ${iteration}: ${faults} faults, expected ${FSDAX_FAULT_OPS}`,
        );
      }
      for (let j = 0; j < FSDAX_FAULT_OPS; j += 97) {
        const pte = pteAt(s.p.mm.pgd, s.base + j * 4096);
        const pfn = s.p.pfnAt(s.base + j * 4096);
        if (!pte_devmap(pte) || pfn < s.pfnRange[0] || pfn > s.pfnRange[1]) {
          throw new Error(
            `fsdax-fault iteration ${iteration}: page ${j} is not a devmap pte of the namespace`,
          );
        }
      }
    },
    simNow: (s) => s.k.now,
  };
}
