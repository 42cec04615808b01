/**
 * Simulated NVDIMMs: buses, DIMMs, regions, labels, info blocks, namespaces
 * and the ndctl-like command set.
 *
 * @module
 */
export * from "./badrange.ts";
export * from "./bus.ts";
export * from "./dimm.ts";
export * from "./label.ts";
export * from "./namespace.ts";
export * from "./ndctl.ts";
export * from "./pfn.ts";
export * from "./region.ts";
export * from "./uuid.ts";
