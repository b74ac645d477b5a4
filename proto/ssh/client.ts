/**
 * An SSH client through npm:ssh2 (chosen: a complete SSH implementation) over shrapnel
 * sockets: password or key login, exec, an interactive shell, port forwarding. Every
 * blocking call is an interruption point.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import { Fifo } from "../../core/sync/fifo.ts";
import type { Address } from "../../net/address.ts";
import { loadOnce } from "../_load_once.ts";
import type { SshSession } from "./_client.ts";

/** The code, loaded by the first connect. */
const implementation = loadOnce(() => import("./_client.ts"), "the SSH client");

/** How to log in. */
export interface SshClientOptions {
  /** Host name or address. */
  host: string;
  /** Port (22). */
  port?: number;
  /** User name. */
  username: string;
  /** Password, for password login. */
  password?: string;
  /** Private key text (OpenSSH or PEM), for key login. */
  privateKey?: string;
  /**
   * Where the server's host key is looked up when nothing else is given (OpenSSH format;
   * default `~/.ssh/known_hosts`). A host with no line there is refused, as with OpenSSH's
   * `StrictHostKeyChecking yes`: add it with `ssh-keyscan -p PORT HOST >> FILE` after
   * checking its fingerprint, or pin the fingerprint with `hostKeyFingerprint`.
   */
  knownHostsFile?: string;
  /**
   * The SHA-256 fingerprint(s) of the server's host key, as `ssh-keygen -lf KEY.pub`
   * prints them ("SHA256:..."): when given, known_hosts is not read.
   */
  hostKeyFingerprint?: string | string[];
  /**
   * A verifier of your own (gets the raw public key blob; true accepts): when given, neither
   * known_hosts nor a fingerprint is used.
   */
  hostVerifier?: (key: Uint8Array) => boolean;
  /**
   * `true` accepts any host key: anyone on the path can then impersonate the server and
   * read the password. Only for tests and throwaway hosts. `false` (the default) verifies.
   */
  insecureAcceptAnyHostKey?: boolean;
  /** Seconds to wait for the login (10). */
  readyTimeout?: number;
}

/** What a command printed, and how it ended. */
export interface ExecResult {
  /** Standard output, as text. */
  stdout: string;
  /** Standard error, as text. */
  stderr: string;
  /** Exit code (null if killed by a signal, or if the server sent no exit status). */
  code: number | null;
  /** The signal's name, if one ended it. */
  signal: string | null;
}

/**
 * An interactive channel (a shell): send text, receive what it prints.
 */
export class SshChannel {
  readonly #stream: Duplex;
  readonly #output = new Fifo<Uint8Array | null>();
  #closed = false;
  readonly #lost: (operation: string) => Error | null;
  /** Whether the connection was already lost when the channel closed (not later). */
  #closedByLoss = false;
  #lostSaid = false;

  /** @internal `lost` says whether (and why) the connection under the channel was lost. */
  constructor(stream: Duplex, lost: (operation: string) => Error | null = () => null) {
    this.#stream = stream;
    this.#lost = lost;
    stream.on("data", (d: Uint8Array) => this.#output.push(new Uint8Array(d)));
    (stream as unknown as { stderr?: Duplex }).stderr?.on(
      "data",
      (d: Uint8Array) => this.#output.push(new Uint8Array(d)),
    );
    stream.on("close", () => {
      // The connection's close comes first: a loss seen later did not cut this channel.
      this.#closedByLoss = lost("receive") !== null;
      this.#closed = true;
      this.#output.push(null);
    });
  }

  /** Sends text (or bytes) to the remote side. */
  send(data: string | Uint8Array): void {
    this.#stream.write(data);
  }

  /**
   * The next piece of output, or null once the channel has closed. Interruption point.
   *
   * A channel closed because the connection to the server was lost is not a normal end:
   * `receive` throws an {@linkcode SshError} that is also a `PeerLostError` ("ssh",
   * "receive"), once; then it returns null.
   * @throws {PeerLostError} when the connection was lost under the channel
   */
  async receive(): Promise<Uint8Array | null> {
    if (this.#closed && this.#output.length === 0) return null;
    const piece = await this.#output.pop();
    if (piece !== null) return piece;
    const lost = this.#lostSaid || !this.#closedByLoss ? null : this.#lost("receive");
    if (lost === null) return null;
    this.#lostSaid = true;
    this.#output.push(null); // the next receive: null
    throw lost;
  }

  /** Reads output until `text` appears (or the channel closes); returns all of it. */
  async expect(text: string): Promise<string> {
    let seen = "";
    const decoder = new TextDecoder();
    while (!seen.includes(text)) {
      const piece = await this.receive();
      if (piece === null) break;
      seen += decoder.decode(piece, { stream: true });
    }
    return seen;
  }

  /** Ends our side (EOF) and closes the channel. */
  close(): void {
    this.#stream.end();
  }
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
export class SshClient {
  readonly #impl: SshSession;

  private constructor(impl: SshSession) {
    this.#impl = impl;
  }
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
  static async connect(options: SshClientOptions): Promise<SshClient> {
    const { SshSession } = await implementation();
    return new SshClient(await SshSession.connect(options));
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
  exec(command: string): Promise<ExecResult> {
    return this.#impl.exec(command);
  }

  /** Opens an interactive shell (with a terminal). Interruption point. */
  shell(): Promise<SshChannel> {
    return this.#impl.shell();
  }

  /**
   * A tunnel to `host:port` as seen from the server (direct-tcpip): a channel to send
   * and receive on. Interruption point.
   */
  forwardOut(host: string, port: number): Promise<SshChannel> {
    return this.#impl.forwardOut(host, port);
  }

  /**
   * Local port forwarding (ssh -L): listens on `local` and tunnels each connection to
   * `host:port` as seen from the server. Returns the listening address.
   */
  forwardLocal(local: string | Address, host: string, port: number): Address {
    return this.#impl.forwardLocal(local, host, port);
  }

  /** Closes the connection (and stops local forwarders). */
  close(): void {
    return this.#impl.close();
  }
}
