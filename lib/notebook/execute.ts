/**
 * Executing one notebook's code cells, in order, on a started kernel.
 *
 * Contract:
 * 1. Every IOPub message goes to the cell whose execute_request is its
 *    parent (never by arrival order), and a cell keeps receiving after its
 *    `idle`, until the notebook is finished (the Deno kernel can report idle
 *    before a cell's last outputs arrive). One exception: the Deno kernel
 *    stamps an execute_result sent after the next request arrived with that
 *    request as parent (seen about once in 6,000 fast cells); such a result
 *    goes to the cell its `execution_count` names. The same stamping hits a
 *    late stream or display_data of the previous cell (about once in 500
 *    fast cells under load); those carry no count, but the kernel publishes
 *    a cell's execute_input on IOPub before running it, so an output that
 *    arrives for a request before that request's execute_input cannot be
 *    its own: it goes to the previous cell.
 * 2. The next cell is sent as soon as the previous cell's execute_reply and
 *    idle have both arrived; after the last cell we wait once for quiet
 *    (no IOPub message for `quietMs`, default 20 ms) — the drain.
 * 3. A cell error stops the notebook (unless the cell is tagged
 *    `raises-exception`); a timeout or the kernel's death stops it and kills
 *    the kernel. The failure names the notebook, the cell (1-based, among
 *    all cells) and the cell's first line.
 *
 * @module
 */
import type { Kernel } from "./kernel.ts";
import { type CodeCell, joinSource, type Notebook } from "./nbformat.ts";
import { OutputCollector } from "./outputs.ts";
import type { JupyterMessage } from "./wire.ts";

/** IOPub message types that are a cell's outputs. */
const OUTPUT_TYPES: ReadonlySet<string> = new Set([
  "stream",
  "display_data",
  "update_display_data",
  "execute_result",
  "error",
]);

/** What stopped a notebook. */
export type FailureKind =
  | "cell-error"
  | "timeout"
  | "kernel-died"
  | "invalid-notebook"
  | "kernel-start";

/** Why a notebook did not run to the end. */
export interface RunFailure {
  /** What kind of failure. */
  kind: FailureKind;
  /** The notebook's path or name. */
  notebook: string;
  /** One-line description, naming notebook and cell. */
  message: string;
  /** 1-based index of the cell among all cells, when a cell is to blame. */
  cellIndex?: number;
  /** The cell's id, when a cell is to blame. */
  cellId?: string;
  /** The cell's first non-blank line, when a cell is to blame. */
  cellFirstLine?: string;
  /** More detail: the error's traceback or the kernel's stderr. */
  detail?: string;
}

/** Progress of a running notebook. */
export interface ProgressEvent {
  /** The notebook's path or name. */
  notebook: string;
  /** 1-based number of the code cell now starting. */
  cell: number;
  /** Number of code cells in the notebook. */
  cells: number;
  /** Milliseconds since the notebook started executing. */
  elapsedMs: number;
}

/** Timing of one notebook's execution. */
export interface ExecutionStats {
  /** Wall time from the first execute_request to the end of the drain, in ms. */
  durationMs: number;
  /**
   * Executor overhead per cell: ms from the moment a cell's execute_reply and
   * idle had both arrived to the next cell's execute_request.
   */
  overheadMs: number[];
  /** Time spent waiting for quiet after the last cell, in ms. */
  drainMs: number;
  /** Code cells executed (including a failing one). */
  executedCells: number;
  /** Messages dropped for bad or missing signatures. */
  rejectedMessages: number;
  /** IOPub messages routed to a cell after that cell's idle. */
  lateMessages: number;
  /**
   * Late execute_results the kernel stamped with the next request as parent,
   * put back into the cell their execution_count names.
   */
  reroutedResults: number;
  /**
   * Late streams and displays the kernel stamped with the next request as
   * parent (they arrived before that request's execute_input), put back into
   * the previous cell.
   */
  reroutedOutputs: number;
}

/** The result of {@linkcode executeNotebook}. */
export interface NotebookExecution {
  /** The notebook with fresh outputs and execution counts (the input object, updated). */
  notebook: Notebook;
  /** The failure, or null if every cell ran. */
  failure: RunFailure | null;
  /** Timing. */
  stats: ExecutionStats;
}

