/** `deno task demo:mmo` as a user starts it: a port in use is one line, not a stack trace. */
import assert from "node:assert/strict";

Deno.test("a port in use prints one line suggesting --port, and exits 1", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-env",
        "--unstable-net",
        new URL("../../../demos/mmo/server.ts", import.meta.url).pathname,
        `--port=${taken.addr.port}`,
        "--wanderers=5",
        "--boxes=5",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 1);
    assert.equal(new TextDecoder().decode(out.stdout), "");
    // One line about the port (beside, perhaps, the backend notice), no stack trace.
    assert.deepEqual(stderr.split("\n").filter((l) => l.startsWith("field demo:")), [
      `field demo: 127.0.0.1 port ${taken.addr.port} is in use; pick another with --port=${
        taken.addr.port + 1
      }`,
    ]);
    assert.doesNotMatch(stderr, /^\s+at /m);
    assert.doesNotMatch(stderr, /AddressInUse|Error/);
  } finally {
    taken.close();
  }
});
