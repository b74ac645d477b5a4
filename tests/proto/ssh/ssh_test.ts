/** The SSH client against Debian's OpenSSH server on loopback. */
import { withFakePeer, withServer } from "../../_servers.ts";
import assert from "node:assert/strict";
import {
  connectTo,
  listenOn,
  setBackend,
  sleep,
  spawn,
  TimeoutError,
  withTimeout,
} from "../../../mod.ts";
import { PeerLostError } from "../../../net/errors.ts";
import { HostKeyError, SshClient, SshError, SshProtocolError } from "../../../proto/ssh/mod.ts";
import { inThread } from "../../_helpers.ts";
import { BACKENDS, bytes, text } from "../../net/_backends.ts";
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
    hostKeyFingerprint: d.hostFingerprint,
  });

/** Logs in with these host key options; the result of `exec("echo ok")`'s stdout. */
async function loginWith(d: Sshd, options: Record<string, unknown>): Promise<string> {
  const ssh = await SshClient.connect({
    host: "127.0.0.1",
    port: d.port,
    username: d.user,
    privateKey: d.privateKey,
    ...options,
  });
  try {
    return (await ssh.exec("echo ok")).stdout;
  } finally {
    ssh.close();
  }
}

async function hostKeyRefusal(d: Sshd, options: Record<string, unknown>): Promise<string> {
  try {
    await loginWith(d, options);
  } catch (e) {
    assert.ok(e instanceof HostKeyError, String(e));
    assert.equal(e.fingerprint, d.hostFingerprint);
    assert.equal(e.host, `[127.0.0.1]:${d.port}`);
    return e.reason;
  }
  assert.fail("the host key was accepted");
}

async function keygen(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ssh-keygen", { args, stdout: "null", stderr: "piped" })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

sshTest("host key: a pinned fingerprint is accepted; another one is a HostKeyError", async (d) => {
  for (const backend of BACKENDS) {
    const old = setBackend(backend);
    try {
      assert.equal(await loginWith(d, { hostKeyFingerprint: d.hostFingerprint }), "ok\n", backend);
      assert.equal(
        await hostKeyRefusal(d, { hostKeyFingerprint: "SHA256:x" }),
        "mismatch",
        backend,
      );
    } finally {
      setBackend(old);
    }
  }
  assert.equal(await loginWith(d, { hostKeyFingerprint: d.hostFingerprint }), "ok\n");
  assert.equal(
    await loginWith(d, { hostKeyFingerprint: ["SHA256:nope", d.hostFingerprint.slice(7)] }),
    "ok\n",
  );
  const other = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
  assert.equal(await hostKeyRefusal(d, { hostKeyFingerprint: other }), "mismatch");
  assert.equal(await hostKeyRefusal(d, { hostVerifier: () => false }), "mismatch");
  assert.equal(await loginWith(d, { insecureAcceptAnyHostKey: true }), "ok\n");
  await assert.rejects(loginWith(d, { insecureAcceptAnyHostKey: "yes" }), TypeError);
  assert.equal(
    await hostKeyRefusal(d, {
      insecureAcceptAnyHostKey: false,
      knownHostsFile: `${d.dir}/does_not_exist`,
    }),
    "unknown",
  );
});

sshTest(
  "host key: known_hosts lines (plain, wildcard, hashed) accepted; other keys refused",
  async (d) => {
    const file = `${d.dir}/known_hosts_test`;
    const name = `[127.0.0.1]:${d.port}`;
    const write = (text: string) => Deno.writeTextFile(file, text);
    await write(
      `# a comment\n\nexample.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n${name} ${d.hostPublicKey}\n`,
    );
    assert.equal(await loginWith(d, { knownHostsFile: file }), "ok\n");
    await write(`[127.0.0.?]:${d.port},!127.0.0.2 ${d.hostPublicKey}\n`);
    assert.equal(await loginWith(d, { knownHostsFile: file }), "ok\n");
    await write(`${name} ${d.hostPublicKey}\n`);
    await keygen("-H", "-f", file); // OpenSSH's own hashing of the names
    assert.match(await Deno.readTextFile(file), /^\|1\|/);
    assert.equal(await loginWith(d, { knownHostsFile: file }), "ok\n");

    // Another key for this host: an impostor, refused before any credential goes out.
    await keygen("-q", "-t", "ed25519", "-N", "", "-f", `${d.dir}/other_key`);
    const otherKey = (await Deno.readTextFile(`${d.dir}/other_key.pub`)).split(" ").slice(0, 2)
      .join(" ");
    await write(`${name} ${otherKey}\n`);
    assert.equal(await hostKeyRefusal(d, { knownHostsFile: file }), "changed");
    await write(`other.example ${d.hostPublicKey}\n`);
    assert.equal(await hostKeyRefusal(d, { knownHostsFile: file }), "unknown");
    await write(`${name} ${d.hostPublicKey}\n@revoked * ${d.hostPublicKey}\n`);
    assert.equal(await hostKeyRefusal(d, { knownHostsFile: file }), "revoked");
    assert.equal(
      await hostKeyRefusal(d, { knownHostsFile: `${d.dir}/does_not_exist` }),
      "unknown",
    );
  },
);

sshTest(
  "host key: by default ~/.ssh/known_hosts is read, and an unknown host refused",
  async (d) => {
    const home = Deno.env.get("HOME");
    const fakeHome = await Deno.makeTempDir({ dir: d.dir });
    Deno.env.set("HOME", fakeHome);
    try {
      assert.equal(await hostKeyRefusal(d, {}), "unknown");
      await Deno.mkdir(`${fakeHome}/.ssh`);
      await Deno.writeTextFile(
        `${fakeHome}/.ssh/known_hosts`,
        `[127.0.0.1]:${d.port} ${d.hostPublicKey}\n`,
      );
      assert.equal(await loginWith(d, {}), "ok\n");
    } finally {
      if (home === undefined) Deno.env.delete("HOME");
      else Deno.env.set("HOME", home);
    }
  },
);

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
    SshClient.connect({
      host: "127.0.0.1",
      port: d.port,
      username: d.user,
      password: "not it",
      hostKeyFingerprint: d.hostFingerprint,
    }),
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
    hostKeyFingerprint: d.hostFingerprint,
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
  const { port } = echo.localAddress() as { port: number };
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
          insecureAcceptAnyHostKey: true,
        });
        // A check by instanceof: SshProtocolError is an SshError through SshError's
        // Symbol.hasInstance, which Deno's node:assert class matching does not consult.
        await assert.rejects(
          within(5, () => connecting),
          (e) => e instanceof SshProtocolError && e instanceof SshError,
        );
      });
    }),
});

