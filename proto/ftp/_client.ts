/**
 * The implementation of ./client.ts's {@linkcode FtpClient}, loaded by its first connect.
 *
 * @module
 */

import { concatBytes } from "../../core/bytes.ts";
import { ClosedError, TimeoutError } from "../../core/errors.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { ConnectionResetError, markPeerLost, SocketError } from "../../net/errors.ts";
import { type Address, formatAddress } from "../../net/address.ts";
import { SocketReader } from "../../net/buffered_reader.ts";
import { connectTo } from "../../net/constructors.ts";
import type { Socket } from "../../net/socket.ts";
import { startTls } from "../../net/tls.ts";
import { FtpError, type FtpOptions, FtpProtocolError, type FtpReply } from "./client.ts";

const encoder = new TextEncoder();
const MAX_LINE = 8192;

/**
 * An FTP session.
 *
 * @example
 * ```ts ignore
 * const ftp = await FtpClient.connect({ host: "127.0.0.1", tls: true });
 * console.log(await ftp.list("/pub"));
 * await ftp.store("/upload/a.txt", new TextEncoder().encode("hi"));
 * await ftp.quit();
 * ```
 */
export class FtpSession {
  #control: Socket;
  #reader: SocketReader;
  readonly #options: FtpOptions;
  #tls = false;
  /**
   * Final replies (226, 426...) of transfers that failed on our side before reading them:
   * read before the next command's own, which would otherwise get them.
   */
  #owed = 0;

  constructor(control: Socket, options: FtpOptions) {
    this.#control = control;
    this.#reader = new SocketReader(control, 4096);
    this.#options = options;
  }

  /**
   * Connects, upgrades to TLS if asked, and logs in. Interruption point.
   * @throws {FtpError} if the server refuses
   */
  static async connect(options: FtpOptions): Promise<FtpSession> {
    const host = options.host.includes(":") ? `[${options.host}]` : options.host;
    // TLS needs a connection Deno owns (startTls): the portable backend then.
    const control = await withTimeout(
      options.connectTimeoutSeconds ?? 10,
      connectTo,
      `${host}:${options.port ?? 21}`,
      { backend: options.tls ? "deno" : undefined },
    );
    const ftp = new FtpSession(control, options);
    try {
      await ftp.#expect(await ftp.reply(), 2);
      if (options.tls) await ftp.#secure();
      await ftp.#login();
    } catch (e) {
      control.close();
      throw e;
    }
    return ftp;
  }

