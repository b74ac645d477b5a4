/**
 * The worker side of a cluster (see `cluster.ts`): who am I, tell the supervisor I am
 * ready, answer its questions, and learn when to stop.
 *
 * @module
 */

import { Interrupted, ShrapnelError } from "../core/errors.ts";
import { Event } from "../core/sync/event.ts";
import { spawn, type Thread, threadDump } from "../core/thread.ts";
import { SocketReader } from "./buffered_reader.ts";
import { connectTo } from "./constructors.ts";
import {
  BACKDOOR_PATH_ENV,
  CONTROL_PATH_ENV,
  type ControlMessage,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  MAX_MESSAGE_ENV,
  readMessage,
  sendMessage,
  WORKER_ID_ENV,
} from "./_cluster_control.ts";
import type { Socket } from "./socket.ts";
import type { Address } from "./address.ts";
import { DenoSocket } from "./deno_socket.ts";

/**
 * {@linkcode joinCluster} was called in a process no supervisor started.
 *
 * @example
 * ```ts
 * import { joinCluster, NotAWorkerError, spawn } from "../mod.ts";
 * const error = await spawn(() => joinCluster().then(() => null, (e) => e)).join();
 * console.log(error instanceof NotAWorkerError); // true when run by hand
 * ```
 */
export class NotAWorkerError extends ShrapnelError {}

function envId(): number | null {
  let raw: string | undefined;
  try {
    raw = Deno.env.get(WORKER_ID_ENV);
  } catch {
    return null; // no --allow-env: then no supervisor could have told us either
  }
  if (raw === undefined) return null;
  const id = Number(raw);
  return Number.isInteger(id) && id > 0 ? id : null;
}

/**
 * Whether this process is a worker started by a cluster supervisor.
 *
 * @example
 * ```ts
 * import { isWorker } from "./cluster_worker.ts";
 * console.log(isWorker()); // false when run by hand
 * ```
 */
export function isWorker(): boolean {
  return envId() !== null;
}

/**
 * This worker's id: 1 to N, stable across its restarts (a restarted or rolled worker
 * takes the id of the one it replaces); null outside a cluster.
 *
 * @example
 * ```ts
 * import { workerId } from "./cluster_worker.ts";
 * console.log(workerId() ?? "not a worker");
 * ```
 */
export function workerId(): number | null {
  return envId();
}

/**
 * Where this worker is to serve its backdoor (a unix socket path), when its supervisor
 * has a `backdoorDir`; null otherwise. Serve it before {@linkcode joinCluster}: once the
 * worker is ready, the supervisor points `<backdoorDir>/worker-<id>` at it, so that an
 * operator enters worker 2 by `socat - UNIX-CONNECT:<backdoorDir>/worker-2`, whichever
 * process is worker 2 now.
 *
 * @example
 * ```ts
 * import { workerBackdoorPath } from "./cluster_worker.ts";
 * const path = workerBackdoorPath(); // e.g. backdoor.serve({ unixPath: path }) if not null
 * console.log(path ?? "no backdoor directory");
 * ```
 */
export function workerBackdoorPath(): string | null {
  if (envId() === null) return null;
  return Deno.env.get(BACKDOOR_PATH_ENV) ?? null;
}

/** Options of {@linkcode joinCluster}. */
export interface JoinClusterOptions {
  /**
   * What the worker reports when the supervisor gathers statistics (default: the
   * process's memory usage and its number of threads). Must return JSON-serialisable data.
   */
  statistics?: () => unknown;
  /**
   * Answers to the program's own questions, by name ({@linkcode Supervisor.ask}): e.g. a
   * shard that reports what it holds, or pauses on request. Each returns JSON-serialisable
   * data; a throw is reported to the asker as an error. "statistics" and "threads" are the
   * built-in questions and cannot be replaced.
   */
  answers?: Record<string, () => unknown>;
}

/**
 * A worker's membership of its cluster: the control connection to the supervisor, and
 * the stop request (SIGTERM from the supervisor, or the supervisor gone). Made by
 * {@linkcode joinCluster}.
 *
 * @example
 * ```ts ignore
 * import { joinCluster } from "../mod.ts";
 * const member = await joinCluster();
 * await member.waitForStop();
 * console.log(`worker ${member.id} stops: ${member.stopReason}`);
 * member.close();
 * ```
 */
