/**
 * The socket contract shared by both backends (the FFI poller and Deno's own API), with
 * the logic they share: exact reads, full writes, scatter/gather fallbacks.
 *
 * @module
 */

import { readvSizes } from "./_io_lengths.ts";
import { ClosedError } from "../core/errors.ts";
import type { Address } from "./address.ts";
import { EOFError } from "./errors.ts";

/** "stream" (TCP, unix stream) or "datagram" (UDP, unix datagram). */
export type SocketType = "stream" | "datagram";

/** "ipv4", "ipv6" or "unix". */
export type SocketFamily = Address["family"];

/** Which half of a connection {@linkcode Socket.shutdown} closes. */
export type ShutdownHow = "read" | "write" | "both";

/** Options understood by `setOption`/`getOption` on both backends (where possible). */
export type SocketOption =
  | "SO_REUSEADDR"
  | "SO_REUSEPORT"
  | "SO_KEEPALIVE"
  | "SO_RCVBUF"
  | "SO_SNDBUF"
  | "SO_ERROR"
  | "SO_BROADCAST"
  | "TCP_NODELAY"
  | "IPV6_V6ONLY"
  | "SO_TYPE";

/** Which backend a socket runs on. */
export type BackendName = "ffi" | "deno";

/**
 * A socket whose blocking calls block only the calling thread. Every blocking call is an
 * interruption point: when interrupted (by `interrupt`, `withTimeout`, `shutdown`), the
 * call stops waiting and throws the error, and no data is lost (bytes that arrive later
 * are read by the next call). `close()` makes the calls of threads waiting on the socket
 * throw {@linkcode ClosedError}. Two threads waiting on the same direction at once is a
 * `SimultaneousError`.
 *
 * @example
 * ```ts
 * import { spawn, tcpSocket } from "../mod.ts";
 * await spawn(async () => {
 *   const server = tcpSocket();
 *   server.bind({ family: "ipv4", host: "127.0.0.1", port: 0 });
 *   server.listen();
 *   const client = tcpSocket();
 *   await client.connect(server.localAddress());
 *   const [conn] = await server.accept();
 *   await client.send(new TextEncoder().encode("hi"));
 *   console.log(new TextDecoder().decode(await conn.recvExact(2))); // "hi"
 *   for (const s of [client, conn, server]) s.close();
 * }).join();
 * ```
 */
export abstract class Socket {
  /** "ipv4", "ipv6" or "unix". */
  abstract readonly family: SocketFamily;
  /** "stream" or "datagram". */
  abstract readonly type: SocketType;
  /** The backend this socket runs on. */
  abstract readonly backend: BackendName;

  /** Whether `close()` was called. */
  abstract get closed(): boolean;

  /**
   * Reads into `buffer`; returns how many bytes arrived (at least 1), or 0 at the end of
   * the stream. Blocks until some data is there.
   * @throws {ClosedError} if the socket is (or gets) closed
   */
  abstract recvInto(buffer: Uint8Array): Promise<number>;

  /**
   * Reads into `buffer` only what is there now, without blocking: the bytes read, 0 at
   * the end of the stream, or -1 if nothing can be read yet (then `waitForRead` and try
   * again). A thread that keeps finding data is told -1 now and then so that it takes its
   * turn in `waitForRead` (fairness), as the blocking calls do.
   *
   * @example
   * ```ts ignore
   * let n: number;
   * while ((n = socket.tryRecvInto(buffer)) < 0) await socket.waitForRead();
   * ```
   * @throws {ClosedError} if the socket is closed
   */
  abstract tryRecvInto(buffer: Uint8Array): number;

  /**
   * Writes some of `data` (at least 1 byte unless `data` is empty); returns how many
   * bytes were taken. Blocks until the socket can take some.
   */
  abstract sendSome(data: Uint8Array): Promise<number>;

  /**
   * Receives one datagram of at most `size` bytes and its sender.
   */
  abstract recvFrom(size: number): Promise<[Uint8Array, Address]>;

  /** Sends one datagram to `address`; returns the bytes sent. */
  abstract sendTo(data: Uint8Array, address: Address | string): Promise<number>;

  /** Accepts one connection: the new socket and the peer's address. */
  abstract accept(): Promise<[Socket, Address]>;

  /**
   * Waits until at least one connection is pending, then accepts as many as are queued,
   * up to `max`, without blocking again.
   */
  abstract acceptMany(max: number): Promise<[Socket, Address][]>;

  /**
   * Connects to `address` ("host:port", "[v6]:port", "/unix/path" or an {@linkcode Address});
   * host names go through the resolver (see `setResolver`).
   * @throws {ConnectionRefusedError} if nobody listens there
   */
  abstract connect(address: Address | string): Promise<void>;

  /** Binds to a local address (SO_REUSEADDR is set first for stream sockets). */
  abstract bind(address: Address | string): void;

  /** Starts listening for connections. */
  abstract listen(backlog?: number): void;

  /** Closes one or both halves of the connection. */
  abstract shutdown(how?: ShutdownHow): void;

  /**
   * Closes the socket. Threads waiting on it get {@linkcode ClosedError}; later calls
   * throw it too. Closing twice is harmless.
   */
  abstract close(): void;

