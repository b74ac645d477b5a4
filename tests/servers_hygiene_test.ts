/**
 * A test file that starts a shared server with `withServer` (tests/_servers.ts) must end
 * with its `finish()`, the test that stops it: without it the server outlives the run (a
 * RabbitMQ node was left running by every CI run until this check).
 */
import assert from "node:assert/strict";

const root = new URL("./", import.meta.url);

async function* testFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* testFiles(url);
    else if (entry.name.endsWith("_test.ts")) yield url;
  }
}

Deno.test("every test file that starts a shared server with withServer stops it with finish()", async () => {
  const missing: string[] = [];
  let users = 0;
  for await (const file of testFiles(root)) {
    const source = await Deno.readTextFile(file);
    // The shared helper is imported from _servers.ts; some files define a local withServer.
    if (!/import \{[^}]*\bwithServer\b[^}]*\} from "[./]*_servers\.ts"/.test(source)) continue;
    if (!/= await withServer\(/.test(source)) continue;
    users++;
    if (!/\.finish\(\)/.test(source)) missing.push(file.pathname.slice(root.pathname.length));
  }
  assert.ok(users > 5, `found only ${users} files using withServer: the pattern is stale`);
  assert.deepEqual(missing, []);
});
