/**
 * One report build per test run, shared by every test file that inspects
 * it (the executed notebooks, the site in a browser, build.json).
 *
 * `deno test --parallel` runs test files as workers of one process, so the
 * build is keyed by that process (pid + start time): the first caller takes
 * a lock file and runs `tools/report.ts` as a subprocess; the others wait
 * for its stamp. The build goes to `$MEMREMAP_REPORT_DIR` if set (CI sets
 * `site` to keep the site), else to a temporary directory of this run, so
 * concurrent test runs in the same tree do not trample each other.
 *
 * @module
 */

/** A finished report build. */
export interface ReportBuild {
  /** The site directory. */
  dir: string;
  /** tools/report.ts's exit code. */
  code: number;
  /** What it wrote to stderr. */
  stderr: string;
  /** build.json, or null if it was not written. */
  // deno-lint-ignore no-explicit-any
  build: any;
  /** Wall time of the build, in ms. */
  wallMs: number;
}

/** The repository's root directory. */
export const ROOT: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

function processKey(): string {
  let start = "0";
  try {
    // Field 22 of /proc/self/stat is the start time; the name (field 2) may hold spaces.
    const stat = Deno.readTextFileSync("/proc/self/stat");
    start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "0";
  } catch {
    // not Linux: pid alone
  }
  return `${Deno.pid}-${start}`;
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

function tmpDir(): string {
  return Deno.env.get("TMPDIR") || "/tmp";
}

/** Removes temporary builds of test runs that are gone. */
function removeStaleBuilds(): void {
  try {
    for (const e of Deno.readDirSync(tmpDir())) {
      const m = /^memremap-report-(\d+)-\d+(\.lock)?$/.exec(e.name);
      if (m && !alive(Number(m[1]))) {
        Deno.removeSync(`${tmpDir()}/${e.name}`, { recursive: true });
      }
    }
  } catch {
    // best effort
  }
}

async function build(dir: string, key: string): Promise<ReportBuild> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tools/report.ts", "--out", dir],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  let buildJson = null;
  try {
    buildJson = JSON.parse(await Deno.readTextFile(`${dir}/build.json`));
  } catch {
    // reported through code and stderr
  }
  const result: ReportBuild = {
    dir,
    code: out.code,
    stderr,
    build: buildJson,
    wallMs: performance.now() - t0,
  };
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/.test-stamp.json`, JSON.stringify({ key, result }));
  return result;
}

async function readStamp(dir: string, key: string): Promise<ReportBuild | null> {
  try {
    const stamp = JSON.parse(await Deno.readTextFile(`${dir}/.test-stamp.json`));
    return stamp.key === key ? stamp.result : null;
  } catch {
    return null;
  }
}

/**
 * Builds the report once for this test run and returns it; later calls
 * (from any test file of the run) return the same build.
 *
 * @returns The build (check `code` before using the site).
 */
export async function ensureReportBuild(): Promise<ReportBuild> {
  const key = processKey();
  const dir = Deno.env.get("MEMREMAP_REPORT_DIR") ?? `${tmpDir()}/memremap-report-${key}`;
  const lock = `${dir.replace(/\/$/, "")}.lock`;
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const done = await readStamp(dir, key);
    if (done) return done;
    try {
      const f = await Deno.open(lock, { write: true, createNew: true });
      await f.write(new TextEncoder().encode(key));
      f.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      // Someone holds the lock: us (another test file) or a dead run.
      const holder = await Deno.readTextFile(lock).catch(() => "");
      const pid = Number(holder.split("-")[0]);
      if (holder !== "" && holder !== key && !alive(pid)) {
        await Deno.remove(lock).catch(() => {});
      }
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      removeStaleBuilds();
      return await build(dir, key);
    } finally {
      await Deno.remove(lock).catch(() => {});
    }
  }
  throw new Error(`Cannot get a report build: timed out waiting for ${lock}`);
}
