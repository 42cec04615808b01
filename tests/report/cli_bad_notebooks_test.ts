/**
 * Bad notebooks through the report command: a malformed .ipynb, one whose
 * metadata.kernelspec names another kernel or another language, one whose
 * `cells` is not a list, and notebooks that never finish (a promise that
 * never settles, a busy loop) — each a clear error on stderr naming the
 * notebook, exit status 1, no kernel and no connection file left behind
 * (not even of the kernels killed on timeout); the good notebook of the
 * same run still renders. (runNotebooks' own messages: client_test.ts.)
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { makeNotebook, ourKernelProcesses, writeTemp } from "../notebook/_helpers.ts";
import { ROOT } from "./_build.ts";

Deno.test("tools/report.ts names every bad notebook and why, and exits 1", async () => {
  const tmp = await writeTemp({
    "good.ipynb": makeNotebook(['console.log("fine")']),
    "malformed.ipynb": '{"cells": [ {"cell_type": "code", ',
    "python-kernel.ipynb": makeNotebook(["1"], {
      kernelspec: { name: "python3", display_name: "Python 3", language: "python" },
    }),
    "other-language.ipynb": makeNotebook(["1"], {
      kernelspec: { name: "deno-memremap", display_name: "x", language: "javascript" },
    }),
    "cells-not-list.ipynb": { ...makeNotebook([]), cells: "no" as never },
    "never-settles.ipynb": makeNotebook(['console.log("start")', "await new Promise(() => {})"]),
    "busy-loop.ipynb": makeNotebook(["while (true) {}"]),
  });
  // the kernels' connection files go here, to see that even killed kernels leave none
  const kernelTmp = await Deno.makeTempDir({ prefix: "memremap-badnb-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}/tools/report.ts`,
        "--out",
        `${tmp.dir}/site`,
        "--timeout",
        "3",
        ...Object.values(tmp.paths),
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1", TMPDIR: kernelTmp },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1, stderr);
    const failed = stderr.split("\n").filter((l) => l.startsWith("FAILED: "));
    const about = (name: string) => failed.find((l) => l.includes(`${tmp.dir}/${name}`)) ?? "";
    assertMatch(
      about("malformed.ipynb"),
      /^FAILED: Cannot use notebook \S+malformed\.ipynb: not valid JSON: /,
    );
    assertMatch(
      about("python-kernel.ipynb"),
      /: metadata\.kernelspec names kernel "python3", expected "deno-memremap"$/,
    );
    assertMatch(
      about("other-language.ipynb"),
      /: metadata\.kernelspec names language "javascript", expected "typescript"$/,
    );
    assertMatch(about("cells-not-list.ipynb"), /: not an nbformat 4 notebook: cells: /);
    assertMatch(
      about("never-settles.ipynb"),
      /: cell 2 \("await new Promise\(\(\) => \{\}\)"\) did not finish within 3 s; the kernel was killed$/,
    );
    assertMatch(
      about("busy-loop.ipynb"),
      /: cell 1 \("while \(true\) \{\}"\) did not finish within 3 s/,
    );
    assertEquals(failed.length, 6, stderr);
    assert(!/\n\s+at /.test(stderr), `a stack trace: ${stderr}`);
    assert(!failed.some((l) => l.includes("good.ipynb")), stderr);
    const build = JSON.parse(await Deno.readTextFile(`${tmp.dir}/site/build.json`));
    const good = build.notebooks.find((n: { path: string }) => n.path.endsWith("good.ipynb"));
    assertEquals(good.status, "ok");
    // the kernels it killed (and the others) are gone
    assertEquals(ourKernelProcesses(child.pid), []);
    assertEquals([...Deno.readDirSync(kernelTmp)].map((e) => e.name), []);
  } finally {
    await tmp.cleanup();
    await Deno.remove(kernelTmp, { recursive: true });
  }
});
