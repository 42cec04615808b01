/**
 * kernel/iomem.c (v4.20): memremap and devm_memremap — a kernel mapping of
 * a physical range without struct pages, which is what pmem uses for a raw
 * namespace (ARCH_MEMREMAP_PMEM = MEMREMAP_WB on x86).
 *
 * - A range that is partly System RAM (REGION_MIXED): WARN_ONCE "memremap
 *   attempted on mixed range", NULL.
 * - All RAM with MEMREMAP_WB: the direct map (`__va`).
 * - Otherwise a fresh ioremap_cache mapping in the vmalloc area (the model
 *   hands out increasing addresses from VMALLOC_START).
 * - devm_memremap: ERR_PTR(-ENXIO) when memremap returns NULL; otherwise the
 *   mapping is released (memunmap) at unbind by a devres node.
 *
 * @module
 */
import type { Device } from "../../kernel/device.ts";
import { devm_add_action } from "../../kernel/devres.ts";
import { ENOMEM, ENXIO, ERR_PTR, type ErrPtr } from "../../kernel/errno.ts";
import type { Kernel, SubsystemKey } from "../../kernel/kernel.ts";
import { __va } from "../../kernel/mm/init-64.ts";
import { WARN_ONCE } from "../../kernel/printk.ts";
import {
  IORES_DESC_NONE,
  IORESOURCE_SYSTEM_RAM,
  REGION_INTERSECTS,
  region_intersects,
  REGION_MIXED,
} from "../../kernel/resource.ts";
import type { KGen } from "../../sim/task.ts";

/** MEMREMAP_WB. */
export const MEMREMAP_WB = 1;
/** ARCH_MEMREMAP_PMEM on x86: write-back. */
export const ARCH_MEMREMAP_PMEM = MEMREMAP_WB;
/** VMALLOC_START (x86_64, 4-level). */
const VMALLOC_START = 0xffffc90000000000n;

const IOMAP: SubsystemKey<{ next: bigint; live: Set<bigint> }> = {
  name: "iomem-memremap",
  create: () => ({ next: VMALLOC_START, live: new Set() }),
};

/**
 * memremap(offset, size, flags): a kernel address for the range, or null
 * (see the module doc).
 */
export function memremap(k: Kernel, offset: number, size: number, flags: number): bigint | null {
  if (!flags) return null;
  const is_ram = region_intersects(k, offset, size, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE);
  if (is_ram === REGION_MIXED) {
    WARN_ONCE(
      k,
      true,
      `memremap attempted on mixed range 0x${offset.toString(16)} size: 0x${size.toString(16)}`,
    );
    return null;
  }
  if ((flags & MEMREMAP_WB) !== 0) {
    if (is_ram === REGION_INTERSECTS) return __va(k, offset); // try_ram_remap
    const st = k.state(IOMAP);
    const addr = st.next + BigInt(offset % 4096);
    st.next += BigInt(Math.ceil((size + (offset % 4096)) / 4096) * 4096 + 4096); // ioremap_cache, guard page
    st.live.add(addr);
    return addr;
  }
  return null;
}

/** memunmap(addr): unmaps a vmalloc-area mapping (the direct map stays). */
export function memunmap(k: Kernel, addr: bigint): void {
  k.state(IOMAP).live.delete(addr);
}

/**
 * devm_memremap_release(dev, res) (kernel/iomem.c): the release of
 * devm_memremap's devres node, memunmap(*res). The model registers it as a
 * devm action whose data is the address itself.
 */
function devm_memremap_release(k: Kernel, addr: bigint): void {
  memunmap(k, addr);
}

/**
 * devm_memremap(dev, offset, size, flags) (EXPORT_SYMBOL): memremap with a
 * devres node that unmaps at unbind; ERR_PTR(-ENXIO) if memremap fails,
 * ERR_PTR(-ENOMEM) if the devres node cannot be allocated. A generator
 * only so that nfit_test can wrap it like devm_memremap_pages; it never
 * sleeps.
 */
// deno-lint-ignore require-yield
export function* devm_memremap(
  k: Kernel,
  dev: Device,
  offset: number,
  size: number,
  flags: number,
): KGen<bigint | ErrPtr> {
  const addr = memremap(k, offset, size, flags);
  if (addr === null) return ERR_PTR(-ENXIO);
  if (devm_add_action(k, dev, devm_memremap_release, addr) !== 0) {
    memunmap(k, addr);
    return ERR_PTR(-ENOMEM);
  }
  return addr;
}
