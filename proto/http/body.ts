/**
 * Message bodies as streams: fixed length, chunked, or read to the end of the
 * connection. Every read is an interruption point.
 *
 * @module
 */

import { concatBytes } from "../../core/bytes.ts";
import type { SocketReader } from "../../net/buffered_reader.ts";
import { ConnectionResetError, EOFError, markPeerLost } from "../../net/errors.ts";
import { BodyTooLargeError, HttpProtocolError } from "./errors.ts";
import { isToken } from "./headers.ts";

const MAX_CHUNK_LINE = 4096;
// Control characters but HTAB (a bare CR is one: the line reader keeps it).
// deno-lint-ignore no-control-regex
const BAD_LINE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
const MAX_TRAILER_LINES = 100;
const EMPTY = new Uint8Array(0);

/**
 * @internal The deadline of a connection's waits on its peer, kept by the server: armed
 * before a wait for the peer (the next body bytes, room to send), disarmed after.
 */
export interface PeerDeadline {
  /** Starts the deadline of a wait of this kind. */
  arm(kind: "body" | "send"): void;
  /** Ends it. */
  disarm(): void;
  /** Disarms (for a send's `then`: made once, not per send). */
  readonly sent: () => void;
  /** Disarms and rethrows `error`, as `lost` makes it (for a send's `then`). */
  readonly failed: (error: unknown) => never;
  /**
   * An error of an operation on the connection itself, as the owner wants it thrown: a
   * server marks it as its client gone (the exchange ends quietly), a client leaves it.
   */
  readonly lost: (error: unknown) => unknown;
}

/** How the body is delimited. */
export type Framing = { kind: "chunked" } | { kind: "length"; length: number } | { kind: "close" };

/**
 * A body being received. Read it with `read` (pieces), `bytes`, `text`, `json`, or
 * iterate it; an unread body is skipped by the server before the next request.
 *
 * @example
 * ```ts ignore
 * // in a handler:
 * const data = await request.body.json();
 * ```
 */
export class BodyReader {
  readonly #reader: SocketReader;
  readonly #framing: Framing;
  readonly #limit: number;
  #left: number; // bytes left of the length, or of the current chunk
  #done: boolean;
  #total = 0;
  /** Called once before the first read (sends "100 Continue" when the client expects it). */
  onFirstRead: (() => Promise<void>) | null = null;
  /** @internal The connection's deadline, armed while a read waits for the peer. */
  deadline: PeerDeadline | null = null;
  /**
   * @internal Set by a client: a body cut short (the connection closed or reset before its
   * end) is then also a `PeerLostError` of this client and operation.
   */
  lostPeer: { client: string; operation: string } | null = null;
  /** Trailer fields of a chunked body, once it is read to the end. */
  trailers: [string, string][] = [];

  /**
   * Creates a {@linkcode BodyReader}.
   *
   * @param reader the connection's reader
   * @param framing how the body is delimited
   * @param limit the most bytes accepted (`BodyTooLargeError` beyond)
   */
  constructor(reader: SocketReader, framing: Framing, limit = Infinity) {
    this.#reader = reader;
    this.#framing = framing;
    this.#limit = limit;
    this.#left = framing.kind === "length" ? framing.length : framing.kind === "chunked" ? -1 : 0;
    this.#done = framing.kind === "length" && framing.length === 0;
    if (framing.kind === "length" && framing.length > limit) {
      // Known too large up front: refuse before reading anything.
      this.#done = true;
      this.#tooLarge = true;
    }
  }
  #tooLarge = false;

  /** The declared length, or null (chunked, read to close). */
  get length(): number | null {
    return this.#framing.kind === "length" ? this.#framing.length : null;
  }

  /** Whether the whole body has been read. */
  get done(): boolean {
    return this.#done;
  }

  /** Bytes read so far. */
  get received(): number {
    return this.#total;
  }

  /** @internal Whether the declared length is over the limit (answered with 413). */
  get tooLarge(): boolean {
    return this.#tooLarge;
  }

  #count(n: number): void {
    this.#total += n;
    if (this.#total > this.#limit) throw new BodyTooLargeError(this.#limit);
  }

