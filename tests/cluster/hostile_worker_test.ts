/**
 * A misbehaving worker against its supervisor: one that never answers, one that sends an
 * endless control line, one that floods replies nobody asked for, and one that claims
 * another worker's pid, one that reads its questions only late. The supervisor's questions
 * come back within `askTimeout` with the reason, what it holds for a worker stays under the
 * control channel's cap, no question is cut (the next would be glued to it), and `stop()`
 * ends within the grace.
 */
import assert from "node:assert/strict";
import { sleep, Supervisor, withTimeout, type WorkerReport } from "../../mod.ts";
import { MAX_MESSAGE_BYTES } from "../../net/_cluster_control.ts";
import { inThread } from "../_helpers.ts";

/** A fake worker: joins with "ready", then does what `mode` says. */
const FAKE_WORKER = `
const mode = Deno.args[0];
const path = Deno.env.get("SHRAPNEL_CLUSTER_CONTROL");
const id = Number(Deno.env.get("SHRAPNEL_WORKER_ID"));
const conn = await Deno.connect({ transport: "unix", path });
const line = (o) => new TextEncoder().encode(JSON.stringify(o) + "\\n");
const writeAll = async (b) => { for (let i = 0; i < b.length;) i += await conn.write(b.subarray(i)); };
const pid = mode === "impostor" ? 1 : Deno.pid;
await writeAll(line({ type: "ready", id, pid }));
if (mode === "endless") {
  const chunk = new TextEncoder().encode("x".repeat(1 << 16));
  try { for (;;) await writeAll(chunk); } catch { /* the supervisor hung up */ }
} else if (mode === "flood") {
  const junk = line({ type: "reply", seq: 1e9, value: "y".repeat(1000) });
  const batch = new Uint8Array(junk.length * 100);
  for (let i = 0; i < 100; i++) batch.set(junk, i * junk.length);
  try { for (let i = 0; i < 2000; i++) await writeAll(batch); } catch { /* hung up */ }
}
await new Promise((r) => setTimeout(r, 60_000)); // never answers, never exits by itself
`;

function supervisor(mode: string): Supervisor {
  return new Supervisor({
    workers: 1,
    command: ["eval", FAKE_WORKER, mode],
    askTimeout: 0.5,
    graceSeconds: 1,
    readyTimeout: 10,
    onEvent: () => {},
  });
}

async function withFake(mode: string, body: (s: Supervisor) => Promise<void>): Promise<void> {
  const s = supervisor(mode);
  await inThread(async () => {
    await s.start();
    try {
      await body(s);
    } finally {
      const started = performance.now();
      const reported: unknown[][] = [];
      const error = console.error;
      console.error = (...args: unknown[]) => reported.push(args);
      try {
        await withTimeout(10, () => s.stop());
      } finally {
        console.error = error;
      }
      assert.ok(performance.now() - started < 5000, "stop() outlasted the grace");
      // A worker stopped with questions unread resets its socket: that is no failure.
      assert.deepEqual(reported.map((args) => String(args[0])), []);
    }
  });
}

async function timedStatistics(s: Supervisor): Promise<[WorkerReport[], number]> {
  const started = performance.now();
  const reports = await withTimeout(10, () => s.statistics());
  return [reports, (performance.now() - started) / 1000];
}

const options = { sanitizeOps: false, sanitizeResources: false }; // the worker process

Deno.test({
  ...options,
  name: "a worker that never answers: statistics come back at askTimeout with the reason",
  fn: () =>
    withFake("silent", async (s) => {
      await s.waitReady(10);
      for (let i = 0; i < 3; i++) {
        const [reports, seconds] = await timedStatistics(s);
        assert.equal(reports.length, 1);
        assert.match(reports[0].error ?? "", /timed out/);
        assert.ok(seconds < 2, `${seconds} s`);
      }
    }),
});

Deno.test({
  ...options,
  name: "a worker that sends an endless control line is hung up on at the cap",
  fn: () =>
    withFake("endless", async (s) => {
      await s.waitReady(10);
      const before = Deno.memoryUsage().external + Deno.memoryUsage().heapUsed;
      // The supervisor reads at most the cap, then drops the connection.
      await withTimeout(20, async () => {
        for (;;) {
          const [reports] = await timedStatistics(s);
          if (/no control connection/.test(reports[0].error ?? "")) return;
        }
      });
      const grown = Deno.memoryUsage().external + Deno.memoryUsage().heapUsed - before;
      assert.ok(grown < 4 * MAX_MESSAGE_BYTES, `grew by ${grown} bytes`);
    }),
});

Deno.test({
  ...options,
  name: "a worker flooding replies nobody asked for: the supervisor goes on",
  fn: () =>
    withFake("flood", async (s) => {
      await s.waitReady(10);
      for (let i = 0; i < 3; i++) { // while the flood runs, and after
        const [reports, seconds] = await timedStatistics(s);
        assert.equal(reports.length, 1);
        assert.match(reports[0].error ?? "", /timed out/); // still connected, no answer
        assert.ok(seconds < 3, `${seconds} s`);
      }
    }),
});

