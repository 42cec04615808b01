/**
 * kernel/memremap.c benchmarks (lib/bench/cases/memremap.ts):
 * `get-dev-pagemap-1` and `get-dev-pagemap-1000` (1,024 slow-path lookups +
 * puts per iteration; target ≤ 15 ns per lookup + put), and
 * `memmap-register-1TiB` / `memmap-register-64TiB` (one devm_memremap_pages
 * per iteration; targets ≤ 10 ms and ≤ 1 s). Tracing is off.
 *
 * @module
 */
import { denoBench } from "../lib/bench/harness.ts";
import {
  getDevPagemapCase,
  memmapRegister1TiB,
  memmapRegister64TiB,
} from "../lib/bench/cases/memremap.ts";

denoBench(getDevPagemapCase(1));
denoBench(getDevPagemapCase(1000));
denoBench(memmapRegister1TiB());
denoBench(memmapRegister64TiB());
