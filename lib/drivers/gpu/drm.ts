/**
 * The GPU's PCI driver, in nouveau's shape (drivers/gpu/drm/nouveau/
 * nouveau_drm.c, reduced to what its HMM code needs): "nouveau" binds to a
 * GPU's PCIe function through the driver core (driver_probe_device); probe
 * sets up the device (`struct nouveau_drm`), its VRAM manager, the SVM fault
 * handling state, and device memory (nouveau_dmem_init: hmm_devmem_add of
 * all VRAM); remove tears the SVM state down and runs nouveau_dmem_fini,
 * after which devres releases the device memory (at every series level,
 * with that level's release order).
 *
 * Binding is explicit — {@link nouveau_bind} (a sleeping kernel call:
 * `machine.call(nouveau_bind, machine.hw, "gpu0")`) — unless the machine
 * description says `"driver": "nouveau"` on the GPU, when bootMachine makes
 * the same call after the NVDIMM drivers (workstation-2018-bound). Not by
 * default: a bound GPU puts all of its VRAM at the top of the physical
 * address space (HMM's free-space search goes top-down), which would move
 * every other device-private region of that machine.
 *
 * The model registers no display, channels, or GEM objects; a GPU is
 * "Pascal or newer" (the family nouveau_dmem_init requires) and its usable
 * VRAM (`ram_user`) is all of it.
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
import type { Hardware } from "../../hw/hardware.ts";
import type { Gpu } from "../../hw/gpu/gpu.ts";
import { PCI, pci_scan, type PciDev } from "../pci/pci.ts";
import type { KGen } from "../../sim/task.ts";
import { NOUVEAU_BO_FAULT_POINTS, VramManager } from "./bo.ts";
import {
  nouveau_dmem_fini,
  nouveau_dmem_init,
  type NouveauDmem,
  NouveauMigrate,
  type nvc0b5_migrate_copy,
} from "./dmem.ts";
import { nouveau_svm_fini, nouveau_svm_init, type NouveauSvm } from "./svm.ts";

/** struct nouveau_drm: one bound GPU. */
export class NouveauDrm {
  /** The PCI function (drm->dev->dev). */
  readonly pdev: PciDev;
  /** The hardware. */
  readonly gpu: Gpu;
  /** Usable VRAM bytes (drm->client.device.info.ram_user). */
  readonly ram_user: number;
  /** The VRAM manager (TTM). */
  readonly vram: VramManager;
  /** Device memory, or null (not set up, or hmm_devmem_add failed). */
  dmem: NouveauDmem | null = null;
  /** drm->dmem->migrate.copy_func. */
  dmem_copy_func: typeof nvc0b5_migrate_copy | null = null;
  /** The SVM state (fault buffer, mirrors), or null. */
  svm: NouveauSvm | null = null;
  /** Reusable private data of the CPU-fault migration (one at a time: faults run atomically). */
  readonly faultPriv: NouveauMigrate;

  /**
   * Creates the device state (nouveau_drm_probe does).
   * @param pdev the PCI function.
   * @param gpu the hardware.
   */
  constructor(pdev: PciDev, gpu: Gpu) {
    this.pdev = pdev;
    this.gpu = gpu;
    this.ram_user = gpu.config.vram;
    this.vram = new VramManager(gpu.config.vram);
    this.faultPriv = new NouveauMigrate(this);
  }

  /** pci_name: the device's name in messages. */
  get name(): string {
    return this.pdev.name;
  }
}

/** Per-kernel nouveau state. */
export interface NouveauState {
  /** The driver (one per kernel). */
  readonly driver: Driver;
  /** Which GPU each PCI function is (the PCI id table's match, in the model). */
  readonly gpus: Map<PciDev, Gpu>;
  /** Bound devices, in bind order. */
  readonly devices: NouveauDrm[];
}

