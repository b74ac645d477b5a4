/**
 * The protocol clients, the HTTP client and handlers, the DNS resolver and the cluster
 * supervisor load their code on first use. A program run without --allow-read must
 * still be able to use them: each first call fails at the network (nothing listens), or
 * works, never at the module's load (a permission prompt or error).
 */
import assert from "node:assert/strict";
import { denoChildEnv } from "../net/_backends.ts";

const child = new URL("./allow_net_only_child.ts", import.meta.url).pathname;

Deno.test("the lazily loaded code loads without --allow-read", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    env: denoChildEnv(),
    args: ["run", "--allow-net", "--allow-env", "--no-prompt", child],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const out = new TextDecoder().decode(output.stdout);
  const err = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `child failed:\n${out}\n${err}`);
  const outcomes: Record<string, string> = JSON.parse(out.trim().split("\n").at(-1)!);
  const refused = ["ftp", "ldap", "ssh", "amqp", "postgres", "mysql", "http", "websocket"];
  for (const name of refused) assert.match(outcomes[name], /^ConnectionRefusedError/, name);
  assert.match(outcomes.dns, /^ServerFailureError: .*no answer/);
  assert.equal(outcomes.supervisor, "ok");
  assert.equal(outcomes.fetchHandler, "ok");
});
