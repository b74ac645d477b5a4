/**
 * The poller under the FFI socket backend: epoll/kqueue through the C shim, hung on the
 * scheduler's loop. While threads are busy it polls synchronously (a ~3 ns FFI call with
 * timeout 0) once per loop turn; only when a poll finds nothing does it block, in one
 * `nonblocking` FFI call on a helper thread (7-11 us round trip), so Deno's own loop, its
 * timers and its other I/O, always keep running.
 *
 * @module
 */

import { ClosedError, NotInThreadError, SimultaneousError } from "../core/errors.ts";
import { scheduler } from "../core/scheduler.ts";
import type { Wait } from "../core/sync/wait_queue.ts";
import { _setClockSource, now } from "../core/clock.ts";
import { current, type Thread } from "../core/thread.ts";
import { openShim, type Shim } from "../ffi/shim.ts";
import { SocketError, TooManyOpenFilesError } from "./errors.ts";

/** Readiness flags reported by the shim. */
export const READ = 1, WRITE = 2, HUP = 4, ERR = 8;

/** Names of the errno values the shim reports, in the shim's order (see sh_errno). */
const ERRNO_NAMES = [
  "EAGAIN",
  "EWOULDBLOCK",
  "EINPROGRESS",
  "EINTR",
  "ECONNRESET",
  "EPIPE",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ENOTCONN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "EMFILE",
  "ENFILE",
  "EBADF",
  "EINVAL",
  "EACCES",
  "EPERM",
  "ENOENT",
  "EALREADY",
  "EISCONN",
  "EMSGSIZE",
  "ENOBUFS",
  "ENOMEM",
  "EAFNOSUPPORT",
  "EPROTONOSUPPORT",
  "ENOTSOCK",
  "EOPNOTSUPP",
  "ECHILD",
  "ESRCH",
  "ENOSYS",
  "ENAMETOOLONG",
  "EDESTADDRREQ",
  "ENETDOWN",
  "EEXIST",
  "EPROTO",
  "ENOPROTOOPT",
] as const;

/** Something registered with the poller: a socket or a watched kernel object. */
export interface Pollable {
  /** The file descriptor. */
  readonly fd: number;
  /**
   * @internal The registration's token, set by {@linkcode FfiPoller.register}: events
   * carry it, and one that does not match the fd's current registration is stale (it was
   * harvested before its fd was closed and the number reused) and is dropped.
   */
  _token: number;
  /** The thread waiting to read, if any. @internal */
  _reader: Thread | null;
  /** The thread waiting to write, if any. @internal */
  _writer: Thread | null;
  /**
   * @internal False once a read found the fd drained (EAGAIN, or a short read on a
   * stream); set again by every read event. While false, a read can wait for the next
   * edge without trying the syscall first.
   */
  _readable: boolean;
  /**
   * @internal The peer's end of stream (or an error) was seen: sticky, since no further
   * edge will come for it.
   */
  _hup: boolean;
  /**
   * @internal The waits for reading and writing, made on first use and reused (they
   * hold nothing but the poller, the target and the direction): one allocation less
   * per blocking read, which a keep-alive connection makes per request.
   */
  _waits?: [IOWait | undefined, IOWait | undefined];
}

/** What the poller has done since it started (see {@linkcode FfiPoller.statistics}). */
export interface PollerStatistics {
  /** Synchronous polls (timeout 0), one per loop turn while threads wait on I/O. */
  polls: number;
  /** Events those polls found. */
  events: number;
  /** Blocking polls handed to a helper thread because nothing else was to be done. */
  idleWaits: number;
  /** Events the blocking polls found. */
  idleEvents: number;
  /** Threads waiting on I/O now. */
  waiting: number;
  /** Events dropped as stale: for an fd closed (and maybe reused) since they were taken. */
  stale: number;
}

/**
 * After the last event, the poller keeps polling on each loop turn this long (seconds)
 * before it blocks on the helper thread.
 */
export const SPIN_SECONDS = 0.0002;

/** After this many calls in a row on one socket that did not block, the thread yields. */
export const SELFISHNESS = 16;

/** Events one poll harvests at most (MAX_EVENTS in ffi/shim.c). */
const MAX_EVENTS = 256;

/** A thread's wait for one direction of one fd. @internal */
export class IOWait implements Wait {
  readonly poller: FfiPoller;
  readonly target: Pollable;
  readonly direction: number;
  constructor(poller: FfiPoller, target: Pollable, direction: number) {
    this.poller = poller;
    this.target = target;
    this.direction = direction;
  }
  get _reason(): unknown {
    return this.target;
  }
  _interrupted(): void {
    this.poller._cancel(this.target, this.direction);
  }
}

