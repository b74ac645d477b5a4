/**
 * Thread groups: structured concurrency on top of threads (Trio's nurseries, Effection's
 * scopes). A group's children live inside it: the owner waits for them at the end of its
 * scope, the first failure stops the others, and nothing is lost. An owner that ends
 * without joining leaves its groups running (see {@linkcode ThreadGroup}: why).
 *
 * @module
 */

import {
  type ChildOutcome,
  ClosedError,
  LockError,
  NotInThreadError,
  Shutdown,
  ThreadGroupError,
  ThreadGroupFullError,
} from "./errors.ts";
import {
  _createThread,
  _reportThreadError,
  _setOwnerShutdownHook,
  _startThread,
  current,
  type GroupLink,
  type SpawnOptions,
  type Thread,
} from "./thread.ts";
import { block, type Waiter, WaitQueue } from "./sync/wait_queue.ts";

/** Options of {@linkcode ThreadGroup}. */
export interface ThreadGroupOptions {
  /** Shown in thread dumps, statistics and errors. Default `"group-<n>"`. */
  name?: string;
  /** Most children live at once (a positive integer). Default `Infinity`. */
  maxThreads?: number;
  /**
   * What `spawn` does when `maxThreads` children are live: `"wait"` (the default) makes
   * the child and holds it, starting it when a live child finishes (in spawn order);
   * `"refuse"` throws {@linkcode ThreadGroupFullError}. A spawner that should itself
   * wait (an acceptor that stops accepting) calls {@linkcode ThreadGroup.whenRoom} first.
   */
  whenFull?: "wait" | "refuse";
  /**
   * What a child's error does: `"fail"` (the default) fails the group (the siblings are
   * shut down and the owner gets a {@linkcode ThreadGroupError}); `"report"` (for
   * long-lived groups such as a server's connections) leaves the group running and the
   * error goes to the thread error hook (see `setThreadErrorHook`) unless somebody joins
   * that child.
   */
  childErrors?: "fail" | "report";
}

/** What {@linkcode ThreadGroup.statistics} reports. */
export interface ThreadGroupStatistics {
  /** The group's name. */
  name: string;
  /** `"open"`, `"failing"` (a child failed: the rest are being shut down), `"stopping"`
   * (shut down, children still finishing) or `"closed"` (joined, or stopped and empty). */
  state: "open" | "failing" | "stopping" | "closed";
  /** Children started (or about to start) and not finished. */
  running: number;
  /** Children held until there is room (`whenFull: "wait"`). */
  waiting: number;
  /** Children spawned in all. */
  spawned: number;
  /** Children finished in all. */
  finished: number;
  /** Children that died from an error other than `Shutdown`. */
  failed: number;
  /** Spawns refused because the group was full (`whenFull: "refuse"`). */
  refused: number;
  /** The bound on live children. */
  maxThreads: number;
}

const OPEN = 0, FAILING = 1, STOPPING = 2, CLOSED = 3;
const STATE_NAMES = ["open", "failing", "stopping", "closed"] as const;

/** Groups not yet closed, by owner: an owner shut down, or timed out, takes them down. */
const openGroups = new WeakMap<Thread, Set<ThreadGroup>>();
/** Counts groups made, so that a `withTimeout` frame knows which were made inside it. */
let groupsMade = 0;

_setOwnerShutdownHook((owner) => {
  const groups = openGroups.get(owner);
  if (groups !== undefined) { for (const group of [...groups]) group.shutdown(); }
});

/** @internal How many groups were made so far (a `withTimeout` frame notes it). */
export function _groupMark(): number {
  return groupsMade;
}

/** @internal Shuts down `owner`'s open groups made after `mark` (its frame's deadline passed). */
export function _shutdownGroupsSince(owner: Thread, mark: number): void {
  const groups = openGroups.get(owner);
  if (groups === undefined) return;
  for (const group of [...groups]) if (group._serial > mark) group.shutdown();
}

