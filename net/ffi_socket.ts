/**
 * Sockets on the FFI poller: every call is first tried as a synchronous non-blocking
 * syscall through the shim (a few ns of FFI); only on EAGAIN does the thread block, on
 * the poller. A thread whose calls keep succeeding yields every `SELFISHNESS` calls so it
 * cannot starve the others.
 *
 * @module
 */

import { ClosedError } from "../core/errors.ts";
import { scheduler } from "../core/scheduler.ts";
import { yieldSlice } from "../core/sleep.ts";
import { _takePendingInterrupt, type Thread } from "../core/thread.ts";
import {
  type Address,
  ADDRESS_BUFFER_SIZE,
  decodeAddress,
  encodeAddress,
  formatAddress,
  parseAddress,
} from "./address.ts";
import { ERR, type FfiPoller, HUP, type Pollable, READ, SELFISHNESS, WRITE } from "./ffi_poller.ts";
import { byteLengthOf, checkSize, ioLength, MAX_IO, readvSizes } from "./_io_lengths.ts";
import { SocketError } from "./errors.ts";
import { resolveAddress } from "./resolver.ts";
import {
  type BackendName,
  type ShutdownHow,
  Socket,
  type SocketFamily,
  type SocketOption,
  type SocketType,
} from "./socket.ts";

const FAMILY_CODE = { ipv4: 4, ipv6: 6, unix: 1 } as const;
const TYPE_CODE = { stream: 1, datagram: 2 } as const;
const OPTION_CODE: Record<SocketOption, number> = {
  SO_REUSEADDR: 1,
  SO_REUSEPORT: 2,
  SO_KEEPALIVE: 3,
  SO_RCVBUF: 4,
  SO_SNDBUF: 5,
  SO_ERROR: 6,
  SO_BROADCAST: 7,
  TCP_NODELAY: 8,
  IPV6_V6ONLY: 9,
  SO_TYPE: 10,
};
const SHUTDOWN_CODE = { read: 0, write: 1, both: 2 } as const;
const RESOLVED: Promise<void> = Promise.resolve();

/** What a host part of "" or "*" means when binding. */
const ANY_HOST = { ipv4: "0.0.0.0", ipv6: "::" } as const;

/**
 * A socket on the FFI backend. Made by the constructors in `constructors.ts`
 * (`tcpSocket()`...), not directly.
 */
export class FfiSocket extends Socket implements Pollable {
  /** The file descriptor (-1 once closed). */
  fd: number;
  /** "ipv4", "ipv6" or "unix". */
  readonly family: SocketFamily;
  /** "stream" or "datagram". */
  readonly type: SocketType;
  /** Always "ffi". */
  readonly backend: BackendName = "ffi";
  /** @internal */
  _reader: Thread | null = null;
  /** @internal */
  _writer: Thread | null = null;
  /** @internal */
  _readable = true;
  /** @internal */
  _hup = false;
  /** @internal */
  _token = 0;
  readonly #poller: FfiPoller;
  #address: Uint8Array | null = null;
  #streak = 0;
  /** `tryRecvInto` declined to read on for fairness: the next `waitForRead` yields. */
  #owesYield = false;

  /**
   * @internal Wraps `fd` (non-blocking, close-on-exec) and registers it with the poller.
   * If that fails, a new fd is closed; an `adopted` one is left to its owner.
   */
  constructor(
    poller: FfiPoller,
    fd: number,
    family: SocketFamily,
    type: SocketType,
    adopted = false,
  ) {
    super();
    this.#poller = poller;
    this.fd = fd;
    this.family = family;
    this.type = type;
    try {
      poller.register(this, READ | WRITE);
    } catch (e) {
      this.fd = -1;
      if (!adopted) poller.shim.sh_close(fd);
      throw e;
    }
  }

  /** @internal Opens a new socket of the given family and type. */
  static open(poller: FfiPoller, family: SocketFamily, type: SocketType): FfiSocket {
    const fd = poller.shim.sh_socket(FAMILY_CODE[family], TYPE_CODE[type]);
    if (fd < 0) throw poller.error(-fd, "socket");
    return new FfiSocket(poller, fd, family, type);
  }

