/**
 * The accept loop every server of the library runs: connections handed to a callback,
 * a cap on connections open at once, and resource errors (EMFILE and its kin) survived
 * with a short, growing back-off instead of a dead thread.
 *
 * @module
 */

import { Interrupted } from "../core/errors.ts";
import { sleep } from "../core/sleep.ts";
import { ConditionVariable } from "../core/sync/condition_variable.ts";
import { spawn, type Thread } from "../core/thread.ts";
import type { Address } from "./address.ts";
import { SocketError } from "./errors.ts";
import type { Socket } from "./socket.ts";

/** Options of an {@linkcode Acceptor}. */
export interface AcceptorOptions {
  /** The acceptor thread's name ("acceptor"). */
  name?: string;
  /**
   * Most connections open at once (10 000). At the cap the acceptor stops accepting:
   * new connections wait in the listen backlog (and the kernel refuses them once it is
   * full) until one closes, so that a flood costs no descriptor and no thread.
   */
  maxConnections?: number;
  /** Connections accepted per wake-up at most (64). */
  batch?: number;
  /** Longest pause after a resource error, in seconds (1). The first is 10 ms, then doubled. */
  maxBackoff?: number;
  /**
   * Told once per burst of resource errors (errors with less than 5 s between them make
   * one burst), with its first error (default: a line on stderr).
   */
  onResourceError?: (error: SocketError) => void;
}

/** Counters of an {@linkcode Acceptor}. */
export interface AcceptorStatistics {
  /** Connections accepted since start. */
  accepted: number;
  /** Connections open now (accepted and not yet released). */
  open: number;
  /** The cap on open connections. */
  maxConnections: number;
  /** Times the acceptor stopped accepting because the cap was reached. */
  capped: number;
  /** Resource errors of accept (EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED) since start. */
  resourceErrors: number;
  /** Bursts of resource errors (each reported once). */
  resourceBursts: number;
  /** The errno name of the last resource error, or null. */
  lastResourceError: string | null;
}

/**
 * Errors of `accept` that say "not now", not "never": the process or system is out of
 * descriptors or memory, or one pending connection was reset before we took it.
 */
const TRANSIENT = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM", "ECONNABORTED", "EPROTO"]);

/** The first pause after a resource error, in seconds. */
const FIRST_BACKOFF = 0.01;
/** Milliseconds without a resource error that end a burst. */
const QUIET_MS = 5000;

/**
 * Accepts connections from a listening socket in a thread of its own and hands each to
 * `onConnection`, which must call {@linkcode Acceptor.release} once per connection when
 * it is closed (typically in a `finally` of the connection's thread).
 *
 * Resource errors of `accept` (EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED) never end
 * the loop: it pauses 10 ms, then twice as long at each error in a row up to
 * `maxBackoff` (1 s), and tries again, so that it resumes as soon as descriptors are
 * free. Each burst of errors is reported once (`onResourceError`) and counted in
 * {@linkcode Acceptor.statistics}. Other errors end the acceptor's thread (they are
 * bugs, or the listener is broken); closing the listener ends it quietly.
 *
 * `onConnection` runs in the acceptor's thread: it should spawn, not serve. If it throws,
 * the connection is closed and released and the error is reported on stderr (the loop
 * goes on).
 *
 * @example
 * ```ts
 * import { Acceptor, connectTo, listenOn, spawn } from "../mod.ts";
 * import assert from "node:assert/strict";
 * await spawn(async () => {
 *   const listener = listenOn("127.0.0.1:0");
 *   const acceptor = new Acceptor(listener, (socket) => {
 *     spawn(async () => {
 *       try {
 *         await socket.send(new TextEncoder().encode("hi"));
 *       } finally {
 *         socket.close();
 *         acceptor.release();
 *       }
 *     });
 *   }, { name: "greeter", maxConnections: 100 });
 *   const client = await connectTo(listener.localAddress());
 *   assert.equal(new TextDecoder().decode(await client.recvExact(2)), "hi");
 *   client.close();
 *   assert.equal(acceptor.statistics().accepted, 1);
 *   await acceptor.close();
 * }).join();
 * ```
 */