/** SIGKILLs the processes serving `d`'s connections (the sshd children), as a crash would. */
function killSessions(d: Sshd & { pid?: number }): number {
  let killed = 0;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // it ended meanwhile
      throw e;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid !== d.pid) continue;
    Deno.kill(Number(entry.name), "SIGKILL");
    killed++;
  }
  return killed;
}

sshTest("the server lost mid-command: exec and a shell's receive are PeerLostErrors", async (d) => {
  for (const backend of BACKENDS) {
    const old = setBackend(backend);
    const ssh = await login(d);
    try {
      const shell = await ssh.shell();
      shell.send("echo ready\n");
      await withTimeout(5, () => shell.expect("ready"));
      const running = spawn(() => ssh.exec("sleep 5").then(() => null, (e: unknown) => e));
      await sleep(0.3); // the command runs
      assert.ok(killSessions(d) > 0, "no sshd session process found");
      const started = performance.now();
      const error = await withTimeout(5, () => running.join());
      assert.ok(error instanceof PeerLostError, `${backend}: ${error}`);
      assert.ok(error instanceof SshError);
      assert.deepEqual([error.client, error.operation], ["ssh", "exec"]);
      assert.ok(performance.now() - started < 2000, "the loss was not noticed at once");
      const lost = await withTimeout(5, async () => {
        for (;;) if (await shell.receive() === null) return null;
      }).catch((e: unknown) => e);
      assert.ok(lost instanceof PeerLostError, `${backend}: ${lost}`);
      assert.equal(lost.operation, "receive");
      assert.equal(await shell.receive(), null); // said once
    } finally {
      ssh.close();
      setBackend(old);
    }
  }
});

sshTest(
  "a shell that ended before the server was lost is a whole output, not a PeerLostError",
  async (d) => {
    const ssh = await login(d);
    try {
      const shell = await ssh.shell();
      shell.send("echo fini''shed; exit\n"); // the echoed command line does not match
      assert.match(await withTimeout(5, () => shell.expect("finished")), /finished/);
      await sleep(2); // the shell exits and its channel closes; that end stays unread
      assert.ok(killSessions(d) > 0, "no sshd session process found");
      await sleep(0.5); // the connection's loss is seen
      const rest = await withTimeout(5, async () => {
        for (;;) if (await shell.receive() === null) return null;
      }).catch((e: unknown) => e);
      assert.equal(rest, null, "a channel closed before the loss was reported lost");
    } finally {
      ssh.close();
    }
  },
);

servers.finish();
