/**
 * The protocol clients, the HTTP client and handlers, the DNS resolver and the cluster
 * supervisor load their code on first use. A program run without --allow-read must
 * still be able to use them: each first call fails at the network (nothing listens), or
 * works, never at the module's load (a permission prompt or error).
 */
import assert from "node:assert/strict";
import { runDenoChild } from "../_child.ts";

const child = new URL("./allow_net_only_child.ts", import.meta.url).pathname;

Deno.test("the lazily loaded code loads without --allow-read", async () => {
  const { result: outcomes } = await runDenoChild<Record<string, string>>(child, {
    flags: ["--allow-net", "--allow-env", "--no-prompt"],
  });
  const refused = ["ftp", "ldap", "ssh", "amqp", "postgres", "mysql", "http", "websocket"];
  for (const name of refused) assert.match(outcomes[name], /^ConnectionRefusedError/, name);
  assert.match(outcomes.dns, /^ServerFailureError: .*no answer/);
  assert.equal(outcomes.supervisor, "ok");
  assert.equal(outcomes.fetchHandler, "ok");
});
