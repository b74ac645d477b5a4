/**
 * A worker's answers on the control channel: one that cannot be sent (not JSON, or past the
 * channel's line limit) is an error reply to the asker, and the worker stays in the
 * cluster (it used to take the failure for the supervisor gone, and stop).
 */
import assert from "node:assert/strict";
import { joinCluster, sleep } from "../../mod.ts";
import { inThread } from "../_helpers.ts";

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
  const old = [Deno.env.get("SHRAPNEL_WORKER_ID"), Deno.env.get("SHRAPNEL_CLUSTER_CONTROL")];
  Deno.env.set("SHRAPNEL_WORKER_ID", "1");
  Deno.env.set("SHRAPNEL_CLUSTER_CONTROL", path);
  try {
    const accepted = listener.accept();
    await inThread(async () => {
      const member = await joinCluster({
        answers: {
          big: () => ({ n: 1n }), // BigInt: JSON.stringify throws
          huge: () => "x".repeat(9 << 20), // past the 8 MiB line limit
          fine: () => 42,
        },
      });
      const conn = await accepted;
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
        await sleep(0.05);
        assert.equal(member.stopping, false, `stopped: ${member.stopReason}`);
        assert.deepEqual(await ask(3, "fine"), { type: "reply", seq: 3, value: 42 });
      } finally {
        member.close();
        conn.close();
      }
    });
  } finally {
    listener.close();
    old[0] === undefined
      ? Deno.env.delete("SHRAPNEL_WORKER_ID")
      : Deno.env.set("SHRAPNEL_WORKER_ID", old[0]);
    old[1] === undefined
      ? Deno.env.delete("SHRAPNEL_CLUSTER_CONTROL")
      : Deno.env.set("SHRAPNEL_CLUSTER_CONTROL", old[1]);
    await Deno.remove(dir, { recursive: true });
  }
});