/**
 * A group of threads that live and die together (a nursery). The thread that makes the
 * group owns it. Its children are started with {@linkcode ThreadGroup.spawn}; the owner
 * waits for them with {@linkcode ThreadGroup.join}, or at the end of its scope with
 * `await using group = new ThreadGroup()`.
 *
 * The contract:
 * - **First failure stops the rest.** When a child dies from an error (other than
 *   `Shutdown`), every other child is shut down ({@linkcode Shutdown} at its blocking
 *   point; held children never start), the group waits for all of them, then raises in the
 *   owner one {@linkcode ThreadGroupError} carrying every outcome: thrown by `join()`
 *   if the owner waits there, else raised in the owner at its next blocking point (like
 *   an interrupt). Nothing is swallowed: if the owner is gone, or ends (or is raised
 *   again) before a blocking call has thrown it, the error goes to the thread error hook.
 * - **The owner interrupted stops the children.** If the owner is interrupted while it
 *   waits in `join()` (an interrupt, `Shutdown`, a `withTimeout` deadline), the children
 *   are shut down, waited for, and the interruption is rethrown. A shut-down owner shuts
 *   its groups down wherever it is, and a `withTimeout` deadline shuts down the groups
 *   made inside that call as it interrupts the thread.
 * - **Scope exit waits.** `join()` returns once no child is live; the group is then
 *   closed (spawning into it throws `ClosedError`). With `await using`, the scope's own
 *   code throwing does not cancel the children by itself (a disposer is not told why
 *   its scope ends); {@linkcode ThreadGroup.run} does: its body throwing shuts the
 *   children down, waits for them and rethrows.
 * - **An owner that ends without joining leaves its groups running.** Returning,
 *   throwing, or dying from an error raised in it (other than `Shutdown`) outside
 *   `join()` does not stop its children: a group may be meant to outlive the code that
 *   made it, as an `AmqpConnection`'s reader and heartbeat threads outlive the thread
 *   that called `connect()` and handed the connection on. Use `await using`,
 *   {@linkcode ThreadGroup.run} or `join()` for a scope whose children must not outlive
 *   it; {@linkcode ThreadGroup.shutdown} stops a long-lived group. A failure in a group
 *   whose owner is gone still is not lost: it goes to the thread error hook.
 * - **Detached threads are unchanged**: plain `spawn` makes threads that belong to no
 *   group.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn, ThreadGroup } from "./mod.ts";
 * const done = await spawn(async () => {
 *   const results: number[] = [];
 *   {
 *     await using group = new ThreadGroup({ name: "workers" });
 *     for (const n of [3, 1, 2]) group.spawn(async () => { await sleep(n / 1000); results.push(n); });
 *   } // waits here for the three
 *   return results;
 * }).join();
 * assert.deepEqual([...done].sort(), [1, 2, 3]); // all three ended inside the block
 * ```
 */
export class ThreadGroup implements GroupLink, AsyncDisposable {
  /** Shown in thread dumps, statistics and errors. */
  readonly name: string;
  /** The thread that made the group (null if it was made outside any thread). */
  readonly owner: Thread | null;
  /** The bound on live children. */
  readonly maxThreads: number;
  /** @internal Which group this is, in making order. */
  readonly _serial: number;
  readonly #refuse: boolean;
  readonly #failFast: boolean;
  #state = OPEN;
  #running = new Set<Thread>();
  #held = new Set<Thread>();
  #spawned = 0;
  #finished = 0;
  #failed = 0;
  #refused = 0;
  /** Collected from the first failure on. */
  #outcomes: ChildOutcome[] | undefined;
  #error: ThreadGroupError | undefined;
  #delivered = false;
  #joiners = new WaitQueue<Thread>();
  #outside: PromiseWithResolvers<void>[] = [];
  #roomWaiters = new WaitQueue<Thread>();

  /**
   * Makes a group owned by the calling thread.
   * @throws {RangeError} if `maxThreads` is not a positive integer (or Infinity)
   */
  constructor(options: ThreadGroupOptions = {}) {
    const max = options.maxThreads ?? Infinity;
    if (!(max === Infinity || (Number.isSafeInteger(max) && max > 0))) {
      throw new RangeError(`maxThreads must be a positive integer, got ${max}`);
    }
    this._serial = ++groupsMade;
    this.name = options.name ?? `group-${this._serial}`;
    this.maxThreads = max;
    this.#refuse = options.whenFull === "refuse";
    this.#failFast = options.childErrors !== "report";
    this.owner = current();
    if (this.owner !== null) {
      let groups = openGroups.get(this.owner);
      if (groups === undefined) openGroups.set(this.owner, groups = new Set());
      groups.add(this);
    }
  }

  /** Live children: running, and held until there is room. */
  get size(): number {
    return this.#running.size + this.#held.size;
  }

