import { assert, assertEquals } from "@std/assert";
import { anon, proc, words } from "./_proc.ts";
import {
  hmm_mirror_register,
  hmm_mirror_unregister,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmm_vma_fault,
  hmm_vma_get_pfns,
  hmm_vma_range_done,
  HmmMirror,
  type HmmMirrorOps,
  HmmRange,
} from "../../../lib/kernel/mm/hmm-mirror.ts";
import { find_vma, PROT_READ } from "../../../lib/kernel/mm/mm-types.ts";
import { hmmFixture } from "../../../lib/scenarios/hmm-process.ts";
import { dmirror_migrate } from "../../../lib/drivers/dmirror.ts";
import { HUB } from "../../../lib/kernel/mm/hub.ts";

const FLAGS = [1, 2, 4], VALUES = [8, 16, 32];

function range(
  p: { mm: import("../../../lib/kernel/mm/mm-types.ts").MmStruct },
  a: number,
  n: number,
): HmmRange {
  return new HmmRange(find_vma(p.mm, a)!, a, a + n * 4096, new Float64Array(n), FLAGS, VALUES, 7);
}

function recorder(log: string[], name: string): HmmMirrorOps {
  return {
    sync_cpu_device_pagetables(_k, _m, u) {
      log.push(`${name}:${u.event}:${u.blockable}`);
      return 0;
    },
    release() {
      log.push(`${name}:release`);
    },
  };
}

Deno.test("mirror: register needs ops; several mirrors hear every invalidation, newest first", () => {
  const { k, p } = proc();
  assertEquals(hmm_mirror_register(k, new HmmMirror(null), p.mm), -22);
  const log: string[] = [];
  const m1 = new HmmMirror(recorder(log, "m1")), m2 = new HmmMirror(recorder(log, "m2"));
  assertEquals(hmm_mirror_register(k, m1, p.mm), 0);
  assertEquals(hmm_mirror_register(k, m2, p.mm), 0);
  const a = anon(p, 4);
  p.writeWords(a, words(4096));
  p.mprotect(a, 4096, PROT_READ);
  assertEquals(log, ["m2:0:true", "m1:0:true"], "one INVALIDATE per mirror, at range start");
  hmm_mirror_unregister(k, m2);
  p.exit();
  assertEquals(log.slice(2).filter((l) => l.endsWith("release")), ["m1:release"]);
});

Deno.test("mirror: hmm_vma_get_pfns reports, hmm_vma_fault faults what is asked; a device page only on request", () => {
  const f = hmmFixture("v5.0");
  const { k, p } = f;
  const a = anon(p, 3);
  p.store32(a + 4096, 1);
  p.store32(a + 2 * 4096, 2);
  dmirror_migrate(k, f.mirrors[0]!, a + 2 * 4096, 1);
  const r = range(p, a, 3);
  assertEquals(hmm_vma_get_pfns(k, r), 0);
  assertEquals(r.pfns[0], VALUES[1], "pte_none: NONE");
  assertEquals(r.pfns[1]! & 7, FLAGS[HMM_PFN_VALID]! | FLAGS[HMM_PFN_WRITE]!);
  assertEquals(r.pfns[2]! & 7, 7, "VALID|WRITE|DEVICE_PRIVATE");
  assert(hmm_vma_range_done(k, r));
  // a range of only the device page: not asked for DEVICE_PRIVATE, it stays
  const d = range(p, a + 2 * 4096, 1);
  d.pfns[0] = FLAGS[HMM_PFN_VALID]!;
  assertEquals(hmm_vma_fault(k, d, true), 0);
  assertEquals(d.pfns[0]! & 7, 7, "not requested: reported, still on the device");
  assertEquals(k.state(HUB).faults.devicePrivate, 0);
  hmm_vma_range_done(k, d);
  // the 4.20 quirk: faulting entry 0 faults the rest of the pte page too, device page included
  const f2 = range(p, a, 3);
  f2.pfns.fill(FLAGS[HMM_PFN_VALID]!);
  assertEquals(hmm_vma_fault(k, f2, true), 0);
  assertEquals(f2.pfns[0]! & 7, 1, "faulted in: the zero page, read-only");
  assertEquals(k.state(HUB).faults.devicePrivate, 1, "entry 2 was faulted with entry 0's decision");
  assertEquals(f2.pfns[2]! & 4, 0, "now a system page");
  // that migration's own mmu-notifier invalidation overlapped the range: the driver must retry
  assertEquals(hmm_vma_range_done(k, f2), false);
});

Deno.test("mirror: hmm_vma_get_pfns without any mirror still creates mm->hmm (the 4.20 check never fires)", () => {
  const { k, p } = proc();
  const a = anon(p, 1);
  assertEquals(p.mm.hmm, null);
  const r = range(p, a, 1);
  assertEquals(hmm_vma_get_pfns(k, r), 0);
  assert(p.mm.hmm !== null);
  hmm_vma_range_done(k, r);
});

Deno.test("mirror: a write request on a VMA without VM_WRITE is faulted once and comes back read-only", () => {
  const { k, p } = proc();
  const a = anon(p, 1, PROT_READ);
  hmm_mirror_register(k, new HmmMirror(recorder([], "x")), p.mm);
  const rg = range(p, a, 1);
  rg.pfns[0] = FLAGS[HMM_PFN_VALID]! | FLAGS[HMM_PFN_WRITE]!;
  assertEquals(hmm_vma_fault(k, rg, true), 0);
  assertEquals(
    rg.pfns[0]! & 7,
    FLAGS[HMM_PFN_VALID],
    "VALID, not WRITE: the driver must refuse the write",
  );
  assertEquals(k.state(HUB).faults.pgfault, 1, "the request is consumed by the first pass");
  assert(hmm_vma_range_done(k, rg));
});
