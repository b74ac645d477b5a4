/** The BSD-style socket names and noun-first TLS names stay as deprecated aliases. */
import assert from "node:assert/strict";
import { connectTls, connectTo, listenOn, listenTls, tlsConnect, tlsListen } from "../../mod.ts";
import { socketTest } from "./_backends.ts";

Deno.test("tlsConnect and tlsListen are connectTls and listenTls", () => {
  assert.equal(tlsConnect, connectTls);
  assert.equal(tlsListen, listenTls);
});

socketTest(
  "getsockname, getpeername, setsockopt, getsockopt call the camelCase methods",
  async () => {
    const server = listenOn("127.0.0.1:0");
    const client = await connectTo(server.localAddress());
    const [conn] = await server.accept();
    try {
      assert.deepEqual(server.getsockname(), server.localAddress());
      assert.deepEqual(client.getpeername(), server.localAddress());
      assert.deepEqual(conn.getpeername(), client.localAddress());
      client.setsockopt("TCP_NODELAY", true);
      assert.equal(client.getOption("TCP_NODELAY"), 1);
      client.setOption("TCP_NODELAY", false);
      assert.equal(client.getsockopt("TCP_NODELAY"), 0);
    } finally {
      conn.close();
      client.close();
      server.close();
    }
  },
);
