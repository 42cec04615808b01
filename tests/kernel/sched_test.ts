/** call_rcu / call_rcu_sched (kernel/rcu/tree.c, v4.20): (head, func), func called with head after a grace period. */
import { assertEquals } from "@std/assert";
import { Kernel } from "../../lib/kernel/kernel.ts";
import { call_rcu, call_rcu_sched } from "../../lib/kernel/sched.ts";

Deno.test("call_rcu(head, func) and call_rcu_sched(head, func): the kernel's argument order; func gets head, after the grace period", () => {
  const k = new Kernel({ seed: 1 });
  const a = { name: "a" }, b = { name: "b" };
  const seen: string[] = [];
  call_rcu(k, a, (head) => seen.push(head.name));
  call_rcu_sched(k, b, (head) => seen.push(head.name));
  assertEquals(seen, [], "nothing runs before the grace period");
  k.sched.runUntilQuiescent();
  assertEquals(seen, ["a", "b"]);
});
