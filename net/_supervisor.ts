/**
 * The cluster supervisor's implementation, behind {@linkcode Supervisor} (net/cluster.ts):
 * loaded by the first call that needs it (`start`...), so that importing the library does
 * not compile it (bench/import.ts).
 *
 * @module
 */

import { ClosedError, Interrupted, TimeoutError } from "../core/errors.ts";
import { Fifo } from "../core/sync/fifo.ts";
import { Event } from "../core/sync/event.ts";
import { Latch } from "../core/sync/latch.ts";
import { sleep } from "../core/sleep.ts";
import { spawn, type Thread } from "../core/thread.ts";
import { waitFor } from "../core/wait_for.ts";
import { withTimeout } from "../core/with_timeout.ts";
import { Acceptor } from "./acceptor.ts";
import { SocketReader } from "./buffered_reader.ts";
import { listenOn } from "./constructors.ts";
import {
  BACKDOOR_PATH_ENV,
  CONTROL_PATH_ENV,
  type ControlMessage,
  ControlProtocolError,
  encodeMessage,
  MAX_MESSAGE_ENV,
  readMessage,
  WORKER_ID_ENV,
} from "./_cluster_control.ts";
import type { Socket } from "./socket.ts";
import { SocketError } from "./errors.ts";
import {
  type ClusterEvent,
  type ClusterOptions,
  CrashLoopError,
  RollingRestartError,
  UnsafeDirectoryError,
  type WorkerReport,
} from "./cluster.ts";

/** {@linkcode ClusterOptions} with the defaults filled in and checked. */
export type ResolvedClusterOptions =
  & Required<Omit<ClusterOptions, "backdoorDir" | "onEvent">>
  & Pick<ClusterOptions, "onEvent">
  & { backdoorDir: string | null };

interface Slot {
  id: number;
  generation: number;
  current: WorkerProcess | null;
  crashes: number[];
  givenUp: boolean;
  rolling: boolean;
}

class WorkerProcess {
  readonly slot: Slot;
  readonly generation: number;
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  ready = false;
  /** Set on ready and on exit: what a rolling restart waits for. */
  readonly settled = new Event();
  readonly exited = new Event();
  status: Deno.CommandStatus | null = null;
  /** Asked to stop (SIGTERM): its exit is not a crash. */
  retiring = false;
  /** Started by a rolling restart and not yet in its slot: its failure is the restart's. */
  trial = false;
  control: Socket | null = null;
  /**
   * Questions for the worker, sent in order by its writer thread. A line is never cut: an
   * asker that times out leaves its line to be sent whole (a cut one would glue the next
   * to it). `queued` counts the bytes not yet taken by the socket.
   */
  readonly outbox = new Fifo<Uint8Array>();
  queued = 0;
  readonly pending = new Map<number, Latch<ControlMessage>>();
  constructor(slot: Slot, generation: number, child: Deno.ChildProcess) {
    this.slot = slot;
    this.generation = generation;
    this.child = child;
    this.pid = child.pid;
  }
  signal(signal: Deno.Signal): void {
    if (this.status !== null) return;
    try {
      this.child.kill(signal);
    } catch (e) {
      // It exited between our check and the kill: its monitor is about to notice.
      if (!(e instanceof TypeError)) throw e;
    }
  }
  toString(): string {
    return `worker ${this.slot.id} (pid ${this.pid})`;
  }
}
function defaultEventHandler(event: ClusterEvent): void {
  if (event.kind === "started" || event.kind === "ready" || event.kind === "exited") return;
  console.error(`shrapnel cluster: ${event.message}`);
}

