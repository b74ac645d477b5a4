/**
 * Buffered reading from a socket for protocol parsers: lines, delimited heads, exact
 * counts, without copying more than needed.
 *
 * @module
 */

import { ShrapnelError } from "../core/errors.ts";
import { EOFError } from "./errors.ts";
import type { Socket } from "./socket.ts";

/** A line or head was longer than the limit given; nothing was consumed. */
export class TooLongError extends ShrapnelError {
  /** The limit, in bytes. */
  readonly limit: number;
  /**
   * Creates a {@linkcode TooLongError}.
   *
   * @param what what was too long; @param limit the limit in bytes
   */
  constructor(what: string, limit: number) {
    super(`${what} longer than ${limit} bytes`);
    this.limit = limit;
  }
}

const LATIN1 = new TextDecoder("latin1");

/**
 * Reads a socket through a buffer. Views returned by `readHead`/`readSome` are valid until
 * the next read (copy them to keep them).
 *
 * Every read is an interruption point; bytes already buffered stay buffered, so an
 * interrupted read loses nothing.
 *
 * @example
 * ```ts
 * import { SocketReader, socketPair, spawn } from "../mod.ts";
 * await spawn(async () => {
 *   const [a, b] = await socketPair();
 *   await a.send(new TextEncoder().encode("hello\r\nworld"));
 *   const reader = new SocketReader(b);
 *   console.log(await reader.readLine(100)); // "hello"
 *   a.close();
 *   b.close();
 * }).join();
 * ```
 */
export class SocketReader {
  /** The socket read from. */
  readonly socket: Socket;
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #eof = false;
  /** The last head view returned: requests of one size share it. */
  #headView: Uint8Array | null = null;

  /**
   * Creates a {@linkcode SocketReader}.
   *
   * @param socket the socket; @param size the initial buffer size (grows as needed)
   */
  constructor(socket: Socket, size = 16384) {
    this.socket = socket;
    this.#buf = new Uint8Array(size);
  }

  /** Bytes buffered and not yet consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Whether the peer has ended the stream (more buffered bytes may remain). */
  get ended(): boolean {
    return this.#eof;
  }

