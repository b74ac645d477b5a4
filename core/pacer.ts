/**
 * A thread's fixed-rate loop: {@linkcode Pacer}.
 *
 * @module
 */

import { now } from "./clock.ts";
import { LockError, NotInThreadError } from "./errors.ts";
import { sleepEndedAt, sleepThread } from "./sleep_timer.ts";
import { current, type Thread } from "./thread.ts";

/** Options of a {@linkcode Pacer}. */
export interface PacerOptions {
  /**
   * The most lateness (seconds) one beat makes up for; by default a fifth of the period.
   * A beat that comes later than this is followed by a pause of at least
   * `period - catchUp`: a pacer that fell behind (a long pause of the whole process,
   * say) does not run its missed beats back to back, nor do all the pacers of a busy
   * process come due at once.
   */
  catchUp?: number;
  /**
   * When a beat's lateness is measured. `"call"` (the default): when `next()` is called,
   * by a clock read of its own, so time the loop spent working counts. `"wake"`: when the
   * thread was woken from its last beat, by the clock the scheduler read to fire that
   * whole batch of wakes: no clock read per beat (a read costs about as much as the
   * rest of a beat's bookkeeping), for loops of many threads whose work per beat is
   * short. Their work is then not lateness: a loop whose work outlasts a period finds
   * its next beat already due and runs it at once (one beat back to back), and the beat
   * after that is measured again. A call that does not follow a beat (the first, or one
   * after an interrupted beat or another blocking call) reads the clock either way.
   */
  lateness?: "call" | "wake";
  /**
   * The spacing (seconds) of the grid beats fall on; by default a tenth of the period. At
   * least a millisecond (the host timer's resolution), at most the period (or a millisecond,
   * for a shorter period). Pacers of one
   * grid wake in batches, one a point of it: a coarse grid makes few, large batches, and
   * the last wake of a batch is as late as the work of the wakes before it (100,000
   * pacers of 100 ms on the default 10 ms grid wake 10,000 at a time; on a 1 ms grid,
   * 1,000 a millisecond).
   */
  grid?: number;
}

/** The finest beat grid, in seconds: the host timer's resolution. */
const FINEST_GRID = 0.001;

/** `seconds` rounded up to a multiple of `grid` (a value already on it stays there). */
function onGrid(seconds: number, grid: number): number {
  return Math.ceil(seconds / grid - 1e-6) * grid;
}

/**
 * Paces the loop of the thread that made it: `next()` sleeps until the next beat,
 * `period` seconds after the last one, rather than `period` seconds after the call. A
 * loop of `sleep(period)` runs slower than its period by each wake-up's lateness (about
 * a millisecond: the host timer's resolution, more when the process is busy); a pacer's
 * beats keep the rate, making up each late wake-up (up to `catchUp`) on the next pause.
 *
 * Beats fall on a grid of a tenth of the period (a millisecond at least; see
 * {@linkcode PacerOptions.grid}), counted from the clock's origin: pacers of one period
 * wake in at most ten batches per period, however many they are, rather than each in a
 * turn of the event loop of its own.
 *
 * @example
 * ```ts
 * import { Pacer, spawn } from "./mod.ts";
 * await spawn(async () => {
 *   const pacer = new Pacer(0.01);
 *   for (let step = 0; step < 3; step++) await pacer.next(); // ~30 ms in all
 * }).join();
 * ```
 */
export class Pacer {
  /** Seconds between beats. */
  readonly period: number;
  /** The most lateness one beat makes up for (see {@linkcode PacerOptions.catchUp}). */
  readonly catchUp: number;
  /** The thread whose loop this paces: the one that made it. */
  readonly thread: Thread;
  /** When lateness is measured (see {@linkcode PacerOptions.lateness}). */
  readonly lateness: "call" | "wake";
  #grid: number;
  #beat = -Infinity;

  /**
   * Creates a {@linkcode Pacer}.
   *
   * @param period seconds between beats (> 0)
   * @param options see {@linkcode PacerOptions}
   * @throws {NotInThreadError} outside any thread
   * @throws {RangeError} if `period` is not a positive number, `catchUp` is negative
   *   or not below `period`, `lateness` is neither `"call"` nor `"wake"`, or `grid` is
   *   below a millisecond or above `period` (and a millisecond)
   */
  constructor(period: number, options: PacerOptions = {}) {
    if (!(period > 0) || !Number.isFinite(period)) {
      throw new RangeError(`a pacer's period must be a positive number, not ${period}`);
    }
    const catchUp = options.catchUp ?? period / 5;
    if (!(catchUp >= 0 && catchUp < period)) {
      throw new RangeError(`catchUp must be at least 0 and less than the period, not ${catchUp}`);
    }
    const lateness = options.lateness ?? "call";
    if (lateness !== "call" && lateness !== "wake") {
      throw new RangeError(`lateness must be "call" or "wake", not ${lateness}`);
    }
    const grid = options.grid ?? Math.max(FINEST_GRID, period / 10);
    if (!(grid >= FINEST_GRID && grid <= Math.max(period, FINEST_GRID))) {
      throw new RangeError(
        `grid must be at least ${FINEST_GRID} s and at most the period, not ${options.grid}`,
      );
    }
    const thread = current();
    if (thread === null) throw new NotInThreadError("new Pacer");
    this.period = period;
    this.catchUp = catchUp;
    this.thread = thread;
    this.lateness = lateness;
    this.#grid = grid;
  }

  /** When the last beat was due (on the monotonic clock, see `now()`); -Infinity before the first. */
  get lastBeat(): number {
    return this.#beat;
  }

  /**
   * Sleeps until the next beat: `period` after the last one, or, if this call comes more
   * than `catchUp` after that beat was due, `period - catchUp` from now. The first beat is
   * `period` from now. Each is then put off to the next point of the grid, if not on it.
   * The beat is taken even if the sleep is interrupted, so an interrupted loop keeps its
   * rhythm. "Now" is the call's time, or with `lateness: "wake"` the time the last beat
   * woke the thread (see {@linkcode PacerOptions.lateness}).
   *
   * Interruption point: as `sleep`, the sleep ends at once and the error is thrown.
   * @throws {LockError} if the pacer's thread is not the one running (another thread
   *   called it)
   */
  next(): Promise<void> {
    const thread = this.thread;
    if (!thread._running) {
      return Promise.reject(new LockError(`a pacer of ${thread} called from another thread`));
    }
    const period = this.period;
    // At the wake: the clock the scheduler fired the sleep (and its whole batch) with,
    // NaN if the thread's last blocking call was not a sleep that ended on time.
    const woke = this.lateness === "wake" ? sleepEndedAt(thread) : NaN;
    const from = (woke === woke ? woke : now()) + period;
    const beat = this.#beat + period;
    const earliest = from - this.catchUp;
    this.#beat = onGrid(beat === -Infinity ? from : beat > earliest ? beat : earliest, this.#grid);
    return sleepThread(thread, this.#beat, period);
  }
}
