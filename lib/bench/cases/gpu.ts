/**
 * GPU fault-path benchmark cases, shared by bench/gpu_bench.ts and the
 * notebooks.
 *
 * `gpu-fault-batch`: one iteration services exactly one device far-fault
 * batch of 256 faults (an exception to the 1,024 rule) — nouveau_svm_fault:
 * fetch from the fault buffer, de-duplicate and sort, migrate the 256 pages
 * to VRAM with migrate_vma (their copy-on-write chunks are shared with VRAM,
 * one copy-engine DMA per page), map them in the GPU page table. The faults
 * are 256 distinct pages of one 2 MiB VA block, raised in a seeded random
 * order, every other one a write. Outside the timed region, prepare moves
 * the previous batch's pages back (a CPU store to each: a device-private
 * fault that migrates it back, then a new tag) and raises the next 256
 * faults; check verifies that every page is mapped in VRAM and holds its
 * tag. Tracing off.
 *
 * The machine: 2 GiB of RAM, a GPU with 1 GiB of VRAM behind a resizable
 * BAR on a x16 link of the chosen generation (default Gen4, the cost
 * model's reference), series v5.0. {@link gpuFaultBatchSimulated} runs the
 * same batch at any generation and returns its simulated time with the
 * cost-model parts it is made of.
 *
 * @module
 */
import { bootMachine, type Machine } from "../../machine.ts";
import type { Kernel } from "../../kernel/kernel.ts";
import { Prng } from "../../sim/prng.ts";
import { Process } from "../../kernel/mm/process.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../kernel/mm/mm-types.ts";
import { nouveau_bind, type NouveauDrm } from "../../drivers/gpu/drm.ts";
import { nouveau_svm_fault, nouveau_svmm_init, type NouveauSvmm } from "../../drivers/gpu/svm.ts";
import { DPTE_VRAM, DPTE_WRITE } from "../../hw/gpu/page-table.ts";
import { FAULT_READ, FAULT_WRITE } from "../../hw/gpu/faults.ts";
import { hostPath, transferNs } from "../../hw/pcie/dma.ts";
import type { BenchCase } from "../harness.ts";

/** Faults per iteration (one batch: gpu.faultsPerBatchMax). */
export const GPU_BATCH = 256;
const BLOCK = 2 * 2 ** 20;

/** A machine description with one GPU on a Gen `gen` x16 link. */
export function gpuBenchMachine(gen: 3 | 4 | 5 | 6): object {
  return {
    name: `bench-gpu-gen${gen}`,
    description: `2 GiB of RAM and a GPU (1 GiB VRAM, resizable BAR) on a Gen${gen} x16 root port`,
    cpus: 2,
    paging: "4-level",
    ram: [{ start: "0", size: "2GiB" }],
    pci: {
      hostBridges: [{
        name: "pci0",
        windows: [
          { start: "0xc0000000", size: "512MiB" },
          { start: "8GiB", size: "4GiB", prefetch: true },
        ],
      }],
      devices: [
        {
          name: "rp1",
          type: "root-port",
          parent: "pci0",
          slot: 1,
          link: { gen, width: 16 },
          mps: 256,
        },
      ],
    },
    gpus: [{
      name: "gpu0",
      parent: "rp1",
      vram: "1GiB",
      bar: "resizable",
      link: { gen, width: 16 },
      mps: 256,
    }],
  };
}

/** State of `gpu-fault-batch`. */
export interface GpuFaultBatchState {
  /** The machine. */
  m: Machine;
  /** Its kernel. */
  k: Kernel;
  /** The bound GPU. */
  drm: NouveauDrm;
  /** The process. */
  p: Process;
  /** Its mirror on the GPU. */
  svmm: NouveauSvmm;
  /** First page of the 2 MiB-aligned buffer. */
  base: number;
  /** Seeded random order of the faults. */
  order: Int32Array;
  /** The PRNG that shuffles each batch. */
  prng: Prng;
  /** Iterations prepared. */
  iteration: number;
  /** Distinct pages the last run serviced. */
  serviced: number;
  /** Simulated ns of the last run. */
  lastSimNs: number;
}

/** The tag word 0 of page `i` holds in iteration `it`. */
export function gpuBatchTag(i: number, it: number): number {
  return ((i + 1) * 2654435761 + it * 40503) | 0 || 1;
}

