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

Deno.test("randomized adds and removals agree with a sorted reference", () => {
  const rand = prng(42);
  for (let round = 0; round < 200; round++) {
    const heap = new TimerHeap();
    const live = new Set<Timer>();
    for (let i = 0; i < 200; i++) {
      if (live.size > 0 && rand() < 0.4) {
        const victims = [...live];
        const t = victims[Math.floor(rand() * victims.length)];
        heap.remove(t);
        heap.remove(t); // twice is a no-op
        live.delete(t);
        assert.equal(t.scheduled, false);
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
