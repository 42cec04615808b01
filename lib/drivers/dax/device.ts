/**
 * drivers/dax/device.c (v4.20, unchanged in v5.0): device-dax — a dax
 * region carved from a pmem namespace and the character device
 * `/dev/daxX.Y` that maps it whole into processes, faulting at the
 * region's alignment.
 *
 * - alloc_dax_region(parent, id, res, align, addr, pfn_flags): NULL when
 *   the parent already has driver data (dev_WARN "dax core failed to setup
 *   private data") or res is not aligned to `align`; registers
 *   dax_region_unregister on the parent.
 * - devm_create_dev_dax(region, id, res, count): the dev_dax, its
 *   dax_device and char device, and the devm action unregister_dev_dax on
 *   the parent — which at unbind runs before everything the parent
 *   registered earlier (LIFO): kill_dev_dax = kill_dax + unmap_mapping_range
 *   of the dax inode, so every mapping is zapped before the pgmap goes.
 * - mmap (dax_mmap → check_vma): -ENXIO once the device is dead; -EINVAL for
 *   a private mapping (no VM_MAYSHARE), a VMA not aligned to the region's
 *   align, a PFN_DEV-without-PFN_MAP region without MADV_DONTFORK, a file
 *   that is not S_DAX. The VMA gets dax_vm_ops and VM_HUGEPAGE.
 * - Faults (dev_dax_huge_fault): PTE, PMD or PUD, each re-checking
 *   check_vma (so a dead device faults SIGBUS). A fault smaller than the
 *   align is SIGBUS; a PMD/PUD fault larger than the align falls back; PMD
 *   and PUD need PFN_DEV|PFN_MAP and the whole huge page inside the VMA.
 *   The entry maps dax_pgoff_to_phys(pgoff) with no page reference. On
 *   success every page of the entry gets page->mapping = the file's mapping
 *   and page->index, unless it already has one.
 *
 * Page-size faults go through handle_mm_fault (->fault); PMD and PUD
 * faults need the huge_fault dispatch of handle_mm_fault_devmap
 * (devmap-mm.ts), which GUP and the user-access helpers (uaccess.ts) use.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import { dev_dbg, dev_info, Device } from "../../kernel/device.ts";
import { devm_add_action_or_reset } from "../../kernel/devres.ts";
import { EINVAL, ENXIO, ERR_PTR, type ErrPtr } from "../../kernel/errno.ts";
import { get_unmapped_area } from "../../kernel/mm/mmap.ts";
import {
  File,
  linear_page_index,
  type MmStruct,
  S_IFCHR,
  VM_DONTCOPY,
  VM_FAULT_FALLBACK,
  VM_FAULT_NOPAGE,
  VM_FAULT_SIGBUS,
  VM_HUGEPAGE,
  VM_MAYSHARE,
  type VmAreaStruct,
  type VmFault,
} from "../../kernel/mm/mm-types.ts";
import {
  mappingId,
  page_mapping_raw,
  set_page_index,
  set_page_mapping_raw,
} from "../../kernel/mm/page-ext.ts";
import type { KGen } from "../../sim/task.ts";
import {
  alloc_dax,
  dax_alive,
  dax_read_lock,
  dax_read_unlock,
  type DaxDevice,
  kill_dax,
  PFN_DEV,
  PFN_MAP,
  PfnT,
  put_dax,
} from "./super.ts";
import {
  daxFaultEvent,
  type DaxVmOps,
  DEVMAP,
  devmapVmaClose,
  type PageEntrySize,
  PE_SIZE_PMD,
  PE_SIZE_PTE,
  PE_SIZE_PUD,
  PMD_SIZE,
  PUD_SIZE,
  set_inode_dax,
  unmap_mapping_range,
  vma_is_dax,
  vmf_insert_mixed,
  vmf_insert_pfn_pmd,
  vmf_insert_pfn_pud,
} from "../../kernel/mm/devmap-mm.ts";
import { ND_LINK } from "../nvdimm/link.ts";

const PAGE_SIZE = 4096;

/** A physical range, end inclusive (struct resource's start/end). */
export interface DaxRes {
  /** First byte. */
  start: number;
  /** Last byte (inclusive). */
  end: number;
}