  /** @internal Two connected unix sockets. */
  static pair(poller: FfiPoller, type: SocketType): [FfiSocket, FfiSocket] {
    const fds = new Int32Array(2);
    const r = poller.shim.sh_socketpair(TYPE_CODE[type], new Uint8Array(fds.buffer), 8);
    if (r < 0) throw poller.error(-r, "socketpair");
    return [
      new FfiSocket(poller, fds[0], "unix", type),
      new FfiSocket(poller, fds[1], "unix", type),
    ];
  }

  /**
   * @internal Adopts an fd opened elsewhere (made non-blocking and close-on-exec). On
   * failure the fd is left open, its caller's still.
   * @throws {RangeError} if `fd` is not a descriptor number
   * @throws {SocketError} EEXIST if a socket (of any worker) owns the fd already,
   *   ENOTSOCK if it is no socket, EAFNOSUPPORT if not an IP or unix one
   */
  static adopt(poller: FfiPoller, fd: number): FfiSocket {
    checkSize(fd, "a file descriptor");
    const kind = poller.shim.sh_getsockopt(fd, OPTION_CODE.SO_TYPE);
    if (kind < 0) throw poller.error(-kind, "getsockopt", `fd ${fd}`);
    if (kind !== 1 && kind !== 2) {
      throw SocketError.from("EOPNOTSUPP", "adopt", `fd ${fd}: neither stream nor datagram`);
    }
    const buf = new Uint8Array(ADDRESS_BUFFER_SIZE);
    const n = poller.shim.sh_getsockname(fd, buf, buf.length);
    if (n < 0) throw poller.error(-n, "getsockname", `fd ${fd}`);
    if (buf[0] === 0 && buf[1] === 0) {
      throw SocketError.from("EAFNOSUPPORT", "adopt", `fd ${fd}: not an IP or unix socket`);
    }
    const family = decodeAddress(buf).family;
    const socket = new FfiSocket(poller, fd, family, kind === 2 ? "datagram" : "stream", true);
    const r = poller.shim.sh_adopt(fd);
    if (r < 0) {
      poller.unregister(socket);
      socket.fd = -1;
      throw poller.error(-r, "adopt", `fd ${fd}`);
    }
    return socket;
  }

  /** Whether {@linkcode close} has been called. */
  get closed(): boolean {
    return this.fd < 0;
  }

