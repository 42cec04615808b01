/** blk_alloc_queue_node and blk_register_queue (block/blk-core.c, blk-sysfs.c, v4.20): the kernel's arguments and returns. */
import { assertEquals } from "@std/assert";
import { Kernel } from "../../../lib/kernel/kernel.ts";
import { percpu_ref_is_zero } from "../../../lib/kernel/percpu-refcount.ts";
import { blk_alloc_queue_node, blk_register_queue } from "../../../lib/drivers/block/blk-queue.ts";

Deno.test("blk_alloc_queue_node(gfp_mask, node_id, lock): v4.20's three arguments, lock NULL as pmem passes it; the model's name comes after", () => {
  const k = new Kernel({ seed: 1 });
  const q = blk_alloc_queue_node(k, 0, -1, null, "pmem0");
  assertEquals(q?.name, "pmem0");
  assertEquals(percpu_ref_is_zero(q!.q_usage_counter), false);
});

Deno.test("blk_register_queue: returns 0, as int blk_register_queue(struct gendisk *) does on success; registers once", () => {
  const k = new Kernel({ seed: 1 });
  const q = blk_alloc_queue_node(k, 0, -1, null, "pmem0")!;
  assertEquals(blk_register_queue(k, q), 0);
  assertEquals(q.init_done, true);
  assertEquals(blk_register_queue(k, q), 0);
});
