/**
 * lib/bench/targets.ts: the issues' host-time targets against `deno bench
 * --json` output (fixtures here; the benches themselves are not run).
 */
import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  BENCH_TARGETS,
  type DenoBenchJson,
  evaluateTargets,
  formatNs,
  formatTargets,
} from "../../lib/bench/targets.ts";
import { BRING_UP_TARGETS, HOST_TARGETS } from "../../lib/scenarios/claims-bench.ts";

const ok = (name: string, avg: number, min: number) => ({
  name,
  results: [{ ok: { n: 100, min, avg, p75: avg } }],
});

Deno.test("BENCH_TARGETS: every host target of claims-bench, each in a bench file that defines it", async () => {
  const names = BENCH_TARGETS.map((t) => t.name);
  for (const n of Object.keys(HOST_TARGETS)) assert(names.includes(n), `${n} has no bench target`);
  assertEquals(
    BENCH_TARGETS.filter((t) => t.name.startsWith("memmap-register")).length,
    Object.keys(BRING_UP_TARGETS).length,
  );
  for (const t of BENCH_TARGETS) {
    const src = await Deno.readTextFile(new URL(`../../${t.file}`, import.meta.url));
    const def = await Promise.all(
      [...src.matchAll(/from "(\.\.\/lib\/bench\/cases\/[\w-]+\.ts)"/g)].map((m) =>
        Deno.readTextFile(new URL(m[1]!.replace("../", "../../"), import.meta.url))
      ),
    );
    assert(
      [src, ...def].some((s) =>
        s.includes(`"${t.name}"`) || s.includes(`\`${t.name.replace(/-\d+$|-\d+TiB$/, "-")}`)
      ),
      `${t.file} does not define ${t.name}`,
    );
  }
});

Deno.test("evaluateTargets: per-unit figures, the median of the runs' averages, the least minimum", () => {
  const runs: DenoBenchJson[] = [
    {
      benches: [ok("anon-minor-fault", 40_960, 30_720), ok("get-dev-pagemap-1000", 30_720, 20_480)],
    },
    { benches: [ok("anon-minor-fault", 61_440, 35_840)] },
    { benches: [ok("anon-minor-fault", 51_200, 25_600)] },
  ];
  const r = evaluateTargets(runs, BENCH_TARGETS);
  assertEquals(r.map((x) => x.target.name), ["get-dev-pagemap-1000", "anon-minor-fault"]);
  const anon = r[1]!;
  assertEquals([anon.runs, anon.avgNs, anon.minNs, anon.met], [3, 50, 25, true]); // target 50 ns
  const gdp = r[0]!;
  assertEquals([gdp.avgNs, gdp.minNs, gdp.met], [30, 20, false]); // target 15 ns
});

Deno.test("evaluateTargets: a GPU batch and a registration are one unit an iteration", () => {
  const r = evaluateTargets([{
    benches: [ok("gpu-fault-batch", 24_000, 20_000), ok("memmap-register-1TiB", 12e6, 9e6)],
  }], BENCH_TARGETS);
  assertEquals(r.map((x) => [x.target.name, x.avgNs, x.met]), [
    ["gpu-fault-batch", 24_000, true],
    ["memmap-register-1TiB", 12e6, false],
  ]);
});

Deno.test("evaluateTargets: a failed bench is an error, not a pass", () => {
  assertThrows(
    () =>
      evaluateTargets(
        [{ benches: [{ name: "fsdax-fault", results: [{ failed: "x" }] }] }],
        BENCH_TARGETS,
      ),
    RangeError,
    "Cannot evaluate fsdax-fault: the bench failed",
  );
});

Deno.test("formatTargets: one row per case with its rate, ratio and verdict", () => {
  const text = formatTargets(evaluateTargets([{
    benches: [ok("devpriv-cpu-fault", 3_072_000, 2_048_000), ok("fsdax-fault", 81_920, 76_800)],
  }], BENCH_TARGETS));
  const lines = text.split("\n");
  assertEquals(lines.length, 4);
  assertMatch(
    lines[3]!,
    /^\| fsdax-fault \| 5 \| ≥ 10 M faults\/s \| 80.0 ns \| 75.0 ns \| 12.50 M\/s \| 0.80× \| met \|$/,
  );
  assertMatch(
    lines[2]!,
    /^\| devpriv-cpu-fault \| 4 \| ≥ 5 M faults\/s \| 3.00 µs \| 2.00 µs \| 333 k\/s \| 15.00× \| missed \|$/,
  );
  assertEquals([formatNs(0.5), formatNs(12_345), formatNs(2.5e9)], [
    "0.50 ns",
    "12.3 µs",
    "2.50 s",
  ]);
});
