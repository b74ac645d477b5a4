/**
 * The checkpoint rule on sockets: a recv with data already there still throws a pending
 * interruption (and reads nothing), on both backends.
 */
import assert from "node:assert/strict";
import { connectTo, current, Interrupted, listenOn } from "../../mod.ts";
import { bytes, socketTest, text } from "./_backends.ts";

socketTest(
  "recv with data waiting: a pending interrupt is thrown and nothing is read",
  async () => {
    const server = listenOn("127.0.0.1:0");
    const client = await connectTo(server.localAddress());
    const [conn] = await server.accept();
    try {
      await client.send(bytes("hello world"));
      assert.equal(text(await conn.recvExact(6)), "hello "); // the rest is there now
      current()!.interrupt(new Interrupted("pending"));
      await assert.rejects(conn.recv(100), Interrupted);
      assert.equal(text(await conn.recvExact(5)), "world");
    } finally {
      for (const s of [client, conn, server]) s.close();
    }
  },
);
