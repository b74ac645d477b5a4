/** The FFI shim outlives the workers that open it; their pollers do not. */
import assert from "node:assert/strict";
import { denoChildEnv, socketTest } from "./_backends.ts";

const child = new URL("./worker_exit_child.ts", import.meta.url).pathname;

socketTest(
  "a worker's end tears its poller down: sockets closed, descriptors back, no crash",
  async () => {
    // In a process of its own: the crash this specifies (a segfault when the poll returns
    // into a library Deno closed with the worker) would take the test runner down.
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", child],
      env: denoChildEnv(),
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
    assert.match(out, /refused/, `the worker's listener outlived it:\n${out}`);
    if (Deno.build.os === "linux") {
      assert.match(out, /closed 3 of 3/, `the worker's sockets outlived it:\n${out}`);
    }
  },
  { only: "ffi" },
);