/** struct dax_region. */
export class DaxRegion {
  /** kref. */
  kref = 1;
  /**
   * Creates a region (alloc_dax_region does this).
   * @param id the nd region id.
   * @param res the data range.
   * @param align fault granularity: 4 KiB, 2 MiB or 1 GiB.
   * @param pfn_flags PFN_DEV | PFN_MAP.
   * @param dev the parent (the nd_dax device).
   * @param base the kernel address of res.start.
   */
  constructor(
    readonly id: number,
    readonly res: DaxRes,
    readonly align: number,
    readonly pfn_flags: number,
    readonly dev: Device,
    readonly base: bigint,
  ) {}
}

/** struct dev_dax: one device-dax instance. */
export class DevDax {
  /** The device ("dax<region>.<id>", class dax). */
  dev: Device | null = null;
  /** Its dax_device (liveness, the inode its mappings hang off). */
  dax_dev: DaxDevice | null = null;
  /** Instance id (-1 when the region provider owns it). */
  id = -1;
  /** Whether its char device is registered. */
  cdevLive = false;
  /** Scratch pfn_t of the fault path. */
  readonly pfn: PfnT = new PfnT();
  /**
   * Creates the instance.
   * @param region the dax region.
   * @param res its ranges.
   */
  constructor(readonly region: DaxRegion, readonly res: DaxRes[]) {}
}

/** A file open on /dev/daxX.Y: filp->private_data is the dev_dax. */
export class DaxFile extends File {
  /**
   * Creates the open file (dax_open).
   * @param private_data the dev_dax.
   * @param writable opened O_RDWR.
   */
  constructor(readonly private_data: DevDax, writable: boolean) {
    super(private_data.dax_dev!.inode, writable);
    this.i_mode = S_IFCHR | 0o600; // the /dev/daxX.Y char device node (vma_is_fsdax tells it apart)
  }
}

/** DEFAULT_RATELIMIT_INTERVAL (5 s) and _BURST (10): the dev_info_ratelimited budget. */
const RATELIMIT = { interval: 5e9, burst: 10 };
const RATELIMIT_STATE: SubsystemKey<{ begin: number; printed: number }> = {
  name: "dax-ratelimit",
  create: () => ({ begin: -Infinity, printed: 0 }),
};

/** __ratelimit(): prints through `print` unless 10 lines were printed in the last 5 s of simulated time. */
function printkRatelimited(k: Kernel, print: () => void): void {
  const st = k.state(RATELIMIT_STATE);
  if (k.now - st.begin >= RATELIMIT.interval) {
    st.begin = k.now;
    st.printed = 0;
  }
  if (st.printed < RATELIMIT.burst) {
    st.printed++;
    print();
  }
}

/** The character devices of a kernel: "/dev/daxX.Y" → dev_dax (cdev_device_add / _del). */
export const DAX_CDEVS: SubsystemKey<Map<string, DevDax>> = {
  name: "dax-cdevs",
  create: () => new Map(),
};

/** dax_region_put(dax_region). */
export function dax_region_put(_k: Kernel, dax_region: DaxRegion): void {
  dax_region.kref--;
}

/** dax_region_unregister: the devm action of alloc_dax_region (sysfs groups removed, a put). */
function dax_region_unregister(k: Kernel, dax_region: DaxRegion): void {
  dax_region_put(k, dax_region);
}

/**
 * alloc_dax_region(parent, region_id, res, align, addr, pfn_flags)
 * (EXPORT_SYMBOL_GPL): see the module doc. Returns the region or null.
 * Sleeps only if registering its devm action fails (the action runs).
 */
