/** init_completion (include/linux/completion.h, v4.20): void init_completion(struct completion *x). */
import { assertEquals } from "@std/assert";
import { Kernel } from "../../lib/kernel/kernel.ts";
import {
  complete,
  Completion,
  completion_done,
  init_completion,
  try_wait_for_completion,
} from "../../lib/kernel/completion.ts";

Deno.test("init_completion(x): initialises the completion it is given (done = 0) and returns nothing", () => {
  const k = new Kernel({ seed: 1 });
  const x = new Completion("x");
  complete(k, x);
  assertEquals(completion_done(x), true);
  assertEquals(init_completion(x), undefined);
  assertEquals(completion_done(x), false);
  assertEquals(try_wait_for_completion(x), false);
});
