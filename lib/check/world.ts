/**
 * The fuzzer's world: one machine (by default the `fuzz` machine), what the
 * user side holds on it (processes, their mappings, GUP pins, p2pmem
 * allocations, dmirror opens), and the interpreter of {@link Op}s — whole-
 * machine operations as plain data, so that fast-check can shrink a failing
 * sequence and a person can replay it.
 *
 * An op names its objects by index (namespace 1, process 0, ...), resolved
 * modulo what exists when it runs; an op whose object does not exist, or
 * whose precondition does not hold, is skipped (the world's model of what a
 * well-behaved user can do). Kernel outcomes — an error return, a signal, a
 * blocked task — are not failures; the invariant checker decides.
 *
 * Processes: besides `proc-new`, `fork` makes a child (dup_mm) that joins
 * the world with copies of its parent's mappings and of its parent's
 * contents shadow; later ops pick it like any process (at most four). The
 * machine boots with a 4-page hugetlb pool (`hugetlbPages`); `hugetlb-pool`
 * resizes it (a shrink below the pages in use leaves them surplus),
 * `mmap-huge` maps 1 to 3 huge pages of MAP_HUGETLB (private or shared) or a
 * THP-eligible private region (madvised MADV_HUGEPAGE; the THP mode stays
 * "madvise"), and `madvise`, `mprotect`, `munmap-part` (whole 2 MiB units
 * of a hugetlb mapping) work on any mapping. Touches, pins and device ops
 * spread their 64 page indices over a THP or hugetlb mapping. A store
 * through a shared hugetlb mapping is shadowed in every fork copy that maps
 * the same page; the model has no hugetlbfs page cache, so a page one side
 * faults after the fork would be its own where the kernel shares it — the
 * world does not fault such pages (see `sharedHugetlbFault`).
 *
 * Kernel code runs in tasks: every op spawns its work as a task, and the
 * step ends by running the machine until it is quiescent under a seeded
 * schedule — so a task left blocked by an earlier step (an unbind waiting
 * for a pin, say) interleaves with the new ones. `parallel` spawns two ops'
 * tasks together. ndctl commands run from outside the machine (as the
 * sysfs writes they model do) and drive the scheduler themselves.
 *
 * Alignment: with `aligned` (the default) namespaces are whole 128 MiB
 * sections, as libnvdimm's alignment keeps them on real systems, and the
 * machine's BARs are section aligned; without it namespace sizes are
 * multiples of 32 MiB, and two namespaces can share a section.
 *
 * What the well-behaved user does not do (each a known failure, not a
 * finding; tests in tests/check/fuzz_finds_test.ts show the first):
 * - touch device-private pages of a device whose unbind has started
 *   (`touchDyingDeviceMemory`): at v5.2 the release's put loop hands still
 *   mapped pages back to the driver, and the next access frees the page a
 *   second time (the dummy driver's __free_page(NULL) Oopses);
 * - unbind the GPU while its device memory is in use: nouveau_dmem_fini
 *   frees the chunks under the mapped pages (v5.1/v5.2 nouveau had no
 *   eviction);
 * - issue a dmirror ioctl once the device's unbind has started (the 2018
 *   dummy driver has no dead flag, so it would hand out pages after the put
 *   loop).
 *
 * @module
 */
