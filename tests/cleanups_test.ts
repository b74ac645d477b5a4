/** withCleanups (tests/_cleanups.ts): every cleanup step runs, and every error comes out. */
import assert from "node:assert/strict";
import { withCleanups } from "./_cleanups.ts";

Deno.test("withCleanups: a step that throws stops none of the next; its error comes out", async () => {
  const ran: string[] = [];
  const broken = new Error("ip netns del: busy");
  const error = await withCleanups(() => {
    ran.push("body");
    return Promise.resolve();
  }, () => [
    () => ran.push("kill"),
    () => {
      throw broken;
    },
    async () => {
      await Promise.resolve();
      ran.push("del router");
    },
    () => ran.push("del client"),
  ]).then(() => null, (e) => e);
  assert.equal(error, broken);
  assert.deepEqual(ran, ["body", "kill", "del router", "del client"]);
});

Deno.test("withCleanups: the body's failure and the steps' all come out, the body's first", async () => {
  const failed = new Error("assertion"), first = new Error("a"), second = new Error("b");
  let last = false;
  const error = await withCleanups(() => Promise.reject(failed), () => [
    () => {
      throw first;
    },
    () => {
      throw second;
    },
    () => last = true,
  ]).then(() => null, (e) => e);
  assert.ok(error instanceof AggregateError);
  assert.deepEqual(error.errors, [failed, first, second]);
  assert.ok(last);
});

Deno.test("withCleanups: a body that succeeds with clean steps gives its result", async () => {
  const steps: string[] = [];
  assert.equal(await withCleanups(() => Promise.resolve(7), () => [() => steps.push("x")]), 7);
  assert.deepEqual(steps, ["x"]);
  const error = await withCleanups(() => Promise.resolve(7), () => [() => {
    throw new RangeError("qdisc");
  }]).then(() => null, (e) => e);
  assert.ok(error instanceof RangeError);
});
