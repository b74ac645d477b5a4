/** Renamed exports keep their old names as deprecated aliases of the same thing. */
import assert from "node:assert/strict";
import { connectTls, connectTo, listenOn, listenTls, tlsConnect, tlsListen } from "../../mod.ts";
import { backdoor, mysql, postgres } from "../../mod.ts";
import { DnsResolver } from "../../proto/dns/mod.ts";
import { favicon, faviconHandler, staticFiles, staticFilesHandler } from "../../proto/http/mod.ts";
import { socketTest } from "./_backends.ts";

Deno.test("serveSsh, the handlers, looksLikeRead and DnsResolver.lookup keep their old names", async () => {
  assert.equal(backdoor.sshServe, backdoor.serveSsh);
  assert.equal(favicon, faviconHandler);
  assert.equal(staticFiles, staticFilesHandler);
  assert.equal(mysql.looksLikeMysqlRead, mysql.looksLikeRead);
  assert.equal(mysql.looksLikeRead("SELECT 1"), postgres.looksLikeRead("SELECT 1"));
  class Fixed extends DnsResolver {
    override lookup(name: string): Promise<string> {
      return Promise.resolve(`looked up ${name}`);
    }
  }
  assert.equal(await new Fixed().gethostbyname("a.test"), "looked up a.test");
});

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