export class ClusterMembership {
  /** This worker's id (1..N). */
  readonly id: number;
  readonly #socket: Socket;
  readonly #stop = new Event();
  #stopReason: string | null = null;
  readonly #server: Thread;
  readonly #onSigterm = () => this.#requestStop("SIGTERM");
  readonly #maxMessage: number;

  /** @internal Use {@linkcode joinCluster}. */
  constructor(
    id: number,
    socket: Socket,
    statistics: () => unknown,
    answers: Record<string, () => unknown> = {},
    maxMessageBytes: number = MAX_MESSAGE_BYTES,
  ) {
    this.id = id;
    this.#socket = socket;
    this.#maxMessage = maxMessageBytes;
    Deno.addSignalListener("SIGTERM", this.#onSigterm);
    this.#server = spawn(
      { name: `cluster control ${id}` },
      () => this.#serve(statistics, answers),
    );
  }

  /** Why the worker was asked to stop ("SIGTERM", "supervisor gone"), or null. */
  get stopReason(): string | null {
    return this.#stopReason;
  }

  /**
   * Waits until the supervisor asks this worker to stop (SIGTERM), or is gone (its
   * control connection ended: an orphaned worker stops too). Then drain: stop accepting,
   * finish the requests in flight, and return from `main` within the supervisor's grace.
   *
   * Interruption point: an interrupted wait throws and the request stays pending.
   */
  waitForStop(): Promise<void> {
    return this.#stop.wait();
  }

  /** Whether a stop was requested. */
  get stopping(): boolean {
    return this.#stop.isSet;
  }

