/**
 * TLS on either backend, by Deno's own TLS (rustls): client connections, listeners,
 * STARTTLS on an open connection, ALPN. A TLS socket is a portable-backend socket (Deno
 * owns the connection's descriptor), with the same blocking, interruptible calls.
 *
 * @module
 */

import { waitFor } from "../core/wait_for.ts";
import { type Address, formatAddress, parseAddress } from "./address.ts";
import { DenoSocket, fromDenoError, tlsError } from "./deno_socket.ts";
import { UnsupportedOperationError } from "./errors.ts";
import type { Socket } from "./socket.ts";

/** Options of {@linkcode connectTls} and {@linkcode startTls}. */
export interface ConnectTlsOptions {
  /** The name to verify the certificate against (default: the host connected to). */
  hostname?: string;
  /** Extra trusted CA certificates (PEM). */
  caCerts?: string[];
  /** ALPN protocols to offer, in preference order (e.g. ["h2", "http/1.1"]). */
  alpnProtocols?: string[];
}

/** Options of {@linkcode listenTls}. */
export interface ListenTlsOptions {
  /** The certificate chain (PEM text). */
  cert: string;
  /** The private key (PEM text). */
  key: string;
  /** ALPN protocols this server speaks, in preference order. */
  alpnProtocols?: string[];
}

/**
 * Connects with TLS and completes the handshake; `alpnProtocol` is what was agreed.
 *
 * Interruption point.
 *
 * @example
 * ```ts ignore
 * const { socket, alpnProtocol } = await connectTls("example.com:443", { alpnProtocols: ["http/1.1"] });
 * ```
 * @throws {TlsError} if the handshake fails (untrusted certificate, wrong name...)
 * @throws {ConnectionRefusedError} if nobody listens there
 */
export async function connectTls(
  address: Address | string,
  options: ConnectTlsOptions = {},
): Promise<{ socket: Socket; alpnProtocol: string | null }> {
  const a = typeof address === "string" ? parseAddress(address) : address;
  if (a.family === "unix") throw new UnsupportedOperationError("TLS over a unix socket", "deno");
  // Deno resolves the name itself, so that the certificate is checked against it.
  const connecting = Deno.connectTls({
    hostname: options.hostname ?? a.host,
    port: a.port,
    caCerts: options.caCerts,
    alpnProtocols: options.alpnProtocols,
  });
  let conn: Deno.TlsConn;
  try {
    conn = await waitFor(connecting, `TLS connect to ${formatAddress(a)}`);
  } catch (e) {
    connecting.then((c) => c.close(), () => {});
    throw fromDenoError(e, "connect", formatAddress(a));
  }
  const socket = new DenoSocket(
    conn.remoteAddr.hostname.includes(":") ? "ipv6" : "ipv4",
    "stream",
    conn,
  );
  try {
    return { socket, alpnProtocol: await socket.handshake() };
  } catch (e) {
    socket.close();
    throw e;
  }
}

/**
 * A TLS listening socket: `accept()` gives TLS connections (call `handshake()` on one
 * to learn its ALPN protocol, or just read: the handshake happens then).
 *
 * @example
 * ```ts ignore
 * const server = listenTls("127.0.0.1:8443", { cert, key, alpnProtocols: ["http/1.1"] });
 * ```
 * @throws {AddressInUseError} if the address is taken
 */
export function listenTls(address: Address | string, options: ListenTlsOptions): Socket {
  const a = typeof address === "string" ? parseAddress(address) : address;
  if (a.family === "unix") throw new UnsupportedOperationError("TLS over a unix socket", "deno");
  try {
    const listener = Deno.listenTls({
      hostname: a.host === "" || a.host === "*" ? "0.0.0.0" : a.host,
      port: a.port,
      cert: options.cert,
      key: options.key,
      alpnProtocols: options.alpnProtocols,
    });
    return DenoSocket.listening(listener, a.family);
  } catch (e) {
    throw fromDenoError(e, "bind", formatAddress(a));
  }
}

/**
 * Upgrades an open connection to TLS as a client (STARTTLS in LDAP, SMTP, FTP's AUTH TLS,
 * Postgres' SSLRequest). The connection must be a portable-backend socket with nothing
 * buffered; the old socket object is spent.
 *
 * Interruption point.
 * @throws {UnsupportedOperationError} for an FFI-backend socket (Deno's TLS needs its own
 *   connection object): open such connections with `setBackend("deno")` around them
 */
export async function startTls(
  socket: Socket,
  options: ConnectTlsOptions & { hostname: string },
): Promise<{ socket: Socket; alpnProtocol: string | null }> {
  if (!(socket instanceof DenoSocket)) {
    throw new UnsupportedOperationError(
      "startTls",
      socket.backend,
      "open the connection on the deno backend",
    );
  }
  const family = socket.family;
  const conn = socket._detach() as Deno.TcpConn;
  let tls: Deno.TlsConn;
  try {
    tls = await waitFor(
      Deno.startTls(conn, {
        hostname: options.hostname,
        caCerts: options.caCerts,
        alpnProtocols: options.alpnProtocols,
      }),
      "startTls",
    );
  } catch (e) {
    try {
      conn.close();
    } catch { /* gone */ }
    throw tlsError(e);
  }
  const upgraded = new DenoSocket(family, "stream", tls);
  try {
    return { socket: upgraded, alpnProtocol: await upgraded.handshake() };
  } catch (e) {
    upgraded.close();
    throw e;
  }
}

/** @deprecated Renamed {@linkcode connectTls} (verb first, as `Deno.connectTls`, `startTls`). */
export const tlsConnect: typeof connectTls = connectTls;
/** @deprecated Renamed {@linkcode listenTls} (verb first, as `Deno.listenTls`, `HttpServer.listenTls`). */
export const tlsListen: typeof listenTls = listenTls;
/** @deprecated Renamed {@linkcode ConnectTlsOptions} (after `connectTls`, as Deno's). */
export type TlsConnectOptions = ConnectTlsOptions;
/** @deprecated Renamed {@linkcode ListenTlsOptions} (after `listenTls`, as Deno's). */
export type TlsListenOptions = ListenTlsOptions;
