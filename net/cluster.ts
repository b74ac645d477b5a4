/**
 * `cluster`: every core through worker processes. A supervisor starts N processes
 * running the same program, each with its own scheduler; their listeners, opened with
 * `reusePort`, share the port and the kernel spreads the connections. The supervisor
 * restarts crashed workers with backoff (and gives up on a crash loop, saying so), drains
 * them on SIGTERM, rolls them over on SIGHUP, and gathers their statistics over a control
 * channel (a unix socket of mode 0600). The worker side is in `cluster_worker.ts`; the
 * supervisor's implementation (`_supervisor.ts`) is loaded when one starts.
 *
 * @module
 */

import { loadOnce } from "../core/_lazy_import.ts";
import { ShrapnelError } from "../core/errors.ts";
import { spawn } from "../core/thread.ts";
import type { ResolvedClusterOptions, SupervisorCore } from "./_supervisor.ts";

/** Options of a {@linkcode Supervisor} and of {@linkcode cluster}. */
export interface ClusterOptions {
  /** Number of worker processes (default: `navigator.hardwareConcurrency`). */
  workers?: number;
  /**
   * Arguments of `Deno.execPath()` that run a worker (e.g. `["run", "-A", "server.ts"]`).
   * Default: this process's own command line (from /proc/self/cmdline: the same script,
   * flags and arguments).
   */
  command?: string[];
  /** Extra environment of the workers (they inherit the supervisor's). */
  env?: Record<string, string>;
  /**
   * Seconds a new worker has to report ready (`joinCluster`) (30): in a rolling restart,
   * or the restart stops (see `restartOrder` for what becomes of that worker); otherwise a
   * "ready-timeout" event says so (the worker runs on).
   */
  readyTimeout?: number;
  /** Seconds a worker has to exit after SIGTERM before it gets SIGKILL (10). */
  graceSeconds?: number;
  /**
   * How a rolling restart ({@linkcode Supervisor.restart}, SIGHUP) replaces each worker
   * (the names are those of Docker's `update-order`):
   *
   * - `"start-first"` (the default): the new process is started, and the old one is
   *   stopped once the new one is ready. The worker's slot is never empty: with
   *   listeners on `reusePort`, no connection is refused. For workers that share what
   *   they serve (a port, a database).
   * - `"stop-first"`: the old process is stopped first (SIGTERM, then `graceSeconds` to
   *   exit, then SIGKILL), and only once it is gone is the new one started, then waited
   *   for until ready (`readyTimeout`). For workers that **own** something exclusively (a
   *   region of a world, a queue consumed exclusively, a lock, a file), where a second
   *   owner would fail or duplicate it: each worker's part is unserved from its old
   *   process's exit until its new one is ready, one worker at a time.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Supervisor } from "../mod.ts";
   * // Each shard owns its region: the old one stops (a last commit) before the new one starts.
   * const supervisor = new Supervisor({
   *   workers: 4,
   *   command: ["run", "-A", "shard.ts"],
   *   restartOrder: "stop-first",
   * });
   * assert.equal(supervisor.restartOrder, "stop-first");
   * assert.equal(new Supervisor({ workers: 1, command: [] }).restartOrder, "start-first");
   * ```
   */
  restartOrder?: "start-first" | "stop-first";
  /** Seconds before the first restart of a crashed worker (0.1); doubles per crash. */
  firstBackoff?: number;
  /** Longest wait before restarting a crashed worker (10 s). */
  maxBackoff?: number;
  /**
   * A crash loop: this many crashes of one worker (5) within `crashLoopSeconds` (60). The
   * worker is then not restarted (reported as "crash-loop"); the next rolling restart
   * (SIGHUP) tries it again. When every worker is given up, {@linkcode cluster} throws a
   * {@linkcode CrashLoopError}.
   */
  crashLoopCrashes?: number;
  /** See `crashLoopCrashes` (60). */
  crashLoopSeconds?: number;
  /**
   * A directory (of mode 0700, yours) for the workers' backdoors: worker N of generation G
   * is told to serve one at `<dir>/worker-N.G` (see `workerBackdoorPath`), and once it is
   * ready `<dir>/worker-N` is a symbolic link to it: the backdoor of worker N, whichever
   * process that is now. Made (mode 0700) if missing; `start` refuses one that another
   * user could plant a `worker-N` in ({@linkcode UnsafeDirectoryError}). Default: none.
   */
  backdoorDir?: string;
  /** Seconds a worker has to answer a question on the control channel (5). */
  askTimeout?: number;
  /**
   * Most bytes of one message on the control channel (8 MiB): what a worker can make the
   * supervisor hold, and the largest answer it can give (a thread dump takes about 90
   * bytes a thread). A worker's answer over it is an error reply saying so. Also the most
   * bytes of questions kept for a worker that does not read them (each goes out whole,
   * even after its asker timed out); a question beyond that fails at once.
   */
  maxMessageBytes?: number;
  /**
   * Called with what happens to the workers. Default: crashes, crash loops and failed
   * rolling restarts on stderr.
   */
  onEvent?: (event: ClusterEvent) => void;
}

