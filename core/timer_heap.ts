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

function before(a: HeapTimer, b: HeapTimer): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
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

  /** Number of scheduled timers. */
  get size(): number {
    return this.#items.length;
  }

  /** The timer that fires first, if any. */
  peek(): HeapTimer | undefined {
    return this.#items[0];
  }

  /** Schedules `timer`; it must not be scheduled already. */
  add(timer: HeapTimer): void {
    if (timer.index >= 0) throw new RangeError("timer is already scheduled");
    timer.seq = this.#seq++;
    const items = this.#items;
    timer.index = items.length;
    items.push(timer);
    this.#up(timer.index);
  }

  /** Unschedules `timer`; does nothing if it already fired or was removed. */
  remove(timer: HeapTimer): void {
    const i = timer.index;
    if (i < 0) return;
    const items = this.#items;
    const last = items.pop()!;
    timer.index = -1;
    if (last !== timer) {
      items[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
  }

  /** Removes and fires, in order, every timer whose deadline is at or before `time`. */
  runDue(time: number): number {
    const items = this.#items;
    let fired = 0;
    while (items.length > 0 && items[0].deadline <= time) {
      const timer = items[0];
      this.remove(timer);
      fired++;
      timer.fire();
    }
    return fired;
  }

  #up(i: number): void {
    const items = this.#items;
    const timer = items[i];
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = items[parentIndex];
      if (!before(timer, parent)) break;
      items[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    items[i] = timer;
    timer.index = i;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const timer = items[i];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(items[child + 1], items[child])) child++;
      if (!before(items[child], timer)) break;
      items[i] = items[child];
      items[i].index = i;
      i = child;
    }
    items[i] = timer;
    timer.index = i;
  }
}
