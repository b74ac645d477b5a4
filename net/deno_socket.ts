/**
 * The portable socket backend, on Deno's own `Deno.listen`, `Deno.connect` and
 * `Deno.listenDatagram` (the last needs `--unstable-net`). Used where the FFI shim is not
 * available (no C compiler, no `--allow-ffi`, Windows) or when `SHRAPNEL_BACKEND=deno`.
 *
 * Deno's operations cannot be withdrawn once started, so an interrupted call leaves its
 * operation running and the socket keeps it: the next call of the same kind takes its
 * result. Reads land in the socket's own buffer, so an interrupted `recv` loses nothing.
 *
 * @module
 */

import { ClosedError, SimultaneousError } from "../core/errors.ts";
import {
  _reportThreadError,
  _takePendingInterrupt,
  current,
  currentFor,
  type Thread,
} from "../core/thread.ts";
import { waitFor } from "../core/wait_for.ts";
import { type Address, formatAddress, parseAddress } from "./address.ts";
import { SocketError, TlsError, TlsProtocolError, UnsupportedOperationError } from "./errors.ts";
import { resolveAddress } from "./resolver.ts";
import { shutDownHeldConnection } from "./_stuck_descriptor.ts";
import {
  type BackendName,
  type ShutdownHow,
  Socket,
  type SocketFamily,
  type SocketOption,
  type SocketType,
} from "./socket.ts";

/** An operation's outcome, kept so that a later call can take it. */
type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  );
}

const READ_BUFFER_SIZE = 65536;
const MIN_READ_BUFFER = 4096;
const ANY_HOST = { ipv4: "0.0.0.0", ipv6: "::" } as const;

const ERROR_CODES: [new (...args: never[]) => Error, string][] = [
  [Deno.errors.ConnectionRefused, "ECONNREFUSED"],
  [Deno.errors.ConnectionReset, "ECONNRESET"],
  [Deno.errors.ConnectionAborted, "ECONNABORTED"],
  [Deno.errors.BrokenPipe, "EPIPE"],
  [Deno.errors.AddrInUse, "EADDRINUSE"],
  [Deno.errors.AddrNotAvailable, "EADDRNOTAVAIL"],
  [Deno.errors.NotConnected, "ENOTCONN"],
  [Deno.errors.TimedOut, "ETIMEDOUT"],
  [Deno.errors.NotFound, "ENOENT"],
  [Deno.errors.PermissionDenied, "EACCES"],
  [Deno.errors.AlreadyExists, "EADDRINUSE"],
];

/**
 * Deno's error for a socket operation as one of ours: `ClosedError` for a resource that
 * was closed, a {@linkcode SocketError} subclass otherwise.
 */
export function fromDenoError(error: unknown, syscall: string, detail = ""): Error {
  if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
    return new ClosedError(`${syscall} on a closed socket`);
  }
  if (!(error instanceof Error)) return new SocketError(String(error), syscall, detail);
  for (const [kind, code] of ERROR_CODES) {
    if (error instanceof kind) return withCause(SocketError.from(code, syscall, detail), error);
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
    return withCause(SocketError.from(code, syscall, detail), error);
  }
  const osError = /os error (\d+)/.exec(error.message);
  if (osError !== null && OS_ERRORS[osError[1]] !== undefined) {
    return withCause(SocketError.from(OS_ERRORS[osError[1]], syscall, detail), error);
  }
  return withCause(new SocketError("EIO", syscall, `${detail} ${error.message}`.trim()), error);
}

// TLS's errors live with the other socket errors; re-exported where they were.
export { TlsError, TlsProtocolError };

/**
 * The error of a failed handshake, as a {@linkcode TlsError}, or a {@linkcode TlsProtocolError}
 * when the peer sent what is not TLS.
 */
export function tlsError(error: unknown): Error {
  if (
    error instanceof Deno.errors.InvalidData || error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.UnexpectedEof
  ) {
    const message = (error as Error).message;
    // rustls's words for bytes that are not TLS, or TLS out of order: the peer's fault.
    const e = /corrupt message|peer misbehaved/i.test(message)
      ? new TlsProtocolError("handshake", message)
      : new TlsError("ETLS", "handshake", message);
    (e as { cause?: unknown }).cause = error;
    return e;
  }
  return fromDenoError(error, "handshake");
}

/** Linux errno numbers Deno reports only in messages. */
const OS_ERRORS: Record<string, string> = {
  "12": "ENOMEM",
  "23": "ENFILE",
  "24": "EMFILE",
  "71": "EPROTO",
  "90": "EMSGSIZE",
  "105": "ENOBUFS",
};

