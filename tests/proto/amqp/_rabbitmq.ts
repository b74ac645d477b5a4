/**
 * A real RabbitMQ for the tests: Debian's rabbitmq-server run directly (no service), its
 * node name, ports, data and logs in a temp directory, on 127.0.0.1 at a free port. The
 * built-in guest/guest user logs in from loopback.
 */
import { freePort, installed, processControl, waitForPort } from "../../_servers.ts";

export interface Rabbitmq {
  port: number;
  /** The broker's (beam's) process id, for fault tests. */
  brokerPid(): number;
  stop(): Promise<void>;
  kill(): void;
  /** Kills the broker (SIGKILL) and starts it again on the same port, with its data. */
  restart(): Promise<void>;
  /** Runs `rabbitmqctl` against the broker (e.g. `eval` for its counters); its stdout. */
  ctl(...args: string[]): Promise<string>;
}

const SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";

export function rabbitmqAvailable(): boolean {
  return installed(SERVER);
}

export async function startRabbitmq(): Promise<Rabbitmq> {
  const dir = await Deno.makeTempDir({ prefix: "shrapnel-rabbitmq-" });
  const port = freePort(), dist = freePort();
  const name = `shrapnel${port}@localhost`;
  const env = {
    HOME: dir,
    RABBITMQ_NODENAME: name,
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(dist),
    RABBITMQ_MNESIA_BASE: `${dir}/mnesia`,
    RABBITMQ_LOG_BASE: `${dir}/log`,
    RABBITMQ_ENABLED_PLUGINS_FILE: `${dir}/enabled_plugins`,
    RABBITMQ_CONFIG_FILE: `${dir}/rabbitmq`,
    RABBITMQ_PID_FILE: `${dir}/pid`,
    ERL_EPMD_ADDRESS: "127.0.0.1",
  };
  await Deno.writeTextFile(`${dir}/enabled_plugins`, "[].\n");
  await Deno.writeTextFile(`${dir}/rabbitmq.conf`, "loopback_users.guest = true\nheartbeat = 60\n");
  const log: string[] = [];
  const spawnBroker = () => {
    const child = new Deno.Command(SERVER, { env, stdout: "piped", stderr: "piped" }).spawn();
    (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) log.push(chunk);
    })();
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log.push(chunk);
    })();
    return child;
  };
  let child = spawnBroker();
  const started = () =>
    waitForPort(port, 90, () => {
      child.kill("SIGKILL");
      return `rabbitmq-server did not start:\n${log.join("").slice(-3000)}`;
    });
  await started();
  const stopNode = async () => {
    const out = await new Deno.Command("/usr/lib/rabbitmq/bin/rabbitmqctl", {
      args: ["-n", name, "stop"],
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
    // Already down (a test killed it): say so; the process is stopped below either way.
    if (!out.success) console.error(`rabbitmqctl stop: ${new TextDecoder().decode(out.stderr)}`);
  };
  let control = processControl(child, dir);
  const brokerPid = () => Number(Deno.readTextFileSync(`${dir}/pid`).trim());
  return {
    port,
    brokerPid,
    async ctl(...args: string[]) {
      const out = await new Deno.Command("/usr/lib/rabbitmq/bin/rabbitmqctl", {
        args: ["-n", name, ...args],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(`rabbitmqctl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
      }
      return new TextDecoder().decode(out.stdout);
    },
    async restart() {
      Deno.kill(brokerPid(), "SIGKILL");
      await child.status;
      child = spawnBroker();
      control = processControl(child, dir);
      await started();
    },
    async stop() {
      try {
        await stopNode();
      } finally {
        await control.stop();
      }
    },
    kill() {
      // The node runs under rabbitmq-server's script: killing the script alone would leave
      // the Erlang VM running (seen: brokers left over from test runs).
      try {
        Deno.kill(brokerPid(), "SIGKILL");
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      control.kill();
    },
  };
}
