import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { hmmUnbindWait } from "../../lib/scenarios/s30-hmm-unbind-wait.ts";
import { ALL_SERIES } from "../../lib/scenarios/zone-device.ts";
import { Series } from "../../lib/series.ts";

/** The struct page address a put_page of `pfn` faults on (VMEMMAP_START + pfn * 64 + compound_head). */
function pageAddr(pfn: number): string {
  return (0xffffea0000000000n + BigInt(pfn) * 64n + 8n).toString(16);
}

Deno.test("scenario 30: where unbind waits, and for what, at every level and preset", () => {
  for (const s of ALL_SERIES) {
    const cfg = new Series({ series: s });
    const level = cfg.level;
    const r = hmmUnbindWait(s);
    const oops = `BUG: unable to handle kernel paging request at ${pageAddr(r.page)}`;
    if (level <= 4) {
      // one grace period in hmm_devmem_ref_kill; the mapped page holds no ref on the devmem
      assertEquals(
        r.waits.map((w) => [w.fn, w.ns]),
        [["hmm_devmem_ref_kill", 10_000_000]],
        r.series,
      );
      assertEquals([r.killed, r.exitedLive, r.removeActionWarns], [true, false, 2], r.series);
      assertEquals([r.removedWhileMapped, r.freedDuringUnbind], [true, []], r.series);
      assertEquals([r.unbindDone, r.unmapOops], [true, oops], r.series);
    } else if (level === 5) {
      // no kill at all: no wait, pages removed, exit on a live ref, no WARN
      assertEquals(r.waits, [], r.series);
      assertEquals([r.killed, r.exitedLive, r.removeActionWarns], [false, true, 0], r.series);
      assertEquals([r.removedWhileMapped, r.freedDuringUnbind], [true, []], r.series);
      assertEquals([r.unbindDone, r.unmapOops], [true, oops], r.series);
    } else if (!cfg.fixed("50f44ee7248a")) {
      // kill returns at once; the put loop frees the still-mapped page; unbind hangs in ref_exit
      assertEquals(r.waits.map((w) => [w.fn, w.ns]), [["hmm_devmem_ref_exit", null]], r.series);
      assertEquals([r.killed, r.exitedLive, r.removeActionWarns], [true, false, 0], r.series);
      assertEquals([r.removedWhileMapped, r.freedDuringUnbind], [true, [r.page]], r.series);
      assertEquals(
        [r.unbindDone, r.blockedIn, r.unmapOops],
        [false, "hmm_devmem_ref_exit", oops],
        r.series,
      );
      assertStringIncludes(r.hang!, "unbind");
      assertStringIncludes(r.hang!, "(hmm_devmem_ref_exit)");
    } else {
      // v5.2: the wait runs before removal and ends when the process unmaps
      assertEquals(r.waits.map((w) => w.fn), ["hmm_devmem_ref_exit"], r.series);
      assert(r.waits[0]!.ns !== null && r.waits[0]!.ns >= 1_000_000, r.series);
      assertEquals([r.removedWhileMapped, r.freedDuringUnbind], [false, [r.page]], r.series);
      assertEquals([r.unbindDone, r.unmapOops, r.hang], [true, null, null], r.series);
    }
  }
});
