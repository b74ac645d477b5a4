/**
 * A Node.js `Duplex` over one of our sockets, so that npm clients written for `node:net`
 * (pg, ssh2, ...) run on shrapnel sockets. Reads and writes happen in threads of their
 * own, so the socket's interruption rules hold underneath.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import { lazyBaseClass, nodeBuiltin } from "../core/_node_builtin.ts";
import { ClosedError } from "../core/errors.ts";
import { Event } from "../core/sync/event.ts";
import { spawn, type Thread } from "../core/thread.ts";
import { formatAddress } from "./address.ts";
import { connectTo } from "./constructors.ts";
import type { Socket } from "./socket.ts";

const READ_SIZE = 65536;

// node:stream loads at the first SocketDuplex, not with shrapnel.
/**
 * `node:stream`'s Duplex, linked on the first {@linkcode SocketDuplex}.
 * @ignore
 */
export const DuplexBase: typeof Duplex = lazyBaseClass(() =>
  nodeBuiltin<typeof import("node:stream")>("node:stream").Duplex
);

/**
 * A `node:stream` Duplex on a shrapnel {@linkcode Socket}, with the parts of
 * `net.Socket` that clients use (`connect`, `setNoDelay`, `setKeepAlive`, `setTimeout`,
 * `ref`/`unref`, addresses). Give it a connected socket, or none and call `connect`.
 *
 * @example
 * ```ts ignore
 * import pg from "npm:pg";
 * import { SocketDuplex } from "../mod.ts";
 * const client = new pg.Client({ stream: () => new SocketDuplex() });
 * ```
 */
export class SocketDuplex extends DuplexBase {
  /** The socket underneath (null until connected). */
  socket: Socket | null;
  #reader: Thread | null = null;
  #wantMore = new Event();
  #connecting = false;

  /**
   * Wraps `socket`, or makes a socket on `connect` if none is given. As with `net.Socket`,
   * the end of the peer's stream ends ours too and closes the socket (clients such as pg
   * wait for "close"), unless `allowHalfOpen`.
   */
  constructor(socket: Socket | null = null, options: { allowHalfOpen?: boolean } = {}) {
    super({ allowHalfOpen: options.allowHalfOpen ?? false });
    this.socket = socket;
  }

  /** Whether a connect is in progress (as `net.Socket`). */
  get connecting(): boolean {
    return this.#connecting;
  }

  /**
   * Connects to `port` on `host` (or to `path` for a unix socket), emitting "connect"
   * then "ready"; errors are emitted as "error".
   */
  connect(
    port: number | string | { port?: number; host?: string; path?: string },
    host = "localhost",
    listener?: () => void,
  ): this {
    let target: string;
    if (typeof port === "object") {
      target = port.path ?? `${bracket(port.host ?? "localhost")}:${port.port}`;
    } else if (typeof port === "string" && Number.isNaN(Number(port))) {
      target = port;
    } else {
      target = `${bracket(host)}:${port}`;
    }
    if (listener) this.once("connect", listener);
    this.#connecting = true;
    spawn({ name: `connect ${target}` }, async () => {
      try {
        this.socket = await connectTo(target);
      } catch (e) {
        this.#connecting = false;
        this.destroy(e as Error);
        return;
      }
      this.#connecting = false;
      if (this.destroyed) {
        this.socket.close();
        return;
      }
      this.emit("connect");
      this.emit("ready");
      if (this.#wantMore.isSet) this.#startReader();
    });
    return this;
  }

  /** TCP_NODELAY, where the backend can. */
  setNoDelay(noDelay = true): this {
    try {
      this.socket?.setOption("TCP_NODELAY", noDelay);
    } catch { /* not a TCP socket */ }
    return this;
  }

  /** SO_KEEPALIVE, where the backend can. */
  setKeepAlive(enable = false): this {
    try {
      this.socket?.setOption("SO_KEEPALIVE", enable);
    } catch { /* not a TCP socket */ }
    return this;
  }

  /** Accepted for compatibility; use `withTimeout` around the client's calls instead. */
  setTimeout(_ms: number, callback?: () => void): this {
    if (callback) this.once("timeout", callback);
    return this;
  }

  /** No effect: shrapnel's loop stays up while threads wait. */
  ref(): this {
    return this;
  }

  /** No effect (see `ref`). */
  unref(): this {
    return this;
  }

  /** The peer's address text, if connected. */
  get remoteAddress(): string | undefined {
    const a = this.#peer();
    return a === undefined ? undefined : a.family === "unix" ? a.path : a.host;
  }

  /** The peer's port, if connected over TCP. */
  get remotePort(): number | undefined {
    const a = this.#peer();
    return a !== undefined && a.family !== "unix" ? a.port : undefined;
  }

  #peer() {
    try {
      return this.socket?.remoteAddress();
    } catch {
      return undefined;
    }
  }

  #startReader(): void {
    const socket = this.socket;
    if (socket === null || this.#reader !== null) return;
    this.#reader = spawn({ name: `duplex reader ${describe(socket)}` }, async () => {
      const buffer = new Uint8Array(READ_SIZE);
      try {
        for (;;) {
          await this.#wantMore.wait();
          const n = await socket.recvInto(buffer);
          if (n === 0) {
            this.push(null);
            return;
          }
          if (!this.push(buffer.slice(0, n))) this.#wantMore.clear();
        }
      } catch (e) {
        if (!(e instanceof ClosedError)) this.destroy(e as Error);
      }
    });
  }

  /** @internal */
  override _read(): void {
    this.#wantMore.set();
    if (!this.#connecting) this.#startReader();
  }

  /** @internal */
  override _write(
    chunk: Uint8Array,
    _encoding: string,
    callback: (e?: Error | null) => void,
  ): void {
    const socket = this.socket;
    if (socket === null) {
      callback(new Error("write before connect"));
      return;
    }
    // Not joined: Node calls this from whatever thread wrote to the stream, and a join
    // would block that thread behind the caller's back.
    spawn({ name: `duplex writer ${describe(socket)}` }, async () => {
      let error: Error | null = null;
      try {
        await socket.send(chunk);
      } catch (e) {
        error = e as Error;
      }
      callback(error);
    });
  }

  /** @internal */
  override _final(callback: (e?: Error | null) => void): void {
    try {
      this.socket?.shutdown("write");
      callback();
    } catch (e) {
      callback(e as Error);
    }
  }

  /** @internal */
  override _destroy(error: Error | null, callback: (e?: Error | null) => void): void {
    this.socket?.close();
    callback(error);
  }
}

function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function describe(socket: Socket): string {
  try {
    return formatAddress(socket.remoteAddress());
  } catch {
    return String(socket);
  }
}
