import { assert, assertEquals } from "@std/assert";
import { createChunkPool, PageStore } from "../../../lib/hw/chunks.ts";
import {
  labelGeometry,
  type NamespaceLabel,
  pmemTypeGuid,
  readLabels,
  writeLabels,
  zeroLabels,
} from "../../../lib/hw/nvdimm/label.ts";
import {
  DAX_LABEL_RESERVE,
  decodePfnSb,
  encodePfnSb,
  nd_sb_checksum,
  ndPfnLayout,
  nvdimmSetupPfnParams,
  PFN_MODE_PMEM,
  PFN_MODE_RAM,
  PFN_SIG,
} from "../../../lib/hw/nvdimm/pfn.ts";
import { fletcher64, uuidParse, uuidString } from "../../../lib/hw/nvdimm/uuid.ts";

const MiB = 2 ** 20, GiB = 2 ** 30;

function label(uuid: string, dpa: number, rawsize: number, position = 0): NamespaceLabel {
  return {
    uuid: uuidParse(uuid),
    name: "ns",
    flags: 0,
    nlabel: 1,
    position,
    isetcookie: 0x1234n,
    lbasize: 0,
    dpa,
    rawsize,
    slot: 0,
    typeGuid: pmemTypeGuid(),
    abstractionGuid: new Uint8Array(16),
  };
}

Deno.test("label area: v1.2 geometry of a 128 KiB area (510 slots, 256-byte indexes)", () => {
  assertEquals(labelGeometry(128 * 1024), { nslot: 510, indexSize: 256 });
});

Deno.test("label area: blank or garbage has no index; labels round-trip; updates alternate the index", () => {
  const area = new PageStore(128 * 1024, createChunkPool(), "labels");
  area.write(0, new TextEncoder().encode("label0\0")); // what nfit_test seeds
  assertEquals(readLabels(area), { valid: false, seq: 0, labels: [] });
  const a = label("11111111-2222-4333-8444-555555555555", 0, 16 * MiB);
  assertEquals(writeLabels(area, [a]), 0);
  const r1 = readLabels(area);
  assertEquals([r1.valid, r1.seq, r1.labels.length], [true, 1, 1]); // init 3/2, then the next index: 1
  assertEquals(uuidString(r1.labels[0]!.uuid), "11111111-2222-4333-8444-555555555555");
  assertEquals([r1.labels[0]!.dpa, r1.labels[0]!.rawsize, r1.labels[0]!.name], [0, 16 * MiB, "ns"]);
  const b = label("aaaaaaaa-2222-4333-8444-555555555555", 16 * MiB, 8 * MiB);
  writeLabels(area, [a, b]);
  const r2 = readLabels(area);
  assertEquals(r2.seq, 2);
  assertEquals(r2.labels.map((l) => l.slot), [0, 1]); // `a` kept its slot, `b` took a free one
  writeLabels(area, [b]);
  assertEquals(readLabels(area).labels.map((l) => [l.slot, l.dpa]), [[1, 16 * MiB]]);
  // a corrupted label (bad checksum) is ignored
  const slotOff = 2 * 256 + 1 * 256;
  area.write(slotOff + 16, new TextEncoder().encode("corrupt"));
  assertEquals(readLabels(area).labels, []);
  zeroLabels(area);
  assertEquals(readLabels(area).valid, false);
});

