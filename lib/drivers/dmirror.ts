/**
 * A simulated device in the style of Jérôme Glisse's 2018 HMM "dummy
 * driver" (hmm_dmirror): a device that mirrors a process's address space
 * in a software page table (the v4.20 mirror API), reads and writes process
 * memory through it, and has DEVICE_PRIVATE memory of its own
 * (hmm_devmem_add) that process pages migrate to and from (migrate_vma).
 *
 * As the 2018 driver:
 * - the device's memory is fake: every device page in use is backed by a
 *   zeroed system page held in the device page's hmm_data
 *   (hmm_devmem_page_set_drvdata); free device pages are a LIFO list over
 *   [pfn_first, pfn_last); counters `calloc` / `cfree`, and at close the
 *   "DEVICE PAGE <calloc> <cfree> (<calloc - cfree>)" line;
 * - opening the device registers a mirror on the opener's mm; the device
 *   table is cleared for [start, end) on every sync_cpu_device_pagetables;
 * - READ / WRITE walk the device table and, on a miss, run a fault pass
 *   over ≤ 64-page batches clipped to the VMA (hmm_vma_fault, then
 *   hmm_vma_range_done — retry if it says the snapshot went stale); a VMA
 *   without VM_READ (or VM_WRITE for a write) is -EFAULT before any fault;
 *   SPECIAL/ERROR entries, or pages still missing, are -EFAULT; another
 *   device's pages are misses;
 * - MIGRATE runs migrate_vma in 64-page batches; its alloc_and_copy takes a device page for every
 *   MIGRATE entry (empty ones included) and copies, re-migrating its own
 *   device pages to new ones and skipping other devices' pages;
 * - the CPU-fault handler migrates exactly the faulting page back into
 *   hmm_vma_alloc_locked_page and returns VM_FAULT_SIGBUS if the
 *   destination is MIGRATE_PFN_ERROR.
 *
 * Where the model differs from the 2018 source, on purpose:
 * - the 2018 code tested `pfns[i] & HMM_PFN_WRITE` (the enum index 1, the
 *   same bit as VALID) and left SPECIAL/ERROR values 0; this driver uses
 *   range->flags[HMM_PFN_WRITE] and distinct values, as the API means;
 * - the 2018 code never set request bits in pfns before hmm_vma_fault (so on
 *   the v4.17+ API it faulted nothing); this driver requests VALID (|WRITE)
 *   per entry, and DEVICE_PRIVATE (|WRITE) for entries that another
 *   device's private memory (or, for a write, a read-only device page)
 *   backs — so the core faults them back, the 2018 way of reading them;
 * - MIGRATE walks the range VMA by VMA and needs VM_READ (-EINVAL), and
 *   reports -ENOENT when fewer pages than asked ended on this device (the
 *   hmm-tests dmirror's checks; the 2018 driver required one VMA covering the
 *   range and returned 0 and a count);
 * - the device table is a map of 512-entry leaves, not RAM page-table pages;
 * - hmm_device_new is not modelled: the platform device itself carries the
 *   devmem.
 * Counters `faults` (fault passes of READ/WRITE) and `cpuFaults` (CPU faults
 * on its device pages) are simulator bookkeeping.
 *
 * Fault points: "device_page_alloc" (a device page allocation fails: the
 * page is not migrated) and, through the core, "alloc_page".
 *
 * @module
 */
