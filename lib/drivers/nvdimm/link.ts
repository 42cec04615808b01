/**
 * How libnvdimm, pmem and dax_pmem are linked on one kernel: against the
 * real kernel symbols, or — when the machine has nfit_test buses — as the
 * tools/testing/nvdimm builds, with `--wrap=` for devm_memremap_pages,
 * devm_memremap, phys_to_pfn_t, the region requests and the rest, so that
 * every such call goes through nfit_test's `__wrap_` interposer
 * (lib/drivers/nvdimm/nfit-test.ts), which emulates the call for nfit_test's
 * fake resources and calls the real function otherwise.
 *
 * The drivers call these slots, never the functions directly; the slots
 * default to the real functions. Per kernel (no module state).
 *
 * @module
 */
import type { Device } from "../../kernel/device.ts";
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import { devm_memremap_pages, type MemremapResult } from "../../kernel/memremap.ts";
import type { DevPagemap } from "../../kernel/mm/types.ts";
import { devm_request_mem_region } from "../../kernel/resource-devm.ts";
import type { Resource } from "../../kernel/resource.ts";
import type { KGen } from "../../sim/task.ts";
import { type PfnT, phys_to_pfn_t } from "../dax/super.ts";
import { devm_memremap } from "./memremap-io.ts";

/** The link slots of the NVDIMM drivers. */
export interface NdLink {
  /** devm_memremap_pages, or __wrap_devm_memremap_pages. */
  devm_memremap_pages: (k: Kernel, dev: Device, pgmap: DevPagemap) => KGen<MemremapResult>;
  /** devm_memremap, or __wrap_devm_memremap. */
  devm_memremap: (
    k: Kernel,
    dev: Device,
    offset: number,
    size: number,
    flags: number,
  ) => KGen<MemremapResult>;
  /** devm_request_mem_region, or nfit_test's __wrap___devm_request_region. */
  devm_request_mem_region: (
    k: Kernel,
    dev: Device,
    start: number,
    n: number,
    name: string,
  ) => Resource | null;
  /** phys_to_pfn_t, or __wrap_phys_to_pfn_t. */
  phys_to_pfn_t: (k: Kernel, addr: number, flags: number, out: PfnT) => PfnT;
  /** Whether the nfit_test interposer is linked in. */
  nfitTest: boolean;
}

/** The link table of a kernel (the real symbols until nfit_test installs its wrappers). */
export const ND_LINK: SubsystemKey<NdLink> = {
  name: "nd-link",
  create: () => ({
    devm_memremap_pages,
    devm_memremap,
    devm_request_mem_region,
    phys_to_pfn_t: (_k, addr, flags, out) => phys_to_pfn_t(addr, flags, out),
    nfitTest: false,
  }),
};
