/**
 * Run by emfile_test.ts under a low descriptor limit: opens connections until the process
 * runs out of descriptors, then checks the error is typed and nothing is lost. Prints
 * "accepted N after EMFILE" on success.
 */
import assert from "node:assert/strict";
import {
  connectTo,
  listenOn,
  setBackend,
  type Socket,
  spawn,
  TooManyOpenFilesError,
  withTimeout,
} from "../../mod.ts";

setBackend(Deno.args[0] as "ffi" | "deno");
await spawn(async () => {
  const server = listenOn("127.0.0.1:0");
  const open: Socket[] = [];
  let error: unknown = null;
  for (let i = 0; i < 1000 && error === null; i++) {
    try {
      open.push(await connectTo(server.getsockname()));
      const [conn] = await withTimeout(2, () => server.accept());
      open.push(conn);
    } catch (e) {
      error = e;
    }
  }
  assert.ok(error instanceof TooManyOpenFilesError, `expected EMFILE, got ${error}`);
  // Free some descriptors: the server goes on accepting.
  for (const s of open.splice(0, 10)) s.close();
  const client = await connectTo(server.getsockname());
  const [conn] = await withTimeout(2, () => server.accept());
  await client.send(new Uint8Array([42]));
  assert.deepEqual(await conn.recvExact(1), new Uint8Array([42]));
  console.log(`ok after EMFILE (${error})`);
  for (const s of [...open, client, conn, server]) s.close();
}).join();
