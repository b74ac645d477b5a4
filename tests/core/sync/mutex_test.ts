import assert from "node:assert/strict";
import { endSlice, Interrupted, LockError, Mutex, sleep, spawn, yieldSlice } from "../../../mod.ts";
import { inThread } from "../../_helpers.ts";

Deno.test("lock/unlock, locked and hasLock", async () => {
  const m = new Mutex();
  await inThread(async () => {
    assert.equal(m.locked(), false);
    await m.lock();
    assert.equal(m.locked(), true);
    assert.equal(m.hasLock(), true);
    assert.deepEqual(m.statistics(), {
      locked: true,
      owner: m.statistics().owner,
      depth: 1,
      waiting: 0,
    });
    m.unlock();
    assert.equal(m.locked(), false);
  });
});

Deno.test("re-entrant for its owner: each lock needs its unlock", async () => {
  const m = new Mutex();
  await inThread(async () => {
    await m.lock();
    await m.lock();
    assert.equal(m.tryLock(), true);
    assert.equal(m.statistics().depth, 3);
    m.unlock();
    m.unlock();
    assert.equal(m.locked(), true);
    m.unlock();
    assert.equal(m.locked(), false);
  });
});

Deno.test("unlock by a non-owner is a LockError", async () => {
  const m = new Mutex();
  assert.throws(() => m.unlock(), LockError);
  await inThread(async () => {
    const owner = spawn(async () => {
      await m.lock();
      await sleep(0.01);
      m.unlock();
    });
    await yieldSlice();
    assert.throws(() => m.unlock(), LockError);
    assert.equal(m.tryLock(), false);
    await owner.join();
  });
});

Deno.test("waiters get the lock in FIFO order with direct hand-off (no barging)", async () => {
  const m = new Mutex();
  const order: number[] = [];
  await inThread(async () => {
    await m.lock();
    const ts = [1, 2, 3].map((i) =>
      spawn(async () => {
        await m.lock();
        order.push(i);
        m.unlock();
      })
    );
    await yieldSlice();
    assert.equal(m.statistics().waiting, 3);
    m.unlock();
    // The lock now belongs to waiter 1: a newcomer cannot take it.
    assert.equal(m.tryLock(), false);
    for (const t of ts) await t.join();
  });
  assert.deepEqual(order, [1, 2, 3]);
});

Deno.test("using: the guard unlocks at the end of the block, even on error", async () => {
  const m = new Mutex();
  await inThread(async () => {
    try {
      using _held = await m.lock();
      assert.equal(m.locked(), true);
      throw new Error("inside");
    } catch { /* expected */ }
    assert.equal(m.locked(), false);
    assert.equal(await m.withLock(() => m.hasLock()), true);
    assert.equal(m.locked(), false);
  });
});

Deno.test("an interrupted waiter leaves the line and does not own the lock", async () => {
  const m = new Mutex();
  await inThread(async () => {
    await m.lock();
    const a = spawn(() => m.lock());
    const b = spawn(async () => {
      await m.lock();
      m.unlock();
      return "b got it";
    });
    await yieldSlice();
    a.interrupt();
    await assert.rejects(a.join(), Interrupted);
    m.unlock();
    assert.equal(await b.join(), "b got it");
    assert.equal(m.locked(), false);
  });
});

Deno.test("granted then interrupted before resuming: ownership passes to the next waiter", async () => {
  const m = new Mutex();
  await inThread(async () => {
    await m.lock();
    const a = spawn(() => m.lock());
    const b = spawn(async () => {
      await m.lock();
      const mine = m.hasLock();
      m.unlock();
      return mine;
    });
    await yieldSlice();
    endSlice(); // the hand-off stays pending in the ready queue
    m.unlock(); // hands to a
    assert.equal(a.state, "ready");
    a.interrupt(); // a never resumes holding it
    await assert.rejects(a.join(), Interrupted);
    assert.equal(await b.join(), true);
    assert.equal(m.locked(), false);
  });
});
