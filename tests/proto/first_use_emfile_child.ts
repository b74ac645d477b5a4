/**
 * Run by first_use_emfile_test.ts under a low descriptor limit: makes a resolver and an HTTP
 * client (whose code loads lazily), runs the process out of descriptors, then makes the
 * first call of one, which must fail with a typed error (no socket can be opened), not
 * kill the process. Prints the error.
 */
import { DnsResolver } from "../../proto/dns/mod.ts";
import { HttpClient } from "../../proto/http/mod.ts";
import { PostgresPool } from "../../proto/postgres/mod.ts";
import { MysqlPool } from "../../proto/mysql/mod.ts";
import { setBackend, sleep, spawn } from "../../mod.ts";

setBackend(Deno.args[0] as "ffi" | "deno");
const which = Deno.args[1];

const outcome = await spawn(async () => {
  const resolver = new DnsResolver({
    mode: "forward",
    nameservers: ["127.0.0.1:9"],
    attempts: 1,
  });
  const client = new HttpClient();
  // Pools made now: their client code begins to load (their npm driver loads at connect)
  const pools = {
    postgres: new PostgresPool({ host: "127.0.0.1", port: 9, user: "nobody", acquireTimeout: 5 }),
    mysql: new MysqlPool({ host: "127.0.0.1", port: 9, user: "nobody", acquireTimeout: 5 }),
  };
  await sleep(1); // setup done: the code they need has loaded meanwhile
  const held: Deno.FsFile[] = [];
  try {
    for (;;) held.push(Deno.openSync("/dev/null"));
  } catch (e) {
    if (!(e instanceof Error) || !/too many open files/i.test(e.message)) throw e;
  }
  const call = async () => {
    try {
      if (which === "dns") await resolver.resolve("first-use.test", "A");
      else if (which === "http") await client.request("http://127.0.0.1:9/");
      else await pools[which as keyof typeof pools].query("SELECT 1");
      return "no error";
    } catch (e) {
      return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
  };
  let first: string;
  try {
    first = await call();
  } finally {
    for (const f of held) f.close();
  }
  const then = await call(); // descriptors free again: whatever failed at EMFILE works now
  client.close();
  await pools.postgres.close();
  await pools.mysql.close();
  return { exhausted: held.length, first, then };
}).join();
console.log(JSON.stringify(outcome));
