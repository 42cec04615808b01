/**
 * Executing Jupyter notebooks on the real Deno kernel, from TypeScript:
 * a Jupyter client over the `zeromq` npm package (no Python), nbformat 4.5
 * in and out, and a runner that executes many notebooks two at a time with
 * the next kernel pre-started.
 *
 * @example Executing a notebook
 * ```ts ignore
 * import { runNotebooks, serializeNotebook } from "./mod.ts";
 * const [run] = await runNotebooks(["notebooks/01-patch.ipynb"], { cellTimeoutMs: 30_000 });
 * if (run.failure) throw new Error(run.failure.message);
 * await Deno.writeTextFile("out.ipynb", serializeNotebook(run.notebook!));
 * ```
 *
 * @module
 */
export {
  checkKernelSpec,
  joinSource,
  newCellId,
  NotebookError,
  parseNotebook,
  readNotebook,
  serializeNotebook,
  splitLines,
} from "./nbformat.ts";
export type {
  Cell,
  CellBase,
  CodeCell,
  DisplayDataOutput,
  ErrorOutput,
  ExecuteResultOutput,
  KernelSpecMetadata,
  MarkdownCell,
  MimeBundle,
  MultilineString,
  Notebook,
  Output,
  RawCell,
  StreamOutput,
} from "./nbformat.ts";
export {
  createMessage,
  decodeMessage,
  DELIMITER,
  encodeMessage,
  PROTOCOL_VERSION,
  Signer,
} from "./wire.ts";
export type { DecodeResult, JupyterMessage, MessageHeader, SignatureProblem } from "./wire.ts";
export { CONNECTION_DIR_PREFIX, freePorts, writeConnectionFile } from "./connection.ts";
export type { ConnectionFile, ConnectionInfo } from "./connection.ts";
export { defaultKernelArgv, Kernel, KernelStartError } from "./kernel.ts";
export type { KernelExit, KernelOptions, RequestHandlers } from "./kernel.ts";
export { killAll, liveKernelCount } from "./reaper.ts";
export { OutputCollector } from "./outputs.ts";
export { DEFAULT_CELL_TIMEOUT_MS, executeNotebook, firstLine } from "./execute.ts";
export type {
  ExecuteOptions,
  ExecutionStats,
  FailureKind,
  NotebookExecution,
  ProgressEvent,
  RunFailure,
} from "./execute.ts";
export { runNotebooks } from "./runner.ts";
export type { NotebookRun, RunMetadata, RunOptions } from "./runner.ts";
export { validateJsonSchema } from "./schema.ts";
export type { JsonSchema, SchemaViolation } from "./schema.ts";
