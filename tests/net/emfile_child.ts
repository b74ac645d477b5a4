/**
 * Run by emfile_test.ts under a low descriptor limit: opens connections until the process
 * runs out of descriptors, then checks the error is typed and nothing is lost: a connection
 * whose accept failed stays queued and is accepted once descriptors are free. Prints
 * "ok after EMFILE (...)" on success.
 */
import assert from "node:assert/strict";
import {
  type Address,
  connectTo,
  listenOn,
  setBackend,
  type Socket,
  spawn,
  TooManyOpenFilesError,
  withTimeout,
} from "../../mod.ts";

setBackend(Deno.args[0] as "ffi" | "deno");

const key = (a: Address): string => JSON.stringify(a);

await spawn(async () => {
  const server = listenOn("127.0.0.1:0");
  const open: Socket[] = [];
  // Clients whose connection has not been accepted yet, by their local address.
  const unaccepted = new Map<string, Socket>();
  let error: unknown = null;
  for (let i = 0; i < 1000 && error === null; i++) {
    try {
      const client = await connectTo(server.localAddress());
      open.push(client);
      unaccepted.set(key(client.localAddress()), client);
      const [conn, peer] = await withTimeout(2, () => server.accept());
      open.push(conn);
      unaccepted.delete(key(peer));
    } catch (e) {
      error = e;
    }
  }
  assert.ok(error instanceof TooManyOpenFilesError, `expected EMFILE, got ${error}`);
  // Free some descriptors (never a client still waiting to be accepted).
  const waiting = new Set(unaccepted.values());
  const freed = open.filter((s) => !waiting.has(s)).slice(0, 10);
  for (const s of freed) {
    s.close();
    open.splice(open.indexOf(s), 1);
  }
  // The server goes on: first the connection whose accept failed, then a new one.
  const client = await connectTo(server.localAddress());
  unaccepted.set(key(client.localAddress()), client);
  open.push(client);
  const pairs: [Socket, Socket][] = [];
  while (unaccepted.size > 0) {
    const [conn, peer] = await withTimeout(2, () => server.accept());
    const from = unaccepted.get(key(peer));
    assert.ok(from, `accepted an unknown peer ${key(peer)}`);
    unaccepted.delete(key(peer));
    open.push(conn);
    pairs.push([from, conn]);
  }
  for (const [from, conn] of pairs) {
    await from.send(new Uint8Array([42]));
    assert.deepEqual(await withTimeout(2, () => conn.recvExact(1)), new Uint8Array([42]));
  }
  console.log(`ok after EMFILE (${error}), ${pairs.length} queued accepted`);
  for (const s of [...open, server]) s.close();
}).join();
