/**
 * `deno task jupyter [--user]`
 *
 * Writes the repository kernelspec `.jupyter/kernels/deno-memremap/kernel.json`
 * (the Deno running this task, `jupyter --kernel --conn {connection_file}`,
 * NO_COLOR=1) and prints the `export JUPYTER_PATH=...` line that makes
 * Jupyter (nbconvert, JupyterLab) find it. With `--user`, also installs it
 * into the user's Jupyter data directory (`$JUPYTER_DATA_DIR`, else
 * `$XDG_DATA_HOME/jupyter` or `~/.local/share/jupyter` on Linux,
 * `~/Library/Jupyter` on macOS, `%APPDATA%\jupyter` on Windows).
 *
 * @module
 */

/** The kernelspec's name, as notebooks' metadata.kernelspec.name says it. */
export const KERNEL_NAME = "deno-memremap";

/** A Jupyter kernelspec (kernel.json). */
export interface KernelSpec {
  /** Command line; Jupyter replaces `{connection_file}`. */
  argv: string[];
  /** Name shown in a UI. */
  display_name: string;
  /** The kernel's language. */
  language: string;
  /** Environment variables for the kernel. */
  env: Record<string, string>;
  /** How to interrupt the kernel. */
  interrupt_mode: "signal";
  /** Extra metadata. */
  metadata: Record<string, unknown>;
}

/**
 * The kernelspec for the Deno that runs this code.
 *
 * @returns The kernelspec.
 */
export function kernelSpec(): KernelSpec {
  return {
    argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
    display_name: "Deno (memremap-lab)",
    language: "typescript",
    env: { NO_COLOR: "1" },
    interrupt_mode: "signal",
    metadata: { debugger: false },
  };
}

/**
 * The user's Jupyter data directory, as jupyter_core computes it.
 *
 * @returns The directory (not necessarily existing).
 */
export function userDataDir(): string {
  const env = (k: string) => Deno.env.get(k);
  const explicit = env("JUPYTER_DATA_DIR");
  if (explicit) return explicit;
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  switch (Deno.build.os) {
    case "darwin":
      return `${home}/Library/Jupyter`;
    case "windows":
      return `${env("APPDATA") ?? `${home}\\AppData\\Roaming`}\\jupyter`;
    default:
      return `${env("XDG_DATA_HOME") || `${home}/.local/share`}/jupyter`;
  }
}

/**
 * Writes `<dataDir>/kernels/deno-memremap/kernel.json`.
 *
 * @param dataDir A Jupyter data directory (one entry of JUPYTER_PATH).
 * @returns The kernel.json path.
 */
export async function installKernelSpec(dataDir: string): Promise<string> {
  const dir = `${dataDir}/kernels/${KERNEL_NAME}`;
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/kernel.json`;
  await Deno.writeTextFile(path, JSON.stringify(kernelSpec(), null, 2) + "\n");
  return path;
}

if (import.meta.main) {
  const args = Deno.args;
  const unknown = args.filter((a) => a !== "--user");
  if (unknown.length) {
    console.error(`jupyter: unknown argument ${unknown[0]}\nusage: deno task jupyter [--user]`);
    Deno.exit(2);
  }
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const repoDir = `${root}/.jupyter`;
  const written = await installKernelSpec(repoDir);
  console.error(`jupyter: wrote ${written}`);
  if (args.includes("--user")) {
    console.error(`jupyter: wrote ${await installKernelSpec(userDataDir())}`);
  }
  console.log(`export JUPYTER_PATH=${repoDir}`);
}
