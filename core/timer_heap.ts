/**
 * A binary min-heap of timers ordered by deadline, then by insertion order, with O(log n)
 * removal of any timer. The scheduler owns the one instance; every sleeper and every
 * `withTimeout` frame shares it instead of holding a host timer of its own.
 *
 * @module
 */

/**
 * An entry of a {@linkcode TimerHeap}: a deadline and what to do when it passes.
 * Subclasses implement `fire` as a method, so a timer holds no callback of its own.
 */
export abstract class HeapTimer {
  /** Deadline in seconds on the monotonic clock (see `now()`). */
  deadline: number;
  /** Insertion order: timers with the same deadline fire first-in, first-out. */
  seq = 0;
  /** Position in the heap, or -1 when the timer is not scheduled. */
  index = -1;

  /** @param deadline when to fire, in seconds on the monotonic clock */
  constructor(deadline: number) {
    this.deadline = deadline;
  }

  /** Runs once when the deadline has passed (the timer has already left the heap). */
  abstract fire(): void;

  /** Whether the timer is waiting in a heap. */
  get scheduled(): boolean {
    return this.index >= 0;
  }
}

/** A timer that calls a function. */
export class Timer extends HeapTimer {
  /** What to do when the deadline passes. */
  callback: (timer: Timer) => void;
  /** Free slot for the owner of the timer (the thread to wake, the error to raise...). */
  target: unknown;

  /**
   * @param deadline when to fire, in seconds on the monotonic clock
   * @param callback called once with the timer when the deadline has passed
   * @param target any value the callback needs
   */
  constructor(deadline: number, callback: (timer: Timer) => void, target: unknown) {
    super(deadline);
    this.callback = callback;
    this.target = target;
  }

  /** Calls the callback. */
  fire(): void {
    this.callback(this);
  }
}

/**
 * Min-heap of {@linkcode Timer}s.
 *
 * @example
 * ```ts
 * import { Timer, TimerHeap } from "./timer_heap.ts";
 * const heap = new TimerHeap();
 * const fired: number[] = [];
 * heap.add(new Timer(2, () => fired.push(2), null));
 * heap.add(new Timer(1, () => fired.push(1), null));
 * heap.runDue(5);
 * console.log(fired); // [1, 2]
 * ```
 */
export class TimerHeap {
  #items: HeapTimer[] = [];
  #seq = 0;

  // Keys live in typed arrays beside the timers: a comparison reads two adjacent numbers
  // instead of two timer objects scattered in the heap (with 100k sleepers, cache misses
  // on those objects were most of the cost of a sleep).
  #deadlines = new Float64Array(64);
  #seqs = new Float64Array(64);

  /** Number of scheduled timers. */
  get size(): number {
    return this.#items.length;
  }

  /** The timer that fires first, if any. */
  peek(): HeapTimer | undefined {
    return this.#items[0];
  }

  #grow(): void {
    const deadlines = new Float64Array(this.#deadlines.length * 2);
    const seqs = new Float64Array(this.#seqs.length * 2);
    deadlines.set(this.#deadlines);
    seqs.set(this.#seqs);
    this.#deadlines = deadlines;
    this.#seqs = seqs;
  }

  /** Schedules `timer`; it must not be scheduled already. */
  add(timer: HeapTimer): void {
    if (timer.index >= 0) throw new RangeError("timer is already scheduled");
    timer.seq = this.#seq++;
    const items = this.#items;
    const i = items.length;
    if (i === this.#deadlines.length) this.#grow();
    items.push(timer);
    this.#up(i, timer, timer.deadline, timer.seq);
  }

  /** Unschedules `timer`; does nothing if it already fired or was removed. */
  remove(timer: HeapTimer): void {
    const i = timer.index;
    if (i < 0) return;
    const items = this.#items;
    const n = items.length - 1;
    const last = items.pop()!;
    timer.index = -1;
    if (last !== timer) {
      const d = this.#deadlines[n], q = this.#seqs[n];
      // The last timer takes the hole: down if it is later than the hole's children, up
      // if it is earlier than its parent.
      this.#down(i, last, d, q);
      if (last.index === i) this.#up(i, last, d, q);
    }
  }

  /** Removes and fires, in order, every timer whose deadline is at or before `time`. */
  runDue(time: number): number {
    const items = this.#items;
    let fired = 0;
    while (items.length > 0 && this.#deadlines[0] <= time) {
      const timer = items[0];
      this.remove(timer);
      fired++;
      timer.fire();
    }
    return fired;
  }

  #up(i: number, timer: HeapTimer, deadline: number, seq: number): void {
    const items = this.#items, deadlines = this.#deadlines, seqs = this.#seqs;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pd = deadlines[p];
      if (pd < deadline || (pd === deadline && seqs[p] < seq)) break;
      const parent = items[p];
      items[i] = parent;
      deadlines[i] = pd;
      seqs[i] = seqs[p];
      parent.index = i;
      i = p;
    }
    items[i] = timer;
    deadlines[i] = deadline;
    seqs[i] = seq;
    timer.index = i;
  }

  #down(i: number, timer: HeapTimer, deadline: number, seq: number): void {
    const items = this.#items, deadlines = this.#deadlines, seqs = this.#seqs;
    const n = items.length;
    for (;;) {
      // A 4-ary heap: half the levels of a binary one, so half the timers moved (and
      // their index fields written) per pop; the four children's keys are adjacent.
      const first = 4 * i + 1;
      if (first >= n) break;
      let c = first;
      const end = Math.min(first + 4, n);
      for (let k = first + 1; k < end; k++) {
        if (deadlines[k] < deadlines[c] || (deadlines[k] === deadlines[c] && seqs[k] < seqs[c])) {
          c = k;
        }
      }
      const cd = deadlines[c];
      if (deadline < cd || (deadline === cd && seq < seqs[c])) break;
      const child = items[c];
      items[i] = child;
      deadlines[i] = cd;
      seqs[i] = seqs[c];
      child.index = i;
      i = c;
    }
    items[i] = timer;
    deadlines[i] = deadline;
    seqs[i] = seq;
    timer.index = i;
  }
}
