import assert from "node:assert/strict";
import { Timer, TimerHeap } from "../../core/timer_heap.ts";
import { prng } from "../_helpers.ts";

Deno.test("fires due timers in deadline order, ties first-in first-out", () => {
  const heap = new TimerHeap();
  const fired: string[] = [];
  const add = (d: number, name: string) => heap.add(new Timer(d, () => fired.push(name), null));
  add(3, "c");
  add(1, "a1");
  add(2, "b");
  add(1, "a2");
  assert.equal(heap.runDue(2), 3);
  assert.deepEqual(fired, ["a1", "a2", "b"]);
  assert.equal(heap.size, 1);
});

/** Removes a random timer of `live` from `heap` (twice: the second is a no-op). */
function removeOneAtRandom(heap: TimerHeap, live: Set<Timer>, rand: () => number): void {
  const victims = [...live];
  const t = victims[Math.floor(rand() * victims.length)];
  heap.remove(t);
  heap.remove(t);
  live.delete(t);
  assert.equal(t.scheduled, false);
}

Deno.test("randomized adds and removals agree with a sorted reference", () => {
  const rand = prng(42);
  for (let round = 0; round < 200; round++) {
    const heap = new TimerHeap();
    const live = new Set<Timer>();
    for (let i = 0; i < 200; i++) {
      if (live.size > 0 && rand() < 0.4) {
        removeOneAtRandom(heap, live, rand);
      } else {
        const t = new Timer(Math.floor(rand() * 50), () => {}, i);
        heap.add(t);
        live.add(t);
      }
    }
    const expected = [...live].sort((a, b) => a.deadline - b.deadline || a.seq - b.seq);
    const got: Timer[] = [];
    for (const t of expected) t.callback = (x) => got.push(x);
    heap.runDue(Infinity);
    assert.deepEqual(got.map((t) => t.target), expected.map((t) => t.target));
    assert.equal(heap.size, 0);
  }
});

Deno.test("adding a scheduled timer twice is a RangeError", () => {
  const heap = new TimerHeap();
  const t = new Timer(1, () => {}, null);
  heap.add(t);
  assert.throws(() => heap.add(t), RangeError);
});

Deno.test("lanes: timers added with a duration fire with the others in exact order", () => {
  const rand = prng(7);
  for (let round = 0; round < 100; round++) {
    const heap = new TimerHeap();
    const live = new Set<Timer>();
    const fired: Timer[] = [];
    let time = 0;
    const durations = [0.1, 0.25, 1, 5]; // lanes; other timers go to the heap itself
    for (let i = 0; i < 600; i++) {
      const r = rand();
      if (r < 0.5) {
        const duration = durations[Math.floor(rand() * durations.length)];
        const t = new Timer(time + duration, (x) => fired.push(x), i);
        heap.add(t, duration);
        live.add(t);
      } else if (r < 0.65) {
        const t = new Timer(time + rand() * 3, (x) => fired.push(x), i);
        heap.add(t);
        live.add(t);
      } else if (r < 0.8 && live.size > 0) {
        removeOneAtRandom(heap, live, rand);
      } else {
        time += rand() * 0.3; // the clock moves on; what is due fires, in order
        const due = [...live].filter((t) => t.deadline <= time)
          .sort((a, b) => a.deadline - b.deadline || a.seq - b.seq);
        fired.length = 0;
        assert.equal(heap.runDue(time), due.length);
        assert.deepEqual(fired.map((t) => t.target), due.map((t) => t.target));
        for (const t of due) live.delete(t);
        for (const t of due) assert.equal(t.scheduled, false);
      }
      assert.equal(heap.size, live.size);
      const first = [...live].sort((a, b) => a.deadline - b.deadline || a.seq - b.seq)[0];
      assert.equal(heap.peek(), first, `round ${round} step ${i}`);
    }
  }
});