/** What {@linkcode Supervisor} does once loaded: see there. */
export class SupervisorCore {
  readonly #workers: number;
  readonly #command: string[];
  readonly #env: Record<string, string>;
  readonly #readyTimeout: number;
  readonly #grace: number;
  readonly #restartOrder: "start-first" | "stop-first";
  readonly #firstBackoff: number;
  readonly #maxBackoff: number;
  readonly #loopCrashes: number;
  readonly #loopSeconds: number;
  readonly #askTimeout: number;
  readonly #maxMessage: number;
  readonly #backdoorDir: string | null;
  readonly #onEvent: (event: ClusterEvent) => void;
  readonly #slots: Slot[] = [];
  readonly #byPid = new Map<number, WorkerProcess>();
  readonly #backoffs = new Set<Thread>();
  readonly #done = new Event();
  #failure: CrashLoopError | null = null;
  #dir: string | null = null;
  #acceptor: Acceptor | null = null;
  #stopping = false;
  /** Settles (never rejects) when the rolling restart under way is over; null if none is. */
  #rolling: Promise<unknown> | null = null;
  /** The restart requested while one was under way: it runs after it, once for them all. */
  #queued: Thread<void> | null = null;
  #seq = 0;

  /** A supervisor's state, from the options {@linkcode Supervisor} checked. */
  constructor(options: ResolvedClusterOptions) {
    this.#workers = options.workers;
    this.#command = options.command;
    this.#env = options.env;
    this.#readyTimeout = options.readyTimeout;
    this.#grace = options.graceSeconds;
    this.#restartOrder = options.restartOrder;
    this.#firstBackoff = options.firstBackoff;
    this.#maxBackoff = options.maxBackoff;
    this.#loopCrashes = options.crashLoopCrashes;
    this.#loopSeconds = options.crashLoopSeconds;
    this.#askTimeout = options.askTimeout;
    this.#maxMessage = options.maxMessageBytes;
    this.#backdoorDir = options.backdoorDir;
    this.#onEvent = options.onEvent ?? defaultEventHandler;
  }

