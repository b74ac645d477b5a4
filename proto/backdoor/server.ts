/**
 * The backdoor: a JavaScript REPL into the running process, on a unix socket or a
 * loopback TCP port (telnet, `nc`, `socat`), or over SSH (`serveSsh`).
 *
 * @module
 */

import { TimeoutError } from "../../core/errors.ts";
import { ThreadGroup, type ThreadGroupStatistics } from "../../core/thread_group.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { Acceptor, type AcceptorStatistics } from "../../net/acceptor.ts";
import { type Address, isIpLiteral, parseAddress } from "../../net/address.ts";
import { SocketReader } from "../../net/buffered_reader.ts";
import { listenOn } from "../../net/constructors.ts";
import { AddressInUseError, EOFError, SocketError } from "../../net/errors.ts";
import type { Socket } from "../../net/socket.ts";
import { LoginThrottle, type LoginThrottleOptions } from "./login_throttle.ts";
import { type LineIO, Repl, type ReplOptions } from "./repl.ts";

/** Options of {@linkcode serve}. */
export interface BackdoorOptions extends ReplOptions {
  /**
   * A unix socket path to listen on (preferred: file permissions guard it). The socket is
   * made with mode 0600 whatever the umask: only this user (and root) can connect. A stale
   * socket left at the path by an earlier run is replaced; a live one, or any other kind of
   * file, is an error.
   */
  unixPath?: string;
  /** A TCP port on `host` (loopback by default). */
  port?: number;
  /** The host for `port` ("127.0.0.1"). Anything not loopback needs `allowRemote`. */
  host?: string;
  /** Allow a non-loopback host (you want `serveSsh` instead). */
  allowRemote?: boolean;
  /**
   * A login hook: asked for a user and a password before the session starts. Required on
   * TCP (any local user can connect to a loopback port) unless
   * `insecureNoLoginOnTcp` says otherwise.
   */
  login?: (user: string, password: string) => boolean | Promise<boolean>;
  /**
   * Serve TCP without `login`: ANY LOCAL USER (and any process of theirs) GETS A REPL
   * INSIDE THIS PROCESS. For tests and single-user machines only.
   */
  insecureNoLoginOnTcp?: boolean;
  /** Seconds a connection has to log in (30); then it is closed. */
  loginTimeout?: number;
  /**
   * After each failed login, the peer's next password is checked only after a delay, on
   * any connection: 1 s, doubling, at most 60 s (a wait longer than `loginTimeout` ends in
   * "login timed out"); forgotten after a login or once quiet that long; 1024 peers
   * remembered (loopback IPv4 counts as one peer), the others share one entry.
   */
  loginThrottle?: LoginThrottleOptions;
  /** Most sessions at once (16); more wait in the listen backlog. */
  maxSessions?: number;
}

/** A running backdoor. */
export interface Backdoor {
  /** Where it listens. */
  address: Address;
  /** Sessions open now. */
  sessions(): number;
  /**
   * The acceptor's counters (sessions accepted, cap, resource errors) and the session
   * threads' group (running, finished, failed).
   */
  statistics(): { acceptor: AcceptorStatistics; sessions: ThreadGroupStatistics };
  /**
   * Stops listening, shuts the sessions down and waits for their threads. Interruption
   * point: interrupted, it still shuts every session down and waits for them, then throws.
   */
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
 * @internal Makes room for a unix socket at `path`: nothing there is fine; a socket nobody
 * listens on (left by a process that died) is removed; a socket somebody listens on, or a
 * file of any other kind, is an error, never deleted.
 * @throws {AddressInUseError} if a live socket is there
 * @throws {Deno.errors.AlreadyExists} if another kind of file is there
 */
export function clearStaleSocket(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isSocket) {
    throw new Deno.errors.AlreadyExists(`${path} exists and is not a socket: not removed`);
  }
  if (unixSocketIsLive(path)) {
    throw new AddressInUseError("EADDRINUSE", "bind", `${path}: a live socket is there`);
  }
  Deno.removeSync(path);
}

/**
 * Whether a process listens on the unix socket at `path`, from the kernel's table of unix
 * sockets (/proc/net/unix: bound sockets with their paths). Without that table (not Linux)
 * a socket file is taken as live: refusing is the safe mistake.
 */
function unixSocketIsLive(path: string): boolean {
  let table: string;
  try {
    table = Deno.readTextFileSync("/proc/net/unix");
  } catch {
    return true;
  }
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  // Columns: Num RefCount Protocol Flags Type St Inode Path (a path as it was bound:
  // absolute, or relative to the binder's directory).
  for (const line of table.split("\n")) {
    const columns = line.trim().split(/\s+/);
    if (columns.length < 8) continue;
    const bound = columns.slice(7).join(" ");
    if (bound === path || bound === absolute) return true;
    if (!bound.startsWith("/") && absolute.endsWith(`/${bound}`)) return true; // unsure: live
  }
  return false;
}

