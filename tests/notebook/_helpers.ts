/**
 * Helpers for the notebook tests: building notebooks in code, writing them
 * to a temporary directory, and finding kernel processes in /proc.
 *
 * @module
 */
import type { Notebook } from "../../lib/notebook/mod.ts";

/** A code cell as a string, or with tags. */
export type CellSpec = string | { source: string; tags?: string[]; markdown?: boolean };

/** The kernelspec of our notebooks. */
export const KERNELSPEC = {
  name: "deno-memremap",
  display_name: "Deno (memremap-lab)",
  language: "typescript",
};

/** Builds an nbformat 4.5 notebook from cell sources. */
export function makeNotebook(cells: CellSpec[], metadata: Record<string, unknown> = {}): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: KERNELSPEC, ...metadata },
    cells: cells.map((c, i) => {
      const spec = typeof c === "string" ? { source: c } : c;
      const base = {
        id: `cell-${i + 1}`,
        metadata: spec.tags ? { tags: spec.tags } : {},
        source: spec.source,
      };
      return spec.markdown
        ? { ...base, cell_type: "markdown" as const }
        : { ...base, cell_type: "code" as const, outputs: [], execution_count: null };
    }),
  };
}

/** Writes files into a new temporary directory; returns their paths by name. */
export async function writeTemp(files: Record<string, string | Notebook>): Promise<{
  dir: string;
  paths: Record<string, string>;
  cleanup: () => Promise<void>;
}> {
  const dir = await Deno.makeTempDir({ prefix: "memremap-nbtest-" });
  const paths: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    paths[name] = `${dir}/${name}`;
    await Deno.writeTextFile(
      paths[name]!,
      typeof content === "string" ? content : JSON.stringify(content, null, 1),
    );
  }
  return { dir, paths, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

/**
 * Processes whose command line looks like a Jupyter kernel started with a
 * connection file under one of our directories (`memremap-kernel-<pid>-`).
 *
 * @param pid The process that started them (default: this one).
 * @returns pid and command line of each.
 */
export function ourKernelProcesses(pid: number = Deno.pid): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let cmdline: string;
    try {
      cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (cmdline.includes("--conn") && cmdline.includes(`memremap-kernel-${pid}-`)) {
      found.push({ pid: Number(e.name), cmdline: cmdline.trim() });
    }
  }
  return found;
}

/** Whether a process still exists (and is not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
