import { assertEquals } from "@std/assert";
import { scenario19 } from "../../lib/scenarios/hmm-process.ts";

const refused = {
  flagsOk: true,
  getPfnsRet: -22,
  getPfnsSpecial: true,
  faultRet: -22,
  faultSpecial: true,
  migrateRet: -22,
  driverWriteRet: -22,
};

for (const series of ["v4.20", "v5.0", "v5.2"] as const) {
  Deno.test(`scenario 19: unsupported VMA types in 2018 HMM at ${series}`, () => {
    const r = scenario19(series);
    assertEquals(r.hugetlb, refused, "MAP_HUGETLB: -EINVAL, every entry SPECIAL");
    assertEquals(r.mixedmap, refused, "VM_MIXEDMAP (vm_insert_page): -EINVAL, every entry SPECIAL");
  });
}