import type { KGen } from "../sim/task.ts";
import { OopsSignal } from "../sim/sched.ts";
import type { Kernel, SubsystemKey } from "../kernel/kernel.ts";
import { Device, device_release_driver, Driver, driver_probe_device } from "../kernel/device.ts";
import { EFAULT, EINVAL, ENOENT, ENOMEM, IS_ERR } from "../kernel/errno.ts";
import { hmm_devmem_add, type HmmDevmem, type HmmDevmemOps } from "../kernel/hmm.ts";
import { is_zone_device_page, nullDeref, zone_device_pgmap } from "../kernel/mm/memmap.ts";
import { PAGE_FIELD } from "../kernel/mm/constants.ts";
import { vm_insert_page } from "../kernel/mm/memory.ts";
import {
  AddressSpace,
  File,
  find_vma_intersection,
  type MmStruct,
  VM_FAULT_SIGBUS,
  VM_READ,
  VM_WRITE,
  type VmAreaStruct,
} from "../kernel/mm/mm-types.ts";
import {
  EXT_PRIVATE,
  EXT_STRIDE,
  extGet64,
  hmm_devmem_page_get_drvdata,
  hmm_devmem_page_set_drvdata,
  PAGE_EXT_FIELD,
  pageExt,
  pageIdx,
  trylock_page,
} from "../kernel/mm/page-ext.ts";
import {
  copy_highpage,
  pageReadWords,
  pageWriteWords,
  WORDS_PER_PAGE,
} from "../kernel/mm/page-contents.ts";
import { __free_page, alloc_page } from "../kernel/mm/ram-alloc.ts";
import { get_page } from "../kernel/mm/swap.ts";
import {
  hmm_mirror_register,
  hmm_mirror_unregister,
  HMM_PFN_DEVICE_PRIVATE,
  HMM_PFN_ERROR,
  HMM_PFN_NONE,
  HMM_PFN_SPECIAL,
  hmm_pfn_to_page,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmm_vma_alloc_locked_page,
  hmm_vma_fault,
  hmm_vma_get_pfns,
  hmm_vma_range_done,
  HmmMirror,
  HmmRange,
  type HmmUpdate,
} from "../kernel/mm/hmm-mirror.ts";
import {
  migrate_pfn,
  MIGRATE_PFN_DEVICE,
  MIGRATE_PFN_ERROR,
  MIGRATE_PFN_LOCKED,
  MIGRATE_PFN_MIGRATE,
  migrate_pfn_to_page,
  migrate_vma,
  type MigratePfns,
  type MigrateVmaOps,
} from "../kernel/mm/migrate.ts";
import { orBits } from "../kernel/mm/pgtable.ts";
import type { Page } from "../kernel/mm/types.ts";

/** The driver's HMM flag bits (range->flags). */
export const DMIRROR_HMM_FLAGS: readonly number[] = [1 << 0, 1 << 1, 1 << 2];
/** The driver's HMM special values (range->values): ERROR, NONE, SPECIAL. */
export const DMIRROR_HMM_VALUES: readonly number[] = [1 << 3, 1 << 4, 1 << 5];
/** pfn_shift of the driver's entries. */
export const DMIRROR_PFN_SHIFT = 7;
/** Pages per fault / migrate batch. */
const BATCH = 64;
/**
 * Restarts of one batch after which dummy_fault is declared a livelock: the
 * kernel would retry for ever; the model ends the task with a BUG naming the
 * livelock instead (a simulator stand-in, like the CPU fault path's "faults
 * forever"), so that a run terminates and the checker reports it.
 */
const MAX_FAULT_RESTARTS = 64;

/** Device page-table entry bits. */
const DPT_VALID = 1;
const DPT_WRITE = 2;

/** The fault points of the driver. */
export const DMIRROR_FAULT_POINTS: ReadonlyArray<readonly [string, string]> = [
  [
    "device_page_alloc",
    "the dmirror device has no free device page (dummy_device_alloc_page returns NULL): that entry is not migrated to the device",
  ],
];

/** One dmirror device (struct dmirror_device). */
export class DmirrorDevice {
  /** The platform device. */
  readonly dev: Device;
  /** Its DEVICE_PRIVATE memory. */
  devmem: HmmDevmem | null = null;
  /** Free device pages (a LIFO, like the 2018 list through page->s_mem). */
  frees: Float64Array = new Float64Array(0);
  /** Number of free pages on the list. */
  nfree = 0;
  /** Device pages handed out. */
  calloc = 0;
  /** Device pages freed (ops->free). */
  cfree = 0;
  /** CPU faults on this device's pages (ops->fault calls). */
  cpuFaults = 0;
  /** ops->fault calls that returned VM_FAULT_SIGBUS. */
  cpuFaultsFailed = 0;
  /** Size asked of hmm_devmem_add. */
  readonly size: number;
  /** Reusable one-entry src/dst for the fault handler. */
  readonly faultSrc: Float64Array = new Float64Array(1);
  /** Reusable one-entry dst. */
  readonly faultDst: Float64Array = new Float64Array(1);
  /** Test hook: runs after each READ/WRITE fault pass's hmm_vma_fault, before hmm_vma_range_done. */
  afterFaultHook: ((k: Kernel, d: Dmirror) => void) | null = null;

  /**
   * Creates the device state (dmirror_create probes it).
   * @param dev the platform device.
   * @param size device memory to ask for.
   */
  constructor(dev: Device, size: number) {
    this.dev = dev;
    this.size = size;
  }

  /** Device pages in use (calloc - cfree). */
  get inUse(): number {
    return this.calloc - this.cfree;
  }
}