export function* alloc_dax_region(
  k: Kernel,
  parent: Device,
  region_id: number,
  res: DaxRes,
  align: number,
  addr: bigint,
  pfn_flags: number,
): KGen<DaxRegion | null> {
  if (parent.driver_data !== null) {
    k.dmesg.printk(
      "warning",
      `WARNING: ${
        parent.driver?.name ?? parent.bus
      } ${parent.name}: dax core failed to setup private data`,
    );
    k.taint("W");
    return null;
  }
  if (res.start % align !== 0 || (res.end - res.start + 1) % align !== 0) return null;
  const dax_region = new DaxRegion(region_id, { ...res }, align, pfn_flags, parent, addr);
  parent.driver_data = dax_region;
  dax_region.kref++; // kref_get for the devm action
  if ((yield* devm_add_action_or_reset(k, parent, dax_region_unregister, dax_region)) !== 0) {
    return null;
  }
  return dax_region;
}

/**
 * kill_dev_dax(dev_dax): kill_dax, then unmap_mapping_range(inode->i_mapping,
 * 0, 0, 1) — every mapping of the device is zapped; a later access faults
 * and finds the device dead. Sleeps (kill_dax's grace period).
 */
export function* kill_dev_dax(k: Kernel, dev_dax: DevDax): KGen<void> {
  const dax_dev = dev_dax.dax_dev!;
  yield* kill_dax(k, dax_dev);
  unmap_mapping_range(k, dax_dev.inode, 0, 0, 1);
}

/** unregister_dev_dax: the devm action of devm_create_dev_dax (kill_dev_dax, cdev_device_del, put_device). */
export function* unregister_dev_dax(k: Kernel, dev_dax: DevDax): KGen<void> {
  if (dev_dax.dev !== null) dev_dbg(k, dev_dax.dev, "trace");
  yield* kill_dev_dax(k, dev_dax);
  k.state(DAX_CDEVS).delete(dev_dax.dev!.name);
  dev_dax.cdevLive = false;
  dax_region_put(k, dev_dax.region); // dev_dax_release, at the last put_device
  put_dax(k, dev_dax.dax_dev);
}

/**
 * devm_create_dev_dax(dax_region, id, res, count) (EXPORT_SYMBOL_GPL):
 * ERR_PTR(-EINVAL) for count 0 or a range not aligned to the region's
 * align; otherwise the instance "dax<region id>.<id>" with its dax_device
 * and char device, torn down by unregister_dev_dax at the parent's unbind
 * (ERR_PTR(-ENOMEM) if that action cannot be registered — it runs at once).
 * Sleeps only in that failure.
 */
export function* devm_create_dev_dax(
  k: Kernel,
  dax_region: DaxRegion,
  id: number,
  res: DaxRes[],
  count: number,
): KGen<DevDax | ErrPtr> {
  if (count === 0) return ERR_PTR(-EINVAL);
  for (let i = 0; i < count; i++) {
    const r = res[i]!;
    if (r.start % dax_region.align !== 0 || (r.end - r.start + 1) % dax_region.align !== 0) {
      return ERR_PTR(-EINVAL);
    }
  }
  const dev_dax = new DevDax(dax_region, res.slice(0, count).map((r) => ({ ...r })));
  const name = `dax${dax_region.id}.${id}`;
  dev_dax.id = -1; // the region provider owns the id
  dev_dax.dax_dev = alloc_dax(k, dev_dax, null, null, name);
  const dev = new Device(k, name, "dax", dax_region.dev);
  dev_dax.dev = dev;
  dax_region.kref++;
  k.state(DAX_CDEVS).set(name, dev_dax); // cdev_device_add
  dev_dax.cdevLive = true;
  const rc = yield* devm_add_action_or_reset(k, dax_region.dev, unregister_dev_dax, dev_dax);
  if (rc) return ERR_PTR(rc);
  return dev_dax;
}

/**
 * check_vma(dev_dax, vma, func) (static): 0, or -ENXIO (device dead) /
 * -EINVAL (private mapping, misaligned VMA, PFN_DEV without PFN_MAP and no
 * MADV_DONTFORK, not a DAX file), with the ratelimited dev_info the kernel
 * prints for the -EINVAL cases.
 */
