/** The FFI shim outlives the workers that open it. */
import assert from "node:assert/strict";
import { socketTest } from "./_backends.ts";

const child = new URL("./worker_exit_child.ts", import.meta.url).pathname;

socketTest(
  "a poll blocked when its worker ends returns safely (the shim stays loaded)",
  async () => {
    // In a process of its own: the crash this specifies (a segfault when the poll returns
    // into a library Deno closed with the worker) would take the test runner down.
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", child],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const out = new TextDecoder().decode(output.stdout);
    assert.equal(
      output.signal,
      null,
      `the child died of ${output.signal}:\n${new TextDecoder().decode(output.stderr)}`,
    );
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.match(out, /survived/);
  },
  { only: "ffi" },
);
