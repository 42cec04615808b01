/**
 * Messages with a bad or missing HMAC signature are dropped and reported
 * once; a fake kernel (zeromq, in a subprocess) sends some.
 */
import { assertEquals, assertMatch } from "@std/assert";
import {
  type CodeCell,
  createMessage,
  decodeMessage,
  encodeMessage,
  executeNotebook,
  Kernel,
  Signer,
} from "../../lib/notebook/mod.ts";
import { makeNotebook, processAlive } from "./_helpers.ts";
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
