/** A worker's answer that cannot be sent is an error to the asker, not the worker's stop. */
import assert from "node:assert/strict";
import { ClusterMembership, SocketReader, withTimeout } from "../../mod.ts";
import { connectTo, listenOn } from "../../net/constructors.ts";
import { MAX_MESSAGE_BYTES, readMessage, sendMessage } from "../../net/_cluster_control.ts";
import { inThread } from "../_helpers.ts";

Deno.test("an answer JSON cannot carry, or too long a one, is an error reply; the worker goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-answers-" });
  try {
    await inThread(async () => {
      const listener = listenOn(`${dir}/control`);
      const workerSide = await connectTo(`${dir}/control`);
      const supervisorSide = (await listener.accept())[0];
      const member = new ClusterMembership(1, workerSide, () => ({}), {
        bigint: () => 1n,
        cycle: () => {
          const o: Record<string, unknown> = {};
          o.self = o;
          return o;
        },
        huge: () => "x".repeat(MAX_MESSAGE_BYTES + 1),
        fine: () => "ok",
      });
      try {
        const reader = new SocketReader(supervisorSide);
        let seq = 0;
        for (const what of ["bigint", "cycle", "huge", "fine"]) {
          await sendMessage(supervisorSide, { type: "ask", seq: ++seq, what });
          const reply = await withTimeout(5, () => readMessage(reader));
          assert.equal(reply?.seq, seq, what);
          if (what === "fine") assert.equal(reply?.value, "ok");
          else assert.equal(typeof reply?.error, "string", `${what}: ${JSON.stringify(reply)}`);
          assert.equal(member.stopping, false, `${what} stopped the worker`);
        }
      } finally {
        member.close();
        supervisorSide.close();
        listener.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