  /**
   * The next piece of the body (at most `max` bytes; a view valid until the next read),
   * or an empty array at its end.
   *
   * Interruption point: nothing is lost; the next read continues where this one was.
   * @throws {BodyTooLargeError} past the limit
   * @throws {HttpProtocolError} for a malformed chunk or a body cut short (for a client's
   *   response, also a `PeerLostError`, as a reset is)
   */
  async read(max = 65536): Promise<Uint8Array> {
    if (this.#tooLarge) throw new BodyTooLargeError(this.#limit);
    if (this.#done) return EMPTY;
    if (this.onFirstRead !== null) {
      const first = this.onFirstRead;
      this.onFirstRead = null;
      await first();
    }
    const deadline = this.deadline;
    if (deadline === null && this.lostPeer === null) return await this.#read(max);
    deadline?.arm("body");
    try {
      return await this.#read(max);
    } catch (e) {
      if (deadline !== null) deadline.lost(e);
      throw e instanceof ConnectionResetError ? this.#lost(e) : e;
    } finally {
      deadline?.disarm();
    }
  }

  /** `error`, marked as a lost peer when a client reads this body. */
  #lost<E extends Error>(error: E): E {
    const peer = this.lostPeer;
    return peer === null ? error : markPeerLost(error, peer.client, peer.operation);
  }

  async #read(max: number): Promise<Uint8Array> {
    const reader = this.#reader;
    switch (this.#framing.kind) {
      case "length": {
        const piece = await reader.readSome(Math.min(max, this.#left));
        if (piece.length === 0) {
          throw this.#lost(
            new HttpProtocolError(`body ended ${this.#left} bytes short of its length`),
          );
        }
        this.#left -= piece.length;
        if (this.#left === 0) this.#done = true;
        this.#count(piece.length);
        return piece;
      }
      case "close": {
        const piece = await reader.readSome(max);
        if (piece.length === 0) this.#done = true;
        else this.#count(piece.length);
        return piece;
      }
      case "chunked": {
        if (this.#left <= 0) {
          if (this.#left === 0) await this.#chunkEnd();
          const size = await this.#chunkSize();
          if (size === 0) {
            await this.#readTrailers();
            this.#done = true;
            return EMPTY;
          }
          this.#left = size;
        }
        const piece = await reader.readSome(Math.min(max, this.#left));
        if (piece.length === 0) throw this.#lost(new HttpProtocolError("chunked body cut short"));
        this.#left -= piece.length;
        this.#count(piece.length);
        return piece;
      }
    }
  }

  async #chunkEnd(): Promise<void> {
    // Anything but CRLF after the data, however long, is the client's error (400).
    const line = await this.#line(2, "chunk not followed by CRLF");
    if (line !== "") throw new HttpProtocolError("chunk not followed by CRLF");
  }

  async #chunkSize(): Promise<number> {
    const line = await this.#line();
    // Extensions are ignored, but a bare CR or another control character in one is
    // refused (RFC 9112 7.1.1): parsers that differ on it can be made to disagree.
    if (BAD_LINE_CHAR.test(line)) throw new HttpProtocolError("control character in a chunk line");
    const text = line.split(";")[0].trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(text)) {
      throw new HttpProtocolError(`bad chunk size "${text.slice(0, 20)}"`);
    }
    return parseInt(text, 16);
  }

  /** A line of the chunked framing; its faults are the client's (HttpProtocolError, 400). */
  async #line(max = MAX_CHUNK_LINE, tooLong = "chunk line too long"): Promise<string> {
    let line: string | null;
    try {
      line = await this.#reader.readLine(max);
    } catch (e) {
      if (e instanceof EOFError) throw this.#lost(new HttpProtocolError("chunked body cut short"));
      if (e instanceof Error && e.name === "TooLongError") throw new HttpProtocolError(tooLong);
      throw e;
    }
    if (line === null) throw this.#lost(new HttpProtocolError("chunked body cut short"));
    return line;
  }

  async #readTrailers(): Promise<void> {
    for (let i = 0; i <= MAX_TRAILER_LINES; i++) {
      const line = await this.#line();
      if (line === "") return;
      // As header fields (RFC 9112 5): a token name right before the colon, no obsolete
      // line folding (a line starting with whitespace), no control character in the value.
      const colon = line.indexOf(":");
      if (colon <= 0) throw new HttpProtocolError("bad trailer line");
      const name = line.slice(0, colon);
      if (!isToken(name)) throw new HttpProtocolError("bad trailer field name");
      const value = line.slice(colon + 1).trim();
      if (BAD_LINE_CHAR.test(value)) throw new HttpProtocolError(`bad value for trailer ${name}`);
      this.trailers.push([name.toLowerCase(), value]);
    }
    throw new HttpProtocolError("too many trailer lines");
  }

  /** The whole body as bytes. Interruption point. @throws {BodyTooLargeError} */
  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (;;) {
      const piece = await this.read();
      if (piece.length === 0) break;
      parts.push(piece.slice());
    }
    return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts);
  }

  /** The whole body decoded as UTF-8. Interruption point. */
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  /** The whole body parsed as JSON. Interruption point. @throws {SyntaxError} */
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  /**
   * Reads and drops the rest of the body, up to `max` bytes; false if more remained
   * (the connection cannot be reused then). Interruption point.
   */
  async skip(max: number): Promise<boolean> {
    if (this.#tooLarge) return false;
    let skipped = 0;
    while (!this.#done) {
      if (skipped >= max) return false;
      skipped += (await this.read(Math.min(65536, max - skipped))).length;
    }
    return true;
  }

  /** The body piece by piece (copies). */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const piece = await this.read();
      if (piece.length === 0) return;
      yield piece.slice();
    }
  }
}

/**
 * A request body arriving in DATA frames. The same API as on HTTP/1.1; each read returns
 * the window it frees to the peer (a slow reader holds back only its own stream).
 *
 * Reads are interruption points; a read that waits longer than the server's body timeout
 * resets the stream and throws {@linkcode PeerTimeoutError} (a `TimeoutError`), and a
 * read on a stream the peer reset throws `StreamResetError`.
 *
 * @example
 * ```ts ignore
 * // in a handler, on either protocol:
 * const data = await request.body.json();
 * ```
 */
export abstract class Http2BodyReader extends BodyReader {
  // Implemented in h2/request.ts, loaded with the HTTP/2 connection code (_h2_lazy.ts):
  // this class is what `instanceof` and the docs need, without that code.
}
