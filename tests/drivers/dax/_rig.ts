/** Shared setup of the DAX driver tests: a devdax or fsdax namespace on workstation-2018 and a process. */
import { bootMachine, type Machine } from "../../../lib/machine.ts";
import { nd_bound_device } from "../../../lib/drivers/nvdimm/bind.ts";
import { type PmemDevice, pmemOf } from "../../../lib/drivers/nvdimm/pmem.ts";
import { dax_get_unmapped_area, dax_open, type DaxFile } from "../../../lib/drivers/dax/device.ts";
import {
  dax_fs_create,
  dax_fs_open,
  type DaxFsFile,
  type DaxFsInode,
} from "../../../lib/drivers/dax/fsdax.ts";
import type { Ndctl } from "../../../lib/hw/nvdimm/ndctl.ts";
import type { Device } from "../../../lib/kernel/device.ts";
import { MAP_FIXED, MAP_SHARED, PROT_READ, PROT_WRITE } from "../../../lib/kernel/mm/mm-types.ts";
import { Process } from "../../../lib/kernel/mm/process.ts";
import type { Namespace } from "../../../lib/hw/nvdimm/namespace.ts";
import type { SeriesPoint } from "../../../lib/scenarios/zone-device.ts";

/** What {@link devdax} sets up. */
export interface DevdaxRig {
  /** The machine. */
  m: Machine;
  /** Its kernel. */
  k: Machine["k"];
  /** ndctl. */
  nd: Ndctl;
  /** The namespace. */
  ns: Namespace;
  /** /dev/dax0.0 opened read-write. */
  f: DaxFile;
  /** A process. */
  p: Process;
  /** The dax device dax_pmem is bound to. */
  dev: Device;
}

/** A devdax namespace of `size` at `align`, its open char device and a process. */
export function devdax(align: number, series: SeriesPoint = "v5.0", size = "4G"): DevdaxRig {
  const m = bootMachine("workstation-2018", { series });
  const nd = m.hw!.ndctl!;
  const r = nd.createNamespace({ mode: "devdax", map: "dev", size, align });
  if (!r.ok) throw new Error(`devdax: ${r.rc} ${r.error}`);
  const ns = nd.namespace(r.dev)!;
  const f = dax_open(m.k, `/dev/${r.chardev}`, true)!;
  const p = new Process(m.k, "test");
  return { m, k: m.k, nd, ns, f, p, dev: nd_bound_device(m.k, ns)! };
}

/** Maps `len` bytes of a /dev/dax file shared and read-write at an aligned address. */
export function mapDax(
  t: { k: Machine["k"]; f: DaxFile; p: Process },
  len: number,
  prot = PROT_READ | PROT_WRITE,
): number {
  return t.p.mmap(
    dax_get_unmapped_area(t.k, t.p.mm, t.f, 0, len, 0, 0),
    len,
    prot,
    MAP_SHARED | MAP_FIXED,
    t.f,
    0,
  );
}

/** What {@link fsdaxFile} sets up. */
export interface FsdaxRig {
  /** The machine. */
  m: Machine;
  /** Its kernel. */
  k: Machine["k"];
  /** ndctl. */
  nd: Ndctl;
  /** The namespace. */
  ns: Namespace;
  /** The pmem driver data. */
  pmem: PmemDevice;
  /** The DAX file. */
  inode: DaxFsInode;
  /** It, opened read-write. */
  f: DaxFsFile;
  /** A process. */
  p: Process;
}

/** An fsdax namespace (map=mem) with a DAX file over its first `fileSize` bytes, and a process. */
export function fsdaxFile(series: SeriesPoint = "v5.0", fileSize = 2 ** 22, size = "1G"): FsdaxRig {
  const m = bootMachine("workstation-2018", { series });
  const nd = m.hw!.ndctl!;
  const r = nd.createNamespace({ mode: "fsdax", map: "mem", size });
  if (!r.ok) throw new Error(`fsdax: ${r.rc} ${r.error}`);
  const ns: Namespace = nd.namespace(r.dev)!;
  const pmem: PmemDevice = pmemOf(m.k, nd_bound_device(m.k, ns)!)!;
  const inode = dax_fs_create(m.k, pmem, "file", 0, fileSize);
  const f: DaxFsFile = dax_fs_open(m.k, inode);
  const p = new Process(m.k, "test");
  return { m, k: m.k, nd, ns, pmem, inode, f, p };
}
