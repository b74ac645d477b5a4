/**
 * The checkpoint rule: every blocking call is a checkpoint, whether or not it has to
 * block. A pending interruption is thrown before the call takes anything, and a call that
 * completes at once yields once the thread has used up the scheduler's slice.
 */
import assert from "node:assert/strict";
import {
  current,
  Event,
  Fifo,
  Interrupted,
  InvertedSemaphore,
  Latch,
  Mutex,
  Pacer,
  RWLock,
  Semaphore,
  sleep,
  spawn,
  ThreadGroup,
  withTimeout,
} from "../../mod.ts";
import { inThread } from "../_helpers.ts";

/** Raises an interruption in the calling thread, pending for its next blocking call. */
function interruptMyself(): void {
  current()!.interrupt(new Interrupted("pending"));
}

Deno.test("Fifo.pop with an item there: a pending interrupt is thrown and the item stays", async () => {
  await inThread(async () => {
    const fifo = new Fifo<number>();
    fifo.push(1);
    interruptMyself();
    await assert.rejects(fifo.pop(), Interrupted);
    assert.equal(fifo.length, 1);
    assert.equal(await fifo.pop(), 1); // delivered once
    fifo.push(2);
    interruptMyself();
    await assert.rejects(fifo.popAll(), Interrupted);
    assert.deepEqual(await fifo.popAll(), [2]);
  });
});

Deno.test("free locks and units: a pending interrupt is thrown and nothing is taken", async () => {
  await inThread(async () => {
    const semaphore = new Semaphore(1);
    interruptMyself();
    await assert.rejects(semaphore.acquire(), Interrupted);
    assert.equal(semaphore.avail, 1);

    const mutex = new Mutex();
    interruptMyself();
    await assert.rejects(mutex.lock(), Interrupted);
    assert.equal(mutex.locked(), false);

    const rw = new RWLock();
    interruptMyself();
    await assert.rejects(rw.readLock(), Interrupted);
    interruptMyself();
    await assert.rejects(rw.writeLock(), Interrupted);
    await rw.writeLock(); // neither was taken
    rw.writeUnlock();
  });
});

Deno.test("signals already given and dead threads: a pending interrupt is thrown", async () => {
  await inThread(async () => {
    const event = new Event();
    event.set();
    interruptMyself();
    await assert.rejects(event.wait(), Interrupted);

    const latch = new Latch<string>();
    latch.release("v");
    interruptMyself();
    await assert.rejects(latch.wait(), Interrupted);
    assert.equal(await latch.wait(), "v");

    const zero = new InvertedSemaphore();
    interruptMyself();
    await assert.rejects(zero.blockTillZero(), Interrupted);

    const dead = spawn(() => 7);
    await sleep(0);
    assert.ok(dead.dead);
    interruptMyself();
    await assert.rejects(dead.join(), Interrupted);
    assert.equal(await dead.join(), 7);
  });
});

Deno.test("a thread whose pops never block still lets timers and other threads run", async () => {
  await inThread(async () => {
    const fifo = new Fifo<number>();
    const items = 200_000;
    for (let i = 0; i < items; i++) fifo.push(i);
    let poppedWhenTimerRan = -1, popped = 0;
    const timerThread = spawn(async () => {
      await sleep(0); // needs a turn of the loop: a host timer
      poppedWhenTimerRan = popped;
    });
    while (fifo.length > 0) {
      await fifo.pop();
      popped++;
    }
    await timerThread.join();
    assert.ok(
      poppedWhenTimerRan >= 0 && poppedWhenTimerRan < items,
      `the sleeper ran after ${poppedWhenTimerRan} of ${items} pops`,
    );
  });
});

Deno.test("calls that complete at once make progress among thousands of always-due sleepers", async () => {
  await inThread(async () => {
    // 10k pacers of 1 ms: more than a process steps in 1 ms, so every tick finds them all
    // due. Each tick once fired them all and used the slice up before any other thread ran,
    // so a thread yielding at a checkpoint yielded again at its retry, forever.
    const group = new ThreadGroup({ name: "sleepers" });
    for (let i = 0; i < 10_000; i++) {
      group.spawn(async () => {
        const pacer = new Pacer(0.001);
        for (;;) await pacer.next();
      });
    }
    try {
      await sleep(0.05);
      const event = new Event();
      event.set();
      const t0 = performance.now();
      await withTimeout(20, async () => {
        for (let i = 0; i < 200; i++) await event.wait(); // each a checkpoint
      });
      assert.ok(performance.now() - t0 < 20_000);
    } finally {
      group.shutdown();
      await group.join();
    }
  });
});
