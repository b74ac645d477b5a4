/**
 * The FIFO queue of blocked threads that every sync primitive uses: O(1) push, removal
 * of any waiter (an interrupted waiter takes itself out), and hand-off to the first waiter
 * that is still blocked.
 *
 * @module
 */

import { NotInThreadError } from "../errors.ts";

/** A settled promise for blocking calls that did not need to block. */
export const RESOLVED: Promise<void> = Promise.resolve();

/** The rejection of a blocking call made outside any thread. */
export function outsideThread(operation: string): Promise<never> {
  return Promise.reject(new NotInThreadError(operation));
}

/** What a wait queue needs of a thread. */
export interface Wakeable {
  /** Wakes the thread with `value` if it is blocked; false if it was not (already woken). */
  _wake(value: unknown): boolean;
  /** Whether the thread is blocked and waiting for a wake. */
  readonly _blocked: boolean;
}

/**
 * A thread's current wait, as the thread sees it: what to undo when the wait ends in an
 * interruption instead of a wake.
 */
export interface Wait {
  /** Leaves the wait (queue, timer...) and passes on any turn it had been handed. */
  _interrupted(): void;
  /** What is waited on, for thread dumps: a primitive, a socket, a word like "sleep". */
  readonly _reason: unknown;
}

/** What {@linkcode block} needs of a thread: to be woken and to suspend. */
export interface Blockable extends Wakeable {
  /** Suspends until woken (resolves) or interrupted (calls `wait._interrupted`, rejects). */
  _suspend(wait: Wait | null): Promise<unknown>;
}

/** Called when a waiter is interrupted: `granted` tells if a turn must be passed on. */
export type AbortHandler<T extends Wakeable> = (w: Waiter<T>) => void;

/** A thread's place in a {@linkcode WaitQueue}. */
export class Waiter<T extends Wakeable = Wakeable> implements Wait {
  /** The waiting thread. */
  readonly thread: T;
  /** A number the primitive attaches (a semaphore's count, a fifo's pop-all flag). */
  readonly arg: number;
  /** Set when a wake was handed to this waiter: the primitive's turn is now its own. */
  granted = false;
  /** The value handed over with the wake. */
  value: unknown = undefined;
  /** A mark the primitive may set when it wakes the waiter (how it was woken). */
  mark = 0;
  /** @internal */
  _prev: Waiter<T> | null = null;
  /** @internal */
  _next: Waiter<T> | null = null;
  /** @internal The queue it is in, or null once it left. */
  _queue: WaitQueue<T> | null;
  /** @internal */
  readonly _onAbort: AbortHandler<T> | undefined;
  /** @internal What is waited on (the primitive), for thread dumps. */
  readonly _reason: unknown;

  /**
   * @param queue the queue it waits in
   * @param thread the waiting thread
   * @param arg a number for the primitive's own use
   * @param onAbort what the primitive does when the waiter is interrupted
   * @param reason what is waited on (the primitive), for thread dumps
   */
  constructor(
    queue: WaitQueue<T>,
    thread: T,
    arg: number,
    onAbort?: AbortHandler<T>,
    reason: unknown = null,
  ) {
    this._reason = reason;
    this._queue = queue;
    this.thread = thread;
    this.arg = arg;
    this._onAbort = onAbort;
  }

  /** @internal Interrupted: leave the queue, then let the primitive pass a turn on. */
  _interrupted(): void {
    this._queue?.remove(this);
    this._onAbort?.(this);
  }
}

/**
 * A doubly linked FIFO of {@linkcode Waiter}s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WaitQueue } from "./wait_queue.ts";
 * const q = new WaitQueue();
 * assert.deepEqual(q.length, 0);
 * ```
 */
export class WaitQueue<T extends Wakeable = Wakeable> {
  #head: Waiter<T> | null = null;
  #tail: Waiter<T> | null = null;
  #length = 0;

  /** Number of queued waiters (some may have been interrupted and not yet left). */
  get length(): number {
    return this.#length;
  }

  /** Appends `thread` and returns its place. */
  push(thread: T, arg = 0, onAbort?: AbortHandler<T>, reason: unknown = null): Waiter<T> {
    const w = new Waiter(this, thread, arg, onAbort, reason);
    const tail = this.#tail;
    w._prev = tail;
    if (tail === null) this.#head = w;
    else tail._next = w;
    this.#tail = w;
    this.#length++;
    return w;
  }

  /** Takes `w` out of the queue; does nothing if it already left. */
  remove(w: Waiter<T>): void {
    if (w._queue !== this) return;
    w._queue = null;
    const prev = w._prev, next = w._next;
    if (prev === null) this.#head = next;
    else prev._next = next;
    if (next === null) this.#tail = prev;
    else next._prev = prev;
    w._prev = w._next = null;
    this.#length--;
  }

  /**
   * The first waiter whose thread is still blocked. Waiters whose thread was interrupted
   * in the meantime are dropped on the way: they no longer wait.
   */
  first(): Waiter<T> | undefined {
    let w = this.#head;
    while (w !== null && !w.thread._blocked) {
      const next = w._next;
      this.remove(w);
      w = next;
    }
    return w ?? undefined;
  }

  /**
   * Wakes the first waiter still blocked with `value`, takes it out and marks it granted.
   * Returns it, or undefined if nobody waits.
   */
  wakeFirst(value?: unknown): Waiter<T> | undefined {
    for (;;) {
      const w = this.#head;
      if (w === null) return undefined;
      this.remove(w);
      if (w.thread._wake(value)) {
        w.granted = true;
        w.value = value;
        return w;
      }
    }
  }

  /**
   * Takes `w` out and wakes it with `value`; marks it granted and returns true, or
   * returns false if its thread was no longer blocked.
   */
  wake(w: Waiter<T>, value?: unknown): boolean {
    this.remove(w);
    if (!w.thread._wake(value)) return false;
    w.granted = true;
    w.value = value;
    return true;
  }

  /** Wakes every blocked waiter with `value`; returns how many were woken. */
  wakeAll(value?: unknown): number {
    let woken = 0;
    while (this.wakeFirst(value) !== undefined) woken++;
    return woken;
  }

  /** The waiting threads, first to last. */
  threads(): T[] {
    const out: T[] = [];
    for (let w = this.#head; w !== null; w = w._next) out.push(w.thread);
    return out;
  }
}

/**
 * Blocks `thread` (the current thread) in `queue` until a primitive wakes it; resolves
 * with the value it was woken with. This is the interruption contract of every
 * primitive: when interrupted, the waiter leaves the queue and `onAbort(w)` runs before
 * the promise rejects. If a wake had already been handed to it (`w.granted`), `onAbort`
 * must pass that turn on (unlock, release, push the item back), so nothing is lost.
 */
export function block<T extends Blockable>(
  queue: WaitQueue<T>,
  thread: T,
  reason: unknown,
  arg: number,
  onAbort?: AbortHandler<T>,
): Promise<unknown> {
  return thread._suspend(queue.push(thread, arg, onAbort, reason));
}