Deno.test("lanes: a duration's timer that would come before the lane's last goes to the heap", () => {
  const heap = new TimerHeap();
  const fired: string[] = [];
  heap.add(new Timer(10, () => fired.push("late"), null), 1);
  heap.add(new Timer(5, () => fired.push("early"), null), 1); // out of order: not queued behind
  heap.runDue(20);
  assert.deepEqual(fired, ["early", "late"]);
  assert.equal(heap.size, 0);
});

Deno.test("lanes: thousands of distinct durations fall back to the heap and still fire", () => {
  const heap = new TimerHeap();
  let fired = 0;
  for (let i = 1; i <= 2000; i++) heap.add(new Timer(i / 1000, () => fired++, null), i / 1000);
  assert.equal(heap.size, 2000);
  assert.equal(heap.runDue(1), 1000);
  assert.equal(heap.runDue(2), 1000);
  assert.equal(fired, 2000);
});

Deno.test("lanes: a long-lived lane drops its holes and keeps its order", () => {
  const rand = prng(9);
  const heap = new TimerHeap();
  const live: Timer[] = [];
  const fired: number[] = [];
  let time = 0, id = 0;
  for (let step = 0; step < 40; step++) {
    for (let i = 0; i < 500; i++) {
      time += 0.001;
      const t = new Timer(time + 2, (x) => fired.push(x.target as number), id++);
      heap.add(t, 2);
      live.push(t);
    }
    for (let i = 0; i < 100; i++) { // holes, some at the front
      const k = rand() < 0.5 ? 0 : Math.floor(rand() * live.length);
      heap.remove(live[k]);
      live.splice(k, 1);
    }
    fired.length = 0;
    const due = live.filter((t) => t.deadline <= time).map((t) => t.target as number);
    heap.runDue(time);
    assert.deepEqual(fired, due);
    live.splice(0, due.length);
    assert.equal(heap.size, live.length);
  }
  fired.length = 0;
  heap.runDue(Infinity);
  assert.deepEqual(fired, live.map((t) => t.target as number));
});

Deno.test("lanes: positions wrap past 2^24 and every index stays a small integer", () => {
  // A lane that never empties for 2^24 + 50k sleeps (positions wrap; each index stays
  // below V8's small-integer bound), with removals across the wrap: order and removals
  // still exact.
  const heap = new TimerHeap();
  const live: Timer[] = [];
  const spare: Timer[] = [];
  let time = 0, id = 0, expected = 0, removedAhead = 0;
  const removed = new Set<number>();
  const onFire = (t: Timer) => {
    while (removed.has(expected)) removed.delete(expected++);
    assert.equal(t.target, expected++, "fired out of order or a removed timer fired");
    spare.push(t);
  };
  const total = 2 ** 24 + 50_000;
  for (let n = 0; n < total; n++) {
    time += 1;
    const t = spare.pop() ?? new Timer(0, onFire, 0);
    t.deadline = time + 4;
    t.target = id++;
    heap.add(t, 4);
    if (t.index < -(2 ** 30) - 2) throw new Error(`index ${t.index} past the small integers`);
    live.push(t);
    if (n % 997 === 0 && live.length > 3) {
      const victim = live.splice(1 + (n % 2), 1)[0]; // behind the first: a hole
      heap.remove(victim);
      removed.add(victim.target as number);
      removedAhead++;
    }
    heap.runDue(time);
    while (live.length > 0 && !live[0].scheduled) live.shift();
  }
  heap.runDue(Infinity);
  while (removed.has(expected)) removed.delete(expected++);
  assert.equal(expected, id);
  assert.equal(heap.size, 0);
  assert.ok(removedAhead > 16_000);
});

