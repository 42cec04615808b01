/**
 * A simulated user process: an mm, its open files, and the CPU's view of
 * memory — loads and stores that go through the page tables and take page
 * faults the way arch/x86/mm/fault.c's __do_page_fault does (find_vma,
 * access_error, handle_mm_fault, retry; SIGSEGV / SIGBUS on failure). Its
 * syscall methods return what the kernel returns (addresses or -errno).
 *
 * This is the user side tests, scenarios and notebooks drive: a load or
 * store that ends in a signal kills the process (the default action) and
 * throws {@link SignalDelivered} to the caller standing in for the program;
 * `touch` returns the signal instead.
 *
 * Exit follows do_exit's order: exit_mm (the last mmput runs exit_mmap:
 * mmu notifiers' ->release, every mirror's ->release, then the unmap), then
 * exit_files (a device file's release — a driver's hmm_mirror_unregister —
 * runs here), then the final mmdrop of the lazy active_mm.
 *
 * @module
 */
import type { Kernel, SubsystemKey } from "../kernel.ts";
import { dup_mm, mmdrop, mmgrab, mmput } from "./fork.ts";
import { anonWriteFaultFused, handle_mm_fault } from "./memory.ts";
import { do_mmap, do_munmap } from "./mmap.ts";
import { sys_madvise } from "./madvise.ts";
import { sys_mprotect } from "./mprotect.ts";
import { sys_mremap } from "./mremap.ts";
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  type File,
  find_vma,
  MmStruct,
  VM_EXEC,
  VM_FAULT_ERROR,
  VM_FAULT_HWPOISON,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_READ,
  VM_WRITE,
  type VmAreaStruct,
} from "./mm-types.ts";
import {
  pageReadWord,
  pageReadWords,
  pageWriteWord,
  pageWriteWords,
  WORDS_PER_PAGE,
} from "./page-contents.ts";
import { pte_index, pte_pfn, pte_present, pte_protnone, pte_write } from "./pgtable.ts";
import type { Page } from "./types.ts";

/** SIGBUS. */
export const SIGBUS = 7;
/** SIGKILL (the OOM killer). */
export const SIGKILL = 9;
/** SIGSEGV. */
export const SIGSEGV = 11;

/** What a process was killed by. */
export class SignalDelivered extends Error {
  /**
   * Records the signal.
   * @param signo SIGBUS, SIGSEGV or SIGKILL.
   * @param addr the faulting address.
   * @param pid the process.
   */
  constructor(readonly signo: number, readonly addr: number, readonly pid: number) {
    super(
      `${signo === SIGBUS ? "SIGBUS" : signo === SIGSEGV ? "SIGSEGV" : "SIGKILL"} at 0x${
        addr.toString(16)
      } in pid ${pid}`,
    );
    this.name = "SignalDelivered";
  }
}

/** An open file a process holds (a device file's release runs at the last close). */
export class OpenFile {
  /** References (fork shares it). */
  refs = 1;
  /**
   * Creates an open-file handle.
   * @param name for messages.
   * @param release called when the last reference goes.
   */
  constructor(readonly name: string, readonly release: (k: Kernel) => void) {}
}

const PROCS: SubsystemKey<{ nextPid: number }> = {
  name: "processes",
  create: () => ({ nextPid: 1000 }),
};

/** Accesses after which a CPU load/store that keeps faulting is a livelock (BUG). */
const MAX_FAULT_RETRIES = 16;

/**
 * The CPU's page fault for a user access to `addr` of `mm` (arch/x86/mm/fault.c
 * __do_page_fault, mmap_sem held across): no VMA (or below it) → SIGSEGV;
 * access_error (a write to a VMA without VM_WRITE, a read of one without
 * VM_READ|VM_EXEC|VM_WRITE) → SIGSEGV; else handle_mm_fault with
 * FAULT_FLAG_USER | ALLOW_RETRY | KILLABLE (| WRITE): SIGBUS for
 * VM_FAULT_SIGBUS or HWPOISON, SIGSEGV for VM_FAULT_SIGSEGV, SIGKILL (the
 * OOM killer's choice, in the model always the faulting process) for OOM.
 * Returns 0 or the signal. Not the kernel's __do_page_fault(regs,
 * error_code, address): `mm` stands for current->mm, `write` for the
 * error code's X86_PF_WRITE bit (the model has no pt_regs).
 */
export function do_page_fault(k: Kernel, mm: MmStruct, addr: number, write: boolean): number {
  return pageFaultWith(k, mm, addr, write, handle_mm_fault);
}

/**
 * @internal do_page_fault's body with the fault handler given: the core
 * handle_mm_fault, or the devmap-aware one of the DAX user accesses
 * (lib/drivers/dax/uaccess.ts).
 */
