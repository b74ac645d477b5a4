/**
 * A client's code loads on its first connect: a load cut by `interrupt` ends that call
 * with the documented interruption (Interrupted), does not cut another thread waiting on
 * the same load, and is not remembered: the next connect loads and runs (here to a closed
 * port: ConnectionRefusedError). In a child process, since this one has the code loaded.
 */
import assert from "node:assert/strict";
import { BACKENDS } from "../net/_backends.ts";
import { runDenoChild } from "../_child.ts";

const child = new URL("./first_load_interrupted_child.ts", import.meta.url).pathname;

async function run(backend: string, client: string): Promise<Record<string, string>> {
  return (await runDenoChild<Record<string, string>>(child, { args: [backend, client] })).result;
}

for (const backend of BACKENDS) {
  for (const client of ["amqp", "ldap"]) {
    Deno.test(`${backend}: ${client}: a first load interrupted cuts only that thread`, async () => {
      assert.deepEqual(await run(backend, client), {
        cut: "Interrupted",
        other: "ConnectionRefusedError",
        after: "ConnectionRefusedError",
      });
    });
  }
}