  /** The control socket's path (once started). */
  get controlPath(): string {
    if (this.#dir === null) throw new Error("the supervisor is not started");
    return `${this.#dir}/control`;
  }

  /** The live worker processes' ids and pids, by worker id. */
  get pids(): Map<number, number> {
    const out = new Map<number, number>();
    for (const slot of this.#slots) {
      const w = slot.current;
      if (w !== null && w.status === null) out.set(slot.id, w.pid);
    }
    return out;
  }

  /** `Supervisor.start` (cluster.ts), which documents it. */
  async start(): Promise<void> {
    if (this.#dir !== null) throw new Error("the supervisor is already started");
    const dir = await waitFor(Deno.makeTempDir({ prefix: "shrapnel-cluster-" }));
    try {
      await waitFor(Deno.chmod(dir, 0o700));
      // Our uid without --allow-sys: the owner of the directory we just made.
      if (this.#backdoorDir !== null) {
        fitsSocketPaths(this.#backdoorDir, this.#workers);
        privateDirectory(this.#backdoorDir, Deno.lstatSync(dir).uid);
      }
    } catch (e) {
      Deno.removeSync(dir, { recursive: true });
      throw e;
    }
    this.#dir = dir;
    const listener = listenOn(this.controlPath);
    await waitFor(Deno.chmod(this.controlPath, 0o600));
    this.#acceptor = new Acceptor(listener, (socket) => {
      spawn({ name: "cluster control" }, () => this.#control(socket));
    }, { name: "cluster control acceptor", maxConnections: 4 * this.#workers + 16 });
    for (let id = 1; id <= this.#workers; id++) {
      const slot: Slot = {
        id,
        generation: 0,
        current: null,
        crashes: [],
        givenUp: false,
        rolling: false,
      };
      this.#slots.push(slot);
      this.#launch(slot, false);
    }
  }

  /** `Supervisor.waitReady` (cluster.ts), which documents it. */
  async waitReady(seconds: number): Promise<void> {
    await withTimeout(seconds, async () => {
      for (;;) {
        const waiting = this.#slots.some((s) =>
          s.current === null || !s.current.ready || s.current.status !== null
        );
        if (!waiting) return;
        await sleep(0.02);
      }
    });
  }

  /** `Supervisor.done` (cluster.ts), which documents it. */
  async done(): Promise<void> {
    await this.#done.wait();
    if (this.#failure !== null) throw this.#failure;
  }

  /** `Supervisor.restart` (cluster.ts), which documents it. */
  async restart(): Promise<void> {
    if (this.#dir === null || this.#stopping) throw new Error("the supervisor is not running");
    if (this.#queued === null) {
      const previous = this.#rolling;
      if (previous === null) return await this.#startRolling();
      this.#queued = spawn({ name: "cluster rolling restart (requested during one)" }, async () => {
        await previous; // never rejects: its failure is its own callers'
        this.#queued = null; // from here on a request waits for this restart to be over
        await this.#startRolling();
      });
    }
    await this.#queued.join();
  }

  /** A rolling restart begun now (none is under way), tracked in `#rolling` until over. */
  #startRolling(): Promise<void> {
    const run = this.#roll();
    const over: Promise<unknown> = Promise.allSettled([run]).then(() => {
      if (this.#rolling === over) this.#rolling = null;
    });
    this.#rolling = over;
    return run;
  }

  /** One pass of a rolling restart over every slot (see {@linkcode Supervisor.restart}). */
  async #roll(): Promise<void> {
    // Stop-first leaves each worker's part unserved for a moment: no zero-failure promise.
    if (this.#restartOrder === "start-first") warnUnlessMigrating();
    for (const slot of this.#slots) {
      if (this.#stopping) return;
      slot.rolling = true;
      slot.givenUp = false;
      slot.crashes = [];
      try {
        if (this.#restartOrder === "stop-first") await this.#replaceStopFirst(slot);
        else await this.#replaceStartFirst(slot);
      } finally {
        slot.rolling = false;
        // Its process may have died while we rolled (its monitor left it to us).
        const now = slot.current;
        if (now !== null && now.status !== null && !now.retiring && !this.#stopping) {
          this.#restartLater(now);
        }
      }
    }
  }

  /** Start-first: the replacement ready, then the old process stopped. */
  async #replaceStartFirst(slot: Slot): Promise<void> {
    const old = slot.current;
    const fresh = this.#launch(slot, true);
    const why = await this.#readiness(fresh);
    if (why !== null) {
      this.#event(fresh, "ready-timeout", `rolling restart: ${fresh} ${why}; stopped`);
      await this.#terminate(fresh);
      // The old one died meanwhile and no backoff will replace it while we roll.
      if (old !== null && old.status !== null && !slot.givenUp && !this.#stopping) {
        slot.rolling = false;
        this.#launch(slot, false);
      }
      throw new RollingRestartError(
        `rolling restart stopped at worker ${slot.id}: its replacement ${why}`,
      );
    }
    fresh.trial = false;
    slot.current = fresh;
    if (old !== null && old.status === null) await this.#terminate(old);
  }

  /**
   * Stop-first: the old process stopped and gone, then the replacement started and
   * waited for. From the old one's exit on, the replacement is the slot's only process:
   * it is put in the slot whatever becomes of the wait (a failure, an interruption).
   */
  async #replaceStopFirst(slot: Slot): Promise<void> {
    const old = slot.current;
    let fresh: WorkerProcess | null = null;
    try {
      if (old !== null && old.status === null) await this.#terminate(old);
      if (this.#stopping) return;
      fresh = this.#launch(slot, true);
      const why = await this.#readiness(fresh);
      if (why !== null) {
        const then = fresh.status !== null ? "restarted as after a crash" : "left running";
        this.#event(fresh, "ready-timeout", `rolling restart: ${fresh} ${why}; ${then}`);
        throw new RollingRestartError(
          `rolling restart stopped at worker ${slot.id}: its replacement ${why} (${then})`,
        );
      }
    } finally {
      if (fresh !== null) {
        fresh.trial = false;
        slot.current = fresh;
      } else if (old !== null && !this.#stopping) {
        // Interrupted while the old one drained: its replacement still comes, once it is
        // gone (never beside it), so that the slot does not stay empty.
        spawn({ name: `cluster replace ${slot.id}` }, async () => {
          await this.#awaitExit(old);
          if (!this.#stopping && slot.current === old && !slot.rolling) this.#launch(slot, false);
        });
      }
    }
  }

  /** Waits (`readyTimeout`) until `w` is ready; null if it is, else why it is not. */
  async #readiness(w: WorkerProcess): Promise<string | null> {
    try {
      await withTimeout(this.#readyTimeout, () => w.settled.wait());
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
    }
    if (w.status !== null) return `exited (${describeStatus(w.status)})`;
    if (!w.ready) return `was not ready within ${this.#readyTimeout} s`;
    return null;
  }

  /** `Supervisor.stop` (cluster.ts), which documents it. */
  async stop(): Promise<void> {
    if (this.#stopping) return await this.#done.wait();
    this.#stopping = true;
    try {
      for (const t of this.#backoffs) t.shutdown();
      const live = [...this.#byPid.values()];
      const stops = live.map((w) => spawn({ name: `cluster stop ${w}` }, () => this.#terminate(w)));
      for (const t of stops) await t.join();
      await this.#acceptor?.close();
      if (this.#dir !== null) await waitFor(Deno.remove(this.#dir, { recursive: true }));
    } finally {
      this.#done.set();
    }
  }

  /** `Supervisor.statistics` (cluster.ts), which documents it. */
  statistics(): Promise<WorkerReport[]> {
    return this.#askAll("statistics");
  }

  /** `Supervisor.threadDumps` (cluster.ts), which documents it. */
  threadDumps(): Promise<WorkerReport[]> {
    return this.#askAll("threads");
  }

  /** `Supervisor.ask` (cluster.ts), which documents it. */
  ask(what: string): Promise<WorkerReport[]> {
    return this.#askAll(what);
  }

  async #askAll(what: string): Promise<WorkerReport[]> {
    const workers = this.#slots.map((s) => s.current).filter((w): w is WorkerProcess =>
      w !== null && w.status === null
    );
    const asks = workers.map((w) =>
      spawn({ name: `cluster ask ${w}` }, async (): Promise<WorkerReport> => {
        const report: WorkerReport = {
          id: w.slot.id,
          pid: w.pid,
          generation: w.generation,
          ready: w.ready,
        };
        try {
          const reply = await this.#ask(w, what);
          if (typeof reply.error === "string") report.error = reply.error;
          else report.value = reply.value;
        } catch (e) {
          if (e instanceof Interrupted && !(e instanceof TimeoutError)) throw e;
          report.error = e instanceof Error ? e.message : String(e);
        }
        return report;
      })
    );
    const reports: WorkerReport[] = [];
    for (const t of asks) reports.push(await t.join());
    return reports;
  }

  async #ask(w: WorkerProcess, what: string): Promise<ControlMessage> {
    const socket = w.control;
    if (socket === null) throw new Error(`${w} has no control connection (not ready)`);
    const seq = ++this.#seq;
    const line = encodeMessage({ type: "ask", seq, what });
    if (w.queued + line.length > this.#maxMessage) {
      throw new Error(
        `${w} does not read its control channel: ${w.queued} bytes of questions unsent ` +
          `(maxMessageBytes ${this.#maxMessage})`,
      );
    }
    const answer = new Latch<ControlMessage>();
    w.pending.set(seq, answer);
    w.queued += line.length;
    w.outbox.push(line);
    try {
      return await withTimeout(this.#askTimeout, () => answer.wait());
    } finally {
      w.pending.delete(seq);
    }
  }

  #launch(slot: Slot, trial: boolean): WorkerProcess {
    const generation = ++slot.generation;
    const child = new Deno.Command(Deno.execPath(), {
      args: this.#command,
      env: {
        ...this.#env,
        [WORKER_ID_ENV]: String(slot.id),
        [CONTROL_PATH_ENV]: this.controlPath,
        [MAX_MESSAGE_ENV]: String(this.#maxMessage),
        ...(this.#backdoorDir === null
          ? {}
          : { [BACKDOOR_PATH_ENV]: `${this.#backdoorDir}/worker-${slot.id}.${generation}` }),
      },
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const w = new WorkerProcess(slot, generation, child);
    w.trial = trial;
    if (!trial) slot.current = w;
    this.#byPid.set(w.pid, w);
    this.#event(w, "started", `${w} started (generation ${generation})`);
    spawn({ name: `cluster monitor ${w}` }, () => this.#monitor(w));
    if (!trial) spawn({ name: `cluster ready watch ${w}` }, () => this.#watchReady(w));
    return w;
  }

  async #monitor(w: WorkerProcess): Promise<void> {
    w.status = await waitFor(w.child.status, `${w} to exit`);
    this.#byPid.delete(w.pid);
    w.control?.close();
    for (const answer of w.pending.values()) {
      answer.release({ type: "reply", error: `${w} exited (${describeStatus(w.status)})` });
    }
    w.exited.set();
    w.settled.set();
    if (this.#backdoorDir !== null) {
      // A worker killed leaves its backdoor's socket file behind.
      try {
        Deno.removeSync(`${this.#backdoorDir}/worker-${w.slot.id}.${w.generation}`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          console.error(`shrapnel cluster: cannot remove the backdoor socket of ${w}:`, e);
        }
      }
    }
    const status = describeStatus(w.status);
    if (w.retiring || this.#stopping) {
      this.#event(w, "exited", `${w} exited (${status})`);
      return;
    }
    if (w.trial && this.#restartOrder === "stop-first") {
      return; // the restart reports it ("ready-timeout") and restarts it as after a crash
    }
    if (w.trial || w.slot.rolling) {
      this.#event(w, "crashed", `${w} died during a rolling restart (${status})`);
      return;
    }
    if (w.slot.current === w) this.#restartLater(w);
  }

  /** Says so when a worker is not ready in time (a program that never calls `joinCluster`). */
  async #watchReady(w: WorkerProcess): Promise<void> {
    try {
      await withTimeout(this.#readyTimeout, () => w.settled.wait());
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
      if (!w.ready && w.status === null && !this.#stopping) {
        this.#event(
          w,
          "ready-timeout",
          `${w} has not reported ready within ${this.#readyTimeout} s (does it call ` +
            `joinCluster() once it serves?); rolling restarts wait for it`,
        );
      }
    }
  }

  /** A crash: restart after the backoff, or give the slot up if it is in a crash loop. */
  #restartLater(w: WorkerProcess): void {
    const slot = w.slot;
    const at = performance.now() / 1000;
    slot.crashes = slot.crashes.filter((t) => at - t < this.#loopSeconds);
    slot.crashes.push(at);
    const status = describeStatus(w.status!);
    if (slot.crashes.length >= this.#loopCrashes) {
      slot.givenUp = true;
      this.#event(
        w,
        "crash-loop",
        `${w} crashed ${slot.crashes.length} times within ${this.#loopSeconds} s (last: ${status}); ` +
          `not restarted until the next rolling restart (SIGHUP)`,
      );
      if (this.#slots.every((s) => s.givenUp)) {
        this.#failure = new CrashLoopError(
          `every worker is in a crash loop (worker ${slot.id} last ${status})`,
        );
        spawn({ name: "cluster stop after crash loop" }, () => this.stop());
      }
      return;
    }
    const delay = Math.min(this.#firstBackoff * 2 ** (slot.crashes.length - 1), this.#maxBackoff);
    this.#event(w, "crashed", `${w} crashed (${status}); restarting in ${delay} s`, delay);
    const t = spawn({ name: `cluster backoff ${slot.id}` }, async () => {
      try {
        await sleep(delay);
      } catch (e) {
        if (e instanceof Interrupted) return; // stopping
        throw e;
      } finally {
        this.#backoffs.delete(t);
      }
      if (!this.#stopping && slot.current === w && !slot.rolling) this.#launch(slot, false);
    });
    this.#backoffs.add(t);
  }

  /** Points `<backdoorDir>/worker-N` at the backdoor of `w` (atomically: a rename). */
  #linkBackdoor(w: WorkerProcess): void {
    const link = `${this.#backdoorDir}/worker-${w.slot.id}`;
    const staging = `${link}.link-${w.generation}`;
    try {
      Deno.symlinkSync(`worker-${w.slot.id}.${w.generation}`, staging);
      Deno.renameSync(staging, link);
    } catch (e) {
      console.error(`shrapnel cluster: cannot link ${link} to the backdoor of ${w}:`, e);
    }
  }

  /** SIGTERM, the grace, SIGKILL; returns when the process is gone. */
  async #terminate(w: WorkerProcess): Promise<void> {
    w.retiring = true;
    w.signal("SIGTERM");
    await this.#awaitExit(w);
  }

  /** The grace for a process SIGTERMed, then SIGKILL; returns when it is gone. */
  async #awaitExit(w: WorkerProcess): Promise<void> {
    try {
      await withTimeout(this.#grace, () => w.exited.wait());
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
      console.error(
        `shrapnel cluster: ${w} did not exit within ${this.#grace} s of SIGTERM; SIGKILL`,
      );
      w.signal("SIGKILL");
      await w.exited.wait();
    }
  }

  /** Serves one control connection: a worker's "ready", then its replies. */
  async #control(socket: Socket): Promise<void> {
    const reader = new SocketReader(socket);
    let w: WorkerProcess | undefined;
    let writer: Thread | null = null;
    try {
      const hello = await withTimeout(
        this.#askTimeout,
        () => readMessage(reader, this.#maxMessage),
      );
      if (hello === null) return;
      const claimed = typeof hello.pid === "number" ? this.#byPid.get(hello.pid) : undefined;
      if (
        hello.type !== "ready" || claimed === undefined || hello.id !== claimed.slot.id ||
        claimed.control !== null
      ) {
        throw new ControlProtocolError(
          `control connection not from a worker of ours: ${JSON.stringify(hello).slice(0, 80)}`,
        );
      }
      w = claimed;
      w.control = socket;
      const worker = w;
      writer = spawn(
        { name: `cluster control writer ${w}` },
        () => this.#writeQuestions(worker, socket),
      );
      if (this.#backdoorDir !== null) this.#linkBackdoor(w);
      w.ready = true;
      w.settled.set();
      this.#event(w, "ready", `${w} ready`);
      for (;;) {
        const message = await readMessage(reader, this.#maxMessage);
        if (message === null) break;
        if (message.type !== "reply" || typeof message.seq !== "number") {
          throw new ControlProtocolError(`unexpected control message from ${w}: ${message.type}`);
        }
        w.pending.get(message.seq)?.release(message);
      }
    } catch (e) {
      // A worker told to stop may leave unread questions behind: its socket is reset.
      const stopped = e instanceof SocketError && (w?.retiring || this.#stopping);
      if (!(e instanceof Interrupted) && !socket.closed && !stopped) {
        console.error(`shrapnel cluster: control connection${w ? ` of ${w}` : ""} failed:`, e);
      }
    } finally {
      if (w !== undefined && w.control === socket) w.control = null;
      socket.close();
      if (writer !== null && !writer.dead) writer.shutdown(); // it may wait for a question
    }
  }

  /** Sends `w`'s questions in order, each line whole, until its control socket closes. */
  async #writeQuestions(w: WorkerProcess, socket: Socket): Promise<void> {
    try {
      while (!socket.closed) {
        const line = await w.outbox.pop();
        try {
          await socket.send(line);
        } finally {
          w.queued -= line.length;
        }
      }
    } catch (e) {
      // The worker went away (its connection closed or reset): its reader reports that.
      if (!(e instanceof ClosedError || e instanceof SocketError || e instanceof Interrupted)) {
        throw e;
      }
    }
  }

  #event(w: WorkerProcess, kind: ClusterEvent["kind"], message: string, restartIn?: number): void {
    const event: ClusterEvent = {
      kind,
      id: w.slot.id,
      pid: w.pid,
      generation: w.generation,
      message,
    };
    if (restartIn !== undefined) event.restartIn = restartIn;
    try {
      this.#onEvent(event);
    } catch (e) {
      console.error("shrapnel cluster: the onEvent callback failed:", e);
    }
  }
}
let migrationChecked = false;

/** The longest unix socket path the kernel takes, in bytes (sun_path less its NUL). */
const MAX_SOCKET_PATH = Deno.build.os === "linux" ? 107 : 103;

/**
 * Makes sure every worker's backdoor socket path in `dir` fits a unix socket address,
 * whatever its generation comes to (it grows with each restart: a path that fits at
 * generation 9 may not at generation 10, and that worker could then never start).
 * @throws {RangeError} if the longest one (ten digits of generation) does not fit
 */
function fitsSocketPaths(dir: string, workers: number): void {
  const longest = `${dir}/worker-${workers}.${"9".repeat(10)}`;
  const bytes = new TextEncoder().encode(longest).length;
  if (bytes > MAX_SOCKET_PATH) {
    throw new RangeError(
      `cluster: backdoorDir ${dir} is too long: its workers' backdoor sockets ` +
        `(${longest}) would need ${bytes} bytes, and a unix socket path has at most ` +
        `${MAX_SOCKET_PATH}; give a directory of at most ` +
        `${MAX_SOCKET_PATH - (bytes - new TextEncoder().encode(dir).length)} bytes`,
    );
  }
}

/**
 * Makes sure no other user can make or replace names in `path`: there the supervisor
 * links `worker-N` to each worker's backdoor, and whoever could plant `worker-N` (a link
 * to a socket of theirs) would get what an operator types into it. A missing directory
 * is made with mode 0700.
 * @throws {UnsafeDirectoryError} for a symbolic link, not a directory, another owner, or
 *   write permission for the group or others
 */
function privateDirectory(path: string, uid: number | null): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    Deno.mkdirSync(path, { mode: 0o700 });
    info = Deno.lstatSync(path);
  }
  const unsafe = (why: string) =>
    new UnsafeDirectoryError(
      `cluster: backdoorDir ${path} ${why}; give the supervisor a directory of its own (mode 0700)`,
    );
  if (info.isSymlink) throw unsafe("is a symbolic link");
  if (!info.isDirectory) throw unsafe("is not a directory");
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw unsafe(`is owned by uid ${info.uid}, not by this process's (${uid})`);
  }
  const mode = info.mode ?? 0;
  if (mode & 0o022) {
    throw unsafe(
      `is writable by ${mode & 0o020 ? "its group" : ""}${(mode & 0o022) === 0o022 ? " and " : ""}${
        mode & 0o002 ? "others" : ""
      } (mode ${(mode & 0o7777).toString(8)})`,
    );
  }
}

/**
 * Says once when the kernel resets, rather than hands over, connections queued on a
 * reuseport listener that closes: then a rolling restart can fail a request or two.
 */
function warnUnlessMigrating(): void {
  if (migrationChecked) return;
  migrationChecked = true;
  let value: string;
  try {
    value = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_migrate_req").trim();
  } catch {
    return; // not Linux >= 5.14 (or no /proc): nothing to set
  }
  if (value !== "0") return;
  console.error(
    "shrapnel cluster: net.ipv4.tcp_migrate_req is 0: a connection queued on an old " +
      "worker's reuseport listener as it closes is reset instead of handed to a new one; " +
      "for rolling restarts with no failed request: sysctl -w net.ipv4.tcp_migrate_req=1",
  );
}

function describeStatus(status: Deno.CommandStatus): string {
  return status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`;
}
