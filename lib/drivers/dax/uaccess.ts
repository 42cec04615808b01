/**
 * A process's loads and stores through DAX mappings: the CPU walks the page
 * tables — huge devmap puds and pmds included (devmap-mm.ts) — faults with
 * the huge_fault dispatch, and then reads or writes **the persistent media**
 * at the physical address, which is where a DAX mapping's bytes live (the
 * same bytes the pmem block device reads and writes). Other memory reads
 * and writes through the page-contents model.
 *
 * The fault is arch/x86/mm/fault.c's __do_page_fault as process.ts models
 * it (find_vma, access_error, handle_mm_fault, retry), with
 * {@link handle_mm_fault_devmap} for the fault. A signal kills the process
 * (its default action) and throws {@link SignalDelivered}, as Process's own
 * loads do. A load from poisoned media is a machine check: SIGBUS.
 *
 * Simulated time: each page-sized piece moved costs bytes / bandwidth of the
 * region (cost model pmem.readBWPerDimm / pmem.writeBWPerDimm × interleave
 * ways) — a cacheable write-back mapping streaming the media; faults charge
 * their own costs.
 *
 * Simulator API (ordinary names): these stand in for the program's
 * instructions. Process.load32 / store32 work on page-size DAX mappings
 * too, but read the struct-page contents model, not the media, and cannot
 * take PMD/PUD faults (memory.ts has no huge_fault dispatch yet).
 *
 * @module
 */
import type { Kernel } from "../../kernel/kernel.ts";
import type { MmStruct } from "../../kernel/mm/mm-types.ts";
import { pageReadWords, pageWriteWords, WORDS_PER_PAGE } from "../../kernel/mm/page-contents.ts";
import { pageFaultWith, type Process, SIGBUS, SignalDelivered } from "../../kernel/mm/process.ts";
import type { NdRegion } from "../../hw/nvdimm/region.ts";
import { ND_DRIVERS } from "../nvdimm/bind.ts";
import {
  DEVMAP,
  devmapTablesOf,
  devmapTranslateIn,
  handle_mm_fault_devmap,
} from "../../kernel/mm/devmap-mm.ts";

const MAX_FAULT_RETRIES = 16;

/**
 * __do_page_fault for `addr` of `mm` with the devmap-aware fault: 0, or
 * the signal (SIGSEGV, SIGBUS, SIGKILL for OOM).
 */
export function dax_do_page_fault(k: Kernel, mm: MmStruct, addr: number, write: boolean): number {
  return pageFaultWith(k, mm, addr, write, handle_mm_fault_devmap);
}

/** A user access: translate, fault and retry. The pfn, or -signal. */
export function dax_user_access(k: Kernel, mm: MmStruct, addr: number, write: boolean): number {
  const t = devmapTablesOf(k.state(DEVMAP), mm);
  for (let tries = 0;; tries++) {
    const pfn = devmapTranslateIn(t, mm, addr, write);
    if (pfn >= 0) return pfn;
    if (tries >= MAX_FAULT_RETRIES) {
      k.BUG(`arch/x86/mm/fault.c: user access at 0x${addr.toString(16)} faults forever`);
    }
    const sig = dax_do_page_fault(k, mm, addr, write);
    if (sig !== 0) return -sig;
  }
}

/** The pmem region behind a physical address, or null. */
function regionOf(k: Kernel, phys: number): NdRegion | null {
  const hw = k.state(ND_DRIVERS).hw;
  if (hw === null) return null;
  for (const bus of hw.nvdimm) {
    const r = bus.regionAt(phys);
    if (r !== null) return r;
  }
  return null;
}

/**
 * The pmem driver's direct map (pmem->virt_addr) as a PhysPageReader (memory.ts):
 * the 4 KiB at `pfn` read from the media of the region holding it (1), 0 for
 * a pfn outside every pmem region, -1 for poisoned media (the read takes a
 * machine check). Charges the read at the region's bandwidth.
 */