Deno.test({
  ...options,
  name: "a connection claiming a pid the supervisor did not start is refused",
  fn: () =>
    withFake("impostor", async (s) => {
      await assert.rejects(s.waitReady(1.5), /timed out/);
      const [reports] = await timedStatistics(s);
      assert.equal(reports[0].ready, false);
    }),
});

/** A real worker (joinCluster) with an answer of 9 MiB, more than the default cap. */
const BIG_ANSWER_WORKER = `
import { joinCluster, main } from ${JSON.stringify(new URL("../../mod.ts", import.meta.url).href)};
await main(async () => {
  const member = await joinCluster({ answers: { big: () => "x".repeat(9 << 20) } });
  await member.waitForStop();
  member.close();
}, { signals: ["SIGINT"] });
`;

Deno.test({
  ...options,
  name: "maxMessageBytes: the control channel's cap is a knob, for workers' answers too",
  fn: async () => {
    for (const maxMessageBytes of [undefined, 16 << 20]) {
      const s = new Supervisor({
        workers: 1,
        command: ["eval", BIG_ANSWER_WORKER],
        maxMessageBytes,
        graceSeconds: 2,
        readyTimeout: 20,
        onEvent: () => {},
      });
      await inThread(async () => {
        await s.start();
        try {
          await s.waitReady(20);
          const [report] = await withTimeout(20, () => s.ask("big"));
          if (maxMessageBytes === undefined) {
            assert.match(report.error ?? "", /more than the control channel's 8388608/);
          } else {
            assert.equal(report.error, undefined);
            assert.equal((report.value as string).length, 9 << 20);
          }
        } finally {
          await s.stop();
        }
      });
    }
    assert.throws(() => new Supervisor({ command: [], maxMessageBytes: 0 }), RangeError);
  },
});

/**
 * A fake worker that reads nothing for a while, then every line until the end, and
 * writes what it found to the file named by its second argument.
 */
const SLOW_READER_WORKER = `
const path = Deno.env.get("SHRAPNEL_CLUSTER_CONTROL");
const id = Number(Deno.env.get("SHRAPNEL_WORKER_ID"));
const conn = await Deno.connect({ transport: "unix", path });
const hello = new TextEncoder().encode(JSON.stringify({ type: "ready", id, pid: Deno.pid }) + "\\n");
for (let i = 0; i < hello.length;) i += await conn.write(hello.subarray(i));
await new Promise((r) => setTimeout(r, 1500)); // reads nothing meanwhile
let text = "";
const buffer = new Uint8Array(1 << 16);
const decoder = new TextDecoder();
const deadline = setTimeout(() => conn.close(), 3000); // the end, or what came by then
for (;;) {
  let n = null;
  try {
    n = await conn.read(buffer);
  } catch {
    break; // closed by the deadline
  }
  if (n === null) break;
  text += decoder.decode(buffer.subarray(0, n));
}
clearTimeout(deadline);
const lines = text.split("\\n").slice(0, -1); // a last line without its end is cut by the close
let bad = 0;
for (const line of lines) {
  try { JSON.parse(line); } catch { bad++; }
}
Deno.writeTextFileSync(Deno.args[0], JSON.stringify({ lines: lines.length, bad }));
await new Promise((r) => setTimeout(r, 60_000));
`;

Deno.test({
  ...options,
  name: "questions timed out on a worker that does not read go out whole later, none cut",
  fn: async () => {
    const result = Deno.makeTempFileSync({ prefix: "shrapnel-slow-reader-" });
    Deno.removeSync(result);
    const s = new Supervisor({
      workers: 1,
      command: ["eval", SLOW_READER_WORKER, result],
      askTimeout: 0.2,
      graceSeconds: 1,
      readyTimeout: 10,
      onEvent: () => {},
    });
    const reported: unknown[][] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => reported.push(args);
    try {
      await inThread(async () => {
        await s.start();
        try {
          await s.waitReady(10);
          // Questions far larger than the socket's buffer: a send blocks and is cut.
          for (let i = 0; i < 4; i++) await s.ask("q".repeat(150_000));
          await sleep(1.5); // the worker reads from now on
          for (let i = 0; i < 3; i++) await s.ask("statistics");
          await withTimeout(10, async () => {
            for (;;) {
              try {
                Deno.statSync(result);
                return;
              } catch (e) {
                if (!(e instanceof Deno.errors.NotFound)) throw e;
              }
              await sleep(0.05);
            }
          });
          const found = JSON.parse(Deno.readTextFileSync(result));
          assert.deepEqual(found, { lines: 7, bad: 0 }, "every question came whole, in order");
        } finally {
          await s.stop();
        }
      });
    } finally {
      console.error = error;
      Deno.removeSync(result);
    }
    // The worker read every question whole, late: nothing to report.
    assert.deepEqual(reported.map((args) => String(args[0])), []);
  },
});
