/**
 * Kernel connection files: tcp on 127.0.0.1, five free ports, a random
 * HMAC-SHA256 key; written with mode 0600 into a private temporary
 * directory and removed when the kernel is gone.
 *
 * @module
 */

/** The contents of a Jupyter connection file. */
export interface ConnectionInfo {
  /** Always "tcp". */
  transport: "tcp";
  /** Always "127.0.0.1". */
  ip: string;
  /** Port of the shell (requests and replies) channel. */
  shell_port: number;
  /** Port of the IOPub (broadcast outputs) channel. */
  iopub_port: number;
  /** Port of the stdin channel. */
  stdin_port: number;
  /** Port of the control channel. */
  control_port: number;
  /** Port of the heartbeat channel. */
  hb_port: number;
  /** The HMAC key (64 hex digits). */
  key: string;
  /** Always "hmac-sha256". */
  signature_scheme: "hmac-sha256";
  /** The kernel's name. */
  kernel_name: string;
}

/** A connection file on disk. */
export interface ConnectionFile {
  /** Path of the file. */
  path: string;
  /** What it contains. */
  info: ConnectionInfo;
  /** Removes the file and its directory (idempotent, never throws). */
  remove(): void;
}

/** Prefix of every connection file's directory; tests look for it in /proc. */
export const CONNECTION_DIR_PREFIX = "memremap-kernel-";

/**
 * Finds `count` distinct free TCP ports on 127.0.0.1 by binding them all at
 * once and releasing them.
 *
 * @param count How many ports.
 * @returns The port numbers.
 */
export function freePorts(count: number): number[] {
  // Pick below Linux's ephemeral range (ip_local_port_range starts at 32768),
  // so that outgoing connections — ours to other kernels included — never
  // take a port between our check and the kernel's bind.
  const LOW = 20000, HIGH = 32767;
  const ports: number[] = [];
  const rnd = new Uint32Array(1);
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > 2000) throw new Error("Cannot find free ports for a kernel on 127.0.0.1");
    crypto.getRandomValues(rnd);
    const port = LOW + (rnd[0]! % (HIGH - LOW + 1));
    if (ports.includes(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      ports.push(port);
    } catch {
      // in use: try another
    }
  }
  return ports;
}

/**
 * Writes a new connection file with free ports and a random key.
 *
 * The directory is named `memremap-kernel-<our pid>-...` so that leftover
 * kernels can be traced back to the process that started them.
 *
 * @param kernelName The kernel name to record in the file.
 * @returns The file.
 */
export function writeConnectionFile(kernelName: string): ConnectionFile {
  const [shell, iopub, stdin, control, hb] = freePorts(5) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const key = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const info: ConnectionInfo = {
    transport: "tcp",
    ip: "127.0.0.1",
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    key,
    signature_scheme: "hmac-sha256",
    kernel_name: kernelName,
  };
  const dir = Deno.makeTempDirSync({ prefix: `${CONNECTION_DIR_PREFIX}${Deno.pid}-` });
  const path = `${dir}/kernel.json`;
  Deno.writeTextFileSync(path, JSON.stringify(info, null, 1), { mode: 0o600, createNew: true });
  Deno.chmodSync(path, 0o600);
  let removed = false;
  return {
    path,
    info,
    remove() {
      if (removed) return;
      removed = true;
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    },
  };
}
