/**
 * The Jupyter wire protocol (messaging spec 5.3): building, signing,
 * encoding and verifying messages.
 *
 * A message on the wire is a list of frames:
 *
 * ```
 *   [identities...] "<IDS|MSG>" signature header parent_header metadata content [buffers...]
 * ```
 *
 * where `signature` is the lowercase hex HMAC-SHA256, keyed with the
 * connection file's `key`, of the four JSON frames in that order.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** The delimiter frame between routing identities and the message. */
export const DELIMITER = "<IDS|MSG>";

/** The protocol version we speak. */
export const PROTOCOL_VERSION = "5.3";

/** A message header. */
export interface MessageHeader {
  /** Unique id of this message. */
  msg_id: string;
  /** The sending session. */
  session: string;
  /** The sending user. */
  username: string;
  /** ISO 8601 creation time. */
  date: string;
  /** The message type (`execute_request`, `stream`, ...). */
  msg_type: string;
  /** The protocol version. */
  version: string;
}

/** A decoded Jupyter message. */
export interface JupyterMessage<C = Record<string, unknown>> {
  /** This message's header. */
  header: MessageHeader;
  /** The header of the request this message answers, or `{}`. */
  parent_header: Partial<MessageHeader>;
  /** Message metadata. */
  metadata: Record<string, unknown>;
  /** The message content; its shape depends on `header.msg_type`. */
  content: C;
  /** Binary buffers after the content frame. */
  buffers: Uint8Array[];
}

/** Why a received message was rejected. */
export type SignatureProblem = "missing" | "bad";

/** The result of decoding received frames. */
export type DecodeResult =
  | { ok: true; message: JupyterMessage }
  | { ok: false; problem: SignatureProblem | "malformed"; detail: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Signs and verifies messages with one connection's key.
 */
export class Signer {
  readonly #key: Uint8Array;

  /**
   * Creates a signer for one connection.
   *
   * @param key The connection file's `key` (its UTF-8 bytes are the HMAC key).
   */
  constructor(key: string) {
    this.#key = encoder.encode(key);
  }

  /**
   * Computes the signature of the four JSON frames.
   *
   * @param parts header, parent_header, metadata and content frames.
   * @returns Lowercase hex HMAC-SHA256.
   */
  sign(parts: readonly (string | Uint8Array)[]): string {
    const hmac = createHmac("sha256", this.#key);
    for (const part of parts) hmac.update(part);
    return hmac.digest("hex");
  }

  /**
   * Checks a signature in constant time.
   *
   * @param signature The received signature frame, as text.
   * @param parts The four received JSON frames.
   * @returns Whether the signature matches.
   */
  verify(signature: string, parts: readonly Uint8Array[]): boolean {
    const expected = encoder.encode(this.sign(parts));
    const got = encoder.encode(signature);
    return got.length === expected.length && timingSafeEqual(got, expected);
  }
}

/**
 * Builds a new message.
 *
 * @param msgType The message type.
 * @param content The content.
 * @param session The client's session id.
 * @param parent The header of the message this one answers, if any.
 * @returns The message (no buffers).
 */
export function createMessage<C>(
  msgType: string,
  content: C,
  session: string,
  parent: Partial<MessageHeader> = {},
): JupyterMessage<C> {
  return {
    header: {
      msg_id: crypto.randomUUID(),
      session,
      username: "memremap-lab",
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    },
    parent_header: parent,
    metadata: {},
    content,
    buffers: [],
  };
}

/**
 * Encodes and signs a message as frames to send.
 *
 * @param message The message.
 * @param signer The connection's signer.
 * @param identities Routing identities to put before the delimiter.
 * @returns The frames.
 */
export function encodeMessage(
  message: JupyterMessage<unknown>,
  signer: Signer,
  identities: readonly Uint8Array[] = [],
): (string | Uint8Array)[] {
  const parts = [
    JSON.stringify(message.header),
    JSON.stringify(message.parent_header),
    JSON.stringify(message.metadata),
    JSON.stringify(message.content),
  ];
  return [...identities, DELIMITER, signer.sign(parts), ...parts, ...message.buffers];
}

/**
 * Decodes received frames and verifies their signature.
 *
 * @param frames The frames as received.
 * @param signer The connection's signer.
 * @returns The message, or why it was rejected.
 */
export function decodeMessage(frames: readonly Uint8Array[], signer: Signer): DecodeResult {
  const at = frames.findIndex((f) =>
    f.length === DELIMITER.length && decoder.decode(f) === DELIMITER
  );
  if (at < 0 || frames.length < at + 6) {
    return { ok: false, problem: "malformed", detail: "no delimiter or too few frames" };
  }
  const signature = decoder.decode(frames[at + 1]);
  const parts = frames.slice(at + 2, at + 6);
  if (signature === "") return { ok: false, problem: "missing", detail: "empty signature" };
  if (!signer.verify(signature, parts)) {
    return { ok: false, problem: "bad", detail: `signature ${signature.slice(0, 16)}...` };
  }
  try {
    const [header, parent_header, metadata, content] = parts.map((p) =>
      JSON.parse(decoder.decode(p))
    );
    return {
      ok: true,
      message: { header, parent_header, metadata, content, buffers: frames.slice(at + 6) },
    };
  } catch (e) {
    return { ok: false, problem: "malformed", detail: (e as Error).message };
  }
}
