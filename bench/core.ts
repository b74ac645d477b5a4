/**
 * Core benchmarks, side by side with the plain-promise alternative in the same run:
 * - spawn + join of 100k and 1M threads vs the same async functions awaited in bulk;
 * - bytes per suspended thread (sleeping on the shared timer heap) vs one setTimeout
 *   per sleeper;
 * - ping-pong switches/s through Fifo and ConditionVariable vs a bare promise hand-off;
 * - 100k threads pacing 10 beats/s (the field demo's loop): CPU per beat with the
 *   pacer's lateness measured at the wake (one clock read per batch) vs at each call.
 *
 * Run: deno task bench:core   (uses --expose-gc for memory figures)
 */
import {
  ConditionVariable,
  Fifo,
  Pacer,
  Shutdown,
  sleep,
  spawn,
  type Thread,
  ThreadGroup,
} from "../mod.ts";
import { cpuSeconds } from "./_loadgen.ts";
import { bestOf, gc, progress, progressRows, type Row, table } from "./_report.ts";

const quick = Deno.args.includes("--quick");
const SIZES = quick ? [10_000, 100_000] : [100_000, 1_000_000];
const PINGS = quick ? 200_000 : 2_000_000;
const PACERS = 100_000;

async function spawnJoin(n: number): Promise<void> {
  const threads: Thread[] = new Array(n);
  for (let i = 0; i < n; i++) threads[i] = spawn(noop, i);
  await spawn(async () => {
    for (let i = 0; i < n; i++) await threads[i].join();
  }).join();
}

async function promisesJoin(n: number): Promise<void> {
  const ps: Promise<number>[] = new Array(n);
  for (let i = 0; i < n; i++) ps[i] = asyncNoop(i);
  for (let i = 0; i < n; i++) await ps[i];
}

function noop(i: number): number {
  return i;
}
// deno-lint-ignore require-await
async function asyncNoop(i: number): Promise<number> {
  return i;
}

async function napper(): Promise<void> {
  await sleep(3600);
}

/**
 * Heap bytes per suspended thread: N threads asleep on the shared timer heap. `body` is
 * the thread's function: `sleep` itself (no frame of its own) or an async function that
 * awaits it (one frame, as in most real threads).
 */
async function bytesPerSleepingThread(
  n: number,
  body: (s: number) => Promise<void>,
): Promise<number> {
  gc();
  const before = Deno.memoryUsage().heapUsed;
  const threads: Thread[] = new Array(n);
  for (let i = 0; i < n; i++) threads[i] = spawn(body, 3600);
  await spawn(() => sleep(0)).join(); // every thread has started and is asleep
  gc();
  const after = Deno.memoryUsage().heapUsed;
  for (const t of threads) t.shutdown();
  await spawn(async () => {
    for (const t of threads) {
      try {
        await t.join();
      } catch (e) {
        if (!(e instanceof Shutdown)) throw e; // each was shut down: anything else is a bug
      }
    }
  }).join();
  return (after - before) / n;
}

/** The alternative: one host setTimeout per sleeping async function. */
function bytesPerSetTimeoutSleeper(n: number): number {
  gc();
  const before = Deno.memoryUsage().heapUsed;
  const ids: ReturnType<typeof setTimeout>[] = new Array(n);
  const ps: Promise<void>[] = new Array(n);
  for (let i = 0; i < n; i++) {
    ps[i] = (async () => {
      await new Promise<void>((r) => ids[i] = setTimeout(r, 3_600_000));
    })();
  }
  gc();
  const after = Deno.memoryUsage().heapUsed;
  for (const id of ids) clearTimeout(id);
  return (after - before) / n;
}

async function fifoPingPong(n: number): Promise<void> {
  const ping = new Fifo<number>(), pong = new Fifo<number>();
  const a = spawn(async () => {
    for (let i = 0; i < n; i++) {
      ping.push(i);
      await pong.pop();
    }
  });
  const b = spawn(async () => {
    for (let i = 0; i < n; i++) pong.push(await ping.pop());
  });
  await a.join();
  await b.join();
}

async function conditionPingPong(n: number): Promise<void> {
  const ping = new ConditionVariable<number>(), pong = new ConditionVariable<number>();
  let turn = 0;
  const a = spawn(async () => {
    for (let i = 0; i < n; i++) {
      turn = 1;
      ping.wakeOne(i);
      while (turn === 1) await pong.wait();
    }
  });
  const b = spawn(async () => {
    for (let i = 0; i < n; i++) {
      while (turn === 0) await ping.wait();
      turn = 0;
      pong.wakeOne(i);
    }
  });
  await a.join();
  await b.join();
}