/** One open of the device: a mirror of the opener's address space (struct dmirror). */
export class Dmirror {
  /** The device. */
  readonly mdevice: DmirrorDevice;
  /** The mirrored mm. */
  readonly mm: MmStruct;
  /** The HMM mirror. */
  readonly mirror: HmmMirror;
  /** Device page table: virtual page number >> 9 → 512 entries (pfn * 8 | bits). */
  readonly pt: Map<number, Float64Array> = new Map();
  /** Fault passes READ/WRITE needed. */
  faults = 0;
  /** Times ->release ran (exit). */
  released = 0;
  /** sync_cpu_device_pagetables calls. */
  nsync = 0;
  /** The last one's range. */
  lastSync: { start: number; end: number } = { start: 0, end: 0 };

  /**
   * Creates the object.
   * @param mdevice the device.
   * @param mm the mm.
   * @param mirror its mirror.
   */
  constructor(mdevice: DmirrorDevice, mm: MmStruct, mirror: HmmMirror) {
    this.mdevice = mdevice;
    this.mm = mm;
    this.mirror = mirror;
  }

  /** The device-table entry of `addr` (0 = none). */
  dpte(addr: number): number {
    const vpn = Math.floor(addr / 4096);
    const key = Math.floor(vpn / 512);
    const leaf = this.pt.get(key);
    return leaf === undefined ? 0 : leaf[vpn - key * 512]!; // vpn % 512, no floating modulo
  }

  /** Sets the device-table entry of `addr`. */
  setDpte(addr: number, v: number): void {
    const vpn = Math.floor(addr / 4096);
    const key = Math.floor(vpn / 512);
    let leaf = this.pt.get(key);
    if (leaf === undefined) {
      if (v === 0) return;
      leaf = new Float64Array(512);
      this.pt.set(key, leaf);
    }
    leaf[vpn - key * 512] = v;
  }

  /** Number of valid device-table entries in [start, end). */
  countValid(start: number, end: number): number {
    let n = 0;
    for (let a = start; a < end; a += 4096) if ((this.dpte(a) & DPT_VALID) !== 0) n++;
    return n;
  }
}

/** What READ / WRITE / MIGRATE return (the ioctl's status and its out fields). */
export interface DmirrorResult {
  /** 0 or -errno. */
  ret: number;
  /** Pages copied (READ/WRITE) or now on this device (MIGRATE). */
  cpages: number;
  /** Fault passes this call needed (READ/WRITE). */
  faults: number;
}

const DMIRROR: SubsystemKey<{ devices: DmirrorDevice[] }> = {
  name: "dmirror",
  create: (k: Kernel) => {
    for (const [n, d] of DMIRROR_FAULT_POINTS) k.faults.register(n, d);
    return { devices: [] };
  },
};

function emit(
  k: Kernel,
  md: DmirrorDevice,
  op: import("../kernel/events.ts").DriverMemEvent["op"],
  pfn: number,
  n: number,
): void {
  k.trace.emit({ kind: "driver_mem", op, dev: md.dev.name, pfn, n });
}

/** dummy_device_is_mine(mdevice, page): a ZONE_DEVICE page of this device's devmem. */
export function dmirror_is_mine(k: Kernel, md: DmirrorDevice, page: Page): boolean {
  const pgmap = zone_device_pgmap(k, page);
  return pgmap !== null && pgmap.data === md.devmem;
}

/**
 * dummy_device_alloc_page(mdevice): a zeroed system page to fake the
 * device memory, a free device page (trylocked), calloc++, hmm_data =
 * the system page, one more reference (2: in use). null when out of device
 * pages (fault point "device_page_alloc") or system pages.
 */
export function dmirror_alloc_page(k: Kernel, md: DmirrorDevice): Page | null {
  if (k.faults.shouldFail("device_page_alloc")) {
    if (k.trace.on) emit(k, md, "alloc_failed", 0, 0);
    return null;
  }
  const rpage = alloc_page(k);
  if (rpage === null) return null;
  if (md.nfree === 0) {
    __free_page(k, rpage);
    if (k.trace.on) emit(k, md, "alloc_failed", 0, 0);
    return null;
  }
  const dpage = md.frees[--md.nfree]!;
  if (!trylock_page(k, dpage)) {
    md.frees[md.nfree++] = dpage;
    __free_page(k, rpage);
    return null;
  }
  md.calloc++;
  hmm_devmem_page_set_drvdata(k, dpage, rpage);
  get_page(k, dpage);
  if (k.trace.on) emit(k, md, "alloc", dpage, 1);
  return dpage;
}

/**
 * The backing system page of device page `page` (hmm_devmem_page_get_drvdata)
 * for a copy through it. NULL once page_free released it (a page the
 * teardown freed while still mapped): page_address(NULL) on x86_64 is a
 * non-canonical address, and the copy takes a general protection fault.
 * (0 is pfn 0, a real page in the model, so NULL must not be used as one.)
 */