function withCause(e: SocketError, cause: Error): SocketError {
  (e as { cause?: unknown }).cause = cause;
  return e;
}

function toAddress(addr: Deno.Addr): Address {
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return { family: "unix", path: (addr as Deno.UnixAddr).path ?? "" };
  }
  const { hostname, port } = addr as Deno.NetAddr;
  return { family: hostname.includes(":") ? "ipv6" : "ipv4", host: hostname, port };
}

/**
 * A socket on Deno's own networking API. Made by the constructors (`tcpSocket()`...) when
 * the portable backend is in use.
 */
export class DenoSocket extends Socket {
  /** "ipv4", "ipv6" or "unix". */
  readonly family: SocketFamily;
  /** "stream" or "datagram". */
  readonly type: SocketType;
  /** Always "deno". */
  readonly backend: BackendName = "deno";
  #conn: Deno.Conn | null = null;
  #listener: Deno.Listener | null = null;
  #datagram: Deno.DatagramConn | null = null;
  #closed = false;
  #reader: Thread | null = null;
  #writer: Thread | null = null;
  #inbox: Uint8Array | null = null;
  #inStart = 0;
  #inEnd = 0;
  #reading: Promise<Outcome<number | null>> | null = null;
  #atEnd = false;
  #readShut = false;
  #writing: Promise<Outcome<number>> | null = null;
  #accepting: Promise<Outcome<Deno.Conn>> | null = null;
  #receiving: Promise<Outcome<[Uint8Array, Deno.Addr]>> | null = null;
  #connecting = false;
  /** A TLS connection whose handshake has not completed (Deno runs it in the first read). */
  #handshakePending = false;
  #handshaking: Promise<Outcome<Deno.TlsHandshakeInfo>> | null = null;
  #options = new Map<SocketOption, number>();
  #unixPath: string | null = null;

  /** @internal */
  constructor(family: SocketFamily, type: SocketType, conn: Deno.Conn | null = null) {
    super();
    this.family = family;
    this.type = type;
    this.#conn = conn;
    this.#handshakePending = conn !== null && "handshake" in conn;
  }

  /** @internal Whether this is a TLS connection (an `https` server's, a `startTls` one). */
  get _tls(): boolean {
    return this.#conn !== null && "handshake" in this.#conn;
  }

  /** @internal Whether this is a TLS connection whose handshake has not completed yet. */
  get _handshakePending(): boolean {
    return this.#handshakePending;
  }