import { bootMachine, type Machine } from "../machine.ts";
import type { SeriesOptions } from "../series.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { delete_module, load_module } from "../kernel/module.ts";
import { FOLL_WRITE, get_user_pages, get_user_pages_remote } from "../kernel/mm/gup.ts";
import { put_page } from "../kernel/mm/swap.ts";
import { Process, SignalDelivered } from "../kernel/mm/process.ts";
import {
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../kernel/mm/mm-types.ts";
import { type PciDev, pciDevByName } from "../drivers/pci/pci.ts";
import { p2pmemProviderDriver } from "../drivers/pci/p2pmem-provider.ts";
import {
  DMA_TO_DEVICE,
  pci_has_p2pmem,
  pci_p2pdma_map_sg,
  pci_p2pmem_alloc_sgl,
  pci_p2pmem_free_sgl,
  type Scatterlist,
} from "../drivers/pci/p2pdma.ts";
import {
  type Dmirror,
  dmirror_create,
  dmirror_migrate,
  dmirror_open,
  dmirror_read,
  dmirror_release,
  dmirror_unbind,
  dmirror_write,
  DmirrorDevice,
  dmirrorDevices,
} from "../drivers/dmirror.ts";
import { dax_get_unmapped_area, dax_open } from "../drivers/dax/device.ts";
import {
  NOUVEAU,
  nouveau_bind,
  nouveau_unbind,
  nouveauDevices,
  type NouveauDrm,
} from "../drivers/gpu/drm.ts";
import {
  nouveau_gpu_read,
  nouveau_gpu_write,
  nouveau_svmm_bind,
  nouveau_svmm_fini,
  nouveau_svmm_init,
  type NouveauSvmm,
} from "../drivers/gpu/svm.ts";
import { devmapTranslate } from "../kernel/mm/devmap-mm.ts";
import { userStore32 } from "../drivers/dax/uaccess.ts";
import type { Namespace } from "../hw/nvdimm/namespace.ts";
import { WORDS_PER_PAGE } from "../kernel/mm/page-contents.ts";
import {
  is_device_private_entry,
  pte_present,
  pte_to_swp_entry,
  swp_offset,
} from "../kernel/mm/pgtable.ts";
import { InvariantChecker } from "./invariants.ts";
import { genalloc_init } from "../kernel/genalloc.ts";
import { ENOMEM } from "../kernel/errno.ts";
import { set_nr_hugepages } from "../kernel/mm/huge-memory.ts";

const SECTION = 2 ** 27;
const PAGE = 4096;
const HUGE_SIZE = 2 ** 21;

/** One whole-machine operation (plain data: printable, shrinkable, replayable). */
export type Op =
  | { op: "ns-create"; mode: "raw" | "fsdax" | "devdax"; map: "mem" | "dev"; units: number }
  | { op: "ns-destroy"; ns: number }
  | { op: "ns-reconfigure"; ns: number; mode: "raw" | "fsdax" | "devdax"; map: "mem" | "dev" }
  | { op: "ns-disable"; ns: number }
  | { op: "ns-enable"; ns: number }
  | { op: "p2p-bind"; bars: readonly number[] }
  | { op: "p2p-unbind" }
  | { op: "p2p-alloc"; pages: number }
  | { op: "p2p-free"; a: number }
  | { op: "p2p-map"; a: number }
  | { op: "hmm-add"; sections: number }
  | { op: "hmm-unbind"; dev: number }
  | { op: "gpu-bind" }
  | { op: "gpu-unbind" }
  | { op: "proc-new" }
  | { op: "proc-exit"; p: number }
  | { op: "mmap"; p: number; pages: number }
  | { op: "munmap"; p: number; vma: number }
  | { op: "fork"; p: number }
  | {
    op: "madvise";
    p: number;
    vma: number;
    page: number;
    n: number;
    advice: "dontneed" | "free" | "hugepage" | "nohugepage";
  }
  | { op: "mprotect"; p: number; vma: number; page: number; n: number; write: boolean }
  | { op: "hugetlb-pool"; n: number }
  | { op: "mmap-huge"; p: number; huge: number; kind: "thp" | "private" | "shared" }
  | { op: "munmap-part"; p: number; vma: number; first: number; n: number }
  | { op: "touch"; p: number; vma: number; page: number; write: boolean }
  | { op: "migrate"; p: number; vma: number; page: number; n: number; dev: number }
  | {
    op: "gpu-fault";
    p: number;
    vma: number;
    page: number;
    n: number;
    dev: number;
    write: boolean;
  }
  | { op: "pin"; p: number; vma: number; page: number }
  | { op: "unpin"; pin: number }
  | { op: "dax-map"; p: number; ns: number }
  | { op: "module"; gpl: boolean; syms: readonly number[] }
  | { op: "fail"; point: string; nth: number; step: Op }
  | { op: "power-cycle" }
  | { op: "parallel"; a: Op; b: Op };

/** Symbols a fuzzed module may import. */
export const MODULE_SYMBOLS: readonly string[] = [
  "devm_memremap_pages",
  "get_dev_pagemap",
  "hmm_devmem_add",
  "hmm_devmem_add_resource",
  "hmm_devmem_remove",
  "hmm_mirror_register",
  "migrate_vma",
  "put_page",
  "pci_alloc_p2pmem",
];

/** A user mapping of a process. */
interface Vma {
  addr: number;
  pages: number;
  /**
   * "anon" (private anonymous), "dax" (a /dev/dax mapping: stores go to the
   * media), "thp" (private anonymous over an aligned 2 MiB, THP-eligible
   * after MADV_HUGEPAGE) or "hugetlb" (MAP_HUGETLB, private or shared).
   */
  kind: "anon" | "dax" | "thp" | "hugetlb";
  /**
   * A shared hugetlb mapping's identity, kept by the copies fork makes: a
   * store through one copy shows in every copy that maps the same page.
   */
  group?: object;
}

/** A process the world drives. */
interface Proc {
  p: Process;
  vmas: Vma[];
  /** dmirror opens by device. */
  mirrors: Map<DmirrorDevice, Dmirror>;
  /** The GPU's mirror of this process (one process per GPU). */
  svmms: Map<NouveauDrm, NouveauSvmm>;
}

/** A GUP pin the user side holds. */
interface Pin {
  pfn: number;
}

/** A p2pmem allocation a client holds. */
interface P2pAlloc {
  sgl: Scatterlist[];
}

/** Options of a {@link World}. */
export interface WorldOptions {
  /** Series (default preset v5.2). */
  series?: SeriesOptions["series"];
  /** Follow-ups. */
  followups?: readonly string[];
  /** Variants. */
  variants?: readonly string[];
  /** Machine description (default "fuzz"). */
  machine?: string | object;
  /** Boot seed. */
  seed?: number;
  /** Keep namespaces section aligned (default true). */
  aligned?: boolean;
  /** Seed of the step schedules (default 0). */
  scheduleSeed?: number;
  /**
   * Let a process touch (CPU, device, GUP) while it maps device-private
   * pages of a device whose unbind has started (default false). At v5.2 the
   * unbind's put loop has already handed those pages back to the driver
   * (page_free at refcount 1) although they are still mapped; the next
   * access frees such a page again, and the dummy driver Oopses on its NULL
   * backing page — a real 2019 defect the default generator steers around,
   * as drivers that evict their memory before teardown do.
   */
  touchDyingDeviceMemory?: boolean;
  /**
   * Let a process fault a page of a shared hugetlb mapping that a fork copy
   * in another live process also maps (default false). The model has no
   * hugetlbfs page cache: such a fault allocates a page of this process's
   * own, where v4.20's hugetlb_no_page finds the file's page (or adds one
   * the other copy then finds), so the copies stop sharing — a known model
   * gap the default generator steers around; with this option the shadow
   * expects the kernel's sharing, and the fuzzer finds it
   * (tests/check/fuzz_finds_test.ts).
   */
  sharedHugetlbFault?: boolean;
  /**
   * hugetlb pages in the pool at boot and after each power cycle (default
   * 4: 8 MiB; the `hugetlb-pool` op resizes it).
   */
  hugetlbPages?: number;
}

/** What happened in one step. */
export interface StepRecord {
  /** The op. */
  op: Op;
  /** What it did: "skipped", or a short outcome. */
  outcome: string;
}

/** The fault points the fuzzer injects at (a booted world's k.faults.points, sorted). */
export function faultPointsOf(m: Machine): string[] {
  touchSubsystems(m.k);
  return [...m.k.faults.points.keys()].sort();
}

/** Creates every subsystem state that registers fault points, so the point list is complete from the start. */
function touchSubsystems(k: Kernel): void {
  dmirrorDevices(k);
  k.state(NOUVEAU);
  genalloc_init(k);
}

/** A machine plus the user side's holdings, and the op interpreter. */
export class World {
  /** The machine (a power cycle replaces it). */
  m: Machine;
  /** The invariant checker. */
  readonly checker: InvariantChecker;
  /** Steps run, with outcomes. */
  readonly log: StepRecord[] = [];
  readonly #opts: WorldOptions;
  #procs: Proc[] = [];
  #pins: Pin[] = [];
  #allocs: P2pAlloc[] = [];
  #nextValue = 1;
  #step = 0;
  #modules = 0;

  /**
   * Boots the world's machine.
   * @param opts series, machine, alignment, schedule seed.
   */
  constructor(opts: WorldOptions = {}) {
    this.#opts = opts;
    this.m = bootMachine(opts.machine ?? "fuzz", {
      series: opts.series ?? "v5.2",
      ...(opts.followups ? { followups: opts.followups } : {}),
      ...(opts.variants ? { variants: opts.variants } : {}),
      seed: opts.seed ?? 0,
    });
    touchSubsystems(this.m.k);
    this.checker = new InvariantChecker(this.m);
    this.#startProcess();
  }

  /**
   * Every world starts with a hugetlb pool (vm.nr_hugepages at boot,
   * `hugetlbPages`) and one process with one 64-page anonymous mapping
   * (nothing faulted in yet).
   */
  #startProcess(): void {
    const pool = this.#opts.hugetlbPages ?? 4;
    if (pool > 0) set_nr_hugepages(this.k, pool);
    this.#run({ op: "proc-new" });
    this.#run({ op: "mmap", p: 0, pages: 64 });
  }

  /** The kernel. */
  get k(): Kernel {
    return this.m.k;
  }

  /** Runs one op and brings the machine to quiescence. */
  step(op: Op): StepRecord {
    const rec: StepRecord = { op, outcome: "" };
    this.log.push(rec);
    rec.outcome = this.#run(op);
    this.#settle();
    return rec;
  }

  /**
   * Runs the machine until every task has finished or is blocked, under a
   * seeded schedule. The seed counts the settles that had tasks to run, so
   * removing a step that did nothing (while shrinking) keeps every later
   * schedule the same.
   */
  #settle(): void {
    if (!this.#spawned) return;
    this.#spawned = false;
    this.#step++;
    const seed = ((this.#opts.scheduleSeed ?? 0) * 7919 + this.#step) >>> 0;
    this.m.runAll({ schedule: { seed } });
  }

  #spawned = false;

  #spawn(name: string, body: (k: Kernel) => unknown): void {
    this.#spawned = true;
    this.m.spawn(name, body as never);
  }

  #run(op: Op): string {
    switch (op.op) {
      case "parallel": {
        const a = this.#run(op.a);
        const b = this.#run(op.b);
        return `${a} ‖ ${b}`;
      }
      case "fail": {
        const k = this.k;
        if (!k.faults.points.has(op.point)) return "skipped";
        k.faults.arm(op.point, { nth: op.nth });
        const out = this.#run(op.step);
        this.#settle();
        k.faults.disarm(op.point);
        return `${op.point}#${op.nth}: ${out}`;
      }
      case "power-cycle":
        return this.#powerCycle();
      case "ns-create":
      case "ns-destroy":
      case "ns-reconfigure":
      case "ns-disable":
      case "ns-enable":
        return this.#ndctl(op);
      case "p2p-bind": {
        const pdev = this.#p2p();
        if (pdev.driver !== null) return "skipped";
        // the provider's two 128 MiB BARs are BARs 2 and 4 (any other index names BAR 2)
        const bars = [...new Set(op.bars.map((b) => (b === 4 ? 4 : 2)))];
        this.#spawn("p2p-bind", function* (k) {
          yield* driver_probe_device(k, p2pmemProviderDriver({ bars }), pdev);
        });
        return `bind BARs ${bars.join(",")}`;
      }
      case "p2p-unbind": {
        const pdev = this.#p2p();
        if (pdev.driver === null || pdev.releasing !== null) return "skipped";
        this.#spawn("p2p-unbind", function* (k) {
          yield* device_release_driver(k, pdev);
        });
        return "unbind";
      }
      case "p2p-alloc": {
        const pdev = this.#p2p();
        if (pdev.driver === null || !pci_has_p2pmem(pdev)) return "skipped";
        const allocs = this.#allocs;
        const len = op.pages * PAGE;
        this.#spawn("p2p-client", (k) => {
          const sgl = pci_p2pmem_alloc_sgl(k, pdev, { value: 0 }, len);
          if (sgl !== null) allocs.push({ sgl });
        });
        return `alloc ${len}`;
      }
      case "p2p-free": {
        const a = pick(this.#allocs, op.a);
        if (a === undefined) return "skipped";
        this.#allocs.splice(this.#allocs.indexOf(a), 1);
        const pdev = this.#p2p();
        this.#spawn("p2p-client", (k) => pci_p2pmem_free_sgl(k, pdev, a.sgl));
        return "free";
      }
      case "p2p-map": {
        const a = pick(this.#allocs, op.a);
        if (a === undefined) return "skipped";
        const client = this.#gpuPdev();
        const allocs = this.#allocs;
        this.#spawn("p2p-client", (k) => {
          // the client maps what it still holds: a free that ran first (a parallel step)
          // gave the memory back, and mapping it then is the client's use-after-free
          if (allocs.includes(a)) pci_p2pdma_map_sg(k, client, a.sgl, a.sgl.length, DMA_TO_DEVICE);
        });
        return "map_sg";
      }
      case "hmm-add": {
        const size = op.sections * SECTION;
        this.#spawn("hmm-add", function* (k) {
          yield* dmirror_create(k, { size });
        });
        return `hmm_devmem_add ${op.sections} section(s)`;
      }
      case "hmm-unbind": {
        const md = pick(this.#boundMirrors(), op.dev);
        if (md === undefined) return "skipped";
        this.#spawn("hmm-unbind", function* (k) {
          yield* dmirror_unbind(k, md);
        });
        return `unbind ${md.dev.name}`;
      }
      case "gpu-bind": {
        if (this.#gpus().length > 0 || this.#gpuPdev().driver !== null) return "skipped";
        const hw = this.m.hw!;
        this.#spawn("gpu-bind", function* (k) {
          yield* nouveau_bind(k, hw, "gpu0");
        });
        return "bind nouveau";
      }
      case "gpu-unbind": {
        const drm = this.#gpus()[0];
        if (drm === undefined) return "skipped";
        // a well-behaved user stops using the GPU's memory first (see touchDyingDeviceMemory)
        if (!this.#opts.touchDyingDeviceMemory && drm.dmem !== null && drm.dmem.inUse > 0) {
          return "skipped";
        }
        const careful = !this.#opts.touchDyingDeviceMemory;
        this.#spawn("gpu-unbind", function* (k) {
          if (careful && drm.dmem !== null && drm.dmem.inUse > 0) return; // in use again by now
          yield* nouveau_unbind(k, drm);
        });
        return "unbind nouveau";
      }
      case "proc-new": {
        if (this.#procs.length >= 4) return "skipped";
        const p = new Process(this.k, `fz${this.#procs.length}`);
        this.#procs.push({ p, vmas: [], mirrors: new Map(), svmms: new Map() });
        this.checker.processes.add(p.mm);
        return `pid ${p.pid}`;
      }
      case "proc-exit": {
        const pr = pick(this.#procs, op.p);
        if (pr === undefined) return "skipped";
        this.#procs.splice(this.#procs.indexOf(pr), 1);
        this.#spawn("exit", () => pr.p.exit());
        return `exit ${pr.p.pid}`;
      }
      case "mmap": {
        const pr = pick(this.#procs, op.p);
        if (pr === undefined || pr.vmas.length >= 4) return "skipped";
        const len = op.pages * PAGE;
        const addr = pr.p.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        if (addr < 0) return `mmap ${addr}`;
        pr.vmas.push({ addr, pages: op.pages, kind: "anon" });
        return `mmap 0x${addr.toString(16)}`;
      }
      case "munmap": {
        const pr = pick(this.#procs, op.p);
        const vma = pr === undefined ? undefined : pick(pr.vmas, op.vma);
        if (pr === undefined || vma === undefined) return "skipped";
        pr.vmas.splice(pr.vmas.indexOf(vma), 1);
        const len = vma.pages * PAGE;
        const checker = this.checker;
        this.#spawn("munmap", () => {
          if (pr.p.exited) return;
          pr.p.munmap(vma.addr, len);
          checker.forgetRange(pr.p.mm, vma.addr, vma.addr + len);
        });
        return "munmap";
      }
      case "fork":
        return this.#fork(op);
      case "madvise":
        return this.#madvise(op);
      case "mprotect": {
        const pr = pick(this.#procs, op.p);
        const vma = pr === undefined ? undefined : pick(pr.vmas, op.vma);
        if (pr === undefined || vma === undefined) return "skipped";
        const prot = PROT_READ | (op.write ? PROT_WRITE : 0);
        // a range of the mapping (whole 2 MiB units of a hugetlb one): VMA and huge pmd splits
        const unit = vma.kind === "hugetlb" ? HUGE_SIZE / PAGE : 1;
        const units = vma.pages / unit;
        const first = unit === 1 ? pageIndex(vma, op.page) : op.page % units;
        const n = Math.max(1, Math.min(op.n * (unit === 1 ? stride(vma) : 1), units - first));
        const addr = vma.addr + first * unit * PAGE;
        this.#spawn("mprotect", () => {
          if (!pr.p.exited) pr.p.mprotect(addr, n * unit * PAGE, prot);
        });
        return `mprotect ${op.write ? "rw" : "r"} ${n * unit} page(s) at 0x${addr.toString(16)}`;
      }
      case "hugetlb-pool":
        // a sysctl write (vm.nr_hugepages), from outside the machine like ndctl's
        return `nr_hugepages ${op.n}: ${set_nr_hugepages(this.k, op.n)}`;
      case "mmap-huge":
        return this.#mmapHuge(op);
      case "munmap-part":
        return this.#munmapPart(op);
      case "touch":
        return this.#touch(op);
      case "migrate":
      case "gpu-fault":
        return this.#device(op);
      case "pin":
        return this.#pin(op);
      case "unpin": {
        const pin = pick(this.#pins, op.pin);
        if (pin === undefined) return "skipped";
        this.#pins.splice(this.#pins.indexOf(pin), 1);
        const checker = this.checker;
        this.#spawn("unpin", (k) => {
          checker.pin(pin.pfn, -1);
          put_page(k, pin.pfn);
        });
        return `unpin 0x${pin.pfn.toString(16)}`;
      }
      case "dax-map":
        return this.#daxMap(op);
      case "module": {
        const name = `fz_mod${this.#modules++}`;
        const imports = [
          ...new Set(op.syms.map((i) => MODULE_SYMBOLS[i % MODULE_SYMBOLS.length]!)),
        ];
        const ret = load_module(this.k, {
          name,
          license: op.gpl ? "GPL" : "Proprietary",
          imports,
          init: () => 0,
          exit: () => {},
        });
        if (ret === 0) delete_module(this.k, name);
        return `load ${op.gpl ? "GPL" : "proprietary"} [${imports.join(",")}]: ${ret}`;
      }
    }
  }

  #p2p(): PciDev {
    return pciDevByName(this.k, this.m.hw!.pci, "p2p0");
  }

  #gpuPdev(): PciDev {
    return pciDevByName(this.k, this.m.hw!.pci, "gpu0");
  }

  #boundMirrors(): DmirrorDevice[] {
    return dmirrorDevices(this.k).filter((md) =>
      md.dev.driver !== null && md.dev.releasing === null
    );
  }

  /** Bound nouveau devices with device memory, not being unbound. */
  #gpus(): NouveauDrm[] {
    return nouveauDevices(this.k).filter((d) =>
      d.pdev.driver !== null && d.pdev.releasing === null
    );
  }

  #namespaces(): Namespace[] {
    return this.m.hw!.ndctl!.namespaces().filter((n) => n.size > 0);
  }

  #ndctl(op: Extract<Op, { op: `ns-${string}` }>): string {
    const nd = this.m.hw!.ndctl!;
    const unit = this.#opts.aligned === false ? SECTION / 4 : SECTION;
    if (op.op === "ns-create") {
      const r = nd.createNamespace({
        mode: op.mode,
        ...(op.mode === "raw" ? {} : { map: op.map }),
        size: op.units * unit,
        ...(op.mode === "raw" ? {} : { align: 4096 }),
      });
      return r.ok ? `created ${r.dev}` : `create: ${r.rc}`;
    }
    const ns = pick(this.#namespaces(), op.ns);
    if (ns === undefined) return "skipped";
    this.#forgetMedia(ns);
    switch (op.op) {
      case "ns-destroy": {
        const r = nd.destroyNamespace(ns.name, { force: true });
        return r.ok ? `destroyed ${ns.name}` : `destroy: ${r.rc}`;
      }
      case "ns-reconfigure": {
        const r = nd.createNamespace({
          reconfigure: ns.name,
          force: true,
          mode: op.mode,
          ...(op.mode === "raw" ? {} : { map: op.map, align: 4096 }),
        });
        return r.ok ? `reconfigured ${ns.name} ${op.mode}` : `reconfigure: ${r.rc}`;
      }
      case "ns-disable": {
        const r = nd.disableNamespace(ns.name);
        return r.ok ? `disabled ${ns.name}` : `disable: ${r.rc}`;
      }
      case "ns-enable": {
        const r = nd.enableNamespace(ns.name);
        return r.ok ? `enabled ${ns.name}` : `enable: ${r.rc}`;
      }
    }
  }

  /** The kernel may rewrite a namespace it reconfigures or destroys: its media is no longer promised. */
  #forgetMedia(ns: Namespace): void {
    const media = this.checker.media;
    if (media.size === 0) return;
    const start = ns.start, end = ns.start + ns.size;
    for (const a of [...media.keys()]) if (a >= start && a < end) media.delete(a);
  }

  #touch(op: Extract<Op, { op: "touch" }>): string {
    const pr = pick(this.#procs, op.p);
    const vma = pr === undefined ? undefined : pick(pr.vmas, op.vma);
    if (pr === undefined || vma === undefined || this.#mapsDyingDeviceMemory(pr)) return "skipped";
    const addr = vma.addr + pageIndex(vma, op.page) * PAGE;
    if (this.#faultsUnsharedHugetlb(pr, vma, addr)) return "skipped";
    const value = op.write ? this.#nextValue++ : 0;
    const checker = this.checker;
    this.#spawn("cpu", (k) => {
      if (pr.p.exited || this.#mapsDyingDeviceMemory(pr)) return; // see touchDyingDeviceMemory
      if (this.#faultsUnsharedHugetlb(pr, vma, addr)) return; // see sharedHugetlbFault
      try {
        if (vma.kind === "dax") {
          if (!op.write) return;
          userStore32(k, pr.p, addr, value);
          const pfn = devmapTranslate(k, pr.p.mm, addr, false);
          if (pfn >= 0) checker.media.set(pfn * PAGE, value);
          return;
        }
        if (op.write) {
          pr.p.store32(addr, value);
          checker.recordWord(pr.p.mm, addr, value);
          this.#sharedStore(pr, vma, addr, value);
        } else pr.p.load32(addr);
      } catch (e) {
        if (!(e instanceof SignalDelivered)) throw e;
        this.#died(pr);
      }
    });
    return `${op.write ? "store" : "load"} 0x${addr.toString(16)}`;
  }

  /**
   * A store through a shared hugetlb mapping shows in every copy fork made
   * of it that maps the same page (the model has no hugetlbfs page cache:
   * a page one side faulted after the fork is that side's own).
   */
  #sharedStore(pr: Proc, vma: Vma, addr: number, value: number): void {
    if (vma.group === undefined) return;
    const pfn = pr.p.pfnAt(addr);
    if (pfn < 0) return;
    for (const q of this.#sharers(pr, vma, addr)) {
      // the kernel's copies share one page-cache page: with sharedHugetlbFault the shadow
      // expects that of every copy that maps a page there (the model may have two)
      const qpfn = q.p.pfnAt(addr);
      if (qpfn === pfn || (this.#opts.sharedHugetlbFault && qpfn >= 0)) {
        this.checker.recordWord(q.p.mm, addr, value);
      }
    }
  }

  /** The other live processes whose copy of `vma`'s shared hugetlb mapping covers `addr`. */
  #sharers(pr: Proc, vma: Vma, addr: number): Proc[] {
    return this.#procs.filter((q) =>
      q !== pr && !q.p.exited && q.vmas.some((w) => w.group === vma.group && covers(w, addr))
    );
  }

  /**
   * Whether an access at `addr` would fault a page of a shared hugetlb
   * mapping another fork copy also maps (see sharedHugetlbFault): the
   * model's fault allocates a page of this process's own there.
   */
  #faultsUnsharedHugetlb(pr: Proc, vma: Vma, addr: number): boolean {
    if (this.#opts.sharedHugetlbFault || vma.group === undefined) return false;
    return pr.p.pfnAt(addr) < 0 && this.#sharers(pr, vma, addr).length > 0;
  }

  /** fork of a process: the child joins the world with copies of its parent's mappings. */
  #fork(op: Extract<Op, { op: "fork" }>): string {
    const pr = pick(this.#procs, op.p);
    if (pr === undefined || this.#procs.length >= 4) return "skipped";
    if (this.#mapsDyingDeviceMemory(pr)) return "skipped";
    const procs = this.#procs;
    const checker = this.checker;
    this.#spawn("fork", () => {
      if (pr.p.exited || procs.length >= 4 || this.#mapsDyingDeviceMemory(pr)) return;
      const child = pr.p.fork(`${pr.p.comm}c`);
      procs.push({
        p: child,
        vmas: pr.vmas.map((v) => ({ ...v })),
        mirrors: new Map(),
        svmms: new Map(),
      });
      checker.processes.add(child.mm);
      // the child's memory is the parent's at the fork
      const words = checker.contents.get(pr.p.mm);
      if (words !== undefined) checker.contents.set(child.mm, new Map(words));
    });
    return `fork ${pr.p.pid}`;
  }

  #madvise(op: Extract<Op, { op: "madvise" }>): string {
    const pr = pick(this.#procs, op.p);
    const vma = pr === undefined ? undefined : pick(pr.vmas, op.vma);
    if (pr === undefined || vma === undefined) return "skipped";
    const checker = this.checker;
    if (op.advice === "hugepage" || op.advice === "nohugepage") {
      const advice = op.advice === "hugepage" ? MADV_HUGEPAGE : MADV_NOHUGEPAGE;
      this.#spawn("madvise", () => {
        if (!pr.p.exited) pr.p.madvise(vma.addr, vma.pages * PAGE, advice);
      });
      return `${advice === MADV_HUGEPAGE ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE"} 0x${
        vma.addr.toString(16)
      }`;
    }
    const first = pageIndex(vma, op.page);
    const n = Math.max(1, Math.min(op.n * stride(vma), vma.pages - first));
    const addr = vma.addr + first * PAGE;
    const advice = op.advice === "free" ? MADV_FREE : MADV_DONTNEED;
    this.#spawn("madvise", () => {
      if (pr.p.exited) return;
      const ret = pr.p.madvise(addr, n * PAGE, advice);
      // DONTNEED: private anonymous memory reads as zeroes again (the shadow keeps no zeroes);
      // FREE: the kernel may discard the pages until they are written again. -ENOMEM (a hole
      // in the range, say a munmap that ran first) still applied the advice to the mapped parts
      if ((ret === 0 || ret === -ENOMEM) && vma.kind !== "dax") {
        checker.forgetRange(pr.p.mm, addr, addr + n * PAGE);
      }
    });
    return `${advice === MADV_FREE ? "MADV_FREE" : "MADV_DONTNEED"} ${n} page(s) at 0x${
      addr.toString(16)
    }`;
  }

  #mmapHuge(op: Extract<Op, { op: "mmap-huge" }>): string {
    const pr = pick(this.#procs, op.p);
    if (pr === undefined || pr.vmas.length >= 4) return "skipped";
    if (op.kind === "thp") {
      // one 2 MiB more than asked: an aligned 2 MiB always fits
      const len = (op.huge + 1) * HUGE_SIZE;
      const addr = pr.p.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      if (addr < 0) return `mmap ${addr}`;
      // what a THP user does next (the model's THP mode is "madvise")
      const r = pr.p.madvise(addr, len, MADV_HUGEPAGE);
      pr.vmas.push({ addr, pages: len / PAGE, kind: "thp" });
      return `mmap 0x${addr.toString(16)} (${len / HUGE_SIZE} x 2 MiB), MADV_HUGEPAGE ${r}`;
    }
    const len = op.huge * HUGE_SIZE;
    const type = op.kind === "shared" ? MAP_SHARED : MAP_PRIVATE;
    const addr = pr.p.mmap(0, len, PROT_READ | PROT_WRITE, type | MAP_ANONYMOUS | MAP_HUGETLB);
    if (addr < 0) return `mmap hugetlb ${addr}`;
    pr.vmas.push({
      addr,
      pages: len / PAGE,
      kind: "hugetlb",
      ...(op.kind === "shared" ? { group: {} } : {}),
    });
    return `mmap hugetlb ${op.kind} 0x${addr.toString(16)} (${op.huge} x 2 MiB)`;
  }

  /** munmap of part of a mapping (whole 2 MiB units of a hugetlb one): what is left stays mapped. */
  #munmapPart(op: Extract<Op, { op: "munmap-part" }>): string {
    const pr = pick(this.#procs, op.p);
    const vma = pr === undefined ? undefined : pick(pr.vmas, op.vma);
    if (pr === undefined || vma === undefined) return "skipped";
    const unit = vma.kind === "hugetlb" ? HUGE_SIZE / PAGE : 1;
    const units = vma.pages / unit;
    const first = vma.kind === "hugetlb" ? op.first % units : pageIndex(vma, op.first);
    const n = Math.max(1, Math.min(op.n * (unit === 1 ? stride(vma) : 1), units - first));
    const start = vma.addr + first * unit * PAGE;
    const end = start + n * unit * PAGE;
    const vend = vma.addr + vma.pages * PAGE;
    const rest: Vma[] = [];
    if (start > vma.addr) rest.push({ ...vma, pages: (start - vma.addr) / PAGE });
    if (end < vend) rest.push({ ...vma, addr: end, pages: (vend - end) / PAGE });
    pr.vmas.splice(pr.vmas.indexOf(vma), 1, ...rest);
    const checker = this.checker;
    this.#spawn("munmap", () => {
      if (pr.p.exited) return;
      if (pr.p.munmap(start, end - start) === 0) checker.forgetRange(pr.p.mm, start, end);
    });
    return `munmap [0x${start.toString(16)}, 0x${end.toString(16)})`;
  }

  /** Whether the process maps device-private pages of a dmirror device whose unbind has started. */
  #mapsDyingDeviceMemory(pr: Proc): boolean {
    if (this.#opts.touchDyingDeviceMemory) return false;
    const dying: Array<{ pfn_first: number; pfn_last: number }> = [];
    for (const md of dmirrorDevices(this.k)) {
      if (md.dev.releasing !== null && md.devmem !== null) dying.push(md.devmem);
    }
    for (const drm of nouveauDevices(this.k)) {
      if (drm.pdev.releasing !== null && drm.dmem?.devmem) dying.push(drm.dmem.devmem);
    }
    if (dying.length === 0) return false;
    for (const t of pr.p.mm.pgd.tables.values()) {
      if (t.ptes === null) continue;
      for (const pte of t.ptes) {
        if (pte === 0 || pte_present(pte)) continue;
        const e = pte_to_swp_entry(pte);
        if (!is_device_private_entry(e)) continue;
        const pfn = swp_offset(e);
        if (dying.some((d) => pfn >= d.pfn_first && pfn < d.pfn_last)) return true;
      }
    }
    return false;
  }

  /** A process a signal killed: the world stops driving it. */
  #died(pr: Proc): void {
    const i = this.#procs.indexOf(pr);
    if (i >= 0) this.#procs.splice(i, 1);
  }

  #mirror(pr: Proc, md: DmirrorDevice): Dmirror | null {
    let d = pr.mirrors.get(md);
    if (d !== undefined) return d;
    const r = dmirror_open(this.k, md, pr.p.mm);
    if (typeof r === "number") return null;
    pr.p.open(`/dev/${md.dev.name}`, (kk) => dmirror_release(kk, r));
    pr.mirrors.set(md, r);
    d = r;
    return d;
  }

  #device(op: Extract<Op, { op: "migrate" | "gpu-fault" }>): string {
    const pr = pick(this.#procs, op.p);
    const vma = pr === undefined
      ? undefined
      : pick(pr.vmas.filter((x) => x.kind === "anon" || x.kind === "thp"), op.vma);
    const devs: Array<DmirrorDevice | NouveauDrm> = [
      ...this.#boundMirrors(),
      ...this.#gpus().filter((d) => d.dmem !== null),
    ];
    const target = pick(devs, op.dev);
    if (pr === undefined || vma === undefined || target === undefined) return "skipped";
    if (!(target instanceof DmirrorDevice)) return this.#gpuDevice(op, pr, vma, target);
    const md = target;
    if (this.#mapsDyingDeviceMemory(pr)) return "skipped";
    const d = this.#mirror(pr, md);
    if (d === null) return "open failed";
    const first = pageIndex(vma, op.page);
    const n = Math.max(1, Math.min(op.n, vma.pages - first));
    const addr = vma.addr + first * PAGE;
    const checker = this.checker;
    if (op.op === "migrate") {
      this.#spawn("migrate", (k) => {
        if (!pr.p.exited && alive(md) && !this.#mapsDyingDeviceMemory(pr)) {
          dmirror_migrate(k, d, addr, n);
        }
      });
      return `migrate ${n} page(s) at 0x${addr.toString(16)} to ${md.dev.name}`;
    }
    const write = op.write;
    const base = this.#nextValue;
    if (write) this.#nextValue += n;
    this.#spawn("gpu", (k) => {
      if (pr.p.exited || !alive(md) || this.#mapsDyingDeviceMemory(pr)) return;
      const buf = new Int32Array(n * WORDS_PER_PAGE);
      if (!write) {
        dmirror_read(k, d, addr, n, buf);
        return;
      }
      for (let i = 0; i < n; i++) buf[i * WORDS_PER_PAGE] = base + i;
      const r = dmirror_write(k, d, addr, n, buf);
      // the whole range is written only when the call succeeds
      if (r.ret === 0) {
        for (let i = 0; i < n; i++) checker.recordWord(pr.p.mm, addr + i * PAGE, base + i);
      }
    });
    return `device ${write ? "write" : "read"} ${n} page(s) at 0x${addr.toString(16)}`;
  }

  /** migrate / gpu-fault on the nouveau GPU: NOUVEAU_SVM_BIND, or a GPU access through far faults. */
  #gpuDevice(
    op: Extract<Op, { op: "migrate" | "gpu-fault" }>,
    pr: Proc,
    vma: Vma,
    drm: NouveauDrm,
  ): string {
    if (this.#mapsDyingDeviceMemory(pr)) return "skipped";
    let svmm = pr.svmms.get(drm);
    if (svmm === undefined) {
      const r = nouveau_svmm_init(this.k, drm, pr.p.mm);
      if (typeof r === "number") return `svmm: ${r}`; // the GPU mirrors another process
      svmm = r;
      pr.svmms.set(drm, r);
      pr.p.open(`/dev/dri/card0`, (kk) => nouveau_svmm_fini(kk, r));
    }
    const sv = svmm;
    const first = pageIndex(vma, op.page);
    const n = Math.max(1, Math.min(op.n, vma.pages - first));
    const addr = vma.addr + first * PAGE;
    const live = () => !pr.p.exited && drm.pdev.driver !== null && drm.pdev.releasing === null;
    if (op.op === "migrate") {
      this.#spawn("svm-bind", (k) => {
        if (live() && !this.#mapsDyingDeviceMemory(pr)) nouveau_svmm_bind(k, sv, addr, n);
      });
      return `svm bind ${n} page(s) at 0x${addr.toString(16)}`;
    }
    const write = op.write;
    const base = this.#nextValue;
    if (write) this.#nextValue += n;
    const checker = this.checker;
    this.#spawn("gpu", (k) => {
      if (!live() || this.#mapsDyingDeviceMemory(pr)) return;
      const buf = new Int32Array(n * WORDS_PER_PAGE);
      if (!write) {
        nouveau_gpu_read(k, sv, addr, n, buf);
        return;
      }
      for (let i = 0; i < n; i++) buf[i * WORDS_PER_PAGE] = base + i;
      if (nouveau_gpu_write(k, sv, addr, n, buf).ret === 0) {
        for (let i = 0; i < n; i++) checker.recordWord(pr.p.mm, addr + i * PAGE, base + i);
      }
    });
    return `gpu ${write ? "write" : "read"} ${n} page(s) at 0x${addr.toString(16)}`;
  }

  #pin(op: Extract<Op, { op: "pin" }>): string {
    const pr = pick(this.#procs, op.p);
    const vma = pr === undefined ? undefined : pick(pr.vmas, op.vma);
    if (pr === undefined || vma === undefined || this.#pins.length >= 8) return "skipped";
    if (this.#mapsDyingDeviceMemory(pr)) return "skipped";
    const addr = vma.addr + pageIndex(vma, op.page) * PAGE;
    if (this.#faultsUnsharedHugetlb(pr, vma, addr)) return "skipped";
    const pins = this.#pins;
    const checker = this.checker;
    const dax = vma.kind === "dax";
    this.#spawn("gup", (k) => {
      if (pr.p.exited || this.#mapsDyingDeviceMemory(pr)) return;
      if (this.#faultsUnsharedHugetlb(pr, vma, addr)) return;
      const pages: number[] = [];
      const n = dax
        ? get_user_pages(k, pr.p.mm, addr, 1, FOLL_WRITE, pages)
        : get_user_pages_remote(k, null, pr.p.mm, addr, 1, FOLL_WRITE, pages);
      if (n === 1) {
        pins.push({ pfn: pages[0]! });
        checker.pin(pages[0]!, 1);
      }
    });
    return `pin 0x${addr.toString(16)}`;
  }

  #daxMap(op: Extract<Op, { op: "dax-map" }>): string {
    const pr = pick(this.#procs, op.p);
    const nd = this.m.hw!.ndctl!;
    const ns = pick(this.#namespaces().filter((n) => nd.info(n).chardev !== undefined), op.ns);
    if (pr === undefined || ns === undefined || pr.vmas.length >= 4) return "skipped";
    const f = dax_open(this.k, `/dev/${nd.info(ns).chardev}`, true);
    if (f === null) return "no char device";
    const len = 2 ** 21;
    const addr = pr.p.mmap(
      dax_get_unmapped_area(this.k, pr.p.mm, f, 0, len, 0, 0),
      len,
      PROT_READ | PROT_WRITE,
      MAP_SHARED | MAP_FIXED,
      f,
      0,
    );
    if (addr < 0) return `mmap ${addr}`;
    pr.vmas.push({ addr, pages: len / PAGE, kind: "dax" });
    return `dax mmap ${ns.name} at 0x${addr.toString(16)}`;
  }

  #powerCycle(): string {
    this.m = this.m.powerCycle();
    touchSubsystems(this.m.k);
    this.checker.rebind(this.m);
    this.#procs = [];
    this.#pins = [];
    this.#allocs = [];
    this.#startProcess();
    return "power cycled";
  }

  /**
   * Drops every user hold (pins, p2pmem, processes) and runs the machine
   * to quiescence — every task an earlier step left blocked must finish
   * now. With `teardown` it then unbinds every driver (namespaces disabled,
   * the provider, dmirror devices and the GPU unbound): what must be left
   * is boot RAM and sections a failed hot-add leaked.
   */
  drain(teardown = true): void {
    const checker = this.checker;
    for (const pin of this.#pins) {
      this.#spawn("unpin", (k) => {
        checker.pin(pin.pfn, -1);
        put_page(k, pin.pfn);
      });
    }
    this.#pins = [];
    const pdev = this.#p2p();
    for (const a of this.#allocs) {
      this.#spawn("p2p-client", (k) => pci_p2pmem_free_sgl(k, pdev, a.sgl));
    }
    this.#allocs = [];
    for (const pr of this.#procs) this.#spawn("exit", () => pr.p.exit());
    this.#procs = [];
    this.#settle();
    if (!teardown) return;
    // disabling unbinds the driver (what the invariants are about) without rewriting labels
    for (const ns of this.#namespaces()) this.m.hw!.ndctl!.disableNamespace(ns.name);
    if (pdev.driver !== null && pdev.releasing === null) {
      this.#spawn("p2p-unbind", function* (k) {
        yield* device_release_driver(k, pdev);
      });
    }
    for (const md of this.#boundMirrors()) {
      this.#spawn("hmm-unbind", function* (k) {
        yield* dmirror_unbind(k, md);
      });
    }
    for (const drm of this.#gpus()) {
      this.#spawn("gpu-unbind", function* (k) {
        yield* nouveau_unbind(k, drm);
      });
    }
    this.#settle();
  }
}

/**
 * Whether a dmirror device can still take ioctls: the 2018 dummy driver has
 * no dead flag, so an ioctl racing with the device's own unbind would hand
 * out device pages after the release's put loop (a driver bug, not the
 * core's); the world's user side checks, as a careful driver would.
 */
function alive(md: DmirrorDevice): boolean {
  return md.dev.driver !== null && md.dev.releasing === null;
}

/** The page stride of a large mapping's page indices (64 of them spread over it); 1 for the others. */
function stride(vma: Vma): number {
  return vma.kind === "thp" || vma.kind === "hugetlb" ? Math.max(1, Math.floor(vma.pages / 64)) : 1;
}

/** The page index `i` names in `vma`. */
function pageIndex(vma: Vma, i: number): number {
  return (i * stride(vma)) % vma.pages;
}

/** Whether `vma` covers `addr`. */
function covers(vma: Vma, addr: number): boolean {
  return addr >= vma.addr && addr < vma.addr + vma.pages * PAGE;
}

/** The element `i` names (modulo the length), or undefined for an empty list. */
function pick<T>(xs: readonly T[], i: number): T | undefined {
  return xs.length === 0 ? undefined : xs[((i % xs.length) + xs.length) % xs.length];
}
