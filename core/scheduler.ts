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
import { HeapTimer, Timer, TimerHeap } from "./timer_heap.ts";

/** Something the scheduler can make ready: a thread to start or resume. */
export interface Runnable {
  /** Starts or resumes; called once per wake, from the scheduler's drain. */
  _run(): void;
}

/**
 * What a profiler learns from the scheduler and the threads: when a thread blocks (and on
 * what), ends, and when a loop turn starts (the time before it was not a
 * thread's). Called only while a profiler is installed.
 */
export interface SwitchHooks {
  /** `thread` blocks now on `reason` (after running since the last switch). */
  blocked(thread: object, reason: unknown): void;
  /** `thread` ended. */
  ended(thread: object): void;
  /** A loop turn starts. */
  tick(): void;
}

/** A hook run on every tick of the loop, after due timers and deferred resumes. */
export interface LoopHook {
  /**
   * Called on each tick. `idle` is true when no thread is ready to run, in which case a
   * poller may block (asynchronously) until its next event or `deadline` (seconds on the
   * monotonic clock, `Infinity` if no timer is pending).
   */
  onTick(idle: boolean, deadline: number): void;
  /**
   * Called, if present, when every thread has blocked (none is running or woken) while
   * the slice lasts: a poller can poll at once instead of waiting for the next tick.
   */
  onQuiescent?(): void;
}

/** Resumes allowed in one slice before the rest wait for the next tick. */
const SLICE_RESUMES = 4096;
/**
 * Most timers one tick fires: the rest stay due for the next tick, which comes at once.
 * Half a slice, so that the threads woken by I/O or waiting for the tick (queued before
 * the timers' wakes, so resumed first) still find room in the slice for their calls that
 * complete at once: with tens of thousands of sleepers always due (a process that cannot
 * keep up with them), firing them all in one tick used the slice up before any other
 * thread ran, every turn, and a thread yielding for the next slice never got past it.
 */
const TICK_TIMERS = SLICE_RESUMES / 2;
/** Longest slice, in seconds, before resumes wait for the next tick. */
const SLICE_SECONDS = 0.002;
/** The slice's clock is read only every this many drains: reading it is not free. */
const CLOCK_EVERY = 64;
/**
 * The longest delay a host timer takes (2^31 - 1 ms, about 24.8 days): past it Deno
 * warns (`TimeoutOverflowWarning`) and fires after 1 ms. A later deadline is armed in
 * steps of this length; each step's tick finds nothing due and arms the next.
 */