export function check_vma(k: Kernel, dev_dax: DevDax, vma: VmAreaStruct, func: string): number {
  const dax_region = dev_dax.region;
  const dev = dev_dax.dev!;
  if (!dax_alive(dev_dax.dax_dev!)) return -ENXIO;
  const comm = k.current?.name ?? vma.vm_mm.comm;
  if ((vma.vm_flags & VM_MAYSHARE) !== VM_MAYSHARE) {
    printkRatelimited(
      k,
      () => dev_info(k, dev, `${comm}: ${func}: fail, attempted private mapping`),
    );
    return -EINVAL;
  }
  const mask = dax_region.align;
  if (vma.vm_start % mask !== 0 || vma.vm_end % mask !== 0) {
    printkRatelimited(k, () =>
      dev_info(
        k,
        dev,
        `${comm}: ${func}: fail, unaligned vma (0x${vma.vm_start.toString(16)} - 0x${
          vma.vm_end.toString(16)
        }, 0x${(mask - 1).toString(16)})`,
      ));
    return -EINVAL;
  }
  if (
    (dax_region.pfn_flags & (PFN_DEV | PFN_MAP)) === PFN_DEV && (vma.vm_flags & VM_DONTCOPY) === 0
  ) {
    printkRatelimited(
      k,
      () => dev_info(k, dev, `${comm}: ${func}: fail, dax range requires MADV_DONTFORK`),
    );
    return -EINVAL;
  }
  if (!vma_is_dax(k, vma)) {
    printkRatelimited(k, () => dev_info(k, dev, `${comm}: ${func}: fail, vma is not DAX capable`));
    return -EINVAL;
  }
  return 0;
}

/**
 * dax_pgoff_to_phys(dev_dax, pgoff, size): the physical address of page
 * `pgoff` of the instance if [phys, phys + size) lies inside one of its
 * ranges, else -1.
 */
export function dax_pgoff_to_phys(dev_dax: DevDax, pgoff: number, size: number): number {
  const res = dev_dax.res;
  let phys = -1;
  let i = 0;
  for (; i < res.length; i++) {
    const r = res[i]!;
    phys = pgoff * PAGE_SIZE + r.start;
    if (phys >= r.start && phys <= r.end) break;
    pgoff -= (r.end - r.start + 1) / PAGE_SIZE;
  }
  if (i < res.length && phys + size - 1 <= res[i]!.end) return phys;
  return -1;
}

function __dev_dax_pte_fault(k: Kernel, dev_dax: DevDax, vmf: VmFault, pfn: PfnT): number {
  if (check_vma(k, dev_dax, vmf.vma, "__dev_dax_pte_fault")) return VM_FAULT_SIGBUS;
  const dax_region = dev_dax.region;
  if (dax_region.align > PAGE_SIZE) {
    if (k.tracing) {
      dev_dbg(
        k,
        dev_dax.dev!,
        `alignment (0x${dax_region.align.toString(16)}) > fault size (0x${PAGE_SIZE.toString(16)})`,
      );
    }
    return VM_FAULT_SIGBUS;
  }
  if (PAGE_SIZE !== dax_region.align) return VM_FAULT_SIGBUS;
  const phys = dax_pgoff_to_phys(dev_dax, vmf.pgoff, PAGE_SIZE);
  if (phys === -1) return VM_FAULT_SIGBUS;
  k.state(ND_LINK).phys_to_pfn_t(k, phys, dax_region.pfn_flags, pfn);
  return vmf_insert_mixed(k, vmf.vma, vmf.address, pfn);
}

/**
 * __dev_dax_pmd_fault(dev_dax, vmf, pfn) and __dev_dax_pud_fault(dev_dax,
 * vmf, pfn) in one: the kernel's two differ only in the entry size
 * (`fault_size`), the insert call and the name their messages print (`func`).
 */
