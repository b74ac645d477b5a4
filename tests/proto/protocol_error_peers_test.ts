/**
 * Hostile peers: a server that answers with bytes that are not the protocol gets the
 * client's ProtocolError (its own family's member too), promptly and typed.
 */
import assert from "node:assert/strict";
import {
  connectTls,
  listenOn,
  ProtocolError,
  type Socket,
  SocketError,
  spawn,
  TlsError,
  TlsProtocolError,
  withTimeout,
} from "../../mod.ts";
import { FtpClient, FtpError, FtpProtocolError } from "../../proto/ftp/mod.ts";
import { SshClient, SshError, SshProtocolError } from "../../proto/ssh/mod.ts";
import { socketTest } from "../net/_backends.ts";

const encoder = new TextEncoder();

/**
 * A one-connection server that sends `lines` (after the client's first bytes when it
 * `speaksSecond`) and keeps the connection until the client hangs up.
 */
function hostile(lines: Uint8Array, speaksSecond = false): { server: Socket; port: number } {
  const server = listenOn("127.0.0.1:0");
  spawn({ name: "hostile peer" }, async () => {
    const [conn] = await server.accept();
    try {
      if (speaksSecond) await conn.recv(65536);
      await conn.send(lines);
      await withTimeout(10, () => conn.recv(65536)); // until the client hangs up
    } finally {
      conn.close();
    }
  });
  const address = server.localAddress();
  return { server, port: address.family === "unix" ? 0 : address.port };
}

socketTest("an FTP server whose greeting is not a reply: FtpProtocolError", async () => {
  const { server, port } = hostile(encoder.encode("hello, I am not FTP\r\n"));
  try {
    const error = await withTimeout(5, () => FtpClient.connect({ host: "127.0.0.1", port }))
      .then(() => null, (e) => e);
    assert.ok(error instanceof FtpProtocolError, String(error));
    assert.ok(error instanceof ProtocolError && error instanceof FtpError);
    assert.equal(error.protocol, "ftp");
    assert.match(error.message, /malformed reply "hello, I am not FTP"/);
  } finally {
    server.close();
  }
});

socketTest("an SSH server that sends garbage after its banner: SshProtocolError", async () => {
  // A valid identification line, then a packet whose length field is absurd.
  const garbage = new Uint8Array(64).fill(0xff);
  const banner = encoder.encode("SSH-2.0-hostile\r\n");
  const { server, port } = hostile(new Uint8Array([...banner, ...garbage]));
  try {
    const error = await withTimeout(10, () =>
      SshClient.connect({
        host: "127.0.0.1",
        port,
        username: "nobody",
        password: "x",
        insecureAcceptAnyHostKey: true,
      })).then(() => null, (e) => e);
    assert.ok(error instanceof SshProtocolError, String(error));
    assert.ok(error instanceof ProtocolError && error instanceof SshError);
    assert.equal(error.protocol, "ssh");
  } finally {
    server.close();
  }
});

socketTest("a TLS server that answers in plain text: TlsProtocolError", async () => {
  // The peer waits for the ClientHello, then answers in HTTP.
  const reply = encoder.encode("HTTP/1.1 400 Bad Request\r\n\r\nplain text, not TLS");
  const { server, port } = hostile(reply, true);
  try {
    const error = await withTimeout(
      5,
      () => connectTls(`127.0.0.1:${port}`, { hostname: "localhost" }),
    )
      .then(() => null, (e) => e);
    assert.ok(error instanceof TlsProtocolError, String(error));
    assert.ok(error instanceof ProtocolError && error instanceof TlsError);
    assert.ok(error instanceof SocketError); // what servers and clients catch to drop a peer
    assert.deepEqual([error.protocol, error.code, error.syscall], ["tls", "ETLS", "handshake"]);
  } finally {
    server.close();
  }
});
