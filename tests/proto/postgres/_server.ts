/**
 * A real PostgreSQL for the tests: Debian's server binaries, a fresh cluster in a temp
 * directory (run as the `postgres` user when the tests run as root, since initdb refuses
 * root), listening on 127.0.0.1 at a free port, with users for SCRAM and md5 logins.
 */
import { freePort } from "../../_servers.ts";

export interface Postgres {
  port: number;
  stop(): Promise<void>;
  kill(): void;
  /** Restarts the server on the same port (fast shutdown: every session is ended). */
  restart(): Promise<void>;
}

function binDir(): string | null {
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => e.name).sort();
    for (const v of versions.reverse()) {
      const dir = `/usr/lib/postgresql/${v}/bin`;
      if (Deno.statSync(`${dir}/initdb`).isFile) return dir;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e; // not installed
  }
  return null;
}

/** Whether the server binaries are installed. */
export function postgresAvailable(): boolean {
  return binDir() !== null;
}

async function run(command: string, args: string[], asPostgres: boolean): Promise<string> {
  const [cmd, argv] = asPostgres
    ? ["runuser", ["-u", "postgres", "--", command, ...args]]
    : [command, args];
  const out = await new Deno.Command(cmd, { args: argv, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed:\n${text}`);
  return text;
}

/** Starts a cluster; resolves when it accepts connections. */
export async function startPostgres(): Promise<Postgres> {
  const bin = binDir();
  if (bin === null) throw new Error("PostgreSQL server binaries are not installed");
  const root = Deno.uid() === 0;
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-pg-" });
  if (root) await run("chown", ["postgres:postgres", dir], false);
  const data = `${dir}/data`, port = freePort();
  await run(`${bin}/initdb`, [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "-E",
    "UTF8",
  ], root);
  // md5 for one user, SCRAM for the others.
  const hba =
    `local all all trust\nhost all md5user 127.0.0.1/32 md5\nhost all all 127.0.0.1/32 scram-sha-256\n`;
  await run("sh", ["-c", `printf '%s' '${hba}' > ${data}/pg_hba.conf`], root);
  await run(`${bin}/pg_ctl`, [
    "-D",
    data,
    "-l",
    `${dir}/log`,
    "-w",
    "-t",
    "30",
    "-o",
    `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c password_encryption=scram-sha-256`,
    "start",
  ], root);
  const psql = (sql: string) =>
    run(`${bin}/psql`, [
      "-h",
      dir,
      "-p",
      String(port),
      "-U",
      "postgres",
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      sql,
    ], root);
  await psql("CREATE ROLE scram LOGIN PASSWORD 'scram-pass' SUPERUSER");
  await psql("SET password_encryption = 'md5'; CREATE ROLE md5user LOGIN PASSWORD 'md5-pass'");
  await psql("CREATE DATABASE shrapnel OWNER scram");
  const stop = async () => {
    try {
      await run(`${bin}/pg_ctl`, ["-D", data, "-m", "immediate", "stop"], root);
    } catch (e) {
      // Already stopped (a test killed it): say so, and still remove its files.
      console.error(`postgres test server: ${(e as Error).message}`);
    }
    await Deno.remove(dir, { recursive: true });
  };
  return {
    port,
    stop,
    async restart() {
      await run(
        `${bin}/pg_ctl`,
        ["-D", data, "-l", `${dir}/log`, "-w", "-m", "fast", "restart"],
        root,
      );
    },
    kill() {
      try {
        const pid = Deno.readTextFileSync(`${data}/postmaster.pid`).split("\n")[0];
        Deno.kill(Number(pid), "SIGQUIT");
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e; // gone (no pid file, no process)
      }
    },
  };
}