  /** Leaves the cluster: closes the control connection and stops listening for SIGTERM. */
  close(): void {
    Deno.removeSignalListener("SIGTERM", this.#onSigterm);
    this.#socket.close();
    if (!this.#server.dead) this.#server.shutdown();
  }

  #requestStop(reason: string): void {
    this.#stopReason ??= reason;
    this.#stop.set();
  }

  async #serve(
    statistics: () => unknown,
    answers: Record<string, () => unknown>,
  ): Promise<void> {
    const reader = new SocketReader(this.#socket);
    try {
      for (;;) {
        const message = await readMessage(reader, this.#maxMessage);
        if (message === null) break;
        if (message.type !== "ask") continue; // newer supervisors may say more
        const reply = answer(message, statistics, answers);
        await this.#socket.send(replyLine(reply, this.#maxMessage));
      }
    } catch (e) {
      // Shut down with the program (main ending) or closed by `close`: nothing to report.
      if (!this.#socket.closed && !(e instanceof Interrupted)) {
        console.error(`shrapnel cluster worker ${this.id}: control channel failed:`, e);
      }
    } finally {
      if (!this.#socket.closed) this.#requestStop("supervisor gone");
    }
  }
}

/**
 * Stops accepting on `listener` without losing a connection: closes it, and hands to
 * `onConnection` any connection the runtime had already accepted for it (on the portable
 * backend Deno accepts ahead of the thread that asked; a plain `close` would leave that
 * one unanswered). What a draining worker calls before it finishes its requests in
 * flight: its share of new connections goes to the other workers from then on.
 *
 * Interruption point: while waiting for an accept in progress to settle (it does at once).
 *
 * @example
 * ```ts
 * import { HttpServer, spawn, stopAccepting } from "../mod.ts";
 * const server = new HttpServer();
 * const listener = server.listen("127.0.0.1:0", { reusePort: true });
 * await spawn(async () => {
 *   await stopAccepting(listener, (socket, peer) => server.serve(socket, peer));
 *   await server.close();
 * }).join();
 * console.log(listener.closed); // true
 * ```
 */
export async function stopAccepting(
  listener: Socket,
  onConnection: (socket: Socket, peer: Address) => void,
): Promise<void> {
  if (!(listener instanceof DenoSocket)) {
    listener.close(); // the FFI backend accepts synchronously: nothing is held for us
    return;
  }
  for (const [socket, peer] of await listener._closeListening()) onConnection(socket, peer);
}

/**
 * The reply as a line; an answer the channel cannot carry (not JSON, or a line past
 * `maxBytes`, which the supervisor would take for a broken peer and hang up on)
 * becomes an error reply: the asker learns why, and the worker stays in the cluster.
 */
function replyLine(reply: ControlMessage, maxBytes: number): Uint8Array {
  let line: Uint8Array;
  try {
    line = encodeMessage(reply);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return encodeMessage({
      type: "reply",
      seq: reply.seq,
      error: `unsendable answer: ${e.message}`,
    });
  }
  if (line.length <= maxBytes) return line;
  return encodeMessage({
    type: "reply",
    seq: reply.seq,
    error: `the answer is ${line.length} bytes, more than the control channel's ` +
      `${maxBytes} (the supervisor's maxMessageBytes)`,
  });
}

function answer(
  message: ControlMessage,
  statistics: () => unknown,
  answers: Record<string, () => unknown>,
): ControlMessage {
  const seq = message.seq;
  try {
    switch (message.what) {
      case "statistics":
        return { type: "reply", seq, value: statistics() };
      case "threads":
        return { type: "reply", seq, value: threadDump() };
      default: {
        const what = message.what;
        if (typeof what === "string" && Object.hasOwn(answers, what)) {
          return { type: "reply", seq, value: answers[what]() };
        }
        return { type: "reply", seq, error: `unknown question ${String(what)}` };
      }
    }
  } catch (e) {
    return { type: "reply", seq, error: String(e) };
  }
}

/** The supervisor's `maxMessageBytes` (in the environment), else the default. */
function envMaxMessage(): number {
  const max = Number(Deno.env.get(MAX_MESSAGE_ENV));
  return Number.isSafeInteger(max) && max > 0 ? max : MAX_MESSAGE_BYTES;
}

function defaultStatistics(): unknown {
  const memory = Deno.memoryUsage();
  return {
    pid: Deno.pid,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    threads: threadDump().length,
  };
}

/**
 * Joins the cluster this worker belongs to: connects to the supervisor's control
 * socket and reports the worker ready. Call it once the worker serves (its listeners
 * open): the supervisor's rolling restart waits for it before stopping the worker this
 * one replaces. A worker that wants to drain gracefully runs `main` with
 * `signals: ["SIGINT"]` (so that SIGTERM does not shut its threads down at once) and
 * waits for {@linkcode ClusterMembership.waitForStop}.
 *
 * Interruption point: while connecting and sending.
 *
 * @example
 * ```ts ignore
 * import { HttpServer, joinCluster, main, sleep, stopAccepting } from "../mod.ts";
 * await main(async () => {
 *   const server = new HttpServer();
 *   server.route("GET", "/", (r) => r.respond(200, "hello\n"));
 *   const listener = server.listen("0.0.0.0:8080", { reusePort: true });
 *   const member = await joinCluster({ statistics: () => server.statistics() });
 *   await member.waitForStop();
 *   // Stop accepting (the other workers take new connections), keeping what was accepted.
 *   await stopAccepting(listener, (socket, peer) => server.serve(socket, peer));
 *   while (server.statistics().open > 0) await sleep(0.05); // bounded by the grace
 *   await server.close();
 *   member.close();
 * }, { signals: ["SIGINT"] });
 * ```
 * @throws {NotAWorkerError} in a process no supervisor started
 */
export async function joinCluster(options: JoinClusterOptions = {}): Promise<ClusterMembership> {
  const id = envId();
  const path = id === null ? undefined : Deno.env.get(CONTROL_PATH_ENV);
  if (id === null || path === undefined) {
    throw new NotAWorkerError(
      `not a cluster worker: ${WORKER_ID_ENV} and ${CONTROL_PATH_ENV} are set by the supervisor`,
    );
  }
  const socket = await connectTo(path);
  try {
    await sendMessage(socket, { type: "ready", id, pid: Deno.pid });
  } catch (e) {
    socket.close();
    throw e;
  }
  return new ClusterMembership(
    id,
    socket,
    options.statistics ?? defaultStatistics,
    options.answers,
    envMaxMessage(),
  );
}
