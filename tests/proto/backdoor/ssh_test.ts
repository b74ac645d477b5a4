/** The backdoor over SSH, logged into by Debian's OpenSSH client. */
import assert from "node:assert/strict";
import { sshServe } from "../../../proto/backdoor/mod.ts";
import { inThread } from "../../_helpers.ts";
import { waitFor } from "../../../mod.ts";

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
      const backdoor = await sshServe({
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
    }),
});