function backingPage(k: Kernel, page: Page): Page {
  const rpage = hmm_devmem_page_get_drvdata(k, page);
  if (rpage === 0) throw new OopsSignal("general protection fault: 0000 [#1] SMP PTI", 1);
  return rpage;
}

/** dummy_devmem_free (hmm_devmem_ops.free): frees the backing page, cfree++, back on the list. */
function dmirror_devmem_free(k: Kernel, devmem: HmmDevmem, page: Page): void {
  const md = devmem.device.driver_data as DmirrorDevice;
  // hmm_devmem_page_get_drvdata, then set_drvdata(page, 0): one record
  const rec = pageExt(k, page, PAGE_EXT_FIELD.private).records();
  const o = pageIdx(page) * EXT_STRIDE + EXT_PRIVATE;
  const rpage = extGet64(rec, o);
  rec[o] = 0;
  rec[o + 1] = 0;
  // a page freed twice has drvdata NULL: __free_page(NULL) faults on the refcount (pfn 0 is
  // a real page in the model, so the NULL must not be freed as pfn 0)
  if (rpage === 0) nullDeref(k, PAGE_FIELD._refcount);
  __free_page(k, rpage);
  md.cfree++;
  md.frees[md.nfree++] = page;
  if (k.trace.on) emit(k, md, "free", page, 1);
}

/** dummy_devmem_fault_alloc_and_copy: migrate the device page back into a fresh system page. */
const faultMigrateOps: MigrateVmaOps = {
  alloc_and_copy(k, vma, src, dst, start, end, priv) {
    const md = priv as DmirrorDevice;
    for (let i = 0, addr = start; addr < end; addr += 4096, i++) {
      dst[i] = MIGRATE_PFN_ERROR;
      const s = src[i]!;
      const spage = migrate_pfn_to_page(s);
      if (spage === null || (s & MIGRATE_PFN_MIGRATE) === 0) continue;
      if (!dmirror_is_mine(k, md, spage)) continue;
      const rpage = backingPage(k, spage);
      const dpage = hmm_vma_alloc_locked_page(k, vma, addr);
      if (dpage === null) {
        dst[i] = MIGRATE_PFN_ERROR;
        continue;
      }
      copy_highpage(k, dpage, rpage);
      dst[i] = orBits(migrate_pfn(dpage), MIGRATE_PFN_LOCKED);
    }
  },
  finalize_and_map() {},
};

/**
 * dummy_devmem_fault (hmm_devmem_ops.fault): a CPU access to one of this
 * device's pages. migrate_vma of exactly that page back to system memory
 * (hmm_devmem_fault_range): VM_FAULT_SIGBUS if migrate_vma fails or the
 * destination is MIGRATE_PFN_ERROR, else 0. Atomic (the copy-engine wait
 * of a real device is part of the fault's composite cost).
 */
function dmirror_devmem_fault(
  k: Kernel,
  devmem: HmmDevmem,
  vma: unknown,
  addr: number,
  _page: Page,
  _flags: number,
  _pmdp: unknown,
): number {
  const md = devmem.device.driver_data as DmirrorDevice;
  md.cpuFaults++;
  const src = md.faultSrc, dst = md.faultDst;
  dst[0] = 0;
  const ret = migrate_vma(k, faultMigrateOps, vma as VmAreaStruct, addr, addr + 4096, src, dst, md);
  let r = 0;
  if (ret !== 0 || (dst[0]! & MIGRATE_PFN_ERROR) !== 0) r = VM_FAULT_SIGBUS;
  if (r !== 0) md.cpuFaultsFailed++;
  if (k.trace.on) emit(k, md, "fault", addr, r);
  return r;
}

const dmirror_devmem_ops: HmmDevmemOps = {
  free: dmirror_devmem_free,
  fault: dmirror_devmem_fault,
};

/** dmirror_probe: device memory (hmm_devmem_add), the free list, counters 0. */
function* dmirror_probe(k: Kernel, dev: Device): KGen<number> {
  const md = dev.driver_data as DmirrorDevice;
  const devmem = yield* hmm_devmem_add(k, dmirror_devmem_ops, dev, md.size);
  if (IS_ERR(devmem)) return devmem.err;
  md.devmem = devmem;
  const n = devmem.pfn_last - devmem.pfn_first;
  md.frees = new Float64Array(n);
  md.nfree = 0;
  for (let pfn = devmem.pfn_first; pfn < devmem.pfn_last; pfn++) md.frees[md.nfree++] = pfn;
  md.calloc = 0;
  md.cfree = 0;
  return 0;
}

