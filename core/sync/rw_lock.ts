/**
 * A writer-preferring readers/writer lock.
 *
 * @module
 */

import { LockError } from "../errors.ts";
import { current, type Thread } from "../thread.ts";
import { block, outsideThread, RESOLVED, type Waiter, WaitQueue } from "./wait_queue.ts";

/** What {@linkcode RWLock.statistics} reports. */
export interface RWLockStatistics {
  /** Read locks held. */
  readers: number;
  /** The writer's thread id, or null. */
  writer: number | null;
  /** Threads waiting to read. */
  waitingReaders: number;
  /** Threads waiting to write. */
  waitingWriters: number;
}

/**
 * Many readers or one writer. Writer-preferring: once a writer waits, new readers queue
 * behind it; `writeUnlock` hands the lock to the next writer, else lets in every waiting
 * reader. Not re-entrant.
 *
 * @example
 * ```ts
 * import { RWLock, spawn } from "../../mod.ts";
 * const lock = new RWLock();
 * await spawn(async () => {
 *   await lock.readLock();
 *   console.log(lock.statistics().readers); // 1
 *   lock.readUnlock();
 * }).join();
 * ```
 */
export class RWLock {
  #readers = 0;
  #writer: Thread | null = null;
  #readQueue = new WaitQueue<Thread>();
  #writeQueue = new WaitQueue<Thread>();

  /**
   * Takes a read lock, waiting while a writer holds or waits for the lock.
   *
   * Interruption point: an interrupted reader leaves the line; if it had just been let in,
   * it gives its read lock back.
   * @throws {NotInThreadError} outside any thread
   */
  readLock(): Promise<void> {
    const me = current();
    if (me === null) return outsideThread("RWLock.readLock");
    if (this.#writer === null && this.#writeQueue.first() === undefined) {
      const checkpoint = me._checkpoint();
      if (checkpoint !== undefined) return checkpoint.then(() => this.readLock());
      this.#readers++;
      return RESOLVED;
    }
    return block(this.#readQueue, me, this, 0, this.#abortRead) as Promise<void>;
  }

  /**
   * Gives back a read lock; the last reader out lets the next writer in.
   * @throws {LockError} if no read lock is held
   */
  readUnlock(): void {
    if (this.#readers === 0) throw new LockError(`${this} has no read lock to unlock`);
    if (--this.#readers === 0) this.#admit();
  }

  /**
   * Takes the write lock, waiting for readers and writers ahead of it.
   *
   * Interruption point: an interrupted writer leaves the line; if it had just been given
   * the lock, it hands it on; readers it was holding back are let in.
   * @throws {LockError} if the caller already holds the write lock
   * @throws {NotInThreadError} outside any thread
   */
  writeLock(): Promise<void> {
    const me = current();
    if (me === null) return outsideThread("RWLock.writeLock");
    if (this.#writer === me) return Promise.reject(new LockError(`${me} already holds ${this}`));
    if (this.#writer === null && this.#readers === 0) {
      const checkpoint = me._checkpoint();
      if (checkpoint !== undefined) return checkpoint.then(() => this.writeLock());
      this.#writer = me;
      return RESOLVED;
    }
    return block(this.#writeQueue, me, this, 0, this.#abortWrite) as Promise<void>;
  }

  /**
   * Gives back the write lock: to the next writer, else to every waiting reader.
   * @throws {LockError} if the caller does not hold the write lock
   */
  writeUnlock(): void {
    const me = current();
    if (me === null || this.#writer !== me) {
      throw new LockError(`${me ?? "code outside any thread"} does not hold ${this}`);
    }
    this.#writer = null;
    this.#admit();
  }

  /** Holders and waiters. */
  statistics(): RWLockStatistics {
    return {
      readers: this.#readers,
      writer: this.#writer?.id ?? null,
      waitingReaders: this.#readQueue.length,
      waitingWriters: this.#writeQueue.length,
    };
  }

  /** `RWLock(readers=2, writer=none)` */
  toString(): string {
    return `RWLock(readers=${this.#readers}, writer=${this.#writer?.id ?? "none"})`;
  }

  /** With the lock free of writers: the next writer if readers are out, else the readers. */
  #admit(): void {
    if (this.#writer !== null) return;
    for (;;) {
      const w = this.#writeQueue.first();
      if (w === undefined) break;
      if (this.#readers > 0) return;
      this.#writer = w.thread;
      if (this.#writeQueue.wake(w)) return;
      this.#writer = null;
    }
    this.#readers += this.#readQueue.wakeAll();
  }

  #abortRead = (w: Waiter<Thread>): void => {
    if (w.granted && --this.#readers === 0) this.#admit();
  };

  #abortWrite = (w: Waiter<Thread>): void => {
    if (w.granted && this.#writer === w.thread) this.#writer = null;
    this.#admit();
  };
}
