/**
 * The one scheduler: a shared timer heap, the run budget that keeps threads from
 * starving Deno's own event loop, and the hooks that pollers (the FFI poller under our
 * sockets) hang on each turn of the loop.
 *
 * Threads are async functions; V8 switches their stacks. A woken thread is resumed by
 * resolving the promise it awaits, which costs one microtask. Microtasks always run before
 * timers and I/O, so after a slice of resumes (by count or by time) further resumes are
 * deferred to a macrotask ("tick"), where due timers fire and pollers poll: the same
 * order as Shrapnel's loop (timers, woken threads, poll), and nobody starves.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { now } from "./clock.ts";
import { Timer, TimerHeap } from "./timer_heap.ts";

/** Something the scheduler can make ready: a thread to start or resume. */
export interface Runnable {
  /** Starts or resumes; called once per wake, from the scheduler. */
  _run(): void;
}

/** A hook run on every tick of the loop, after due timers and deferred resumes. */
export interface LoopHook {
  /**
   * Called on each tick. `idle` is true when no thread is ready to run, in which case a
   * poller may block (asynchronously) until its next event or `deadline` (seconds on the
   * monotonic clock, `Infinity` if no timer is pending).
   */
  onTick(idle: boolean, deadline: number): void;
}

/** Resumes allowed in one slice before the rest are deferred to the next tick. */
const SLICE_RESUMES = 2048;
/** Longest slice, in seconds, before resumes are deferred to the next tick. */
const SLICE_SECONDS = 0.01;
/** The slice's clock is read only every this many resumes: reading it is not free. */
const CLOCK_EVERY = 64;

const immediate: (fn: () => void) => unknown = (globalThis as {
  setImmediate?: (fn: () => void) => unknown;
}).setImmediate ?? ((fn) => queueMicrotask(fn));

class Scheduler {
  /** Every sleeper's and every timeout's timer. */
  readonly timers = new TimerHeap();
  /** Tracks the current thread across awaits (V8 carries it with each continuation). */
  readonly context: AsyncLocalStorage<unknown> = new AsyncLocalStorage();
  /** Live threads by id. */
  readonly threads: Map<number, unknown> = new Map();
  /** The id the next spawned thread gets. */
  nextThreadId = 1;
  #budget = SLICE_RESUMES;
  #sliceEnd = now() + SLICE_SECONDS;
  #deferred: Runnable[] = [];
  #tickQueued = false;
  #hostTimer: ReturnType<typeof setTimeout> | undefined;
  #hostTimerDeadline = Infinity;
  #hooks: LoopHook[] = [];
  #nextTick: (() => void)[] = [];
  /** Resumes done since start, for statistics and benchmarks. */
  resumes = 0;
  /** Ticks of the loop since start. */
  ticks = 0;

  /**
   * Makes `r` ready: calls `r._run()` now if the slice allows, else on the next tick.
   * `_run` must only queue work (resolve a promise, queue a microtask), never run a
   * thread's code synchronously.
   */
  ready(r: Runnable): void {
    this.resumes++;
    if (--this.#budget > 0) {
      if ((this.#budget & (CLOCK_EVERY - 1)) !== 0 || now() < this.#sliceEnd) {
        r._run();
        return;
      }
      this.#budget = 0;
    }
    this.#deferred.push(r);
    this.#queueTick();
  }

  /** Schedules `timer` on the shared heap and arms the host timer if it is now first. */
  addTimer(timer: Timer): void {
    this.timers.add(timer);
    if (timer.index === 0) this.#arm();
  }

  /** Unschedules `timer` (no-op if it fired); disarms the host timer when none remain. */
  removeTimer(timer: Timer): void {
    if (timer.index < 0) return;
    this.timers.remove(timer);
    if (this.timers.size === 0) this.#disarm();
  }

  /** Adds a hook run on every tick; returns a function that removes it. */
  addHook(hook: LoopHook): () => void {
    this.#hooks.push(hook);
    this.#queueTick();
    return () => {
      const i = this.#hooks.indexOf(hook);
      if (i >= 0) this.#hooks.splice(i, 1);
    };
  }

  /** Runs `fn` at the start of the next tick, after the current microtasks have drained. */
  onNextTick(fn: () => void): void {
    this.#nextTick.push(fn);
    this.#queueTick();
  }

  /** Asks for a tick as soon as possible (a poller that has events calls this). */
  wakeLoop(): void {
    this.#queueTick();
  }

  #queueTick(): void {
    if (this.#tickQueued) return;
    this.#tickQueued = true;
    immediate(this.#tick);
  }

  #tick = (): void => {
    this.#tickQueued = false;
    this.ticks++;
    this.#budget = SLICE_RESUMES;
    this.#sliceEnd = now() + SLICE_SECONDS;
    if (this.#nextTick.length > 0) {
      const fns = this.#nextTick;
      this.#nextTick = [];
      for (const fn of fns) fn();
    }
    const timers = this.timers;
    if (timers.size > 0) {
      timers.runDue(now());
    }
    const deferred = this.#deferred;
    if (deferred.length > 0) {
      this.#deferred = [];
      for (let i = 0; i < deferred.length; i++) {
        this.#budget--;
        deferred[i]._run();
      }
    }
    if (this.#hooks.length > 0) {
      const idle = this.#deferred.length === 0 && this.#budget === SLICE_RESUMES;
      const next = timers.peek();
      const deadline = next === undefined ? Infinity : next.deadline;
      for (const hook of this.#hooks) hook.onTick(idle, deadline);
    }
    if (this.#deferred.length > 0) this.#queueTick();
    this.#arm();
  };

  #arm(): void {
    const next = this.timers.peek();
    if (next === undefined) return this.#disarm();
    if (next.deadline === this.#hostTimerDeadline) return;
    const delay = (next.deadline - now()) * 1000;
    if (delay <= 0) {
      this.#disarm();
      this.#queueTick();
      return;
    }
    if (this.#hostTimer !== undefined) clearTimeout(this.#hostTimer);
    this.#hostTimerDeadline = next.deadline;
    // Host timers have millisecond resolution: round up so the tick never comes early.
    this.#hostTimer = setTimeout(this.#onHostTimer, Math.ceil(delay));
  }

  #disarm(): void {
    if (this.#hostTimer !== undefined) {
      clearTimeout(this.#hostTimer);
      this.#hostTimer = undefined;
      this.#hostTimerDeadline = Infinity;
    }
  }

  #onHostTimer = (): void => {
    this.#hostTimer = undefined;
    this.#hostTimerDeadline = Infinity;
    this.#tick();
  };
}

/**
 * The process's one scheduler. Library code uses it; programs rarely need it.
 */
export const scheduler: Scheduler = new Scheduler();
export type { Scheduler };
export { Timer };
