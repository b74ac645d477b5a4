/**
 * A module loaded by a thread's dynamic import() finishes loading in a later task that
 * Deno runs in the importing thread's async context, after the thread may have ended:
 * code there (the next test, a timer) is in no thread, and blocking calls made from it
 * take the outside path instead of failing on a dead thread.
 */
import assert from "node:assert/strict";
import { current, spawn } from "../../mod.ts";

Deno.test("a thread that loaded an npm module leaves no stale context behind", async () => {
  const importer = spawn({ name: "importer" }, async () => {
    await import("dns-packet"); // first load: resolved from the host's module loader
    return current()?.name;
  });
  assert.equal(await importer.join(), "importer");
});

Deno.test("after it: the next task is in no thread, and joins from outside work", async () => {
  assert.equal(current(), null);
  assert.equal(await spawn(() => 7).join(), 7);
});
