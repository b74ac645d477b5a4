/** The worker side outside a cluster: no id, and joinCluster says why it cannot join. */
import assert from "node:assert/strict";
import { isWorker, joinCluster, NotAWorkerError, workerId } from "../../mod.ts";
import { inThread } from "../_helpers.ts";

function withEnv(values: Record<string, string | undefined>, fn: () => Promise<void> | void) {
  const old = Object.fromEntries(Object.keys(values).map((k) => [k, Deno.env.get(k)]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      x === undefined ? Deno.env.delete(k) : Deno.env.set(k, x);
    }
  };
  apply(values);
  return Promise.resolve(fn()).finally(() => apply(old));
}

Deno.test("outside a cluster: not a worker, no id, joinCluster throws NotAWorkerError", () =>
  withEnv({ SHRAPNEL_WORKER_ID: undefined, SHRAPNEL_CLUSTER_CONTROL: undefined }, async () => {
    assert.equal(isWorker(), false);
    assert.equal(workerId(), null);
    await assert.rejects(inThread(() => joinCluster()), NotAWorkerError);
  }));

Deno.test("a worker id that is not a positive integer is no worker id", async () => {
  for (const bad of ["0", "-1", "1.5", "abc", ""]) {
    await withEnv({ SHRAPNEL_WORKER_ID: bad }, () => {
      assert.equal(isWorker(), false, bad);
      assert.equal(workerId(), null, bad);
    });
  }
  await withEnv({ SHRAPNEL_WORKER_ID: "3" }, () => assert.equal(workerId(), 3));
  assert.equal(Deno.env.get("SHRAPNEL_WORKER_ID"), undefined);
});

Deno.test("an id without a control path cannot join", () =>
  withEnv({ SHRAPNEL_WORKER_ID: "1", SHRAPNEL_CLUSTER_CONTROL: undefined }, async () => {
    assert.equal(isWorker(), true);
    await assert.rejects(inThread(() => joinCluster()), NotAWorkerError);
  }));
