/**
 * Kernel events as blocking, interruptible calls, in the spirit of Shrapnel's kqueue
 * events: a signal, a process exit, a file change, readiness of any file descriptor.
 * Process and file watches use pidfd/inotify (Linux) or kqueue (BSD, macOS) through the
 * shim on the FFI backend, and Deno's own `ChildProcess.status`/`Deno.watchFs` otherwise.
 *
 * @module
 */

import { NotInThreadError } from "../core/errors.ts";
import type { Wait } from "../core/sync/wait_queue.ts";
import { current, type Thread } from "../core/thread.ts";
import { waitFor } from "../core/wait_for.ts";
import { activePoller } from "./backend.ts";
import { UnsupportedOperationError } from "./errors.ts";
import { ERR, type FfiPoller, HUP, type Pollable, READ, WRITE } from "./ffi_poller.ts";
import { checkSize } from "./_io_lengths.ts";

class SignalWait implements Wait {
  readonly _reason: string;
  readonly #signal: Deno.Signal;
  readonly #handler: () => void;
  constructor(thread: Thread, signal: Deno.Signal) {
    this._reason = `signal ${signal}`;
    this.#signal = signal;
    this.#handler = () => {
      this._interrupted();
      thread._wake(undefined);
    };
    Deno.addSignalListener(signal, this.#handler);
  }
  _interrupted(): void {
    try {
      Deno.removeSignalListener(this.#signal, this.#handler);
    } catch { /* removed already */ }
  }
}

/**
 * Blocks until the process receives `signal`.
 *
 * Interruption point: an interrupted wait removes its signal listener.
 *
 * @example
 * ```ts ignore
 * import { spawn, waitForSignal } from "../mod.ts";
 * spawn(async () => {
 *   for (;;) {
 *     await waitForSignal("SIGHUP");
 *     console.log("reloading configuration");
 *   }
 * });
 * ```
 */
export async function waitForSignal(signal: Deno.Signal): Promise<void> {
  const me = current();
  if (me === null) throw new NotInThreadError("waitForSignal");
  await me._suspend(new SignalWait(me, signal));
}

/** How a process ended. */
export interface ProcessExit {
  /** The process id. */
  pid: number;
  /** The exit code, or null if killed by a signal or unknown (not our child). */
  code: number | null;
  /** The number of the signal that killed it, or null. */
  signal: number | null;
}

/** A kernel object registered with the poller for the length of one wait. */
class Watched implements Pollable {
  readonly fd: number;
  _reader: Thread | null = null;
  _writer: Thread | null = null;
  _readable = true;
  _hup = false;
  _token = 0;
  constructor(fd: number) {
    this.fd = fd;
  }
  toString(): string {
    return `fd ${this.fd}`;
  }
}

/**
 * Waits until `fd` is ready in `direction`. A wake is only a hint: readiness is confirmed
 * with a poll of the fd itself before the wait returns. `owned`: the fd is ours (a pidfd,
 * a watch), closed with the poller if the worker ends; a foreign fd is only watched.
 */
async function waitOnFd(
  poller: FfiPoller,
  fd: number,
  direction: number,
  owned: boolean,
): Promise<void> {
  const target = new Watched(fd);
  poller.register(target, direction, owned);
  try {
    for (;;) {
      const ready = poller.shim.sh_ready(fd, direction);
      if (ready < 0) throw poller.error(-ready, "poll", `fd ${fd}`);
      if ((ready & (direction | HUP | ERR)) !== 0) return;
      await poller.wait(target, direction);
    }
  } finally {
    poller.unregister(target);
  }
}

/**
 * Blocks until the process `target` exits: a `Deno.ChildProcess` (any backend) or a pid
 * (FFI backend: pidfd on Linux, kqueue elsewhere). The exit status of a pid is known only
 * for our own children that Deno has not reaped yet; otherwise `code` is null.
 *
 * Interruption point: an interrupted wait leaves the process alone.
 *
 * @example
 * ```ts ignore
 * import { spawn, waitForProcessExit } from "../mod.ts";
 * await spawn(async () => {
 *   const child = new Deno.Command("true").spawn();
 *   console.log(await waitForProcessExit(child)); // { pid: ..., code: 0, signal: null }
 * }).join();
 * ```
 * @throws {UnsupportedOperationError} for a bare pid on the Deno backend
 * @throws {SocketError} ESRCH if there is no such process
 * @throws {RangeError} if a pid is not a positive integer below 2^31
 */
export async function waitForProcessExit(target: number | Deno.ChildProcess): Promise<ProcessExit> {
  if (typeof target !== "number") {
    const status = await waitFor(target.status, `exit of process ${target.pid}`);
    return {
      pid: target.pid,
      code: status.signal === null ? status.code : null,
      signal: status.signal === null ? null : signalNumber(status.signal),
    };
  }
  const poller = activePoller();
  if (poller === null) {
    throw new UnsupportedOperationError(
      "waitForProcessExit(pid)",
      "deno",
      "pass a Deno.ChildProcess",
    );
  }
  if (checkSize(target, "a pid") === 0) throw new RangeError("a pid must be positive, not 0");
  const fd = poller.shim.sh_process_watch(target);
  if (fd < 0) throw poller.error(-fd, "process_watch", `pid ${target}`);
  try {
    await waitOnFd(poller, fd, READ, true);
  } finally {
    if (!poller.closed) poller.shim.sh_close(fd); // else the poller closed it, with itself
  }
  const status = new Int32Array(3);
  const r = poller.shim.sh_child_status(target, new Uint8Array(status.buffer), 12);
  if (r === 1) {
    return {
      pid: target,
      code: status[1] >= 0 && status[2] === 0 ? status[1] : null,
      signal: status[2] !== 0 ? status[2] : null,
    };
  }
  return { pid: target, code: null, signal: null };
}

const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

function signalNumber(signal: Deno.Signal): number {
  return SIGNAL_NUMBERS[signal] ?? -1;
}

/** What changed in a watched file or directory. */
export interface FileChange {
  /** The contents were written. */
  modified: boolean;
  /** Permissions, owner or times changed. */
  attributes: boolean;
  /** Something was created in (or moved into) the directory. */
  created: boolean;
  /** Something was deleted from (or moved out of) the directory. */
  deleted: boolean;
  /** The watched path itself was deleted or moved away. */
  gone: boolean;
}

/**
 * Blocks until `path` (a file or a directory) changes; changes made before the call are
 * not seen. inotify/kqueue on the FFI backend, `Deno.watchFs` otherwise.
 *
 * Interruption point: an interrupted wait removes its watch.
 *
 * @example
 * ```ts ignore
 * import { spawn, waitForFileChange } from "../mod.ts";
 * await spawn(async () => {
 *   const change = await waitForFileChange("/etc/myapp.conf");
 *   if (change.modified) console.log("reload");
 * }).join();
 * ```
 * @throws {SocketError} ENOENT if the path does not exist
 * @throws {TypeError} if the path contains a NUL byte (no file has such a name)
 */
export async function waitForFileChange(path: string): Promise<FileChange> {
  if (path.includes("\0")) {
    throw new TypeError(`a file path cannot contain NUL: ${JSON.stringify(path)}`);
  }
  const poller = activePoller();
  if (poller === null) return await watchWithDeno(path);
  const bytes = new TextEncoder().encode(path);
  const fd = poller.shim.sh_file_watch(bytes, bytes.length);
  if (fd < 0) throw poller.error(-fd, "file_watch", path);
  try {
    let bits = 0;
    while (bits === 0) {
      await waitOnFd(poller, fd, READ, true);
      bits = poller.shim.sh_file_changes(fd);
    }
    return {
      modified: (bits & 1) !== 0,
      attributes: (bits & 2) !== 0,
      created: (bits & 4) !== 0,
      deleted: (bits & 8) !== 0,
      gone: (bits & 16) !== 0,
    };
  } finally {
    if (!poller.closed) poller.shim.sh_close(fd); // else the poller closed it, with itself
  }
}

async function watchWithDeno(path: string): Promise<FileChange> {
  const absolute = Deno.realPathSync(path);
  const watcher = Deno.watchFs(path, { recursive: false });
  try {
    const iterator = watcher[Symbol.asyncIterator]();
    const change: FileChange = {
      modified: false,
      attributes: false,
      created: false,
      deleted: false,
      gone: false,
    };
    for (;;) {
      const next = await waitFor(iterator.next(), `change of ${path}`);
      if (next.done) return change;
      const event = next.value;
      const self = event.paths.includes(absolute);
      if (event.kind === "modify") change.modified = true;
      else if (event.kind === "create") change.created = true;
      else if (event.kind === "remove") {
        if (self) change.gone = true;
        else change.deleted = true;
      } else if (event.kind === "rename") change.gone = self;
      else continue;
      return change;
    }
  } finally {
    watcher.close();
  }
}

/**
 * Blocks until file descriptor `fd` (one not owned by a shrapnel socket) is readable.
 *
 * Interruption point.
 *
 * @example
 * ```ts ignore
 * import { spawn, waitForFdRead } from "../mod.ts";
 * await spawn(() => waitForFdRead(0)).join(); // stdin has input
 * ```
 * @throws {UnsupportedOperationError} on the Deno backend
 * @throws {RangeError} if `fd` is not a descriptor number
 * @throws {SocketError} EEXIST if a shrapnel socket owns the fd
 */
export async function waitForFdRead(fd: number): Promise<void> {
  const poller = activePoller();
  if (poller === null) {
    throw new UnsupportedOperationError("waitForFdRead", "deno", "use --allow-ffi");
  }
  await waitOnFd(poller, checkSize(fd, "a file descriptor"), READ, false);
}

/**
 * Blocks until file descriptor `fd` (one not owned by a shrapnel socket) is writable.
 *
 * Interruption point.
 *
 * @example
 * ```ts ignore
 * import { spawn, waitForFdWrite } from "../mod.ts";
 * await spawn(() => waitForFdWrite(1)).join();
 * ```
 * @throws {UnsupportedOperationError} on the Deno backend
 * @throws {RangeError} if `fd` is not a descriptor number
 * @throws {SocketError} EEXIST if a shrapnel socket owns the fd
 */
export async function waitForFdWrite(fd: number): Promise<void> {
  const poller = activePoller();
  if (poller === null) {
    throw new UnsupportedOperationError("waitForFdWrite", "deno", "use --allow-ffi");
  }
  await waitOnFd(poller, checkSize(fd, "a file descriptor"), WRITE, false);
}
