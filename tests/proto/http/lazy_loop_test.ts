/**
 * The server's connection loop loads as the server starts (see proto/http/server.ts): a
 * fresh process checks the two paths where it is not loaded yet, a direct `serve()` and a
 * `close()` that comes before the load completes.
 */
import assert from "node:assert/strict";
import { BACKENDS } from "../../net/_backends.ts";
import { runDenoChild } from "../../_child.ts";
import { ffiUnavailableReason } from "../../../mod.ts";

const child = new URL("./lazy_loop_child.ts", import.meta.url).pathname;

async function run(mode: string, backend: string): Promise<Record<string, unknown>> {
  const { result, stderr } = await runDenoChild(child, { args: [mode, backend], timeout: 30 });
  assert.equal(stderr, "", "the child reported something");
  return result;
}

for (const backend of BACKENDS) {
  const unavailable = backend === "ffi" ? ffiUnavailableReason() : null;
  const ignore = unavailable !== null && Deno.env.get("CI") !== "true";

  Deno.test({
    name: `${backend}: serve() alone loads the connection loop with its first connection`,
    ignore,
    fn: async () => {
      const { reply } = await run("serve", backend) as { reply: string };
      assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(reply.endsWith("served\n"), reply);
    },
  });

  Deno.test({
    name: `${backend}: a server closed while its loop loads never accepts and leaves no thread`,
    ignore,
    fn: async () => {
      const result = await run("close", backend);
      assert.deepEqual(result, { acceptor: null, refused: true, left: [] });
    },
  });
}
