/**
 * Randomized interleavings (seeded, so a failure replays): producers, consumers and an
 * interrupter race on each primitive; afterwards nothing may be lost or duplicated and no
 * waiter may sleep through a wake it was owed. Set SHRAPNEL_SEED to replay one round.
 */
import assert from "node:assert/strict";
import {
  ConditionVariable,
  endSlice,
  Fifo,
  Interrupted,
  Mutex,
  Semaphore,
  setThreadErrorHook,
  spawn,
  type Thread,
  yieldSlice,
} from "../../../mod.ts";
import { inThread, prng } from "../../_helpers.ts";

const ROUNDS = 1500;
const only = Deno.env.get("SHRAPNEL_SEED");
const seeds = only ? [Number(only)] : Array.from({ length: ROUNDS }, (_, i) => i + 1);

/** Yields a random number of times (0-2), so threads interleave differently per seed. */
async function jitter(rand: () => number): Promise<void> {
  const n = Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) await yieldSlice();
}

/** Interrupts a random started, live thread of `victims` (often one just woken). */
function strike(rand: () => number, victims: Thread[]): void {
  const v = victims[Math.floor(rand() * victims.length)];
  if (v.started && !v.dead) v.interrupt(new Interrupted("right after a wake"));
}

/** Interrupts random live threads of `victims` at random moments, `count` times. */
function interrupter(rand: () => number, victims: Thread[], count: number): Thread {
  return spawn(async () => {
    for (let i = 0; i < count; i++) {
      await jitter(rand);
      const v = victims[Math.floor(rand() * victims.length)];
      if (v.started && !v.dead) v.interrupt(new Interrupted("random"));
    }
  });
}

async function settle(): Promise<void> {
  for (let i = 0; i < 8; i++) await yieldSlice();
}

async function fifoRound(seed: number): Promise<void> {
  const rand = prng(seed);
  const q = new Fifo<number>();
  const ITEMS = 40;
  const got: number[] = [];
  const consumers = Array.from({ length: 4 }, () =>
    spawn(async () => {
      for (;;) {
        try {
          if (rand() < 0.3) got.push(...await q.popAll());
          else got.push(await q.pop());
        } catch (e) {
          if (!(e instanceof Interrupted)) throw e;
          if (rand() < 0.5) return; // some consumers give up, others carry on
        }
        await jitter(rand);
      }
    }));
  const producer = spawn(async () => {
    for (let i = 0; i < ITEMS; i++) {
      if (rand() < 0.3) endSlice(); // this wake stays pending: an interrupt may drop it
      if (rand() < 0.1) q.pushFront(i);
      else q.push(i);
      if (rand() < 0.3) strike(rand, consumers);
      await jitter(rand);
    }
  });
  const chaos = interrupter(rand, consumers, 10);
  await producer.join();
  await chaos.join();
  await settle();
  // No lost wake-up: no consumer may be waiting while items sit in the fifo.
  const waiting = consumers.filter((c) => c.state === "blocked").length;
  assert.ok(!(waiting > 0 && q.length > 0), `seed ${seed}: ${waiting} waiting, ${q.length} queued`);
  for (const c of consumers) c.shutdown();
  await settle();
  const all = [...got, ...(q.length > 0 ? await q.popAll() : [])].sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: ITEMS }, (_, i) => i), `seed ${seed}`);
}

