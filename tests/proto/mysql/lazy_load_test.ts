/**
 * mysql2 loaded by a thread's first MySQL use: the load begins outside the thread's async
 * context (core/_lazy_import.ts), so nothing of that context outlives the thread. A file of
 * its own: mysql2 must not be loaded yet when the first test runs.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { current, spawn } from "../../../mod.ts";
import { loadMysql2 } from "../../../proto/mysql/mod.ts";

const mark = new AsyncLocalStorage<string>();

Deno.test("a thread's first MySQL use loads mysql2 and is still that thread after it", async () => {
  const loader = mark.run(
    "the loading thread's context",
    () =>
      spawn({ name: "loader" }, async () => {
        await loadMysql2();
        return current()?.name;
      }),
  );
  assert.equal(await loader.join(), "loader");
});

Deno.test("after it: the next test runs in none of the loading thread's context", async () => {
  await Promise.resolve();
  assert.equal(mark.getStore(), undefined);
  assert.equal(current(), null);
});