/** Listens on a unix socket made with mode 0600, whatever the umask. */
function listenPrivate(path: string): Socket {
  // The umask is the process's: set only for the synchronous bind (no await in between).
  const old = Deno.umask(0o177);
  let listener: Socket;
  try {
    listener = listenOn(parseAddress(path));
  } finally {
    Deno.umask(old);
  }
  try {
    Deno.chmodSync(path, 0o600);
  } catch (e) {
    listener.close();
    throw e;
  }
  return listener;
}

/**
 * Serves the REPL: each connection gets a thread and a session of its own.
 *
 * Access: on a unix socket, its 0600 mode (this user only); on TCP, which any local user
 * can reach, the `login` hook (required unless `insecureNoLoginOnTcp`). Connections are
 * taken by the shared {@linkcode Acceptor} (at most `maxSessions` at once; EMFILE and the
 * like are survived).
 *
 * @example
 * ```ts ignore
 * import { serve } from "./mod.ts";
 * const backdoor = serve({ unixPath: "/tmp/app.backdoor", globals: { server } });
 * // elsewhere: socat - UNIX-CONNECT:/tmp/app.backdoor
 * ```
 * @throws {TypeError} for a non-loopback host without `allowRemote`, or TCP without
 *   `login` nor `insecureNoLoginOnTcp`
 * @throws {AddressInUseError} if a live socket is at `unixPath`
 * @throws {Deno.errors.AlreadyExists} if a file that is not a socket is at `unixPath`
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
    if (options.login === undefined && !options.insecureNoLoginOnTcp) {
      throw new TypeError(
        "a TCP backdoor needs a login hook (any local user can connect to it): pass `login`, " +
          "use `unixPath`, or `insecureNoLoginOnTcp: true` for a single-user machine",
      );
    }
    const ip = host === "localhost" ? "127.0.0.1" : host;
    address = ip.includes(":") ? `[${ip}]:${options.port ?? 0}` : `${ip}:${options.port ?? 0}`;
  }
  let listener: Socket;
  if (options.unixPath !== undefined) {
    clearStaleSocket(options.unixPath);
    listener = listenPrivate(options.unixPath);
  } else listener = listenOn(parseAddress(address));
  // A session that fails other than by its peer leaving is reported through the thread
  // error hook; the other sessions go on.
  const sessions = new ThreadGroup({ name: "backdoor sessions", childErrors: "report" });
  const throttle = new LoginThrottle(options.loginThrottle);
  const acceptor: Acceptor = new Acceptor(listener, (socket) => {
    sessions.spawn({ name: "backdoor session" }, async () => {
      const io = socketLines(socket);
      try {
        const hook = options.login;
        if (hook !== undefined) {
          // Guessing is slowed per peer address, across its connections.
          const check = async (user: string, password: string) => {
            const peer = socket.remoteAddress();
            await throttle.admit(peer);
            const ok = await hook(user, password);
            if (ok) throttle.succeeded(peer);
            else throttle.failed(peer);
            return ok;
          };
          let ok: boolean;
          try {
            ok = await withTimeout(options.loginTimeout ?? 30, () => login(io, check));
          } catch (e) {
            if (!(e instanceof TimeoutError)) throw e;
            await io.write("\nlogin timed out\n");
            return;
          }
          if (!ok) return;
        }
        await new Repl(io, options).run();
      } catch (e) {
        if (!(e instanceof SocketError || e instanceof EOFError)) throw e;
      } finally {
        socket.close();
        acceptor.release();
      }
    });
  }, { name: "backdoor acceptor", maxConnections: options.maxSessions ?? 16 });
  return {
    address: listener.localAddress(),
    sessions: () => sessions.size,
    statistics: () => ({ acceptor: acceptor.statistics(), sessions: sessions.statistics() }),
    async close() {
      try {
        // The acceptor's thread has ended when this returns, and every session it
        // spawned was queued before that: each has started, so its `finally` closes its
        // socket when it is shut down.
        await acceptor.close();
      } finally {
        sessions.shutdown();
        await sessions.join();
      }
      if (options.unixPath !== undefined) {
        try {
          Deno.removeSync(options.unixPath);
        } catch (e) {
          // Gone already is fine; anything else leaves a file behind, which is said.
          if (!(e instanceof Deno.errors.NotFound)) {
            console.error(`shrapnel backdoor: cannot remove ${options.unixPath}:`, e);
          }
        }
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
