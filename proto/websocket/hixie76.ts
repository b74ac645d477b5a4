/**
 * The hixie-76 (draft 00) WebSocket framing, for old clients: text messages between
 * 0x00 and 0xFF, closed by 0xFF 0x00.
 *
 * @module
 */

import { ClosedError } from "../../core/errors.ts";
import { Mutex } from "../../core/sync/mutex.ts";
import type { SocketReader } from "../../net/buffered_reader.ts";
import { EOFError, SocketError } from "../../net/errors.ts";
import type { Socket } from "../../net/socket.ts";
import type { Message } from "./connection.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A hixie-76 connection, with the text half of {@linkcode WebSocket}'s interface.
 *
 * @example
 * ```ts ignore
 * // in a websocketHandler callback, for an old client:
 * for await (const message of ws) await ws.sendText(String(message.data));
 * ```
 */
export class Hixie76Socket {
  /** The socket underneath. */
  readonly socket: Socket;
  /** Always "" (hixie-76 subprotocols are not negotiated here). */
  readonly protocol = "";
  readonly #reader: SocketReader;
  readonly #maxMessage: number;
  readonly #lock = new Mutex();
  #closed = false;

  /** @internal Made by the server handler after the handshake. */
  constructor(socket: Socket, reader: SocketReader, maxMessageBytes = 1 << 20) {
    this.socket = socket;
    this.#reader = reader;
    this.#maxMessage = maxMessageBytes;
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The next text message, or null once closed. Interruption point. */
  async receive(): Promise<Message | null> {
    if (this.#closed) return null;
    try {
      for (;;) {
        const [type] = await this.#reader.readExact(1);
        if (type === 0xff) {
          await this.#reader.readExact(1); // the 0x00 of the closing handshake
          await this.close();
          return null;
        }
        if (type !== 0x00) throw new EOFError(new Uint8Array(0), 1); // not hixie-76: drop it
        const parts: number[] = [];
        for (;;) {
          const [b] = await this.#reader.readExact(1);
          if (b === 0xff) break;
          if (parts.length >= this.#maxMessage) throw new EOFError(new Uint8Array(0), 1);
          parts.push(b);
        }
        return { type: "text", data: decoder.decode(Uint8Array.from(parts)) };
      }
    } catch (e) {
      if (e instanceof EOFError || e instanceof SocketError || e instanceof ClosedError) {
        this.#closed = true;
        this.socket.close();
        return null;
      }
      throw e;
    }
  }

  /** Sends a text message. Interruption point. */
  async sendText(text: string): Promise<void> {
    if (this.#closed) throw new ClosedError("send on a closed hixie-76 socket");
    const body = encoder.encode(text);
    const frame = new Uint8Array(body.length + 2);
    frame[0] = 0x00;
    frame.set(body, 1);
    frame[frame.length - 1] = 0xff;
    await this.#lock.withLock(() => this.socket.send(frame));
  }

  /** hixie-76 has no binary messages. @throws {TypeError} always */
  sendBinary(_data: Uint8Array): Promise<void> {
    return Promise.reject(new TypeError("hixie-76 carries text only"));
  }

  /** Sends the closing handshake and closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lock.withLock(() => this.socket.send(new Uint8Array([0xff, 0x00]))).catch(() => {});
    this.socket.close();
  }

  /** Messages until the connection closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    for (;;) {
      const message = await this.receive();
      if (message === null) return;
      yield message;
    }
  }
}
