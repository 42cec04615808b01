/**
 * Messages with a bad or missing HMAC signature are dropped and reported
 * once; a fake kernel (zeromq, in a subprocess) sends some.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  type CodeCell,
  createMessage,
  decodeMessage,
  encodeMessage,
  executeNotebook,
  Kernel,
  runNotebooks,
  Signer,
} from "../../lib/notebook/mod.ts";
import { makeNotebook, processAlive, writeTemp } from "./_helpers.ts";
import { ROOT } from "../report/_build.ts";

Deno.test("Signer and decodeMessage() accept good signatures and reject bad, missing and tampered ones", () => {
  const signer = new Signer("secret");
  const m = createMessage("stream", { name: "stdout", text: "x" }, "session");
  const frames = encodeMessage(m, signer, [new TextEncoder().encode("id")]);
  const bytes = frames.map((f) => typeof f === "string" ? new TextEncoder().encode(f) : f);
  const ok = decodeMessage(bytes, signer);
  assertEquals(ok.ok && ok.message.content, { name: "stdout", text: "x" });
  assertEquals(decodeMessage(bytes, new Signer("other")).ok, false);
  const missing = [...bytes];
  missing[2] = new Uint8Array();
  const r1 = decodeMessage(missing, signer);
  assertEquals(!r1.ok && r1.problem, "missing");
  const tampered = [...bytes];
  tampered[6] = new TextEncoder().encode('{"name":"stdout","text":"y"}');
  const r2 = decodeMessage(tampered, signer);
  assertEquals(!r2.ok && r2.problem, "bad");
  assertEquals(decodeMessage(bytes.slice(0, 3), signer).ok, false);
});

Deno.test("Kernel drops replies and outputs with bad or missing signatures and reports it once", async () => {
  const warnings: string[] = [];
  const kernel = await Kernel.start({
    cwd: ROOT,
    argv: [
      Deno.execPath(),
      "run",
      "-A",
      `${ROOT}/tests/notebook/_fake_kernel.ts`,
      "{connection_file}",
    ],
    onWarning: (w) => warnings.push(w),
  });
  const nb = makeNotebook(["anything", "again"]);
  try {
    const { failure, stats } = await executeNotebook(kernel, nb, {
      name: "fake.ipynb",
      cellTimeoutMs: 10_000,
    });
    assertEquals(failure, null); // the forged error reply was dropped
    const cells = nb.cells as CodeCell[];
    for (const [i, cell] of cells.entries()) {
      assertEquals(cell.execution_count, i + 1);
      assertEquals(cell.outputs, [
        { output_type: "stream", name: "stdout", text: "genuine output\n" },
        {
          output_type: "execute_result",
          execution_count: i + 1,
          data: { "text/plain": `result ${i + 1}` },
          metadata: {},
        },
      ]);
    }
    assertEquals(stats.rejectedMessages, 6); // 3 per cell
    assertEquals(warnings.length, 1, warnings.join("\n"));
    assertMatch(warnings[0]!, /dropped a (iopub|reply) message .*(bad|missing) signature/);
  } finally {
    await kernel.shutdown();
  }
  assertEquals(processAlive(kernel.pid), false);
});

Deno.test("runNotebooks (the report's executor) drops forged shell and iopub messages and reports them once, naming the notebook", async () => {
  const tmp = await writeTemp({ "forged.ipynb": makeNotebook(["one", "two"]) });
  const warnings: string[] = [];
  try {
    const [run] = await runNotebooks([tmp.paths["forged.ipynb"]!], {
      cellTimeoutMs: 10_000,
      kernel: {
        argv: [
          Deno.execPath(),
          "run",
          "-A",
          `${ROOT}/tests/notebook/_fake_kernel.ts`,
          "{connection_file}",
        ],
      },
      onWarning: (w) => warnings.push(w),
    });
    assertEquals(run!.status, "ok", run!.failure?.message); // the forged error reply was dropped
    assertEquals(run!.stats!.rejectedMessages, 6); // per cell: a forged and an unsigned stream, a forged reply
    const outputs = JSON.stringify(run!.notebook!.cells.map((c) => (c as CodeCell).outputs));
    assert(outputs.includes("genuine output") && !/FORGED|unsigned/.test(outputs), outputs);
    assertEquals(warnings.length, 1, warnings.join("\n"));
    assertMatch(
      warnings[0]!,
      /^\S+forged\.ipynb: dropped a (iopub|reply) message from kernel pid \d+: (bad|missing) signature/,
    );
    assertEquals(processAlive(run!.kernelPid!), false);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("executeNotebook() puts a previous cell's late outputs, stamped with the next request, back into that cell", async () => {
  const kernel = await Kernel.start({
    cwd: ROOT,
    argv: [
      Deno.execPath(),
      "run",
      "-A",
      `${ROOT}/tests/notebook/_fake_kernel.ts`,
      "{connection_file}",
      "late-outputs",
    ],
    onWarning: () => {},
  });
  const nb = makeNotebook(["one", "two", "three"]);
  try {
    const { failure, stats } = await executeNotebook(kernel, nb, {
      name: "late.ipynb",
      cellTimeoutMs: 10_000,
    });
    assertEquals(failure, null);
    const texts = (nb.cells as CodeCell[]).map((c) =>
      c.outputs.map((o) =>
        o.output_type === "stream"
          ? [o.text].flat().join("")
          : "data" in o
          ? [o.data["text/plain"]].flat().join("")
          : ""
      ).join("|")
    );
    for (const [i, t] of texts.entries()) {
      const own = i + 1;
      for (const kind of ["late log", "late display"]) {
        assertEquals(t.includes(`${kind} ${own}`), own < 3, `cell ${own}: ${t}`);
        assert(
          !t.includes(`${kind} ${own - 1}`),
          `cell ${own} holds cell ${own - 1}'s ${kind}: ${t}`,
        );
      }
    }
    assertEquals(stats.reroutedOutputs, 4);
  } finally {
    await kernel.shutdown();
  }
});
