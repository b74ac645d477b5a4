// The error vocabulary: one ProtocolError base for every protocol's "the peer sent
// garbage", families that still match their protocol error, the naming rule, the
// deprecated aliases, and the README's tree being the code's.

import assert from "node:assert/strict";
import { Interrupted, ProtocolError, ShrapnelError } from "../core/errors.ts";
import { TimeoutExpired } from "../core/with_timeout.ts";
import * as net from "../net/mod.ts";
import * as http from "../proto/http/mod.ts";
import * as dns from "../proto/dns/mod.ts";
import * as ftp from "../proto/ftp/mod.ts";
import * as ssh from "../proto/ssh/mod.ts";
import * as amqp from "../proto/amqp/mod.ts";
import * as ldap from "../proto/ldap/mod.ts";
import * as mysql from "../proto/mysql/mod.ts";
import * as postgres from "../proto/postgres/mod.ts";
import { WebSocketError } from "../proto/websocket/mod.ts";
import { ControlProtocolError } from "../net/_cluster_control.ts";
import { currentBlock, errorTree, exportedErrorClasses, readmeBlock } from "../tools/error_tree.ts";

Deno.test("every protocol's garbage error is a ProtocolError naming its protocol", () => {
  const cases: [ProtocolError, string][] = [
    [new http.HttpProtocolError("bad chunk"), "http"],
    [new http.Http2Error(1, "bad frame"), "http2"],
    [new http.Http2StreamError(1, "bad pseudo-header"), "http2"],
    [new WebSocketError(1002, "unmasked frame"), "websocket"],
    [new dns.MalformedPacketError("x.test", "A", "cut short"), "dns"],
    [new ftp.FtpProtocolError("malformed reply"), "ftp"],
    [new ssh.SshProtocolError("Bad packet length"), "ssh"],
    [new amqp.AmqpProtocolError("bad frame end"), "amqp"],
    [new ldap.LdapProtocolError("bad length"), "ldap"],
    [new mysql.MysqlProtocolError("PROTOCOL_PACKETS_OUT_OF_ORDER", "x"), "mysql"],
    [new postgres.PostgresProtocolError("unexpected message"), "postgres"],
    [new ControlProtocolError("not JSON"), "cluster"],
    [new net.TlsProtocolError("handshake", "received corrupt message"), "tls"],
  ];
  for (const [error, protocol] of cases) {
    assert(error instanceof ProtocolError, error.name);
    assert(error instanceof ShrapnelError, error.name);
    assert.deepEqual(error.protocol, protocol, error.name);
  }
  // The base exported by /http is the same class as /core's (it was HTTP's own before).
  assert.deepEqual(http.ProtocolError, ProtocolError);
});

Deno.test("a protocol's family still matches its protocol error, and only its own", () => {
  const malformed = new dns.MalformedPacketError("x.test", "A", "cut short");
  assert(malformed instanceof dns.DnsError);
  assert.deepEqual([malformed.qname, malformed.qtype], ["x.test", "A"]);
  assert.deepEqual(malformed.message, "x.test A: cut short");
  assert.ok(!(malformed instanceof dns.ServerFailureError)); // subclasses are not widened
  assert.ok(!(malformed instanceof dns.NameNotFoundError));

  const h1 = new http.HttpProtocolError("bad chunk", 400);
  const h2 = new http.Http2Error(9, "bad index");
  for (const e of [h1, h2]) {
    assert(e instanceof http.HttpError);
    assert.deepEqual(e.status, 400);
  }
  assert.ok(!(h1 instanceof http.BodyTooLargeError));
  assert.ok(!(new WebSocketError(1002, "x") instanceof http.HttpError)); // not another family's

  const reply = new ftp.FtpProtocolError('malformed reply "x"');
  assert(reply instanceof ftp.FtpError);
  assert.deepEqual(reply.code, 0);

  const tls = new net.TlsProtocolError("handshake", "peer misbehaved");
  assert(tls instanceof net.TlsError && tls instanceof net.SocketError);
  assert.deepEqual([tls.code, tls.syscall], ["ETLS", "handshake"]);
  assert.ok(!(tls instanceof net.ConnectionResetError));
  assert.ok(!(new net.ConnectionResetError("EPIPE", "send") instanceof ProtocolError));
  assert(new net.TlsError("ETLS", "handshake", "x") instanceof net.SocketError);

  assert(new ssh.SshProtocolError("x") instanceof ssh.SshError);
  assert.ok(!(new ssh.SshProtocolError("x") instanceof ssh.HostKeyError));

  // The families' own members are plain subclasses, as before.
  assert(new dns.NameNotFoundError("x", "A") instanceof dns.DnsError);
  assert.ok(!(new dns.NameNotFoundError("x", "A") instanceof ProtocolError));
  assert(new http.BodyTooLargeError(1) instanceof http.HttpError);
  assert.ok(!(new http.BodyTooLargeError(1) instanceof ProtocolError));
  assert.ok(!(new ftp.FtpError(550, "no") instanceof ProtocolError));
});

Deno.test("every exported error class is named *Error, but the stop signals", async () => {
  // Interrupted and the interruptions that only say "stop" are named for what happened, as
  // Trio's Cancelled: docs/design.md states the rule.
  const signals = new Set(["Interrupted", "Shutdown", "TimeoutExpired"]);
  const classes = await exportedErrorClasses();
  assert(classes.size > 50, `only ${classes.size} error classes found`);
  for (const [name, { cls }] of classes) {
    if (signals.has(name)) {
      assert(cls === Interrupted || cls.prototype instanceof Interrupted, name);
    } else {
      assert(name.endsWith("Error"), `${name} does not end in "Error"`);
    }
    assert(cls === ShrapnelError || cls.prototype instanceof ShrapnelError, `${name}`);
  }
  assert(classes.has("TimeoutExpired") && TimeoutExpired.prototype instanceof Interrupted);
});

Deno.test("the renamed classes keep their old names as deprecated aliases", () => {
  const e = new net.UnsupportedOperationError("fdSocket", "deno");
  assert(e instanceof net.UnsupportedOperation);
  assert.deepEqual(net.UnsupportedOperation, net.UnsupportedOperationError);
  assert.deepEqual(e.name, "UnsupportedOperationError");
  assert.deepEqual(net.BackendUnavailable, net.BackendUnavailableError);
  assert(new net.BackendUnavailable("no shim") instanceof net.BackendUnavailableError);
});

Deno.test("README.md lists the error tree the code has", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const block = currentBlock(readme);
  assert(block !== null, "README.md has lost its error-tree markers");
  assert.deepEqual(block, readmeBlock(await errorTree()), "run: deno task errors:tree");
});
