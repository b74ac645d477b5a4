/**
 * The HTTP/2 connection code (frames, HPACK, the server's and the client's connection
 * state machines: about 100 KB of source in seven modules), loaded on first use: a
 * server only needs it when a peer sends the HTTP/2 preface, a client when an origin
 * offers h2 in ALPN. Importing the library stays cheap (bench/import.ts).
 *
 * @module
 */
import { awaitModule } from "../../core/_lazy_import.ts";

/** The server side: `serveHttp2` and its host interface. */
export type Http2ServerModule = typeof import("./h2/server_connection.ts");
/** The client side: `Http2ClientPool`. */
export type Http2ClientModule = typeof import("./h2/client_connection.ts");

let serverModule: Http2ServerModule | undefined;
let clientModule: Http2ClientModule | undefined;

/** The HTTP/2 server module, loaded on the first call. Interruption point in a thread. */
export async function loadHttp2Server(): Promise<Http2ServerModule> {
  return serverModule ??= await awaitModule(
    () => import("./h2/server_connection.ts"),
    "the HTTP/2 server",
  );
}

/** The HTTP/2 client module, loaded on the first call. Interruption point in a thread. */
export async function loadHttp2Client(): Promise<Http2ClientModule> {
  return clientModule ??= await awaitModule(
    () => import("./h2/client_connection.ts"),
    "the HTTP/2 client",
  );
}