export function pmemPhysPageReader(k: Kernel, pfn: number, dst: Int32Array): number {
  const phys = pfn * 4096;
  const region = regionOf(k, phys);
  if (region === null) return 0;
  const o = phys - region.start;
  if (region.isPoisoned(o, 4096)) return -1;
  const { dimm, dpa } = region.locate(o);
  dimm.media.readInto(dpa, new Uint8Array(dst.buffer, dst.byteOffset, 4096));
  k.clock.advance(4096 / bw(k, region, false));
  return 1;
}

function access(k: Kernel, p: Process, addr: number, write: boolean): number {
  const pfn = dax_user_access(k, p.mm, addr, write);
  if (pfn < 0) {
    p.killedBy = -pfn;
    p.exit();
    throw new SignalDelivered(-pfn, addr, p.pid);
  }
  return pfn;
}

function kill(p: Process, sig: number, addr: number): never {
  p.killedBy = sig;
  p.exit();
  throw new SignalDelivered(sig, addr, p.pid);
}

function bw(k: Kernel, region: NdRegion, write: boolean): number {
  return k.cost.get(write ? "pmem.writeBWPerDimm" : "pmem.readBWPerDimm") * region.ways; // bytes per ns
}

/**
 * Reads `dst.length` bytes at `addr` of process `p` into `dst` (faulting as
 * needed): pmem media for DAX pages, the contents model otherwise. A load
 * from poisoned media (a machine check) or a fault's signal kills the
 * process and throws SignalDelivered.
 */
export function userReadInto(k: Kernel, p: Process, addr: number, dst: Uint8Array): void {
  const len = dst.length;
  let words: Int32Array | null = null;
  let done = 0;
  while (done < len) {
    const a = addr + done;
    const off = a & 4095;
    const n = Math.min(4096 - off, len - done);
    const pfn = access(k, p, a, false);
    const phys = pfn * 4096 + off;
    const region = regionOf(k, phys);
    if (region !== null) {
      const o = phys - region.start;
      if (region.isPoisoned(o, n)) kill(p, SIGBUS, a); // memcpy from poison: machine check
      const { dimm, dpa } = region.locate(o);
      dimm.media.readInto(dpa, dst.subarray(done, done + n));
      k.clock.advance(n / bw(k, region, false));
    } else {
      words ??= new Int32Array(WORDS_PER_PAGE);
      pageReadWords(k, pfn, words);
      dst.set(new Uint8Array(words.buffer, off, n), done);
    }
    done += n;
  }
}

/** Reads `len` bytes at `addr` of process `p` (see {@link userReadInto}). */
export function userRead(k: Kernel, p: Process, addr: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  userReadInto(k, p, addr, out);
  return out;
}

/**
 * Writes `data` at `addr` of process `p` (faulting as needed for write).
 * A store to poisoned media lands (poison stays until cleared). A signal
 * kills the process and throws SignalDelivered.
 */
export function userWrite(k: Kernel, p: Process, addr: number, data: Uint8Array): void {
  const words = new Int32Array(WORDS_PER_PAGE);
  let done = 0;
  while (done < data.length) {
    const a = addr + done;
    const off = a & 4095;
    const n = Math.min(4096 - off, data.length - done);
    const pfn = access(k, p, a, true);
    const phys = pfn * 4096 + off;
    const region = regionOf(k, phys);
    if (region !== null) {
      region.write(phys - region.start, data.subarray(done, done + n));
      k.clock.advance(n / bw(k, region, true));
    } else {
      pageReadWords(k, pfn, words);
      new Uint8Array(words.buffer).set(data.subarray(done, done + n), off);
      pageWriteWords(k, pfn, words);
    }
    done += n;
  }
}

/** Loads the little-endian 32-bit word at `addr` (4-byte aligned). */
export function userLoad32(k: Kernel, p: Process, addr: number): number {
  const b = userRead(k, p, addr, 4);
  return new DataView(b.buffer).getInt32(0, true);
}

/** Stores a 32-bit word at `addr` (4-byte aligned). */
export function userStore32(k: Kernel, p: Process, addr: number, v: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  userWrite(k, p, addr, b);
}

/** A load or store without data: 0, or the signal (the process is not killed). */
export function userTouch(k: Kernel, p: Process, addr: number, write: boolean): number {
  const pfn = dax_user_access(k, p.mm, addr, write);
  return pfn < 0 ? -pfn : 0;
}