/** The nouveau state of a kernel (registers the driver's fault points). */
export const NOUVEAU: SubsystemKey<NouveauState> = {
  name: "nouveau",
  create: (k: Kernel) => {
    for (const [n, d] of NOUVEAU_BO_FAULT_POINTS) k.faults.register(n, d);
    return {
      driver: new Driver("nouveau", nouveau_drm_probe, nouveau_drm_remove),
      gpus: new Map(),
      devices: [],
    };
  },
};

/**
 * nouveau_drm_probe(pdev, pent) (→ nouveau_drm_device_init; `pent`, the
 * matched PCI id, is left out — the model's driver core matches by name): the device, SVM state and
 * device memory. 0 — a device-memory failure leaves `dmem` null, as
 * nouveau_dmem_init does, without failing the probe. Sleeps.
 */
export function* nouveau_drm_probe(k: Kernel, dev: Device): KGen<number> {
  const st = k.state(NOUVEAU);
  const gpu = st.gpus.get(dev as PciDev);
  if (gpu === undefined) return -19; // -ENODEV: not a GPU function
  const drm = new NouveauDrm(dev as PciDev, gpu);
  dev.driver_data = drm;
  nouveau_svm_init(k, drm);
  yield* nouveau_dmem_init(k, drm);
  st.devices.push(drm);
  return 0;
}

/** nouveau_drm_remove (→ nouveau_drm_device_fini): SVM teardown, then nouveau_dmem_fini. */
export function nouveau_drm_remove(k: Kernel, dev: Device): void {
  const drm = dev.driver_data as NouveauDrm;
  nouveau_svm_fini(k, drm);
  nouveau_dmem_fini(k, drm);
  const st = k.state(NOUVEAU);
  const i = st.devices.indexOf(drm);
  if (i >= 0) st.devices.splice(i, 1);
}

/**
 * Binds nouveau to GPU `name` (default: the machine's first GPU):
 * pci_scan, then driver_probe_device on its PCI function. Returns the
 * bound device, or the probe's -errno. Sleeps: `machine.call(nouveau_bind,
 * machine.hw, "gpu0")`.
 *
 * @example Binding the workstation's GPU registers its 16 GiB of VRAM
 * ```ts
 * import { bootMachine } from "../../machine.ts";
 * import { nouveau_bind, type NouveauDrm } from "./drm.ts";
 * import { assertEquals } from "@std/assert";
 * const m = bootMachine("workstation-2018", { series: "v5.0" });
 * const drm = m.call(nouveau_bind, m.hw!, "gpu0") as NouveauDrm;
 * assertEquals(drm.dmem!.chunks.length, 8192);
 * assertEquals(m.k.dmesg.grep("DMEM: registered").length, 1);
 * ```
 */
export function* nouveau_bind(k: Kernel, hw: Hardware, name?: string): KGen<NouveauDrm | number> {
  const gpu = name === undefined ? hw.gpus[0] : hw.gpu(name);
  if (gpu === undefined) {
    throw new RangeError(
      `Cannot bind nouveau to ${name ?? "a GPU"}: the machine has ${
        hw.gpus.length === 0 ? "no GPU" : hw.gpus.map((g) => g.name).join(", ")
      }`,
    );
  }
  pci_scan(k, hw.pci);
  const pdev = k.state(PCI).byHw.get(gpu.pci)!;
  const st = k.state(NOUVEAU);
  st.gpus.set(pdev, gpu);
  const ret = yield* driver_probe_device(k, st.driver, pdev);
  if (ret !== 0) return ret;
  return pdev.driver_data as NouveauDrm;
}

/** Unbinds nouveau from `drm`'s device (device_release_driver). Sleeps. */
export function* nouveau_unbind(k: Kernel, drm: NouveauDrm): KGen<void> {
  yield* device_release_driver(k, drm.pdev);
}

/** The bound nouveau devices of a kernel. */
export function nouveauDevices(k: Kernel): readonly NouveauDrm[] {
  return k.state(NOUVEAU).devices;
}
