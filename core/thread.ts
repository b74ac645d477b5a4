/**
 * Threads: lightweight coroutines with ids and names, built on async functions. V8
 * switches their stacks; shrapnel decides when a blocked thread resumes and with what,
 * so any thread can interrupt another at its blocking point.
 *
 * @module
 */

import {
  DeadThreadError,
  Interrupted,
  LockError,
  NotInThreadError,
  NotStartedError,
  Shutdown,
  SimultaneousError,
} from "./errors.ts";
import { scheduler } from "./scheduler.ts";
import { block, type Wait, WaitQueue } from "./sync/wait_queue.ts";
import { sleepThreadFor } from "./sleep_timer.ts";
import type { ThreadGroup } from "./thread_group.ts";

const NEW = 0, RUNNING = 1, BLOCKED = 2, WOKEN = 3, DEAD = 4, FAILED = 5;
/** Where a thread is in its life: see {@linkcode Thread.state}. */
export type ThreadState = "new" | "running" | "blocked" | "ready" | "dead";

const STATE_NAMES: readonly ThreadState[] = ["new", "running", "blocked", "ready", "dead", "dead"];

/** Options of {@linkcode spawn}. */
export interface SpawnOptions {
  /** The thread's name, shown in dumps and error reports. Defaults to the function's. */
  name?: string;
}

/** Called when a thread dies from an error nobody was joining on. */
export type ThreadErrorHook = (thread: Thread, error: unknown) => void;

/**
 * @internal What a thread needs of the {@linkcode ThreadGroup} it belongs to (kept as an
 * interface so that this file does not load the group's).
 */
export interface GroupLink {
  /** The group's name, for dumps. */
  readonly name: string;
  /** Called once when the child has finished (before the error hook is considered). */
  _childFinished(child: Thread, result: unknown, failed: boolean): void;
}

const registry = scheduler.threads as Map<number, Thread>;
const context = scheduler.context;
/** In the error slot: no interruption is pending. */
const NO_ERROR: unique symbol = Symbol("no error");

/**
 * Whether blocking calls record where they were made (see {@linkcode traceBlockingCalls}),
 * so that a {@linkcode SimultaneousError} can show where the abandoned call came from.
 */
let tracing = false;

/** The library's own sources: frames there are not where a call was made. */
const LIBRARY_FRAMES = ["core/", "net/"].map((dir) => new URL(`../${dir}`, import.meta.url).href);

