/**
 * Turning IOPub messages into nbformat outputs, the way nbclient does:
 * consecutive stream messages of the same name merge, `transient` is
 * dropped, `update_display_data` rewrites every earlier output with the same
 * display_id (in any cell of the notebook), `clear_output` (with `wait`)
 * clears the cell's outputs.
 *
 * @module
 */
import type { CodeCell, MimeBundle, Output } from "./nbformat.ts";
import type { JupyterMessage } from "./wire.ts";

type DisplayOutput = Extract<Output, { data: MimeBundle }>;

/**
 * Collects the outputs of the cells of one notebook. One instance per
 * notebook, because display ids are notebook-wide.
 */
export class OutputCollector {
  readonly #displays = new Map<string, DisplayOutput[]>();
  readonly #clearPending = new Set<CodeCell>();

  /**
   * Applies one IOPub message to the cell it belongs to.
   *
   * @param cell The cell whose execute_request is the message's parent.
   * @param message The IOPub message.
   * @returns Whether the message changed the cell's outputs.
   */
  apply(cell: CodeCell, message: JupyterMessage): boolean {
    const c = message.content as Record<string, unknown>;
    switch (message.header.msg_type) {
      case "stream":
        return this.#stream(cell, String(c.name ?? "stdout"), String(c.text ?? ""));
      case "display_data":
        return this.#display(cell, {
          output_type: "display_data",
          data: (c.data ?? {}) as MimeBundle,
          metadata: (c.metadata ?? {}) as Record<string, unknown>,
        }, c.transient);
      case "execute_result":
        return this.#display(cell, {
          output_type: "execute_result",
          execution_count: typeof c.execution_count === "number" ? c.execution_count : null,
          data: (c.data ?? {}) as MimeBundle,
          metadata: (c.metadata ?? {}) as Record<string, unknown>,
        }, c.transient);
      case "update_display_data":
        return this.#update(c);
      case "error":
        this.#push(cell, {
          output_type: "error",
          ename: String(c.ename ?? "Error"),
          evalue: String(c.evalue ?? ""),
          traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [],
        });
        return true;
      case "clear_output":
        if (c.wait === true) {
          this.#clearPending.add(cell);
          return false;
        }
        cell.outputs = [];
        return true;
      case "execute_input":
        if (typeof c.execution_count === "number") cell.execution_count = c.execution_count;
        return false;
      default:
        return false;
    }
  }

  #push(cell: CodeCell, output: Output): void {
    if (this.#clearPending.delete(cell)) cell.outputs = [];
    cell.outputs.push(output);
  }

  #stream(cell: CodeCell, name: string, text: string): boolean {
    if (this.#clearPending.delete(cell)) cell.outputs = [];
    const last = cell.outputs.at(-1);
    if (last?.output_type === "stream" && last.name === name) {
      last.text = (typeof last.text === "string" ? last.text : last.text.join("")) + text;
    } else {
      cell.outputs.push({ output_type: "stream", name, text });
    }
    return true;
  }

  #display(cell: CodeCell, output: DisplayOutput, transient: unknown): boolean {
    this.#push(cell, output);
    const id = (transient as { display_id?: unknown } | undefined)?.display_id;
    if (typeof id === "string" && id !== "") {
      const list = this.#displays.get(id) ?? [];
      list.push(output);
      this.#displays.set(id, list);
    }
    return true;
  }

  #update(c: Record<string, unknown>): boolean {
    const id = (c.transient as { display_id?: unknown } | undefined)?.display_id;
    const targets = typeof id === "string" ? this.#displays.get(id) : undefined;
    if (targets === undefined) return false;
    for (const output of targets) {
      output.data = (c.data ?? {}) as MimeBundle;
      output.metadata = (c.metadata ?? {}) as Record<string, unknown>;
    }
    return true;
  }
}