  /** Whether {@linkcode close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal Waits on `promise` as the thread reading (or writing) this socket. */
  async #wait<T>(promise: Promise<T>, reading: boolean, operation: string): Promise<T> {
    const me = currentFor(operation);
    const other = reading ? this.#reader : this.#writer;
    if (other !== null && other !== me) {
      throw new SimultaneousError(
        `${other} already waits to ${reading ? "read" : "write"} ${this}`,
      );
    }
    if (reading) this.#reader = me;
    else this.#writer = me;
    try {
      return await waitFor(promise, `${operation} on ${this}`);
    } finally {
      if (reading) {
        if (this.#reader === me) this.#reader = null;
      } else if (this.#writer === me) this.#writer = null;
    }
  }

  #stream(operation: string): Deno.Conn {
    this.checkOpen(operation);
    if (this.#conn === null) throw new SocketError("ENOTCONN", operation, String(this));
    return this.#conn;
  }

  /**
   * The buffer the next read lands in: as large as the largest read asked for so far
   * (within bounds), so that an idle connection holds 4 KiB, not 64.
   */
  #inboxFor(wanted: number): Uint8Array {
    const size = Math.min(Math.max(wanted, MIN_READ_BUFFER), READ_BUFFER_SIZE);
    if (this.#inbox === null || this.#inbox.length < size) this.#inbox = new Uint8Array(size);
    return this.#inbox;
  }

  /** Fills the inbox with the next read (or notes the end); false at the end of the stream. */
  async #fill(operation: string, wanted: number): Promise<boolean> {
    while (this.#inStart === this.#inEnd) {
      if (this.#atEnd || this.#readShut) return false;
      const conn = this.#stream(operation);
      // A pending read owns the inbox it was given: never swap the inbox under it.
      if (this.#reading === null) this.#reading = settle(conn.read(this.#inboxFor(wanted)));
      const outcome = await this.#wait(this.#reading, true, operation);
      this.#reading = null;
      this.checkOpen(operation);
      if (!outcome.ok) throw fromDenoError(outcome.error, operation);
      if (outcome.value === null) this.#atEnd = true;
      else {
        this.#handshakePending = false;
        this.#inStart = 0;
        this.#inEnd = outcome.value;
      }
    }
    return true;
  }

  /**
   * Reads into `buffer`; returns the bytes read, 0 at the end of the stream.
   *
   * Interruption point: nothing is lost; the read in progress is kept for the next call.
   */
  async recvInto(buffer: Uint8Array): Promise<number> {
    const interrupted = _takePendingInterrupt(); // a checkpoint even with data there
    if (interrupted !== undefined) return interrupted;
    if (buffer.length === 0) return 0;
    if (!await this.#fill("recv", buffer.length)) return 0;
    const n = Math.min(buffer.length, this.#inEnd - this.#inStart);
    buffer.set(this.#inbox!.subarray(this.#inStart, this.#inStart + n));
    this.#inStart += n;
    return n;
  }

  /** Takes what the last read brought in, without blocking (see `Socket.tryRecvInto`). */
  tryRecvInto(buffer: Uint8Array): number {
    this.#stream("recv");
    if (buffer.length === 0) return 0;
    const n = Math.min(buffer.length, this.#inEnd - this.#inStart);
    if (n > 0) {
      buffer.set(this.#inbox!.subarray(this.#inStart, this.#inStart + n));
      this.#inStart += n;
      return n;
    }
    return this.#atEnd || this.#readShut ? 0 : -1;
  }

  /**
   * Writes some of `data`; returns how many bytes Deno took.
   *
   * Interruption point: a write already handed to Deno completes in the background (the
   * next write waits for it); don't change `data` until then.
   */
  async sendSome(data: Uint8Array): Promise<number> {
    if (data.length === 0) return 0;
    const conn = this.#stream("send");
    if (this.#writing !== null) {
      await this.#wait(this.#writing, false, "send");
      this.#writing = null;
    }
    const writing = this.#writing = settle(conn.write(data));
    const outcome = await this.#wait(writing, false, "send");
    this.#writing = null;
    if (!outcome.ok) throw fromDenoError(outcome.error, "send");
    return outcome.value;
  }

  #udp(operation: string): Deno.DatagramConn {
    this.checkOpen(operation);
    if (this.#datagram === null) {
      if (this.family === "unix") throw new SocketError("ENOTCONN", operation, String(this));
      this.bind({ family: this.family, host: "", port: 0 });
    }
    return this.#datagram!;
  }

  /**
   * Receives one datagram (truncated to `size`) and its sender.
   *
   * Interruption point: the receive in progress is kept for the next call.
   */
  async recvFrom(size: number): Promise<[Uint8Array, Address]> {
    const udp = this.#udp("recvfrom");
    this.#receiving ??= settle(udp.receive());
    const outcome = await this.#wait(this.#receiving, true, "recvfrom");
    this.#receiving = null;
    if (!outcome.ok) throw fromDenoError(outcome.error, "recvfrom");
    const [data, from] = outcome.value;
    return [data.length > size ? data.slice(0, size) : data, toAddress(from)];
  }

  /**
   * Sends one datagram to `address` (names go through the resolver).
   *
   * Interruption point: a send already handed to Deno completes.
   */
  async sendTo(data: Uint8Array, address: Address | string): Promise<number> {
    const udp = this.#udp("sendto");
    const target = await this.#resolve(address);
    if (target.family === "unix") throw new UnsupportedOperationError("sendTo a unix path", "deno");
    const outcome = await this.#wait(
      settle(udp.send(data, { transport: "udp", hostname: target.host, port: target.port })),
      false,
      "sendto",
    );
    if (!outcome.ok) throw fromDenoError(outcome.error, "sendto", formatAddress(target));
    return outcome.value;
  }

  async #acceptOne(): Promise<[Socket, Address]> {
    this.checkOpen("accept");
    const listener = this.#listener;
    if (listener === null) throw new SocketError("EINVAL", "accept", `${this} is not listening`);
    this.#accepting ??= settle(listener.accept());
    const outcome = await this.#wait(this.#accepting, true, "accept");
    this.#accepting = null;
    if (!outcome.ok) throw fromDenoError(outcome.error, "accept");
    const conn = outcome.value;
    return [new DenoSocket(this.family, "stream", conn), toAddress(conn.remoteAddr)];
  }

  /**
   * Accepts one connection.
   *
   * Interruption point: an accept in progress is kept; the next call returns its connection.
   */
  accept(): Promise<[Socket, Address]> {
    return this.#acceptOne();
  }

  /**
   * Waits for one connection, then takes the ones Deno has already accepted, up to `max`.
   *
   * Interruption point: as {@linkcode DenoSocket.accept}.
   */
  async acceptMany(max: number): Promise<[Socket, Address][]> {
    const out = [await this.#acceptOne()];
    while (out.length < max && !this.#closed && this.#listener !== null) {
      const next = this.#accepting ??= settle(this.#listener.accept());
      const ready = await Promise.race([next, new Promise<null>((r) => setImmediate(r, null))]);
      if (ready === null) break;
      this.#accepting = null;
      if (!ready.ok) break; // the error shows on the next call
      out.push([
        new DenoSocket(this.family, "stream", ready.value),
        toAddress(ready.value.remoteAddr),
      ]);
    }
    return out;
  }

  async #resolve(address: Address | string): Promise<Address> {
    const a = typeof address === "string" ? parseAddress(address) : address;
    if (a.family === "unix") return a;
    return await resolveAddress(a, this.family === "unix" ? undefined : this.family);
  }

  /**
   * Connects (resolving names through the current resolver).
   *
   * Interruption point: an interrupted connect leaves the socket unusable (a connection
   * that completes later is closed); close it.
   * @throws {ConnectionRefusedError} nobody listens there
   */
  async connect(address: Address | string): Promise<void> {
    this.checkOpen("connect");
    if (this.type === "datagram") {
      throw new UnsupportedOperationError("connect on a datagram socket", "deno", "use sendTo");
    }
    if (this.#listener !== null) {
      throw new UnsupportedOperationError(
        "connect from a bound address",
        "deno",
        "use the ffi backend",
      );
    }
    if (this.#conn !== null || this.#connecting) {
      throw new SocketError("EISCONN", "connect", String(this));
    }
    const target = await this.#resolve(address);
    const connecting: Promise<Deno.Conn> = target.family === "unix"
      ? Deno.connect({ transport: "unix", path: target.path })
      : Deno.connect({ transport: "tcp", hostname: target.host, port: target.port });
    this.#connecting = true;
    let outcome: Outcome<Deno.Conn>;
    try {
      outcome = await this.#wait(settle(connecting), false, "connect");
    } catch (e) {
      connecting.then((c) => c.close(), () => {});
      throw e;
    }
    if (!outcome.ok) {
      this.#connecting = false;
      throw fromDenoError(outcome.error, "connect", formatAddress(target));
    }
    if (this.#closed) {
      outcome.value.close();
      throw new ClosedError("connect on a closed socket");
    }
    this.#conn = outcome.value;
    this.#applyOptions();
  }

  /**
   * Binds to a local address ("" or "*" for any). Deno binds and listens in one step, so
   * a bound stream socket is already listening (a later `listen` keeps it); a bound
   * socket cannot `connect`.
   * @throws {AddressInUseError} if the address is taken
   */
  bind(address: Address | string): void {
    this.checkOpen("bind");
    if (this.#listener !== null || this.#datagram !== null) {
      throw new SocketError("EINVAL", "bind", `${this} is already bound`);
    }
    let a = typeof address === "string" ? parseAddress(address) : address;
    if (a.family !== "unix") {
      const family = this.family === "unix" ? a.family : this.family;
      a = { ...a, family, host: a.host === "" || a.host === "*" ? ANY_HOST[family] : a.host };
      if (a.family !== this.family) {
        throw new TypeError(`cannot use ${a.family} address ${a.host} on an ${this.family} socket`);
      }
    }
    try {
      if (this.type === "datagram") {
        if (typeof Deno.listenDatagram !== "function") {
          throw new UnsupportedOperationError(
            "datagram sockets",
            "deno",
            "run with --unstable-net",
          );
        }
        this.#datagram = a.family === "unix"
          ? Deno.listenDatagram({ transport: "unixpacket", path: a.path })
          : Deno.listenDatagram({ transport: "udp", hostname: a.host, port: a.port });
      } else if (a.family === "unix") {
        this.#listener = Deno.listen({ transport: "unix", path: a.path });
        this.#unixPath = a.path;
      } else {
        this.#listener = Deno.listen({
          transport: "tcp",
          hostname: a.host,
          port: a.port,
          reusePort: this.#options.get("SO_REUSEPORT") === 1,
        });
      }
    } catch (e) {
      if (e instanceof UnsupportedOperationError) throw e;
      throw fromDenoError(e, "bind", formatAddress(a));
    }
  }

  /** Starts listening; without a `bind`, on any address and a free port. */
  listen(_backlog = 1024): void {
    this.checkOpen("listen");
    if (this.type === "datagram") throw new SocketError("EOPNOTSUPP", "listen", String(this));
    if (this.#listener === null) {
      if (this.family === "unix") throw new SocketError("EINVAL", "listen", "bind a path first");
      this.bind({ family: this.family, host: "", port: 0 });
    }
  }

  /** Shuts one or both halves of the connection. */
  shutdown(how: ShutdownHow = "both"): void {
    const conn = this.#stream("shutdown");
    if (how !== "write") this.#readShut = true;
    if (how !== "read") {
      const by = current();
      conn.closeWrite().catch((e) => {
        // A peer already gone, or the socket closed meanwhile: there is no half to shut.
        if (isGoneOnShutdown(e)) return;
        if (by !== null) _reportThreadError(by, e);
        else console.error(`shrapnel: ${this}: shutdown("${how}") failed:`, e);
      });
    }
  }

  /** Closes the socket; threads waiting on it get {@linkcode ClosedError}. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of [this.#reader, this.#writer]) {
      if (t !== null && !t.dead) t.raise(new ClosedError(`${this} was closed`));
    }
    // Deno keeps the descriptor of a TLS connection closed while its handshake waits in a
    // read: shut it down underneath, or a peer that never says hello holds it for good.
    const held = this.#handshakePending && (this.#reading !== null || this.#handshaking !== null)
      ? this.#conn
      : null;
    for (const resource of [this.#conn, this.#listener, this.#datagram]) {
      try {
        resource?.close();
      } catch { /* already closed underneath */ }
    }
    if (held !== null) {
      shutDownHeldConnection(held.localAddr as Deno.NetAddr, held.remoteAddr as Deno.NetAddr);
    }
    if (this.#unixPath !== null && this.#unixPath !== "") {
      try {
        Deno.removeSync(this.#unixPath);
      } catch { /* gone already */ }
    }
  }