/** The FFI poller: one per process, owned by the scheduler. */
export class FfiPoller {
  /**
   * The shim's functions.
   * @ignore
   */
  readonly shim: Shim;
  /** errno value -> name, for this platform. */
  readonly errnoNames: Map<number, string> = new Map();
  /** This platform's EAGAIN. */
  readonly EAGAIN: number;
  /** This platform's EWOULDBLOCK (EAGAIN's value on most). */
  readonly EWOULDBLOCK: number;
  /** This platform's EINPROGRESS. */
  readonly EINPROGRESS: number;
  /** This platform's EINTR. */
  readonly EINTR: number;
  /** This platform's EBADF. */
  readonly EBADF: number;
  /** This platform's EEXIST. */
  readonly EEXIST: number;
  /** The shim's handle of this poller (its sets, buffer and owned fds). */
  #handle: number;
  #byFd: (Pollable | undefined)[] = [];
  #nextToken = 1;
  #waiting = 0;
  /** (fd, token, flags) triples of the synchronous polls. */
  #events = new Int32Array(3 * MAX_EVENTS);
  #idleEvents = new Int32Array(3 * MAX_EVENTS);
  /** Where the helper thread's wait writes: the shim's memory (see sh_poller_events). */
  #idleOut: Deno.PointerObject;
  #idlePending = false;
  #lastEvent = 0;
  #stats = { polls: 0, events: 0, idleWaits: 0, idleEvents: 0, stale: 0 };
  #idle: Promise<void> | null = null;
  #hookRemover: (() => void) | null = null;
  /** Set when a poll failed: the poller cannot wait any more, and says why. */
  #broken: Error | null = null;
  #closed = false;

  /**
   * Makes a poller (its sets in the shim), owned by the calling worker: torn down when it
   * ends. The process's own is {@linkcode ffiPoller}'s.
   * @throws {SocketError} if the shim cannot make the sets (EMFILE...)
   */
  constructor(shim: Shim) {
    this.shim = shim;
    const count = shim.sh_errno_count();
    for (let i = 0; i < count && i < ERRNO_NAMES.length; i++) {
      const value = shim.sh_errno(i);
      if (!this.errnoNames.has(value)) this.errnoNames.set(value, ERRNO_NAMES[i]);
    }
    this.EAGAIN = shim.sh_errno(0);
    this.EWOULDBLOCK = shim.sh_errno(1);
    this.EINPROGRESS = shim.sh_errno(2);
    this.EINTR = shim.sh_errno(3);
    this.EBADF = shim.sh_errno(ERRNO_NAMES.indexOf("EBADF"));
    this.EEXIST = shim.sh_errno(ERRNO_NAMES.indexOf("EEXIST"));
    const handle = shim.sh_poller_create();
    if (handle < 0) throw this.error(-handle, "poller_create");
    this.#handle = handle;
    const out = shim.sh_poller_events(handle);
    if (out === null) throw this.error(this.EBADF, "poller_events");
    this.#idleOut = out;
    installShimClock(shim);
  }

  /** Whether `result` (a negative return) means "would block". */
  wouldBlock(result: number): boolean {
    return result === -this.EAGAIN || result === -this.EWOULDBLOCK;
  }

  /** The typed error for errno value `errno`. */
  error(errno: number, syscall: string, detail = ""): SocketError {
    return SocketError.from(this.errnoNames.get(errno) ?? `errno ${errno}`, syscall, detail);
  }

