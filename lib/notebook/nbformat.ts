/**
 * nbformat 4.5 documents: types, reading with clear errors, and writing.
 *
 * Reading accepts nbformat 4.x (cells without ids get fresh ones and the
 * document is upgraded to 4.5); writing produces what nbformat 4.5 expects:
 * multiline strings as arrays of lines, `\n`-terminated, two-space JSON.
 *
 * @module
 */
import { z } from "zod";

/** A string, or the same string split into lines that keep their `\n`. */
export type MultilineString = string | string[];

/** A MIME bundle: MIME type to data (text as a multiline string, JSON types as values). */
export type MimeBundle = Record<string, unknown>;

/** Text written to stdout or stderr while a cell ran. */
export interface StreamOutput {
  /** Always "stream". */
  output_type: "stream";
  /** The stream's name: "stdout" or "stderr". */
  name: string;
  /** The text, as written. */
  text: MultilineString;
}

/** A value shown with `display()` (or sent as `display_data` by the kernel). */
export interface DisplayDataOutput {
  /** Always "display_data". */
  output_type: "display_data";
  /** The representations, by MIME type. */
  data: MimeBundle;
  /** Per-output metadata (for example image sizes). */
  metadata: Record<string, unknown>;
}

/** The value of a cell's trailing expression. */
export interface ExecuteResultOutput {
  /** Always "execute_result". */
  output_type: "execute_result";
  /** The execution count of the cell that produced it. */
  execution_count: number | null;
  /** The representations, by MIME type. */
  data: MimeBundle;
  /** Per-output metadata. */
  metadata: Record<string, unknown>;
}

/** An exception raised by a cell. */
export interface ErrorOutput {
  /** Always "error". */
  output_type: "error";
  /** The error's name (`TypeError`, ...). */
  ename: string;
  /** The error's message. */
  evalue: string;
  /** The traceback, one entry per line (may contain ANSI colour codes). */
  traceback: string[];
}

/** Any output nbformat 4.5 knows. */
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

/** Fields every cell has. */
export interface CellBase {
  /** The cell id (nbformat 4.5: 1-64 characters of `[a-zA-Z0-9-_]`). */
  id: string;
  /** Cell metadata (tags, execution timestamps, ...). */
  metadata: Record<string, unknown>;
  /** The cell's source text. */
  source: MultilineString;
}

/** A code cell. */
export interface CodeCell extends CellBase {
  /** Always "code". */
  cell_type: "code";
  /** The outputs from the last execution. */
  outputs: Output[];
  /** The prompt number, or null if the cell has not run. */
  execution_count: number | null;
}

/** A markdown cell. */
export interface MarkdownCell extends CellBase {
  /** Always "markdown". */
  cell_type: "markdown";
  /** Inline attachments, by file name. */
  attachments?: Record<string, MimeBundle>;
}

/** A raw cell (passed through untouched). */
export interface RawCell extends CellBase {
  /** Always "raw". */
  cell_type: "raw";
  /** Inline attachments, by file name. */
  attachments?: Record<string, MimeBundle>;
}

/** Any cell. */
export type Cell = CodeCell | MarkdownCell | RawCell;

/** The kernel a notebook was written for. */
export interface KernelSpecMetadata {
  /** The kernelspec's name (ours: "deno-memremap"). */
  name: string;
  /** The name shown in a UI. */
  display_name: string;
  /** The kernel's language (ours: "typescript"). */
  language?: string;
}

/** A notebook document, nbformat 4. */
export interface Notebook {
  /** Major format version: 4. */
  nbformat: 4;
  /** Minor format version: 5 once read or written by this module. */
  nbformat_minor: number;
  /** Notebook metadata (kernelspec, language_info, ...). */
  metadata: Record<string, unknown> & { kernelspec?: KernelSpecMetadata };
  /** The cells, in order. */
  cells: Cell[];
}

/**
 * A notebook could not be used: unreadable, not JSON, not nbformat 4, or
 * written for another kernel. The message names the notebook.
 */
export class NotebookError extends Error {
  /** The notebook's path or name. */
  readonly notebook: string;

  /**
   * Creates the error; the message is prefixed with "Cannot use notebook <name>: ".
   *
   * @param notebook The notebook's path or name.
   * @param message What is wrong with it (without the notebook's name).
   */
  constructor(notebook: string, message: string) {
    super(`Cannot use notebook ${notebook}: ${message}`);
    this.name = "NotebookError";
    this.notebook = notebook;
  }
}

const multiline = z.union([z.string(), z.array(z.string())]);
const cellSchema = z.object({
  id: z.string().regex(/^[a-zA-Z0-9-_]{1,64}$/, "must be 1-64 characters of [a-zA-Z0-9-_]")
    .optional(),
  cell_type: z.enum(["code", "markdown", "raw"]),
  metadata: z.record(z.string(), z.unknown()).default({}),
  source: multiline,
  outputs: z.array(z.object({ output_type: z.string() }).passthrough()).optional(),
  execution_count: z.number().int().nullable().optional(),
}).passthrough();
const notebookSchema = z.object({
  nbformat: z.literal(4, { message: "only nbformat 4 is supported" }),
  nbformat_minor: z.number().int().min(0),
  metadata: z.record(z.string(), z.unknown()),
  cells: z.array(cellSchema),
});