/** `gpu-fault-batch` at PCIe generation `gen` (default 4). */
export function gpuFaultBatch(
  opts: { gen?: 3 | 4 | 5 | 6; seed?: number } = {},
): BenchCase<GpuFaultBatchState> {
  const gen = opts.gen ?? 4;
  const seed = opts.seed ?? 20181120;
  return {
    name: gen === 4 ? "gpu-fault-batch" : `gpu-fault-batch-gen${gen}`,
    group: "gpu",
    ops: GPU_BATCH,
    setup() {
      const m = bootMachine(gpuBenchMachine(gen), { series: "v5.0", seed });
      const k = m.k;
      const drm = m.call(nouveau_bind, m.hw!, "gpu0");
      if (typeof drm === "number" || drm.dmem === null) {
        throw new Error(`nouveau did not bind with device memory: ${drm}`);
      }
      const p = new Process(k, "bench");
      const svmm = nouveau_svmm_init(k, drm, p.mm);
      if (typeof svmm === "number") throw new Error(`nouveau_svmm_init: ${svmm}`);
      const raw = p.mmap(0, 2 * BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      const base = Math.ceil(raw / BLOCK) * BLOCK;
      for (let i = 0; i < GPU_BATCH; i++) p.store32(base + i * 4096, gpuBatchTag(i, 0));
      const order = new Int32Array(GPU_BATCH);
      for (let i = 0; i < GPU_BATCH; i++) order[i] = i;
      return {
        m,
        k,
        drm,
        p,
        svmm,
        base,
        order,
        prng: new Prng(seed),
        iteration: 0,
        serviced: 0,
        lastSimNs: 0,
      };
    },
    prepare(s) {
      const { p, base, order, prng } = s;
      const it = ++s.iteration;
      // move the last batch's pages back: a CPU store to each (a device-private fault), a new tag
      if (it > 1) {
        for (let i = 0; i < GPU_BATCH; i++) p.store32(base + i * 4096, gpuBatchTag(i, it));
      }
      for (let i = GPU_BATCH - 1; i > 0; i--) {
        const j = prng.int(i + 1);
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      const g = s.drm.gpu;
      for (let j = 0; j < GPU_BATCH; j++) {
        const i = order[j]!;
        g.raiseFault(base + i * 4096 + (j & 7) * 8, (i & 1) === 1 ? FAULT_WRITE : FAULT_READ);
      }
    },
    run(s) {
      const t0 = s.k.clock.now;
      s.serviced = nouveau_svm_fault(s.k, s.drm);
      s.lastSimNs = s.k.clock.now - t0;
    },
    check(s) {
      const svm = s.drm.svm!, g = s.drm.gpu;
      if (s.serviced !== GPU_BATCH || svm.batch.fetched !== GPU_BATCH) {
        throw new Error(`the batch serviced ${s.serviced} pages of ${svm.batch.fetched} faults`);
      }
      if (svm.cancelled !== 0) throw new Error(`${svm.cancelled} faults were cancelled`);
      const it = Math.max(1, s.iteration);
      for (let i = 0; i < GPU_BATCH; i++) {
        const r = g.pageTable.raw(s.base + i * 4096);
        if ((r & DPTE_VRAM) === 0) throw new Error(`page ${i} is not mapped in VRAM (entry ${r})`);
        if ((i & 1) === 1 && (r & DPTE_WRITE) === 0) throw new Error(`page ${i} is read-only`);
        const v = g.vram.readWord(Math.floor(r / 8), 0);
        const want = gpuBatchTag(i, it === 1 ? 0 : it);
        if (v !== want) throw new Error(`page ${i} holds ${v} in VRAM, expected ${want}`);
      }
    },
    simNow: (s) => s.k.clock.now,
  };
}

/** The simulated time of one batch and the cost-model parts it is made of. */
export interface GpuBatchSimulated {
  /** PCIe generation. */
  gen: number;
  /** Simulated ns of the whole batch. */
  totalNs: number;
  /** gpu.farFaultBatchFixed. */
  fixedNs: number;
  /** 256 × gpu.perFaultInBatch. */
  perFaultNs: number;
  /** 256 copy-engine DMAs of 4 KiB (pcie.dmaLatency + wire time each). */
  copyNs: number;
  /** The rest (software page-table walks of migrate_vma). */
  otherNs: number;
  /** One 4 KiB DMA at this generation. */
  dma4KiBNs: number;
}

/**
 * Runs the benchmark's batch once (after one warm-up batch) on the
 * Gen `gen` machine and splits its simulated time into the cost model's
 * parts.
 */
export function gpuFaultBatchSimulated(gen: 3 | 4 | 5 | 6): GpuBatchSimulated {
  const c = gpuFaultBatch({ gen });
  const s = c.setup();
  for (let i = 0; i < 2; i++) {
    c.prepare!(s);
    c.run(s);
    c.check!(s, i);
  }
  const k = s.k;
  const dma = transferNs(k.cost, hostPath(s.drm.gpu.pci), 4096);
  const fixedNs = k.cost.get("gpu.farFaultBatchFixed");
  const perFaultNs = GPU_BATCH * k.cost.get("gpu.perFaultInBatch");
  const copyNs = GPU_BATCH * dma;
  return {
    gen,
    totalNs: s.lastSimNs,
    fixedNs,
    perFaultNs,
    copyNs,
    otherNs: s.lastSimNs - fixedNs - perFaultNs - copyNs,
    dma4KiBNs: dma,
  };
}