  /** The local address (BSD's getsockname). */
  abstract localAddress(): Address;

  /** The peer's address (BSD's getpeername). */
  abstract remoteAddress(): Address;

  /** Sets an option, booleans as 1/0 (BSD's setsockopt). */
  abstract setOption(option: SocketOption, value: number | boolean): void;

  /** Reads an option (BSD's getsockopt). */
  abstract getOption(option: SocketOption): number;

  /** @deprecated Renamed {@linkcode Socket.localAddress} (camelCase, as `recvFrom`). */
  getsockname(): Address {
    return this.localAddress();
  }

  /** @deprecated Renamed {@linkcode Socket.remoteAddress} (camelCase, as `recvFrom`). */
  getpeername(): Address {
    return this.remoteAddress();
  }

  /** @deprecated Renamed {@linkcode Socket.setOption} (camelCase, as `recvFrom`). */
  setsockopt(option: SocketOption, value: number | boolean): void {
    this.setOption(option, value);
  }

  /** @deprecated Renamed {@linkcode Socket.getOption} (camelCase, as `recvFrom`). */
  getsockopt(option: SocketOption): number {
    return this.getOption(option);
  }

  /** Blocks until the socket has something to read (or is at its end). */
  abstract waitForRead(): Promise<void>;

  /** Blocks until the socket can take more data. */
  abstract waitForWrite(): Promise<void>;

  /**
   * Reads up to `size` bytes; returns them (empty at the end of the stream).
   *
   * Interruption point: see the class notes.
   */
  async recv(size: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(size);
    const n = await this.recvInto(buffer);
    return n === size ? buffer : buffer.subarray(0, n);
  }

  /**
   * Reads exactly `size` bytes.
   * @throws {EOFError} carrying the bytes that did arrive if the stream ends first
   */
  async recvExact(size: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = await this.recvInto(buffer.subarray(got));
      if (n === 0) throw new EOFError(buffer.slice(0, got), size);
      got += n;
    }
    return buffer;
  }

  /**
   * Writes all of `data` (looping over partial writes) and returns its length. Shrapnel's
   * `send` is its `sendall`: so is ours.
   *
   * Interruption point: an interrupted send has written a prefix of `data`, and no more.
   */
  async send(data: Uint8Array): Promise<number> {
    let sent = 0;
    while (sent < data.length) sent += await this.sendSome(data.subarray(sent));
    return data.length;
  }

  /**
   * Same as {@linkcode Socket.send}, for data in a buffer the caller reuses as soon as
   * this returns (a scratch buffer): what the kernel does not take at once is copied
   * before the wait. Saves the allocation of a buffer per message where writes rarely
   * block (the FFI backend writes synchronously; the Deno backend always copies).
   *
   * Interruption point: as `send`.
   *
   * @example
   * ```ts ignore
   * const n = new TextEncoder().encodeInto(reply, scratch).written;
   * await socket.sendBorrowed(scratch.subarray(0, n));
   * ```
   */
  sendBorrowed(data: Uint8Array): Promise<number> {
    return this.send(data.slice());
  }

  /**
   * Writes what the kernel takes of `data` right now, without blocking or yielding;
   * returns how many bytes it took: all of them in the common case, fewer (even 0) when
   * the socket is full, when this thread has had its turn (it should now yield, which
   * `send` does), or always 0 where the backend cannot write synchronously (the Deno
   * backend). Send the rest with `send` or `sendBorrowed`. Never blocks, so it is not an
   * interruption point.
   *
   * @example
   * ```ts ignore
   * const taken = socket.trySend(reply);
   * if (taken < reply.length) await socket.sendBorrowed(reply.subarray(taken));
   * ```
   * @throws {ClosedError} if the socket is closed
   * @throws {ConnectionResetError} if the peer is gone
   */
  trySend(_data: Uint8Array): number {
    this.checkOpen("send");
    return 0;
  }

  /** Same as {@linkcode Socket.send}. */
  sendAll(data: Uint8Array): Promise<number> {
    return this.send(data);
  }

  /**
   * Reads up to the total of `sizes` in as few calls as possible; returns one buffer per
   * size, filled in order (the last ones may be short or missing when less arrived).
   * @throws {RangeError} unless there are at most 1024 sizes, each and their total an
   *   integer from 0 to 2^31-1
   */
  async readv(sizes: readonly number[]): Promise<Uint8Array[]> {
    const { lengths, total } = readvSizes(sizes);
    const data = await this.recv(total);
    const out: Uint8Array[] = [];
    let offset = 0;
    for (const size of lengths) {
      if (offset >= data.length) break;
      out.push(data.subarray(offset, Math.min(offset + size, data.length)));
      offset += size;
    }
    return out;
  }

  /** Writes all the buffers, in order; returns the total written. */
  async writev(buffers: readonly Uint8Array[]): Promise<number> {
    let total = 0;
    for (const b of buffers) total += await this.send(b);
    return total;
  }

  /** Throws {@linkcode ClosedError} if the socket is closed. */
  protected checkOpen(operation: string): void {
    if (this.closed) throw new ClosedError(`${operation} on a closed socket`);
  }
}