function __dev_dax_huge_fault(
  k: Kernel,
  dev_dax: DevDax,
  vmf: VmFault,
  pfn: PfnT,
  fault_size: number,
  func: string,
): number {
  if (check_vma(k, dev_dax, vmf.vma, func)) return VM_FAULT_SIGBUS;
  const dax_region = dev_dax.region;
  if (dax_region.align > fault_size) return VM_FAULT_SIGBUS;
  // dax pmd/pud mappings require pfn_t_devmap()
  if ((dax_region.pfn_flags & (PFN_DEV | PFN_MAP)) !== (PFN_DEV | PFN_MAP)) return VM_FAULT_SIGBUS;
  if (fault_size < dax_region.align) return VM_FAULT_SIGBUS;
  if (fault_size > dax_region.align) return VM_FAULT_FALLBACK;
  const base = vmf.address - (vmf.address & (fault_size - 1)); // sizes ≤ 1 GiB: & is exact
  if (base < vmf.vma.vm_start || base + fault_size > vmf.vma.vm_end) return VM_FAULT_SIGBUS;
  const pgoff = linear_page_index(vmf.vma, base);
  const phys = dax_pgoff_to_phys(dev_dax, pgoff, fault_size);
  if (phys === -1) return VM_FAULT_SIGBUS;
  k.state(ND_LINK).phys_to_pfn_t(k, phys, dax_region.pfn_flags, pfn);
  const write = (vmf.flags & 1) !== 0;
  return fault_size === PMD_SIZE
    ? vmf_insert_pfn_pmd(k, vmf.vma, vmf.address, null, pfn, write) // vmf->pmd
    : vmf_insert_pfn_pud(k, vmf.vma, vmf.address, null, pfn, write); // vmf->pud
}

/**
 * dev_dax_huge_fault(vmf, pe_size): the fault of a /dev/dax mapping at one
 * entry size (see the module doc). Charges one DAX fault of simulated time.
 */
export function dev_dax_huge_fault(k: Kernel, vmf: VmFault, pe_size: PageEntrySize): number {
  const filp = vmf.vma.vm_file as DaxFile;
  const dev_dax = filp.private_data;
  const id = dax_read_lock(k);
  let rc: number;
  let fault_size = PAGE_SIZE;
  const pfn = dev_dax.pfn;
  switch (pe_size) {
    case PE_SIZE_PTE:
      rc = __dev_dax_pte_fault(k, dev_dax, vmf, pfn);
      break;
    case PE_SIZE_PMD:
      fault_size = PMD_SIZE;
      rc = __dev_dax_huge_fault(k, dev_dax, vmf, pfn, PMD_SIZE, "__dev_dax_pmd_fault");
      break;
    case PE_SIZE_PUD:
      fault_size = PUD_SIZE;
      rc = __dev_dax_huge_fault(k, dev_dax, vmf, pfn, PUD_SIZE, "__dev_dax_pud_fault");
      break;
    default:
      rc = VM_FAULT_SIGBUS;
  }
  if (rc === VM_FAULT_NOPAGE) {
    // device-dax capacity was mapped: record page->mapping and page->index
    const base = vmf.address - (vmf.address & (fault_size - 1)); // sizes ≤ 1 GiB: & is exact
    const pgoff = linear_page_index(vmf.vma, base);
    const raw = mappingId(k, filp.f_mapping) * 2;
    const first = pfn.pfn;
    for (let i = 0; i < fault_size / PAGE_SIZE; i++) {
      if (page_mapping_raw(k, first + i) !== 0) continue;
      set_page_mapping_raw(k, first + i, raw);
      set_page_index(k, first + i, pgoff + i);
    }
  }
  if (rc !== VM_FAULT_FALLBACK) k.clock.now += k.state(DEVMAP).faultNs;
  daxFaultEvent(k, pe_size, vmf, rc);
  dax_read_unlock(k, id);
  return rc;
}

