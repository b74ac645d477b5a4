/**
 * PeerLostError: one type for "the server went away mid-call", from every client. Here the
 * clients whose server is played by a fake peer that hangs up in the middle of a call
 * (LDAP, FTP, HTTP); Postgres, MySQL and AMQP are tested against their real servers
 * (tests/proto/{postgres,mysql}/pool_test.ts, tests/proto/amqp/recovering_test.ts).
 */
import assert from "node:assert/strict";
import { EOFError, markPeerLost, PeerLostError } from "../../net/errors.ts";
import { LdapClient } from "../../proto/ldap/mod.ts";
import { FtpClient, FtpError } from "../../proto/ftp/mod.ts";
import { HttpClient } from "../../proto/http/mod.ts";
import { inThread } from "../_helpers.ts";
import { withFakePeer } from "../_servers.ts";
import { socketTest } from "./_backends.ts";

const encoder = new TextEncoder();

Deno.test("markPeerLost keeps the error's own type and adds client, operation, cause", () => {
  const cause = new Error("reset");
  const e = markPeerLost(new EOFError(new Uint8Array(0), 4), "ldap", "search", cause);
  assert.ok(e instanceof PeerLostError && e instanceof EOFError);
  assert.equal(e.client, "ldap");
  assert.equal(e.operation, "search");
  assert.equal(e.cause, cause);
  assert.ok(!(new EOFError(new Uint8Array(0), 1) instanceof PeerLostError));
  assert.ok(!((null as unknown) instanceof PeerLostError));
  const own = new PeerLostError("http", "GET", cause);
  assert.ok(own instanceof PeerLostError && own instanceof Error);
  assert.match(own.message, /went away mid-call \(reset\)/);
});

Deno.test("LDAP: the server hangs up during a bind: PeerLostError (ldap, bind)", () =>
  inThread(() =>
    withFakePeer(async (conn) => {
      await conn.recv(4096); // the bind request, then gone
    }, async (port) => {
      const ldap = await LdapClient.connect({ port });
      try {
        const error = await ldap.bind("cn=x", "y").then(() => null, (e) => e);
        assert.ok(error instanceof PeerLostError, String(error));
        assert.equal(error.client, "ldap");
        assert.equal(error.operation, "bind");
        assert.ok(error instanceof EOFError); // what it was before, still
      } finally {
        await ldap.unbind();
      }
    })
  ));

Deno.test("FTP: the server hangs up after a command: PeerLostError (ftp, PWD)", () =>
  inThread(() =>
    withFakePeer(async (conn) => {
      await conn.send(encoder.encode("220 hello\r\n"));
      await conn.recv(4096); // USER
      await conn.send(encoder.encode("331 password\r\n"));
      await conn.recv(4096); // PASS
      await conn.send(encoder.encode("230 in\r\n"));
      await conn.recv(4096); // TYPE I
      await conn.send(encoder.encode("200 binary\r\n"));
      await conn.recv(4096); // PWD, then gone
    }, async (port) => {
      const ftp = await FtpClient.connect({ host: "127.0.0.1", port, user: "u", password: "p" });
      try {
        const error = await ftp.pwd().then(() => null, (e) => e);
        assert.ok(error instanceof PeerLostError, String(error));
        assert.equal(error.client, "ftp");
        assert.equal(error.operation, "PWD");
        assert.ok(error instanceof FtpError);
      } finally {
        await ftp.quit();
      }
    })
  ));

socketTest("FTP: the server hangs up inside a reply line: PeerLostError (ftp, PWD)", async () => {
  // A line cut by the end of the stream is never a reply: neither a malformed one ("25"),
  // nor a whole one ("257 \"/ro" would name the wrong directory), nor a multi-line one's end.
  for (const cut of ["25", '257 "/ro', "257-a\r\n b\r\n25", "257-a\r\n257 en"]) {
    await withFakePeer(async (conn) => {
      await conn.send(encoder.encode("220 hello\r\n"));
      await conn.recv(4096); // USER
      await conn.send(encoder.encode("331 password\r\n"));
      await conn.recv(4096); // PASS
      await conn.send(encoder.encode("230 in\r\n"));
      await conn.recv(4096); // TYPE I
      await conn.send(encoder.encode("200 binary\r\n"));
      await conn.recv(4096); // PWD
      await conn.send(encoder.encode(cut)); // then gone
    }, async (port) => {
      const ftp = await FtpClient.connect({ host: "127.0.0.1", port, user: "u", password: "p" });
      try {
        const error = await ftp.pwd().then((dir) => dir, (e) => e);
        assert.ok(error instanceof PeerLostError, `${JSON.stringify(cut)}: ${error}`);
        assert.equal(error.client, "ftp");
        assert.equal(error.operation, "PWD");
        assert.ok(error instanceof FtpError && error.code === 0);
      } finally {
        await ftp.quit();
      }
    });
  }
});

Deno.test("HTTP client: the server hangs up before the response: PeerLostError (http, GET)", () =>
  inThread(() =>
    withFakePeer(async (conn) => {
      await conn.recv(4096); // the request, then gone
    }, async (port) => {
      const client = new HttpClient();
      try {
        const error = await client.request(`http://127.0.0.1:${port}/`).then(() => null, (e) => e);
        assert.ok(error instanceof PeerLostError, String(error));
        assert.equal(error.client, "http");
        assert.equal(error.operation, "GET");
      } finally {
        client.close();
      }
    })
  ));
