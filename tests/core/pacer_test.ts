import assert from "node:assert/strict";
import {
  current,
  Interrupted,
  LockError,
  NotInThreadError,
  now,
  Pacer,
  spawn,
  withTimeout,
} from "../../mod.ts";
import { scheduler } from "../../core/scheduler.ts";
import { inThread } from "../_helpers.ts";

/** Keeps the thread (and the whole loop) busy for `seconds`, as a long computation does. */
function busy(seconds: number): void {
  const end = now() + seconds;
  while (now() < end) { /* spin */ }
}

Deno.test("a pacer's beats are one period apart, on a grid of a tenth of the period", async () => {
  await inThread(async () => {
    const pacer = new Pacer(0.02, { catchUp: 0.015 });
    const beats: number[] = [], calls: number[] = [];
    for (let i = 0; i < 8; i++) {
      calls.push(now());
      await pacer.next();
      assert.ok(now() >= pacer.lastBeat, "a beat never comes early");
      beats.push(pacer.lastBeat);
    }
    for (const beat of beats) {
      const steps = beat / 0.002;
      assert.ok(Math.abs(steps - Math.round(steps)) < 1e-6, `beat ${beat} is off the grid`);
    }
    for (let i = 1; i < beats.length; i++) {
      const late = calls[i] - beats[i - 1];
      if (late <= 0.015) {
        assert.ok(Math.abs(beats[i] - beats[i - 1] - 0.02) < 1e-9, `beat ${i} not a period on`);
      } else {
        // A loaded machine woke us too late to make it up: the pause is shortened only.
        assert.ok(beats[i] >= calls[i] + 0.02 - 0.015 - 1e-9, `beat ${i} came too soon`);
      }
    }
  });
});

Deno.test("a pacer makes up the time its loop spent working, up to catchUp", async () => {
  await inThread(async () => {
    const pacer = new Pacer(0.03, { catchUp: 0.02 });
    await pacer.next();
    const first = pacer.lastBeat;
    busy(0.01); // the step's work: the next pause is shorter by as much
    const called = now();
    await pacer.next();
    if (called - first <= 0.02) assert.ok(Math.abs(pacer.lastBeat - first - 0.03) < 1e-9);
    assert.ok(pacer.lastBeat - called < 0.03, "the pause was not shortened");
  });
});

Deno.test("a pacer that fell behind does not run its missed beats back to back", async () => {
  await inThread(async () => {
    const pacer = new Pacer(0.01, { catchUp: 0.002 });
    await pacer.next();
    busy(0.05); // five beats missed
    const called = now();
    await pacer.next();
    assert.ok(now() - called >= 0.008 - 1e-6, `woke ${now() - called} s after the call`);
    assert.ok(pacer.lastBeat >= called + 0.008 - 1e-9);
  });
});

Deno.test("lateness at the wake: beats keep the rhythm, work past a period costs one beat back to back", async () => {
  await inThread(async () => {
    const pacer = new Pacer(0.01, { catchUp: 0.002, lateness: "wake" });
    assert.equal(pacer.lateness, "wake");
    await pacer.next();
    const beats = [pacer.lastBeat];
    for (let i = 0; i < 5; i++) {
      await pacer.next();
      assert.ok(now() >= pacer.lastBeat, "a beat never comes early");
      beats.push(pacer.lastBeat);
    }
    // Woken on time (a light loop), each beat is a period after the last; on a loaded
    // machine a wake later than catchUp shortens the pause instead, never below
    // period - catchUp from that wake.
    for (let i = 1; i < beats.length; i++) {
      assert.ok(beats[i] - beats[i - 1] >= 0.01 - 0.002 - 1e-9, `beat ${i} too soon`);
    }
    busy(0.05); // five beats missed, unseen: the lateness was measured at the wake
    const called = now();
    await pacer.next(); // the missed beat: due already
    assert.ok(pacer.lastBeat < called, "the beat after the work was taken as due");
    const woke = now();
    await pacer.next(); // measured again at that wake: a pause, not a second missed beat
    assert.ok(now() - woke >= 0.008 - 1e-6, `woke ${now() - woke} s after the call`);
    // After an interrupted beat (or any other blocking call) the clock is read.
    await assert.rejects(withTimeout(0.001, () => new Pacer(10).next()), Interrupted);
    const after = now();
    await pacer.next();
    assert.ok(now() - after >= 0.008 - 1e-6, "a call after another wait measured at its time");
  });
});

