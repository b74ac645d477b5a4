/**
 * How `HttpClient` opens connections by default: plain TCP for http, TLS for https.
 *
 * @module
 */

import { connectTo } from "../../net/constructors.ts";
import type { Socket } from "../../net/socket.ts";
import { startTls } from "../../net/tls.ts";
import { HttpProtocolError } from "./errors.ts";

/** Options of {@linkcode httpConnector}. */
export interface HttpConnectorOptions {
  /** Extra CA certificates (PEM) trusted for https, besides Deno's roots. */
  caCerts?: string[];
  /**
   * The ALPN protocols offered, best first (["http/1.1"]); `HttpClient` offers "h2" too
   * when it may speak HTTP/2. The caller learns the choice from the socket's `handshake()`.
   */
  alpnProtocols?: string[];
}

/**
 * A connector for `HttpClient`: the host is resolved by our resolver (`setResolver`) and
 * connected on the current socket backend for http; for https, on the portable backend
 * (Deno's TLS needs its own connection), then TLS with the certificate verified against
 * the host name (or IP address), offering ALPN `alpnProtocols` ("http/1.1"). The roots trusted are Deno's
 * (Mozilla's bundle, or the system's store with `DENO_TLS_CA_STORE=system`) plus
 * `caCerts`; there is no option to skip verification.
 *
 * Interruption point: an interrupted connect closes what was opened.
 *
 * @example
 * ```ts ignore
 * const client = new HttpClient({ connect: httpConnector({ caCerts: [testCa] }) });
 * ```
 * @throws {TlsError} if the handshake fails (untrusted certificate, wrong name)
 * @throws {HttpProtocolError} if the server agrees on a protocol that was not offered
 */
export function httpConnector(
  options: HttpConnectorOptions = {},
): (host: string, port: number, secure: boolean) => Promise<Socket> {
  const offered = options.alpnProtocols ?? ["http/1.1"];
  return async (host, port, secure) => {
    const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    if (!secure) return connectTo(address);
    const tcp = await connectTo(address, { backend: "deno" });
    let tls: { socket: Socket; alpnProtocol: string | null };
    try {
      tls = await startTls(tcp, {
        hostname: host,
        caCerts: options.caCerts,
        alpnProtocols: offered,
      });
    } catch (e) {
      tcp.close();
      throw e;
    }
    if (tls.alpnProtocol !== null && !offered.includes(tls.alpnProtocol)) {
      tls.socket.close();
      throw new HttpProtocolError(`the server agreed on ${tls.alpnProtocol}, not offered`, 502);
    }
    return tls.socket;
  };
}