Deno.test("pfn: map=dev dataoff = ALIGN(start + 8K + 64 × npfns + dax reserve, max(align, 2M)) - start", () => {
  const base = {
    start: 64 * GiB,
    size: 8 * GiB,
    startPad: 0,
    endTrunc: 0,
    mode: PFN_MODE_PMEM,
    align: 2 * MiB,
  };
  // 8 GiB: npfns = SECTION_ALIGN_UP((8G - 8K) / 4K) = 2 Mi pages → 128 MiB of struct pages
  const fs = ndPfnLayout({ ...base, dax: false });
  assertEquals([fs.rc, fs.memmapPfns, fs.dataoff, fs.npfns], [
    0,
    2 ** 21,
    130 * MiB,
    (8 * GiB - 130 * MiB) / 4096,
  ]);
  // devdax reserves 128 KiB more, which still rounds to the same 2 MiB boundary here
  assertEquals(ndPfnLayout({ ...base, dax: true }).dataoff, 130 * MiB);
  // the 4 KiB alignment still rounds to PMD_SIZE for map=dev
  assertEquals(ndPfnLayout({ ...base, align: 4096, dax: false }).dataoff, 130 * MiB);
  // 1 GiB alignment
  assertEquals(ndPfnLayout({ ...base, align: GiB, dax: false }).dataoff, GiB);
  // map=mem: only the 8 KiB reserve (+128 KiB for dax), aligned
  assertEquals(ndPfnLayout({ ...base, mode: PFN_MODE_RAM, align: 4096, dax: false }).dataoff, 8192);
  assertEquals(
    ndPfnLayout({ ...base, mode: PFN_MODE_RAM, align: 4096, dax: true }).dataoff,
    8192 + DAX_LABEL_RESERVE,
  );
  assertEquals(
    ndPfnLayout({ ...base, mode: PFN_MODE_RAM, align: 2 * MiB, dax: false }).dataoff,
    2 * MiB,
  );
  // too small for the alignment: -ENXIO
  assertEquals(ndPfnLayout({ ...base, size: GiB, align: GiB, dax: false }).rc, -6);
});

Deno.test("pfn: a start_pad section-aligns the memmap base (altmap base_pfn and reserve)", () => {
  const start = 4 * GiB + 64 * MiB, size = 4 * GiB - 64 * MiB;
  const l = ndPfnLayout({
    start,
    size,
    startPad: 64 * MiB,
    endTrunc: 0,
    mode: PFN_MODE_PMEM,
    align: 2 * MiB,
    dax: false,
  });
  const sb = decodePfnSb(encodePfnSb({
    signature: PFN_SIG,
    uuid: new Uint8Array(16),
    parent_uuid: new Uint8Array(16),
    flags: 0,
    version_major: 1,
    version_minor: 2,
    dataoff: l.dataoff,
    npfns: l.npfns,
    mode: PFN_MODE_PMEM,
    start_pad: 64 * MiB,
    end_trunc: 0,
    align: 2 * MiB,
  }));
  const s = nvdimmSetupPfnParams(sb, start, size);
  assertEquals(s.res, { start: 4 * GiB + 128 * MiB, end: 8 * GiB - 1 });
  assertEquals(s.altmap, {
    base_pfn: (4 * GiB + 128 * MiB) / 4096,
    reserve: 2,
    free: (l.dataoff - 8192) / 4096,
  });
  // without a pad the base need not be section aligned: reserve covers the gap
  const s2 = nvdimmSetupPfnParams({ ...sb, start_pad: 0 }, 4 * GiB + 64 * MiB, size);
  assertEquals(s2.altmap!.base_pfn, 4 * GiB / 4096);
  assertEquals(s2.altmap!.reserve, 2 + 64 * MiB / 4096);
});

Deno.test("pfn: info block layout and nd_sb_checksum (fletcher64 with the checksum zeroed)", () => {
  const block = encodePfnSb({
    signature: PFN_SIG,
    uuid: new Uint8Array(16).fill(1),
    parent_uuid: new Uint8Array(16).fill(2),
    flags: 0,
    version_major: 1,
    version_minor: 2,
    dataoff: 18 * MiB,
    npfns: 1000,
    mode: PFN_MODE_PMEM,
    start_pad: 0,
    end_trunc: 0,
    align: 2 * MiB,
  });
  assertEquals(block.length, 4096);
  const dv = new DataView(block.buffer);
  assertEquals(Number(dv.getBigUint64(56, true)), 18 * MiB); // what pfn-meta-errors.sh reads at 4096 + 56
  assertEquals(dv.getBigUint64(4088, true), nd_sb_checksum(block));
  const copy = block.slice();
  new DataView(copy.buffer).setBigUint64(4088, 0n, true);
  assertEquals(fletcher64(copy), nd_sb_checksum(block));
  assert(decodePfnSb(block).signature === PFN_SIG);
});
