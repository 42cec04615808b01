/**
 * memremap-lab: a faithful, fast simulator of the Linux kernel's ZONE_DEVICE
 * machinery as it stood around v4.20 / v5.0 — devm_memremap_pages, struct
 * dev_pagemap, percpu_ref lifetimes, devres, the iomem resource tree, memory
 * hotplug and HMM device memory — for notebooks, tests and reports.
 *
 * Kernel-modelling functions keep the kernel's names, argument order and
 * return conventions, with the simulated kernel `k` as an extra first
 * parameter. Run them inside a simulated task with {@link Machine.run} or
 * {@link Machine.call}.
 *
 * @example A percpu_ref's life: kill → grace period → release
 * ```ts
 * import { createMachine, PercpuRef, percpu_ref_init, percpu_ref_kill } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 * const m = createMachine({ cpus: 2, series: "v5.0" });
 * const ref = new PercpuRef();
 * let released = false;
 * m.call(percpu_ref_init, ref, () => { released = true; }, 0, 0);
 * m.call(percpu_ref_kill, ref); // the run ends after the grace period
 * assertEquals(released, true);
 * ```
 *
 * @module
 */
export * from "./sim/mod.ts";
export * from "./series.ts";
export * from "./machine.ts";
export * from "./kernel/errno.ts";
export * from "./kernel/events.ts";
export * from "./kernel/printk.ts";
export * from "./kernel/kernel.ts";
export * from "./kernel/sched.ts";
export * from "./kernel/completion.ts";
export * from "./kernel/mutex.ts";
export * from "./kernel/percpu-refcount.ts";
export * from "./kernel/device.ts";
export * from "./kernel/devres.ts";
export * from "./kernel/explain.ts";
export * from "./kernel/resource.ts";
export * from "./kernel/resource-devm.ts";
export * from "./kernel/xarray.ts";
export * from "./kernel/radix-tree.ts";
export * from "./kernel/module.ts";
export * from "./kernel/mm/mod.ts";
export * from "./machine/schema.ts";
export * from "./machine/sizes.ts";
export * from "./scenarios/percpu-ref-demo.ts";
export * from "./kernel/memremap.ts";
export * from "./kernel/exports.ts";
export * from "./kernel/hmm.ts";
export * from "./scenarios/boot.ts";
export * from "./scenarios/driver.ts";
export * from "./scenarios/hmm-driver.ts";
export * from "./scenarios/s01-argument-contract.ts";
export * from "./scenarios/s02-system-ram.ts";
export * from "./scenarios/s03-section-conflict.ts";
export * from "./scenarios/s04-successful-map.ts";
export * from "./scenarios/s06-lookup-liveness.ts";
export * from "./scenarios/s07-unbind-ordering.ts";
export * from "./scenarios/s08-devres-failure.ts";
export * from "./scenarios/s09-pinned-teardown.ts";
export * from "./scenarios/s10-export-matrix.ts";
export * from "./scenarios/s12-device-public.ts";
export * from "./scenarios/s27-hmm-same-section.ts";
export * from "./scenarios/s28-hmm-devmem-remove.ts";
export * from "./scenarios/s29-device-private.ts";
export * from "./scenarios/s30-hmm-unbind-wait.ts";
export * from "./scenarios/s33-determinism.ts";
export * from "./scenarios/zone-device.ts";
export * from "./scenarios/nvdimm-rig.ts";
export * from "./scenarios/s23-device-dax.ts";
export * from "./scenarios/s25-p2pdma-two-bars.ts";
export * from "./scenarios/s26-p2pdma-patch3.ts";
export * from "./scenarios/s31-logan-race.ts";
export * from "./scenarios/s32-logan-two-bar-deadlock.ts";
export * from "./scenarios/hmm-process.ts";
export * from "./scenarios/s10-mirror-exports.ts";
export * from "./scenarios/s30-hmm-unbind-process.ts";
export * from "./kernel/genalloc.ts";
export * from "./drivers/pci/pci.ts";
export * from "./drivers/pci/p2pdma.ts";
export * from "./drivers/pci/p2pmem-provider.ts";
export * from "./drivers/dmirror.ts";
export * from "./drivers/gpu/bo.ts";
export * from "./drivers/gpu/dmem.ts";
export * from "./drivers/gpu/drm.ts";
export * from "./drivers/gpu/svm.ts";
export * from "./scenarios/gpu-hmm.ts";
export * from "./bench/cases/gpu.ts";
export * from "./bench/cases/memremap.ts";
export * from "./bench/cases/hmm.ts";
export * from "./bench/harness.ts";
export * from "./bench/targets.ts";
export * from "./bench/cases/percpu-ref.ts";
export * from "./viz/mod.ts";
export * from "./hw/mod.ts";
