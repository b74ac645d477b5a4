/**
 * The implementation of ./client.ts's {@linkcode SshClient}, loaded by its first connect.
 *
 * @module
 */

// @ts-types="@types/ssh2"
import type * as ssh2 from "ssh2";
import { loadSsh2 } from "./_ssh2.ts";
import { concatBytes } from "../../core/bytes.ts";
import { spawn, type Thread } from "../../core/thread.ts";
import { waitFor } from "../../core/wait_for.ts";
import { connectTo, listenOn } from "../../net/constructors.ts";
import { SocketDuplex } from "../../net/duplex.ts";
import { markPeerLost } from "../../net/errors.ts";
import type { Address } from "../../net/address.ts";
import type { Socket } from "../../net/socket.ts";
import { HostKeyError, SshError, SshProtocolError } from "./errors.ts";
import {
  checkKnownHosts,
  defaultKnownHostsPath,
  hostKeyFingerprint,
  keyType,
  knownHostsName,
  knownKeyTypes,
} from "./known_hosts.ts";
import { type ExecResult, SshChannel, type SshClientOptions } from "./client.ts";
import { ShrapnelError } from "../../core/errors.ts";

/**
 * ssh2's error as ours. The peer broke the protocol when ssh2 says so (`level`
 * "protocol") or, for an error event of the connection (`connection`), when the error has
 * neither level nor code: ssh2 emits its parser's exceptions ("Bad packet length", a MAC
 * that does not verify) as they are, while its other errors carry a level, and a
 * DISCONNECT from the server a code.
 */
function sshError(e: unknown, connection = false): unknown {
  if (!(e instanceof Error) || e instanceof ShrapnelError) return e;
  const { level, code } = e as { level?: unknown; code?: unknown };
  return level === "protocol" || (connection && level === undefined && code === undefined)
    ? new SshProtocolError(e.message, { cause: e })
    : new SshError(e.message);
}

/**
 * An SSH connection.
 *
 * @example
 * ```ts ignore
 * const ssh = await SshClient.connect({ host: "10.0.0.5", username: "ops", privateKey });
 * console.log((await ssh.exec("uptime")).stdout);
 * ssh.close();
 * ```
 */
export class SshSession {
  readonly #client: ssh2.Client;
  #forwarders: { listener: Socket; thread: Thread }[] = [];
  /** Set when the connection ended without `close()`: the server or the network went away. */
  #gone = false;
  #ending = false;
  #lastError: unknown = undefined;

