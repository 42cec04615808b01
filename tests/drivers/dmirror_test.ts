/**
 * lib/drivers/dmirror.ts, the 2018 dummy HMM driver: two defects of its own
 * that whole-machine fuzzing ran into.
 *
 * - dummy_fault retries a batch whose snapshot went stale for as long as it
 *   takes. The kernel would spin there forever; the model cannot, so after
 *   64 restarts of one batch it ends the task with a BUG naming the
 *   livelock (the same safety net as the CPU fault path's "faults forever").
 * - A device page freed twice (the v5.2 teardown's put loop hands a still
 *   mapped page back to the driver, and a later access frees it again) has
 *   drvdata NULL: __free_page(NULL) faults on the refcount field. The model
 *   used to free pfn 0 instead — pfn 0 is a real RAM page here — and drove
 *   its refcount negative.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { hmmFixture } from "../../lib/scenarios/hmm-process.ts";
import { dmirror_migrate, dmirror_read } from "../../lib/drivers/dmirror.ts";
import { hmm_devmem_page_set_drvdata } from "../../lib/kernel/mm/page-ext.ts";
import { PROT_READ, PROT_WRITE } from "../../lib/kernel/mm/mm-types.ts";
import { page_ref_count } from "../../lib/kernel/mm/memmap.ts";
import { World } from "../../lib/check/world.ts";

Deno.test("dmirror: a batch invalidated after every fault is a livelock, reported as a BUG", () => {
  const f = hmmFixture("v5.2");
  const [md, d] = [f.devices[0]!, f.mirrors[0]!];
  const a = f.p.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */);
  f.p.writeWords(a, new Int32Array(4 * 1024).fill(7));
  let invalidations = 0;
  // every pass is invalidated between hmm_vma_fault and hmm_vma_range_done
  md.afterFaultHook = () => {
    invalidations++;
    f.p.mprotect(a, 4096, invalidations % 2 === 0 ? PROT_READ | PROT_WRITE : PROT_READ);
  };
  const r = f.m.run(function ioctl_read(k) {
    return dmirror_read(k, d, a, 4, new Int32Array(4 * 1024));
  });
  md.afterFaultHook = null;
  assertEquals([r.done, r.oopses.length], [false, 1]);
  assertEquals(invalidations, 65, "64 restarts of the batch, then the BUG");
  const oops = r.oopses[0]!;
  assertMatch(
    oops.message,
    /^kernel BUG at drivers\/char\/hmm_dmirror\.c:dummy_fault: \[0x[0-9a-f]+, 0x[0-9a-f]+\) never stays valid \(livelock\)!$/,
  );
  assert(oops.chain.includes("dmirror_read"), oops.chain.join(" ← "));
});

Deno.test("dmirror: one invalidation in the middle of a read is retried and the read succeeds", () => {
  const f = hmmFixture("v5.2");
  const [md, d] = [f.devices[0]!, f.mirrors[0]!];
  const a = f.p.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, 0x22);
  f.p.writeWords(a, new Int32Array(4 * 1024).fill(7));
  let once = false;
  md.afterFaultHook = () => {
    if (!once) f.p.mprotect(a, 4096, PROT_READ);
    once = true;
  };
  const buf = new Int32Array(4 * 1024);
  const r = f.m.call(dmirror_read, d, a, 4, buf);
  md.afterFaultHook = null;
  assertEquals(r.ret, 0);
  assertEquals(buf[0], 7);
  assertEquals(f.k.sched.oopses, []);
});

Deno.test("dmirror: a device page freed twice faults on NULL and leaves pfn 0 alone (v5.2)", () => {
  // found by the fuzzer with touchDyingDeviceMemory: migrate, unbind (blocks on the mapped
  // page after its put loop freed it), a second device's read of the same address
  const w = new World({ series: "v5.2", touchDyingDeviceMemory: true });
  const pfn0 = page_ref_count(w.k, 0);
  for (
    const op of [
      { op: "hmm-add", sections: 1 },
      { op: "migrate", p: 0, vma: 0, page: 0, n: 1, dev: 0 },
      { op: "hmm-unbind", dev: 0 },
      { op: "hmm-add", sections: 1 },
      { op: "gpu-fault", p: 0, vma: 0, page: 0, n: 1, dev: 0, write: false },
    ] as const
  ) w.step(op);
  const oops = w.k.sched.oopses;
  assertEquals(oops.length, 1);
  assertMatch(
    oops[0]!.message,
    /^BUG: unable to handle kernel NULL pointer dereference at 0000000000000034$/,
  );
  assert(oops[0]!.chain.includes("dmirror_devmem_free"), oops[0]!.chain.join(" ← "));
  assertEquals(page_ref_count(w.k, 0), pfn0, "pfn 0 is not the NULL page");
});

Deno.test("dmirror: a copy through a device page whose backing page is NULL takes a #GP, not pfn 0's data", () => {
  const f = hmmFixture("v5.2");
  const d = f.mirrors[0]!;
  const a = f.p.mmap(0, 4096, PROT_READ | PROT_WRITE, 0x22);
  f.p.writeWords(a, new Int32Array(1024).fill(7));
  assertEquals(f.m.call(dmirror_migrate, d, a, 1).ret, 0);
  assertEquals(f.m.call(dmirror_read, d, a, 1, new Int32Array(1024)).ret, 0);
  const dpage = (d.dpte(a) - (d.dpte(a) & 7)) / 8;
  assert(f.devices[0]!.devmem!.pfn_first <= dpage && dpage < f.devices[0]!.devmem!.pfn_last);
  // what the teardown's page_free leaves on a page that is still mapped
  hmm_devmem_page_set_drvdata(f.k, dpage, 0);
  const r = f.m.run(function ioctl_read(k) {
    return dmirror_read(k, d, a, 1, new Int32Array(1024));
  });
  assertEquals(r.oopses.map((o) => o.message), ["general protection fault: 0000 [#1] SMP PTI"]);
  assert(r.oopses[0]!.chain.includes("dmirror_read"), r.oopses[0]!.chain.join(" ← "));
});
