/**
 * Executing many notebooks: each on a fresh kernel in the notebook's
 * directory, up to `concurrency` at once (default: two, one kernel per
 * core), with the next notebook's kernel started while the current ones run.
 *
 * Contract: every notebook gets a {@linkcode NotebookRun}, in input order;
 * a broken notebook never stops the others; no kernel outlives the call.
 *
 * @module
 */
import { dirname, fromFileUrl, resolvePath } from "./_path.ts";
import {
  DEFAULT_CELL_TIMEOUT_MS,
  executeNotebook,
  type ExecutionStats,
  type ProgressEvent,
  type RunFailure,
} from "./execute.ts";
import { Kernel, type KernelOptions } from "./kernel.ts";
import { checkKernelSpec, type Notebook, NotebookError, readNotebook } from "./nbformat.ts";

/** Run information stored in an executed notebook's `metadata.memremap_run`. */
export interface RunMetadata {
  /** "ok" if every cell ran, "failed" otherwise. */
  status: "ok" | "failed";
  /** When execution started (ISO 8601). */
  executed_at: string;
  /** Execution time in ms (first request to end of drain). */
  duration_ms: number;
  /** Code cells executed. */
  executed_cells: number;
  /** The failure message, if any. */
  failure?: string;
  /** The kernel implementation and version (for example "Deno kernel 2.9.6"). */
  kernel?: string;
}

/** The outcome of one notebook. */
export interface NotebookRun {
  /** The notebook's path as given. */
  path: string;
  /** The executed notebook, or null if it could not be read. */
  notebook: Notebook | null;
  /** "ok" if every cell ran, "failed" otherwise. */
  status: "ok" | "failed";
  /** The failure, or null. */
  failure: RunFailure | null;
  /** Execution timing, or null if no cell was sent. */
  stats: ExecutionStats | null;
  /** How long this notebook waited for its kernel, in ms (near 0 when pre-started). */
  kernelWaitMs: number;
  /** The kernel's own start-up time (spawn to handshake), in ms. */
  kernelStartMs: number;
  /** Wall time from taking the notebook to its result, in ms. */
  wallMs: number;
  /** The kernel's process id (gone by the time the result is returned), or null. */
  kernelPid: number | null;
}

/** Options for {@linkcode runNotebooks}. */
export interface RunOptions {
  /** Per-cell timeout in ms (default 120,000). */
  cellTimeoutMs?: number;
  /** Notebooks executed at once (default: min(2, number of cores)). */
  concurrency?: number;
  /** Start the next notebook's kernel while others run (default true). */
  prestart?: boolean;
  /** Accepted metadata.kernelspec.name values (default ["deno-memremap"]). */
  kernelNames?: readonly string[];
  /** Required kernel language (default "typescript"). */
  language?: string;
  /** Kernel command line, environment and start-up timeout. */
  kernel?: Omit<KernelOptions, "cwd" | "onWarning">;
  /** Called as each code cell starts. */
  onProgress?: (event: ProgressEvent) => void;
  /** Called when a notebook starts executing. */
  onStart?: (path: string) => void;
  /** Called when a notebook is finished. */
  onDone?: (run: NotebookRun) => void;
  /** Called with protocol warnings (bad signatures, ...). */
  onWarning?: (message: string) => void;
}

/**
 * Executes notebooks and returns one result per notebook, in input order.
 *
 * @param paths Paths (or file: URLs) of .ipynb files.
 * @param options Concurrency, timeouts, callbacks.
 * @returns The runs.
 */
