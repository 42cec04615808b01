import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Completion, wait_for_completion } from "../../../lib/kernel/completion.ts";
import { explainRef, REF_HOLDER_SOURCES } from "../../../lib/kernel/explain.ts";
import { percpu_ref_kill } from "../../../lib/kernel/percpu-refcount.ts";
import {
  get_page,
  MEMORY_DEVICE_FS_DAX,
  MEMORY_DEVICE_PCI_P2PDMA,
  MM,
  put_page_range,
  VmemAltmap,
} from "../../../lib/kernel/mm/mod.ts";
import { GiB, hotAdd, hotRemove, machine, pgmapOf, SECTION } from "./_setup.ts";

const S = 16 * GiB;
const PFN = S / 4096;

function holdersOf(m: ReturnType<typeof machine>, ref: Parameters<typeof explainRef>[1]) {
  return m.k.state(REF_HOLDER_SOURCES).flatMap((src) => src(ref)).filter((h) => h.count > 0);
}

Deno.test("holder source: each data page with refcount > 0 holds one pgmap ref", () => {
  const m = machine();
  const k = m.k;
  const pgmap = pgmapOf(k, S, 2 * SECTION, MEMORY_DEVICE_FS_DAX);
  pgmap.page_free = () => {};
  m.call(hotAdd, pgmap);
  const ref = pgmap.ref!;
  assertEquals(ref.value, 1 + 65536);
  let h = holdersOf(m, ref);
  assertEquals(h.map((x) => x.count), [65536]);
  assertEquals(h[0]!.what, `pages of pgmap ${pgmap.id} [mem 0x400000000-0x40fffffff]`);
  // the release's put loop with one page still held by a user
  percpu_ref_kill(k, ref);
  k.sched.runUntilQuiescent(); // the grace period drops the switch's extra ref
  get_page(k, PFN + 7);
  put_page_range(k, PFN, 65536);
  h = holdersOf(m, ref);
  assertEquals(h.map((x) => x.count), [1]);
  // explainRef: the whole count is attributed
  const link = explainRef(k, ref);
  assertStringIncludes(link.text, "count 1");
  assertEquals(link.next.map((l) => l.text), [`1 held by ${h[0]!.what}`]);
});

Deno.test("holder source: an altmap pgmap counts only pages from pfn_first, and a memremap hook names the action", () => {
  const m = machine();
  const k = m.k;
  const altmap = new VmemAltmap(PFN, 2, 1022);
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_FS_DAX, { altmap });
  m.call(hotAdd, pgmap);
  function devm_memremap_pages_release() {}
  k.state(MM).pageRefsDroppedBy = (p) =>
    p === pgmap ? { fn: devm_memremap_pages_release, data: p } : undefined;
  const h = holdersOf(m, pgmap.ref!);
  assertEquals(h.map((x) => x.count), [32768 - 1024]);
  assert(h[0]!.droppedBy?.fn === devm_memremap_pages_release);
});

Deno.test("holder source: in a hang report (the teardown race: memmap gone, count 1)", () => {
  const m = machine();
  const k = m.k;
  const pgmap = pgmapOf(k, S, SECTION, MEMORY_DEVICE_PCI_P2PDMA, { name: "0000:01:00.0" });
  const done = new Completion("p2pdma release");
  done.completer = pgmap.ref!;
  m.call(hotAdd, pgmap);
  const ref = pgmap.ref!;
  get_page(k, PFN + 1); // pci_alloc_p2pmem's user
  percpu_ref_kill(k, ref);
  put_page_range(k, PFN, 32768);
  // the user's page still holds it
  assertEquals(holdersOf(m, ref).map((x) => x.count), [1]);
  m.call(hotRemove, pgmap);
  // memmap gone: nothing left to attribute, the pgmap drops out of the source
  assertEquals(holdersOf(m, ref), []);
  const r = m.run(function* pci_p2pdma_release(k) {
    yield* wait_for_completion(k, done);
  });
  assert(r.blocked !== null);
  assertStringIncludes(r.blocked.text, "1 reference(s) not attributed to any holder");
});