  async #secure(): Promise<void> {
    await this.#expect(await this.command("AUTH TLS"), 2);
    const { socket } = await startTls(this.#control, {
      hostname: this.#options.tlsHostname ?? this.#options.host,
      caCerts: this.#options.caCerts,
    });
    this.#control = socket;
    this.#reader = new SocketReader(socket, 4096);
    this.#tls = true;
    await this.#expect(await this.command("PBSZ 0"), 2);
    await this.#expect(await this.command("PROT P"), 2);
  }

  async #login(): Promise<void> {
    const user = await this.command(`USER ${this.#options.user ?? "anonymous"}`);
    if (user.code === 331) {
      await this.#expect(await this.command(`PASS ${this.#options.password ?? "anonymous@"}`), 2);
    } else await this.#expect(user, 2);
    await this.#expect(await this.command("TYPE I"), 2);
  }

  #expect(reply: FtpReply, first: number): FtpReply {
    if (Math.floor(reply.code / 100) !== first) throw new FtpError(reply.code, reply.text);
    return reply;
  }

  /**
   * Reads one reply (multi-line ones whole). Interruption point.
   * @throws {FtpProtocolError} for a malformed reply
   * @throws {FtpError} with code 0 for a closed connection
   * @throws {TimeoutError} when the reply takes over `replyTimeoutSeconds` (30)
   */
  reply(): Promise<FtpReply> {
    return this.#replyTo("reply");
  }

  /**
   * A reply to `operation`; the control connection closed or reset under it is also a
   * {@linkcode PeerLostError}.
   */
  async #replyTo(operation: string): Promise<FtpReply> {
    try {
      return await withTimeout(this.#options.replyTimeoutSeconds ?? 30, () => this.#reply());
    } catch (e) {
      const gone = e instanceof ConnectionResetError ||
        (e instanceof FtpError && e.code === 0 && e.message.includes("connection closed"));
      throw gone ? markPeerLost(e as object, "ftp", operation) : e;
    }
  }

  async #reply(): Promise<FtpReply> {
    const first = await this.#line();
    if (first === null) throw new FtpError(0, "connection closed");
    const m = /^(\d{3})([ -])(.*)$/.exec(first);
    if (m === null) throw new FtpProtocolError(`malformed reply "${first.slice(0, 80)}"`);
    const code = Number(m[1]);
    const lines = [m[3]];
    if (m[2] === "-") {
      for (let i = 0; i < 1000; i++) {
        const line = await this.#line();
        if (line === null) throw new FtpError(0, "connection closed inside a reply");
        if (line.startsWith(`${m[1]} `)) {
          lines.push(line.slice(4));
          return { code, text: lines.join("\n") };
        }
        lines.push(line);
      }
      throw new FtpProtocolError("reply longer than 1000 lines");
    }
    return { code, text: lines[0] };
  }

  /**
   * One reply line; null at the end of the stream. A line the end of the stream cuts is
   * no reply (`"257 \"/ro"` would be taken whole): the server went away inside it.
   */
  async #line(): Promise<string | null> {
    const reader = this.#reader;
    for (let scanned = 0;;) {
      const buffered = reader.peek();
      if (buffered.indexOf(10, scanned) >= 0) return await reader.readLine(MAX_LINE);
      scanned = buffered.length;
      if (scanned > MAX_LINE + 1) return await reader.readLine(MAX_LINE); // its TooLongError
      if (!await reader.fill()) {
        if (scanned === 0) return null;
        throw new FtpError(0, "connection closed inside a reply line");
      }
    }
  }

  /** Sends a command and reads its reply. Interruption point. */
  async command(line: string): Promise<FtpReply> {
    if (/[\r\n]/.test(line)) throw new TypeError("FTP commands are one line");
    const verb = line.split(" ", 1)[0].toUpperCase();
    try {
      await this.#control.send(encoder.encode(`${line}\r\n`));
    } catch (e) {
      throw e instanceof ConnectionResetError ? markPeerLost(e, "ftp", verb) : e;
    }
    for (; this.#owed > 0; this.#owed--) await this.#replyTo(verb);
    return await this.#replyTo(verb);
  }

  /** Opens a data connection (EPSV, falling back to PASV), TLS-protected if the session is. */
  async #data(): Promise<Socket> {
    const peer = this.#control.remoteAddress() as Address & { host: string };
    let port: number;
    const epsv = await this.command("EPSV");
    if (epsv.code === 229) {
      const m = /\(\|\|\|(\d+)\|\)/.exec(epsv.text);
      if (m === null) throw new FtpProtocolError(`bad EPSV reply "${epsv.text}"`);
      port = Number(m[1]);
    } else {
      const pasv = this.#expect(await this.command("PASV"), 2);
      const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(pasv.text);
      if (m === null) throw new FtpProtocolError(`bad PASV reply "${pasv.text}"`);
      port = Number(m[5]) * 256 + Number(m[6]);
      // The address in the reply is ignored: connecting elsewhere than the server is
      // how FTP bounce attacks work.
    }
    const target = { ...peer, port } as Address;
    return await withTimeout(this.#options.connectTimeoutSeconds ?? 10, connectTo, target, {
      backend: this.#tls ? "deno" : undefined,
    });
  }

  async #secureData(data: Socket): Promise<Socket> {
    if (!this.#tls) return data;
    const { socket } = await startTls(data, {
      hostname: this.#options.tlsHostname ?? this.#options.host,
      caCerts: this.#options.caCerts,
    });
    return socket;
  }

  /**
   * Runs a transfer command over a fresh data connection; `work` uses the connection. The
   * end of the data is trusted only with the server's 2xx reply after it: a server gone
   * mid-transfer (the data connection reset, or the control connection closed before that
   * reply) is a {@linkcode PeerLostError} naming the command ("RETR"...), a transfer the
   * server reports aborted (426, 451) an {@linkcode FtpError}.
   */
  async #transfer<T>(command: string, work: (data: IdleBound) => Promise<T>): Promise<T> {
    const verb = command.split(" ", 1)[0];
    let data = await this.#data();
    let owed = false; // the transfer's final reply, once it started
    try {
      const started = await this.command(command);
      if (started.code !== 125 && started.code !== 150) {
        throw new FtpError(started.code, started.text);
      }
      owed = true;
      data = await this.#secureData(data);
      let result: T;
      try {
        result = await work(new IdleBound(data, this.#options.dataIdleSeconds ?? 30));
      } catch (e) {
        throw e instanceof ConnectionResetError ? markPeerLost(e, "ftp", verb) : e;
      }
      data.close();
      const done = await this.#replyTo(verb);
      owed = false;
      this.#expect(done, 2);
      return result;
    } catch (e) {
      data.close();
      if (owed) this.#owed++;
      throw e;
    }
  }

  /** Names in a directory (NLST). Interruption point. */
  async list(path = ""): Promise<string[]> {
    const text = new TextDecoder().decode(
      await this.#transfer(`NLST${path ? ` ${path}` : ""}`, readAll),
    );
    return text.split(/\r?\n/).filter((l) => l !== "");
  }

  /** The long listing of a directory (LIST), one line per entry. Interruption point. */
  async listDetails(path = ""): Promise<string[]> {
    const text = new TextDecoder().decode(
      await this.#transfer(`LIST${path ? ` ${path}` : ""}`, readAll),
    );
    return text.split(/\r?\n/).filter((l) => l !== "");
  }

  /**
   * Retrieves a file, handing each piece to `sink` as it comes (a stream: nothing is
   * held whole). Returns the bytes received, once the server confirmed the transfer
   * complete. Interruption point.
   * @throws {PeerLostError} ("ftp", "RETR") if the server went away mid-transfer: the
   *   pieces handed to `sink` are then not the whole file
   * @throws {FtpError} if the server reports the transfer failed (426, 451, 550...)
   */
  async retrieve(path: string, sink: (piece: Uint8Array) => Promise<void> | void): Promise<number> {
    return await this.#transfer(`RETR ${path}`, async (data) => {
      let total = 0;
      for (;;) {
        const piece = await data.recv(65536);
        if (piece.length === 0) return total;
        total += piece.length;
        await sink(piece);
      }
    });
  }

  /** Retrieves a whole file. Interruption point. */
  async retrieveBytes(path: string): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    await this.retrieve(path, (p) => {
      parts.push(p);
    });
    return concatBytes(parts);
  }

  /**
   * Stores a file from bytes or a stream of pieces. Returns the bytes sent.
   * Interruption point.
   */
  async store(
    path: string,
    source: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<number> {
    return await this.#transfer(`STOR ${path}`, async (data) => {
      let total = 0;
      const pieces = source instanceof Uint8Array ? [source] : source;
      for await (const piece of pieces) {
        total += await data.send(piece);
      }
      data.shutdown("write");
      return total;
    });
  }

  /** The working directory. */
  async pwd(): Promise<string> {
    const r = this.#expect(await this.command("PWD"), 2);
    return /"((?:[^"]|"")*)"/.exec(r.text)?.[1].replaceAll('""', '"') ?? r.text;
  }

  /** Changes directory. */
  async cwd(path: string): Promise<void> {
    this.#expect(await this.command(`CWD ${path}`), 2);
  }

  /** Makes a directory. */
  async mkdir(path: string): Promise<void> {
    this.#expect(await this.command(`MKD ${path}`), 2);
  }

  /** Deletes a file. */
  async delete(path: string): Promise<void> {
    this.#expect(await this.command(`DELE ${path}`), 2);
  }

  /** Renames. */
  async rename(from: string, to: string): Promise<void> {
    this.#expect(await this.command(`RNFR ${from}`), 3);
    this.#expect(await this.command(`RNTO ${to}`), 2);
  }

  /** A file's size (SIZE). */
  async size(path: string): Promise<number> {
    return Number(this.#expect(await this.command(`SIZE ${path}`), 2).text.trim());
  }

  /**
   * Ends the session (QUIT, then the socket). A connection that is already broken, or a
   * server that does not answer within `replyTimeoutSeconds`, just closes. Interruption
   * point: interrupted, the socket closes and the interrupt is thrown.
   */
  async quit(): Promise<void> {
    try {
      await this.command("QUIT");
    } catch (e) {
      // A refused, timed-out or broken QUIT still ends the session; an interrupt is raised.
      const ended = e instanceof FtpError || e instanceof TimeoutError ||
        e instanceof SocketError || e instanceof ClosedError;
      if (!ended) throw e;
    } finally {
      this.#control.close();
    }
  }

  /** "ftp host:port" */
  toString(): string {
    try {
      return `ftp ${formatAddress(this.#control.remoteAddress())}`;
    } catch {
      return "ftp (closed)";
    }
  }
}

/** A data connection whose every wait is bounded by the idle deadline. */
class IdleBound {
  readonly #socket: Socket;
  readonly #seconds: number;
  constructor(socket: Socket, seconds: number) {
    this.#socket = socket;
    this.#seconds = seconds;
  }
  recv(max: number): Promise<Uint8Array> {
    return withTimeout(this.#seconds, () => this.#socket.recv(max));
  }
  /** Sends in 64 KiB slices, each with the idle deadline: a slow link is not an idle one. */
  async send(piece: Uint8Array): Promise<number> {
    for (let at = 0; at < piece.length; at += 65536) {
      const slice = piece.subarray(at, at + 65536);
      await withTimeout(this.#seconds, () => this.#socket.send(slice));
    }
    return piece.length;
  }
  shutdown(how: "write"): void {
    this.#socket.shutdown(how);
  }
}

async function readAll(data: IdleBound): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const piece = await data.recv(65536);
    if (piece.length === 0) return concatBytes(parts);
    parts.push(piece);
  }
}
