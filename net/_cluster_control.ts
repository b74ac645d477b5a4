/**
 * The control channel between a cluster's supervisor and its workers: one JSON object
 * per line over a unix socket (mode 0600 in a directory of mode 0700), and the names of
 * the environment variables a worker finds its identity in.
 *
 * Messages: worker to supervisor `{type: "ready", id, pid}` first, then
 * `{type: "reply", seq, value}` or `{type: "reply", seq, error}`; supervisor to worker
 * `{type: "ask", seq, what: "statistics" | "threads"}`.
 *
 * @module
 */

import { ProtocolError } from "../core/errors.ts";
import type { SocketReader } from "./buffered_reader.ts";
import type { Socket } from "./socket.ts";

/** The worker's id (1..N), set by the supervisor in each worker's environment. */
export const WORKER_ID_ENV = "SHRAPNEL_WORKER_ID";
/** The path of the supervisor's control socket, in each worker's environment. */
export const CONTROL_PATH_ENV = "SHRAPNEL_CLUSTER_CONTROL";
/** Where the worker is to serve its backdoor, when the supervisor has a `backdoorDir`. */
export const BACKDOOR_PATH_ENV = "SHRAPNEL_WORKER_BACKDOOR";
/**
 * Most bytes of one control message by default (8 MiB: a thread dump of about 95 000
 * threads); `ClusterOptions.maxMessageBytes` changes it for a cluster.
 */
export const MAX_MESSAGE_BYTES = 8 << 20;
/** The control channel's message cap, in each worker's environment. */
export const MAX_MESSAGE_ENV = "SHRAPNEL_CLUSTER_MAX_MESSAGE";

/** A control message: an object with a `type`. */
export type ControlMessage = { type: string; [key: string]: unknown };

/** A peer on the control channel sent what the protocol does not allow ("cluster"). */
export class ControlProtocolError extends ProtocolError {
  /**
   * Makes the error, of protocol "cluster".
   *
   * @param message what was wrong
   * @param options its cause
   */
  constructor(message?: string, options?: ErrorOptions) {
    super("cluster", message, options);
  }
}

const encoder = new TextEncoder();

/**
 * Sends `message` as one line. Non-ASCII is escaped, so that the line is ASCII (the
 * reader decodes lines as Latin-1). Interruption point: see `Socket.send`.
 */
export async function sendMessage(socket: Socket, message: ControlMessage): Promise<void> {
  await socket.send(encodeMessage(message));
}

/**
 * The line `sendMessage` sends for `message`.
 * @throws {TypeError} for what JSON cannot hold (a BigInt, a cycle)
 */
export function encodeMessage(message: ControlMessage): Uint8Array {
  const json = JSON.stringify(message).replace(
    /[\u0080-\uffff]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
  return encoder.encode(json + "\n");
}

/**
 * Reads the next message; null at the end of the stream. Interruption point.
 * @throws {ControlProtocolError} for a line that is not a JSON object with a string `type`
 * @throws {TooLongError} for a line longer than `maxBytes`
 */
export async function readMessage(
  reader: SocketReader,
  maxBytes: number = MAX_MESSAGE_BYTES,
): Promise<ControlMessage | null> {
  const line = await reader.readLine(maxBytes);
  if (line === null) return null;
  let message: unknown;
  try {
    message = JSON.parse(line);
  } catch (e) {
    throw new ControlProtocolError(`control message is not JSON: ${line.slice(0, 80)}`, {
      cause: e,
    });
  }
  if (
    typeof message !== "object" || message === null ||
    typeof (message as ControlMessage).type !== "string"
  ) {
    throw new ControlProtocolError(`control message has no type: ${line.slice(0, 80)}`);
  }
  return message as ControlMessage;
}
