/** mmu_notifier_invalidate_range_* (include/linux/mmu_notifier.h, v4.20): the kernel's signatures and return conventions. */
import { assertEquals } from "@std/assert";
import { Kernel } from "../../../lib/kernel/kernel.ts";
import { mm_init } from "../../../lib/kernel/mm/mmzone.ts";
import { Process } from "../../../lib/kernel/mm/process.ts";
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_only_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_invalidate_range_start_nonblock,
  mmu_notifier_register,
  MmuNotifier,
} from "../../../lib/kernel/mm/mmu-notifier.ts";

function setup(): { k: Kernel; p: Process; seen: string[]; mn: MmuNotifier } {
  const k = new Kernel();
  mm_init(k, { ram: [{ start: 0, end: 2 ** 30 }] });
  const p = new Process(k, "test");
  const seen: string[] = [];
  const mn = new MmuNotifier({
    invalidate_range_start: (_k, _mn, _mm, s, e, blockable) => {
      seen.push(`start ${s}-${e} ${blockable}`);
      return blockable ? 0 : -11; // -EAGAIN when it would have to sleep
    },
    invalidate_range: (_k, _mn, _mm, s, e) => void seen.push(`range ${s}-${e}`),
    invalidate_range_end: (_k, _mn, _mm, s, e) => void seen.push(`end ${s}-${e}`),
  });
  assertEquals(mmu_notifier_register(k, mn, p.mm), 0);
  return { k, p, seen, mn };
}

Deno.test("mmu_notifier_invalidate_range_start(mm, start, end) is void and blockable, as in v4.20; the _nonblock variant returns -EAGAIN", () => {
  const { k, p, seen } = setup();
  // @ts-expect-error v4.20's mmu_notifier_invalidate_range_start has no blockable argument
  mmu_notifier_invalidate_range_start(k, p.mm, 0, 4096, false);
  const r: void = mmu_notifier_invalidate_range_start(k, p.mm, 0, 4096);
  assertEquals(r, undefined);
  assertEquals(mmu_notifier_invalidate_range_start_nonblock(k, p.mm, 0, 8192), -11);
  assertEquals(seen, ["start 0-4096 true", "start 0-4096 true", "start 0-8192 false"]);
});

Deno.test("mmu_notifier_invalidate_range_end(mm, start, end) calls ->invalidate_range; _only_end does not", () => {
  const { k, p, seen } = setup();
  // @ts-expect-error v4.20's mmu_notifier_invalidate_range_end has no only_end argument
  mmu_notifier_invalidate_range_end(k, p.mm, 0, 4096, true);
  seen.length = 0;
  mmu_notifier_invalidate_range_end(k, p.mm, 0, 4096);
  mmu_notifier_invalidate_range_only_end(k, p.mm, 0, 4096);
  assertEquals(seen, ["range 0-4096", "end 0-4096", "end 0-4096"]);
});