export function pageFaultWith(
  k: Kernel,
  mm: MmStruct,
  addr: number,
  write: boolean,
  handle: (k: Kernel, vma: VmAreaStruct, addr: number, flags: number) => number,
): number {
  const vma = find_vma(mm, addr);
  if (vma === null || vma.vm_start > addr) return SIGSEGV;
  if (
    write ? (vma.vm_flags & VM_WRITE) === 0 : (vma.vm_flags & (VM_READ | VM_EXEC | VM_WRITE)) === 0
  ) {
    return SIGSEGV;
  }
  const flags = FAULT_FLAG_USER | FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE |
    (write ? FAULT_FLAG_WRITE : 0);
  const ret = handle(k, vma, addr, flags);
  if ((ret & VM_FAULT_ERROR) === 0) return 0;
  if ((ret & VM_FAULT_OOM) !== 0) return SIGKILL;
  if ((ret & (VM_FAULT_SIGBUS | VM_FAULT_HWPOISON)) !== 0) return SIGBUS;
  if ((ret & VM_FAULT_SIGSEGV) !== 0) return SIGSEGV;
  return SIGBUS;
}

/**
 * The MMU: the pfn `addr` translates to for this access, or -1 (a fault
 * is needed). A present, non-PROT_NONE entry; writable for a write.
 */
export function translate(mm: MmStruct, addr: number, write: boolean): number {
  const t = mm.pgd.lookup(addr);
  if (t === undefined) return -1;
  let e: number;
  let pfn: number;
  if (t.huge !== 0) {
    e = t.huge;
    pfn = pte_pfn(e) + pte_index(addr);
  } else {
    e = t.ptes![pte_index(addr)]!;
    pfn = pte_pfn(e);
  }
  if (e === 0 || !pte_present(e) || pte_protnone(e)) return -1;
  if (write && !pte_write(e)) return -1;
  return pfn;
}

/**
 * A user access: translate, fault and retry until the access is allowed.
 * Returns the pfn, or -signal.
 */
export function user_access(k: Kernel, mm: MmStruct, addr: number, write: boolean): number {
  // translate's walk, once: a hit returns here; a store to a none pte tries the fused fault
  // (memory.ts, anonWriteFaultFused) with the leaf at hand; anything else is the loop below
  const t = mm.pgd.lookup(addr);
  if (t !== undefined) {
    const ptes = t.ptes;
    if (ptes !== null) {
      const i = pte_index(addr);
      const e = ptes[i]!;
      if (e === 0) {
        if (write) {
          const r = anonWriteFaultFused(k, mm, addr, ptes, i);
          if (r !== -1) return r;
        }
      } else if (pte_present(e) && !pte_protnone(e) && (!write || pte_write(e))) {
        return pte_pfn(e);
      }
    }
  }
  return user_access_loop(k, mm, addr, write);
}

/** user_access's translate / fault / retry loop. */
function user_access_loop(k: Kernel, mm: MmStruct, addr: number, write: boolean): number {
  for (let tries = 0;; tries++) {
    const pfn = translate(mm, addr, write);
    if (pfn >= 0) return pfn;
    if (tries >= MAX_FAULT_RETRIES) {
      k.BUG(`arch/x86/mm/fault.c: user access at 0x${addr.toString(16)} faults forever`);
    }
    const sig = do_page_fault(k, mm, addr, write);
    if (sig !== 0) return -sig;
  }
}

/** A simulated process. */
export class Process {
  /** Process id. */
  readonly pid: number;
  /** Its address space. */
  mm: MmStruct;
  /** Open files. */
  files: OpenFile[] = [];
  /** The signal that killed it, or 0. */
  killedBy = 0;
  /** Whether it has exited. */
  exited = false;

  /**
   * Creates a process with an empty address space (exec).
   * @param k the kernel.
   * @param comm its name.
   * @param mm builds the mm from the new pid (fork), else a new empty one.
   */
  constructor(readonly k: Kernel, readonly comm: string, mm?: (pid: number) => MmStruct) {
    this.pid = k.state(PROCS).nextPid++;
    this.mm = mm?.(this.pid) ?? new MmStruct(k, this.pid, comm);
    this.mm.pid = this.pid;
    this.mm.comm = comm;
  }