  /**
   * @internal Closes a listener and returns the connection Deno had already accepted for
   * an accept in progress (a speculative one of `acceptMany`, or one whose thread has not
   * run yet), which `close` alone would leave open and unanswered. Interruption point.
   */
  async _closeListening(): Promise<[Socket, Address][]> {
    const pending = this.#listener === null ? null : this.#accepting;
    this.#accepting = null;
    this.close();
    if (pending === null) return [];
    const outcome = await waitFor(pending, `the last accept on ${this}`);
    if (!outcome.ok) return [];
    return [[
      new DenoSocket(this.family, "stream", outcome.value),
      toAddress(outcome.value.remoteAddr),
    ]];
  }

  /** The local address. */
  localAddress(): Address {
    this.checkOpen("localAddress");
    const addr = this.#listener?.addr ?? this.#datagram?.addr ?? this.#conn?.localAddr;
    if (addr === undefined) {
      return this.family === "unix"
        ? { family: "unix", path: "" }
        : { family: this.family, host: ANY_HOST[this.family], port: 0 };
    }
    return toAddress(addr);
  }

  /** The peer's address. @throws {SocketError} ENOTCONN if not connected */
  remoteAddress(): Address {
    return toAddress(this.#stream("remoteAddress").remoteAddr);
  }

  #applyOptions(): void {
    const conn = this.#conn;
    if (conn === null || !("setNoDelay" in conn)) return;
    const tcp = conn as Deno.TcpConn;
    const noDelay = this.#options.get("TCP_NODELAY");
    if (noDelay !== undefined) tcp.setNoDelay(noDelay !== 0);
    const keepAlive = this.#options.get("SO_KEEPALIVE");
    if (keepAlive !== undefined) tcp.setKeepAlive(keepAlive !== 0);
  }

