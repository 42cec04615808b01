/**
 * A Jupyter kernel process and the client side of its channels, over the
 * `zeromq` npm package.
 *
 * Contract:
 * 1. {@linkcode Kernel.start} spawns the kernel (by default
 *    `deno jupyter --kernel --conn <file>` with the running Deno's own
 *    executable), in `cwd`, with NO_COLOR=1, and returns once a
 *    kernel_info_reply *and* an IOPub message for it have arrived, so the
 *    IOPub subscription is known to be live.
 * 2. Every message sent is signed; every message received is verified and
 *    dropped if its signature is bad or missing (reported once per kernel
 *    through `onWarning`, counted in {@linkcode Kernel.rejectedMessages}).
 * 3. Replies and IOPub messages are routed by `parent_header.msg_id`, never by
 *    arrival order. A request's IOPub handler stays registered until
 *    {@linkcode Kernel.release} is called, so late outputs still reach it.
 * 4. The `zeromq` native addon is loaded on the first start, not at import:
 *    importing this module needs no FFI permission.
 * 5. The process is registered with the reaper until it is gone;
 *    {@linkcode Kernel.kill} and {@linkcode Kernel.shutdown} remove the
 *    connection file.
 *
 * @module
 */
import type * as Zmq from "zeromq";
import { type ConnectionFile, writeConnectionFile } from "./connection.ts";
import { registerKernel, unregisterKernel } from "./reaper.ts";
import {
  createMessage,
  decodeMessage,
  encodeMessage,
  type JupyterMessage,
  Signer,
} from "./wire.ts";

/** How a kernel process ended. */
export interface KernelExit {
  /** Exit code (or 128 + signal). */
  code: number;
  /** The signal that ended it, if any. */
  signal: string | null;
  /** The last lines the kernel wrote to stderr. */
  stderr: string;
}

/** Options for {@linkcode Kernel.start}. */
export interface KernelOptions {
  /** Working directory of the kernel (the notebook's directory). */
  cwd: string;
  /**
   * Command line; `{connection_file}` is replaced by the connection file's
   * path. Default: `[Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"]`.
   */
  argv?: readonly string[];
  /** Extra environment variables (NO_COLOR=1 is always set). */
  env?: Record<string, string>;
  /** Give up starting after this many ms (default 30,000). */
  startupTimeoutMs?: number;
  /** Called once per kernel with the first protocol problem (for example a bad signature). */
  onWarning?: (message: string) => void;
  /** Kernel name written into the connection file (default "deno-memremap"). */
  kernelName?: string;
}

/** Handlers for the messages caused by one request. */
export interface RequestHandlers {
  /** Called with every IOPub message whose parent is the request. */
  onIopub?: (message: JupyterMessage) => void;
  /** Called with the shell (or control) reply to the request. */
  onReply?: (message: JupyterMessage) => void;
}

/** The kernel could not be started. */
export class KernelStartError extends Error {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "KernelStartError";
  }
}