export async function runNotebooks(
  paths: readonly string[],
  options: RunOptions = {},
): Promise<NotebookRun[]> {
  const {
    cellTimeoutMs = DEFAULT_CELL_TIMEOUT_MS,
    concurrency = Math.max(1, Math.min(2, navigator.hardwareConcurrency ?? 1)),
    prestart = true,
    kernelNames = ["deno-memremap"],
    language = "typescript",
  } = options;
  const runs: (NotebookRun | null)[] = paths.map(() => null);
  const notebooks: (Notebook | null)[] = [];

  // Read and check everything first: a broken notebook costs no kernel.
  for (const [i, path] of paths.entries()) {
    try {
      const nb = await readNotebook(path.startsWith("file:") ? fromFileUrl(path) : path);
      checkKernelSpec(nb, path, { kernelNames, language });
      notebooks.push(nb);
    } catch (e) {
      notebooks.push(null);
      const message = e instanceof NotebookError ? e.message : String(e);
      runs[i] = {
        path,
        notebook: null,
        status: "failed",
        failure: { kind: "invalid-notebook", notebook: path, message },
        stats: null,
        kernelWaitMs: 0,
        kernelStartMs: 0,
        wallMs: 0,
        kernelPid: null,
      };
      options.onDone?.(runs[i]!);
    }
  }
  const queue = paths.map((_, i) => i).filter((i) => notebooks[i] !== null);

  const kernels = new Map<number, Promise<Kernel>>();
  const claimed = new Set<number>();
  const kernelFor = (i: number): Promise<Kernel> => {
    let k = kernels.get(i);
    if (k === undefined) {
      const path = paths[i]!;
      const opts: KernelOptions = {
        ...options.kernel,
        cwd: dirname(resolvePath(path.startsWith("file:") ? fromFileUrl(path) : path)),
      };
      if (options.onWarning) opts.onWarning = (m) => options.onWarning!(`${path}: ${m}`);
      k = Kernel.start(opts);
      k.catch(() => {}); // reported when claimed
      kernels.set(i, k);
    }
    return k;
  };
  const shutdowns: Promise<unknown>[] = [];
  let next = 0;

  const worker = async () => {
    while (next < queue.length) {
      const i = queue[next++]!;
      claimed.add(i);
      const path = paths[i]!;
      const notebook = notebooks[i]!;
      const t0 = performance.now();
      const kernelPromise = kernelFor(i);
      if (prestart && next < queue.length) {
        const spares = [...kernels.keys()].filter((j) => !claimed.has(j)).length;
        if (spares < concurrency) kernelFor(queue[next]!);
      }
      options.onStart?.(path);
      let kernel: Kernel;
      try {
        kernel = await kernelPromise;
      } catch (e) {
        runs[i] = {
          path,
          notebook,
          status: "failed",
          failure: {
            kind: "kernel-start",
            notebook: path,
            message: `${path}: ${(e as Error).message}`,
          },
          stats: null,
          kernelWaitMs: performance.now() - t0,
          kernelStartMs: 0,
          wallMs: performance.now() - t0,
          kernelPid: null,
        };
        options.onDone?.(runs[i]!);
        continue;
      }
      const kernelWaitMs = performance.now() - t0;
      const executedAt = new Date().toISOString();
      const execOptions: Parameters<typeof executeNotebook>[2] = { name: path, cellTimeoutMs };
      if (options.onProgress) execOptions.onProgress = options.onProgress;
      let result: Awaited<ReturnType<typeof executeNotebook>>;
      try {
        result = await executeNotebook(kernel, notebook, execOptions);
      } finally {
        shutdowns.push(kernel.shutdown());
      }
      const meta: RunMetadata = {
        status: result.failure === null ? "ok" : "failed",
        executed_at: executedAt,
        duration_ms: Math.round(result.stats.durationMs),
        executed_cells: result.stats.executedCells,
      };
      if (result.failure) meta.failure = result.failure.message;
      const impl = kernel.info.implementation;
      const version = kernel.info.implementation_version;
      if (typeof impl === "string") meta.kernel = `${impl} ${version ?? ""}`.trim();
      notebook.metadata.memremap_run = meta;
      runs[i] = {
        path,
        notebook,
        status: meta.status,
        failure: result.failure,
        stats: result.stats,
        kernelWaitMs,
        kernelStartMs: kernel.startupMs,
        wallMs: performance.now() - t0,
        kernelPid: kernel.pid,
      };
      options.onDone?.(runs[i]!);
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  } finally {
    // Kernels pre-started for nothing (or left by an exception) go too.
    for (const [i, k] of kernels) {
      if (!claimed.has(i)) shutdowns.push(k.then((kernel) => kernel.shutdown(), () => {}));
    }
    await Promise.allSettled(shutdowns);
  }
  return runs as NotebookRun[];
}
