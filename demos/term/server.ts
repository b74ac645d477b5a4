/**
 * The web terminal demo (`deno task demo:term`): the backdoor REPL in a browser page, over
 * a TLS WebSocket, behind a login.
 *
 * Options: --port=8443 --host=127.0.0.1 --user=admin --password=... (a random one is made
 * and printed if none is given) --cert=cert.pem --key=key.pem (a self-signed pair is made
 * with openssl if none is given).
 *
 * @module
 */

import { main } from "../../core/main.ts";
import { Event } from "../../core/sync/event.ts";
import { waitFor } from "../../core/wait_for.ts";
import {
  applyCompletion,
  type Completion,
  type LineIO,
  Repl,
  type ReplOptions,
} from "../../proto/backdoor/repl.ts";
import { faviconHandler, HttpServer, staticFilesHandler } from "../../proto/http/mod.ts";
import { type ServerWebSocket, websocketHandler } from "../../proto/websocket/mod.ts";

/** Options of {@linkcode startTerm}. */
export interface TermOptions extends ReplOptions {
  /** Listening address ("127.0.0.1:8443"). */
  listen?: string;
  /** The certificate chain and key (PEM). */
  tls: { cert: string; key: string };
  /** The one account: user name. */
  user: string;
  /** The one account: password. */
  password: string;
}

/** A running web terminal. */
export interface Term {
  /** The page's URL. */
  url: string;
  /** The HTTP server. */
  server: HttpServer;
  /** Stops it. */
  stop(): Promise<void>;
}

const publicDir = new URL("./public/", import.meta.url).pathname;

/** A message from the page asking to complete the line that follows (Tab). */
const COMPLETE = "\u0002";

/**
 * A WebSocket as lines: each text message is a line typed; output goes out as text. A
 * message starting with COMPLETE asks for the completion of the line after it; the answer
 * is COMPLETE and JSON: `{ line, candidates }` (candidates listed when several remain).
 */
function socketLines(ws: ServerWebSocket): LineIO {
  let complete: ((line: string) => Completion) | null = null;
  return {
    async readLine() {
      for (;;) {
        const message = await ws.receive();
        if (message === null) return null;
        if (message.type !== "text") continue;
        if (!message.data.startsWith(COMPLETE)) return message.data;
        if (complete === null) continue; // not logged in yet: nothing to complete
        const line = message.data.slice(COMPLETE.length);
        const c = complete(line);
        const result = applyCompletion(line, c);
        await ws.sendText(
          COMPLETE + JSON.stringify({
            line: result.line,
            candidates: result.list ? c.candidates.slice(0, 200) : [],
          }),
        );
      }
    },
    async write(text) {
      if (!ws.closed) await ws.sendText(text);
    },
    setCompleter(completer) {
      complete = completer;
    },
  };
}

/** Compares without revealing where two strings differ through timing. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Starts the web terminal (call from a thread).
 *
 * @example
 * ```ts ignore
 * const term = startTerm({ tls: { cert, key }, user: "admin", password: "secret" });
 * console.log(term.url);
 * ```
 */
export function startTerm(options: TermOptions): Term {
  const server = new HttpServer();
  server.push(websocketHandler("/repl", async (ws) => {
    const io = socketLines(ws);
    // The page sends the user name and the password as its first two lines.
    for (let attempt = 0; attempt < 3; attempt++) {
      const user = await io.readLine(), password = await io.readLine();
      if (user === null || password === null) return;
      if (sameSecret(user, options.user) && sameSecret(password, options.password)) {
        await io.write("\u0001ok\n"); // the page's cue that the login worked
        await new Repl(io, { welcome: "shrapnel web terminal: help() for help", ...options }).run();
        return;
      }
      await io.write("login incorrect\n");
    }
  }, { hixie76: false }));
  server.push(faviconHandler()).push(staticFilesHandler(publicDir));
  server.listenTls(options.listen ?? "127.0.0.1:8443", options.tls);
  return { url: `${server.url}/`, server, stop: () => server.close() };
}

/** A self-signed certificate for localhost and 127.0.0.1, made with openssl. */
export async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const out = await waitFor(
      new Deno.Command("openssl", {
        args: [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-keyout",
          `${dir}/key.pem`,
          "-out",
          `${dir}/cert.pem`,
          "-days",
          "30",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-addext",
          "basicConstraints=critical,CA:FALSE",
        ],
        stdout: "null",
        stderr: "piped",
      }).output(),
    );
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return {
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/key.pem`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function option(name: string): string | undefined {
  return Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

if (import.meta.main) {
  await main(async () => {
    const cert = option("cert"), key = option("key");
    const tls = cert && key
      ? { cert: await Deno.readTextFile(cert), key: await Deno.readTextFile(key) }
      : await selfSignedCertificate();
    const password = option("password") ??
      [...crypto.getRandomValues(new Uint8Array(9))].map((b) => b.toString(36).padStart(2, "0"))
        .join("");
    const host = option("host") ?? "127.0.0.1";
    const term = startTerm({
      listen: `${host.includes(":") ? `[${host}]` : host}:${option("port") ?? "8443"}`,
      tls,
      user: option("user") ?? "admin",
      password,
    });
    console.log(
      `web terminal: open ${term.url} (user ${option("user") ?? "admin"}, password ${password})`,
    );
    if (!cert) console.log("(a self-signed certificate: the browser will ask you to accept it)");
    await new Event().wait(); // until SIGINT/SIGTERM
  });
}
