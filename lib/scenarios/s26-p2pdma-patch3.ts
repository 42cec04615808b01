/**
 * Scenario 26 (SCENARIOS.md): p2pdma across patch 3/7.
 *
 * The accelerator on the p2p-rig (0000:05:00.0) has a 256 MiB memory BAR
 * (BAR 2); a provider driver hands it to pci_p2pdma_add_resource and a client
 * allocates a page from it.
 *
 * - Levels 0..2: v4.20's call site works (the kill is a devm action).
 * - Levels 3..7 without the p2pdma adaptation: the pgmap p2pdma builds has
 *   no `kill`, and patch 3/7 made `kill` mandatory, so devm_memremap_pages
 *   returns -EINVAL before doing anything; the provider binds (an NVMe CMB
 *   failure is not fatal) with an empty pool: no p2pmem. The device's
 *   percpu_ref, initialised by pci_p2pdma_setup, is never killed — nothing
 *   registered a kill — so the unbind then blocks for ever in
 *   pci_p2pdma_release's wait (inferred from the code; the hang report
 *   names it).
 * - Preset v5.0 (p2pdma-pgmap-kill: `pgmap->kill` = the is_dying-guarded
 *   kill): works again; so does v5.2.
 *
 * @module
 */
import { bootMachine } from "../machine.ts";
import { device_release_driver, driver_probe_device } from "../kernel/device.ts";
import { errname } from "../kernel/errno.ts";
import { pciDevByName } from "../drivers/pci/pci.ts";
import {
  p2pmem_attr_show,
  pci_alloc_p2pmem,
  pci_free_p2pmem,
  pci_has_p2pmem,
} from "../drivers/pci/p2pdma.ts";
import { type P2pmemProviderData, p2pmemProviderDriver } from "../drivers/pci/p2pmem-provider.ts";
import type { HangReport } from "../sim/sched.ts";
import { arrayEntries, type SeriesPoint } from "./zone-device.ts";

/** What scenario 26 returns at one series point. */
export interface P2pdmaPatch3 {
  /** The series label. */
  series: string;
  /** pci_p2pdma_add_resource's return, as an errno name ("0", "-EINVAL"). */
  addResource: string;
  /** The provider bound (probe returned 0). */
  bound: boolean;
  /** pci_has_p2pmem after probe (set up and published). */
  hasP2pmem: boolean;
  /** p2pmem/size after probe, or null if the group does not exist. */
  sizeAttr: string | null;
  /** A client's pci_alloc_p2pmem(4096) succeeded (it is freed again before the unbind). */
  allocated: boolean;
  /** pfn → pgmap lookup entries after probe (0: devm_memremap_pages set nothing up). */
  lookupEntries: number;
  /** The dmesg lines of the probe (the "added ..." line, or the CMB warning). */
  probeLog: string[];
  /** The hang report of the unbind (null when it finished). */
  unbindHang: HangReport | null;
}

/**
 * Runs scenario 26 at one series point on a fresh "p2p-rig".
 *
 * @example
 * ```ts
 * import { p2pdmaPatch3 } from "./s26-p2pdma-patch3.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals([p2pdmaPatch3(2).addResource, p2pdmaPatch3(3).addResource, p2pdmaPatch3("v5.0").addResource], ["0", "-EINVAL", "0"]);
 * ```
 */
export function p2pdmaPatch3(series: SeriesPoint): P2pdmaPatch3 {
  const m = bootMachine("p2p-rig", { series });
  const k = m.k;
  const pdev = pciDevByName(k, m.hw!.pci, "accel0");
  const log0 = k.dmesg.lines.length;
  const probe = m.call(
    driver_probe_device,
    p2pmemProviderDriver({ bars: [2], name: "accel" }),
    pdev,
  );
  const probeLog = k.dmesg.lines.slice(log0).map((l) => l.text).filter((t) =>
    !t.startsWith("init_memory_mapping")
  );
  const data = pdev.driver_data as P2pmemProviderData | null;
  const ret = data?.results[0]?.ret ?? probe;
  const hasP2pmem = pci_has_p2pmem(pdev);
  const sizeAttr = p2pmem_attr_show(k, pdev, "size");
  const lookupEntries = arrayEntries(k);
  let allocated = false;
  m.run(function client(kk) {
    const addr = pci_alloc_p2pmem(kk, pdev, 4096);
    allocated = addr !== 0n;
    if (allocated) pci_free_p2pmem(kk, pdev, addr, 4096);
  });
  const r = m.run(function* unbind(kk) {
    yield* device_release_driver(kk, pdev);
  });
  return {
    series: k.series.label,
    addResource: ret === 0 ? "0" : errname(ret),
    bound: probe === 0,
    hasP2pmem,
    sizeAttr,
    allocated,
    lookupEntries,
    probeLog,
    unbindHang: r.blocked,
  };
}
