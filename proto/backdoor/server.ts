/**
 * The backdoor: a JavaScript REPL into the running process, on a unix socket or a
 * loopback TCP port (telnet, `nc`, `socat`), or over SSH (`sshServe`).
 *
 * @module
 */

import { spawn, type Thread } from "../../core/thread.ts";
import { type Address, isIpLiteral, parseAddress } from "../../net/address.ts";
import { SocketReader } from "../../net/buffered_reader.ts";
import { listenOn } from "../../net/constructors.ts";
import { EOFError, SocketError } from "../../net/errors.ts";
import type { Socket } from "../../net/socket.ts";
import { type LineIO, Repl, type ReplOptions } from "./repl.ts";

/** Options of {@linkcode serve}. */
export interface BackdoorOptions extends ReplOptions {
  /** A unix socket path to listen on (preferred: file permissions guard it). */
  unixPath?: string;
  /** A TCP port on `host` (loopback by default). */
  port?: number;
  /** The host for `port` ("127.0.0.1"). Anything not loopback needs `allowRemote`. */
  host?: string;
  /** Allow a non-loopback host (you want `sshServe` instead). */
  allowRemote?: boolean;
  /** A login hook: asked for a user and a password before the session starts. */
  login?: (user: string, password: string) => boolean | Promise<boolean>;
}

/** A running backdoor. */
export interface Backdoor {
  /** Where it listens. */
  address: Address;
  /** Sessions open now. */
  sessions(): number;
  /** Stops listening and ends the sessions. Interruption point. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder();

/** A socket as lines of UTF-8 text. */
export function socketLines(socket: Socket): LineIO {
  const reader = new SocketReader(socket, 4096);
  return {
    async readLine() {
      const line = await reader.readLine(1 << 20);
      if (line === null) return null;
      // readLine decodes Latin-1: back to bytes, then UTF-8.
      return utf8.decode(Uint8Array.from(line, (c) => c.charCodeAt(0))).replace(/\r$/, "");
    },
    async write(text) {
      await socket.send(encoder.encode(text));
    },
  };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/**
 * Serves the REPL: each connection gets a thread and a session of its own.
 *
 * @example
 * ```ts ignore
 * import { serve } from "./mod.ts";
 * const backdoor = serve({ unixPath: "/tmp/app.backdoor", globals: { server } });
 * // elsewhere: socat - UNIX-CONNECT:/tmp/app.backdoor
 * ```
 * @throws {TypeError} for a non-loopback host without `allowRemote`
 */
export function serve(options: BackdoorOptions): Backdoor {
  let address: string;
  if (options.unixPath !== undefined) address = options.unixPath;
  else {
    const host = options.host ?? "127.0.0.1";
    if (!isLoopback(host) && !options.allowRemote) {
      throw new TypeError(
        `the backdoor listens on loopback only (asked: ${host}); see allowRemote`,
      );
    }
    if (!isIpLiteral(host) && host !== "localhost") throw new TypeError(`not an address: ${host}`);
    const ip = host === "localhost" ? "127.0.0.1" : host;
    address = ip.includes(":") ? `[${ip}]:${options.port ?? 0}` : `${ip}:${options.port ?? 0}`;
  }
  if (options.unixPath !== undefined) {
    try {
      Deno.removeSync(options.unixPath); // a stale socket file from an earlier run
    } catch { /* none */ }
  }
  const listener = listenOn(parseAddress(address));
  const sessions = new Set<Thread>();
  let closing = false;
  const acceptor = spawn({ name: "backdoor acceptor" }, async () => {
    try {
      for (;;) {
        const [socket] = await listener.accept();
        const session = spawn({ name: "backdoor session" }, async () => {
          const io = socketLines(socket);
          try {
            if (options.login && !await login(io, options.login)) return;
            await new Repl(io, options).run();
          } catch (e) {
            if (!(e instanceof SocketError || e instanceof EOFError)) throw e;
          } finally {
            socket.close();
            sessions.delete(session);
          }
        });
        sessions.add(session);
      }
    } catch (e) {
      if (!closing) throw e;
    }
  });
  return {
    address: listener.getsockname(),
    sessions: () => sessions.size,
    async close() {
      closing = true;
      listener.close();
      for (const s of sessions) s.shutdown();
      for (const s of [...sessions]) await s.join().catch(() => {});
      await acceptor.join().catch(() => {});
      if (options.unixPath !== undefined) {
        try {
          Deno.removeSync(options.unixPath);
        } catch { /* gone */ }
      }
    },
  };
}

/** Asks for a user and password (three tries); true if the hook accepts them. */
export async function login(
  io: LineIO,
  check: (user: string, password: string) => boolean | Promise<boolean>,
): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    await io.write("login: ");
    const user = await io.readLine();
    if (user === null) return false;
    await io.write("password: ");
    const password = await io.readLine();
    if (password === null) return false;
    if (await check(user, password)) return true;
    await io.write("login incorrect\n");
  }
  return false;
}
