/**
 * Simulated hardware: NVDIMM buses (DIMMs, regions, labels, media, ARS and
 * error injection, namespaces with an ndctl-like command set), the PCIe
 * hierarchy (BARs, links, DMA cost, peer-to-peer distance), GPUs (VRAM, BAR,
 * copy engine, device page table, fault batches), CPU-coherent device
 * memory, and the page store all device memory keeps its bytes in.
 *
 * @module
 */
export * from "./chunks.ts";
export * from "./coherent.ts";
export * from "./hardware.ts";
export * from "./nvdimm/mod.ts";
export * from "./pcie/topology.ts";
export * from "./pcie/dma.ts";
export * from "./gpu/gpu.ts";
export * from "./gpu/faults.ts";
export * from "./gpu/page-table.ts";
