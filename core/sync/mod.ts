/**
 * Sync primitives for shrapnel threads. Waiters are served first-in, first-out; every
 * blocking call is an interruption point that cleans its wait up and passes on any turn
 * it was given. None takes a timeout: wrap the call in `withTimeout`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Fifo, Mutex, spawn } from "../../mod.ts";
 * const m = new Mutex();
 * const q = new Fifo<number>();
 * spawn(() => m.withLock(() => q.push(1)));
 * assert.deepEqual(await spawn(() => q.pop()).join(), 1);
 * ```
 *
 * @module
 */

export * from "./condition_variable.ts";
export * from "./event.ts";
export * from "./fifo.ts";
export * from "./inverted_semaphore.ts";
export * from "./latch.ts";
export * from "./mutex.ts";
export * from "./rw_lock.ts";
export { Semaphore, type SemaphoreStatistics } from "./semaphore.ts";
// The thread types this module's API names, for its docs.
export type { SpawnOptions, Thread, ThreadState } from "../thread.ts";
export type { ThreadGroup, ThreadGroupStatistics } from "../thread_group.ts";
