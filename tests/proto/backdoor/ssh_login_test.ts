/**
 * The SSH backdoor's login deadline: a peer that connects and never authenticates is
 * disconnected after `loginTimeout` (ssh2's server has no such deadline of its own).
 * A file of its own: the OpenSSH test's thread context outlives it (see ssh_test.ts).
 */
import assert from "node:assert/strict";
import { serveSsh } from "../../../proto/backdoor/mod.ts";
import { inThread } from "../../_helpers.ts";
import { waitFor, withTimeout } from "../../../mod.ts";

const ci = Deno.env.get("CI") === "true";
const keygen = (() => {
  try {
    return Deno.statSync("/usr/bin/ssh-keygen").isFile;
  } catch {
    return false;
  }
})();

async function hostKey(dir: string): Promise<string> {
  const path = `${dir}/host`;
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", path],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return await Deno.readTextFile(path);
}

Deno.test({
  name: `ssh: a peer that never authenticates is cut off by loginTimeout${
    keygen || ci ? "" : " (skipped: no ssh-keygen)"
  }`,
  ignore: !keygen && !ci,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      const dir = await Deno.makeTempDir();
      const key = await hostKey(dir);
      const backdoor = await serveSsh({ hostKey: key, loginTimeout: 0.3 });
      const { port } = backdoor.address as { port: number };
      const silent = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const start = performance.now();
        const buffer = new Uint8Array(4096);
        // The server's banner may come first; then the end of the stream.
        const ended = await withTimeout(5, async () => {
          for (;;) {
            const n = await waitFor(silent.read(buffer));
            if (n === null) return true;
          }
        });
        assert.ok(ended);
        assert.ok(performance.now() - start < 3000);
        assert.equal(backdoor.statistics().acceptor.open, 0);
      } finally {
        silent.close();
        await backdoor.close();
        await Deno.remove(dir, { recursive: true });
      }
    }),
});
