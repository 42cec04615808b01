/**
 * A fake Jupyter kernel for tests, speaking zeromq like a real one, that
 * signs some messages wrongly: `deno run -A tests/notebook/_fake_kernel.ts <connection file>`.
 *
 * For every execute_request it sends, in order: busy; execute_input; a
 * stream "genuine output"; a stream "FORGED output" with a bad signature; a
 * stream "unsigned output" with an empty signature; an execute_reply with a
 * bad signature and status "error" (ename "Forged"); the real execute_reply
 * (status ok); an execute_result; idle. A client must keep only the genuine
 * messages.
 *
 * With a second argument `late-outputs`, every execute_request after the
 * first also starts with a stream "late log N" and a display_data "late
 * display N" of the previous cell N, stamped with the new request as parent
 * before its busy and execute_input — what the Deno kernel does to an output
 * it flushes after the next request arrived.
 */
import * as zmq from "zeromq";
import {
  createMessage,
  decodeMessage,
  encodeMessage,
  type JupyterMessage,
  Signer,
} from "../../lib/notebook/wire.ts";

const conn = JSON.parse(await Deno.readTextFile(Deno.args[0]!));
const lateOutputs = Deno.args[1] === "late-outputs";
const signer = new Signer(conn.key);
const forger = new Signer("not-the-key");
const session = crypto.randomUUID();
const at = (port: number) => `tcp://${conn.ip}:${port}`;
const shell = new zmq.Router({ linger: 0, sendTimeout: 0, receiveTimeout: 0 });
const control = new zmq.Router({ linger: 0, sendTimeout: 0, receiveTimeout: 0 });
const iopub = new zmq.Publisher({ linger: 0, sendTimeout: 0 });
await shell.bind(at(conn.shell_port));
await control.bind(at(conn.control_port));
await iopub.bind(at(conn.iopub_port));
let count = 0;

function publish(m: JupyterMessage<unknown>, how: "good" | "bad" | "missing" = "good") {
  const frames = encodeMessage(m, how === "bad" ? forger : signer);
  if (how === "missing") frames[1] = "";
  iopub.send(frames);
}

function handle(socket: zmq.Router, frames: Uint8Array[]) {
  const ids = frames.slice(0, frames.findIndex((f) => new TextDecoder().decode(f) === "<IDS|MSG>"));
  const decoded = decodeMessage(frames, signer);
  if (!decoded.ok) return; // a real kernel drops these too
  const req = decoded.message;
  const reply = (type: string, content: unknown, signWith = signer) =>
    socket.send(encodeMessage(createMessage(type, content, session, req.header), signWith, ids));
  const status = (state: string) =>
    publish(createMessage("status", { execution_state: state }, session, req.header));
  switch (req.header.msg_type) {
    case "kernel_info_request":
      status("busy");
      reply("kernel_info_reply", {
        status: "ok",
        protocol_version: "5.3",
        implementation: "fake",
        implementation_version: "0",
        language_info: { name: "typescript" },
      });
      status("idle");
      break;
    case "execute_request": {
      count++;
      if (lateOutputs && count > 1) {
        const late = (type: string, content: unknown) =>
          publish(createMessage(type, content, session, req.header));
        late("stream", { name: "stdout", text: `late log ${count - 1}\n` });
        late("display_data", {
          data: { "text/plain": `late display ${count - 1}` },
          metadata: {},
          transient: {},
        });
      }
      status("busy");
      publish(
        createMessage("execute_input", { code: "", execution_count: count }, session, req.header),
      );
      const stream = (text: string) =>
        createMessage("stream", { name: "stdout", text }, session, req.header);
      publish(stream("genuine output\n"));
      publish(stream("FORGED output\n"), "bad");
      publish(stream("unsigned output\n"), "missing");
      reply("execute_reply", {
        status: "error",
        ename: "Forged",
        evalue: "",
        traceback: [],
        execution_count: 99,
      }, forger);
      reply("execute_reply", {
        status: "ok",
        execution_count: count,
        payload: [],
        user_expressions: {},
      });
      publish(createMessage(
        "execute_result",
        {
          execution_count: count,
          data: { "text/plain": `result ${count}` },
          metadata: {},
        },
        session,
        req.header,
      ));
      status("idle");
      break;
    }
    case "shutdown_request":
      reply("shutdown_reply", { status: "ok", restart: false });
      setTimeout(() => Deno.exit(0), 10);
      break;
  }
}

// Poll like the client does (zeromq's own waiting is unreliable under Deno).
while (true) {
  for (const socket of [shell, control]) {
    while (socket.readable) handle(socket, await socket.receive());
  }
  await new Promise((r) => setTimeout(r, 1));
}