/** Something that happened to a worker. */
export interface ClusterEvent {
  /** What happened. */
  kind: "started" | "ready" | "exited" | "crashed" | "crash-loop" | "ready-timeout";
  /** The worker's id (1..N). */
  id: number;
  /** Its process id. */
  pid: number;
  /** How many processes had this id before, this one included (1 for the first). */
  generation: number;
  /** A sentence for the log. */
  message: string;
  /** For "crashed": seconds until the restart. */
  restartIn?: number;
}

/** A worker as the supervisor sees it, with what it reported. */
export interface WorkerReport {
  /** The worker's id (1..N). */
  id: number;
  /** Its process id. */
  pid: number;
  /** See {@linkcode ClusterEvent.generation}. */
  generation: number;
  /** Whether it has reported ready. */
  ready: boolean;
  /** What the worker answered, when asked (its `statistics` or its thread dump). */
  value?: unknown;
  /** Why it did not answer. */
  error?: string;
}

/**
 * Every worker of a cluster is in a crash loop: the supervisor gave up.
 *
 * @example
 * ```ts
 * import { CrashLoopError, ShrapnelError } from "../mod.ts";
 * console.log(new CrashLoopError("worker 1 exits at once") instanceof ShrapnelError); // true
 * ```
 */
export class CrashLoopError extends ShrapnelError {}

/**
 * A rolling restart stopped: a new worker did not become ready (the old one still serves).
 *
 * @example
 * ```ts
 * import { RollingRestartError, ShrapnelError } from "../mod.ts";
 * console.log(new RollingRestartError("worker 2") instanceof ShrapnelError); // true
 * ```
 */
export class RollingRestartError extends ShrapnelError {}

/**
 * A directory the supervisor was given (`backdoorDir`) is not private to this user: a
 * symbolic link, not a directory, another user's, or writable by its group or others.
 *
 * @example
 * ```ts
 * import { ShrapnelError, UnsafeDirectoryError } from "../mod.ts";
 * console.log(new UnsafeDirectoryError("/tmp is writable by others") instanceof ShrapnelError); // true
 * ```
 */
export class UnsafeDirectoryError extends ShrapnelError {}
/** This process's command line after the executable: how to run the same program again. */
function ownCommand(): string[] {
  let raw: string;
  try {
    raw = Deno.readTextFileSync("/proc/self/cmdline");
  } catch (e) {
    throw new Error(
      "cluster: cannot read /proc/self/cmdline to run this program again; pass `command`",
      { cause: e },
    );
  }
  const argv = raw.split("\0");
  if (argv.at(-1) === "") argv.pop();
  return argv.slice(1);
}

/** The supervisor's implementation, loaded when the first supervisor is made. */
const supervisorModule = loadOnce(() => import("./_supervisor.ts"), "the cluster supervisor");

/**
 * The supervisor of a cluster of worker processes. {@linkcode cluster} runs one with
 * signal handling; use the class directly to drive it from a program (or a test).
 *
 * Each worker runs `Deno.execPath()` with `command`, with its id (1..N) in
 * `SHRAPNEL_WORKER_ID` and the control socket's path in `SHRAPNEL_CLUSTER_CONTROL`.
 * The control socket is in a fresh directory of mode 0700 and has mode 0600: only this
 * user's processes reach it, and a connection must name the pid of a worker this
 * supervisor started.
 *
 * @example
 * ```ts ignore
 * import { spawn, Supervisor } from "../mod.ts";
 * const supervisor = new Supervisor({ workers: 2, command: ["run", "-A", "server.ts"] });
 * await spawn(async () => {
 *   await supervisor.start();
 *   await supervisor.waitReady(30);
 *   console.log(await supervisor.statistics());
 *   await supervisor.restart(); // rolling: a new worker ready before the old one stops
 *   await supervisor.stop();
 * }).join();
 * ```
 */
export class Supervisor {
  readonly #options: ResolvedClusterOptions;
  #implementation: SupervisorCore | null = null;

