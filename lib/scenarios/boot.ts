/**
 * Booting a machine for the ZONE_DEVICE scenarios: bootMachine (System RAM
 * in iomem, the memory model up) plus the vmlinux symbol exports of the
 * series (lib/kernel/exports.ts), which bootMachine does not install yet.
 *
 * @module
 */
import { bootMachine, type BootOptions, type Machine } from "../machine.ts";
import { export_kernel_symbols } from "../kernel/exports.ts";

/**
 * bootMachine plus the exported symbols. `nameOrDesc` as for bootMachine
 * (default "ram-4g": System RAM [0, 4 GiB), two CPUs, 4-level paging).
 *
 * @example
 * ```ts
 * import { bootZoneDeviceMachine } from "./boot.ts";
 * import { exportedSymbols } from "../kernel/module.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootZoneDeviceMachine("ram-4g", { series: "v4.20" });
 * const sym = exportedSymbols(m.k).find((s) => s.name === "devm_memremap_pages");
 * assertEquals(sym?.licence, "NOT_GPL_ONLY");
 * ```
 */
export function bootZoneDeviceMachine(
  nameOrDesc: string | object = "ram-4g",
  opts: BootOptions = {},
): Machine {
  const m = bootMachine(nameOrDesc, opts);
  export_kernel_symbols(m.kernel);
  return m;
}
