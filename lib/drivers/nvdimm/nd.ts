/**
 * The kernel devices of the nd bus (drivers/nvdimm/nd.h, bus.c,
 * namespace_devs.c, pfn_devs.c, dax_devs.c, v4.20) for the namespaces the
 * hardware layer's libnvdimm half (lib/hw/nvdimm/namespace.ts) enables:
 * one `namespaceR.N` device per namespace, one `pfnR.N` device per pfn
 * claim (fsdax), one `daxR.N` device per dax claim (devdax). A driver finds
 * its namespace with {@link to_ndns} and its claim with {@link nd_claim_of}.
 *
 * Per kernel: a power cycle builds new devices for the same media.
 *
 * @module
 */
import { Device } from "../../kernel/device.ts";
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import type { Namespace, NdClaim } from "../../hw/nvdimm/namespace.ts";
import { ENODEV } from "../../kernel/errno.ts";
import { type DevPagemap, VmemAltmap } from "../../kernel/mm/types.ts";

/** The nd bus's devices of a kernel. */
export interface NdBusState {
  /** namespace device by namespace. */
  readonly nsDev: WeakMap<Namespace, Device>;
  /** pfn / dax device by claim. */
  readonly claimDev: WeakMap<NdClaim, Device>;
  /** device → its namespace. */
  readonly nsOf: WeakMap<Device, Namespace>;
  /** device → its claim (pfn / dax devices). */
  readonly claimOf: WeakMap<Device, NdClaim>;
}

/** The nd bus state of a kernel. */
export const ND_BUS: SubsystemKey<NdBusState> = {
  name: "nd-bus",
  create: () => ({
    nsDev: new WeakMap(),
    claimDev: new WeakMap(),
    nsOf: new WeakMap(),
    claimOf: new WeakMap(),
  }),
};

/** The namespace device of `ns` (created on first use). */
export function nd_namespace_dev(k: Kernel, ns: Namespace): Device {
  const st = k.state(ND_BUS);
  let d = st.nsDev.get(ns);
  if (d === undefined) {
    d = new Device(k, ns.name, "nd");
    st.nsDev.set(ns, d);
    st.nsOf.set(d, ns);
  }
  return d;
}

/** The pfn or dax device of `ns`'s claim (created on first use). */
export function nd_claim_dev(k: Kernel, ns: Namespace, claim: NdClaim): Device {
  const st = k.state(ND_BUS);
  let d = st.claimDev.get(claim);
  if (d === undefined) {
    d = new Device(k, claim.name, "nd", nd_namespace_dev(k, ns));
    st.claimDev.set(claim, d);
    st.nsOf.set(d, ns);
    st.claimOf.set(d, claim);
  }
  return d;
}

/** to_ndns(dev) / nd_pfn->ndns: the namespace a namespace, pfn or dax device stands for. */
export function to_ndns(k: Kernel, dev: Device): Namespace {
  const ns = k.state(ND_BUS).nsOf.get(dev);
  if (ns === undefined) throw new TypeError(`Cannot probe ${dev.name}: not a device of the nd bus`);
  return ns;
}

/** is_nd_pfn(dev) / is_nd_dax(dev): the claim of a pfn or dax device, or null for a namespace device. */
export function nd_claim_of(k: Kernel, dev: Device): NdClaim | null {
  return k.state(ND_BUS).claimOf.get(dev) ?? null;
}

/**
 * nvdimm_setup_pfn(nd_pfn, pgmap) (drivers/nvdimm/pfn_devs.c): the pgmap
 * resource and, for map=dev, the altmap of a claim whose info block the
 * libnvdimm half validated (__nvdimm_setup_pfn's arithmetic is in
 * lib/hw/nvdimm/pfn.ts). 0, or what __nvdimm_setup_pfn returned (-EINVAL
 * for map=mem with dataoff below 8 KiB, -ENXIO for another mode), or
 * -ENODEV for a claim the libnvdimm half did not set up.
 */
export function nvdimm_setup_pfn(_k: Kernel, claim: NdClaim, pgmap: DevPagemap): number {
  const setup = claim.setup;
  if (setup === null) return -ENODEV;
  if (setup.rc !== 0) return setup.rc;
  pgmap.res = { start: setup.res.start, end: setup.res.end };
  if (setup.altmap !== null) {
    pgmap.altmap = new VmemAltmap(setup.altmap.base_pfn, setup.altmap.reserve, setup.altmap.free);
    pgmap.altmap_valid = true;
  } else {
    pgmap.altmap_valid = false;
  }
  return 0;
}
