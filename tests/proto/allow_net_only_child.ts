/**
 * Run by allow_net_only_test.ts with `--allow-net` (and `--allow-env`, which npm:pg needs), without
 * `--allow-read`: every client
 * whose code loads on first use loads it (Deno allows statically analyzable dynamic
 * imports without read permission), so each first call reaches the network and fails
 * there (nothing listens on port 9), not at the load. Prints each outcome.
 */
import { spawn } from "../../mod.ts";
import { Supervisor } from "../../net/mod.ts";
import { AmqpConnection } from "../../proto/amqp/mod.ts";
import { DnsResolver } from "../../proto/dns/mod.ts";
import { FtpClient } from "../../proto/ftp/mod.ts";
import { fetchHandler, HttpClient, HttpServer } from "../../proto/http/mod.ts";
import { LdapClient } from "../../proto/ldap/mod.ts";
import { MysqlClient } from "../../proto/mysql/mod.ts";
import { PostgresClient } from "../../proto/postgres/mod.ts";
import { SshClient } from "../../proto/ssh/mod.ts";
import { connectWebSocket } from "../../proto/websocket/mod.ts";

const closed = { host: "127.0.0.1", port: 9 };
const outcomes: Record<string, string> = {};
await spawn(async () => {
  const server = new HttpServer();
  server.push(fetchHandler(() => new Response("served")));
  server.listen("127.0.0.1:0");
  const served = server.address.family === "unix" ? 0 : server.address.port;
  const client = new HttpClient();
  const calls: Record<string, () => Promise<unknown>> = {
    ftp: () => FtpClient.connect(closed),
    ldap: () => LdapClient.connect(closed),
    ssh: () =>
      SshClient.connect({
        ...closed,
        username: "u",
        password: "p",
        hostKeyFingerprint: "SHA256:x",
      }),
    amqp: () => AmqpConnection.connect(closed),
    postgres: () => PostgresClient.connect({ ...closed, user: "u", password: "p", database: "d" }),
    mysql: () => MysqlClient.connect({ ...closed, user: "u", password: "p" }),
    http: () => client.request("http://127.0.0.1:9/"),
    websocket: () => connectWebSocket("ws://127.0.0.1:9/"),
    dns: () =>
      new DnsResolver({ mode: "forward", nameservers: ["127.0.0.1:9"], attempts: 1, timeout: 0.2 })
        .resolve("first-use.test"),
    supervisor: () => new Supervisor({ workers: 1, command: ["true"] }).statistics(),
    fetchHandler: async () => {
      const response = await client.request(`http://127.0.0.1:${served}/`);
      const text = await response.text();
      if (text !== "served") throw new Error(`served ${text}`);
    },
  };
  for (const [name, call] of Object.entries(calls)) {
    try {
      await call();
      outcomes[name] = "ok";
    } catch (e) {
      outcomes[name] = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
  }
  client.close();
  await server.close();
}).join();
console.log(JSON.stringify(outcomes));
