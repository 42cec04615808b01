/**
 * Differential test of the fsdax fused pte fault (dax_fs_vm_ops.pte_fault_fast,
 * taken by handle_mm_fault_devmap when FaultState.fastPaths is set): one
 * seeded DAX workload runs on two identical machines, with and without the
 * fast path, and everything observable must come out identical — page
 * tables and huge devmap entries, the files' DAX entries, every section's
 * memmap and page-ext columns (page->mapping / index of the pmem pages),
 * fault counters, signals, dmesg, the trace (tracing on) and the clock.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { bootMachine } from "../../../lib/machine.ts";
import { nd_bound_device } from "../../../lib/drivers/nvdimm/bind.ts";
import { pmemOf } from "../../../lib/drivers/nvdimm/pmem.ts";
import { dax_fs_create, dax_fs_open, type DaxFsInode } from "../../../lib/drivers/dax/fsdax.ts";
import { devmapTables } from "../../../lib/kernel/mm/devmap-mm.ts";
import { userTouch } from "../../../lib/drivers/dax/uaccess.ts";
import { HUB } from "../../../lib/kernel/mm/hub.ts";
import { forEachSection } from "../../../lib/kernel/mm/memmap.ts";
import {
  MADV_DONTNEED,
  MADV_NOHUGEPAGE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { Process } from "../../../lib/kernel/mm/process.ts";
import { Prng } from "../../../lib/sim/prng.ts";

interface Mapping {
  p: Process;
  base: number;
  len: number;
}

function run(fast: boolean, tracing: boolean, seed: number): unknown {
  const m = bootMachine("workstation-2018", { series: "v5.0", seed });
  const k = m.k;
  k.state(HUB).faults.fastPaths = fast;
  const nd = m.hw!.ndctl!;
  const r = nd.createNamespace({ mode: "fsdax", map: "dev", size: "1G" });
  if (!r.ok) throw new Error(`fsdax: ${r.error}`);
  const ns = nd.namespace(r.dev)!;
  const pmem = pmemOf(k, nd_bound_device(k, ns)!)!;
  // a media error 40 pages into the data area, known to the driver after a scrub: -EIO → SIGBUS
  assertEquals(nd.injectError(ns.name, { block: 40 * 8, count: 1 }).rc, 0);
  nd.startScrub();
  nd.waitScrub();
  k.trace.on = tracing;
  const a: DaxFsInode = dax_fs_create(k, pmem, "a", 0, 2 ** 23);
  const b: DaxFsInode = dax_fs_create(k, pmem, "b", 2 ** 24, 2 ** 16);
  const fa = dax_fs_open(k, a), fb = dax_fs_open(k, b);
  const p = new Process(k, "p"), q = new Process(k, "q");
  const rw = PROT_READ | PROT_WRITE;
  const map = (proc: Process, len: number, prot: number, flags: number, f = fa, off = 0) => {
    const base = proc.mmap(0, len, prot, flags, f, off);
    assert(base > 0, `mmap: ${base}`);
    return { p: proc, base, len };
  };
  const maps: Mapping[] = [
    map(p, 2 ** 23, rw, MAP_SHARED), // page-size faults after NOHUGEPAGE below
    map(p, 2 ** 21, PROT_READ, MAP_SHARED, fa, 2 ** 20), // vm_pgoff 256
    map(p, 2 ** 20, rw, MAP_PRIVATE), // writes copy the file page (DONE_COW, or wp_page_copy)
    map(p, 2 ** 17, rw, MAP_SHARED, fb), // half past i_size: SIGBUS
    map(q, 2 ** 23, rw, MAP_SHARED), // huge-capable: PMD faults and their fallbacks
  ];
  for (const mp of maps.slice(0, 4)) mp.p.madvise(mp.base, mp.len, MADV_NOHUGEPAGE);
  const prng = new Prng(seed);
  const signals: number[] = [];
  for (let step = 0; step < 3000; step++) {
    const mp = maps[prng.int(maps.length)]!;
    const addr = mp.base + prng.int(mp.len / 4096) * 4096 + prng.int(1024) * 4;
    const op = prng.next();
    if (op < 0.92) signals.push(userTouch(k, mp.p, addr, op < 0.3)); // writes: SIGSEGV if read-only
    else {
      const first = prng.int(mp.len / 4096);
      const n = Math.min(1 + prng.int(48), mp.len / 4096 - first);
      mp.p.madvise(mp.base + first * 4096, n * 4096, MADV_DONTNEED);
    }
  }
  const sections: unknown[] = [];
  forEachSection(k.state(HUB).mm, (s) => {
    const e = s.ext;
    sections.push([
      s.nr,
      s.fill,
      s.words && Array.from(s.words),
      e && e.rec && Array.from(e.rec),
    ]);
  });
  const f = k.state(HUB).faults;
  return {
    clock: k.clock.now,
    faults: [f.pgfault, f.file, f.anon, f.wpCopy],
    signals,
    entries: [a, b].map((i) => [Array.from(i.entries), [...i.pmdEntries]]),
    mms: [p, q].map((proc) => {
      const t = devmapTables(k, proc.mm);
      return {
        rss: Array.from(proc.mm.rss),
        ptes: [...proc.mm.pgd.tables].map(([idx, pt]) => [idx, pt.huge, pt.ptes && [...pt.ptes]]),
        pmds: [...t.pmds],
        puds: [...t.puds],
      };
    }),
    sections,
    dmesg: k.dmesg.lines.map((l) => [l.t, l.level, l.text]),
    taints: [...k.taints],
    trace: k.trace.events.map((e) => JSON.stringify(e)),
  };
}

Deno.test("fsdax fast pte fault: a seeded DAX workload ends identical with and without it", () => {
  for (const seed of [3, 20181120]) assertEquals(run(true, false, seed), run(false, false, seed));
});

Deno.test("fsdax fast pte fault: the same with tracing on — identical DAX fault events", () => {
  const fast = run(true, true, 11) as { trace: string[]; signals: number[]; faults: number[] };
  assertEquals(fast, run(false, true, 11));
  // teeth: page-size DAX faults ran and were traced, and faults ended in SIGBUS (EOF, media error)
  assert(fast.trace.filter((e) => e.includes('"op":"pte_fault"')).length > 500);
  assert(fast.signals.filter((s) => s === 7).length > 20);
  // and the private mapping was written: copies of file pages, both first writes and write-after-read
  assert(fast.trace.filter((e) => e.includes('"op":"cow"')).length > 10);
  assert(fast.faults[3]! > 10, `wp_page_copy of a devmap pte: ${fast.faults[3]}`);
});
