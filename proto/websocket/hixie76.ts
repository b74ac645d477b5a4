/**
 * The hixie-76 (draft 00) WebSocket framing, for old clients: text messages between
 * 0x00 and 0xFF, closed by 0xFF 0x00.
 *
 * @module
 */

import { ClosedError, TimeoutError } from "../../core/errors.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { Mutex } from "../../core/sync/mutex.ts";
import type { SocketReader } from "../../net/buffered_reader.ts";
import { EOFError, SocketError } from "../../net/errors.ts";
import { markClientGone } from "../http/request.ts";
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
  readonly #sendTimeout: number;
  readonly #lock = new Mutex();
  #closed = false;

  /**
   * @internal Made by the server handler after the handshake.
   * @param maxMessageBytes largest message accepted (1 MiB): the connection is closed beyond
   * @param sendTimeout seconds a send may wait for a peer that does not read (30)
   */
  constructor(socket: Socket, reader: SocketReader, maxMessageBytes = 1 << 20, sendTimeout = 30) {
    this.socket = socket;
    this.#reader = reader;
    this.#maxMessage = maxMessageBytes;
    this.#sendTimeout = sendTimeout;
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The next text message, or null once closed: by the peer's closing handshake, by the
   * end of the stream, by bytes that are not hixie-76 framing, or by a message over
   * `maxMessageBytes` (the closing handshake is sent, then the socket closed).
   * Reads whatever the socket has, not a byte at a time.
   *
   * Interruption point: a message is taken whole or not at all (it stays buffered until
   * its end comes), so an interrupted receive leaves the reader at the message's start.
   */
  async receive(): Promise<Message | null> {
    if (this.#closed) return null;
    const reader = this.#reader;
    try {
      if (reader.buffered === 0 && !await reader.fill()) {
        throw new EOFError(new Uint8Array(0), 1);
      }
      const type = reader.peek()[0];
      if (type === 0xff) {
        // The closing handshake: 0xff 0x00.
        if (!await reader.fillTo(2)) throw new EOFError(new Uint8Array(0), 2);
        reader.skip(2);
        await this.close();
        return null;
      }
      if (type !== 0x00) throw new EOFError(new Uint8Array(0), 1); // not hixie-76: drop it
      let scanned = 1;
      let data: Uint8Array;
      for (;;) {
        const view = reader.peek();
        const end = view.indexOf(0xff, scanned);
        if (end >= 0 && end - 1 <= this.#maxMessage) {
          data = view.slice(1, end);
          reader.skip(end + 1);
          break;
        }
        scanned = end >= 0 ? end : view.length;
        if (scanned - 1 > this.#maxMessage) {
          await this.close();
          return null;
        }
        if (!await reader.fillTo(scanned + 1)) throw new EOFError(new Uint8Array(0), 1);
      }
      return { type: "text", data: decoder.decode(data) };
    } catch (e) {
      if (e instanceof EOFError || e instanceof SocketError || e instanceof ClosedError) {
        this.#closed = true;
        this.socket.close();
        return null;
      }
      throw e;
    }
  }

  /**
   * Writes under the lock, waiting at most `sendTimeout` for a peer that does not read.
   * Interrupted or failed, it drops the connection.
   */
  async #write(frame: Uint8Array): Promise<void> {
    const guard = await this.#lock.lock();
    try {
      await withTimeout(this.#sendTimeout, () => this.socket.send(frame));
    } catch (e) {
      // Part of the frame may be on the wire, and a frame cannot be taken back (the next
      // would land inside it): whatever stopped the write, the connection is dropped.
      this.#closed = true;
      this.socket.close();
      // The client's own socket failing is the client gone, not the callback's failure.
      if (!(e instanceof TimeoutError)) throw markClientGone(e);
      throw markClientGone(
        new ClosedError(
          `hixie-76 peer read nothing for ${this.#sendTimeout} s (sendTimeout): connection dropped`,
        ),
      );
    } finally {
      guard[Symbol.dispose]();
    }
  }

  /**
   * Sends a text message. Interruption point.
   * @throws {ClosedError} once closed, or when the peer read nothing for `sendTimeout`
   */
  async sendText(text: string): Promise<void> {
    if (this.#closed) throw markClientGone(new ClosedError("send on a closed hixie-76 socket"));
    const body = encoder.encode(text);
    const frame = new Uint8Array(body.length + 2);
    frame[0] = 0x00;
    frame.set(body, 1);
    frame[frame.length - 1] = 0xff;
    await this.#write(frame);
  }

  /** hixie-76 has no binary messages. @throws {TypeError} always */
  sendBinary(_data: Uint8Array): Promise<void> {
    return Promise.reject(new TypeError("hixie-76 carries text only"));
  }

  /**
   * Sends the closing handshake (if the peer is still there to take it) and closes the
   * socket. Interruption point: an interrupted close still closes the socket.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#write(new Uint8Array([0xff, 0x00]));
    } catch (e) {
      // A peer that is gone or does not read gets no closing handshake; the socket goes.
      if (!(e instanceof SocketError || e instanceof ClosedError)) throw e;
    } finally {
      this.#closed = true;
      this.socket.close();
    }
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