  constructor(client: ssh2.Client) {
    this.#client = client;
    // The connection's close comes before its channels' closes (ssh2 cleans them up after).
    client.on("close", () => {
      if (!this.#ending) this.#gone = true;
    });
    client.on("error", (e: unknown) => {
      this.#lastError = e;
    });
  }

  /** The error for `operation` if the connection was lost under it, else null. */
  readonly #lost = (operation: string): Error | null => {
    if (!this.#gone) return null;
    const cause = this.#lastError;
    const why = cause instanceof Error ? `: ${cause.message}` : "";
    return markPeerLost(
      new SshError(`the connection to the server was lost${why}`),
      "ssh",
      operation,
      cause,
    );
  };

  /**
   * Connects, verifies the server's host key, and logs in. The key is verified before any
   * credential is sent, by the first of: `insecureAcceptAnyHostKey`, `hostVerifier`,
   * `hostKeyFingerprint`, `knownHostsFile` (default `~/.ssh/known_hosts`).
   *
   * Interruption point.
   * @throws {HostKeyError} if the host key is refused (unknown host, changed or revoked
   *   key, fingerprint mismatch)
   * @throws {SshError} if the login is refused or the handshake fails
   * @throws {TypeError} if `insecureAcceptAnyHostKey` is given but not a boolean
   */
  static async connect(options: SshClientOptions): Promise<SshSession> {
    const port = options.port ?? 22;
    const verification = await hostKeyCheck(options, port);
    const host = options.host.includes(":") ? `[${options.host}]` : options.host;
    const socket = await connectTo(`${host}:${port}`);
    const client = new (await loadSsh2()).Client();
    const ready = new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", reject);
    });
    client.on("error", () => {}); // later errors surface in the calls
    client.connect({
      sock: new SocketDuplex(socket) as unknown as import("node:stream").Readable,
      username: options.username,
      password: options.password,
      privateKey: options.privateKey,
      readyTimeout: (options.readyTimeout ?? 10) * 1000,
      hostVerifier: (key: Uint8Array) => verification.verify(new Uint8Array(key)),
      ...(verification.preferred ? { algorithms: { serverHostKey: verification.preferred } } : {}),
    } as ssh2.ConnectConfig);
    try {
      await waitFor(ready, "ssh login");
    } catch (e) {
      client.end();
      throw verification.refused ?? sshError(e, true);
    }
    return new SshSession(client);
  }

  /**
   * Runs a command and waits for it to end.
   *
   * Interruption point: the channel is closed (the remote command gets SIGHUP, as when
   * an ssh client goes away).
   * A command whose channel the server closed without an exit status or signal (as
   * OpenSSH's client says, "remote command exited without exit status") has `code` and
   * `signal` null.
   * @throws {PeerLostError} (an {@linkcode SshError}, "ssh", "exec") when the connection
   *   was lost under the open channel before the command's exit status came: whether it
   *   ran to its end is unknown
   */
  async exec(command: string): Promise<ExecResult> {
    const stream = await waitFor(
      new Promise<ssh2.ClientChannel>((resolve, reject) =>
        this.#client.exec(command, (e, s) => e ? reject(e) : resolve(s))
      ),
      "ssh exec",
    ).catch((e) => {
      throw sshError(e);
    });
    const out: Uint8Array[] = [], err: Uint8Array[] = [];
    stream.on("data", (d: Uint8Array) => out.push(new Uint8Array(d)));
    stream.stderr.on("data", (d: Uint8Array) => err.push(new Uint8Array(d)));
    // The loss is judged as of the channel's close (as a shell channel's is): the
    // connection's close comes before its channels' closes, so a channel the server closed
    // itself (with or without an exit status) was whole, even if the server left right after.
    const ended = new Promise<[number | null, string | null, Error | null]>((resolve) => {
      let code: number | null = null, signal: string | null = null;
      stream.on("exit", (c: number | null, s?: string) => {
        code = c ?? null;
        signal = s ?? null;
      });
      stream.on("close", () => resolve([code, signal, this.#lost("exec")]));
    });
    try {
      const [code, signal, lost] = await waitFor(ended, `ssh exec ${command}`);
      if (lost !== null && code === null && signal === null) throw lost;
      const text = (parts: Uint8Array[]) => new TextDecoder().decode(concatBytes(parts));
      return { stdout: text(out), stderr: text(err), code, signal };
    } catch (e) {
      stream.close();
      throw e;
    }
  }

  /** Opens an interactive shell (with a terminal). Interruption point. */
  async shell(): Promise<SshChannel> {
    const stream = await waitFor(
      new Promise<ssh2.ClientChannel>((resolve, reject) =>
        this.#client.shell({ term: "dumb" }, (e, s) => e ? reject(e) : resolve(s))
      ),
      "ssh shell",
    ).catch((e) => {
      throw sshError(e);
    });
    return new SshChannel(stream, this.#lost);
  }

  /**
   * A tunnel to `host:port` as seen from the server (direct-tcpip): a channel to send
   * and receive on. Interruption point.
   */
  async forwardOut(host: string, port: number): Promise<SshChannel> {
    const stream = await waitFor(
      new Promise<ssh2.ClientChannel>((resolve, reject) =>
        this.#client.forwardOut("127.0.0.1", 0, host, port, (e, s) => e ? reject(e) : resolve(s))
      ),
      "ssh forwardOut",
    ).catch((e) => {
      throw sshError(e);
    });
    return new SshChannel(stream, this.#lost);
  }

  /**
   * Local port forwarding (ssh -L): listens on `local` and tunnels each connection to
   * `host:port` as seen from the server. Returns the listening address.
   */
  forwardLocal(local: string | Address, host: string, port: number): Address {
    const listener = listenOn(local);
    const thread = spawn({ name: `ssh -L ${host}:${port}` }, async () => {
      for (;;) {
        let conn: Socket;
        try {
          [conn] = await listener.accept();
        } catch (e) {
          if (listener.closed) return; // close() stopped it
          throw e;
        }
        spawn({ name: "ssh tunnel" }, async () => {
          let channel: SshChannel;
          try {
            channel = await this.forwardOut(host, port);
          } catch {
            conn.close();
            return;
          }
          const upstream = spawn({ name: "ssh tunnel out" }, async () => {
            const buffer = new Uint8Array(16384);
            try {
              for (;;) {
                const n = await conn.recvInto(buffer);
                if (n === 0) break;
                channel.send(buffer.slice(0, n));
              }
            } catch { /* the local side went away */ }
            channel.close();
          });
          try {
            for (;;) {
              const piece = await channel.receive();
              if (piece === null) break;
              await conn.send(piece);
            }
          } catch { /* the local side went away */ }
          conn.close();
          upstream.shutdown();
        });
      }
    });
    this.#forwarders.push({ listener, thread });
    return listener.localAddress();
  }

  /** Closes the connection (and stops local forwarders). */
  close(): void {
    for (const { listener, thread } of this.#forwarders) {
      listener.close();
      thread.shutdown();
    }
    this.#forwarders = [];
    this.#ending = true;
    this.#client.end();
  }
}

/** The host key algorithms ssh2 speaks, by the key type a known_hosts line names. */
const ALGORITHMS_OF_TYPE: Record<string, string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/** How one connection verifies the host key, and why it refused one if it did. */
interface HostKeyCheck {
  verify(key: Uint8Array): boolean;
  /** Host key algorithms to ask for first (those known_hosts has keys of). */
  preferred: { remove: string[]; prepend: string[] } | null;
  refused: HostKeyError | null;
}

async function hostKeyCheck(options: SshClientOptions, port: number): Promise<HostKeyCheck> {
  const name = knownHostsName(options.host, port);
  const check: HostKeyCheck = { verify: () => false, preferred: null, refused: null };
  const refuse = (reason: HostKeyError["reason"], key: Uint8Array, detail: string) => {
    check.refused = new HostKeyError(reason, name, hostKeyFingerprint(key), detail);
    return false;
  };
  const insecure = options.insecureAcceptAnyHostKey;
  if (insecure !== undefined && typeof insecure !== "boolean") {
    throw new TypeError(`insecureAcceptAnyHostKey must be true or false, not ${String(insecure)}`);
  }
  if (insecure === true) {
    check.verify = () => true;
    return check;
  }
  if (options.hostVerifier !== undefined) {
    const verifier = options.hostVerifier;
    check.verify = (key) =>
      verifier(key) || refuse("mismatch", key, "the hostVerifier given refused it");
    return check;
  }
  if (options.hostKeyFingerprint !== undefined) {
    const pinned = [options.hostKeyFingerprint].flat().map((f) =>
      f.startsWith("SHA256:") ? f.replace(/=+$/, "") : `SHA256:${f.replace(/=+$/, "")}`
    );
    check.verify = (key) =>
      pinned.includes(hostKeyFingerprint(key)) ||
      refuse("mismatch", key, `it is not the pinned ${pinned.join(" or ")}`);
    return check;
  }
  const path = options.knownHostsFile ?? defaultKnownHostsPath();
  let text = "";
  if (path !== null) {
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const types = knownKeyTypes(text, options.host, port).flatMap((t) => ALGORITHMS_OF_TYPE[t] ?? []);
  // Ask for the key types known_hosts has first, as OpenSSH does: else the server may
  // present another key of its own, which would look unknown.
  if (types.length > 0) check.preferred = { remove: types, prepend: [...types].reverse() };
  check.verify = (key) => {
    const verdict = checkKnownHosts(text, options.host, port, key);
    switch (verdict.status) {
      case "known":
        return true;
      case "revoked":
        return refuse("revoked", key, `marked @revoked in ${path} line ${verdict.line}`);
      case "changed":
        return refuse(
          "changed",
          key,
          `${path} line ${verdict.line} has another key for this host: ` +
            `it may be an impostor (a ${keyType(key)} key was presented)`,
        );
      case "unknown":
        return refuse(
          "unknown",
          key,
          path === null
            ? "no known_hosts file (no HOME): pass knownHostsFile or hostKeyFingerprint"
            : `no line for it in ${path}: check the fingerprint, then add it ` +
              `(ssh-keyscan${port === 22 ? "" : ` -p ${port}`} ${options.host} >> ${path}) ` +
              "or pass hostKeyFingerprint",
        );
    }
  };
  return check;
}