/**
 * Creates a dmirror platform device and binds the driver to it (probe:
 * hmm_devmem_add of `size` bytes — 64 MiB as in 2018 unless told — rounded
 * up to whole 128 MiB sections). Returns the device, or -errno if the probe
 * failed. Sleeps: call with `yield*` or `machine.call`.
 */
export function* dmirror_create(
  k: Kernel,
  opts: { name?: string; size?: number } = {},
): KGen<DmirrorDevice | number> {
  const st = k.state(DMIRROR);
  const dev = new Device(k, opts.name ?? `hmm_dmirror${st.devices.length}`, "platform");
  const md = new DmirrorDevice(dev, opts.size ?? 64 * 2 ** 20);
  dev.driver_data = md;
  const drv = new Driver("HMM_DMIRROR", dmirror_probe);
  const ret = yield* driver_probe_device(k, drv, dev);
  if (ret !== 0) return ret;
  dev.driver_data = md;
  st.devices.push(md);
  return md;
}

/** Unbinds the driver (device_release_driver: devres runs the devmem's teardown). Sleeps. */
export function* dmirror_unbind(k: Kernel, md: DmirrorDevice): KGen<void> {
  yield* device_release_driver(k, md.dev);
}

const dmirrorMirrorOps = {
  /** dummy_update: clear the device table for [start, end). */
  sync_cpu_device_pagetables(_k: Kernel, mirror: HmmMirror, update: HmmUpdate): number {
    const d = (mirror as DmirrorMirror).dmirror;
    d.nsync++;
    d.lastSync.start = update.start;
    d.lastSync.end = update.end;
    for (let a = update.start; a < update.end;) {
      const vpn = Math.floor(a / 4096);
      const key = Math.floor(vpn / 512);
      const leaf = d.pt.get(key);
      const leafEnd = (key + 1) * 512 * 4096;
      const stop = Math.min(update.end, leafEnd);
      if (leaf !== undefined) {
        // entry index vpn - key * 512 (vpn % 512 without a floating-point modulo)
        for (let b = a; b < stop; b += 4096) leaf[Math.floor(b / 4096) - key * 512] = 0;
      }
      a = stop;
    }
    return 0;
  },
  /** ->release: the mm is going; forget the whole device table. */
  release(_k: Kernel, mirror: HmmMirror): void {
    const d = (mirror as DmirrorMirror).dmirror;
    d.released++;
    d.pt.clear();
  },
};

/** The mirror embedded in a Dmirror (container_of). */
class DmirrorMirror extends HmmMirror {
  dmirror!: Dmirror;
}

/**
 * open() of the device by a process with address space `mm`
 * (dummy_fops_open → dmirror_new): registers a mirror (mmap_sem for write).
 * Returns the mirror handle or -ENOMEM.
 */
export function dmirror_open(k: Kernel, md: DmirrorDevice, mm: MmStruct): Dmirror | number {
  const mirror = new DmirrorMirror(dmirrorMirrorOps);
  const d = new Dmirror(md, mm, mirror);
  mirror.dmirror = d;
  const r = hmm_mirror_register(k, mirror, mm);
  if (r) return -ENOMEM;
  return d;
}

/**
 * close() (dummy_fops_release): prints "DEVICE PAGE <calloc> <cfree>
 * (<diff>)" and unregisters the mirror.
 */
export function dmirror_release(k: Kernel, d: Dmirror): void {
  const md = d.mdevice;
  k.dmesg.printk("info", `DEVICE PAGE ${md.calloc} ${md.cfree} (${md.calloc - md.cfree})`);
  hmm_mirror_unregister(k, d.mirror);
}

function checkArgs(addr: number, npages: number): boolean {
  return addr % 4096 === 0 && Number.isInteger(npages) && npages >= 0 &&
    addr < addr + npages * 4096;
}

/** An entry backed by another device's private memory, or a read-only device page wanted for a write. */
function needsDeviceFault(
  k: Kernel,
  md: DmirrorDevice,
  range: HmmRange,
  e: number,
  write: boolean,
): boolean {
  const f = range.flags;
  if ((e & f[HMM_PFN_DEVICE_PRIVATE]!) === 0 || (e & f[HMM_PFN_VALID]!) === 0) return false;
  if (e === range.values[HMM_PFN_ERROR] || e === range.values[HMM_PFN_SPECIAL]) return false;
  const page = hmm_pfn_to_page(range, e)!;
  return !dmirror_is_mine(k, md, page) || (write && (e & f[HMM_PFN_WRITE]!) === 0);
}