/** The baseline: two async functions handing a resolver back and forth. */
async function barePromisePingPong(n: number): Promise<void> {
  let toA: ((v: number) => void) | null = null, toB: ((v: number) => void) | null = null;
  let bReady!: () => void;
  const started = new Promise<void>((r) => bReady = r);
  const b = (async () => {
    for (let i = 0; i < n; i++) {
      const v = await new Promise<number>((r) => {
        toB = r;
        if (i === 0) bReady();
      });
      const r = toA!;
      toA = null;
      r(v);
    }
  })();
  await started;
  for (let i = 0; i < n; i++) {
    const p = new Promise<number>((r) => toA = r);
    const r = toB!;
    toB = null;
    r(i);
    await p;
  }
  await b;
}

const spawnRows: Row[] = progressRows();
for (const n of SIZES) {
  const ours = await bestOf(3, () => spawnJoin(n));
  const bare = await bestOf(3, () => promisesJoin(n));
  spawnRows.push({
    name: `${n.toLocaleString("en-US")} threads`,
    "spawn+join ms": ours,
    "us/thread": (ours * 1000) / n,
    "async fns ms": bare,
    "ratio (ours/bare)": ours / bare,
  });
}
table("spawn + join", spawnRows);

const memRows: Row[] = progressRows();
for (const n of SIZES) {
  const alt = bytesPerSetTimeoutSleeper(n);
  for (
    const [label, body] of [["spawn(sleep)", sleep], [
      "spawn(async () => await sleep())",
      napper,
    ]] as const
  ) {
    const ours = await bytesPerSleepingThread(n, body);
    memRows.push({
      name: `${n.toLocaleString("en-US")} x ${label}`,
      "B/thread (ours)": Math.round(ours),
      "B/sleeper (async fn + setTimeout each)": Math.round(alt),
      "ratio": ours / alt,
      "goal <= 700 B": ours <= 700 ? "met" : "MISSED",
    });
  }
}
table("bytes per suspended thread", memRows);

const bare = await bestOf(3, () => barePromisePingPong(PINGS));
progress(`ping-pong: bare promise hand-off ${bare.toFixed(0)} ms`);
const fifo = await bestOf(3, () => fifoPingPong(PINGS));
progress(`ping-pong: Fifo ${fifo.toFixed(0)} ms`);
const cv = await bestOf(3, () => conditionPingPong(PINGS));
progress(`ping-pong: ConditionVariable ${cv.toFixed(0)} ms`);
const rate = (ms: number) => (2 * PINGS) / ms / 1000; // switches per second, in millions
table(`ping-pong, ${PINGS.toLocaleString("en-US")} round trips`, [
  { name: "bare promise hand-off", "M switches/s": rate(bare), "ratio (bare/this)": 1 },
  {
    name: "Fifo",
    "M switches/s": rate(fifo),
    "ratio (bare/this)": fifo / bare,
    "goal <= 2x": fifo / bare <= 2 ? "met" : "MISSED",
  },
  {
    name: "ConditionVariable",
    "M switches/s": rate(cv),
    "ratio (bare/this)": cv / bare,
    "goal <= 2x": cv / bare <= 2 ? "met" : "MISSED",
  },
]);

/**
 * Microseconds of process CPU per beat of `n` threads each pacing 10 beats/s with
 * `lateness`, measured over `seconds` after a second of warm-up.
 */
async function cpuPerBeat(n: number, lateness: "call" | "wake", seconds: number): Promise<number> {
  let beats = 0;
  const group = new ThreadGroup({ name: "pacers" });
  for (let i = 0; i < n; i++) {
    group.spawn(async () => {
      const pacer = new Pacer(0.1, { lateness });
      for (;;) {
        await pacer.next();
        beats++;
      }
    });
  }
  await sleep(1);
  const cpu0 = cpuSeconds(Deno.pid), beats0 = beats;
  await sleep(seconds);
  const perBeat = (cpuSeconds(Deno.pid) - cpu0) / (beats - beats0) * 1e6;
  group.shutdown();
  await group.join().catch((e) => {
    if (!(e instanceof Shutdown)) throw e;
  });
  return perBeat;
}

// Alternating rounds: the machine's load drifts less between two neighbours than over a run.
const paced: Record<"call" | "wake", number[]> = { call: [], wake: [] };
await spawn(async () => {
  for (let round = 0; round < (quick ? 2 : 4); round++) {
    for (const lateness of ["call", "wake"] as const) {
      paced[lateness].push(await cpuPerBeat(PACERS, lateness, quick ? 2 : 3));
      progress(`pacers: lateness ${lateness}, ${paced[lateness].at(-1)!.toFixed(3)} us CPU/beat`);
    }
  }
}).join();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const range = (xs: number[]) => `${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}`;
table(
  `${PACERS.toLocaleString("en-US")} threads pacing 10 beats/s (median of alternating rounds)`,
  [
    {
      name: 'lateness "call" (a clock read per beat)',
      "us CPU/beat": median(paced.call),
      range: range(paced.call),
      "ratio (this/call)": 1,
    },
    {
      name: 'lateness "wake" (a clock read per batch)',
      "us CPU/beat": median(paced.wake),
      range: range(paced.wake),
      "ratio (this/call)": median(paced.wake) / median(paced.call),
    },
  ],
);
