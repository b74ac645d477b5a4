/**
 * A real OpenSSH server for the tests: Debian's sshd on 127.0.0.1 at a free port, its own
 * host key and config in a temp directory, logging the current user in by key. Password
 * login needs a system user with a password: made (as "shrapnel-ssh") only when the tests
 * run as root under CI or with SHRAPNEL_TEST_SYSTEM_USER=1.
 */
import { freePort, installed, processControl, waitForPort } from "../../_servers.ts";

export interface Sshd {
  port: number;
  /** The user to log in as, and the private key that works. */
  user: string;
  privateKey: string;
  /** The host key as a known_hosts line would carry it ("ssh-ed25519 AAAA..."). */
  hostPublicKey: string;
  /** The host key's fingerprint as `ssh-keygen -l` prints it ("SHA256:..."). */
  hostFingerprint: string;
  /** The temp directory the server lives in (free for the tests' own files). */
  dir: string;
  /** A user and password that work, or null when no such user could be made. */
  passwordLogin: { user: string; password: string } | null;
  stop(): Promise<void>;
  kill(): void;
}

export function sshdAvailable(): boolean {
  return installed("/usr/sbin/sshd", "/usr/bin/ssh-keygen");
}

async function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

export async function startSshd(): Promise<Sshd> {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-sshd-" });
  const port = freePort();
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_key`]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/user_key`]);
  await Deno.copyFile(`${dir}/user_key.pub`, `${dir}/authorized_keys`);
  const user = Deno.env.get("USER") ?? (Deno.uid() === 0 ? "root" : "nobody");
  let passwordLogin: Sshd["passwordLogin"] = null;
  const mayAddUser = Deno.uid() === 0 &&
    (Deno.env.get("CI") === "true" || Deno.env.get("SHRAPNEL_TEST_SYSTEM_USER") === "1");
  if (mayAddUser) {
    const password = `pw-${crypto.randomUUID()}`;
    await run("sh", [
      "-c",
      "id shrapnel-ssh >/dev/null 2>&1 || useradd -m -s /bin/sh shrapnel-ssh",
    ]);
    await run("chpasswd", [], `shrapnel-ssh:${password}\n`);
    passwordLogin = { user: "shrapnel-ssh", password };
  }
  try {
    Deno.mkdirSync("/run/sshd", { recursive: true }); // privilege separation directory
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e; // not root: sshd runs without it
  }
  await Deno.writeTextFile(
    `${dir}/sshd_config`,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${dir}/host_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      "StrictModes no",
      "UsePAM no",
      `PasswordAuthentication ${passwordLogin ? "yes" : "no"}`,
      "KbdInteractiveAuthentication no",
      "PermitRootLogin yes",
      "AllowTcpForwarding yes",
      "PrintMotd no",
      "",
    ].join("\n"),
  );
  const child = new Deno.Command("/usr/sbin/sshd", {
    args: ["-D", "-e", "-f", `${dir}/sshd_config`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log.push(chunk);
  })();
  await waitForPort(port, 10, () => {
    child.kill("SIGKILL");
    return `sshd did not start:\n${log.join("")}`;
  });
  return {
    port,
    user,
    privateKey: await Deno.readTextFile(`${dir}/user_key`),
    hostPublicKey: (await Deno.readTextFile(`${dir}/host_key.pub`)).split(" ").slice(0, 2).join(
      " ",
    ),
    hostFingerprint: (await run("ssh-keygen", ["-l", "-E", "sha256", "-f", `${dir}/host_key.pub`]))
      .split(" ")[1],
    dir,
    passwordLogin,
    ...processControl(child, dir),
  };
}
