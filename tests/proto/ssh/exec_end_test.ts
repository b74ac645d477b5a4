/**
 * How an exec ends when the server sends no exit status: a hostile SSH server (npm:ssh2's,
 * on our sockets) answers the command, ends and closes its channel without exit-status or
 * exit-signal, and drops the connection at once. OpenSSH's sshd always sends one of them,
 * so it cannot play this. A channel closed before the connection went is a whole answer
 * (code and signal null, as OpenSSH's client reports exit -1); a connection lost while the
 * channel was open is a PeerLostError.
 */
import assert from "node:assert/strict";
import { type Socket, withTimeout } from "../../../mod.ts";
import { Event } from "../../../core/sync/event.ts";
import { PeerLostError } from "../../../net/errors.ts";
import { SocketDuplex } from "../../../net/duplex.ts";
import { SshClient, SshError } from "../../../proto/ssh/mod.ts";
import { loadSsh2 } from "../../../proto/ssh/_ssh2.ts";
import { withFakePeer } from "../../_servers.ts";
import { socketTest } from "../../net/_backends.ts";

const ssh2 = await loadSsh2(); // outside the tests' threads (see tests/proto/mysql/mysql_test.ts)
const hostKey = ssh2.utils.generateKeyPairSync("ed25519").private;

/**
 * An SSH server on `conn` that accepts anyone and answers one exec with "out\n"; then
 * `closeChannel` says whether it ends and closes the channel (without an exit status)
 * before it drops the connection.
 */
function serverWithoutExitStatus(closeChannel: boolean) {
  return async (conn: Socket) => {
    const duplex = new SocketDuplex(conn);
    const gone = new Event();
    duplex.on("close", () => gone.set());
    const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
      client.on("error", (e) => serverErrors.push(e));
      client.on("authentication", (ctx) => ctx.accept());
      client.on("ready", () => {
        client.on("session", (accept) => {
          accept().on("exec", (accept) => {
            const channel = accept();
            channel.write("out\n");
            if (closeChannel) {
              channel.end(); // EOF, then CHANNEL_CLOSE: no exit-status, no exit-signal
              channel.close();
            }
            client.end(); // and the connection dropped right after, in the same flush
          });
        });
      });
    });
    server.injectSocket(duplex as unknown as import("node:net").Socket);
    await withTimeout(10, () => gone.wait());
  };
}

/** What the hostile servers' connections reported (checked: none). */
const serverErrors: unknown[] = [];

const connect = (port: number) =>
  SshClient.connect({ host: "127.0.0.1", port, username: "u", insecureAcceptAnyHostKey: true });

socketTest(
  "exec: a channel closed without an exit status, then the connection dropped: a whole answer, code null",
  async () => {
    await withFakePeer(serverWithoutExitStatus(true), async (port) => {
      const ssh = await connect(port);
      try {
        const result = await withTimeout(10, () => ssh.exec("anything")).catch((e) => e);
        assert.ok(!(result instanceof Error), `reported as an error: ${result}`);
        assert.deepEqual(result, { stdout: "out\n", stderr: "", code: null, signal: null });
      } finally {
        ssh.close();
      }
    });
    assert.deepEqual(serverErrors, []);
  },
);

socketTest("exec: the connection dropped with the channel open: PeerLostError", async () => {
  await withFakePeer(serverWithoutExitStatus(false), async (port) => {
    const ssh = await connect(port);
    try {
      const error = await withTimeout(10, () => ssh.exec("anything")).catch((e) => e);
      assert.ok(error instanceof PeerLostError, String(error));
      assert.ok(error instanceof SshError);
      assert.equal(error.operation, "exec");
    } finally {
      ssh.close();
    }
  });
  assert.deepEqual(serverErrors, []);
});