async function semaphoreRound(seed: number): Promise<void> {
  const rand = prng(seed);
  const s = new Semaphore(3);
  let held = 0, maxHeld = 0;
  const workers = Array.from({ length: 8 }, () =>
    spawn(async () => {
      for (let i = 0; i < 5; i++) {
        const n = 1 + Math.floor(rand() * 2);
        try {
          await s.acquire(n);
        } catch (e) {
          if (e instanceof Interrupted) continue;
          throw e;
        }
        held += n;
        maxHeld = Math.max(maxHeld, held);
        try {
          await jitter(rand); // may be interrupted while holding: release anyway
        } catch (e) {
          if (!(e instanceof Interrupted)) throw e;
        } finally {
          held -= n;
          s.release(n);
        }
      }
    }));
  const chaos = interrupter(rand, workers, 8);
  await chaos.join();
  for (const w of workers) await w.join().catch((e) => assert.ok(e instanceof Interrupted));
  assert.ok(maxHeld <= 3, `seed ${seed}: ${maxHeld} units held at once`);
  assert.equal(s.avail, 3, `seed ${seed}: units lost or made up`);
  assert.equal(s.statistics().waiting, 0);
}

async function mutexRound(seed: number): Promise<void> {
  const rand = prng(seed);
  const m = new Mutex();
  let inside = 0, entries = 0;
  const workers = Array.from({ length: 6 }, () =>
    spawn(async () => {
      for (let i = 0; i < 5; i++) {
        try {
          await m.lock();
        } catch (e) {
          if (e instanceof Interrupted) continue;
          throw e;
        }
        inside++;
        entries++;
        assert.equal(inside, 1, `seed ${seed}: two threads inside the mutex`);
        await jitter(rand).catch(expectInterrupted); // an interrupt here must not leave it locked
        inside--;
        if (rand() < 0.3) endSlice();
        m.unlock();
      }
    }));
  const chaos = interrupter(rand, workers, 8);
  await chaos.join();
  for (const w of workers) await w.join().catch((e) => assert.ok(e instanceof Interrupted));
  assert.equal(m.locked(), false, `seed ${seed}: left locked`);
  assert.ok(entries > 0);
}

async function conditionRound(seed: number): Promise<void> {
  const rand = prng(seed);
  const cv = new ConditionVariable();
  let tokens = 0, taken = 0;
  const PRODUCED = 20;
  const consumers = Array.from({ length: 4 }, () =>
    spawn(async () => {
      for (;;) {
        try {
          while (tokens === 0) await cv.wait();
        } catch (e) {
          if (!(e instanceof Interrupted)) throw e;
          if (rand() < 0.5) return; // gives up: a wake it was handed must pass on
          continue;
        }
        tokens--;
        taken++;
        await jitter(rand).catch(expectInterrupted);
      }
    }));
  const producer = spawn(async () => {
    for (let i = 0; i < PRODUCED; i++) {
      tokens++;
      if (rand() < 0.3) endSlice();
      cv.wakeOne();
      if (rand() < 0.3) strike(rand, consumers);
      await jitter(rand);
    }
  });
  const chaos = interrupter(rand, consumers, 8);
  await producer.join();
  await chaos.join();
  await settle();
  const waiting = consumers.filter((c) => c.state === "blocked").length;
  assert.ok(!(waiting > 0 && tokens > 0), `seed ${seed}: lost wake-up (${tokens} tokens left)`);
  assert.equal(taken + tokens, PRODUCED);
  for (const c of consumers) c.shutdown();
  await settle();
}

for (
  const [name, round] of [
    ["Fifo", fifoRound],
    ["Semaphore", semaphoreRound],
    ["Mutex", mutexRound],
    ["ConditionVariable", conditionRound],
  ] as const
) {
  Deno.test(`${name}: no lost or duplicated wake-ups over ${seeds.length} seeded interleavings`, async () => {
    // Workers may die from the random interrupts; anything else killing one is a bug.
    const deaths: unknown[] = [];
    const old = setThreadErrorHook((_t, e) => deaths.push(e));
    try {
      await inThread(async () => {
        for (const seed of seeds) await round(seed);
      });
    } finally {
      setThreadErrorHook(old);
    }
    for (const e of deaths) assert.ok(e instanceof Interrupted, `unexpected death: ${e}`);
  });
}

/** An interrupt (from the chaos thread) is what a jitter may end with; anything else fails. */
function expectInterrupted(e: unknown): void {
  if (!(e instanceof Interrupted)) throw e;
}
