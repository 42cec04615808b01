/**
 * Binding the NVDIMM drivers to the namespaces of a booted machine: the
 * drivers' side of `hw.ndctl` (lib/hw/nvdimm/ndctl.ts, its NamespaceBinder).
 * After the libnvdimm half of enabling a namespace (claim detection, info
 * block, nsio) the nd bus matches a driver, as drivers/nvdimm/bus.c does:
 *
 * - a raw namespace (namespace device) → nd_pmem;
 * - an fsdax claim (pfn device) → nd_pmem;
 * - a devdax claim (dax device) → dax_pmem.
 *
 * The probe and the remove are kernel code that sleeps, so each runs as a
 * task ("ndctl") on the machine's scheduler until the machine is quiescent —
 * what the sysfs bind/unbind write does to the calling process. A probe or
 * an unbind that blocks for good (a hang the series is about) leaves its
 * task blocked: the command reports -EINTR ("did not return") and the
 * machine's hang report names the wait; when a later event lets the unbind
 * finish, the namespace is disabled then. ndctl commands must not be issued
 * from inside a task.
 *
 * {@link nvdimmDrivers} is what machine.ts hands Hardware.attach: at each
 * power-on it links the drivers against nfit_test's interposer when the
 * machine has nfit_test buses, then returns the binder, so the namespaces
 * libnvdimm finds at boot are bound too.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import {
  type Device,
  device_release_driver,
  Driver,
  driver_probe_device,
} from "../../kernel/device.ts";
import { EINTR } from "../../kernel/errno.ts";
import type { KGen } from "../../sim/task.ts";
import type { Hardware } from "../../hw/hardware.ts";
import type { NamespaceBinder } from "../../hw/nvdimm/ndctl.ts";
import { disableNamespace, type Namespace } from "../../hw/nvdimm/namespace.ts";
import { daxPmemDriver } from "../dax/pmem.ts";
import { nd_claim_dev, nd_namespace_dev } from "./nd.ts";
import { nfit_test_setup } from "./nfit-test.ts";
import { ndPmemDriver } from "./pmem.ts";

/** The NVDIMM drivers of one kernel and what they are bound to. */
export interface NdDriversState {
  /** nd_pmem. */
  readonly nd_pmem: Driver;
  /** dax_pmem. */
  readonly dax_pmem: Driver;
  /** The device each enabled namespace's driver is bound to. */
  readonly bound: Map<Namespace, Device>;
  /** The hardware (for the physical-memory access of DAX mappings). */
  hw: Hardware | null;
}

/** The NVDIMM drivers' state of a kernel. */
export const ND_DRIVERS: SubsystemKey<NdDriversState> = {
  name: "nd-drivers",
  create: () => ({
    nd_pmem: ndPmemDriver(),
    dax_pmem: daxPmemDriver(),
    bound: new Map(),
    hw: null,
  }),
};

/** The device and driver the nd bus matches for an enabled namespace. */
export function nd_match(k: Kernel, ns: Namespace): { dev: Device; drv: Driver } {
  const st = k.state(ND_DRIVERS);
  const claim = ns.claim;
  if (claim === null) return { dev: nd_namespace_dev(k, ns), drv: st.nd_pmem };
  const dev = nd_claim_dev(k, ns, claim);
  return { dev, drv: claim.kind === "dax" ? st.dax_pmem : st.nd_pmem };
}

/**
 * Binds the matching driver to an enabled namespace (driver_probe_device).
 * 0 or the probe's -errno. Sleeps: call with `yield*`.
 */
export function* nd_bind_namespace(k: Kernel, ns: Namespace): KGen<number> {
  const { dev, drv } = nd_match(k, ns);
  const rc = yield* driver_probe_device(k, drv, dev);
  if (rc === 0) k.state(ND_DRIVERS).bound.set(ns, dev);
  return rc;
}

/** Unbinds the driver of a namespace (device_release_driver). Sleeps: call with `yield*`. */
export function* nd_unbind_namespace(k: Kernel, ns: Namespace): KGen<void> {
  const st = k.state(ND_DRIVERS);
  const dev = st.bound.get(ns);
  if (dev === undefined) return;
  yield* device_release_driver(k, dev);
  st.bound.delete(ns);
}

/** The device a namespace's driver is bound to, or null. */
export function nd_bound_device(k: Kernel, ns: Namespace): Device | null {
  return k.state(ND_DRIVERS).bound.get(ns) ?? null;
}

function runToQuiescence(k: Kernel, what: string): void {
  if (k.current !== null) {
    throw new TypeError(
      `Cannot ${what} from inside kernel task ${k.current}: ndctl commands run from outside the machine`,
    );
  }
  k.sched.runUntilQuiescent();
}

/** The binder for `k`: probes and removes as tasks run to quiescence (see the module doc). */
export function nvdimmBinder(k: Kernel): NamespaceBinder {
  return {
    enable(ns: Namespace): number {
      let rc: number | null = null;
      k.sched.spawn("ndctl", function* bind(kk: Kernel) {
        rc = yield* nd_bind_namespace(kk, ns);
      });
      runToQuiescence(k, `enable ${ns.name}`);
      return rc ?? -EINTR;
    },
    disable(ns: Namespace): number {
      let finished = false, returned = false;
      k.sched.spawn("ndctl", function* unbind(kk: Kernel) {
        yield* nd_unbind_namespace(kk, ns);
        finished = true;
        // an unbind that outlived the command disables the namespace itself
        if (returned) disableNamespace(ns);
      });
      runToQuiescence(k, `disable ${ns.name}`);
      returned = true;
      return finished ? 0 : -EINTR;
    },
  };
}

/**
 * The NVDIMM drivers' power-on hook (Hardware.attach): records the
 * hardware, links the drivers against nfit_test's interposer when the
 * machine has nfit_test buses, and returns the binder.
 */
export function nvdimmDrivers(k: Kernel, hw: Hardware): NamespaceBinder {
  k.state(ND_DRIVERS).hw = hw;
  nfit_test_setup(k, hw.nvdimm);
  return nvdimmBinder(k);
}