/**
 * dummy_fault: one fault pass over [start, end) (see the module doc).
 * 0 or -errno.
 */
function dmirror_fault(k: Kernel, d: Dmirror, start: number, end: number, write: boolean): number {
  const md = d.mdevice;
  const mm = d.mm;
  const flags = DMIRROR_HMM_FLAGS, values = DMIRROR_HMM_VALUES;
  const pfns = new Float64Array(BATCH);
  d.faults++;
  let addr = start;
  let restarts = 0;
  do {
    // the 2018 driver retries a batch whose snapshot went stale for as long as it takes; a
    // batch that can never stay valid (a device page that can never migrate back) is a livelock
    if (restarts++ > MAX_FAULT_RESTARTS) {
      k.BUG(
        `drivers/char/hmm_dmirror.c:dummy_fault: [0x${addr.toString(16)}, 0x${
          end.toString(16)
        }) never stays valid (livelock)`,
      );
    }
    const vma = find_vma_intersection(mm, addr, end);
    if (vma === null) return -EFAULT;
    if ((vma.vm_flags & VM_READ) === 0) return -EFAULT;
    if (write && (vma.vm_flags & VM_WRITE) === 0) return -EFAULT;
    addr = Math.max(vma.vm_start, addr);
    const next = Math.min(addr + BATCH * 4096, end, vma.vm_end);
    const n = (next - addr) / 4096;
    const range = new HmmRange(vma, addr, next, pfns, flags, values, DMIRROR_PFN_SHIFT);
    const req = flags[HMM_PFN_VALID]! | (write ? flags[HMM_PFN_WRITE]! : 0);
    for (let i = 0; i < n; i++) pfns[i] = req;
    let ret = hmm_vma_fault(k, range, false);
    // entries backed by another device, or read-only device pages for a write: fault them back
    for (let round = 0; ret === 0 && round < 4; round++) {
      let again = false;
      for (let i = 0; i < n && !again; i++) again = needsDeviceFault(k, md, range, pfns[i]!, write);
      if (!again) break;
      for (let i = 0; i < n; i++) {
        pfns[i] = needsDeviceFault(k, md, range, pfns[i]!, write)
          ? req | flags[HMM_PFN_DEVICE_PRIVATE]!
          : req;
      }
      hmm_vma_range_done(k, range);
      ret = hmm_vma_fault(k, range, false);
    }
    if (ret === -11) continue; // -EAGAIN: mmap_sem was dropped, retry
    if (ret !== 0) return ret;
    md.afterFaultHook?.(k, d);
    if (!hmm_vma_range_done(k, range)) continue;
    // dummy_do_fault: fill the device table
    let invalid = false, missing = 0;
    for (let i = 0, a = addr; i < n; i++, a += 4096) {
      const e = pfns[i]!;
      if (e === values[HMM_PFN_SPECIAL] || e === values[HMM_PFN_ERROR]) {
        invalid = true;
        continue;
      }
      if ((e & flags[HMM_PFN_VALID]!) === 0) {
        missing++;
        continue;
      }
      const page = hmm_pfn_to_page(range, e)!;
      let dpte = page * 8 + DPT_VALID;
      if ((e & flags[HMM_PFN_WRITE]!) !== 0) dpte += DPT_WRITE;
      else if (write) missing++;
      d.setDpte(a, dpte);
    }
    if (invalid) return -EFAULT;
    if (missing > 0) return -EFAULT;
    addr = next;
    restarts = 0;
  } while (addr !== end);
  return 0;
}

/** Walks the device table for a READ (write=false) or WRITE; -ENOENT at the first miss. */
function dmirror_pt_copy(
  k: Kernel,
  d: Dmirror,
  start: number,
  end: number,
  buf: Int32Array,
  write: boolean,
): { ret: number; cpages: number } {
  const md = d.mdevice;
  let cpages = 0;
  for (let a = start, off = 0; a < end; a += 4096, off += WORDS_PER_PAGE) {
    const dpte = d.dpte(a);
    if ((dpte & DPT_VALID) === 0 || (write && (dpte & DPT_WRITE) === 0)) {
      return { ret: -ENOENT, cpages };
    }
    let page = (dpte - (dpte & 7)) / 8;
    if (is_zone_device_page(k, page)) {
      if (!dmirror_is_mine(k, md, page)) return { ret: -ENOENT, cpages };
      page = backingPage(k, page);
    }
    if (write) pageWriteWords(k, page, buf, off);
    else pageReadWords(k, page, buf, off);
    cpages++;
  }
  return { ret: 0, cpages };
}