const MAX_HOST_DELAY_MS = 2 ** 31 - 1;

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
  #slots = new Map<symbol, unknown>();

  /**
   * A process-wide service owned by the scheduler (the poller, the resolver, hooks),
   * made by `make` on first use: the scheduler is the only global.
   */
  slot<T>(key: symbol, make: () => T): T {
    if (this.#slots.has(key)) return this.#slots.get(key) as T;
    const value = make();
    this.#slots.set(key, value);
    return value;
  }

  /** A process-wide service if it was made already (never makes one). */
  peekSlot<T>(key: symbol): T | undefined {
    return this.#slots.get(key) as T | undefined;
  }

  /** Replaces a process-wide service; returns the old one. */
  setSlot<T>(key: symbol, value: T): T | undefined {
    const old = this.#slots.get(key) as T | undefined;
    this.#slots.set(key, value);
    return old;
  }
  #sliceResumes = 0;
  #sliceEnd = now() + SLICE_SECONDS;
  #clockChecks = 0;
  #ready: (Runnable | undefined)[] = [];
  #head = 0;
  #drainQueued = false;
  #draining = false;
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
   * Wakes `r` (a blocked thread): while the slice lasts the wake is delivered at once
   * (`r._run()` resolves the promise it awaits: one microtask to resume). Once the slice
   * is used up the wake waits in the ready queue for the next tick, so timers and I/O get
   * their turn; until then it is pending, and an interrupt replaces it.
   */
  ready(r: Runnable): void {
    if (this.#head === this.#ready.length && this.#sliceLeft()) {
      this.#sliceResumes++;
      this.resumes++;
      r._run();
    } else {
      this.enqueue(r);
    }
  }

  /**
   * Queues `r` (a thread to start, or a wake past the slice). Queued threads run when
   * the current thread next blocks (see {@linkcode Scheduler.flush}), at the end of the
   * current step (a microtask), or on the next tick once the slice is used up.
   */
  enqueue(r: Runnable): void {
    this.#ready.push(r);
    if (this.#drainQueued) return;
    this.#drainQueued = true;
    queueMicrotask(this.#microDrain);
  }

  /**
   * Ends the current slice: wakes from now on wait for the next turn of the event loop,
   * where due timers fire and I/O is polled. For long bursts of work that never block.
   */
  endSlice(): void {
    this.#sliceResumes = SLICE_RESUMES;
  }

  /**
   * Charges one unit of work done without blocking (a socket call that succeeded at
   * once) to the slice; returns false once the slice is used up, when the caller should
   * yield. Without this, threads whose calls never block would run ahead of every thread
   * waiting for the next poll, and latency would grow with the number of connections.
   */
  charge(): boolean {
    this.#sliceResumes++;
    return this.#sliceLeft();
  }

  /**
   * Interruptions raised but not yet thrown, over all threads: the fast paths of blocking
   * calls that complete at once look for their own thread's only when this is not zero.
   */
  interruptsPending = 0;

  /** The profiler's hooks, while one runs (null otherwise: one check per switch). */
  switchHooks: SwitchHooks | null = null;

  /**
   * Threads running or woken (to run): kept by the threads themselves. When it drops to
   * zero every thread waits on something, and {@linkcode Scheduler.quiescent} lets the
   * hooks (the poller) look for events without a round trip through the event loop.
   */
  active = 0;

  /** Called by a thread that blocks or ends when no thread is active any more. */
  quiescent(): void {
    if (this.#head !== this.#ready.length || this.#hooks.length === 0 || !this.#sliceLeft()) {
      return;
    }
    for (const hook of this.#hooks) hook.onQuiescent?.();
  }

  /** Runs the queued threads now if the slice allows; called when a thread blocks. */
  flush(): void {
    if (!this.#draining && this.#head < this.#ready.length && this.#sliceLeft()) this.#drain();
  }

  #microDrain = (): void => {
    this.#drainQueued = false;
    if (this.#head === this.#ready.length) return;
    if (this.#sliceLeft()) this.#drain();
    else this.#queueTick();
  };

  #sliceLeft(): boolean {
    if (this.#sliceResumes >= SLICE_RESUMES) return false;
    if ((++this.#clockChecks & (CLOCK_EVERY - 1)) === 0 && now() >= this.#sliceEnd) {
      this.#sliceResumes = SLICE_RESUMES;
      return false;
    }
    return true;
  }

  /** Runs every queued thread, including those queued meanwhile (in order). */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    const ready = this.#ready;
    let ran = 0;
    try {
      while (this.#head < ready.length) {
        const r = ready[this.#head]!;
        ready[this.#head++] = undefined;
        ran++;
        r._run();
      }
    } finally {
      ready.length = 0;
      this.#head = 0;
      this.#draining = false;
      this.#sliceResumes += ran;
      this.resumes += ran;
    }
  }

  /**
   * Schedules `timer` on the shared heap and arms the host timer if it is now first.
   * `duration`: see `TimerHeap.add` (sleeps pass theirs, to share a lane).
   */
  addTimer(timer: HeapTimer, duration?: number): void {
    if (this.timers.add(timer, duration)) this.#arm();
  }

  /** Unschedules `timer` (no-op if it fired); disarms the host timer when none remain. */
  removeTimer(timer: HeapTimer): void {
    if (!timer.scheduled) return;
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
    this.switchHooks?.tick();
    this.#sliceResumes = 0;
    let time = now();
    this.#sliceEnd = time + SLICE_SECONDS;
    if (this.#nextTick.length > 0) {
      const fns = this.#nextTick;
      this.#nextTick = [];
      for (const fn of fns) fn();
      time = now();
    }
    const timers = this.timers;
    if (timers.size > 0) timers.runDue(time, TICK_TIMERS);
    this.#drain();
    if (this.#hooks.length > 0) {
      const idle = this.#head === this.#ready.length;
      const next = timers.peek();
      const deadline = next === undefined ? Infinity : next.deadline;
      for (const hook of this.#hooks) hook.onTick(idle, deadline);
    }
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
    this.#hostTimer = setTimeout(
      this.#onHostTimer,
      delay < MAX_HOST_DELAY_MS ? Math.ceil(delay) : MAX_HOST_DELAY_MS,
    );
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
export { HeapTimer, Timer };
