import { assert, assertEquals, assertThrows } from "@std/assert";
import { anon, proc, words } from "./_proc.ts";
import { HUB } from "../../../lib/kernel/mm/hub.ts";
import { SIGBUS, SIGKILL, SignalDelivered, SIGSEGV } from "../../../lib/kernel/mm/process.ts";
import { is_zero_pfn, ramStats } from "../../../lib/kernel/mm/ram-alloc.ts";
import { pte_pfn, pte_write, pteAt } from "../../../lib/kernel/mm/pgtable.ts";
import {
  MAP_ANONYMOUS,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../../../lib/kernel/mm/mm-types.ts";
import { page_mapcount } from "../../../lib/kernel/mm/page-ext.ts";
import { hmmFixture } from "../../../lib/scenarios/hmm-process.ts";
import { dmirror_migrate } from "../../../lib/drivers/dmirror.ts";
import { RAM_FAULT_POINTS } from "../../../lib/kernel/mm/ram-alloc.ts";
import { DMIRROR_FAULT_POINTS } from "../../../lib/drivers/dmirror.ts";

Deno.test("fault: a write fault on anonymous memory allocates a zeroed page (cpu.minorFault)", () => {
  const { k, p } = proc();
  const a = anon(p, 4);
  const t0 = k.clock.now, ram0 = ramStats(k).allocated;
  p.store32(a, 7);
  assertEquals(k.clock.now - t0, k.cost.get("cpu.minorFault"));
  assertEquals(ramStats(k).allocated, ram0 + 1);
  assertEquals(p.load32(a), 7);
  assertEquals(p.load32(a + 4), 0);
  const f = k.state(HUB).faults;
  assertEquals([f.anon, f.pgfault], [1, 1]);
});

Deno.test("fault: a read maps the zero page read-only; a later write copies it (COW)", () => {
  const { k, p } = proc();
  const a = anon(p, 1);
  assertEquals(p.load32(a), 0);
  let pte = pteAt(p.mm.pgd, a);
  assert(is_zero_pfn(k, pte_pfn(pte)) && !pte_write(pte));
  p.store32(a, 1);
  pte = pteAt(p.mm.pgd, a);
  assert(!is_zero_pfn(k, pte_pfn(pte)) && pte_write(pte));
  assertEquals(k.state(HUB).faults.wpCopy, 1);
});

Deno.test("fault: fork shares pages copy-on-write; each side's write copies, both see their own data", () => {
  const { k, p } = proc();
  const a = anon(p, 8);
  p.writeWords(a, words(8 * 1024));
  const c = p.fork("child");
  const pfn = pteAt(p.mm.pgd, a) / 256;
  assertEquals(page_mapcount(k, pfn), 2);
  c.store32(a, -1);
  p.store32(a + 4096, -2);
  assertEquals([p.load32(a), c.load32(a)], [0, -1]);
  assertEquals([p.load32(a + 4096), c.load32(a + 4096)], [-2, 1024]);
  c.exit();
  assertEquals(page_mapcount(k, pteAt(p.mm.pgd, a + 8192) / 256), 1);
});

Deno.test("fault: SIGSEGV outside a VMA or for a forbidden access; SIGBUS on a shared mapping beyond the file", () => {
  const { p } = proc();
  const a = anon(p, 1, PROT_READ);
  assertEquals(p.touch(a + 4096 * 100, false), SIGSEGV);
  assertEquals(p.touch(a, true), SIGSEGV, "write to a read-only VMA");
  assertThrows(() => p.store32(a, 1), SignalDelivered);
  assertEquals(p.killedBy, SIGSEGV);
  const q = proc().p;
  const s = q.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  // shrink the dev/zero file under the mapping: the page is beyond i_size
  q.mm.vmas[0]!.vm_file!.f_mapping.size = 0;
  assertEquals(q.touch(s, false), SIGBUS);
});

Deno.test("fault: an allocation failure is VM_FAULT_OOM, which kills the process", () => {
  const { k, p } = proc();
  const a = anon(p, 1);
  k.faults.arm("alloc_page", { nth: 1 });
  assertEquals(p.touch(a, true), SIGKILL);
});

Deno.test("fault: the zero page is the kernel image's, so a failing alloc_page cannot fail a read fault", () => {
  const { k, p } = proc();
  const a = anon(p, 1);
  k.faults.arm("alloc_page", { nth: 1 });
  // the first read sets the zero page up; the armed allocation failure is for a real allocation
  assertEquals(p.load32(a), 0);
  assert(is_zero_pfn(k, pte_pfn(pteAt(p.mm.pgd, a))));
  assertEquals(p.touch(a, true), SIGKILL, "the COW copy is a real allocation: it fails");
});

Deno.test("fault points: alloc_page and device_page_alloc are registered", () => {
  const { k } = proc();
  k.state(HUB);
  assert(RAM_FAULT_POINTS.some(([n]) => n === "alloc_page"));
  assert(k.faults.points.has("alloc_page"));
  const f = hmmFixture("v5.0");
  assert(DMIRROR_FAULT_POINTS.some(([n]) => n === "device_page_alloc"));
  assert(f.k.faults.points.has("device_page_alloc"));
});

for (const series of ["v4.20", "v5.0"] as const) {
  Deno.test(`fault: a device-private fault whose migration back fails is SIGBUS (${series})`, () => {
    const f = hmmFixture(series);
    const a = anon(f.p, 2);
    f.p.writeWords(a, words(2048));
    assertEquals(dmirror_migrate(f.k, f.mirrors[0]!, a, 2).cpages, 2);
    f.k.faults.arm("alloc_page", { nth: 1, caller: "hmm_vma_alloc_locked_page" });
    const t0 = f.k.clock.now;
    assertEquals(
      f.p.touch(a, false),
      SIGBUS,
      "dst MIGRATE_PFN_ERROR: the driver returns VM_FAULT_SIGBUS",
    );
    assertEquals(f.k.clock.now - t0, f.k.cost.get("devPriv.cpuFaultMigrateBack"));
    const st = f.k.state(HUB).faults;
    assertEquals([st.devicePrivate, st.devicePrivateFailed], [1, 1]);
    assertEquals(f.p.load32(a + 4096), 1024, "the next page faults back fine");
    assertEquals(f.p.load32(a), 0, "the first page is still on the device: this time it works");
  });
}

Deno.test("fault: hmm-page-fault-move — the same call chain reaches the driver through pgmap (v4.20) or the devmem (v5.0)", async () => {
  const { callChain } = await import("../../../lib/sim/callchain.ts");
  for (const series of ["v4.20", "v5.0"] as const) {
    const f = hmmFixture(series);
    const a = anon(f.p, 1);
    f.p.store32(a, 5);
    dmirror_migrate(f.k, f.mirrors[0]!, a, 1);
    const devmem = f.devices[0]!.devmem!;
    const orig = devmem.ops.fault;
    let chain: string[] = [];
    (devmem as { ops: typeof devmem.ops }).ops = {
      ...devmem.ops,
      fault(...args) {
        chain = callChain().map((c) => c.fn);
        return orig(...args);
      },
    };
    assertEquals(f.p.load32(a), 5);
    const i = chain.indexOf("hmm_devmem_fault");
    assert(i >= 0, series);
    assertEquals(chain.slice(i, i + 4), [
      "hmm_devmem_fault",
      "device_private_entry_fault",
      "do_swap_page",
      "handle_pte_fault",
    ]);
    if (series === "v5.0") assert(devmem.page_fault !== null && devmem.pagemap.page_fault === null);
    else assert(devmem.pagemap.page_fault !== null);
  }
});