  #check(): void {
    if (this.exited) throw new TypeError(`Cannot use process ${this.pid}: it has exited`);
  }

  /** mmap(addr, len, prot, flags, file, offset): the address or -errno. */
  mmap(
    addr: number,
    len: number,
    prot: number,
    flags: number,
    file: File | null = null,
    offset = 0,
  ): number {
    this.#check();
    return do_mmap(this.k, this.mm, file, addr, len, prot, flags, Math.floor(offset / 4096));
  }

  /** munmap(addr, len). */
  munmap(addr: number, len: number): number {
    this.#check();
    return do_munmap(this.k, this.mm, addr, len);
  }

  /** mprotect(addr, len, prot). */
  mprotect(addr: number, len: number, prot: number): number {
    this.#check();
    return sys_mprotect(this.k, this.mm, addr, len, prot);
  }

  /** madvise(addr, len, advice). */
  madvise(addr: number, len: number, advice: number): number {
    this.#check();
    return sys_madvise(this.k, this.mm, addr, len, advice);
  }

  /** mremap(addr, old_len, new_len, flags, new_addr). */
  mremap(addr: number, old_len: number, new_len: number, flags: number, new_addr = 0): number {
    this.#check();
    return sys_mremap(this.k, this.mm, addr, old_len, new_len, flags, new_addr);
  }

  /** Opens a file whose last close runs `release` (a device file). */
  open(name: string, release: (k: Kernel) => void): OpenFile {
    this.#check();
    const f = new OpenFile(name, release);
    this.files.push(f);
    return f;
  }

  /** close(fd). */
  close(f: OpenFile): void {
    const i = this.files.indexOf(f);
    if (i < 0) throw new TypeError(`Cannot close ${f.name}: not open in process ${this.pid}`);
    this.files.splice(i, 1);
    if (--f.refs === 0) f.release(this.k);
  }

  /** fork(): a child with a copy-on-write copy of the address space; open files are shared. */
  fork(comm = this.comm): Process {
    this.#check();
    const child = new Process(this.k, comm, (pid) => dup_mm(this.k, this.mm, pid, comm));
    for (const f of this.files) {
      f.refs++;
      child.files.push(f);
    }
    return child;
  }

  /**
   * exit(): exit_mm (mmput — the last user runs exit_mmap), exit_files
   * (last closes run their releases), then the final mmdrop of active_mm.
   */
  exit(): void {
    if (this.exited) return;
    this.exited = true;
    const mm = this.mm;
    mmgrab(mm); // current->active_mm keeps the mm_struct until the task is gone
    mmput(this.k, mm);
    for (const f of [...this.files].reverse()) {
      if (--f.refs === 0) f.release(this.k);
    }
    this.files = [];
    mmdrop(this.k, mm);
  }

  #access(addr: number, write: boolean): number {
    this.#check();
    const pfn = user_access(this.k, this.mm, addr, write);
    if (pfn < 0) {
      this.killedBy = -pfn;
      this.exit();
      throw new SignalDelivered(-pfn, addr, this.pid);
    }
    return pfn;
  }

  /**
   * A load or store to `addr` without data (what a fault benchmark does):
   * 0, or the signal (the process is not killed).
   */
  touch(addr: number, write: boolean): number {
    const pfn = user_access(this.k, this.mm, addr, write);
    return pfn < 0 ? -pfn : 0;
  }

  /** The pfn backing `addr` right now (no fault), or -1. */
  pfnAt(addr: number): Page {
    return translate(this.mm, addr, false);
  }

  /** Loads the int32 at `addr` (4-byte aligned). */
  load32(addr: number): number {
    const pfn = this.#access(addr, false);
    return pageReadWord(this.k, pfn, (addr % 4096) / 4);
  }

  /** Stores an int32 at `addr`. */
  store32(addr: number, v: number): void {
    const pfn = this.#access(addr, true);
    pageWriteWord(this.k, pfn, (addr % 4096) / 4, v);
  }

  /** Stores `words` from `addr` (4-byte aligned), page by page. */
  writeWords(addr: number, words: Int32Array): void {
    let done = 0;
    const buf = new Int32Array(WORDS_PER_PAGE);
    while (done < words.length) {
      const a = addr + done * 4;
      const w0 = (a % 4096) / 4;
      const n = Math.min(WORDS_PER_PAGE - w0, words.length - done);
      const pfn = this.#access(a, true);
      if (w0 === 0 && n === WORDS_PER_PAGE) pageWriteWords(this.k, pfn, words, done);
      else {
        pageReadWords(this.k, pfn, buf);
        buf.set(words.subarray(done, done + n), w0);
        pageWriteWords(this.k, pfn, buf);
      }
      done += n;
    }
  }

  /** Loads `n` int32 words from `addr`. */
  readWords(addr: number, n: number): Int32Array {
    const out = new Int32Array(n);
    const buf = new Int32Array(WORDS_PER_PAGE);
    let done = 0;
    while (done < n) {
      const a = addr + done * 4;
      const w0 = (a % 4096) / 4;
      const m = Math.min(WORDS_PER_PAGE - w0, n - done);
      const pfn = this.#access(a, false);
      pageReadWords(this.k, pfn, buf);
      out.set(buf.subarray(w0, w0 + m), done);
      done += m;
    }
    return out;
  }
}
