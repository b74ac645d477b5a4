/**
 * A WebSocket connection (RFC 6455), either end: messages reassembled from fragments,
 * pings answered, the close handshake done both ways.
 *
 * @module
 */

import { concatBytes } from "../../core/bytes.ts";
import { now } from "../../core/clock.ts";
import { ClosedError, Interrupted } from "../../core/errors.ts";
import { scheduler, Timer } from "../../core/scheduler.ts";
import { Mutex } from "../../core/sync/mutex.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import type { SocketReader } from "../../net/buffered_reader.ts";
import { ConnectionResetError, EOFError, markPeerLost, SocketError } from "../../net/errors.ts";
import { markClientGone } from "../http/request.ts";
import type { Socket } from "../../net/socket.ts";
import type { MessageDeflate } from "./deflate.ts";
import { CloseCode, encodeFrame, Opcode, readFrame, WebSocketError } from "./frame.ts";

/** A message received. */
export type Message = { type: "text"; data: string } | { type: "binary"; data: Uint8Array };

/** Options of a {@linkcode WebSocket}. */
export interface WebSocketOptions {
  /** Largest message accepted, in bytes, fragments included (1 MiB); 1009 beyond. */
  maxMessageBytes?: number;
  /**
   * Most frames one message may come in (4096); 1008 beyond. Empty continuation frames
   * cost no payload but each costs work: without this bound a peer could send millions.
   */
  maxFragments?: number;
  /**
   * Seconds a send may wait for a peer that does not read (30): past it the connection is
   * dropped (closeCode 1006) and the send throws {@linkcode ClosedError}. This bounds what
   * a peer that sends pings and never reads the pongs can make us hold.
   */
  sendTimeout?: number;
  /**
   * Seconds `close()` may take (5): sending our close frame (after a send under way to a
   * peer that does not read, if any) and waiting for the peer's; past it the socket is
   * closed.
   */
  closeTimeout?: number;
  /**
   * With permessage-deflate, how many times its size on the wire a message may inflate
   * to (200, as Apache's `DeflateInflateRatioLimit`), for messages inflating beyond
   * 64 KiB; 1009 beyond. A 1 KiB message inflating to 1 MiB costs about as much work as an
   * ordinary 87 KB compressed one: without this a peer could keep a core busy with 1 MB/s.
   */
  maxInflateRatio?: number;
  /**
   * Messages smaller than this go out uncompressed even with permessage-deflate (1024
   * bytes, as in the `ws` package): compressing a small message saves few bytes and costs
   * about 15 us in Deno's zlib.
   */
  compressAbove?: number;
}

/** A fragmented message's frames so far. */
interface PartialMessage {
  parts: Uint8Array[] | null;
  type: number;
  compressed: boolean;
  size: number;
  fragments: number;
}

/** Messages inflating to at most this many bytes are not held to `maxInflateRatio`. */
const INFLATE_RATIO_FLOOR = 64 << 10;

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * One end of a WebSocket. `receive()` returns the next message (null once the connection
 * has closed); `sendText`/`sendBinary`/`ping`/`close` send. Sends from several threads
 * are serialized; one thread should receive.
 *
 * Every call that waits is an interruption point. An interrupted `receive` loses nothing:
 * a frame is taken whole or not at all, and the fragments of a message so far wait for
 * the next call (so `withTimeout` around `receive` is a safe idle check). An
 * interrupted send (or one whose socket failed) drops the connection (`closeCode` 1006)
 * when its frame could not be written whole at once: part of it may be on the wire, and a
 * frame cannot be taken back (the next one would land inside it).
 *
 * @example
 * ```ts ignore
 * const ws = await connectWebSocket("ws://127.0.0.1:8080/echo");
 * await ws.sendText("hello");
 * console.log(await ws.receive()); // { type: "text", data: "hello" }
 * await ws.close();
 * ```
 */
