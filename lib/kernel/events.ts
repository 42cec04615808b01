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

/**
 * HMM device memory (mm/hmm.c): registrations, the per-section radix of
 * levels 0..5, the waits of hmm_devmem_ref_kill / hmm_devmem_ref_exit, and
 * the page_free callback.
 */
export interface HmmEvent {
  /** Discriminant. */
  kind: "hmm";
  /** What happened. */
  op:
    | "add"
    | "add_failed"
    | "radix_insert"
    | "radix_delete"
    | "collide"
    | "wait"
    | "woken"
    | "release"
    | "remove"
    | "page_free";
  /** dev_name of the devmem's device. */
  dev: string;
  /** The function it happened in (hmm_devmem_ref_kill, hmm_devmem_ref_exit, ...). */
  fn: string;
  /** First physical byte (resource start, section key << 27, or the page's address). */
  start: number;
  /** Sections (radix ops), pages (page_free), ns waited (woken), or 0. */
  n: number;
  /** The other device of a collision, else "". */
  other: string;
  /** Return code (0 or -errno). */
  ret: number;
}

/** Process-side page faults (mm/memory.c, mm/huge_memory.c, mm/hugetlb.c): one event per handled fault. */
export interface FaultEvent {
  /** Discriminant. */
  kind: "fault";
  /** Which handler resolved it. */
  op:
    | "anon"
    | "zero"
    | "wp_reuse"
    | "wp_copy"
    | "file"
    | "cow"
    | "shared"
    | "device_private"
    | "huge_anon"
    | "huge_zero"
    | "huge_wp"
    | "hugetlb"
    | "error";
  /** The mm's id. */
  mm: number;
  /** Faulting address. */
  addr: number;
  /** The VM_FAULT_* result. */
  ret: number;
}

/** mmu_notifier callbacks delivered (mm/mmu_notifier.c). */
export interface MmuNotifierEvent {
  /** Discriminant. */
  kind: "mmu_notifier";
  /** What happened. */
  op: "register" | "unregister" | "release" | "invalidate_start" | "invalidate_end";
  /** The mm's id. */
  mm: number;
  /** Range start (0 for register/unregister/release). */
  start: number;
  /** Range end, exclusive. */
  end: number;
}

/** migrate_vma steps (mm/migrate.c, 4.20 API). */
export interface MigrateVmaEvent {
  /** Discriminant. */
  kind: "migrate_vma";
  /** Which step finished. */
  op:
    | "collect"
    | "prepare"
    | "unmap"
    | "alloc_and_copy"
    | "pages"
    | "finalize_and_map"
    | "finalize";
  /** The mm's id. */
  mm: number;
  /** Range start. */
  start: number;
  /** Range end, exclusive. */
  end: number;
  /** Pages in the range. */
  npages: number;
  /** Pages still being migrated after the step (migrate->cpages; for "finalize": pages moved). */
  cpages: number;
}

/** The v4.20 HMM mirror API (mm/hmm.c, the CONFIG_HMM_MIRROR half). */
export interface HmmMirrorEvent {
  /** Discriminant. */
  kind: "hmm_mirror";
  /** What happened. */
  op:
    | "register"
    | "unregister"
    | "sync"
    | "release"
    | "range_invalidated"
    | "get_pfns"
    | "fault"
    | "range_done";
  /** The mm's id. */
  mm: number;
  /** Range start (or 0). */
  start: number;
  /** Range end, exclusive (or 0). */
  end: number;
  /** Return value (0, -errno, or 1/0 for range_done's valid). */
  ret: number;
}

/** Address-space changes (mm/mmap.c, mprotect.c, mremap.c, madvise.c, kernel/fork.c, exit). */
export interface VmaEvent {
  /** Discriminant. */
  kind: "vma";
  /** Which call. */
  op: "mmap" | "munmap" | "mprotect" | "mremap" | "madvise" | "fork" | "exit_mmap" | "split_huge";
  /** The mm's id. */
  mm: number;
  /** Range start. */
  start: number;
  /** Range end, exclusive. */
  end: number;
  /** Return value. */
  ret: number;
}

/** A simulated device driver's device-memory events (lib/drivers: dmirror). */
export interface DriverMemEvent {
  /** Discriminant. */
  kind: "driver_mem";
  /** What happened. */
  op: "alloc" | "free" | "alloc_failed" | "fault" | "migrate";
  /** Driver/device name. */
  dev: string;
  /** Device page pfn (or first address for "migrate"). */
  pfn: number;
  /** Pages (or return value for "fault"). */
  n: number;
}

