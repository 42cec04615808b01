/**
 * Everything observable of a kernel and its processes, as plain data, for the
 * differential tests of the fast paths (fault_fast_test, migrate_fast_test):
 * every present section's memmap words, spilled counts, page records and
 * compound links; each live process's page tables, rss and a hash of every
 * mapped page's contents; the fault counters, RAM allocator statistics,
 * dmesg, the trace, the injected faults and the simulated clock.
 *
 * @module
 */
import type { Kernel } from "../../../lib/kernel/kernel.ts";
import { HUB } from "../../../lib/kernel/mm/hub.ts";
import { forEachSection } from "../../../lib/kernel/mm/memmap.ts";
import { pageReadWords, WORDS_PER_PAGE } from "../../../lib/kernel/mm/page-contents.ts";
import { pte_pfn, pte_present } from "../../../lib/kernel/mm/pgtable.ts";
import type { Process } from "../../../lib/kernel/mm/process.ts";
import { ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";

/** The observable state of `k` and the live processes among `procs`. */
export function machineSnapshot(k: Kernel, procs: readonly Process[]): Record<string, unknown> {
  const hub = k.state(HUB);
  const f = hub.faults;
  const sections: unknown[] = [];
  forEachSection(hub.mm, (s) => {
    const e = s.ext;
    sections.push({
      nr: s.nr,
      fill: s.fill,
      words: s.words === null ? null : Array.from(s.words),
      spill: s.spill === null ? null : [...s.spill],
      // mapcount, mapping, flags, chunk, index and private: one record per page
      rec: e === null || e.rec === null ? null : Array.from(e.rec),
      compound: e === null || e.compound === null ? null : Array.from(e.compound),
    });
  });
  const buf = new Int32Array(WORDS_PER_PAGE);
  const mms = procs.filter((p) => !p.exited).map((p) => {
    const tables = [...p.mm.pgd.tables].sort((a, b) => a[0] - b[0]).map(([idx, t]) => {
      const contents: number[] = [];
      if (t.ptes !== null) {
        for (const pte of t.ptes) {
          if (pte === 0 || !pte_present(pte)) continue;
          pageReadWords(k, pte_pfn(pte), buf);
          let h = 0;
          for (let i = 0; i < buf.length; i++) h = (Math.imul(h, 31) + buf[i]!) | 0;
          contents.push(h);
        }
      }
      return { idx, huge: t.huge, ptes: t.ptes && Array.from(t.ptes), contents };
    });
    return { pid: p.pid, rss: Array.from(p.mm.rss), tables };
  });
  return {
    clock: k.clock.now,
    faults: {
      pgfault: f.pgfault,
      anon: f.anon,
      zero: f.zero,
      wpReuse: f.wpReuse,
      wpCopy: f.wpCopy,
      file: f.file,
      devicePrivate: f.devicePrivate,
      devicePrivateFailed: f.devicePrivateFailed,
    },
    ram: ramStats(k),
    dmesg: k.dmesg.lines.map((l) => [l.t, l.level, l.text]),
    trace: k.trace.events.map((e) => JSON.stringify(e)),
    injected: k.faults.injected.map((i) => [i.point, i.call, i.caller]),
    sections,
    mms,
  };
}