  /** The buffered bytes (a view; consume them with `skip`). */
  peek(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Consumes `n` buffered bytes. */
  skip(n: number): void {
    this.#start = Math.min(this.#start + n, this.#end);
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Puts bytes back in front of the buffer (for a hand-off, e.g. an upgrade). */
  unshift(data: Uint8Array): void {
    const rest = this.peek().slice();
    this.#ensureRoom(data.length + rest.length);
    this.#buf.set(data, 0);
    this.#buf.set(rest, data.length);
    this.#start = 0;
    this.#end = data.length + rest.length;
  }

  #ensureRoom(size: number): void {
    if (this.#buf.length - this.#start >= size) return;
    const length = this.#end - this.#start;
    if (this.#buf.length >= size) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      const bigger = new Uint8Array(Math.max(size, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = bigger;
      this.#headView = null;
    }
    this.#start = 0;
    this.#end = length;
  }

  /**
   * Reads more from the socket into the buffer; false at the end of the stream.
   * Interruption point.
   */
  async fill(): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#end === this.#buf.length) {
      this.#ensureRoom(this.#end - this.#start + 4096);
    }
    const n = await this.socket.recvInto(this.#buf.subarray(this.#end));
    if (n === 0) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /**
   * Reads what the socket has now into the buffer, without waiting: true if bytes came,
   * false at the end of the stream, null if none are there yet (wait with
   * `socket.waitForRead()`, then call again). Saves the frames of `fill` where a wait is
   * the rule, as between requests on a keep-alive connection.
   *
   * @example
   * ```ts ignore
   * let more: boolean | null;
   * while ((more = reader.fillNow()) === null) await reader.socket.waitForRead();
   * ```
   */
  fillNow(): boolean | null {
    if (this.#eof) return false;
    if (this.#end === this.#buf.length) {
      this.#ensureRoom(this.#end - this.#start + 4096);
    }
    // An empty buffer is read into whole: no view to make (the common case between requests).
    const n = this.socket.tryRecvInto(this.#end === 0 ? this.#buf : this.#buf.subarray(this.#end));
    if (n < 0) return null;
    if (n === 0) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /**
   * The head already buffered, if a whole one is (see `readHead`), consumed; else null
   * and nothing consumed. Synchronous: the common case of a request that came in one
   * piece costs no wait.
   * @throws {TooLongError} if a blank line comes only after `limit` bytes
   */
  takeHead(limit: number): Uint8Array | null {
    const buf = this.#buf, start = this.#start, end = this.#end;
    for (let i = start + 1; i < end; i++) {
      if (buf[i] !== 10) continue;
      const prev = buf[i - 1];
      if (prev === 10 || (prev === 13 && i - 2 >= start && buf[i - 2] === 10)) {
        const length = i + 1 - start;
        if (length > limit) throw new TooLongError("head", limit);
        this.#start = i + 1;
        if (this.#start === this.#end) this.#start = this.#end = 0;
        // Views are valid until the next read: a head the size and place of the last
        // one (a client repeating its request) gets the same view, not a new one.
        const last = this.#headView;
        if (last !== null && last.length === length && last.byteOffset === start) return last;
        return this.#headView = buf.subarray(start, start + length);
      }
    }
    return null;
  }

  /**
   * Reads up to and including the first blank line (CRLF CRLF, or LF LF): an HTTP head.
   * Returns a view of it, or null if the stream ended before any byte came.
   * @throws {TooLongError} if no blank line comes within `limit` bytes
   * @throws {EOFError} if the stream ends inside the head
   */
  async readHead(limit: number): Promise<Uint8Array | null> {
    for (;;) {
      const head = this.takeHead(limit);
      if (head !== null) return head;
      const scanned = this.#end - this.#start;
      if (scanned > limit) throw new TooLongError("head", limit);
      if (!await this.fill()) {
        if (scanned === 0) return null;
        throw new EOFError(this.peek().slice(), scanned + 1);
      }
    }
  }

  /**
   * Reads one line (without its CRLF or LF), decoded as Latin-1; null at the end of the
   * stream with nothing buffered.
   * @throws {TooLongError} if the line is longer than `limit`
   */
  async readLine(limit: number): Promise<string | null> {
    let scanned = 0;
    for (;;) {
      const buf = this.#buf, start = this.#start, end = this.#end;
      for (let i = start + scanned; i < end; i++) {
        if (buf[i] !== 10) continue;
        const lineEnd = i > start && buf[i - 1] === 13 ? i - 1 : i;
        if (lineEnd - start > limit) throw new TooLongError("line", limit);
        const line = LATIN1.decode(buf.subarray(start, lineEnd));
        this.#start = i + 1;
        if (this.#start === this.#end) this.#start = this.#end = 0;
        return line;
      }
      scanned = end - start;
      if (scanned > limit + 1) throw new TooLongError("line", limit);
      if (!await this.fill()) {
        if (scanned === 0) return null;
        const line = LATIN1.decode(this.peek());
        this.#start = this.#end = 0;
        return line;
      }
    }
  }

  /**
   * Waits until at least `n` bytes are buffered, consuming nothing: false if the stream
   * ends first (what came stays buffered). For parsers that must take a unit whole or
   * not at all: an interruption here leaves the reader where it was.
   * Interruption point.
   *
   * @example
   * ```ts ignore
   * if (!await reader.fillTo(4)) throw new Error("the stream ended");
   * const length = new DataView(reader.peek().buffer, reader.peek().byteOffset).getUint32(0);
   * ```
   */
  async fillTo(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      this.#ensureRoom(n);
      if (!await this.fill()) return false;
    }
    return true;
  }

  /**
   * Reads exactly `n` bytes (a copy).
   * @throws {EOFError} with the bytes that came, if the stream ends first
   */
  async readExact(n: number): Promise<Uint8Array> {
    while (this.#end - this.#start < n) {
      this.#ensureRoom(n);
      if (!await this.fill()) {
        const partial = this.peek().slice();
        this.#start = this.#end = 0;
        throw new EOFError(partial, n);
      }
    }
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.skip(n);
    return out;
  }

  /**
   * Reads what is buffered (or, if nothing is, what the next receive brings), at most
   * `max` bytes: a view valid until the next read. Empty at the end of the stream.
   */
  async readSome(max: number): Promise<Uint8Array> {
    if (this.#start === this.#end && !await this.fill()) return new Uint8Array(0);
    const n = Math.min(max, this.#end - this.#start);
    const out = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return out;
  }
}