/** dev_dax_fault(vmf): the page-size fault, dev_dax_huge_fault(vmf, PE_SIZE_PTE). */
export function dev_dax_fault(k: Kernel, vmf: VmFault): number {
  return dev_dax_huge_fault(k, vmf, PE_SIZE_PTE);
}

/** dax_vm_ops: fault, huge_fault, pagesize (split is not modelled: VMAs split freely). */
export const dax_vm_ops: DaxVmOps = {
  name: "dax",
  fault: dev_dax_fault,
  huge_fault: dev_dax_huge_fault,
  pagesize: (vma) => (vma.vm_file as DaxFile).private_data.region.align,
  close: devmapVmaClose,
};

/**
 * dax_mmap(filp, vma) (the char device's ->mmap): check_vma under
 * dax_read_lock; on success the VMA gets dax_vm_ops and VM_HUGEPAGE.
 */
export function dax_mmap(k: Kernel, filp: DaxFile, vma: VmAreaStruct): number {
  const dev_dax = filp.private_data;
  if (dev_dax.dev !== null && k.tracing) dev_dbg(k, dev_dax.dev, "trace");
  const id = dax_read_lock(k);
  const rc = check_vma(k, dev_dax, vma, "dax_mmap");
  dax_read_unlock(k, id);
  if (rc) return rc;
  vma.vm_ops = dax_vm_ops;
  vma.vm_flags |= VM_HUGEPAGE;
  return 0;
}

/**
 * open(2) of "/dev/daxX.Y", with dax_open(inode, filp)'s work: the file
 * shares the dax inode's mapping, which is S_DAX. The model has no VFS to
 * look the path up and build the file, so this takes the path and returns
 * the file — null when no such char device exists (-ENXIO to the opener) —
 * where the kernel's dax_open fills `filp` and returns 0.
 */
export function dax_open(k: Kernel, path: string, writable: boolean): DaxFile | null {
  const name = path.replace(/^\/dev\//, "");
  const dev_dax = k.state(DAX_CDEVS).get(name);
  if (dev_dax === undefined || !dev_dax.cdevLive) return null;
  const f = new DaxFile(dev_dax, writable);
  set_inode_dax(k, f.f_mapping);
  f.mmap = (kk, vma) => dax_mmap(kk, f, vma); // call_mmap: file->f_op->mmap(file, vma)
  return f;
}

/**
 * dax_get_unmapped_area(filp, addr, len, pgoff, flags): without a hint,
 * an address for `len` bytes whose offset from the region's align matches
 * the file offset's (searching len + align and rounding in). Returns the
 * address or -errno (get_unmapped_area's). `mm` is the kernel's
 * current->mm. `flags` goes to mm->get_unmapped_area in the kernel; the
 * model's search takes no flags. With a non-zero hint `addr` the kernel
 * skips the alignment search and asks mm->get_unmapped_area, which tries
 * the hint first; the model's search has no hint to try, so it returns the
 * plain search's address (what the kernel gives when the hint's range is
 * taken).
 */
export function dax_get_unmapped_area(
  _k: Kernel,
  mm: MmStruct,
  filp: DaxFile,
  addr: number,
  len: number,
  pgoff: number,
  _flags: number,
): number {
  // a hint skips the alignment search (the kernel's "goto out"); the model's search cannot try it
  if (addr !== 0) return get_unmapped_area(mm, len, PAGE_SIZE);
  const align = filp.private_data.region.align;
  const off = pgoff * PAGE_SIZE;
  const off_end = off + len;
  const off_align = Math.ceil(off / align) * align;
  if (off_end <= off_align || off_end - off_align < align) {
    return get_unmapped_area(mm, len, PAGE_SIZE);
  }
  const addr_align = get_unmapped_area(mm, len + align, PAGE_SIZE);
  if (addr_align < 0) return get_unmapped_area(mm, len, PAGE_SIZE);
  const fix = ((off - addr_align) % align + align) % align;
  return addr_align + fix;
}