  #scratch(): Uint8Array {
    return this.#address ??= new Uint8Array(ADDRESS_BUFFER_SIZE);
  }

  #fd(operation: string): number {
    const fd = this.fd;
    if (fd < 0) throw new ClosedError(`${operation} on a closed socket`);
    return fd;
  }

  /**
   * Charges one call that did not block; true when the thread's turn is up and it must
   * yield (its run of calls then starts over). Every SELFISHNESS such calls in a row the
   * thread yields, so busy threads take turns, and whenever the slice is used up, so
   * threads waiting for the next poll get theirs (the yield then lasts until the next
   * turn of the loop).
   */
  #turnIsUp(): boolean {
    if (scheduler.charge() && ++this.#streak < SELFISHNESS) return false;
    this.#streak = 0;
    return true;
  }

  /** The result of a call that did not block, after a yield if the thread's turn is up. */
  #done(n: number): Promise<number> {
    return this.#turnIsUp() ? yieldSlice().then(() => n) : Promise.resolve(n);
  }

  /**
   * Reads into `buffer`; returns the bytes read, 0 at the end of the stream.
   *
   * Interruption point: an interrupted read has read nothing.
   * @throws {ClosedError} if the socket is or gets closed
   * @throws {ConnectionResetError} if the peer reset the connection
   * @throws {TypeError} if the buffer was detached (or resized to nothing) while it waited
   */
  recvInto(buffer: Uint8Array): Promise<number> {
    // Not async: the common cases (data there, or known to be drained) cost no frame.
    if (scheduler.interruptsPending !== 0) {
      const interrupted = _takePendingInterrupt(); // a checkpoint even with data there
      if (interrupted !== undefined) return interrupted;
    }
    const fd = this.fd;
    if (this._readable && fd >= 0) {
      const poller = this.#poller;
      const length = ioLength(buffer);
      const n = poller.shim.sh_recv(fd, buffer, length);
      if (n >= 0) {
        // A short read drained a stream socket: the next read waits for the next edge
        // (unless the peer's end was seen already: no edge comes after that one).
        if (n < length && n > 0 && this.type === "stream" && !this._hup) {
          this._readable = false;
        }
        return this.#done(n);
      }
      if (poller.wouldBlock(n)) this._readable = false;
      else if (n !== -poller.EINTR) return Promise.reject(poller.error(-n, "recv"));
    }
    return this.#recvWaiting(buffer);
  }

  /** Reads what is there now, without blocking (see `Socket.tryRecvInto`). */
  tryRecvInto(buffer: Uint8Array): number {
    const fd = this.#fd("recv");
    if (!this._readable) return -1;
    if (this.#turnIsUp()) {
      this.#owesYield = true; // `waitForRead` yields before it reads on
      return -1;
    }
    const poller = this.#poller;
    const length = ioLength(buffer);
    const n = poller.shim.sh_recv(fd, buffer, length);
    if (n >= 0) {
      if (n < length && n > 0 && this.type === "stream" && !this._hup) this._readable = false;
      return n;
    }
    if (poller.wouldBlock(n)) this._readable = false;
    else if (n !== -poller.EINTR) throw poller.error(-n, "recv");
    return -1;
  }

  async #recvWaiting(buffer: Uint8Array): Promise<number> {
    const poller = this.#poller;
    const asked = byteLengthOf(buffer);
    for (;;) {
      if (!this._readable) {
        this.#fd("recv"); // a closed socket throws ClosedError rather than wait
        await poller.wait(this, READ);
      }
      // Measured after the wait: the caller may have detached or shrunk the buffer meanwhile.
      const length = ioLength(buffer);
      if (length === 0 && asked !== 0) {
        throw new TypeError("recv: the buffer was detached or emptied while the read waited");
      }
      const n = poller.shim.sh_recv(this.#fd("recv"), buffer, length);
      if (n >= 0) {
        if (n < length && n > 0 && this.type === "stream" && !this._hup) {
          this._readable = false;
        }
        // Just woken: this thread has waited its turn, so no selfishness check here.
        this.#streak = 0;
        scheduler.charge();
        return n;
      }
      if (poller.wouldBlock(n)) this._readable = false;
      else if (n !== -poller.EINTR) throw poller.error(-n, "recv");
    }
  }

  /**
   * Writes some of `data`; returns how many bytes the kernel took.
   *
   * Interruption point: an interrupted write has written nothing.
   * @throws {ConnectionResetError} if the peer is gone (EPIPE, ECONNRESET)
   */
  async sendSome(data: Uint8Array): Promise<number> {
    if (byteLengthOf(data) === 0) return 0;
    const poller = this.#poller;
    for (;;) {
      const n = poller.shim.sh_send(this.#fd("send"), data, ioLength(data));
      if (n >= 0) return await this.#done(n);
      if (!poller.wouldBlock(n)) {
        if (n === -poller.EINTR) continue;
        throw poller.error(-n, "send");
      }
      await poller.wait(this, WRITE);
    }
  }

  /** Writes what the kernel takes now (see `Socket.trySend`): one syscall, no promise. */
  override trySend(data: Uint8Array): number {
    const fd = this.#fd("send");
    const length = ioLength(data);
    if (length === 0) return 0;
    // A thread whose turn is up sends nothing here: the caller's `send` yields.
    if (this.#turnIsUp()) return 0;
    const poller = this.#poller;
    const n = poller.shim.sh_send(fd, data, length);
    if (n >= 0) return n;
    if (poller.wouldBlock(n) || n === -poller.EINTR) return 0;
    throw poller.error(-n, "send");
  }

  /**
   * Writes all of `data`. Fast path: one syscall when the kernel takes it all.
   *
   * Interruption point: an interrupted send has written a prefix of `data`, and no more.
   */
  override send(data: Uint8Array): Promise<number> {
    return this.#send(data, false);
  }

  /** As `send`, copying only what the kernel does not take at once. */
  override sendBorrowed(data: Uint8Array): Promise<number> {
    return this.#send(data, true);
  }

  /** One syscall when the kernel takes it all; else the rest waits (a copy if `borrowed`). */
  #send(data: Uint8Array, borrowed: boolean): Promise<number> {
    const fd = this.fd;
    const length = byteLengthOf(data);
    let sent = 0;
    if (fd >= 0 && length < MAX_IO) {
      const poller = this.#poller;
      const n = poller.shim.sh_send(fd, data, length);
      if (n === length) return this.#done(n);
      if (n >= 0) sent = n;
      else if (!poller.wouldBlock(n) && n !== -poller.EINTR) {
        return Promise.reject(poller.error(-n, "send"));
      }
    }
    return borrowed
      ? this.#sendWaiting(data.slice(sent), 0, length)
      : this.#sendWaiting(data, sent, length);
  }

  /** Sends the rest of `data` from `sent` on; resolves to `total`. */
  async #sendWaiting(data: Uint8Array, sent: number, total: number): Promise<number> {
    const poller = this.#poller;
    const length = byteLengthOf(data);
    for (;;) {
      // Measured at every turn: the caller may detach or resize the buffer while we wait.
      if (byteLengthOf(data) !== length) {
        throw new TypeError(`send: the buffer was detached or resized after ${sent} bytes`);
      }
      if (sent >= length) break;
      const rest = data.subarray(sent);
      const n = poller.shim.sh_send(this.#fd("send"), rest, ioLength(rest));
      if (n >= 0) {
        sent += n;
        continue;
      }
      if (!poller.wouldBlock(n)) {
        if (n === -poller.EINTR) continue;
        throw poller.error(-n, "send");
      }
      await poller.wait(this, WRITE);
    }
    return await this.#done(total);
  }

  /**
   * Reads into one buffer per size with a single `readv` syscall.
   *
   * Interruption point: an interrupted read has read nothing.
   */
  override async readv(sizes: readonly number[]): Promise<Uint8Array[]> {
    const { lengths, total } = readvSizes(sizes);
    const count = lengths.length;
    const base = new Uint8Array(total);
    const lengthBytes = new Uint8Array(lengths.buffer);
    const poller = this.#poller;
    for (;;) {
      const n = poller.shim.sh_readv(
        this.#fd("readv"),
        base,
        base.length,
        lengthBytes,
        lengthBytes.length,
      );
      if (n >= 0) {
        const out: Uint8Array[] = [];
        let offset = 0;
        for (let i = 0; i < count && offset < n; i++) {
          out.push(base.subarray(offset, Math.min(offset + lengths[i], n)));
          offset += lengths[i];
        }
        return out;
      }
      if (!poller.wouldBlock(n)) {
        if (n === -poller.EINTR) continue;
        throw poller.error(-n, "readv");
      }
      await poller.wait(this, READ);
    }
  }

  /**
   * Receives one datagram (truncated to `size`) and its sender.
   *
   * Interruption point: an interrupted receive has taken nothing.
   */
  async recvFrom(size: number): Promise<[Uint8Array, Address]> {
    const poller = this.#poller;
    const buffer = new Uint8Array(checkSize(size, "recvFrom size"));
    const from = this.#scratch();
    for (;;) {
      const n = poller.shim.sh_recvfrom(this.#fd("recvfrom"), buffer, size, from, from.length);
      if (n >= 0) return [n === size ? buffer : buffer.slice(0, n), decodeAddress(from)];
      if (!poller.wouldBlock(n)) {
        if (n === -poller.EINTR) continue;
        throw poller.error(-n, "recvfrom");
      }
      await poller.wait(this, READ);
    }
  }

  /**
   * Sends one datagram to `address` (names go through the resolver).
   *
   * Interruption point: an interrupted send has sent nothing.
   * @throws {SocketError} EMSGSIZE if the datagram is too large
   * @throws {TypeError} if the buffer was detached or resized while the send waited
   */
  async sendTo(data: Uint8Array, address: Address | string): Promise<number> {
    const target = await this.#resolve(address);
    const to = encodeAddress(target, new Uint8Array(ADDRESS_BUFFER_SIZE));
    const poller = this.#poller;
    const length = byteLengthOf(data);
    if (length > MAX_IO) throw SocketError.from("EMSGSIZE", "sendto", `${length} bytes`);
    for (;;) {
      if (byteLengthOf(data) !== length) {
        throw new TypeError("sendTo: the buffer was detached or resized while it waited");
      }
      const n = poller.shim.sh_sendto(this.#fd("sendto"), data, length, to, to.length);
      if (n >= 0) return n;
      if (!poller.wouldBlock(n)) {
        if (n === -poller.EINTR) continue;
        throw poller.error(-n, "sendto");
      }
      await poller.wait(this, WRITE);
    }
  }

  #acceptOne(): [FfiSocket, Address] | null {
    const poller = this.#poller;
    const peer = this.#scratch();
    for (;;) {
      const fd = poller.shim.sh_accept(this.#fd("accept"), peer, peer.length);
      if (fd >= 0) {
        return [new FfiSocket(poller, fd, this.family, this.type), decodeAddress(peer)];
      }
      if (poller.wouldBlock(fd)) {
        // Drained: the next accept waits for the next edge instead of calling accept(2)
        // for its EAGAIN again (a system call less for each connection).
        this._readable = false;
        return null;
      }
      const code = poller.errnoNames.get(-fd);
      // A connection reset while queued is the client's business, not the listener's.
      if (fd === -poller.EINTR || code === "ECONNABORTED" || code === "EPROTO") continue;
      throw poller.error(-fd, "accept");
    }
  }

  /**
   * Accepts one connection.
   *
   * Interruption point: an interrupted accept has accepted nothing (the connection
   * stays queued for the next call).
   * @throws {TooManyOpenFilesError} when the process is out of file descriptors (EMFILE);
   *   the connection stays queued
   */
  async accept(): Promise<[Socket, Address]> {
    for (;;) {
      if (this._readable) {
        const got = this.#acceptOne();
        if (got !== null) return got;
      } else {
        this.#fd("accept"); // a closed listener throws ClosedError rather than wait
      }
      await this.#poller.wait(this, READ);
    }
  }

  /**
   * Waits for a connection, then accepts every queued one up to `max` without blocking.
   *
   * Interruption point: as {@linkcode FfiSocket.accept}.
   */
  async acceptMany(max: number): Promise<[Socket, Address][]> {
    const out: [Socket, Address][] = [];
    for (;;) {
      if (!this._readable) this.#fd("accept"); // closed: ClosedError rather than wait
      while (this._readable && out.length < max) {
        let got: [FfiSocket, Address] | null;
        try {
          got = this.#acceptOne();
        } catch (e) {
          if (out.length > 0) return out; // hand over what we have; the error recurs next call
          throw e;
        }
        if (got === null) break;
        out.push(got);
      }
      if (out.length > 0) return out;
      await this.#poller.wait(this, READ);
    }
  }

  async #resolve(address: Address | string): Promise<Address> {
    const a = typeof address === "string" ? parseAddress(address) : address;
    if (a.family === "unix") return a;
    const resolved = await resolveAddress(a, this.family === "unix" ? undefined : this.family);
    return resolved;
  }

  /**
   * Connects (resolving names through the current resolver).
   *
   * Interruption point: an interrupted connect leaves the socket unusable; close it.
   * @throws {ConnectionRefusedError} nobody listens there
   * @throws {SocketError} ETIMEDOUT, EHOSTUNREACH... as the kernel reports
   */
  async connect(address: Address | string): Promise<void> {
    const target = await this.#resolve(address);
    const poller = this.#poller;
    const to = encodeAddress(this.#matchFamily(target), this.#scratch());
    const r = poller.shim.sh_connect(this.#fd("connect"), to, to.length);
    if (r === 0) return;
    if (r !== -poller.EINPROGRESS && !poller.wouldBlock(r) && r !== -poller.EINTR) {
      throw poller.error(-r, "connect", formatAddress(target));
    }
    // A wake is a hint: the connection is done only when the socket says so.
    for (;;) {
      await poller.wait(this, WRITE);
      const ready = poller.shim.sh_ready(this.#fd("connect"), WRITE);
      if (ready < 0) throw poller.error(-ready, "poll", formatAddress(target));
      if ((ready & (WRITE | HUP | ERR)) !== 0) break;
    }
    const error = poller.shim.sh_getsockopt(this.#fd("connect"), OPTION_CODE.SO_ERROR);
    if (error < 0) throw poller.error(-error, "getsockopt");
    if (error !== 0) throw poller.error(error, "connect", formatAddress(target));
  }

  #matchFamily(a: Address): Address {
    if (a.family === "unix" || this.family === "unix" || a.family === this.family) return a;
    throw new TypeError(`cannot use ${a.family} address ${a.host} on an ${this.family} socket`);
  }

  /**
   * Binds to a local address; a host of "" or "*" means any address. Sets SO_REUSEADDR
   * first on stream sockets.
   * @throws {AddressInUseError} if the address is taken
   */
  bind(address: Address | string): void {
    const fd = this.#fd("bind");
    let a = typeof address === "string" ? parseAddress(address) : address;
    if (a.family !== "unix") {
      const family = this.family === "unix" ? a.family : this.family;
      const host = a.host === "" || a.host === "*" ? ANY_HOST[family] : a.host;
      a = { ...a, family, host };
    }
    if (this.type === "stream" && this.family !== "unix") {
      this.#poller.shim.sh_setsockopt(fd, OPTION_CODE.SO_REUSEADDR, 1);
    }
    const to = encodeAddress(this.#matchFamily(a), this.#scratch());
    const r = this.#poller.shim.sh_bind(fd, to, to.length);
    if (r < 0) throw this.#poller.error(-r, "bind", formatAddress(a));
  }

  /** Starts listening (default backlog 1024). */
  listen(backlog = 1024): void {
    const r = this.#poller.shim.sh_listen(this.#fd("listen"), backlog);
    if (r < 0) throw this.#poller.error(-r, "listen");
  }

  /** Shuts one or both halves of the connection. */
  shutdown(how: ShutdownHow = "both"): void {
    const r = this.#poller.shim.sh_shutdown(this.#fd("shutdown"), SHUTDOWN_CODE[how]);
    if (r < 0) throw this.#poller.error(-r, "shutdown");
  }

  /**
   * Closes the socket; threads waiting on it get {@linkcode ClosedError}. Idempotent.
   */
  close(): void {
    const fd = this.fd;
    if (fd < 0) return;
    // Not registered any more: its poller was closed, and closed the fd with it (the number
    // may be someone else's by now).
    const owned = this.#poller.registered(this);
    this.#poller.unregister(this);
    this.fd = -1;
    if (owned) this.#poller.shim.sh_close(fd);
  }

  /** The local address. */
  localAddress(): Address {
    const buf = this.#scratch();
    const r = this.#poller.shim.sh_getsockname(this.#fd("localAddress"), buf, buf.length);
    if (r < 0) throw this.#poller.error(-r, "getsockname");
    return decodeAddress(buf);
  }

  /**
   * The peer's address.
   * @throws {SocketError} ENOTCONN if not connected
   */
  remoteAddress(): Address {
    const buf = this.#scratch();
    const r = this.#poller.shim.sh_getpeername(this.#fd("remoteAddress"), buf, buf.length);
    if (r < 0) throw this.#poller.error(-r, "getpeername");
    return decodeAddress(buf);
  }

  /** Sets an option; booleans become 1/0. */
  setOption(option: SocketOption, value: number | boolean): void {
    const r = this.#poller.shim.sh_setsockopt(
      this.#fd("setOption"),
      OPTION_CODE[option],
      Number(value),
    );
    if (r < 0) throw this.#poller.error(-r, "setsockopt", option);
  }

  /** Reads an option. */
  getOption(option: SocketOption): number {
    const r = this.#poller.shim.sh_getsockopt(this.#fd("getOption"), OPTION_CODE[option]);
    if (r < 0) throw this.#poller.error(-r, "getsockopt", option);
    return r;
  }

  /**
   * Blocks until there is something to read (or the peer is gone).
   *
   * Interruption point.
   */
  waitForRead(): Promise<void> {
    if (this.#owesYield) {
      this.#owesYield = false;
      return yieldSlice();
    }
    const poller = this.#poller;
    const fd = this.fd;
    if (fd < 0) return Promise.reject(new ClosedError("waitForRead on a closed socket"));
    if (this._readable && (poller.shim.sh_ready(fd, READ) & (READ | HUP | ERR)) !== 0) {
      return RESOLVED;
    }
    // Drained: only the next edge can bring more. A thread that waits for it lets every
    // other run meanwhile, so its run of calls that did not block starts over (as after
    // a read that waited): without this, every 8th request of a keep-alive connection
    // yielded a turn on top of its wait.
    this.#streak = 0;
    return poller.wait(this, READ) as Promise<unknown> as Promise<void>;
  }

  /** Blocks until the socket can take more data. Interruption point. */
  async waitForWrite(): Promise<void> {
    const poller = this.#poller;
    if ((poller.shim.sh_ready(this.#fd("waitForWrite"), WRITE) & (WRITE | HUP | ERR)) !== 0) {
      return;
    }
    await poller.wait(this, WRITE);
  }

  /** The socket for logs: backend, descriptor or state, and addresses. */
  override toString(): string {
    return `FfiSocket(fd ${this.fd}, ${this.family} ${this.type})`;
  }
}