/** Options for {@linkcode executeNotebook}. */
export interface ExecuteOptions {
  /** The notebook's path or name, for messages. */
  name: string;
  /** Per-cell timeout in ms (default 120,000). */
  cellTimeoutMs?: number;
  /** Quiet period after the last cell, in ms (default 20). */
  quietMs?: number;
  /** Upper bound on the drain, in ms (default 2,000). */
  maxDrainMs?: number;
  /** Called when each code cell starts. */
  onProgress?: (event: ProgressEvent) => void;
}

/** Default per-cell timeout: 120 s. */
export const DEFAULT_CELL_TIMEOUT_MS = 120_000;

/**
 * Returns the first non-blank line of a cell, trimmed to 80 characters.
 *
 * @param source The cell's source.
 * @returns The line.
 */
export function firstLine(source: string): string {
  const line = source.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

function cellFailure(
  kind: FailureKind,
  notebook: string,
  cell: CodeCell,
  index: number,
  what: string,
  detail?: string,
): RunFailure {
  const line = firstLine(joinSource(cell.source));
  const failure: RunFailure = {
    kind,
    notebook,
    message: `${notebook}: cell ${index} (${JSON.stringify(line)}) ${what}`,
    cellIndex: index,
    cellId: cell.id,
    cellFirstLine: line,
  };
  if (detail !== undefined && detail !== "") failure.detail = detail;
  return failure;
}

function hasTag(cell: CodeCell, tag: string): boolean {
  const tags = cell.metadata.tags;
  return Array.isArray(tags) && tags.includes(tag);
}

/**
 * Executes a notebook's code cells in order on `kernel`.
 *
 * The notebook is updated in place: outputs, execution counts, cell
 * `metadata.execution` timestamps (as nbclient writes them) and
 * `metadata.language_info`. On timeout or kernel death the kernel is killed.
 *
 * @param kernel A started kernel, used by nothing else.
 * @param notebook The notebook.
 * @param options Name, timeouts, progress callback.
 * @returns The executed notebook, the failure if any, and timing.
 */
export async function executeNotebook(
  kernel: Kernel,
  notebook: Notebook,
  options: ExecuteOptions,
): Promise<NotebookExecution> {
  const { name, cellTimeoutMs = DEFAULT_CELL_TIMEOUT_MS, quietMs = 20, maxDrainMs = 2000 } =
    options;
  const collector = new OutputCollector();
  const codeCells = notebook.cells.filter((c): c is CodeCell => c.cell_type === "code");
  const stats: ExecutionStats = {
    durationMs: 0,
    overheadMs: [],
    drainMs: 0,
    executedCells: 0,
    rejectedMessages: 0,
    lateMessages: 0,
    reroutedResults: 0,
    reroutedOutputs: 0,
  };
  const info = kernel.info.language_info;
  if (info !== undefined) notebook.metadata.language_info = info;
  for (const cell of codeCells) {
    cell.outputs = [];
    cell.execution_count = null;
  }

  let lastIopubAt = performance.now();
  let failure: RunFailure | null = null;
  let readyAt = -1; // when the previous cell's reply and idle had both arrived
  const ids: string[] = [];
  const byCount = new Map<number, CodeCell>(); // execution_count -> cell
  const t0 = performance.now();
  let n = 0;
  let prev: CodeCell | null = null; // the cell executed before this one

  for (const [i, cell] of notebook.cells.entries()) {
    if (cell.cell_type !== "code") continue;
    n++;
    const code = joinSource(cell.source);
    if (code.trim() === "") continue;
    options.onProgress?.({
      notebook: name,
      cell: n,
      cells: codeCells.length,
      elapsedMs: performance.now() - t0,
    });
    const execution: Record<string, string> = {};
    cell.metadata = { ...cell.metadata, execution };
    let reply: JupyterMessage | null = null;
    let inputSeen = false; // this request's execute_input has arrived
    const before = prev;
    prev = cell;
    let idle = false;
    let done = false;
    let settle = () => {};
    const finished = new Promise<void>((resolve) => settle = resolve);
    const onIopub = (m: JupyterMessage) => {
      lastIopubAt = performance.now();
      if (done) stats.lateMessages++;
      // The kernel stamps a late execute_result with the parent of the request
      // it is working on when it sends it; its execution_count still names
      // the cell that produced it.
      const count = (m.content as { execution_count?: unknown }).execution_count;
      const owner = m.header.msg_type === "execute_result" && typeof count === "number"
        ? byCount.get(count)
        : undefined;
      if (owner !== undefined && owner !== cell) {
        stats.reroutedResults++;
        collector.apply(owner, m);
        return;
      }
      const type = m.header.msg_type;
      // an output before this request's execute_input was produced by the previous cell
      if (!inputSeen && before !== null && OUTPUT_TYPES.has(type)) {
        stats.reroutedOutputs++;
        collector.apply(before, m);
        return;
      }
      collector.apply(cell, m);
      if (m.header.msg_type === "execute_input" && cell.execution_count !== null) {
        byCount.set(cell.execution_count, cell);
      }
      if (type === "status") {
        const state = (m.content as { execution_state?: string }).execution_state;
        if (state === "busy") execution["iopub.status.busy"] = m.header.date;
        if (state === "idle") {
          execution["iopub.status.idle"] = m.header.date;
          idle = true;
        }
      } else if (type === "execute_input") {
        inputSeen = true;
        execution["iopub.execute_input"] = m.header.date;
      }
      if (idle && reply !== null && !done) {
        done = true;
        readyAt = performance.now();
        settle();
      }
    };
    const onReply = (m: JupyterMessage) => {
      if (reply !== null) return;
      reply = m;
      execution["shell.execute_reply"] = m.header.date;
      const count = (m.content as { execution_count?: unknown }).execution_count;
      if (typeof count === "number") {
        cell.execution_count = count;
        byCount.set(count, cell);
      }
      if (idle && !done) {
        done = true;
        readyAt = performance.now();
        settle();
      }
    };

    const sendAt = performance.now();
    if (readyAt >= 0) stats.overheadMs.push(sendAt - readyAt);
    ids.push(kernel.execute(code, { onIopub, onReply }));
    stats.executedCells++;

    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      finished.then(() => "done" as const),
      kernel.exited.then(() => "died" as const),
      new Promise<"timeout">((resolve) =>
        timer = setTimeout(() => resolve("timeout"), cellTimeoutMs)
      ),
    ]);
    clearTimeout(timer);

    if (outcome === "timeout") {
      kernel.kill();
      failure = cellFailure(
        "timeout",
        name,
        cell,
        i + 1,
        `did not finish within ${cellTimeoutMs / 1000} s; the kernel was killed`,
      );
      break;
    }
    if (outcome === "died") {
      const exit = await kernel.exited;
      failure = cellFailure(
        "kernel-died",
        name,
        cell,
        i + 1,
        `killed the kernel (exit code ${exit.code}${exit.signal ? `, ${exit.signal}` : ""})`,
        exit.stderr,
      );
      break;
    }
    const content = (reply as JupyterMessage | null)?.content as
      | { status?: string; ename?: string; evalue?: string; traceback?: string[] }
      | undefined;
    if (content?.status === "error" && !hasTag(cell, "raises-exception")) {
      failure = cellFailure(
        "cell-error",
        name,
        cell,
        i + 1,
        `raised ${content.ename ?? "an error"}: ${content.evalue ?? ""}`,
        (content.traceback ?? []).join("\n"),
      );
      break;
    }
  }

  // Drain once: wait until IOPub has been quiet for quietMs.
  const drainStart = performance.now();
  if (kernel.alive) {
    while (true) {
      const now = performance.now();
      const quietFor = now - lastIopubAt;
      if (quietFor >= quietMs || now - drainStart >= maxDrainMs) break;
      await new Promise((r) => setTimeout(r, quietMs - quietFor));
    }
  }
  stats.drainMs = performance.now() - drainStart;
  stats.durationMs = performance.now() - t0;
  stats.rejectedMessages = kernel.rejectedMessages;
  for (const id of ids) kernel.release(id);
  return { notebook, failure, stats };
}