function isCallerFrame(line: string): boolean {
  return !LIBRARY_FRAMES.some((dir) => line.includes(dir)) && !/\((?:node|ext):/.test(line);
}

const ERROR_HOOK = Symbol("threadErrorHook");
const defaultErrorHook: ThreadErrorHook = (thread, error) => {
  console.error(`shrapnel: ${thread} died:`, error);
};
function errorHook(): ThreadErrorHook {
  return scheduler.slot(ERROR_HOOK, () => defaultErrorHook);
}

/**
 * @internal Reports `error` for `thread` through the thread error hook in force now, on
 * the next turn of the loop unless `handled()` says by then that somebody took it.
 */
export function _reportThreadError(
  thread: Thread,
  error: unknown,
  handled: () => boolean = () => false,
): void {
  const hook = errorHook();
  scheduler.onNextTick(() => {
    if (!handled()) hook(thread, error);
  });
}

/** Set by the groups' module: a thread being shut down shuts down the groups it owns. */
let ownerShutdownHook: ((owner: Thread) => void) | undefined;

/** @internal Called by `Thread.shutdown` so that groups follow their owner down. */
export function _setOwnerShutdownHook(hook: (owner: Thread) => void): void {
  ownerShutdownHook = hook;
}

/** What few threads need, kept apart so that a plain thread stays small. */
interface Extras {
  /** Its outcome is taken: joined, awaited from outside, or claimed by its group. */
  joined: boolean;
  /** Threads in `join()` now, the outcome not yet taken (one interrupted takes nothing). */
  joining: number;
  /** The unjoined-failure report, put off while a join of the dead thread is pending. */
  deferredReport: (() => void) | undefined;
  joiners: WaitQueue<Thread> | undefined;
  outside: PromiseWithResolvers<unknown> | undefined;
  locals: Map<ThreadLocal<unknown>, unknown> | undefined;
  /** The profiler's account of this thread, while one runs. */
  profile: unknown;
  /** The group this thread is a child of. */
  group: GroupLink | undefined;
  /** Where its current blocking call was made, while calls are traced. */
  callSite: Error | undefined;
  /**
   * The resolve function of a blocking call found abandoned (a second blocking call came
   * before it was awaited). An interruption meant for it does not reject its promise,
   * which nobody may await (an unhandled rejection kills the process): the promise
   * resolves with undefined and the interruption stays pending for the next blocking call.
   */
  abandoned: ((value: unknown) => void) | undefined;
  /** Told of every error raised in the thread (see `_setRaiseListener`). */
  onRaise: ((error: unknown) => void) | undefined;
  /** A raised error that must reach somebody, and its report if it does not (`_raiseOrReport`). */
  mustReach: { error: unknown; report: () => void } | undefined;
}

/**
 * A lightweight thread. Create one with {@linkcode spawn}; it starts when the spawner
 * next blocks or yields.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn, sleep } from "./mod.ts";
 * const t = spawn({ name: "napper" }, async () => { await sleep(0.01); return 42; });
 * assert.deepEqual([t.id > 0, t.name, await t.join()], [true, "napper", 42]);
 * ```
 */
export class Thread<R = unknown> {
  /** Unique among live threads, from 1. */
  readonly id: number;
  /** Shown in dumps and error reports. */
  name: string;
  /** @internal */ _state = NEW;
  // Memory per thread matters (100k+ threads): fields are few, and shared in time.
  /** The function, until the thread starts. */
  #fn: ((...args: unknown[]) => unknown) | undefined;
  /** Its arguments until it starts; then the value of a pending wake; then its result. */
  #slot: unknown;
  /** It yielded at its last checkpoint: the next one (the retry) lets it through. */
  #yielded = false;
  /**
   * Resolves the promise the blocked thread awaits. No reject function is kept: an
   * interruption resolves it with a thenable that rejects (one object fewer per sleeper
   * for the young generation to copy, and one store fewer per block).
   */
  #resolve: ((value: unknown) => void) | undefined = undefined;
  /** The current wait (its cleanup), while blocked. */
  #wait: Wait | null = null;
  /** A pending interruption, or NO_ERROR. */
  #error: unknown = NO_ERROR;
  #extras: Extras | undefined = undefined;

  /** @internal Use {@linkcode spawn}. */
  constructor(fn: (...args: never[]) => unknown, args: unknown[], name: string) {
    let id = scheduler.nextThreadId;
    while (registry.has(id)) id = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    scheduler.nextThreadId = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    this.id = id;
    this.name = name;
    this.#fn = fn as (...args: unknown[]) => unknown;
    this.#slot = args;
    registry.set(id, this);
  }

  /** Whether the thread has begun running. */
  get started(): boolean {
    return this._state !== NEW;
  }

  /** Whether the thread has finished (returned, thrown, or was shut down). */
  get dead(): boolean {
    return this._state >= DEAD;
  }

  /**
   * `"new"` (not started), `"running"` (the current thread, or runnable code outside a
   * blocking call), `"blocked"` (waiting at a blocking point), `"ready"` (woken, its wake
   * still pending in the ready queue), `"dead"`.
   */
  get state(): ThreadState {
    return STATE_NAMES[this._state];
  }

  /** What the thread waits on while blocked: a primitive, a socket, or a word like "sleep". */
  get waitingOn(): unknown {
    return this._state === BLOCKED ? this.#wait?._reason ?? "yield" : null;
  }

  /**
   * Waits for the thread to finish; returns what its function returned or rethrows what
   * it threw (a shut-down thread rethrows {@linkcode Shutdown}).
   *
   * Inside a thread this is an interruption point: when interrupted, the joiner stops
   * waiting and throws the interrupting error; the joined thread is unaffected. Outside
   * any thread it returns a plain promise.
   */
  join(): Promise<R> {
    const me = liveContext();
    if (this._state >= DEAD) {
      // Only a failure needs the mark (its error is then not reported as unjoined): a
      // thread that returned is joined without allocating its extras.
      const checkpoint = me?._checkpoint();
      if (checkpoint === undefined) {
        if (this._state === FAILED) this.#extrasFor().joined = true;
        return this.#settled();
      }
      if (this._state !== FAILED) return checkpoint.then(() => this.join());
      // Its report waits for this join's checkpoint: taken if the join goes on, made if
      // the joiner is interrupted there.
      const extras = this.#extrasFor();
      extras.joining++;
      return checkpoint.then(() => {
        extras.joining--;
        return this.join();
      }, (e) => {
        this.#leaveJoin(extras);
        throw e;
      });
    }
    const extras = this.#extrasFor();
    if (me === undefined) {
      extras.joined = true;
      extras.outside ??= Promise.withResolvers<unknown>();
      return extras.outside.promise as Promise<R>;
    }
    if (me === this) return Promise.reject(new LockError(`${this} cannot join itself`));
    return this.#joinFrom(me, extras);
  }

  async #joinFrom(me: Thread, extras: Extras): Promise<R> {
    // Taken only by a joiner that wakes with the outcome: one interrupted before the
    // death, or after it but before it resumed, leaves a failure to be reported.
    extras.joining++;
    try {
      await block(extras.joiners ??= new WaitQueue<Thread>(), me, this, 0);
    } catch (e) {
      this.#leaveJoin(extras);
      throw e;
    }
    extras.joining--;
    extras.joined = true;
    return this.#settled();
  }

  /** A joiner leaves without the outcome: the last one out makes a report put off for it. */
  #leaveJoin(extras: Extras): void {
    if (--extras.joining > 0 || extras.joined) return;
    const report = extras.deferredReport;
    extras.deferredReport = undefined;
    report?.();
  }

  #settled(): Promise<R> {
    return this._state === FAILED ? Promise.reject(this.#slot) : Promise.resolve(this.#slot as R);
  }

  #extrasFor(): Extras {
    return this.#extras ??= {
      joined: false,
      joining: 0,
      deferredReport: undefined,
      joiners: undefined,
      outside: undefined,
      locals: undefined,
      profile: undefined,
      group: undefined,
      callSite: undefined,
      abandoned: undefined,
      onRaise: undefined,
      mustReach: undefined,
    };
  }

  /** @internal The profiler's account of this thread (kept with the rare extras). */
  _profile(): unknown {
    return this.#extras?.profile;
  }

  /** @internal */
  _setProfile(account: unknown): void {
    this.#extrasFor().profile = account;
  }

  /** The {@linkcode ThreadGroup} this thread was spawned in, or null (a detached thread). */
  get group(): ThreadGroup | null {
    return (this.#extras?.group as ThreadGroup | undefined) ?? null;
  }

  /** @internal Makes the thread a child of `group` (before it starts). */
  _setGroup(group: GroupLink): void {
    this.#extrasFor().group = group;
  }

  /** @internal Marks the thread's outcome as taken care of (its group collects it). */
  _claim(): void {
    this.#extrasFor().joined = true;
  }

  /**
   * Delivers `error` to the thread at its blocking point: the blocking call throws it.
   * A wake still pending in the ready queue is dropped (the primitive that woke the
   * thread passes its turn on). If the thread is not blocked (it is running, or its wake
   * was already delivered), the error is thrown at its next blocking point.
   *
   * @throws {DeadThreadError} if the thread has finished
   * @throws {NotStartedError} if the thread has not started (use `shutdown` to cancel it)
   */
  raise(error: unknown): void {
    if (this._state >= DEAD) throw new DeadThreadError(`${this} is dead`);
    if (this._state === NEW) throw new NotStartedError(`${this} has not started`);
    if (this.#error === NO_ERROR) scheduler.interruptsPending++;
    else this.#dropPending();
    this.#error = error;
    if (this._state === BLOCKED) {
      this._state = WOKEN;
      scheduler.active++;
      scheduler.ready(this);
    }
    this.#extras?.onRaise?.(error);
  }

  /**
   * @internal Raises `error`, which must reach somebody (a group's failure raised in its
   * owner): if the thread dies, or another raise replaces it, before a blocking call has
   * thrown it, `report()` is called instead.
   */
  _raiseOrReport(error: unknown, report: () => void): void {
    this.raise(error);
    this.#extrasFor().mustReach = { error, report };
  }

  /** A pending error is dropped unseen: one that must reach somebody is reported. */
  #dropPending(): void {
    const must = this.#extras?.mustReach;
    if (must === undefined || must.error !== this.#error) return;
    this.#extras!.mustReach = undefined;
    must.report();
  }

  /** A blocking call throws `error`: it reached the thread. */
  #reached(error: unknown): void {
    const extras = this.#extras;
    if (extras !== undefined && extras.mustReach?.error === error) extras.mustReach = undefined;
  }

  /**
   * @internal Tells `listener` of every error raised in this thread from now on (and at
   * once of one still pending), until replaced or cleared with undefined. For code that
   * runs as this thread while awaiting foreign promises (not a blocking point), such as
   * a fetch-style handler: a `Shutdown` raised then reaches it only through this. The
   * listener runs inside `raise`: it must be quick and must not throw.
   */
  _setRaiseListener(listener: ((error: unknown) => void) | undefined): void {
    if (listener === undefined && this.#extras === undefined) return;
    this.#extrasFor().onRaise = listener;
    if (listener !== undefined && this.#error !== NO_ERROR) listener(this.#error);
  }

  /**
   * {@linkcode Thread.raise} with an {@linkcode Interrupted} error by default.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { spawn, sleep, Interrupted } from "./mod.ts";
   * const t = spawn(async () => { try { await sleep(60); } catch (e) { return e instanceof Interrupted; } });
   * await spawn(async () => { await sleep(0); t.interrupt(); }).join();
   * assert.deepEqual(await t.join(), true);
   * ```
   */
  interrupt(error: unknown = new Interrupted(`${this} interrupted`)): void {
    this.raise(error);
  }

  /**
   * Stops the thread: raises {@linkcode Shutdown} in it, or cancels it if it has not
   * started. Does nothing to a dead thread; never throws.
   */
  shutdown(): void {
    if (this._state >= DEAD) return;
    if (this._state === NEW) {
      this._finish(new Shutdown(`${this} shut down before it started`), true);
      return;
    }
    this.raise(new Shutdown(`${this} shut down`));
    ownerShutdownHook?.(this);
  }

  /**
   * Blocks this thread, which must be the one calling, for `seconds`: `sleep(seconds)`
   * without finding the current thread first. That lookup goes through the async context
   * (a weak map of every live thread), more than a tenth of a wake-up when 100k threads
   * sleep in turn; a thread that sleeps at every step of a loop can hold itself
   * (`current()`) and call this instead.
   *
   * Interruption point: as `sleep`, the sleep ends at once and the error is thrown.
   *
   * @example
   * ```ts
   * import { current, spawn } from "./mod.ts";
   * await spawn(async () => {
   *   const me = current()!;
   *   for (let i = 0; i < 3; i++) await me.sleep(0.001);
   * }).join();
   * ```
   * @throws {LockError} if this thread is not running (it is blocked, not started or
   * dead): another thread called it
   */
  sleep(seconds: number): Promise<void> {
    if (this._state !== RUNNING) {
      return Promise.reject(new LockError(`${this}.sleep() called from another thread`));
    }
    return sleepThreadFor(this, seconds);
  }

  /** `<Thread 3 "name" blocked>` */
  toString(): string {
    return `<Thread ${this.id} "${this.name}" ${this.state}>`;
  }

  /**
   * @internal Starts or resumes the thread; called by the scheduler. This is where a
   * wake's outcome is decided: an interruption that arrived while the wake was pending
   * wins, and the wait's cleanup runs (leaving the queue, passing a granted turn on).
   */
  _run(): void {
    if (this._state === WOKEN) {
      const resolve = this.#resolve!, wait = this.#wait;
      const value = this.#slot, error = this.#error;
      this.#resolve = undefined;
      // The wait stays until the next one replaces it: a sleep can reuse its timer.
      this.#slot = null;
      this._state = RUNNING;
      if (error === NO_ERROR) {
        resolve(value);
      } else if (this.#extras?.abandoned === resolve) {
        // Nobody awaits this call's promise: rejecting it would be an unhandled
        // rejection (a dead process). The interruption waits for the next blocking call.
        wait?._interrupted();
        resolve(undefined);
      } else {
        this.#error = NO_ERROR;
        scheduler.interruptsPending--;
        this.#reached(error);
        wait?._interrupted();
        resolve(new Rejection(error));
      }
    } else if (this._state === NEW) {
      start(this);
    }
  }

  /**
   * @internal The thread's last wait while it runs (kept after the wake, so that the
   * next sleep can reuse its timer instead of making one per sleep); its current one
   * while it is blocked.
   */
  get _lastWait(): Wait | null {
    return this.#wait;
  }

  /** @internal Whether the thread is running (so the caller is this thread). */
  get _running(): boolean {
    return this._state === RUNNING;
  }

  /** @internal */
  get _blocked(): boolean {
    return this._state === BLOCKED;
  }

  /** @internal Whether an interruption waits for the thread's next blocking call. */
  get _hasPendingInterrupt(): boolean {
    return this.#error !== NO_ERROR && this._state === RUNNING;
  }

  /**
   * @internal Blocks the calling thread (which must be this one) until `_wake` (the
   * promise resolves with the value) or `raise` (it rejects with the error, after
   * `wait._interrupted()` has cleaned the wait up).
   */
  _suspend(wait: Wait | null): Promise<unknown> {
    if (this._state !== RUNNING) {
      wait?._interrupted();
      return Promise.reject(this.#simultaneous());
    }
    const error = this.#error;
    if (error !== NO_ERROR) {
      this.#error = NO_ERROR;
      scheduler.interruptsPending--;
      this.#reached(error);
      wait?._interrupted();
      return Promise.reject(error);
    }
    this._state = BLOCKED;
    this.#wait = wait;
    if (tracing) this.#extrasFor().callSite = new Error("the abandoned blocking call");
    const promise = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    scheduler.switchHooks?.blocked(this, wait?._reason);
    scheduler.flush(); // threads this one spawned (or woke past the slice) run now
    if (--scheduler.active === 0) scheduler.quiescent();
    return promise;
  }

  /**
   * A thread waits on one thing at a time: a second blocking call started before the
   * first was awaited would steal its wake. The first may be abandoned (see
   * `Extras.abandoned`).
   */
  #simultaneous(): SimultaneousError {
    const site = this.#extras?.callSite;
    const waitingOn = String(this._state === BLOCKED ? this.waitingOn : this.#wait?._reason);
    this.#extrasFor().abandoned = this.#resolve;
    let where = "";
    if (site !== undefined) {
      const caller = (site.stack ?? "").split("\n").slice(1).find(isCallerFrame);
      where = ` (made ${caller?.trim() ?? "in a frame not recorded"}; see this error's cause)`;
    } else if (!tracing) {
      tracing = true;
      where = " (from now on blocking calls are traced: the next SimultaneousError shows " +
        "where the abandoned call was made; call traceBlockingCalls() first to see this one)";
    }
    return new SimultaneousError(
      `${this} is already waiting on ${waitingOn}, a blocking call that was not awaited` +
        `${where}; await one blocking call before starting another, or spawn a thread per wait`,
      site === undefined ? undefined : { cause: site },
    );
  }

  /**
   * @internal The checkpoint of a blocking call that can complete without blocking (an
   * item already queued, a lock free, a thread already dead). Returns undefined when the
   * call may complete now; otherwise a promise the call must return after which it
   * retries: the rejection with a pending interruption (taken before the call takes
   * anything), a `SimultaneousError` if an earlier blocking call is still pending, or a
   * yield when the thread has used up the scheduler's slice.
   */
  _checkpoint(): Promise<void> | undefined {
    if (this._state !== RUNNING || this.#error !== NO_ERROR) {
      return this._suspend(null) as Promise<void>; // throws what is pending
    }
    // The retry after a yield goes through: the thread waited its turn, and however busy
    // the turn it got (a burst of other wakes before it), it makes progress.
    if (scheduler.charge() || this.#yielded) {
      this.#yielded = false;
      return undefined;
    }
    const resumed = this._suspend(null);
    this._requeue();
    this.#yielded = true;
    return resumed as Promise<void>;
  }

  /** @internal Wakes the blocked thread with `value`; false if it was not blocked. */
  _wake(value: unknown): boolean {
    if (this._state !== BLOCKED) return false;
    this._state = WOKEN;
    scheduler.active++;
    this.#slot = value;
    scheduler.ready(this);
    return true;
  }

  /** @internal Puts the blocked thread at the back of the run queue (a yield). */
  _requeue(): void {
    if (this._state !== BLOCKED) return;
    this._state = WOKEN;
    scheduler.active++;
    scheduler.enqueue(this);
  }

  /** @internal Drops a pending interruption if it matches (a timeout that lost the race). */
  _cancelPending(match: (error: unknown) => boolean): void {
    if (this.#error !== NO_ERROR && match(this.#error)) {
      this.#error = NO_ERROR;
      scheduler.interruptsPending--;
    }
  }

  /** @internal The thread's locals, created on first write. */
  _locals(create: boolean): Map<ThreadLocal<unknown>, unknown> | undefined {
    if (!create) return this.#extras?.locals;
    const extras = this.#extrasFor();
    return extras.locals ??= new Map();
  }

  /** @internal Takes the function and its arguments, once, to start the thread. */
  _takeBody(): [(...args: unknown[]) => unknown, unknown[]] {
    const body: [(...args: unknown[]) => unknown, unknown[]] = [
      this.#fn!,
      this.#slot as unknown[],
    ];
    this.#fn = undefined;
    this.#slot = undefined;
    return body;
  }

  /** @internal Called once when the thread's function has returned or thrown. */
  _finish(result: unknown, failed: boolean): void {
    if (this._state >= DEAD) return;
    const wasActive = this._state === RUNNING || this._state === WOKEN;
    this._state = failed ? FAILED : DEAD;
    if (wasActive) scheduler.switchHooks?.ended(this);
    this.#slot = result;
    this.#fn = undefined;
    this.#resolve = undefined;
    this.#wait = null;
    if (this.#error !== NO_ERROR) {
      this.#dropPending();
      this.#error = NO_ERROR;
      scheduler.interruptsPending--;
    }
    if (registry.get(this.id) === this) registry.delete(this.id);
    const extras = this.#extras;
    if (extras !== undefined) {
      extras.locals = undefined;
      extras.group?._childFinished(this, result, failed);
      extras.joiners?.wakeAll();
      if (extras.outside !== undefined) {
        if (failed) extras.outside.reject(result);
        else extras.outside.resolve(result);
      }
    }
    if (failed && !(result instanceof Shutdown) && !extras?.joined) {
      const hook = errorHook(); // the hook in force when it died
      // Like an unhandled rejection: report only if nobody joins by the next loop turn
      // (or, if joiners are still on their way then, once the last of them gives up).
      scheduler.onNextTick(() => {
        const later = this.#extras;
        if (later?.joined) return;
        if (later !== undefined && later.joining > 0) {
          later.deferredReport = () => hook(this, result);
          return;
        }
        hook(this, result);
      });
    }
    if (wasActive && --scheduler.active === 0) scheduler.quiescent();
  }
}

/** A thenable that rejects: a blocked thread keeps only its promise's resolve function. */
class Rejection {
  readonly #error: unknown;
  constructor(error: unknown) {
    this.#error = error;
  }
  then(_resolve: unknown, reject: (error: unknown) => void): void {
    reject(this.#error);
  }
}

function start(thread: Thread): void {
  thread._state = RUNNING;
  scheduler.active++;
  let result: unknown;
  try {
    result = context.run(thread, callBody, thread);
  } catch (e) {
    thread._finish(e, true);
    return;
  }
  if (result !== null && typeof (result as PromiseLike<unknown>)?.then === "function") {
    // Attached outside the thread's context: a reaction made inside an async context
    // costs V8 several hundred bytes more while it is pending.
    context.exit(watch, thread, result as PromiseLike<unknown>);
  } else {
    thread._finish(result, false);
  }
}

function callBody(thread: Thread): unknown {
  const [fn, args] = thread._takeBody();
  return fn(...args);
}

function watch(thread: Thread, result: PromiseLike<unknown>): void {
  Promise.resolve(result).then((v) => thread._finish(v, false), (e) => thread._finish(e, true));
}

type Fn<A extends unknown[], R> = (...args: A) => R | PromiseLike<R>;

/**
 * Starts `fn(...args)` in a new thread and returns the {@linkcode Thread}. The thread
 * begins when the caller next blocks or yields (or at once, if the caller is not a
 * thread, after the current synchronous code). Pass options first to name it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "./mod.ts";
 * const add = spawn((a: number, b: number) => a + b, 2, 3);
 * const named = spawn({ name: "greeter" }, (who: string) => `hi ${who}`, "you");
 * assert.deepEqual([await add.join(), await named.join(), named.name], [5, "hi you", "greeter"]);
 * ```
 */
export function spawn<A extends unknown[], R>(
  fn: (...args: A) => R | PromiseLike<R>,
  ...args: A
): Thread<Awaited<R>>;
/**
 * Starts `fn(...args)` in a new thread with `options` (a name, a group...) and returns
 * the {@linkcode Thread}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "./mod.ts";
 * const named = spawn({ name: "greeter" }, (who: string) => `hi ${who}`, "you");
 * assert.equal(await named.join(), "hi you");
 * assert.equal(named.name, "greeter");
 * ```
 */
export function spawn<A extends unknown[], R>(
  options: SpawnOptions,
  fn: (...args: A) => R | PromiseLike<R>,
  ...args: A
): Thread<Awaited<R>>;
export function spawn(
  first: SpawnOptions | Fn<unknown[], unknown>,
  ...rest: unknown[]
): Thread {
  const thread = _createThread(first, rest);
  scheduler.enqueue(thread);
  return thread;
}

/**
 * @internal Makes a thread as `spawn` does without starting it (a group may hold it);
 * `_startThread` starts it.
 */
export function _createThread(
  first: SpawnOptions | Fn<unknown[], unknown>,
  rest: unknown[],
): Thread {
  let fn: Fn<unknown[], unknown>, args: unknown[], name: string | undefined;
  if (typeof first === "function") {
    fn = first as Fn<unknown[], unknown>;
    args = rest;
  } else {
    if (typeof rest[0] !== "function") throw new TypeError("spawn: missing function");
    name = first.name;
    fn = rest[0] as Fn<unknown[], unknown>;
    args = rest.slice(1);
  }
  const thread = new Thread(fn, args, name ?? fn.name ?? "");
  if (thread.name === "") thread.name = `thread-${thread.id}`;
  return thread;
}

/** @internal Starts a thread made by `_createThread` (when the caller next blocks or yields). */
export function _startThread(thread: Thread): void {
  if (thread._state === NEW) scheduler.enqueue(thread);
}

/**
 * Joins each thread in turn and returns their results in order; rethrows the first
 * error met (after which the remaining threads are still joined, so none is reported as
 * unjoined). A thread waits on one thing at a time, so use this rather than
 * `Promise.all(threads.map((t) => t.join()))` inside a thread.
 *
 * Interruption point: as {@linkcode Thread.join}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinAll, spawn } from "./mod.ts";
 * const ts = [1, 2, 3].map((x) => spawn(() => x * 10));
 * assert.deepEqual(await spawn(() => joinAll(ts)).join(), [10, 20, 30]);
 * ```
 */
export async function joinAll<R>(threads: readonly Thread<R>[]): Promise<R[]> {
  const results: R[] = [];
  let failed = false, first: unknown;
  for (const t of threads) {
    try {
      results.push(await t.join());
    } catch (e) {
      if (!t.dead) throw e; // the joiner itself was interrupted
      if (!failed) first = e;
      failed = true;
    }
  }
  if (failed) throw first;
  return results;
}

/**
 * The thread this code runs in, or null outside any thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { current, spawn } from "./mod.ts";
 * assert.deepEqual(current(), null);
 * assert.equal(await spawn(() => current()?.name).join() !== undefined, true);
 * ```
 */
export function current(): Thread | null {
  return liveContext() ?? null;
}

/**
 * The thread whose async context the caller runs in, unless that thread has finished:
 * a callback a thread left behind (a timer, a promise reaction, a module loaded on its
 * behalf) runs in the thread's context after its end, and is then in no thread at all.
 */
function liveContext(): Thread | undefined {
  const t = context.getStore() as Thread | undefined;
  return t === undefined || t._state < DEAD ? t : undefined;
}

/**
 * The current thread, for a blocking call named `operation`.
 *
 * @throws {NotInThreadError} outside any thread
 */
export function currentFor(operation: string): Thread {
  const t = liveContext();
  if (t === undefined) throw new NotInThreadError(operation);
  return t;
}

/**
 * Every live thread (started or not), in id order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allThreads, spawn } from "./mod.ts";
 * const t = spawn(() => 1);
 * assert.deepEqual(allThreads().includes(t), true);
 * await t.join();
 * ```
 */
export function allThreads(): Thread[] {
  return [...registry.values()].sort((a, b) => a.id - b.id);
}

/**
 * The live thread with this id, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { threadById, spawn } from "./mod.ts";
 * const t = spawn(() => 1);
 * assert.deepEqual(threadById(t.id) === t, true);
 * await t.join();
 * ```
 */
export function threadById(id: number): Thread | undefined {
  return registry.get(id);
}

/**
 * Sets the function called when a thread dies from an error (other than `Shutdown`) and
 * nobody has called `join()` on it by the next turn of the loop (like an unhandled
 * rejection). The default prints it to stderr. Returns the old hook.
 *
 * @example
 * ```ts
 * import { setThreadErrorHook } from "./mod.ts";
 * const old = setThreadErrorHook((t, e) => console.log(`${t.name}: ${e}`));
 * setThreadErrorHook(old);
 * ```
 */
export function setThreadErrorHook(hook: ThreadErrorHook): ThreadErrorHook {
  const old = errorHook();
  scheduler.setSlot(ERROR_HOOK, hook);
  return old;
}

/**
 * Turns on (or off) recording where each blocking call is made, so that a
 * {@linkcode SimultaneousError} (a blocking call made while an earlier one was not
 * awaited) names the line of the abandoned call and carries its stack as `cause`.
 * Recording costs a stack capture per blocking call (about a microsecond), so it is off
 * until the first `SimultaneousError` of the process turns it on. Returns the old setting.
 *
 * @example
 * ```ts
 * import { traceBlockingCalls } from "./mod.ts";
 * const old = traceBlockingCalls(true);
 * traceBlockingCalls(old);
 * ```
 */
export function traceBlockingCalls(on: boolean): boolean {
  const old = tracing;
  tracing = on;
  return old;
}

/**
 * @internal A pending interruption of the calling thread, taken and returned as a
 * rejection; undefined if none (one load when no thread has one pending). For the
 * fast paths of blocking calls that do not otherwise look the thread up (sockets).
 */
export function _takePendingInterrupt(): Promise<never> | undefined {
  if (scheduler.interruptsPending === 0) return undefined;
  const me = liveContext();
  return me !== undefined && me._hasPendingInterrupt
    ? me._suspend(null) as Promise<never>
    : undefined;
}

/** One row of {@linkcode threadDump}. */
export interface ThreadInfo {
  /** The thread's id. */
  id: number;
  /** The thread's name. */
  name: string;
  /** Its state. */
  state: ThreadState;
  /** A description of what it waits on, if blocked. */
  waitingOn: string | null;
  /** The name of the {@linkcode ThreadGroup} it belongs to, or null (a detached thread). */
  group: string | null;
}

/**
 * Where every live thread is: id, name, state and what it waits on.
 *
 * @example
 * ```ts
 * import { threadDump } from "./mod.ts";
 * for (const row of threadDump()) console.log(row.id, row.name, row.state, row.waitingOn);
 * ```
 */
export function threadDump(): ThreadInfo[] {
  return allThreads().map((t) => ({
    id: t.id,
    name: t.name,
    state: t.state,
    waitingOn: t.waitingOn === null ? null : String(t.waitingOn),
    group: t.group?.name ?? null,
  }));
}

/**
 * A value per thread: each thread sees its own, starting from `initial`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn, ThreadLocal } from "./mod.ts";
 * const requestId = new ThreadLocal(0);
 * const a = spawn(() => { requestId.set(1); return requestId.get(); });
 * const b = spawn(() => requestId.get());
 * assert.deepEqual([await a.join(), await b.join()], [1, 0]);
 * ```
 */
export class ThreadLocal<T> {
  readonly #initial: T;
  /**
   * Creates a {@linkcode ThreadLocal}.
   *
   * @param initial the value a thread sees before it sets its own
   */
  constructor(initial: T) {
    this.#initial = initial;
  }

  /**
   * The current thread's value.
   * @throws {NotInThreadError} outside any thread
   */
  get(): T {
    const locals = currentFor("ThreadLocal.get")._locals(false);
    return locals !== undefined && locals.has(this) ? locals.get(this) as T : this.#initial;
  }

  /**
   * Sets the current thread's value.
   * @throws {NotInThreadError} outside any thread
   */
  set(value: T): void {
    currentFor("ThreadLocal.set")._locals(true)!.set(this, value);
  }

  /** Forgets the current thread's value, so it sees the initial value again. */
  delete(): void {
    currentFor("ThreadLocal.delete")._locals(false)?.delete(this);
  }
}
