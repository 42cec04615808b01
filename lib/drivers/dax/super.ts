/**
 * drivers/dax/super.c (v4.20): the dax_device — what pmem hands a DAX
 * filesystem (its direct_access) and what a device-dax instance is built
 * on — and its liveness.
 *
 * - alloc_dax(private, host, ops): a live dax_device with its own inode
 *   (for device-dax, the inode whose mapping every /dev/daxX.Y open shares,
 *   so unmap_mapping_range at teardown reaches every mapping).
 * - kill_dax(dax_dev): clear DAXDEV_ALIVE, synchronize_srcu(&dax_srcu) so
 *   that every fault or direct_access that saw it alive has finished, drop
 *   the private data. Every operation that starts afterwards sees it dead:
 *   dax_direct_access returns -ENXIO, device-dax faults SIGBUS.
 * - dax_read_lock / dax_read_unlock: the dax_srcu read side. Faults run
 *   atomically in the model, so a reader is never preempted inside; the
 *   srcu grace period is modelled as an RCU grace period (synchronize_rcu).
 *
 * pfn_t (include/linux/pfn_t.h) is in lib/kernel/mm/pfn-t.ts, re-exported here.
 *
 * @module
 */
import type { Kernel } from "../../kernel/kernel.ts";
import { ENXIO, EOPNOTSUPP, ERANGE } from "../../kernel/errno.ts";
import { AddressSpace } from "../../kernel/mm/mm-types.ts";
import { synchronize_rcu } from "../../kernel/sched.ts";
import type { KGen } from "../../sim/task.ts";
import type { PfnT } from "../../kernel/mm/pfn-t.ts";

// pfn_t lives with the mm (lib/kernel/mm/pfn-t.ts); the drivers import it from here too
export { PFN_DEV, PFN_MAP, pfn_t_devmap, PfnT, phys_to_pfn_t } from "../../kernel/mm/pfn-t.ts";

/** struct dax_operations (the part the model uses). */
export interface DaxOperations {
  /**
   * ->direct_access(dax_dev, pgoff, nr_pages, kaddr, pfn): pages available
   * from `pgoff` (≤ nr_pages), or -errno; fills `pfn`. The out-parameter
   * `kaddr` is left out: no caller in the model reads the kernel address.
   * Must not sleep.
   */
  direct_access(k: Kernel, dax_dev: DaxDevice, pgoff: number, nr_pages: number, pfn: PfnT): number;
}

/** struct dax_device. */
export class DaxDevice {
  /** DAXDEV_ALIVE. */
  alive = true;
  /** dax_get_private(): the driver's device (pmem, dev_dax), NULL after kill_dax. */
  private: unknown;
  /** The operations (null for device-dax, whose only access is mmap). */
  readonly ops: DaxOperations | null;
  /** The host name ("pmem0"), or null. */
  readonly host: string | null;
  /** The dax inode's mapping: where device-dax mappings are tracked (i_mmap). */
  readonly inode: AddressSpace;
  /** dax_write_cache(): whether the platform has a write cache to flush. */
  writeCache = false;
  /** References (put_dax). */
  refs = 1;

  /**
   * Creates a live dax device (alloc_dax does this).
   * @param priv driver data.
   * @param host host name or null.
   * @param ops operations or null.
   * @param name the inode's name for messages.
   */
  constructor(priv: unknown, host: string | null, ops: DaxOperations | null, name: string) {
    this.private = priv;
    this.host = host;
    this.ops = ops;
    this.inode = new AddressSpace(name);
  }
}

/**
 * alloc_dax(private, host, ops) (drivers/dax/super.c): a new live
 * dax_device (the model's allocation cannot fail). `name` labels it.
 */
export function alloc_dax(
  k: Kernel,
  priv: unknown,
  host: string | null,
  ops: DaxOperations | null,
  name: string = host ?? "dax",
): DaxDevice {
  const d = new DaxDevice(priv, host, ops, name);
  if (k.tracing) k.trace.emit({ kind: "dax", op: "alloc", dev: name, addr: 0, ret: 0 });
  return d;
}

/** put_dax(dax_dev): drops a reference (NULL is fine). */
export function put_dax(_k: Kernel, dax_dev: DaxDevice | null): void {
  if (dax_dev !== null) dax_dev.refs--;
}

/** dax_alive(dax_dev): DAXDEV_ALIVE (the caller holds dax_read_lock). */
export function dax_alive(dax_dev: DaxDevice): boolean {
  return dax_dev.alive;
}

/** dax_read_lock(): srcu_read_lock(&dax_srcu); returns the index for dax_read_unlock. */
export function dax_read_lock(_k: Kernel): number {
  return 0;
}

/** dax_read_unlock(id). */
export function dax_read_unlock(_k: Kernel, _id: number): void {}

/**
 * kill_dax(dax_dev) (EXPORT_SYMBOL_GPL): mark it dead, wait for every
 * dax_srcu reader (a grace period), forget the private data. NULL is a
 * no-op. Sleeps: call with `yield*`.
 */
export function* kill_dax(k: Kernel, dax_dev: DaxDevice | null): KGen<void> {
  if (dax_dev === null) return;
  dax_dev.alive = false;
  if (k.tracing) {
    k.trace.emit({ kind: "dax", op: "kill", dev: dax_dev.inode.name, addr: 0, ret: 0 });
  }
  yield* synchronize_rcu(k); // synchronize_srcu(&dax_srcu)
  dax_dev.private = null;
}

/**
 * dax_direct_access(dax_dev, pgoff, nr_pages, kaddr, pfn): -EOPNOTSUPP
 * without a dax_device, -ENXIO when it is dead, else the driver's
 * ->direct_access clipped to nr_pages (-ERANGE when it offers none).
 * The caller holds dax_read_lock. The out-parameter `kaddr` is left out
 * (fs/dax.c's dax_iomap_pfn passes NULL for it; nothing in the model
 * reads it); `pfn` is filled.
 */
export function dax_direct_access(
  k: Kernel,
  dax_dev: DaxDevice | null,
  pgoff: number,
  nr_pages: number,
  pfn: PfnT,
): number {
  if (dax_dev === null || dax_dev.ops === null) return -EOPNOTSUPP;
  if (!dax_dev.alive) return -ENXIO;
  if (nr_pages < 0) return nr_pages;
  const avail = dax_dev.ops.direct_access(k, dax_dev, pgoff, nr_pages, pfn);
  if (avail === 0) return -ERANGE;
  return avail < nr_pages ? avail : nr_pages;
}
