import { assertEquals, assertNotEquals } from "@std/assert";
import { determinism } from "../../lib/scenarios/s33-determinism.ts";
import { unbindOrdering } from "../../lib/scenarios/s07-unbind-ordering.ts";

Deno.test("scenario 33: same description + same seed → identical trace hash and simulated times", () => {
  for (const s of ["v4.20", "v5.0", "v5.2"] as const) {
    for (const seed of [0, 7]) {
      for (const p of determinism(s, seed)) {
        assertEquals(p.hashes[0], p.hashes[1], `${s} seed ${seed} scenario ${p.scenario}`);
        assertEquals(p.simNs[0], p.simNs[1], `${s} seed ${seed} scenario ${p.scenario}`);
      }
    }
  }
});

Deno.test("scenario 33: the hash does see a different schedule", () => {
  assertNotEquals(
    unbindOrdering("v5.0").traceHash,
    unbindOrdering("v5.0", { early: true }).traceHash,
  );
});