/** NVDIMM bus commands and scrubs (lib/hw/nvdimm: nfit_test's firmware, libnvdimm's scrub). */
export interface NvdimmEvent {
  /** Discriminant. */
  kind: "nvdimm";
  /** The command or step. */
  op:
    | "ars_start"
    | "ars_busy"
    | "ars_status"
    | "scrub_done"
    | "inject"
    | "uninject"
    | "notify"
    | "clear_error"
    | "translate_spa";
  /** Bus name ("ndbus0"). */
  bus: string;
  /** First system-physical byte (0 where none). */
  start: number;
  /** Bytes (0 where none). */
  length: number;
  /** Command result (0 or -errno). */
  rc: number;
}

/** A PCIe DMA transfer (lib/hw/pcie): host memory or peer-to-peer, with its simulated cost. */
export interface DmaEvent {
  /** Discriminant. */
  kind: "dma";
  /** host: device ↔ system memory; p2p: device ↔ device. */
  op: "host" | "p2p";
  /** Initiating device ("0000:01:00.0"). */
  dev: string;
  /** Peer device for p2p, else "". */
  peer: string;
  /** Bytes moved. */
  bytes: number;
  /** Simulated ns the transfer takes. */
  ns: number;
  /** "switch", "root-complex" or "" (host). */
  via: string;
}

/** GPU hardware events (lib/hw/gpu): copy-engine work and device faults. */
export interface GpuEvent {
  /** Discriminant. */
  kind: "gpu";
  /** What happened. */
  op: "copy" | "copy_error" | "fault" | "fault_batch" | "fault_cancel" | "batch_done";
  /** GPU name. */
  gpu: string;
  /**
   * Bytes (copy), raw faults fetched (fault_batch), the faulting address
   * (fault, fault_cancel) or distinct pages serviced (batch_done).
   */
  n: number;
  /** Simulated ns of the work (copy), else 0. */
  ns: number;
}

/** Block-layer queue events (lib/drivers/block: the request queue whose usage counter pmem lends to its pgmap). */
export interface BlkEvent {
  /** Discriminant. */
  kind: "blk";
  /** What happened: a freeze started (depth after it), the freeze wait began or ended, the queue died or was cleaned up. */
  op: "freeze_start" | "freeze_wait" | "freeze_done" | "dying" | "cleanup_done" | "register";
  /** The queue's disk or device name. */
  queue: string;
  /** mq_freeze_depth after the operation. */
  depth: number;
}

/** DAX events (lib/drivers/dax): device liveness, device-dax and fsdax faults, devmap zaps, GUP pins. */
export interface DaxEvent {
  /** Discriminant. */
  kind: "dax";
  /** What happened. */
  op:
    | "alloc"
    | "kill"
    | "pte_fault"
    | "pmd_fault"
    | "pud_fault"
    | "unmap"
    | "gup";
  /** The dax device ("dax0.0", "pmem0"). */
  dev: string;
  /** Faulting or first user address (0 where none). */
  addr: number;
  /** VM_FAULT_* for faults, pages for unmap and gup, else 0. */
  ret: number;
}

/** genalloc pools (lib/kernel/genalloc.ts); `phys` is the chunk's stored "physical" address of the range (p2pdma: the bus address). */
export interface GenPoolEvent {
  /** Discriminant. */
  kind: "gen_pool";
  /** What happened. */
  op: "create" | "add" | "alloc" | "free" | "destroy";
  /** The pool's simulator id. */
  pool: number;
  /** Stored address of the chunk (add) or range (alloc, free); 0 for create and destroy. */
  phys: number;
  /** Bytes (rounded to the pool's granule for alloc and free). */
  size: number;
}

/** PCI peer-to-peer DMA (lib/drivers/pci/p2pdma.ts). */
export interface P2pdmaEvent {
  /** Discriminant. */
  kind: "p2pdma";
  /** What happened. */
  op:
    | "setup"
    | "add_resource"
    | "kill"
    | "kill_noop"
    | "wait"
    | "wait_done"
    | "release"
    | "release_done"
    | "cleanup"
    | "cleanup_done"
    | "alloc"
    | "alloc_fail"
    | "free"
    | "map_sg"
    | "publish"
    | "sysfs_create"
    | "sysfs_remove";
  /** The provider's (or, for map_sg, the mapping device's) name ("0000:03:00.0"). */
  dev: string;
  /** BAR index, or -1 where none applies. */
  bar: number;
  /** Bus address (alloc, free, map_sg: the first entry's DMA address) or BAR start (add_resource), else 0. */
  addr: number;
  /** Bytes, or entries for map_sg. */
  size: number;
  /** 0 or -errno where the operation returns one. */
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
  | MemremapEvent
  | HmmEvent
  | FaultEvent
  | MmuNotifierEvent
  | MigrateVmaEvent
  | HmmMirrorEvent
  | VmaEvent
  | DriverMemEvent
  | NvdimmEvent
  | DmaEvent
  | GpuEvent
  | BlkEvent
  | DaxEvent
  | GenPoolEvent
  | P2pdmaEvent;
