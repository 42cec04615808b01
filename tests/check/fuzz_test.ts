/**
 * The default CI run of the model-based fuzzer: 2,000 random whole-machine
 * sequences of at most 30 steps on the `fuzz` machine at preset v5.2, every
 * invariant checked after every step and after draining. A failure fails
 * the test with its seed, its shrunk sequence and the command that replays
 * it. MEMREMAP_FUZZ_SEED picks another seed. (The run takes about 10 s of
 * one idle core; it prints its wall time but asserts none: wall-clock
 * bounds flake under load.)
 */
import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import {
  formatFailure,
  fuzz,
  fuzzFaultPoints,
  type Op,
  OP_KINDS,
  opArbitrary,
} from "../../lib/check/fuzz.ts";

const SEED = Number(Deno.env.get("MEMREMAP_FUZZ_SEED") ?? 20181120);
const RUNS = 2000;
const MAX_STEPS = 30;

Deno.test(`fuzz: ${RUNS} sequences of ≤ ${MAX_STEPS} steps at v5.2 hold every invariant (seed ${SEED})`, () => {
  const r = fuzz({ runs: RUNS, maxSteps: MAX_STEPS, seed: SEED });
  if (r.failure !== null) throw new Error(formatFailure(r.failure));
  assertEquals(r.sequences, RUNS);
  // fast-check draws lengths 0..30: about 14 steps a sequence on average
  assert(r.steps >= 10 * RUNS, `only ${r.steps} steps: the generator makes sequences too short`);
  console.log(
    `fuzz: ${r.sequences} sequences, ${r.steps} steps, ${r.checks} checks in ${
      (r.ms / 1000).toFixed(1)
    } s (seed ${r.seed})`,
  );
});

Deno.test("fuzz: the generator draws every op kind and injects at every fault point of the machine", () => {
  const ops = fc.sample(opArbitrary(), { numRuns: 4000, seed: 7 });
  const kinds = new Set<string>();
  const points = new Set<string>();
  const walk = (o: Op) => {
    kinds.add(o.op);
    if (o.op === "fail") {
      points.add(o.point);
      walk(o.step);
    } else if (o.op === "parallel") {
      walk(o.a);
      walk(o.b);
    }
  };
  ops.forEach(walk);
  assertEquals([...kinds].sort(), [...OP_KINDS].sort());
  assertEquals([...points].sort(), fuzzFaultPoints());
  assert(points.has("sparse_add_one_section") && points.has("devm_add_action"));
});

Deno.test("fuzz at v4.20: HMM's own pgmaps (hmm_devmem_pages_create, before patch 6) take no ref per page, and the checker counts none", () => {
  // v4.20's hmm_devmem_pages_create only sets page->pgmap: counting its pages as holders of
  // devmem->ref reported 'count 1, holders 32769' right after the first hmm_devmem_add
  const r = fuzz({
    series: "v4.20",
    kinds: ["hmm-add", "migrate", "touch", "gpu-fault", "mmap", "munmap"],
    runs: 60,
    seed: 9,
  });
  assertEquals(r.failure, null, r.failure === null ? "" : formatFailure(r.failure, {}));
  assert(r.steps > 500, `only ${r.steps} steps`);
});
