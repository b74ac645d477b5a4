/**
 * A real MariaDB for the tests: Debian's mariadbd with a fresh data directory, on
 * 127.0.0.1 at a free port, a user logging in with mysql_native_password, TLS with a
 * certificate made by openssl and a user who must use it.
 */
import {
  certificateFiles,
  freePort,
  installed,
  processControl,
  waitForPort,
} from "../../_servers.ts";

export interface Mariadb {
  port: number;
  /** The server's certificate (PEM), to trust for TLS. */
  cert: string;
  /** The server's process (for fault tests). */
  readonly pid: number;
  stop(): Promise<void>;
  kill(): void;
  /** Kills the server (SIGKILL) and starts it again on the same port and data. */
  restart(): Promise<void>;
}

export function mariadbAvailable(): boolean {
  return installed("/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/bin/openssl");
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}:\n${text}`);
  return text;
}

export async function startMariadb(): Promise<Mariadb> {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-mariadb-" });
  const user = Deno.uid() === 0 ? "root" : (Deno.env.get("USER") ?? "nobody");
  await run("/usr/bin/mariadb-install-db", [
    "--no-defaults",
    `--datadir=${dir}/data`,
    `--user=${user}`,
    "--skip-test-db",
    "--auth-root-authentication-method=socket",
  ]);
  const { cert, certPath, keyPath } = await certificateFiles(dir);
  const port = freePort();
  const spawnServer = () =>
    new Deno.Command("/usr/sbin/mariadbd", {
      args: [
        "--no-defaults",
        `--datadir=${dir}/data`,
        `--socket=${dir}/sock`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--user=${user}`,
        `--pid-file=${dir}/pid`,
        "--skip-log-bin",
        "--innodb-buffer-pool-size=16M",
        `--log-error=${dir}/error.log`,
        `--ssl-cert=${certPath}`,
        `--ssl-key=${keyPath}`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
  let child = spawnServer();
  /** The server is ready when it says so (its TCP port opens before the unix socket). */
  const ready = async () => {
    for (let i = 0; i < 300; i++) {
      const log = await Deno.readTextFile(`${dir}/error.log`);
      if ((log.match(/ready for connections/g) ?? []).length >= starts) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill("SIGKILL");
    throw new Error(`mariadbd did not get ready:\n${await Deno.readTextFile(`${dir}/error.log`)}`);
  };
  let starts = 1;
  const started = () =>
    waitForPort(port, 30, async () => {
      child.kill("SIGKILL");
      const log = await Deno.readTextFile(`${dir}/error.log`).catch((e) => {
        if (e instanceof Deno.errors.NotFound) return "(no error.log)";
        throw e;
      });
      return `mariadbd did not start: ${log}`;
    });
  await started();
  await ready();
  await run("/usr/bin/mariadb", [
    "--no-defaults",
    "-S",
    `${dir}/sock`,
    "-u",
    "root",
    "-e",
    [
      "CREATE DATABASE shrapnel",
      "CREATE USER 'native'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('native-pass')",
      "GRANT ALL ON shrapnel.* TO 'native'@'%'",
      "CREATE USER 'nopass'@'%'",
      "GRANT SELECT ON shrapnel.* TO 'nopass'@'%'",
      "CREATE USER 'tls'@'%' IDENTIFIED BY 'tls-pass' REQUIRE SSL",
      "GRANT ALL ON shrapnel.* TO 'tls'@'%'",
    ].join("; "),
  ]);
  let control = processControl(child, dir);
  return {
    port,
    cert,
    get pid() {
      return control.pid;
    },
    stop: () => control.stop(),
    kill: () => control.kill(),
    async restart() {
      control.kill(); // a child already killed (by a test) is left as it is
      await child.status;
      // What the killed server left (its socket, its pid file) must not meet the next.
      for (const stale of ["sock", "sock.lock", "pid"]) {
        await Deno.remove(`${dir}/${stale}`).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
      }
      starts++;
      child = spawnServer();
      control = processControl(child, dir);
      await started();
      await ready();
    },
  };
}
