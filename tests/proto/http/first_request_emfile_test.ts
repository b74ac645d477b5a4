/**
 * A fetch handler's code loads lazily; its first request may come while the process has
 * no descriptor left (a connection flood). Deno 2.9 panics when it imports a module at
 * EMFILE (it reads the compiled code from its cache), so the handler's code must be
 * loaded when the handler is made, not by that request: the request is answered and the
 * process lives.
 */
import assert from "node:assert/strict";
import { BACKENDS } from "../../net/_backends.ts";
import { runDenoChild } from "../../_child.ts";

const child = new URL("./first_request_emfile_child.ts", import.meta.url).pathname;

for (const backend of BACKENDS) {
  Deno.test(`${backend}: a fetch handler's first request at EMFILE is answered`, async () => {
    const { result, stdout } = await runDenoChild<{ exhausted: number; status: string }>(child, {
      args: [backend],
      descriptorLimit: 128,
    });
    assert.ok(result.exhausted > 0, stdout);
    assert.equal(result.status, "HTTP/1.1 200 OK");
  });
}
