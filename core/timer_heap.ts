/**
 * A min-heap of timers ordered by deadline, then by insertion order, with O(log n)
 * removal of any timer, and lanes: timers added with the same duration (sleeps of 0.1 s,
 * say) have deadlines in the order they were added, so they wait in a queue of their own
 * and only the queue's first is in the heap: adding and firing one is O(1) whatever the
 * number of sleepers. The scheduler owns the one instance; every sleeper and every
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
  /**
   * Position in the heap; -1 when the timer is not scheduled; below -1 while it waits in
   * a lane: -2 - (position in the lane * MAX_LANES + the lane's slot). No field of its own
   * names the lane: a sleeping thread's timer stays small.
   */
  index = -1;

  /** @param deadline when to fire, in seconds on the monotonic clock */
  constructor(deadline: number) {
    this.deadline = deadline;
  }

  /**
   * Runs once when the deadline has passed (the timer has already left the heap).
   * `time`: the clock reading the heap fired it at (see `TimerHeap.runDue`), so that a
   * timer that needs the time of its firing does not read the clock again.
   */
  abstract fire(time: number): void;

  /** Whether the timer is waiting in a heap (or in one of its lanes). */
  get scheduled(): boolean {
    return this.index !== -1;
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
 * @internal The timers of one duration, in deadline order: a queue whose first stands
 * for all of them in the heap (the lane is in the heap with its first's deadline and
 * order). Removed timers leave a hole, skipped when the queue moves on.
 */
export class TimerLane extends HeapTimer {
  /** The duration, in seconds. */
  readonly duration: number;
  /** The queue; `ring[i]` is at position `(base + i) & POSITION_MASK`. */
  ring: (HeapTimer | null)[] = [];
  base = 0;
  /** Index in `ring` of the first timer (holes before it are gone). */
  head = 0;
  /** Timers waiting (holes not counted). */
  live = 0;
  /** The deadline of the last timer queued (a later one must not come before it). */
  lastDeadline = -Infinity;
  /** Its slot among the heap's lanes (0 to MAX_LANES - 1). */
  readonly slot: number;
  /** @param duration the lane's duration; @param slot its slot */
  constructor(duration: number, slot: number) {
    super(Infinity);
    this.duration = duration;
    this.slot = slot;
  }
  /** Never called: the heap fires the lane's first timer instead. */
  fire(): void {}
}

/** Lanes kept at most: durations past these use the heap alone (and empty lanes go first). */
const MAX_LANES = 64;
/**
 * Positions in a lane count modulo 2^24 (a lane holds fewer timers, holes included), so
 * that a lane timer's `index` stays within V8's small integers: counted on, a lane of
 * 100k sleepers a tenth of a second passed 2^31 / MAX_LANES positions in half a minute,
 * and from then on every `index` was a fractional-number box of its own (+6% CPU a sleep).
 */
const POSITION_MASK = 2 ** 24 - 1;

/**
 * Min-heap of {@linkcode Timer}s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Timer, TimerHeap } from "./timer_heap.ts";
 * const heap = new TimerHeap();
 * const fired: number[] = [];
 * heap.add(new Timer(2, () => fired.push(2), null));
 * heap.add(new Timer(1, () => fired.push(1), null));
 * heap.runDue(5);
 * assert.deepEqual(fired, [1, 2]);
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

  #lanes = new Map<number, TimerLane>();
  #laneSlots: (TimerLane | undefined)[] = [];
  #lastLane: TimerLane | null = null;
  /** Timers waiting in lanes, and lanes in the heap (standing for them). */
  #inLanes = 0;
  #lanesInHeap = 0;

  /** Number of scheduled timers. */
  get size(): number {
    return this.#items.length - this.#lanesInHeap + this.#inLanes;
  }

  /** When the first timer is due (Infinity if none): the heap's top, or a lane's first. */
  get nextDeadline(): number {
    return this.#items.length > 0 ? this.#deadlines[0] : Infinity;
  }

  /** The timer that fires first, if any. */
  peek(): HeapTimer | undefined {
    const top = this.#items[0];
    return top instanceof TimerLane ? top.ring[top.head]! : top;
  }

  #grow(): void {
    const deadlines = new Float64Array(this.#deadlines.length * 2);
    const seqs = new Float64Array(this.#seqs.length * 2);
    deadlines.set(this.#deadlines);
    seqs.set(this.#seqs);
    this.#deadlines = deadlines;
    this.#seqs = seqs;
  }

  /**
   * Schedules `timer`; it must not be scheduled already. Pass the `duration` it was made
   * with (deadline = now + duration) when timers of that duration are common, as sleeps
   * are: they then queue in a lane (O(1)). Returns whether it is now the first to fire.
   * @throws {RangeError} if the timer is scheduled already
   */
  add(timer: HeapTimer, duration?: number): boolean {
    if (timer.index !== -1) throw new RangeError("timer is already scheduled");
    timer.seq = this.#seq++;
    if (duration !== undefined && duration > 0) {
      const lane = this.#laneFor(duration);
      if (lane !== null) {
        const ring = lane.ring;
        // In order (the clock never goes back), or it goes to the heap after all.
        if (lane.lastDeadline <= timer.deadline && ring.length < POSITION_MASK) {
          timer.index = -2 - (((lane.base + ring.length) & POSITION_MASK) * MAX_LANES + lane.slot);
          ring.push(timer);
          lane.lastDeadline = timer.deadline;
          this.#inLanes++;
          if (++lane.live > 1) return false;
          lane.head = ring.length - 1;
          lane.deadline = timer.deadline;
          this.#insert(lane, timer.seq);
          this.#lanesInHeap++;
          return lane.index === 0;
        }
      }
    }
    this.#insert(timer, timer.seq);
    return (timer.index as number) === 0;
  }

  #insert(timer: HeapTimer, seq: number): void {
    const items = this.#items;
    const i = items.length;
    if (i === this.#deadlines.length) this.#grow();
    items.push(timer);
    this.#up(i, timer, timer.deadline, seq);
  }

  /** The lane for `duration`, made if there is room (an empty one gives its place). */
  #laneFor(duration: number): TimerLane | null {
    const cached = this.#lastLane;
    if (cached !== null && cached.duration === duration) return cached;
    let lane = this.#lanes.get(duration);
    if (lane === undefined) {
      if (this.#lanes.size >= MAX_LANES) {
        let empty: TimerLane | undefined;
        for (const l of this.#lanes.values()) {
          if (l.live === 0) {
            empty = l;
            break;
          }
        }
        if (empty === undefined) return null;
        this.#lanes.delete(empty.duration); // empty: no timer's index names its slot
        lane = new TimerLane(duration, empty.slot);
      } else lane = new TimerLane(duration, this.#lanes.size);
      this.#lanes.set(duration, lane);
      this.#laneSlots[lane.slot] = lane;
    }
    this.#lastLane = lane;
    return lane;
  }

  /** Unschedules `timer`; does nothing if it already fired or was removed. */
  remove(timer: HeapTimer): void {
    const i = timer.index;
    if (i === -1) return;
    if (i < -1) {
      const code = -2 - i;
      const slot = code % MAX_LANES;
      this.#removeFromLane(timer, this.#laneSlots[slot]!, (code - slot) / MAX_LANES);
      return;
    }
    this.#removeAt(timer, i);
  }

  #removeAt(timer: HeapTimer, i: number): void {
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

  #removeFromLane(timer: HeapTimer, lane: TimerLane, position: number): void {
    const ring = lane.ring;
    const at = (position - lane.base) & POSITION_MASK;
    ring[at] = null;
    timer.index = -1;
    this.#inLanes--;
    lane.live--;
    if (at !== lane.head) return; // a hole behind the first: skipped later
    // The first left: the lane steps to the next timer, or leaves the heap if none.
    if (lane.live === 0) this.#leave(lane);
    else this.#nextFirst(lane, at);
  }

  /** The lane's last timer left: the lane leaves the heap, its queue emptied. */
  #leave(lane: TimerLane): void {
    this.#removeAt(lane, lane.index);
    this.#lanesInHeap--;
    lane.base = (lane.base + lane.ring.length) & POSITION_MASK;
    lane.ring.length = 0;
    lane.head = 0;
    lane.lastDeadline = -Infinity;
  }

  /**
   * The lane's first (at `at`) left and others wait: the next becomes its first, and the
   * lane takes its key (which only grows: the lane sinks from where it is).
   */
  #nextFirst(lane: TimerLane, at: number): void {
    const ring = lane.ring;
    let head = at + 1;
    while (ring[head] === null) head++;
    if (head >= 1024 && head * 2 >= ring.length) {
      // Drop the holes in front, now and then: amortized O(1) a timer.
      ring.splice(0, head);
      lane.base = (lane.base + head) & POSITION_MASK;
      head = 0;
    }
    lane.head = head;
    const first = ring[head]!;
    lane.deadline = first.deadline;
    this.#down(lane.index, lane, first.deadline, first.seq);
  }

  /**
   * Removes and fires, in order, every timer whose deadline is at or before `time`, or
   * the first `max` of them; returns how many fired.
   */
  runDue(time: number, max = Infinity): number {
    const items = this.#items;
    let fired = 0;
    while (fired < max && items.length > 0 && this.#deadlines[0] <= time) {
      const top = items[0];
      if (top instanceof TimerLane) {
        fired += this.#fireLane(top, time, max - fired);
        continue;
      }
      this.#removeAt(top, 0);
      fired++;
      top.fire(time);
    }
    return fired;
  }

  /**
   * Fires the due timers at the front of `lane` (at the heap's top), at most `budget`:
   * one loop over the lane's run instead of a peek, a position decoded and a removal
   * dispatched per timer (with 100k sleepers, most timers fire in such runs). Each
   * timer leaves as `#removeFromLane` takes a first one out, and the lane's key is
   * kept exact before each `fire`, which may add or remove timers (of this lane too):
   * the run stops as soon as the lane is no longer at the top.
   */
  #fireLane(lane: TimerLane, time: number, budget: number): number {
    const ring = lane.ring;
    let fired = 0;
    while (fired < budget && lane.index === 0) {
      const at = lane.head;
      const timer = ring[at]!;
      if (timer.deadline > time) break;
      ring[at] = null;
      timer.index = -1;
      this.#inLanes--;
      fired++;
      if (--lane.live === 0) this.#leave(lane);
      else this.#nextFirst(lane, at);
      timer.fire(time);
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
