import assert from "node:assert/strict";
import {
  endSlice,
  Interrupted,
  LockError,
  RWLock,
  sleep,
  spawn,
  yieldSlice,
} from "../../../mod.ts";
import { inThread } from "../../_helpers.ts";

Deno.test("many readers at once; a writer alone", async () => {
  const l = new RWLock();
  await inThread(async () => {
    await l.readLock();
    await l.readLock();
    assert.equal(l.statistics().readers, 2);
    const w = spawn(() => l.writeLock());
    await yieldSlice();
    assert.equal(w.state, "blocked");
    l.readUnlock();
    l.readUnlock();
    await w.join();
    assert.equal(l.statistics().writer, w.id);
  });
});

Deno.test("writer-preferring: a waiting writer holds new readers back", async () => {
  const l = new RWLock();
  const order: string[] = [];
  await inThread(async () => {
    await l.readLock();
    const w = spawn(async () => {
      await l.writeLock();
      order.push("writer");
      await sleep(0.001);
      l.writeUnlock();
    });
    await yieldSlice();
    const r = spawn(async () => {
      await l.readLock();
      order.push("late reader");
      l.readUnlock();
    });
    await yieldSlice();
    assert.equal(r.state, "blocked");
    l.readUnlock();
    await w.join();
    await r.join();
  });
  assert.deepEqual(order, ["writer", "late reader"]);
});

Deno.test("writeUnlock hands to the next writer, else lets every reader in", async () => {
  const l = new RWLock();
  const order: string[] = [];
  await inThread(async () => {
    await l.writeLock();
    const readers = [1, 2].map((i) =>
      spawn(async () => {
        await l.readLock();
        order.push(`r${i}`);
        await sleep(0.001);
        l.readUnlock();
      })
    );
    const w2 = spawn(async () => {
      await l.writeLock();
      order.push("w2");
      l.writeUnlock();
    });
    await yieldSlice();
    l.writeUnlock();
    for (const t of [...readers, w2]) await t.join();
  });
  assert.deepEqual(order, ["w2", "r1", "r2"]);
});

Deno.test("misuse is a LockError", async () => {
  const l = new RWLock();
  assert.throws(() => l.readUnlock(), LockError);
  await inThread(async () => {
    assert.throws(() => l.writeUnlock(), LockError);
    await l.writeLock();
    await assert.rejects(l.writeLock(), LockError);
    l.writeUnlock();
  });
});

Deno.test("an interrupted waiting writer lets the readers behind it in", async () => {
  const l = new RWLock();
  await inThread(async () => {
    await l.readLock();
    const w = spawn(() => l.writeLock());
    await yieldSlice();
    const r = spawn(() => l.readLock());
    await yieldSlice();
    assert.equal(r.state, "blocked");
    w.interrupt();
    await assert.rejects(w.join(), Interrupted);
    await r.join();
    assert.equal(l.statistics().readers, 2);
  });
});

Deno.test("a write lock granted to a writer interrupted before resuming is handed on", async () => {
  const l = new RWLock();
  await inThread(async () => {
    await l.writeLock();
    const a = spawn(() => l.writeLock());
    const r = spawn(() => l.readLock());
    await yieldSlice();
    endSlice();
    l.writeUnlock(); // to a
    a.interrupt();
    await assert.rejects(a.join(), Interrupted);
    await r.join();
    assert.deepEqual(l.statistics(), {
      readers: 1,
      writer: null,
      waitingReaders: 0,
      waitingWriters: 0,
    });
  });
});
