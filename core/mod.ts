/**
 * The core of shrapnel: threads, the scheduler's clock and timers, timeouts, and sync
 * primitives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn, withTimeout } from "./mod.ts";
 * const t = spawn(async () => { await withTimeout(1, sleep, 0.01); return "ok"; });
 * assert.deepEqual(await t.join(), "ok");
 * ```
 *
 * @module
 */

export { now } from "./clock.ts";
export * from "./errors.ts";
export * from "./in_parallel.ts";
export * from "./main.ts";
export * from "./pacer.ts";
export * from "./sleep.ts";
export * from "./sync/mod.ts";
export {
  allThreads,
  current,
  joinAll,
  setThreadErrorHook,
  spawn,
  type SpawnOptions,
  Thread,
  threadById,
  threadDump,
  type ThreadErrorHook,
  type ThreadInfo,
  ThreadLocal,
  type ThreadState,
  traceBlockingCalls,
} from "./thread.ts";
export {
  ThreadGroup,
  type ThreadGroupOptions,
  type ThreadGroupStatistics,
} from "./thread_group.ts";
export * from "./wait_for.ts";
export { TimeoutExpired, withTimeout } from "./with_timeout.ts";