/**
 * HMM_DMIRROR_READ (dummy_read): copy `npages` pages at `addr` of the
 * mirrored process into `out` (npages × 1024 words) through the device
 * table, faulting misses in. -EINVAL for a misaligned or wrapping range.
 */
export function dmirror_read(
  k: Kernel,
  d: Dmirror,
  addr: number,
  npages: number,
  out: Int32Array,
): DmirrorResult {
  if (!checkArgs(addr, npages)) return { ret: -EINVAL, cpages: 0, faults: 0 };
  const end = addr + npages * 4096;
  const f0 = d.faults;
  for (let tries = 0;; tries++) {
    const r = dmirror_pt_copy(k, d, addr, end, out, false);
    if (r.ret !== -ENOENT) return { ret: r.ret, cpages: r.cpages, faults: d.faults - f0 };
    if (tries > 64) return { ret: -EFAULT, cpages: 0, faults: d.faults - f0 };
    const ret = dmirror_fault(k, d, addr, end, false);
    if (ret) return { ret, cpages: 0, faults: d.faults - f0 };
  }
}

/**
 * HMM_DMIRROR_WRITE (dummy_write): copy `data` (npages × 1024 words) into
 * the process at `addr` through the device table, write-faulting misses in.
 */
export function dmirror_write(
  k: Kernel,
  d: Dmirror,
  addr: number,
  npages: number,
  data: Int32Array,
): DmirrorResult {
  if (!checkArgs(addr, npages)) return { ret: -EINVAL, cpages: 0, faults: 0 };
  const end = addr + npages * 4096;
  const f0 = d.faults;
  for (let tries = 0;; tries++) {
    const r = dmirror_pt_copy(k, d, addr, end, data, true);
    if (r.ret !== -ENOENT) return { ret: r.ret, cpages: r.cpages, faults: d.faults - f0 };
    if (tries > 64) return { ret: -EFAULT, cpages: 0, faults: d.faults - f0 };
    const ret = dmirror_fault(k, d, addr, end, true);
    if (ret) return { ret, cpages: 0, faults: d.faults - f0 };
  }
}

/** The MIGRATE batch's private data. */
export interface MigratePriv {
  /** The device pages go to or come from. */
  md: DmirrorDevice;
  /** Pages in the batch. */
  npages: number;
}

/**
 * dummy_migrate_alloc_and_copy / _finalize_and_map: the MIGRATE ioctl's
 * migrate_vma_ops (private data: `{ md, npages }`, npages counting the pages
 * that ended on this device).
 */
export const dmirrorToDevice: MigrateVmaOps = {
  alloc_and_copy(k, _vma, src, dst, start, end, priv) {
    const md = (priv as MigratePriv).md;
    for (let i = 0, addr = start; addr < end; addr += 4096, i++) {
      dst[i] = 0;
      const s = src[i]!;
      let spage = migrate_pfn_to_page(s);
      if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
      if (spage !== null && (s & MIGRATE_PFN_DEVICE) !== 0) {
        if (!dmirror_is_mine(k, md, spage)) continue;
        spage = backingPage(k, spage);
      }
      const dpage = dmirror_alloc_page(k, md);
      if (dpage === null) continue;
      const rpage = hmm_devmem_page_get_drvdata(k, dpage);
      if (spage !== null) copy_highpage(k, rpage, spage);
      dst[i] = orBits(migrate_pfn(dpage), MIGRATE_PFN_DEVICE | MIGRATE_PFN_LOCKED);
    }
  },
  finalize_and_map(k, _vma, src, dst, start, end, priv) {
    const p = priv as MigratePriv;
    for (let i = 0, addr = start; addr < end; addr += 4096, i++) {
      const page = migrate_pfn_to_page(dst[i]!);
      if (page === null) continue;
      if ((src[i]! & MIGRATE_PFN_MIGRATE) === 0) continue;
      if (!dmirror_is_mine(k, p.md, page)) continue;
      p.npages++;
    }
  },
};

/**
 * HMM_DMIRROR_MIGRATE: migrate [addr, addr + npages pages) to this device,
 * VMA by VMA, in 64-page migrate_vma batches. -EINVAL if a page of the range
 * has no VMA or its VMA lacks VM_READ (the hmm-tests dmirror's checks; the
 * 2018 dummy required one VMA covering the range), or for a migrate_vma
 * argument error; -ENOENT if fewer pages than asked ended on the device;
 * cpages = pages moved to it.
 */