  /**
   * A supervisor, not started yet.
   * @param options see {@linkcode ClusterOptions}
   * @throws {RangeError} for a `workers` or `maxMessageBytes` that is not a positive
   * integer, or a
   * `restartOrder` that is neither "start-first" nor "stop-first"
   */
  constructor(options: ClusterOptions = {}) {
    const workers = options.workers ?? navigator.hardwareConcurrency ?? 1;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(`cluster: workers must be a positive integer, not ${workers}`);
    }
    const order = options.restartOrder ?? "start-first";
    if (order !== "start-first" && order !== "stop-first") {
      throw new RangeError(
        `cluster: restartOrder must be "start-first" or "stop-first", not ${JSON.stringify(order)}`,
      );
    }
    const maxMessageBytes = options.maxMessageBytes ?? 8 << 20;
    if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) {
      throw new RangeError(
        `cluster: maxMessageBytes must be a positive integer, not ${maxMessageBytes}`,
      );
    }
    this.#options = {
      workers,
      command: options.command ?? ownCommand(),
      env: options.env ?? {},
      readyTimeout: options.readyTimeout ?? 30,
      graceSeconds: options.graceSeconds ?? 10,
      restartOrder: order,
      firstBackoff: options.firstBackoff ?? 0.1,
      maxBackoff: options.maxBackoff ?? 10,
      crashLoopCrashes: options.crashLoopCrashes ?? 5,
      crashLoopSeconds: options.crashLoopSeconds ?? 60,
      askTimeout: options.askTimeout ?? 5,
      maxMessageBytes,
      backdoorDir: options.backdoorDir ?? null,
      onEvent: options.onEvent,
    };
    supervisorModule.begin(); // not at start(), which may come at EMFILE
  }

  /** How a rolling restart replaces each worker: see {@linkcode ClusterOptions.restartOrder}. */
  get restartOrder(): "start-first" | "stop-first" {
    return this.#options.restartOrder;
  }

  /** The control socket's path (once started). */
  get controlPath(): string {
    if (this.#implementation === null) throw new Error("the supervisor is not started");
    return this.#implementation.controlPath;
  }

  /** The live worker processes' ids and pids, by worker id. */
  get pids(): Map<number, number> {
    return this.#implementation?.pids ?? new Map();
  }

  /**
   * Opens the control socket and starts the workers (it does not wait for them to be
   * ready: see {@linkcode Supervisor.waitReady}).
   * @throws {UnsafeDirectoryError} for a `backdoorDir` another user could write in (no
   *   worker is started)
   * @throws {RangeError} for a `backdoorDir` too long for its workers' unix socket paths
   *   (about 80 bytes at most)
   */
  async start(): Promise<void> {
    await (await this.#core()).start();
  }

  /**
   * Waits until every worker reported ready. Interruption point.
   * @throws {TimeoutError} after `seconds`
   */
  async waitReady(seconds: number): Promise<void> {
    await (await this.#core()).waitReady(seconds);
  }

  /**
   * Waits until the supervisor has stopped. Interruption point.
   * @throws {CrashLoopError} if it stopped because every worker was in a crash loop
   */
  async done(): Promise<void> {
    await (await this.#core()).done();
  }

  /**
   * A rolling restart: each worker in turn is replaced by a new process, in the
   * `restartOrder` given. Workers given up for a crash loop are tried again.
   * Interruption point: the workers not reached yet are left as they were; stop-first,
   * a worker whose old process was draining gets its new one once the old one is gone.
   *
   * - `"start-first"`: the replacement is started, the supervisor waits until it is
   *   ready (`readyTimeout`), then stops the old process as {@linkcode Supervisor.stop}
   *   does. With listeners on `reusePort`, no connection is refused meanwhile.
   * - `"stop-first"`: the old process is stopped as {@linkcode Supervisor.stop} does
   *   (SIGTERM, `graceSeconds`, SIGKILL), and once it has exited the replacement is
   *   started and waited for until ready (`readyTimeout`).
   *
   * @throws {RollingRestartError} if a replacement does not become ready (a
   * "ready-timeout" event says which and why); the workers after it are left as they
   * were. Start-first: the replacement is killed and the worker it was to replace keeps
   * serving. Stop-first (its predecessor is gone): a replacement that exited is restarted
   * as after a crash (backoff, crash loop); one still starting is left running, as a
   * worker that is slow at its first start is.
   *
   * Requested while a rolling restart is under way (SIGHUP, deploy, SIGHUP again before
   * the first is done), a restart runs once more after it, from the first worker on, so
   * that every worker ends up started after the last request: the requests made during
   * one restart are coalesced into the one that follows it, and each caller's promise
   * settles with the restart that covers its request (resolved, or rejected with that
   * restart's error; the one before it failing does not cancel it). The follow-up runs
   * in a thread of its own ("cluster rolling restart (requested during one)"): a caller
   * waiting for it is interrupted as by `Thread.join` (it stops waiting and throws the
   * interrupting error; the restart goes on, and a failure no caller waits for any more
   * is reported as that thread's death).
   *
   * @example Two requests back to back: the second runs after the first
   * ```ts ignore
   * import assert from "node:assert/strict";
   * import { spawn, Supervisor } from "../mod.ts";
   * const supervisor = new Supervisor({ workers: 2, command: ["run", "-A", "server.ts"] });
   * await spawn(async () => {
   *   await supervisor.start();
   *   await supervisor.waitReady(30);
   *   const first = spawn(() => supervisor.restart()); // a thread per request, as SIGHUP's
   *   const seen = new Map(supervisor.pids); // what the second request asks to replace
   *   await supervisor.restart(); // runs after the first, from the first worker on
   *   await first.join();
   *   for (const [id, pid] of supervisor.pids) assert.notEqual(pid, seen.get(id));
   *   await supervisor.stop();
   * }).join();
   * ```
   */
  async restart(): Promise<void> {
    await (await this.#core()).restart();
  }

  /**
   * Stops the cluster: every worker gets SIGTERM, then `graceSeconds` to exit, then
   * SIGKILL; the control socket is closed and its directory removed. Interruption point.
   */
  async stop(): Promise<void> {
    await (await this.#core()).stop();
  }

  /**
   * Asks every ready worker for its `statistics` (see `joinCluster`), in parallel, each
   * within `askTimeout`. Interruption point.
   */
  async statistics(): Promise<WorkerReport[]> {
    return await (await this.#core()).statistics();
  }

  /** Asks every ready worker for its thread dump (`threadDump()`). Interruption point. */
  async threadDumps(): Promise<WorkerReport[]> {
    return await (await this.#core()).threadDumps();
  }

  /**
   * Asks every ready worker one of the program's own questions (`answers` of
   * `joinCluster`), in parallel, each within `askTimeout`: a worker without that answer
   * reports an error ("unknown question"). Interruption point.
   */
  async ask(what: string): Promise<WorkerReport[]> {
    return await (await this.#core()).ask(what);
  }

  /** The implementation, loaded by the first call that needs it. Interruption point. */
  async #core(): Promise<SupervisorCore> {
    if (this.#implementation !== null) return this.#implementation;
    const { SupervisorCore } = await supervisorModule();
    return this.#implementation ??= new SupervisorCore(this.#options);
  }
}

/**
 * Runs this program as a cluster: a {@linkcode Supervisor} of `workers` processes
 * running the same program (the same `deno` flags, script and arguments), until SIGTERM
 * or SIGINT (the workers drain: SIGTERM, the grace, SIGKILL). SIGHUP rolls the workers
 * over one at a time (see {@linkcode Supervisor.restart}); a SIGHUP during a rolling restart
 * runs one more after it, so every worker runs code deployed before the last SIGHUP. (Not SIGUSR1: it opens V8's
 * inspector in a Deno process.) In the workers (`isWorker()`), run the server instead, and call
 * `joinCluster` once it listens.
 *
 * Interruption point: an interrupted `cluster` stops the workers before it throws.
 *
 * @example
 * ```ts ignore
 * import { cluster, HttpServer, isWorker, joinCluster, main } from "../mod.ts";
 * if (!isWorker()) {
 *   await cluster({ workers: navigator.hardwareConcurrency });
 * } else {
 *   await main(async () => {
 *     const server = new HttpServer();
 *     server.route("GET", "/", (r) => r.respond(200, "hello\n"));
 *     server.listen("0.0.0.0:8080", { reusePort: true });
 *     const member = await joinCluster({ statistics: () => server.statistics() });
 *     await member.waitForStop();
 *     await server.close();
 *   }, { signals: ["SIGINT"] });
 * }
 * ```
 * @throws {CrashLoopError} when every worker is in a crash loop (exit non-zero: the
 * service manager decides what next)
 */
export async function cluster(options: ClusterOptions = {}): Promise<void> {
  const supervisor = new Supervisor(options);
  const run = async () => {
    const listeners: [Deno.Signal, () => void][] = [
      ["SIGTERM", () => spawn({ name: "cluster SIGTERM" }, () => supervisor.stop())],
      ["SIGINT", () => spawn({ name: "cluster SIGINT" }, () => supervisor.stop())],
      ["SIGHUP", () =>
        spawn({ name: "cluster SIGHUP" }, async () => {
          try {
            await supervisor.restart();
          } catch (e) {
            console.error("shrapnel cluster: rolling restart failed:", e);
          }
        })],
    ];
    for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
    try {
      await supervisor.start();
      await supervisor.done();
    } finally {
      for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
      await supervisor.stop();
    }
  };
  await spawn({ name: "cluster supervisor" }, run).join();
}
