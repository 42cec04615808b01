/**
 * Small POSIX path helpers (no `@std/path`: JSR is not reachable here).
 *
 * @module
 */

/** Normalises `.` and `..` segments and repeated slashes of an absolute path. */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/** Resolves a path against the working directory. */
export function resolvePath(path: string): string {
  return normalizePath(path.startsWith("/") ? path : `${Deno.cwd()}/${path}`);
}

/** Converts a file: URL to a path. */
export function fromFileUrl(url: string | URL): string {
  return decodeURIComponent(new URL(url).pathname);
}

/** The directory part of a path ("." if none). */
export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** The last segment of a path, without `ext` if it ends with it. */
export function basename(path: string, ext = ""): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return ext && base.endsWith(ext) ? base.slice(0, -ext.length) : base;
}

/** A path relative to `from` (both absolute or both relative to the cwd). */
export function relativePath(from: string, to: string): string {
  const a = resolvePath(from).split("/").filter(Boolean);
  const b = resolvePath(to).split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/") || ".";
}