Deno.test("an interrupted beat throws at once and leaves no timer behind", async () => {
  await inThread(async () => {
    const timersBefore = scheduler.timers.size;
    const pacer = new Pacer(10);
    const t0 = now();
    await assert.rejects(withTimeout(0.01, () => pacer.next()), (e) => e instanceof Interrupted);
    assert.ok(now() - t0 < 5, "the sleep was not cut short");
    assert.equal(scheduler.timers.size, timersBefore);
    // The interrupted beat counts: the rhythm goes on from it.
    assert.ok(pacer.lastBeat >= t0 + 10 - 1e-9);
  });
});

Deno.test("a pacer belongs to the thread that made it", async () => {
  await inThread(async () => {
    const pacer = new Pacer(0.001);
    assert.equal(pacer.thread, current());
    const other = spawn(() => pacer.next());
    await assert.rejects(other.join(), LockError);
  });
  assert.throws(() => new Pacer(0.1), NotInThreadError);
});

Deno.test("a pacer refuses a period or catchUp that cannot pace", async () => {
  await inThread(() => {
    for (const period of [0, -1, NaN, Infinity]) {
      assert.throws(() => new Pacer(period), RangeError, `period ${period}`);
    }
    assert.throws(() => new Pacer(0.1, { catchUp: -0.01 }), RangeError);
    assert.throws(() => new Pacer(0.1, { catchUp: 0.1 }), RangeError);
    assert.equal(new Pacer(0.1).catchUp, 0.1 / 5);
    assert.equal(new Pacer(0.1).lateness, "call");
    assert.throws(
      () => new Pacer(0.1, { lateness: "later" as "wake" }),
      RangeError,
    );
    for (const grid of [0.0005, 0.2, 0, -0.001, NaN]) {
      assert.throws(() => new Pacer(0.1, { grid }), RangeError, `grid ${grid}`);
    }
    // A period under the grid's floor keeps the millisecond grid, by default or asked for.
    assert.equal(new Pacer(0.0005).period, 0.0005);
    assert.equal(new Pacer(0.0005, { grid: 0.001 }).period, 0.0005);
    assert.throws(() => new Pacer(0.0005, { grid: 0.002 }), RangeError);
  });
});

Deno.test("a pacer's grid can be chosen: beats fall on it, still a period apart", async () => {
  await inThread(async () => {
    // A 7 ms grid under a 20 ms period: the default grid (2 ms) would put beats where a
    // 7 ms one cannot, so a beat off 7 ms multiples means the option was ignored.
    const pacer = new Pacer(0.02, { catchUp: 0.015, grid: 0.007 });
    const beats: number[] = [];
    for (let i = 0; i < 6; i++) {
      await pacer.next();
      assert.ok(now() >= pacer.lastBeat, "a beat never comes early");
      beats.push(pacer.lastBeat);
    }
    for (const beat of beats) {
      const points = beat / 0.007;
      assert.ok(Math.abs(points - Math.round(points)) < 1e-6, `beat ${beat} is off the grid`);
    }
    // Each beat is the first grid point at or after the last beat plus the period (made up
    // lateness aside): 21 or 28 ms on, never less than a period.
    for (let i = 1; i < beats.length; i++) {
      assert.ok(beats[i] - beats[i - 1] >= 0.02 - 0.015 - 1e-9, `beat ${i} too soon`);
    }
  });
});