/** Default command line of the Deno kernel. */
export function defaultKernelArgv(): string[] {
  return [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"];
}

const STDERR_KEEP = 8192;

let zmqModule: Promise<typeof Zmq> | null = null;

/** Loads the zeromq addon once (it needs --allow-ffi, or -A). */
function loadZmq(): Promise<typeof Zmq> {
  zmqModule ??= import("zeromq").catch((e) => {
    zmqModule = null;
    throw new KernelStartError(
      `Cannot load the zeromq npm package (run with -A, or --allow-ffi): ${(e as Error).message}`,
    );
  });
  return zmqModule;
}

/** A running kernel and its client sockets. */
export class Kernel {
  /** The kernel's kernel_info_reply content. */
  readonly info: Record<string, unknown>;
  /** Milliseconds from spawning to the end of the handshake. */
  readonly startupMs: number;
  /** The kernel's process id. */
  readonly pid: number;
  /** Path of the connection file (gone once the kernel is). */
  readonly connectionFile: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<KernelExit>;

  readonly #internals: Internals;

  private constructor(internals: Internals, info: Record<string, unknown>, startupMs: number) {
    this.#internals = internals;
    this.info = info;
    this.startupMs = startupMs;
    this.pid = internals.child.pid;
    this.connectionFile = internals.conn.path;
    this.exited = internals.exited;
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.#internals.exit === null;
  }

  /** How many received messages were dropped for a bad or missing signature. */
  get rejectedMessages(): number {
    return this.#internals.rejected;
  }

  /** IOPub messages whose parent was not a known request (ignored). */
  get orphanMessages(): number {
    return this.#internals.orphans;
  }

  /**
   * Starts a kernel and completes the kernel_info handshake.
   *
   * @param options Where and how to start it.
   * @returns The running kernel.
   * @throws {KernelStartError} If the process exits or does not answer within the timeout.
   */
  static async start(options: KernelOptions): Promise<Kernel> {
    const t0 = performance.now();
    const zmq = await loadZmq();
    // A port picked as free can be taken before the kernel binds it; a kernel
    // that dies at start-up is retried with fresh ports (and a fresh file).
    for (let attempt = 1;; attempt++) {
      const internals = new Internals(zmq, options);
      try {
        const info = await internals.handshake(options.startupTimeoutMs ?? 30_000);
        return new Kernel(internals, info, performance.now() - t0);
      } catch (e) {
        internals.killNow();
        await internals.exited;
        const diedAtStart = e instanceof KernelStartError && /exited with code/.test(e.message);
        if (!diedAtStart || attempt >= 3) throw e;
      }
    }
  }

  /**
   * Sends a request on the shell (or control) channel.
   *
   * @param msgType The request type (`execute_request`, ...).
   * @param content The request content.
   * @param handlers Where its reply and IOPub messages go.
   * @param channel "shell" (default) or "control".
   * @returns The request's msg_id.
   */
  request(
    msgType: string,
    content: Record<string, unknown>,
    handlers: RequestHandlers = {},
    channel: "shell" | "control" = "shell",
  ): string {
    return this.#internals.request(msgType, content, handlers, channel);
  }

  /**
   * Sends an execute_request for `code`.
   *
   * @param code The cell's source.
   * @param handlers Where its reply and IOPub messages go.
   * @returns The request's msg_id.
   */
  execute(code: string, handlers: RequestHandlers): string {
    return this.request("execute_request", {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    }, handlers);
  }

  /**
   * Stops routing messages for a request (late IOPub messages become orphans).
   *
   * @param msgId The request's msg_id.
   */
  release(msgId: string): void {
    this.#internals.handlers.delete(msgId);
  }

  /** Kills the process at once (SIGKILL), closes the sockets, removes the connection file. */
  kill(): void {
    this.#internals.killNow();
  }

  /**
   * Asks the kernel to shut down, waits up to `graceMs`, then kills it.
   *
   * @param graceMs How long to wait for a clean exit.
   * @returns How the process ended.
   */
  async shutdown(graceMs = 300): Promise<KernelExit> {
    const i = this.#internals;
    if (i.exit === null) {
      try {
        i.request("shutdown_request", { restart: false }, {}, "control");
      } catch {
        // the kernel is going anyway
      }
      const timer = setTimeout(() => i.killNow(), graceMs);
      await i.exited;
      clearTimeout(timer);
    }
    i.killNow();
    return await i.exited;
  }
}

/** Everything a Kernel owns; separate so that start() can clean up on failure. */
class Internals {
  readonly conn: ConnectionFile;
  readonly child: Deno.ChildProcess;
  readonly signer: Signer;
  readonly session: string = crypto.randomUUID();
  // Timeouts 0: every send and receive is a synchronous zmq call (see #pump).
  readonly shell: Zmq.Dealer;
  readonly control: Zmq.Dealer;
  readonly iopub: Zmq.Subscriber;
  readonly handlers: Map<string, RequestHandlers> = new Map();
  readonly exited: Promise<KernelExit>;
  readonly onWarning: ((message: string) => void) | undefined;
  exit: KernelExit | null = null;
  rejected = 0;
  orphans = 0;
  stderr = "";
  #closed = false;
  #killable = { killNow: () => this.killNow() };

  constructor(zmq: typeof Zmq, options: KernelOptions) {
    this.shell = new zmq.Dealer({ linger: 0, sendTimeout: 0, receiveTimeout: 0 });
    this.control = new zmq.Dealer({ linger: 0, sendTimeout: 0, receiveTimeout: 0 });
    this.iopub = new zmq.Subscriber({ linger: 0, receiveTimeout: 0, receiveHighWaterMark: 0 });
    this.onWarning = options.onWarning;
    this.conn = writeConnectionFile(options.kernelName ?? "deno-memremap");
    this.signer = new Signer(this.conn.info.key);
    const argv = (options.argv ?? defaultKernelArgv()).map((a) =>
      a.replaceAll("{connection_file}", this.conn.path)
    );
    try {
      this.child = new Deno.Command(argv[0]!, {
        args: argv.slice(1),
        cwd: options.cwd,
        env: { ...options.env, NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      this.conn.remove();
      throw new KernelStartError(`Cannot start kernel ${argv[0]}: ${(e as Error).message}`);
    }
    registerKernel(this.#killable);
    this.#drain(this.child.stdout, false);
    const stderrDone = this.#drain(this.child.stderr, true);
    this.exited = this.child.status.then(async (s) => {
      // Let the last stderr lines in (bounded: a grandchild may hold the pipe open).
      await Promise.race([stderrDone, new Promise((r) => setTimeout(r, 200))]);
      this.exit = { code: s.code, signal: s.signal, stderr: this.stderr.trim() };
      this.#close();
      return this.exit;
    });
    const { ip, shell_port, control_port, iopub_port } = this.conn.info;
    this.shell.connect(`tcp://${ip}:${shell_port}`);
    this.control.connect(`tcp://${ip}:${control_port}`);
    this.iopub.connect(`tcp://${ip}:${iopub_port}`);
    this.iopub.subscribe();
    this.#pump();
  }

  async #drain(stream: ReadableStream<Uint8Array>, keep: boolean): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        if (keep) this.stderr = (this.stderr + decoder.decode(chunk)).slice(-STDERR_KEEP);
      }
    } catch {
      // process gone
    }
  }

  /**
   * Receives from all three sockets by polling. zeromq.js waits for
   * readability through libuv (uv_poll, uv_check); under Deno's libuv
   * emulation those waits stall after some hundreds of messages (measured:
   * a ping-pong between two Dealers stops at exactly 500, 1000 or 1500
   * round trips). So receives here never wait inside zeromq: a socket is
   * read (with receiveTimeout 0, a synchronous zmq_recv) only when its
   * `readable` flag says a message is there, and otherwise we sleep 1 ms
   * (about 2 ms with Deno's timer granularity), backing off to 10 ms after
   * a second without traffic.
   */
  async #pump(): Promise<void> {
    const sockets = [
      [this.shell, "reply"],
      [this.control, "reply"],
      [this.iopub, "iopub"],
    ] as const;
    let lastTraffic = performance.now();
    while (!this.#closed) {
      let got = false;
      for (const [socket, kind] of sockets) {
        while (!this.#closed && socket.readable) {
          let frames: Uint8Array[];
          try {
            frames = await socket.receive();
          } catch (e) {
            if ((e as { code?: string }).code === "EAGAIN") break;
            if (!this.#closed) {
              this.onWarning?.(`kernel ${kind} channel failed: ${(e as Error).message}`);
            }
            return;
          }
          got = true;
          this.#dispatch(frames, kind);
        }
      }
      const now = performance.now();
      if (got) lastTraffic = now;
      const delay = now - lastTraffic > 1000 ? 10 : 1;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  #dispatch(frames: Uint8Array[], kind: "reply" | "iopub"): void {
    const decoded = decodeMessage(frames, this.signer);
    if (!decoded.ok) {
      this.rejected++;
      if (this.rejected === 1) {
        this.onWarning?.(
          `dropped a ${kind} message from kernel pid ${this.child.pid}: ` +
            `${decoded.problem} signature (${decoded.detail}); further ones are only counted`,
        );
      }
      return;
    }
    const message = decoded.message;
    const handler = this.handlers.get(message.parent_header.msg_id ?? "");
    if (handler === undefined) {
      if (kind === "iopub") this.orphans++;
      return;
    }
    if (kind === "iopub") handler.onIopub?.(message);
    else handler.onReply?.(message);
  }

  request(
    msgType: string,
    content: Record<string, unknown>,
    handlers: RequestHandlers,
    channel: "shell" | "control",
  ): string {
    if (this.#closed) throw new Error(`Cannot send ${msgType}: the kernel has exited`);
    const message = createMessage(msgType, content, this.session);
    this.handlers.set(message.header.msg_id, handlers);
    const socket = channel === "shell" ? this.shell : this.control;
    const frames = encodeMessage(message, this.signer);
    // sendTimeout 0: zmq_send with ZMQ_DONTWAIT, settled at once.
    socket.send(frames).catch((e) => {
      if (!this.#closed) this.onWarning?.(`cannot send ${msgType}: ${(e as Error).message}`);
    });
    return message.header.msg_id;
  }

  /** kernel_info until both the reply and an IOPub message for it arrive. */
  async handshake(timeoutMs: number): Promise<Record<string, unknown>> {
    let reply: Record<string, unknown> | null = null;
    let iopubSeen = false;
    let wake = () => {};
    const ids: string[] = [];
    const deadline = performance.now() + timeoutMs;
    const handlers: RequestHandlers = {
      onReply: (m) => {
        reply ??= m.content;
        wake();
      },
      onIopub: () => {
        iopubSeen = true;
        wake();
      },
    };
    try {
      for (let attempt = 0; reply === null || !iopubSeen; attempt++) {
        if (this.exit !== null) {
          throw new KernelStartError(
            `Cannot start kernel: it exited with code ${this.exit.code} during start-up` +
              (this.exit.stderr ? `\n${this.exit.stderr}` : ""),
          );
        }
        if (performance.now() > deadline) {
          throw new KernelStartError(
            `Cannot start kernel: no kernel_info_reply ${
              reply === null ? "" : "with IOPub status "
            }within ${timeoutMs} ms`,
          );
        }
        // Re-sending also nudges zeromq to look for replies already queued.
        ids.push(this.request("kernel_info_request", {}, handlers, "shell"));
        const wait = Math.min(25 * 2 ** Math.min(attempt, 3), 200);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          this.exited.then(() => wake());
        });
      }
      return reply;
    } finally {
      for (const id of ids) this.handlers.delete(id);
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [this.shell, this.control, this.iopub]) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    this.conn.remove();
    unregisterKernel(this.#killable);
  }

  killNow(): void {
    if (this.exit === null) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already exited
      }
    }
    this.conn.remove();
  }
}
