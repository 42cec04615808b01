/**
 * Never leave a kernel behind: every kernel process this process starts is
 * registered here until it is gone. While any is registered, SIGINT and
 * SIGTERM kill them all (and remove their connection files) before this
 * process exits with 130 or 143; the `unload` event does the same on any
 * other way out that runs JavaScript.
 *
 * This is process-wide state on purpose: signals are process-wide.
 *
 * @module
 */

/** Something that can be killed at once, synchronously. */
export interface Killable {
  /** Kills the process (SIGKILL) and removes its files; must not throw. */
  killNow(): void;
}

const live = new Set<Killable>();
let installed = false;

function onSignal(signal: "SIGINT" | "SIGTERM"): () => void {
  return () => {
    killAll();
    Deno.exit(signal === "SIGINT" ? 130 : 143);
  };
}
const sigint = onSignal("SIGINT");
const sigterm = onSignal("SIGTERM");
const unload = () => killAll();

function install(): void {
  if (installed) return;
  installed = true;
  if (Deno.build.os !== "windows") {
    Deno.addSignalListener("SIGINT", sigint);
    Deno.addSignalListener("SIGTERM", sigterm);
  }
  globalThis.addEventListener("unload", unload);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  if (Deno.build.os !== "windows") {
    Deno.removeSignalListener("SIGINT", sigint);
    Deno.removeSignalListener("SIGTERM", sigterm);
  }
  globalThis.removeEventListener("unload", unload);
}

/**
 * Registers a live kernel; signal handlers are installed while any is live.
 *
 * @param k The kernel.
 */
export function registerKernel(k: Killable): void {
  live.add(k);
  install();
}

/**
 * Unregisters a kernel that is gone; handlers are removed with the last one.
 *
 * @param k The kernel.
 */
export function unregisterKernel(k: Killable): void {
  live.delete(k);
  if (live.size === 0) uninstall();
}

/**
 * Kills every registered kernel now.
 *
 * @returns How many were killed.
 */
export function killAll(): number {
  const all = [...live];
  for (const k of all) k.killNow();
  live.clear();
  uninstall();
  return all.length;
}

/**
 * Counts the kernels this process has running.
 *
 * @returns How many.
 */
export function liveKernelCount(): number {
  return live.size;
}