  /**
   * Starts `fn(...args)` in a new thread that is a child of this group (it starts when
   * the caller next blocks or yields, as with `spawn`). Pass options first to name it.
   * When the group is full the child is held until there is room, or refused (see
   * {@linkcode ThreadGroupOptions.whenFull}).
   *
   * @throws {ClosedError} if the group was shut down, failed or joined
   * @throws {ThreadGroupFullError} if the group is full and refuses
   */
  spawn<A extends unknown[], R>(
    fn: (...args: A) => R | PromiseLike<R>,
    ...args: A
  ): Thread<Awaited<R>>;
  /** As above, with the thread's options first. */
  spawn<A extends unknown[], R>(
    options: SpawnOptions,
    fn: (...args: A) => R | PromiseLike<R>,
    ...args: A
  ): Thread<Awaited<R>>;
  spawn(first: SpawnOptions | ((...args: unknown[]) => unknown), ...rest: unknown[]): Thread {
    if (this.#state !== OPEN) {
      throw new ClosedError(`thread group "${this.name}" is ${STATE_NAMES[this.#state]}`);
    }
    const full = this.#running.size >= this.maxThreads;
    if (full && this.#refuse) {
      this.#refused++;
      throw new ThreadGroupFullError(this.name, this.maxThreads);
    }
    const thread = _createThread(first, rest);
    thread._setGroup(this);
    if (this.#failFast) thread._claim(); // its error is the group's to raise
    this.#spawned++;
    if (full) {
      this.#held.add(thread);
    } else {
      this.#running.add(thread);
      _startThread(thread);
    }
    return thread;
  }

  /**
   * Waits until the group has room for a child (fewer than `maxThreads` live, counting
   * held ones): a spawner that should stop taking work while the group is full (an
   * acceptor) calls this before `spawn`.
   *
   * Interruption point: an interrupted waiter leaves the line; a turn it had been given
   * passes to the next.
   * @throws {ClosedError} if the group is shut down, failed or joined
   * @throws {NotInThreadError} outside any thread
   */
  async whenRoom(): Promise<void> {
    const me = current();
    if (me === null) throw new NotInThreadError("ThreadGroup.whenRoom");
    for (;;) {
      if (this.#state !== OPEN) {
        throw new ClosedError(`thread group "${this.name}" is ${STATE_NAMES[this.#state]}`);
      }
      if (this.size < this.maxThreads) {
        const checkpoint = me._checkpoint();
        if (checkpoint === undefined) return;
        await checkpoint;
        continue;
      }
      await block(this.#roomWaiters, me, this, 0, this.#passRoomOn);
    }
  }

  #passRoomOn = (w: Waiter<Thread>): void => {
    if (w.granted) this.#wakeRoomWaiter();
  };

  #wakeRoomWaiter(): void {
    if (this.#state !== OPEN) this.#roomWaiters.wakeAll();
    else if (this.size < this.maxThreads) this.#roomWaiters.wakeFirst();
  }

  /**
   * Waits until no child is live, then closes the group. Throws the group's
   * {@linkcode ThreadGroupError} if children failed (once: if it was already raised in
   * the owner, `join()` returns).
   *
   * Interruption point: an interrupted joiner shuts every child down, waits for them all
   * (further interruptions meanwhile are raised again afterwards, at the next blocking
   * point), and throws the interruption; a child's failure met meanwhile goes to the
   * thread error hook. Outside any thread it returns a plain promise.
   * @throws {ThreadGroupError} if children failed
   * @throws {LockError} if called by a child of the group (it would wait for itself)
   */
  join(): Promise<void> {
    const me = current();
    if (me === null) {
      if (this.size === 0) return this.#closed();
      const outside = Promise.withResolvers<void>();
      this.#outside.push(outside);
      return outside.promise.then(() => this.#closed());
    }
    if (this.#running.has(me)) {
      return Promise.reject(new LockError(`${me} cannot join its own group "${this.name}"`));
    }
    return this.#joinFrom(me);
  }

  async #joinFrom(me: Thread): Promise<void> {
    try {
      const checkpoint = me._checkpoint();
      if (checkpoint !== undefined) await checkpoint;
      while (this.size > 0) await block(this.#joiners, me, this, 0);
    } catch (interruption) {
      await this.#stopAndDrain(me);
      if (this.#error !== undefined && !this.#delivered && this.#error !== interruption) {
        this.#delivered = true;
        _reportThreadError(me, this.#error);
      }
      this.#delivered ||= this.#error === interruption;
      this.#close();
      throw interruption;
    }
    return this.#closed();
  }

  /** Shuts the children down and waits for them, raising later interruptions again. */
  async #stopAndDrain(me: Thread): Promise<void> {
    if (this.size === 0) return;
    this.shutdown();
    const later: unknown[] = [];
    while (this.size > 0) {
      try {
        await block(this.#joiners, me, this, 0);
      } catch (again) {
        later.push(again);
      }
    }
    for (const error of later) me.raise(error);
  }

  #closed(): Promise<void> {
    this.#close();
    if (this.#error !== undefined && !this.#delivered) {
      this.#delivered = true;
      return Promise.reject(this.#error);
    }
    return Promise.resolve();
  }

  #close(): void {
    this.#state = CLOSED;
    if (this.owner !== null) openGroups.get(this.owner)?.delete(this);
    this.#roomWaiters.wakeAll();
  }

  /**
   * Shuts every child down ({@linkcode Thread.shutdown}: `Shutdown` at its blocking
   * point; held children never start) and refuses new ones. Does not wait: `join()`
   * does. Never throws.
   */
  shutdown(): void {
    if (this.#state === OPEN) this.#state = STOPPING;
    this.#roomWaiters.wakeAll();
    for (const t of [...this.#held]) t.shutdown();
    for (const t of [...this.#running]) t.shutdown();
  }

  /**
   * Runs `body(group)` in the calling thread and then joins the group: the scope of
   * Trio's `async with open_nursery()`. If `body` throws, the children are shut down and
   * waited for before its error is rethrown (a child's failure met meanwhile goes to the
   * thread error hook; the group's own `ThreadGroupError`, raised in the body, is
   * rethrown as it is).
   *
   * Interruption point: as {@linkcode ThreadGroup.join}.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { sleep, spawn, ThreadGroup } from "./mod.ts";
   * const stopped = await spawn(async () => {
   *   let child: { dead: boolean } | undefined;
   *   try {
   *     await new ThreadGroup().run(async (group) => {
   *       child = group.spawn(() => sleep(60));
   *       throw new Error("the body gives up");
   *     });
   *   } catch {
   *     return child?.dead; // stopped and waited for before the error came out
   *   }
   * }).join();
   * assert.equal(stopped, true);
   * ```
   * @throws what `body` throws, or {@linkcode ThreadGroupError} if children failed
   */
  async run<R>(body: (group: this) => R | PromiseLike<R>): Promise<R> {
    let result: R;
    try {
      result = await body(this);
    } catch (error) {
      this.shutdown();
      try {
        await this.join();
      } catch (joinError) {
        if (joinError !== error) {
          // An interruption while draining is raised again; the group's failure is
          // reported: the body's error is the one its caller sees.
          const me = current();
          if (joinError instanceof ThreadGroupError || me === null) {
            _reportThreadError(me ?? this.owner!, joinError);
          } else me.raise(joinError);
        }
      }
      throw error;
    }
    await this.join();
    return result;
  }

  /** `await using group = new ThreadGroup()`: {@linkcode ThreadGroup.join} at scope end. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.join();
  }

  /** The live children (running first, then held), for dumps. */
  threads(): Thread[] {
    return [...this.#running, ...this.#held];
  }

  /** Counts and state. */
  statistics(): ThreadGroupStatistics {
    return {
      name: this.name,
      state: STATE_NAMES[this.#state],
      running: this.#running.size,
      waiting: this.#held.size,
      spawned: this.#spawned,
      finished: this.#finished,
      failed: this.#failed,
      refused: this.#refused,
      maxThreads: this.maxThreads,
    };
  }

  /** `ThreadGroup "conns" open (running=3, waiting=0)` */
  toString(): string {
    return `ThreadGroup "${this.name}" ${
      STATE_NAMES[this.#state]
    } (running=${this.#running.size}, waiting=${this.#held.size})`;
  }

  /** @internal Called by a child when it has finished. */
  _childFinished(child: Thread, result: unknown, failed: boolean): void {
    const wasHeld = this.#held.delete(child);
    if (!wasHeld) this.#running.delete(child);
    this.#finished++;
    const failure = failed && !(result instanceof Shutdown);
    if (failure) this.#failed++;
    if (this.#outcomes !== undefined) {
      this.#outcomes.push(outcome(child, result, failed));
    } else if (failure && this.#failFast) {
      this.#outcomes = [outcome(child, result, failed)];
      this.#state = FAILING;
      this.shutdown();
    }
    if (!wasHeld && this.#state === OPEN && this.#held.size > 0) {
      const next: Thread = this.#held.values().next().value!;
      this.#held.delete(next);
      this.#running.add(next);
      _startThread(next);
    }
    this.#wakeRoomWaiter();
    if (this.size === 0) this.#settle();
  }

  /** No child is live: wake the joiners, and raise the group's failure if there was one. */
  #settle(): void {
    const joiners = this.#joiners.wakeAll();
    const outside = this.#outside;
    this.#outside = [];
    for (const o of outside) o.resolve();
    if (this.#outcomes === undefined || this.#error !== undefined) return;
    const error = this.#error = new ThreadGroupError(this.name, this.#outcomes);
    if (joiners > 0 || outside.length > 0) return; // join() throws it
    const owner = this.owner;
    const first = this.#outcomes.find((o) => !o.ok && !(o.error instanceof Shutdown))!;
    if (owner !== null && !owner.dead && owner.group !== this) {
      this.#delivered = true;
      this.#close();
      // Reported after all if the owner ends, or is raised again, before it sees it.
      owner._raiseOrReport(error, () => _reportThreadError(first.thread as Thread, error));
      return;
    }
    _reportThreadError(first.thread as Thread, error, () => this.#delivered);
  }
}

function outcome(thread: Thread, result: unknown, failed: boolean): ChildOutcome {
  return failed ? { ok: false, error: result, thread } : { ok: true, value: result, thread };
}
