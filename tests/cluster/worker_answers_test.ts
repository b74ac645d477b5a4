/**
 * A worker's answers on the control channel: one that cannot be sent (not JSON, or past the
 * channel's line limit) is an error reply to the asker, and the worker stays in the
 * cluster (it used to take the failure for the supervisor gone, and stop).
 */
import assert from "node:assert/strict";
import { denoChildEnv } from "../net/_backends.ts";

async function readLine(conn: Deno.Conn, pending: { buf: string }): Promise<string> {
  const chunk = new Uint8Array(1 << 16);
  const deadline = performance.now() + 10_000; // the read is bounded: a test must end
  for (;;) {
    const at = pending.buf.indexOf("\n");
    if (at >= 0) {
      const line = pending.buf.slice(0, at);
      pending.buf = pending.buf.slice(at + 1);
      return line;
    }
    const left = deadline - performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(chunk),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no line from the worker in 10 s")), left);
      }),
    ]).finally(() => clearTimeout(timer));
    if (n === null) throw new Error("the worker closed its control connection");
    pending.buf += new TextDecoder("latin1").decode(chunk.subarray(0, n));
  }
}

Deno.test("worker answers: unsendable or oversized answers are error replies; the worker stays", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/control`;
  const listener = Deno.listen({ transport: "unix", path });
  const worker = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", WORKER],
    env: { ...denoChildEnv(), SHRAPNEL_WORKER_ID: "1", SHRAPNEL_CLUSTER_CONTROL: path },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  try {
    const conn = await accept(listener);
    const pending = { buf: "" };
    try {
      assert.equal(JSON.parse(await readLine(conn, pending)).type, "ready");
      const ask = async (seq: number, what: string) => {
        await conn.write(
          new TextEncoder().encode(JSON.stringify({ type: "ask", seq, what }) + "\n"),
        );
        return JSON.parse(await readLine(conn, pending));
      };
      const big = await ask(1, "big");
      assert.equal(big.seq, 1);
      assert.equal(typeof big.error, "string", JSON.stringify(big));
      const huge = await ask(2, "huge");
      assert.equal(huge.seq, 2);
      assert.equal(typeof huge.error, "string");
      assert.equal(huge.value, undefined);
      await new Promise((r) => setTimeout(r, 50));
      const { value: state } = await ask(3, "stopping");
      assert.equal(state.stopping, false, `stopped: ${state.reason}`);
      assert.deepEqual(await ask(4, "fine"), { type: "reply", seq: 4, value: 42 });
    } finally {
      conn.close(); // the worker takes it for the supervisor gone, and stops
    }
    assert.equal((await worker.status).code, 0);
  } finally {
    listener.close();
    try {
      worker.kill("SIGKILL");
    } catch { /* exited already */ }
    await worker.status;
    await Deno.remove(dir, { recursive: true });
  }
});

const WORKER = new URL("./_answering_worker.ts", import.meta.url).pathname;

/** The worker's control connection, within 20 s (a test must end). */
async function accept(listener: Deno.Listener): Promise<Deno.Conn> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return await Promise.race([
    listener.accept(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the worker did not connect in 20 s")), 20_000);
    }),
  ]).finally(() => clearTimeout(timer));
}
