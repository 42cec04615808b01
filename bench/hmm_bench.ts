/**
 * HMM device-memory registration (lib/bench/cases/hmm.ts): one
 * hmm_devmem_add_resource of N sections per iteration, at level 5 (HMM's own
 * section radix) and level 6 (devm_memremap_pages, the baseline of each
 * group), for N ∈ {1, 8, 64, 512}. The unbind runs untimed. Tracing is off.
 *
 * @module
 */
import { denoBench } from "../lib/bench/harness.ts";
import { HMM_SECTION_COUNTS, hmmRegisterSections } from "../lib/bench/cases/hmm.ts";

for (const n of HMM_SECTION_COUNTS) {
  denoBench(hmmRegisterSections(6, n));
  denoBench(hmmRegisterSections(5, n));
}