  /**
   * Registers `target`'s fd, edge-triggered, for the given directions, with a fresh token.
   * `owned`: the fd is the poller's (a socket's, a watch's), closed with it if its worker
   * ends; false for a foreign fd only watched for a while.
   * @throws {SocketError} EEXIST if the fd is registered already (here, or owned by the
   *   poller of another worker)
   */
  register(target: Pollable, directions = READ | WRITE, owned = true): void {
    const fd = target.fd;
    if (this.#byFd[fd] !== undefined) throw this.error(this.EEXIST, "poller_add", `fd ${fd}`);
    const token = this.#nextToken;
    this.#nextToken = token === 0x7fffffff ? 1 : token + 1;
    const r = this.shim.sh_poller_add(this.#handle, fd, token, directions, owned ? 1 : 0);
    if (r < 0) throw this.error(-r, "poller_add", `fd ${fd}`);
    target._token = token;
    this.#byFd[fd] = target;
  }

  /** Whether `target` is registered (its fd is watched for it now). */
  registered(target: Pollable): boolean {
    return this.#byFd[target.fd] === target;
  }

  /**
   * Forgets `target` before its fd is closed: threads waiting on it get
   * {@linkcode ClosedError} at their blocking point. A target not registered (or no
   * longer) is left alone, and so is whatever now holds its fd number.
   */
  unregister(target: Pollable): void {
    if (this.#byFd[target.fd] !== target) return;
    this.#byFd[target.fd] = undefined;
    this.shim.sh_poller_del(this.#handle, target.fd);
    for (const t of [target._reader, target._writer]) {
      if (t !== null && !t.dead) t.raise(new ClosedError(`${target} was closed`));
    }
  }

  /**
   * Blocks the current thread until `target` is ready in `direction` (READ or WRITE).
   *
   * Interruption point: when interrupted the wait is withdrawn and the error thrown.
   * @throws {SimultaneousError} if another thread already waits on that direction
   * @throws {NotInThreadError} outside any thread
   * @throws {SocketError} if polling failed (the poller is broken: every wait gets this)
   */
  wait(target: Pollable, direction: number): Promise<unknown> {
    const me = current();
    if (me === null) return Promise.reject(new NotInThreadError("socket wait"));
    if (this.#broken !== null) return Promise.reject(this.#broken);
    const waiting = direction === READ ? target._reader : target._writer;
    if (waiting !== null && waiting !== me) {
      return Promise.reject(
        new SimultaneousError(
          `${waiting} already waits to ${direction === READ ? "read" : "write"} ${target}`,
        ),
      );
    }
    if (direction === READ) target._reader = me;
    else target._writer = me;
    this.#waiting++;
    if (this.#hookRemover === null) this.#hookRemover = scheduler.addHook(this);
    else if (!this.#idlePending) scheduler.wakeLoop();
    const waits = target._waits ??= [undefined, undefined];
    const slot = direction === READ ? 0 : 1;
    return me._suspend(waits[slot] ??= new IOWait(this, target, direction));
  }

  /** @internal Withdraws a wait (the waiting thread was interrupted). */
  _cancel(target: Pollable, direction: number): void {
    if (direction === READ) {
      if (target._reader === null) return;
      target._reader = null;
    } else {
      if (target._writer === null) return;
      target._writer = null;
    }
    this.#waiting--;
    if (this.#waiting === 0) scheduler.wakeLoop();
  }

  /**
   * Tears the poller down at once, as happens by itself when its worker ends: every fd it
   * owns is closed (its sockets and watches), its helper wait is woken, and threads
   * waiting on it get {@linkcode ClosedError}. For pollers made apart from the
   * process's own ({@linkcode ffiPoller}), which lives as long as its worker. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = new ClosedError("the FFI poller was closed");
    this.#broken = error;
    for (const target of this.#byFd) {
      if (target === undefined) continue;
      for (const t of [target._reader, target._writer]) {
        if (t !== null && !t.dead) t.raise(error);
      }
    }
    this.#byFd = [];
    this.shim.sh_poller_close(this.#handle);
    this.#hookRemover?.();
    this.#hookRemover = null;
  }

  /** Whether {@linkcode FfiPoller.close} was called (the fds it owned are closed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Threads currently waiting on I/O. */
  get waiting(): number {
    return this.#waiting;
  }

  /** @internal Each loop turn: poll at once; block (on a helper thread) only when idle. */
  onTick(idle: boolean): void {
    if (this.#waiting === 0) {
      if (this.#idlePending) this.shim.sh_poller_wake(this.#handle);
      return;
    }
    if (this.#pollNow() > 0) {
      scheduler.wakeLoop(); // busy: poll again on the next turn
    } else if (!this.#idlePending) {
      // Events came a moment ago: more are likely, and handing the wait to the helper
      // thread costs 10+ us each way, so keep polling on the next turns for a little while.
      if (idle && now() - this.#lastEvent > SPIN_SECONDS) this.#idleWait();
      else scheduler.wakeLoop();
    }
  }

  /** @internal Every thread waits: poll at once rather than on the next tick. */
  onQuiescent(): void {
    if (this.#waiting !== 0) this.#pollNow();
  }

  /** A synchronous poll (timeout 0); dispatches what it finds and returns how many. */
  #pollNow(): number {
    if (this.#broken !== null) return 0;
    const n = this.shim.sh_poller_poll(this.#handle, this.#events, this.#events.byteLength);
    this.#stats.polls++;
    if (n < 0) {
      this.#fail(n, "poller_poll");
      return 0;
    }
    if (n > 0) {
      this.#stats.events += n;
      this.#lastEvent = now();
      this.#dispatch(this.#events, n);
    }
    return n;
  }

  /**
   * Resolves once no blocking poll is outstanding on the helper thread (waking it if no
   * thread waits on I/O): for tests that check no operation outlives them.
   */
  async quiesce(): Promise<void> {
    while (this.#idle !== null && this.#waiting === 0) {
      this.shim.sh_poller_wake(this.#handle);
      await this.#idle;
    }
  }

  /** Counts since start: synchronous polls, events they found, blocking waits handed off. */
  statistics(): PollerStatistics {
    return { ...this.#stats, waiting: this.#waiting };
  }

  #idleWait(): void {
    this.#idlePending = true;
    this.#stats.idleWaits++;
    const out = this.#idleOut;
    this.#idle = this.shim.sh_poller_wait(this.#handle).then((n) => {
      this.#idlePending = false;
      this.#idle = null;
      if (this.#closed) return; // the shim's buffer went with the poller
      if (n < 0) {
        this.#fail(n, "poller_wait");
      } else if (n > 0) {
        this.#stats.idleEvents += n;
        const events = this.#idleEvents.subarray(0, 3 * n);
        Deno.UnsafePointerView.copyInto(out, events);
        this.#dispatch(events, n);
      }
      scheduler.wakeLoop();
    });
  }

  /**
   * A poll failed (the shim maps EINTR to 0, so this is a broken poller: its sets closed
   * under it, or out of memory): waiting would spin or hang, so every waiting thread and
   * every later wait gets the error.
   */
  #fail(result: number, syscall: string): void {
    const error = this.error(-result, syscall, "the FFI poller cannot wait any more");
    this.#broken = error;
    for (const target of this.#byFd) {
      if (target === undefined) continue;
      for (const t of [target._reader, target._writer]) {
        if (t !== null && !t.dead) t.raise(error);
      }
    }
  }

  #dispatch(events: Int32Array, n: number): void {
    const byFd = this.#byFd;
    for (let i = 0; i < n; i++) {
      const target = byFd[events[3 * i]];
      if (target === undefined || target._token !== events[3 * i + 1]) {
        this.#stats.stale++;
        continue;
      }
      const flags = events[3 * i + 2];
      if ((flags & READ) !== 0) target._readable = true;
      if ((flags & (HUP | ERR)) !== 0) target._hup = true;
      if ((flags & READ) !== 0 && target._reader !== null) {
        const t = target._reader;
        target._reader = null;
        this.#waiting--;
        t._wake(undefined);
      }
      if ((flags & WRITE) !== 0 && target._writer !== null) {
        const t = target._writer;
        target._writer = null;
        this.#waiting--;
        t._wake(undefined);
      }
    }
  }
}

/**
 * Makes `now()` read the monotonic clock through the shim (~40 ns against ~130 ns for
 * `performance.now()`, which reads the same clock with another origin). The origin is
 * kept: the offset is an upper bound of the true one (`performance.now()` read after the
 * shim), the tightest of a few tries, so the clock never steps back at the switch.
 */
function installShimClock(shim: Shim): void {
  let offset = Infinity;
  for (let i = 0; i < 8; i++) {
    const shimMs = shim.sh_now_ms();
    const performanceMs = performance.now();
    offset = Math.min(offset, performanceMs - shimMs);
  }
  const before = now();
  const read = (): number => (shim.sh_now_ms() + offset) / 1000;
  if (read() >= before) _setClockSource(read);
}

const POLLER = Symbol("ffiPoller");

/**
 * The process's FFI poller, or the reason it is unavailable (no `--allow-ffi`, shim not
 * built, unsupported platform).
 * @throws {TooManyOpenFilesError} if the process is out of descriptors (the shim cannot be
 * opened now, nor the poller made): nothing is settled, the next call tries again
 */
export function ffiPoller(): FfiPoller | { reason: string } {
  return scheduler.slot(POLLER, () => {
    let shim: ReturnType<typeof openShim>;
    try {
      shim = openShim();
    } catch (e) {
      throw new TooManyOpenFilesError(
        "EMFILE",
        "dlopen",
        `(the FFI shim): ${(e as Error).message}`,
      );
    }
    return "reason" in shim ? shim : new FfiPoller(shim);
  });
}

/**
 * Resolves once the FFI poller (if one was made) has no blocking poll outstanding on its
 * helper thread: for test runners and programs that end without draining the loop.
 *
 * @example
 * ```ts
 * import { quiesceFfiPoller } from "./ffi_poller.ts";
 * await quiesceFfiPoller();
 * ```
 */
export async function quiesceFfiPoller(): Promise<void> {
  const poller = scheduler.peekSlot<FfiPoller | { reason: string }>(POLLER);
  if (poller !== undefined && !("reason" in poller)) await poller.quiesce();
}