export class WebSocket {
  /** The socket underneath. */
  readonly socket: Socket;
  /** The subprotocol agreed on, or "". */
  readonly protocol: string;
  readonly #reader: SocketReader;
  readonly #isClient: boolean;
  readonly #maxMessage: number;
  readonly #maxFragments: number;
  readonly #sendTimeout: number;
  readonly #closeTimeout: number;
  readonly #sendLock = new Mutex();
  #closeSent = false;
  #closeReceived = false;
  #closed = false;
  #closeCode: number = CloseCode.noStatus;
  #closeReason = "";
  #lastPong = 0;
  /** When the write under way began (now()), or -1. */
  #sendingSince = -1;
  #watchdog: Timer | null = null;
  /** Whether the watchdog dropped the connection. */
  #stalled = false;
  readonly #deflate: MessageDeflate | null;
  readonly #compressAbove: number;
  readonly #maxInflateRatio: number;
  /** The message being reassembled (`parts` null between messages). */
  readonly #partial: PartialMessage = {
    parts: null,
    type: 0,
    compressed: false,
    size: 0,
    fragments: 0,
  };

  /**
   * @internal Made by the server handler or `connectWebSocket` once the handshake is done.
   */
  constructor(
    socket: Socket,
    reader: SocketReader,
    isClient: boolean,
    protocol = "",
    options: WebSocketOptions = {},
    deflate: MessageDeflate | null = null,
  ) {
    this.#deflate = deflate;
    this.#compressAbove = options.compressAbove ?? 1024;
    this.#maxInflateRatio = options.maxInflateRatio ?? 200;
    this.socket = socket;
    this.#reader = reader;
    this.#isClient = isClient;
    this.protocol = protocol;
    this.#maxMessage = options.maxMessageBytes ?? 1 << 20;
    this.#maxFragments = options.maxFragments ?? 4096;
    this.#sendTimeout = options.sendTimeout ?? 30;
    this.#closeTimeout = options.closeTimeout ?? 5;
  }

  /** Whether the connection is closed (both close frames, or the socket gone). */
  get closed(): boolean {
    return this.#closed;
  }

  /** The peer's close code (1005 if it gave none, 1006 if the connection just dropped). */
  get closeCode(): number {
    return this.#closeCode;
  }

  /** The peer's close reason. */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** When the last pong came (performance.now() milliseconds; 0 if never). */
  get lastPong(): number {
    return this.#lastPong;
  }

  /** Whether permessage-deflate is in use. */
  get compressed(): boolean {
    return this.#deflate !== null;
  }

  async #send(opcode: number, payload: Uint8Array): Promise<void> {
    if (this.#closeSent || this.#closed) {
      const closing = new ClosedError(
        this.#closed ? "send on a closed WebSocket" : "send on a closing WebSocket",
      );
      throw this.#isClient ? closing : markClientGone(closing);
    }
    const deflate = this.#deflate !== null && opcode < 8 && payload.length >= this.#compressAbove;
    const frame = encodeFrame(opcode, deflate ? this.#deflate!.compress(payload) : payload, {
      mask: this.#isClient,
      rsv1: deflate,
    });
    const guard = await this.#sendLock.lock();
    try {
      await this.#write(frame);
    } catch (e) {
      // A server's own socket failing is its client gone, not its callback's failure.
      throw this.#isClient ? e : markClientGone(e);
    } finally {
      guard[Symbol.dispose]();
    }
  }

  /**
   * Writes a frame (under the send lock): what the kernel takes at once costs nothing more;
   * the rest waits at most `sendTimeout`, after which the watchdog drops the connection.
   * One watchdog timer per connection, armed at most once per `sendTimeout` while sends
   * are under way, rather than a timer per send.
   */
  async #write(frame: Uint8Array): Promise<void> {
    const taken = this.socket.trySend(frame);
    if (taken === frame.length) return;
    this.#sendingSince = now();
    if (this.#watchdog === null) this.#armWatchdog(this.#sendingSince + this.#sendTimeout);
    try {
      await this.socket.send(frame.subarray(taken));
    } catch (e) {
      if (!this.#stalled) {
        // Part of the frame may be on the wire: a frame cannot be taken back, and the
        // peer would read the next frame's bytes as this one's payload.
        this.#finish(CloseCode.abnormal);
        throw e;
      }
      throw new ClosedError(
        `WebSocket peer read nothing for ${this.#sendTimeout} s (sendTimeout): connection dropped`,
      );
    } finally {
      this.#sendingSince = -1;
    }
  }

  #armWatchdog(deadline: number): void {
    this.#watchdog = new Timer(deadline, () => this.#checkStall(), null);
    scheduler.addTimer(this.#watchdog);
  }

  /** The watchdog: drops the connection if the send under way began `sendTimeout` ago. */
  #checkStall(): void {
    this.#watchdog = null;
    if (this.#sendingSince < 0 || this.#closed) return;
    const deadline = this.#sendingSince + this.#sendTimeout;
    if (now() < deadline) return this.#armWatchdog(deadline);
    this.#stalled = true;
    this.#finish(CloseCode.abnormal); // closing wakes the stalled sender with ClosedError
  }

  /**
   * Sends a text message. Interruption point.
   * @throws {ClosedError} once closing, or when the peer read nothing for `sendTimeout`
   */
  sendText(text: string): Promise<void> {
    return this.#send(Opcode.text, encoder.encode(text));
  }

  /**
   * Sends a binary message. Interruption point.
   * @throws {ClosedError} once closing, or when the peer read nothing for `sendTimeout`
   */
  sendBinary(data: Uint8Array): Promise<void> {
    return this.#send(Opcode.binary, data);
  }

  /** Sends a ping (at most 125 bytes of data); the pong shows in `lastPong`. */
  ping(data: Uint8Array = new Uint8Array(0)): Promise<void> {
    if (data.length > 125) throw new RangeError("ping data longer than 125 bytes");
    return this.#send(Opcode.ping, data);
  }

  async #sendClose(code: number, reason: string): Promise<void> {
    if (this.#closeSent) return;
    this.#closeSent = true;
    let payload = new Uint8Array(0);
    if (code !== CloseCode.noStatus) {
      const text = truncateUtf8(encoder.encode(reason), 123);
      payload = new Uint8Array(2 + text.length);
      payload[0] = code >> 8;
      payload[1] = code & 0xff;
      payload.set(text, 2);
    }
    const guard = await this.#sendLock.lock();
    try {
      await this.#write(encodeFrame(Opcode.close, payload, { mask: this.#isClient }));
    } catch (e) {
      if (!(e instanceof SocketError || e instanceof ClosedError)) throw e;
    } finally {
      guard[Symbol.dispose]();
    }
  }

  #finish(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#watchdog !== null) scheduler.removeTimer(this.#watchdog);
    this.#watchdog = null;
    if (!this.#closeReceived) this.#closeCode = code;
    this.socket.close();
  }

  /**
   * The next message, or null once the connection has closed (the close handshake is
   * answered here). Pings are answered with pongs on the way.
   *
   * On a client, a server that goes away without a close frame (the connection closed or
   * reset, `closeCode` 1006) before `close` was called is not a normal end: `receive`
   * throws the `EOFError` or `ConnectionResetError`, also a `PeerLostError` ("websocket",
   * "receive"), once; then it returns null. On a server, a client that just goes away ends
   * `receive` with null (`closeCode` 1006): browsers do that every day.
   *
   * Interruption point.
   * @throws {PeerLostError} on a client, when the server went away without a close frame
   * @throws {WebSocketError} never: a peer breaking the protocol gets a close frame with
   *   the matching code, and `receive` returns null
   */
  async receive(): Promise<Message | null> {
    if (this.#closed) return null;
    // A message's fragments so far live on the connection: an interrupted receive (a
    // timeout around it) leaves them for the next call.
    const message = this.#partial;
    try {
      for (;;) {
        const frame = await readFrame(
          this.#reader,
          !this.#isClient,
          this.#maxMessage,
          this.#deflate !== null,
        );
        if (frame === null) throw new EOFError(new Uint8Array(0), 2);
        if (frame.rsv1 && (frame.opcode === Opcode.continuation || frame.opcode >= 8)) {
          throw new WebSocketError(
            CloseCode.protocolError,
            "RSV1 on a continuation or control frame",
          );
        }
        switch (frame.opcode) {
          case Opcode.ping:
            if (!this.#closeSent) await this.#send(Opcode.pong, frame.payload);
            continue;
          case Opcode.pong:
            this.#lastPong = performance.now();
            continue;
          case Opcode.close:
            await this.#onClose(frame.payload);
            return null;
          case Opcode.continuation:
            if (message.parts === null) {
              throw new WebSocketError(CloseCode.protocolError, "continuation without a start");
            }
            break;
          default:
            if (message.parts !== null) {
              throw new WebSocketError(
                CloseCode.protocolError,
                "new message inside a fragmented one",
              );
            }
            message.parts = [];
            message.type = frame.opcode;
            message.compressed = frame.rsv1;
            message.size = 0;
            message.fragments = 0;
        }
        const parts = message.parts!;
        message.size += frame.payload.length;
        if (message.size > this.#maxMessage) {
          throw new WebSocketError(CloseCode.tooBig, `message over ${this.#maxMessage} bytes`);
        }
        if (++message.fragments > this.#maxFragments) {
          throw new WebSocketError(
            CloseCode.policyViolation,
            `message in more than ${this.#maxFragments} fragments`,
          );
        }
        if (frame.payload.length > 0 || parts.length === 0) parts.push(frame.payload);
        if (!frame.fin) continue;
        message.parts = null;
        let data = parts.length === 1 ? parts[0] : concatBytes(parts);
        if (message.compressed) data = this.#inflate(data);
        if (message.type === Opcode.binary) return { type: "binary", data };
        try {
          return { type: "text", data: strictUtf8.decode(data) };
        } catch {
          throw new WebSocketError(CloseCode.invalidData, "text message is not UTF-8");
        }
      }
    } catch (e) {
      if (e instanceof WebSocketError) {
        await this.#sendClose(e.code, e.message);
        this.#finish(e.code);
        return null;
      }
      if (e instanceof EOFError || e instanceof SocketError) {
        const lost = this.#isClient && !this.#closeSent && !this.#closed &&
          (e instanceof EOFError || e instanceof ConnectionResetError);
        this.#finish(CloseCode.abnormal);
        if (lost) throw markPeerLost(e, "websocket", "receive");
        return null;
      }
      if (e instanceof ClosedError && this.#closed) return null;
      throw e;
    }
  }

  /** A compressed message inflated, within `maxMessageBytes` and `maxInflateRatio`. */
  #inflate(data: Uint8Array): Uint8Array {
    const byRatio = Math.max(INFLATE_RATIO_FLOOR, this.#maxInflateRatio * data.length);
    if (byRatio >= this.#maxMessage) return this.#deflate!.decompress(data, this.#maxMessage);
    return this.#deflate!.decompress(
      data,
      byRatio,
      `${this.#maxInflateRatio} times its ${data.length} bytes (maxInflateRatio)`,
    );
  }

  async #onClose(payload: Uint8Array): Promise<void> {
    this.#closeReceived = true;
    let code: number = CloseCode.noStatus;
    if (payload.length === 1) throw new WebSocketError(CloseCode.protocolError, "bad close frame");
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      // RFC 6455 7.4 and IANA's registry: 1004-1006 and 1015 are never sent on the wire.
      const valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
        (code >= 3000 && code <= 4999);
      if (!valid) throw new WebSocketError(CloseCode.protocolError, `bad close code ${code}`);
      try {
        this.#closeReason = strictUtf8.decode(payload.subarray(2));
      } catch {
        throw new WebSocketError(CloseCode.invalidData, "close reason is not UTF-8");
      }
    }
    this.#closeCode = code;
    await this.#sendClose(code === CloseCode.noStatus ? CloseCode.normal : code, "");
    this.#finish(code);
  }

  /**
   * Sends a close frame (once) without waiting for the peer's: for a connection whose
   * messages another thread keeps receiving (`receive` answers the peer's close frame and
   * returns null). Interruption point.
   */
  sendCloseFrame(code: number = CloseCode.normal, reason = ""): Promise<void> {
    return this.#sendClose(code, reason);
  }

  /**
   * Starts the close handshake: sends a close frame, then reads (and drops) messages
   * until the peer's close frame comes, and closes the socket; all within
   * `closeTimeout`, a send under way to a peer that does not read included.
   *
   * Interruption point: an interrupted close still closes the socket.
   */
  async close(code: number = CloseCode.normal, reason = ""): Promise<void> {
    if (this.#closed) return;
    try {
      await withTimeout(this.#closeTimeout, async () => {
        await this.#sendClose(code, reason);
        while (!this.#closed && !this.#closeReceived) {
          if (await this.receive() === null) break;
        }
      });
    } catch (e) {
      if (!(e instanceof Interrupted || e instanceof SocketError || e instanceof ClosedError)) {
        throw e;
      }
    } finally {
      this.#finish(CloseCode.normal);
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

/**
 * The longest prefix of UTF-8 `bytes` of at most `max` bytes that does not cut a character
 * (a close reason must stay valid UTF-8, RFC 6455 5.5.1).
 */
function truncateUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--; // bytes[end] continues a character
  return bytes.subarray(0, end);
}