Deno.test("lanes: emptied lanes give their places to new durations", () => {
  const heap = new TimerHeap();
  const fired: number[] = [];
  const add = (deadline: number, duration: number) =>
    heap.add(new Timer(deadline, (t) => fired.push(t.target as number), deadline), duration);
  for (let d = 1; d <= 100; d++) add(d, d); // 64 lanes, the rest in the heap
  heap.runDue(100);
  assert.equal(fired.length, 100);
  const later: Timer[] = [];
  for (let d = 101; d <= 300; d++) {
    const t = new Timer(200 + d, (x) => fired.push(x.target as number), 200 + d);
    heap.add(t, d + 0.5); // new durations: the emptied lanes are reused
    later.push(t);
  }
  for (let i = 0; i < later.length; i += 3) heap.remove(later[i]);
  fired.length = 0;
  heap.runDue(Infinity);
  assert.deepEqual(fired, later.filter((_, i) => i % 3 !== 0).map((t) => t.target));
  assert.equal(heap.size, 0);
});

Deno.test("lanes: a due run fires in order while its timers add and remove others", () => {
  // Timer 1's callback removes timer 3 (later in the same due run) and adds a heap timer
  // due between timers 1 and 2: the run must give way to it, and 3 must never fire.
  const heap = new TimerHeap();
  const fired: string[] = [];
  const lane: Timer[] = [];
  for (let i = 1; i <= 5; i++) {
    lane.push(new Timer(i, (t) => fired.push(t.target as string), `lane ${i}`));
  }
  lane[0].callback = (t) => {
    fired.push(t.target as string);
    heap.remove(lane[2]);
    heap.add(new Timer(1.5, (x) => fired.push(x.target as string), "heap 1.5"));
    heap.add(new Timer(9, (x) => fired.push(x.target as string), "lane 9"), 1);
  };
  for (const t of lane) heap.add(t, 1);
  assert.equal(heap.runDue(6), 5);
  assert.deepEqual(fired, ["lane 1", "heap 1.5", "lane 2", "lane 4", "lane 5"]);
  assert.equal(lane[2].scheduled, false);
  assert.equal(heap.size, 1);
  assert.equal(heap.peek()?.deadline, 9);
});

Deno.test("lanes: callbacks that reshape the heap mid-run agree with a sorted reference", () => {
  const rand = prng(99);
  for (let round = 0; round < 150; round++) {
    const heap = new TimerHeap();
    const live = new Set<Timer>();
    const fired: Timer[] = [];
    let time = 0, made = 0;
    const durations = [0.1, 0.25, 1];
    // Fired timers' callbacks may remove live timers, empty a lane and refill it, or add
    // timers already due: firing must stay "the earliest due first, each at most once".
    const onFire = (t: Timer) => {
      // Each timer fired is the earliest of those scheduled at that moment, and due.
      const first = [...live].sort((a, b) => a.deadline - b.deadline || a.seq - b.seq)[0];
      assert.equal(t, first, `round ${round}: fired out of order, or a removed timer fired`);
      assert.ok(t.deadline <= time);
      live.delete(t);
      fired.push(t);
      const r = rand();
      if (r < 0.3 && live.size > 0) removeOneAtRandom(heap, live, rand);
      else if (r < 0.45) add(time - rand() * 0.2); // due already
      else if (r < 0.6) add(time + rand(), durations[Math.floor(rand() * 3)]);
    };
    const add = (deadline: number, duration?: number) => {
      const t = new Timer(deadline, onFire, made++);
      heap.add(t, duration);
      live.add(t);
    };
    for (let i = 0; i < 300; i++) {
      if (rand() < 0.7) {
        const duration = durations[Math.floor(rand() * durations.length)];
        add(time + duration, rand() < 0.8 ? duration : undefined);
      } else {
        time += rand() * 0.3;
        fired.length = 0;
        const max = rand() < 0.3 ? 1 + Math.floor(rand() * 5) : Infinity;
        const n = heap.runDue(time, max);
        assert.equal(n, fired.length);
        if (n < max) {
          for (const t of live) {
            assert.ok(t.deadline > time, `round ${round}: a due timer was left`);
          }
        }
      }
      assert.equal(heap.size, live.size);
      const first = [...live].sort((a, b) => a.deadline - b.deadline || a.seq - b.seq)[0];
      assert.equal(heap.peek(), first, `round ${round} step ${i}`);
    }
  }
});
