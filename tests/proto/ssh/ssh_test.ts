/** The SSH client against Debian's OpenSSH server on loopback. */
import { withFakePeer, withServer } from "../../_servers.ts";
import assert from "node:assert/strict";
import { connectTo, listenOn, spawn, TimeoutError, withTimeout } from "../../../mod.ts";
import { SshClient, SshError } from "../../../proto/ssh/mod.ts";
import { inThread } from "../../_helpers.ts";
import { bytes, text } from "../../net/_backends.ts";
import { type Sshd, sshdAvailable, startSshd } from "./_sshd.ts";

const servers = await withServer(
  "OpenSSH server",
  sshdAvailable(),
  "apt-get install openssh-server",
  startSshd,
);
const sshTest = servers.test;

const login = (d: Sshd) =>
  SshClient.connect({
    host: "127.0.0.1",
    port: d.port,
    username: d.user,
    privateKey: d.privateKey,
  });

sshTest("key login and exec: output, errors and the exit code", async (d) => {
  const ssh = await login(d);
  try {
    const r = await ssh.exec("echo hello; echo oops >&2; exit 3");
    assert.deepEqual(r, { stdout: "hello\n", stderr: "oops\n", code: 3, signal: null });
  } finally {
    ssh.close();
  }
});

sshTest("a wrong password is an SshError", async (d) => {
  await assert.rejects(
    SshClient.connect({ host: "127.0.0.1", port: d.port, username: d.user, password: "not it" }),
    SshError,
  );
});

sshTest("password login (when a test user could be made)", async (d) => {
  if (d.passwordLogin === null) {
    console.warn(
      "skipped: password login needs a system user (root and CI=true or SHRAPNEL_TEST_SYSTEM_USER=1)",
    );
    return;
  }
  const ssh = await SshClient.connect({
    host: "127.0.0.1",
    port: d.port,
    username: d.passwordLogin.user,
    password: d.passwordLogin.password,
  });
  try {
    assert.equal((await ssh.exec("whoami")).stdout.trim(), d.passwordLogin.user);
  } finally {
    ssh.close();
  }
});

sshTest("an interactive shell", async (d) => {
  const ssh = await login(d);
  try {
    const shell = await ssh.shell();
    shell.send("echo $((6 * 7))\n");
    assert.match(await withTimeout(5, () => shell.expect("42")), /42/);
    shell.send("exit\n");
    await withTimeout(5, async () => {
      while (await shell.receive() !== null) { /* until it closes */ }
    });
  } finally {
    ssh.close();
  }
});

sshTest("port forwarding: a tunnel, and ssh -L through our listener", async (d) => {
  const echo = listenOn("127.0.0.1:0");
  const { port } = echo.getsockname() as { port: number };
  const server = spawn(async () => {
    for (;;) {
      const [conn] = await echo.accept();
      spawn(async () => {
        for (;;) {
          const data = await conn.recv(1024).catch(() => new Uint8Array(0));
          if (data.length === 0) break;
          await conn.send(data);
        }
        conn.close();
      });
    }
  });
  const ssh = await login(d);
  try {
    const tunnel = await ssh.forwardOut("127.0.0.1", port);
    tunnel.send("through the tunnel");
    assert.equal(await withTimeout(5, () => tunnel.expect("tunnel")), "through the tunnel");
    tunnel.close();
    const local = ssh.forwardLocal("127.0.0.1:0", "127.0.0.1", port);
    const client = await connectTo(local);
    await client.send(bytes("via -L"));
    assert.equal(text(await withTimeout(5, () => client.recvExact(6))), "via -L");
    client.close();
  } finally {
    ssh.close();
    echo.close();
    server.shutdown();
  }
});

sshTest(
  "a command interrupted by withTimeout ends its channel; the connection lives",
  async (d) => {
    const ssh = await login(d);
    try {
      await assert.rejects(withTimeout(0.2, () => ssh.exec("sleep 10")), TimeoutError);
      assert.equal(
        (await withTimeout(5, () => ssh.exec("echo still here"))).stdout,
        "still here\n",
      );
    } finally {
      ssh.close();
    }
  },
);

Deno.test({
  name: "a peer that is not SSH is an SshError, never a hang",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      const { withTimeout: within } = await import("../../../mod.ts");
      await withFakePeer(async (conn) => {
        await conn.send(new TextEncoder().encode("SSH-2.0-fake\r\n\x00\x00\x00\x05garbage!!!"));
        await conn.recv(1000);
      }, async (port) => {
        const connecting = SshClient.connect({
          host: "127.0.0.1",
          port,
          username: "x",
          password: "y",
          readyTimeout: 3,
        });
        await assert.rejects(within(5, () => connecting), SshError);
      });
    }),
});

servers.finish();
