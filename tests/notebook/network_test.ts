/**
 * The executor as a network program: while `tools/report.ts` runs a
 * notebook on the real Deno kernel, the kernel's five ports listen on
 * 127.0.0.1 only (read from /proc/net/tcp and tcp6), its connection file is
 * mode 0600, and the HMAC key appears nowhere it could leak — not in the
 * kernel's /proc/<pid>/cmdline or /proc/<pid>/environ, not in the report
 * command's output, not in any file of the site or the executed notebooks;
 * the connection file is gone afterwards. (Messages with a wrong signature,
 * shell and iopub, are dropped and reported once: signature_test.ts, with
 * the fake kernel.)
 */
import { assert, assertEquals } from "@std/assert";
import { makeNotebook, writeTemp } from "./_helpers.ts";
import { ROOT } from "../report/_build.ts";

interface Listener {
  /** Local address as /proc prints it (hex, host byte order for IPv4). */
  addr: string;
  port: number;
  family: "tcp" | "tcp6";
}

/** Every LISTEN socket (state 0A) in /proc/net/tcp and /proc/net/tcp6. */
function listeners(): Listener[] {
  const out: Listener[] = [];
  for (const family of ["tcp", "tcp6"] as const) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`/proc/net/${family}`);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== "0A") continue;
      const [addr, port] = f[1]!.split(":") as [string, string];
      out.push({ addr, port: parseInt(port, 16), family });
    }
  }
  return out;
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...filesUnder(p));
    else if (e.isFile) out.push(p);
  }
  return out;
}

/** The pid whose command line names `path`, or null. */
function pidWithArg(path: string): number | null {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0").includes(path)) {
        return Number(e.name);
      }
    } catch {
      // gone
    }
  }
  return null;
}

Deno.test("executor: five loopback-only ports, a 0600 connection file, a key that leaks nowhere", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memremap-nettest-nb-" });
  const release = `${dir}/release`;
  const tmp = await writeTemp({
    // runs until the test has looked (the file appears), 30 s at most: no wall-clock guess
    "slow.ipynb": makeNotebook([
      `const release = ${JSON.stringify(release)};\n` +
      "for (let i = 0; i < 600; i++) {\n" +
      "  if (await Deno.stat(release).then(() => true, () => false)) break;\n" +
      "  await new Promise((r) => setTimeout(r, 50));\n" +
      "}\n" +
      "console.log('done');",
    ]),
  });
  const kernelTmp = await Deno.makeTempDir({ prefix: "memremap-nettest-" });
  const site = `${tmp.dir}/site`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}/tools/report.ts`,
      "--out",
      site,
      "--timeout",
      "60",
      tmp.paths["slow.ipynb"]!,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", TMPDIR: kernelTmp },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  try {
    // wait for the kernel: its connection file, then its process and its listening ports
    let conn: string | null = null;
    let info: Record<string, unknown> | null = null;
    let pid: number | null = null;
    let seen: Listener[] = [];
    const ports: number[] = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (conn === null) {
        for (const e of Deno.readDirSync(kernelTmp)) {
          const p = `${kernelTmp}/${e.name}/kernel.json`;
          if (e.isDirectory && e.name.startsWith("memremap-kernel-")) conn = p;
        }
      }
      if (conn !== null && info === null) {
        try {
          info = JSON.parse(Deno.readTextFileSync(conn));
          for (const k of ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"]) {
            ports.push(info![k] as number);
          }
          assertEquals(Deno.statSync(conn).mode! & 0o777, 0o600, "connection file mode");
        } catch (e) {
          if (e instanceof SyntaxError) info = null; // being written
          else throw e;
        }
      }
      if (info !== null) {
        pid ??= pidWithArg(conn!);
        seen = listeners().filter((l) => ports.includes(l.port));
        if (pid !== null && new Set(seen.map((l) => l.port)).size === 5) break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert(info !== null && pid !== null, "the kernel never started");
    const key = info.key as string;
    assert(/^[0-9a-f]{64}$/.test(key));
    assertEquals(info.ip, "127.0.0.1");
    // every one of the five ports listens, and only on 127.0.0.1 (IPv4, no IPv6 socket)
    assertEquals(new Set(seen.map((l) => l.port)), new Set(ports), JSON.stringify(seen));
    for (const l of seen) {
      assertEquals([l.family, l.addr], ["tcp", "0100007F"], `port ${l.port}: ${JSON.stringify(l)}`);
    }
    // the key is in neither the kernel's command line nor its environment
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
    assert(cmdline.includes(conn!), "the kernel was given the connection file");
    assert(!cmdline.includes(key), "key in /proc/<pid>/cmdline");
    assert(
      !Deno.readTextFileSync(`/proc/${pid}/environ`).includes(key),
      "key in /proc/<pid>/environ",
    );

    // the connection file's directory is private too
    assertEquals(Deno.statSync(conn!.replace(/\/kernel\.json$/, "")).mode! & 0o777, 0o700);

    await Deno.writeTextFile(release, "");
    const status = await child.status;
    const [stdout, stderr] = await output;
    assertEquals(status.code, 0, stderr);
    assert(!stdout.includes(key) && !stderr.includes(key), "key in the report command's output");
    const files = filesUnder(site);
    assert(files.some((f) => f.endsWith(".ipynb")), "executed notebooks are under the site");
    const executed = JSON.parse(Deno.readTextFileSync(files.find((f) => f.endsWith(".ipynb"))!));
    assertEquals(
      [executed.cells[0].outputs[0].text].flat().join(""),
      "done\n",
      "the cell ran to its end",
    );
    for (const f of files) {
      const bytes = Deno.readFileSync(f);
      assert(!new TextDecoder().decode(bytes).includes(key), `key in ${f}`);
    }
    // the connection file and its directory are gone
    assertEquals([...Deno.readDirSync(kernelTmp)].map((e) => e.name), []);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // already exited
    }
    await output.catch(() => {});
    await tmp.cleanup();
    await Deno.remove(kernelTmp, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});