  /**
   * Sets an option. Deno exposes TCP_NODELAY and SO_KEEPALIVE on connections, and
   * SO_REUSEPORT before `bind`; SO_REUSEADDR is always on for listeners.
   * @throws {UnsupportedOperationError} for options Deno does not expose
   */
  setOption(option: SocketOption, value: number | boolean): void {
    this.checkOpen("setOption");
    switch (option) {
      case "TCP_NODELAY":
      case "SO_KEEPALIVE":
      case "SO_REUSEADDR":
      case "SO_REUSEPORT":
        this.#options.set(option, Number(value));
        this.#applyOptions();
        return;
      default:
        throw new UnsupportedOperationError(`setOption ${option}`, "deno", "use the ffi backend");
    }
  }

  /** Reads an option as set (SO_TYPE and SO_ERROR are always known). */
  getOption(option: SocketOption): number {
    this.checkOpen("getOption");
    if (option === "SO_TYPE") return this.type === "stream" ? 1 : 2;
    if (option === "SO_ERROR") return 0;
    if (option === "SO_REUSEADDR" && this.#listener !== null) return 1;
    const value = this.#options.get(option);
    if (value !== undefined) return value;
    if (option === "TCP_NODELAY" || option === "SO_KEEPALIVE" || option === "SO_REUSEPORT") {
      return 0;
    }
    throw new UnsupportedOperationError(`getOption ${option}`, "deno", "use the ffi backend");
  }

  /**
   * Blocks until there is something to read or the stream has ended; the data stays
   * for the next `recv`.
   *
   * Interruption point.
   */
  async waitForRead(): Promise<void> {
    if (this.type === "datagram") {
      const udp = this.#udp("waitForRead");
      this.#receiving ??= settle(udp.receive());
      await this.#wait(this.#receiving, true, "waitForRead");
    } else if (this.#listener !== null) {
      this.#accepting ??= settle(this.#listener.accept());
      await this.#wait(this.#accepting, true, "waitForRead");
    } else {
      await this.#fill("waitForRead", MIN_READ_BUFFER);
    }
  }

  /** Blocks until the previous write has completed. Interruption point. */
  async waitForWrite(): Promise<void> {
    this.checkOpen("waitForWrite");
    if (this.#writing !== null) {
      await this.#wait(this.#writing, false, "waitForWrite");
      this.#writing = null;
    }
  }

  /** The socket for logs: backend, descriptor or state, and addresses. */
  override toString(): string {
    const addr = this.#listener?.addr ?? this.#conn?.localAddr;
    return `DenoSocket(${this.family} ${this.type}${
      addr ? ` ${formatAddress(toAddress(addr))}` : ""
    })`;
  }

  /** @internal A socket serving an existing listener (e.g. Deno's TLS listener). */
  static listening(listener: Deno.Listener, family: SocketFamily): DenoSocket {
    const socket = new DenoSocket(family, "stream");
    socket.#listener = listener;
    return socket;
  }

  /**
   * Completes the TLS handshake of a TLS connection and returns the ALPN protocol agreed
   * on (null if none). Interruption point.
   * @throws {TypeError} if this is not a TLS connection
   * @throws {TlsError} if the handshake fails (bad certificate, no common protocol)
   */
  async handshake(): Promise<string | null> {
    const conn = this.#stream("handshake");
    if (!("handshake" in conn)) throw new TypeError(`${this} is not a TLS connection`);
    // Kept until Deno's operation settles, even if this call is interrupted: see close().
    this.#handshaking ??= settle((conn as Deno.TlsConn).handshake()).then((outcome) => {
      this.#handshaking = null;
      return outcome;
    });
    const outcome = await this.#wait(this.#handshaking, true, "handshake");
    if (!outcome.ok) throw tlsError(outcome.error);
    this.#handshakePending = false;
    return outcome.value.alpnProtocol;
  }

  /** @internal The connection underneath (for STARTTLS), taken away from this socket. */
  _detach(): Deno.Conn {
    const conn = this.#stream("startTls");
    if (this.#reading !== null || this.#inStart !== this.#inEnd) {
      throw new SocketError("EBUSY", "startTls", "bytes are buffered or a read is pending");
    }
    this.#conn = null;
    this.#closed = true;
    return conn;
  }

  /** @internal Two connected unix stream sockets, through a temporary listening path. */
  static async pair(): Promise<[DenoSocket, DenoSocket]> {
    const dir = await Deno.makeTempDir({ prefix: "shrapnel-pair-" });
    const path = `${dir}/s`;
    const listener = Deno.listen({ transport: "unix", path });
    try {
      const [a, b] = await Promise.all([
        listener.accept(),
        Deno.connect({ transport: "unix", path }),
      ]);
      return [new DenoSocket("unix", "stream", a), new DenoSocket("unix", "stream", b)];
    } finally {
      listener.close();
      await Deno.remove(dir, { recursive: true });
    }
  }
}

/** Errors of a write-side shutdown that only say the connection is gone already. */
function isGoneOnShutdown(e: unknown): boolean {
  return e instanceof Deno.errors.NotConnected || e instanceof Deno.errors.BadResource ||
    e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe;
}