export function dmirror_migrate(
  k: Kernel,
  d: Dmirror,
  addr: number,
  npages: number,
): DmirrorResult {
  const md = d.mdevice;
  const end = addr + npages * 4096;
  const src: MigratePfns = new Float64Array(BATCH), dst: MigratePfns = new Float64Array(BATCH);
  const priv: MigratePriv = { md, npages: 0 };
  for (let a = addr; a < end;) {
    const vma = find_vma_intersection(d.mm, a, a + 4096);
    if (vma === null || vma.vm_start > a || (vma.vm_flags & VM_READ) === 0) {
      return { ret: -EINVAL, cpages: priv.npages, faults: 0 };
    }
    const stop = Math.min(end, vma.vm_end);
    for (; a < stop;) {
      const next = Math.min(stop, a + BATCH * 4096);
      const ret = migrate_vma(k, dmirrorToDevice, vma, a, next, src, dst, priv);
      if (ret) return { ret, cpages: priv.npages, faults: 0 };
      a = next;
    }
  }
  if (k.trace.on) emit(k, md, "migrate", addr, priv.npages);
  return { ret: priv.npages < npages ? -ENOENT : 0, cpages: priv.npages, faults: 0 };
}

/**
 * A 2018 snapshot: hmm_vma_get_pfns over [addr, addr + npages pages), VMA
 * by VMA (a range covers one VMA), returning the raw entries with the
 * driver's flags/values; holes between VMAs are values[ERROR]; the call's
 * result per VMA is in `rets`.
 */
export function dmirror_snapshot(
  k: Kernel,
  d: Dmirror,
  addr: number,
  npages: number,
): { entries: Float64Array; rets: number[] } {
  const entries = new Float64Array(npages).fill(DMIRROR_HMM_VALUES[HMM_PFN_ERROR]!);
  const rets: number[] = [];
  const end = addr + npages * 4096;
  for (let a = addr; a < end;) {
    const vma = find_vma_intersection(d.mm, a, end);
    if (vma === null) break;
    const s = Math.max(a, vma.vm_start), e = Math.min(end, vma.vm_end);
    const pfns = new Float64Array((e - s) / 4096);
    const range = new HmmRange(
      vma,
      s,
      e,
      pfns,
      DMIRROR_HMM_FLAGS,
      DMIRROR_HMM_VALUES,
      DMIRROR_PFN_SHIFT,
    );
    const ret = hmm_vma_get_pfns(k, range);
    rets.push(ret);
    if (ret === 0) hmm_vma_range_done(k, range);
    entries.set(pfns, (s - addr) / 4096);
    a = e;
  }
  return { entries, rets };
}

/** Decodes a snapshot entry: "ERROR", "NONE", "SPECIAL", or the flags set ("VALID|WRITE|DEVICE_PRIVATE"). */
export function dmirror_entry_string(e: number): string {
  const v = DMIRROR_HMM_VALUES, f = DMIRROR_HMM_FLAGS;
  if (e === v[HMM_PFN_ERROR]) return "ERROR";
  if (e === v[HMM_PFN_NONE]) return "NONE";
  if (e === v[HMM_PFN_SPECIAL]) return "SPECIAL";
  const parts: string[] = [];
  if ((e & f[HMM_PFN_VALID]!) !== 0) parts.push("VALID");
  if ((e & f[HMM_PFN_WRITE]!) !== 0) parts.push("WRITE");
  if ((e & f[HMM_PFN_DEVICE_PRIVATE]!) !== 0) parts.push("DEVICE_PRIVATE");
  return parts.length > 0 ? parts.join("|") : "0";
}

/**
 * The device file of `md` for mmap(2). The 2018 driver refused mmap
 * (-EINVAL); `mixedmap: true` gives the hmm-tests dmirror's ->mmap instead,
 * which fills the VMA with zeroed kernel pages through vm_insert_page (so
 * the VMA is VM_MIXEDMAP).
 */
export function dmirror_file(
  _k: Kernel,
  md: DmirrorDevice,
  opts: { mixedmap?: boolean } = {},
): File {
  const f = new File(new AddressSpace(`/dev/${md.dev.name}`), true);
  f.mmap = (kk: Kernel, vma: VmAreaStruct) => {
    if (opts.mixedmap !== true) return -EINVAL;
    for (let addr = vma.vm_start; addr < vma.vm_end; addr += 4096) {
      const page = alloc_page(kk);
      if (page === null) return -ENOMEM;
      const ret = vm_insert_page(kk, vma, addr, page);
      __free_page(kk, page);
      if (ret) return ret;
    }
    return 0;
  };
  return f;
}

/** The dmirror devices of a kernel. */
export function dmirrorDevices(k: Kernel): readonly DmirrorDevice[] {
  return k.state(DMIRROR).devices;
}
