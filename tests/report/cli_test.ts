/**
 * The commands: `tools/report.ts` (exit status, stderr naming notebook and
 * cell, --no-execute, usage errors) and `tools/jupyter.ts` (kernelspec).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { makeNotebook, ourKernelProcesses, processAlive, writeTemp } from "../notebook/_helpers.ts";
import { ROOT } from "./_build.ts";

async function run(script: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/tools/${script}`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("tools/report.ts exits 1 naming notebook and cell, still writes the site; --no-execute re-renders", async () => {
  const tmp = await writeTemp({
    "good.ipynb": makeNotebook([{ source: "# Good one", markdown: true }, 'console.log("fine")']),
    "bad.ipynb": makeNotebook(['console.log("first")', "// second\nthrow new Error('kaputt')"]),
  });
  const out = `${tmp.dir}/site`;
  try {
    const r = await run("report.ts", [
      "--out",
      out,
      "--timeout",
      "30",
      tmp.paths["good.ipynb"]!,
      tmp.paths["bad.ipynb"]!,
    ]);
    assertEquals(r.code, 1, r.stderr);
    assertMatch(r.stderr, /FAILED: \S*bad\.ipynb: cell 2 \("\/\/ second"\) raised Error: kaputt/);
    assertStringIncludes(r.stderr, "report summary");
    assertMatch(r.stderr, /executor overhead .* ms mean over \d+ cells/);
    const build = JSON.parse(await Deno.readTextFile(`${out}/build.json`));
    assertEquals(build.notebooks.map((n: { status: string }) => n.status), ["ok", "failed"]);
    assertEquals(build.notebooks[1].failedCell, 2);
    const page = await Deno.readTextFile(`${out}/bad.html`);
    assertStringIncludes(page, '<span class="badge failed">failed</span>');
    assertStringIncludes(page, "kaputt");
    const index = await Deno.readTextFile(`${out}/index.html`);
    assertStringIncludes(index, "Good one");

    const again = await run("report.ts", [
      "--no-execute",
      "--out",
      out,
      tmp.paths["good.ipynb"]!,
      tmp.paths["bad.ipynb"]!,
    ]);
    assertEquals(again.code, 0, again.stderr);
    assertStringIncludes(again.stderr, "without executing");
    const rebuilt = JSON.parse(await Deno.readTextFile(`${out}/build.json`));
    assertEquals(rebuilt.executed, false);
    assertEquals(rebuilt.notebooks.map((n: { status: string }) => n.status), ["ok", "failed"]);
    assertStringIncludes(await Deno.readTextFile(`${out}/bad.html`), "kaputt");
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("tools/report.ts rejects bad usage with status 2", async () => {
  const r = await run("report.ts", ["--timeout", "zero"]);
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "usage: deno task report");
  const r2 = await run("report.ts", ["--bogus"]);
  assertEquals(r2.code, 2);
});

Deno.test("tools/jupyter.ts writes the repository kernelspec and, with --user, the user's", async () => {
  const data = await Deno.makeTempDir();
  try {
    const r = await run("jupyter.ts", ["--user"], { JUPYTER_DATA_DIR: data });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout.trim(), `export JUPYTER_PATH=${ROOT}/.jupyter`);
    for (
      const path of [`${ROOT}/.jupyter`, data].map((d) => `${d}/kernels/deno-memremap/kernel.json`)
    ) {
      const spec = JSON.parse(await Deno.readTextFile(path));
      assertEquals(spec.argv, [
        Deno.execPath(),
        "jupyter",
        "--kernel",
        "--conn",
        "{connection_file}",
      ]);
      assertEquals(spec.display_name, "Deno (memremap-lab)");
      assertEquals(spec.language, "typescript");
      assertEquals(spec.env, { NO_COLOR: "1" });
    }
    assert(r.stderr.includes("wrote"));
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("tools/report.ts on SIGINT kills its kernels, removes their connection files and exits 130", async () => {
  const tmp = await writeTemp({ "spin.ipynb": makeNotebook(["while (true) {}"]) });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}/tools/report.ts`,
        "--out",
        `${tmp.dir}/site`,
        tmp.paths["spin.ipynb"]!,
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "null",
    }).spawn();
    let kernels: { pid: number; cmdline: string }[] = [];
    for (let i = 0; i < 200 && kernels.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      kernels = ourKernelProcesses(child.pid);
    }
    assertEquals(kernels.length, 1, "the report should have started one kernel");
    await new Promise((r) => setTimeout(r, 300)); // let the cell start spinning
    child.kill("SIGINT");
    const status = await child.status;
    assertEquals(status.code, 130);
    await new Promise((r) => setTimeout(r, 100));
    assert(!processAlive(kernels[0]!.pid), "the kernel must be killed");
    const conn = /--conn (\S+)/.exec(kernels[0]!.cmdline)![1]!;
    assertEquals(
      await Deno.stat(conn).then(() => true, () => false),
      false,
      "connection file left",
    );
  } finally {
    await tmp.cleanup();
  }
});