/** Joins a multiline string into one string. */
export function joinSource(source: MultilineString): string {
  return typeof source === "string" ? source : source.join("");
}

/**
 * Splits text into lines that keep their `\n`, as nbformat writes
 * multiline strings. `""` becomes `[]`.
 */
export function splitLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  return lines.length === 1 && lines[0] === "" ? [] : lines;
}

/** Returns a fresh random cell id (8 hex digits, like JupyterLab's short ids). */
export function newCellId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Parses the text of an .ipynb file.
 *
 * Cells lacking an id get a fresh one, duplicate ids are replaced, and the
 * result is nbformat 4.5. Code cells lacking outputs or an execution count
 * get empty ones.
 *
 * @param text The file's contents.
 * @param name The notebook's path or name, used in error messages.
 * @returns The notebook.
 * @throws {NotebookError} If the text is not JSON or not an nbformat 4 notebook.
 */
export function parseNotebook(text: string, name: string): Notebook {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new NotebookError(name, `not valid JSON: ${(e as Error).message}`);
  }
  const parsed = notebookSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.length ? issue.path.join(".") : "(document)";
    throw new NotebookError(name, `not an nbformat 4 notebook: ${path}: ${issue.message}`);
  }
  const seen = new Set<string>();
  const cells = parsed.data.cells.map((raw): Cell => {
    let id = raw.id;
    if (id === undefined || seen.has(id)) {
      do id = newCellId(); while (seen.has(id));
    }
    seen.add(id);
    const base = { id, metadata: raw.metadata, source: raw.source };
    if (raw.cell_type === "code") {
      return {
        ...base,
        cell_type: "code",
        outputs: (raw.outputs ?? []) as unknown as Output[],
        execution_count: raw.execution_count ?? null,
      };
    }
    const cell: MarkdownCell | RawCell = { ...base, cell_type: raw.cell_type };
    if (raw.attachments !== undefined) {
      cell.attachments = raw.attachments as Record<string, MimeBundle>;
    }
    return cell;
  });
  return {
    nbformat: 4,
    nbformat_minor: Math.max(5, parsed.data.nbformat_minor),
    metadata: parsed.data.metadata as Notebook["metadata"],
    cells,
  };
}

/**
 * Reads and parses an .ipynb file.
 *
 * @param path The file's path.
 * @returns The notebook.
 * @throws {NotebookError} If the file cannot be read or is not a notebook.
 */
export async function readNotebook(path: string): Promise<Notebook> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new NotebookError(path, `cannot read the file: ${(e as Error).message}`);
  }
  return parseNotebook(text, path);
}

/**
 * Checks that a notebook was written for the given kernel and language.
 *
 * @param notebook The notebook.
 * @param name The notebook's path or name, used in error messages.
 * @param expect The accepted kernelspec names and the required language.
 * @throws {NotebookError} If metadata.kernelspec is missing or names another kernel or language.
 */
export function checkKernelSpec(
  notebook: Notebook,
  name: string,
  expect: { kernelNames: readonly string[]; language: string },
): void {
  const spec = notebook.metadata.kernelspec;
  if (spec === undefined || typeof spec !== "object" || typeof spec.name !== "string") {
    throw new NotebookError(name, "metadata.kernelspec.name is missing");
  }
  if (!expect.kernelNames.includes(spec.name)) {
    throw new NotebookError(
      name,
      `metadata.kernelspec names kernel "${spec.name}", expected ${
        expect.kernelNames.map((k) => `"${k}"`).join(" or ")
      }`,
    );
  }
  const info = notebook.metadata.language_info as { name?: unknown } | undefined;
  const language = spec.language ?? info?.name;
  if (language !== undefined && language !== expect.language) {
    throw new NotebookError(
      name,
      `metadata.kernelspec names language "${language}", expected "${expect.language}"`,
    );
  }
}

function lines(value: unknown): unknown {
  return typeof value === "string" ? splitLines(value) : value;
}

function normaliseBundle(data: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [mime, value] of Object.entries(data)) {
    const isJson = mime === "application/json" || mime.endsWith("+json");
    out[mime] = isJson || mime.startsWith("image/png") || mime.startsWith("image/jpeg")
      ? value
      : lines(value);
  }
  return out;
}

function normaliseOutput(output: Output): Output {
  switch (output.output_type) {
    case "stream":
      return { ...output, text: lines(output.text) as string[] };
    case "display_data":
    case "execute_result":
      return { ...output, data: normaliseBundle(output.data) };
    default:
      return output;
  }
}

/** Sorts object keys recursively, as nbformat writes them (stable diffs). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    out[key] = sortKeys((value as Record<string, unknown>)[key]);
  }
  return out;
}

/**
 * Serialises a notebook as nbformat 4.5 JSON text, the way Jupyter writes it
 * (keys sorted, one-space indent, multiline strings as arrays of lines).
 *
 * @param notebook The notebook.
 * @returns The file text, ending with a newline.
 */
export function serializeNotebook(notebook: Notebook): string {
  const cells = notebook.cells.map((cell) => {
    const source = lines(joinSource(cell.source));
    if (cell.cell_type !== "code") return { ...cell, source };
    return { ...cell, source, outputs: cell.outputs.map(normaliseOutput) };
  });
  const doc = { ...notebook, nbformat_minor: Math.max(5, notebook.nbformat_minor), cells };
  return JSON.stringify(sortKeys(doc), null, 1) + "\n";
}
