import { assert, assertEquals } from "@std/assert";
import { scenario14 } from "../../lib/scenarios/hmm-process.ts";

const EPERM = 1, EFAULT = 14;

for (const series of ["v4.20", "v5.0", "v5.2"] as const) {
  Deno.test(`scenario 14: permissions (anon_read_prot, anon_write_prot) at ${series}`, () => {
    const { a, b } = scenario14(series);
    // (a) PROT_NONE: the core refuses the VMA, entries cleared; the device buffer is untouched
    assertEquals([a.getPfnsRet, a.faultRet], [-EPERM, -EPERM]);
    assert(a.entriesNone, "every entry is values[HMM_PFN_NONE]");
    assertEquals(a.driverRet, -EFAULT);
    assert(a.deviceBufferUnchanged);
    assert(a.cpuIntactAfterProtRead);
    // (b) PROT_READ, never written
    assertEquals([b.readRet, b.readCpages, b.readZero], [0, 1, true]);
    assertEquals(b.writeRet, -EFAULT, "the 2018 driver rejects a write to a VMA without VM_WRITE");
    assert(b.cpuStillZero);
    assertEquals([b.rwWriteRet, b.rwWriteCpages], [0, 1024]);
    assert(b.cpuReadsData);
    assert(b.zeroPageReplaced, "no pte maps the zero page any more");
    assertEquals(b.writablePrivatePages, 1024);
  });
}
