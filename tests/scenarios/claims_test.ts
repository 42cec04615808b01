/**
 * The patch claims of lib/scenarios/claims.ts: each holds for (N-1, N) and
 * throws an AssertionError for (N, N) and (N-1, N-1), so none can pass
 * vacuously; the claims also hold across the presets where the preset pair
 * spans the patch.
 */
import { AssertionError, assertThrows } from "@std/assert";
import {
  claimPatch1,
  claimPatch2,
  claimPatch3,
  claimPatch4,
  claimPatch5,
  claimPatch6,
  claimPatch7,
  observePatch1,
  observePatch2,
  observePatch3,
  observePatch4,
  observePatch5,
  observePatch6,
  observePatch7,
} from "../../lib/scenarios/claims.ts";
import type { SeriesPoint } from "../../lib/scenarios/zone-device.ts";

/** One patch: how to observe a series point and what to claim about two. */
interface PatchClaim {
  n: number;
  observe: (s: SeriesPoint) => unknown;
  claim: (before: never, after: never) => void;
}

const PATCH_CLAIMS: readonly PatchClaim[] = [
  { n: 1, observe: observePatch1, claim: claimPatch1 },
  { n: 2, observe: observePatch2, claim: claimPatch2 },
  { n: 3, observe: observePatch3, claim: claimPatch3 },
  { n: 4, observe: observePatch4, claim: claimPatch4 },
  { n: 5, observe: observePatch5, claim: claimPatch5 },
  { n: 6, observe: observePatch6, claim: claimPatch6 },
  { n: 7, observe: observePatch7, claim: claimPatch7 },
];

for (const { n, observe, claim } of PATCH_CLAIMS) {
  Deno.test(`claimPatch${n}: holds for (${n - 1}, ${n}), fails for (${n}, ${n}) and (${n - 1}, ${n - 1})`, () => {
    const before = observe(n - 1) as never;
    const after = observe(n) as never;
    claim(before, after);
    assertThrows(() => claim(after, after), AssertionError);
    assertThrows(() => claim(before, before), AssertionError);
    assertThrows(() => claim(after, before), AssertionError);
  });
}

Deno.test("claims hold from preset v4.20 to preset v5.0, except patch 5's (patch 6 overrides it)", () => {
  // v5.0 is level 7 plus two follow-ups. Patch 5's claim compares neighbours: at v5.0 the
  // kill is back (patch 6) and a failed hmm_devmem_add blocks in hmm_devmem_ref_exit
  // instead of unwinding, so (v4.20, v5.0) is not a before/after pair for patch 5 alone.
  for (const { n, observe, claim } of PATCH_CLAIMS) {
    if (n === 5) continue;
    claim(observe("v4.20") as never, observe("v5.0") as never);
  }
  assertThrows(() => claimPatch5(observePatch5("v4.20"), observePatch5("v5.0")), AssertionError);
});