export class Acceptor {
  /** The listening socket. */
  readonly listener: Socket;
  /** The thread running the loop. */
  readonly thread: Thread;
  readonly #onConnection: (socket: Socket, peer: Address) => void;
  readonly #max: number;
  readonly #batch: number;
  readonly #maxBackoff: number;
  readonly #report: (error: SocketError) => void;
  readonly #freed = new ConditionVariable();
  #open = 0;
  #accepted = 0;
  #capped = 0;
  #errors = 0;
  #bursts = 0;
  #lastError: string | null = null;
  /** When the last resource error happened (ms, `performance.now()`). */
  #lastErrorAt = -Infinity;
  #closing = false;

  /**
   * Starts accepting.
   * @param listener a listening socket (plain or TLS)
   * @param onConnection takes each accepted connection (see the class notes)
   * @param options cap, batch, back-off, report
   * @throws {RangeError} for a `maxConnections` or `batch` below 1
   */
  constructor(
    listener: Socket,
    onConnection: (socket: Socket, peer: Address) => void,
    options: AcceptorOptions = {},
  ) {
    this.listener = listener;
    this.#onConnection = onConnection;
    this.#max = options.maxConnections ?? 10_000;
    this.#batch = options.batch ?? 64;
    if (!(this.#max >= 1) || !(this.#batch >= 1)) {
      throw new RangeError("maxConnections and batch must be at least 1");
    }
    this.#maxBackoff = options.maxBackoff ?? 1;
    const name = options.name ?? "acceptor";
    this.#report = options.onResourceError ??
      ((e) =>
        console.error(
          `shrapnel ${name}: accept failed (${e.code}); backing off, accepting again once resources free up`,
        ));
    this.thread = spawn({ name }, () => this.#run());
  }

  /** Whether `error` is a resource error the loop backs off from. */
  static isResourceError(error: unknown): error is SocketError {
    return error instanceof SocketError && TRANSIENT.has(error.code);
  }

  async #run(): Promise<void> {
    let backoff = 0;
    try {
      while (!this.#closing) {
        if (this.#open >= this.#max) {
          this.#capped++;
          while (this.#open >= this.#max && !this.#closing) await this.#freed.wait();
          continue;
        }
        let batch: [Socket, Address][];
        try {
          batch = await this.listener.acceptMany(Math.min(this.#batch, this.#max - this.#open));
        } catch (e) {
          if (!Acceptor.isResourceError(e) || this.#closing) throw e;
          this.#errors++;
          this.#lastError = e.code;
          const now = performance.now();
          // A burst ends after a quiet second: a descriptor freed now and then between
          // errors (one accept succeeds, the next fails) does not make a new report.
          if (now - this.#lastErrorAt > QUIET_MS) {
            this.#bursts++;
            this.#report(e);
          }
          this.#lastErrorAt = now;
          backoff = backoff === 0 ? FIRST_BACKOFF : Math.min(backoff * 2, this.#maxBackoff);
          await sleep(backoff);
          continue;
        }
        backoff = 0;
        for (let i = 0; i < batch.length; i++) {
          const [socket, peer] = batch[i];
          this.#accepted++;
          this.#open++;
          try {
            this.#onConnection(socket, peer);
          } catch (e) {
            // One connection's failure is not the server's: report it, go on.
            socket.close();
            this.release();
            console.error(`shrapnel ${this.thread.name}: a connection's handler failed:`, e);
          }
        }
      }
    } catch (e) {
      if (this.#closing || this.listener.closed) return;
      if (e instanceof Interrupted) return;
      throw e;
    }
  }

  /** Counts one connection as closed: the acceptor may take another. Call once per connection. */
  release(): void {
    if (this.#open === 0) return;
    if (this.#open-- === this.#max) this.#freed.wakeOne();
  }

  /** Connections open now. */
  get open(): number {
    return this.#open;
  }

  /** Counters since start. */
  statistics(): AcceptorStatistics {
    return {
      accepted: this.#accepted,
      open: this.#open,
      maxConnections: this.#max,
      capped: this.#capped,
      resourceErrors: this.#errors,
      resourceBursts: this.#bursts,
      lastResourceError: this.#lastError,
    };
  }

  /**
   * Stops accepting: closes the listener and waits for the loop's thread to end
   * (connections already accepted are the caller's to close). Interruption point.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.listener.close();
    this.#freed.wakeAll();
    if (!this.thread.dead) this.thread.shutdown();
    try {
      await this.thread.join();
    } catch (e) {
      if (!(e instanceof Interrupted)) throw e;
    }
  }
}
