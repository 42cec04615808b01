/**
 * lib/sim — the simulation substrate. It knows nothing of Linux.
 *
 * @module
 */
export * from "./clock.ts";
export * from "./cost-model.ts";
export * from "./prng.ts";
export * from "./trace.ts";
export * from "./inject.ts";
export * from "./callchain.ts";
export * from "./task.ts";
export * from "./rcu.ts";
export * from "./sched.ts";
export * from "./explore.ts";
