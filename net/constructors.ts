/**
 * Making sockets: on the active backend (see `activeBackend`).
 *
 * @module
 */

import { activePoller } from "./backend.ts";
import { DenoSocket } from "./deno_socket.ts";
import { UnsupportedOperationError } from "./errors.ts";
import { FfiSocket } from "./ffi_socket.ts";
import { parseAddress } from "./address.ts";
import { resolveAddress } from "./resolver.ts";
import type { Address } from "./address.ts";
import type { BackendName, Socket, SocketFamily, SocketType } from "./socket.ts";

function open(family: SocketFamily, type: SocketType, backend?: BackendName): Socket {
  const poller = backend === "deno" ? null : activePoller();
  return poller === null ? new DenoSocket(family, type) : FfiSocket.open(poller, family, type);
}

/**
 * A TCP socket over IPv4.
 *
 * @example
 * ```ts
 * import { tcpSocket } from "./mod.ts";
 * const s = tcpSocket();
 * s.bind("127.0.0.1:0");
 * s.listen();
 * console.log(s.localAddress());
 * s.close();
 * ```
 */
export function tcpSocket(): Socket {
  return open("ipv4", "stream");
}

/**
 * A TCP socket over IPv6.
 *
 * @example
 * ```ts
 * import { tcp6Socket } from "./mod.ts";
 * const s = tcp6Socket();
 * s.bind("[::1]:0");
 * s.close();
 * ```
 */
export function tcp6Socket(): Socket {
  return open("ipv6", "stream");
}

/**
 * A UDP socket over IPv4 (on the Deno backend it needs `--unstable-net`).
 *
 * @example
 * ```ts
 * import { udpSocket } from "./mod.ts";
 * const s = udpSocket();
 * s.bind("127.0.0.1:0");
 * s.close();
 * ```
 */
export function udpSocket(): Socket {
  return open("ipv4", "datagram");
}

/**
 * A UDP socket over IPv6 (on the Deno backend it needs `--unstable-net`).
 *
 * @example
 * ```ts
 * import { udp6Socket } from "./mod.ts";
 * const s = udp6Socket();
 * s.bind("[::1]:0");
 * s.close();
 * ```
 */
export function udp6Socket(): Socket {
  return open("ipv6", "datagram");
}

/**
 * A unix-domain socket ("stream" by default).
 *
 * @example
 * ```ts
 * import { unixSocket } from "./mod.ts";
 * const path = Deno.makeTempDirSync() + "/sock";
 * const s = unixSocket();
 * s.bind(path);
 * s.listen();
 * s.close();
 * ```
 */
export function unixSocket(type: SocketType = "stream"): Socket {
  return open("unix", type);
}

/**
 * Two connected unix sockets. On the Deno backend only "stream" pairs exist, made
 * through a temporary listening path.
 *
 * @example
 * ```ts
 * import { socketPair, spawn } from "../mod.ts";
 * await spawn(async () => {
 *   const [a, b] = await socketPair();
 *   await a.send(new Uint8Array([1, 2]));
 *   console.log(await b.recvExact(2));
 *   a.close();
 *   b.close();
 * }).join();
 * ```
 * @throws {UnsupportedOperationError} for a datagram pair on the Deno backend
 */
export async function socketPair(type: SocketType = "stream"): Promise<[Socket, Socket]> {
  const poller = activePoller();
  if (poller !== null) return FfiSocket.pair(poller, type);
  if (type === "datagram") {
    throw new UnsupportedOperationError("datagram socket pairs", "deno", "use the ffi backend");
  }
  return await DenoSocket.pair();
}

/**
 * Wraps a socket file descriptor opened elsewhere (it is made non-blocking and
 * close-on-exec; the socket owns it from now on).
 *
 * @example
 * ```ts ignore
 * import { fdSocket } from "./mod.ts";
 * const s = fdSocket(3); // e.g. a socket passed by systemd
 * ```
 * @throws {UnsupportedOperationError} on the Deno backend, which has no raw descriptors
 */
export function fdSocket(fd: number): Socket {
  const poller = activePoller();
  if (poller === null) {
    throw new UnsupportedOperationError("fdSocket", "deno", "use the ffi backend (--allow-ffi)");
  }
  return FfiSocket.adopt(poller, fd);
}

/**
 * Connects a new stream socket to "host:port", "[v6]:port" or a unix path, choosing IPv4
 * or IPv6 from the resolved address.
 *
 * Interruption point: while resolving and connecting; the socket is closed on failure.
 * `backend: "deno"` asks for a portable-backend socket (one `startTls` can upgrade).
 *
 * @example
 * ```ts ignore
 * import { connectTo, spawn } from "../mod.ts";
 * await spawn(async () => {
 *   const s = await connectTo("example.com:80");
 *   s.close();
 * }).join();
 * ```
 */
export async function connectTo(
  address: Address | string,
  options: { backend?: BackendName } = {},
): Promise<Socket> {
  const target = await resolveAddress(address);
  const socket = open(target.family, "stream", options.backend);
  try {
    await socket.connect(target);
  } catch (e) {
    socket.close();
    throw e;
  }
  return socket;
}

/** Options of {@linkcode listenOn}. */
export interface ListenOptions {
  /** Most connections queued for `accept` (1024; the kernel caps it at somaxconn). */
  backlog?: number;
  /**
   * Sets `SO_REUSEPORT` before binding (false): several sockets (in this process or in
   * others, of the same user) may then listen on one address, and the kernel spreads new
   * connections among them. What a worker process of a cluster listens with.
   */
  reusePort?: boolean;
}

/**
 * A listening stream socket bound to `address` (IP literal, "*:port" or a unix path).
 * The second argument is the backlog or {@linkcode ListenOptions}.
 *
 * @example
 * ```ts
 * import { listenOn } from "./mod.ts";
 * const server = listenOn("127.0.0.1:0");
 * const port = server.localAddress();
 * console.log(port);
 * const a = listenOn("127.0.0.1:0", { reusePort: true });
 * const b = listenOn(a.localAddress(), { reusePort: true }); // the same port, shared
 * console.log(b.localAddress());
 * a.close();
 * b.close();
 * server.close();
 * ```
 * @throws {AddressInUseError} if the address is taken (by a socket without `reusePort`,
 * or by another user's)
 */
export function listenOn(
  address: Address | string,
  options: number | ListenOptions = 1024,
): Socket {
  const { backlog = 1024, reusePort = false } = typeof options === "number"
    ? { backlog: options }
    : options;
  const a = typeof address === "string" ? parseAddress(address) : address;
  const family: SocketFamily = a.family === "unix"
    ? "unix"
    : a.host.includes(":")
    ? "ipv6"
    : "ipv4";
  const socket = open(family, "stream");
  try {
    if (reusePort && family !== "unix") socket.setOption("SO_REUSEPORT", true);
    socket.bind(a);
    socket.listen(backlog);
  } catch (e) {
    socket.close();
    throw e;
  }
  return socket;
}
