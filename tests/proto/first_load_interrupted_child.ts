/**
 * Run by first_load_interrupted_test.ts: a client's first connect, whose code loads on
 * first use, is interrupted during that load while another thread's first connect waits
 * on the same load. Prints what each call ended with.
 */
import { setBackend, spawn } from "../../mod.ts";
import { AmqpConnection } from "../../proto/amqp/mod.ts";
import { LdapClient } from "../../proto/ldap/mod.ts";

setBackend(Deno.args[0] as "ffi" | "deno");
const closed = { host: "127.0.0.1", port: 9 };
const connect: () => Promise<unknown> = Deno.args[1] === "ldap"
  ? () => LdapClient.connect(closed)
  : () => AmqpConnection.connect(closed);
const show = (e: unknown) => e instanceof Error ? e.name : String(e);
const first = spawn(connect);
const second = spawn(connect);
spawn(() => first.interrupt()); // runs once both wait on the load (an import takes a turn)
const outcomes = {
  cut: await first.join().then(() => "ok", show),
  other: await second.join().then(() => "ok", show),
  after: await spawn(connect).join().then(() => "ok", show),
};
console.log(JSON.stringify(outcomes));
