/** The backdoor over SSH, logged into by Debian's OpenSSH client. */
import assert from "node:assert/strict";
import { serveSsh } from "../../../proto/backdoor/mod.ts";
import { inThread } from "../../_helpers.ts";
import { allThreads, waitFor } from "../../../mod.ts";
import { loadSsh2 } from "../../../proto/ssh/_ssh2.ts";

// Loaded here, outside the tests' threads: a dynamic import of an npm package inside a
// test's thread makes Deno's test runner start the next test in that thread's async context
// (a runner artefact: a program does not see it).
await loadSsh2();

const SSH = "/usr/bin/ssh";
const available = (() => {
  try {
    return Deno.statSync(SSH).isFile && Deno.statSync("/usr/bin/ssh-keygen").isFile;
  } catch {
    return false;
  }
})();
const ci = Deno.env.get("CI") === "true";

async function keyPair(
  dir: string,
  name: string,
): Promise<{ private: string; public: string; path: string }> {
  const path = `${dir}/${name}`;
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return {
    private: await Deno.readTextFile(path),
    public: await Deno.readTextFile(`${path}.pub`),
    path,
  };
}

/** Runs the OpenSSH client against the backdoor; returns exit code and output. */
async function ssh(
  port: number,
  key: string,
  args: string[],
  stdin = "",
): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(SSH, {
    args: [
      "-F",
      "/dev/null",
      "-i",
      key,
      "-p",
      String(port),
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "LogLevel=ERROR",
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const result = await child.output();
  return {
    code: result.code,
    out: new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr),
  };
}

Deno.test({
  name: `ssh: key login, a shell session and an exec${
    available || ci ? "" : " (skipped: no OpenSSH client)"
  }`,
  ignore: !available && !ci,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      assert.ok(available, "the OpenSSH client is missing (CI must install openssh-client)");
      const dir = await Deno.makeTempDir();
      const host = await keyPair(dir, "host"),
        user = await keyPair(dir, "user"),
        other = await keyPair(dir, "other");
      const backdoor = await serveSsh({
        hostKey: host.private,
        authorizedKeys: [user.public],
        globals: { answer: 42 },
      });
      const { port } = backdoor.address as { port: number };
      try {
        const shell = await waitFor(
          ssh(port, user.path, ["-T", "ops@127.0.0.1"], "const x = answer\nx + 1\n"),
        );
        assert.equal(shell.code, 0, shell.out);
        assert.match(shell.out, /43/);
        const exec = await waitFor(ssh(port, user.path, ["ops@127.0.0.1", "answer * 2"]));
        assert.equal(exec.code, 0, exec.out);
        assert.match(exec.out, /84/);
        const failing = await waitFor(ssh(port, user.path, ["ops@127.0.0.1", "nosuch"]));
        assert.equal(failing.code, 1);
        assert.match(failing.out, /ReferenceError/);
        const refused = await waitFor(ssh(port, other.path, ["-T", "ops@127.0.0.1"], "1\n"));
        assert.equal(refused.code, 255);
        assert.match(refused.out, /Permission denied/);
      } finally {
        await backdoor.close();
        await Deno.remove(dir, { recursive: true });
      }
      const stats = backdoor.statistics().sessions;
      assert.equal(stats.finished, stats.spawned);
      assert.equal(stats.failed, 0);
      // No session, login deadline or acceptor thread outlives close().
      assert.deepEqual(allThreads().filter((t) => t.name.startsWith("backdoor")).map(String), []);
    }),
});

Deno.test({
  name: `ssh: one-shot lines print as interactive ones; Tab completes in a terminal${
    available || ci ? "" : " (skipped: no OpenSSH client)"
  }`,
  ignore: !available && !ci,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      assert.ok(available, "the OpenSSH client is missing (CI must install openssh-client)");
      const dir = await Deno.makeTempDir();
      const host = await keyPair(dir, "host"), user = await keyPair(dir, "user");
      const backdoor = await serveSsh({
        hostKey: host.private,
        authorizedKeys: [user.public],
        globals: { config: { listenPort: 8080, logLevel: "info" } },
      });
      const { port } = backdoor.address as { port: number };
      try {
        // ps() prints its table; several statements show the last value.
        const ps = await waitFor(ssh(port, user.path, ["ops@127.0.0.1", "ps()"]));
        assert.equal(ps.code, 0, ps.out);
        assert.match(ps.out, /^ {4}id {2}state {5}name\n/);
        assert.match(ps.out, /backdoor ssh exec/);
        const last = await waitFor(
          ssh(port, user.path, [
            "ops@127.0.0.1",
            "const t = spawn(() => 1); await t.join(); t.state",
          ]),
        );
        assert.equal(last.out, '"dead"\n');
        const slept = await waitFor(
          ssh(port, user.path, ["ops@127.0.0.1", "await sleep(0.01); 7"]),
        );
        assert.equal(slept.out, "7\n");
        // A terminal (ssh -tt): Tab completes a global, an object's property, and lists
        // the candidates when several remain.
        const typed = [
          "withTime\t(0.5, () => 40 + 2)\r",
          "config.listen\t\r",
          "threa\t\t\x03",
          "\x04",
        ].join("");
        const tty = await waitFor(ssh(port, user.path, ["-tt", "ops@127.0.0.1"], typed));
        const screen = tty.out.replace(/\r/g, "");
        assert.match(screen, />>> withTimeout\(0\.5, \(\) => 40 \+ 2\)\n42\n/);
        assert.match(screen, />>> config\.listenPort\n8080\n/);
        assert.match(
          screen,
          />>> thread\n.*threadById {2}threadDump {2}threads.*\n>>> thread\^C\n/,
        );
      } finally {
        await backdoor.close();
        await Deno.remove(dir, { recursive: true });
      }
    }),
});
