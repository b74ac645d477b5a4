/** PostgresPool against a real server: dead connections replaced, safe calls retried once. */
import assert from "node:assert/strict";
import { sleep, spawn, TimeoutError, withTimeout } from "../../../mod.ts";
import {
  PoolTimeoutError,
  PostgresClient,
  PostgresError,
  PostgresPool,
  PostgresProtocolError,
} from "../../../proto/postgres/mod.ts";
import { PeerLostError } from "../../../net/errors.ts";
import { withServer } from "../../_servers.ts";
import { type Postgres, postgresAvailable, startPostgres } from "./_server.ts";

const servers = await withServer(
  "PostgreSQL server",
  postgresAvailable(),
  "apt-get install postgresql",
  startPostgres,
);

const login = { user: "scram", password: "scram-pass", database: "shrapnel" };
const pool = (server: Postgres, extra = {}) =>
  new PostgresPool({ port: server.port, ...login, ...extra });

async function terminate(port: number, pid: number): Promise<void> {
  const admin = await PostgresClient.connect({ port, ...login });
  try {
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
  } finally {
    await admin.close();
  }
}

const pidOf = async (p: PostgresPool) =>
  (await p.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;

servers.test("a connection killed while idle is replaced; the call goes to a fresh one", async (s) => {
  const p = pool(s, { maxSize: 2 });
  try {
    const first = await pidOf(p);
    assert.equal(p.idle, 1);
    await terminate(s.port, first);
    await sleep(0.2); // the FATAL message arrives on the idle connection
    const second = await pidOf(p);
    assert.notEqual(second, first);
    assert.deepEqual(p.statistics, { replaced: 1, retried: 0 });
    assert.equal(p.size, 1);
  } finally {
    await p.close();
  }
});

servers.test("lost mid-call: a read is retried once, a write is not", async (s) => {
  const p = pool(s, { maxSize: 1 });
  try {
    await p.query("CREATE TABLE IF NOT EXISTS pool_writes (n int)");
    await p.query("TRUNCATE pool_writes");
    // A read whose backend is killed while it runs: run again on a fresh connection.
    let pid = await pidOf(p);
    spawn(async () => {
      await sleep(0.2);
      await terminate(s.port, pid);
    });
    const read = await p.query<{ n: number }>("SELECT pg_sleep(0.6), 7 AS n");
    assert.equal(read.rows[0].n, 7);
    assert.equal(p.statistics.retried, 1);
    // A write killed the same way: the caller is told; it ran at most once.
    pid = await pidOf(p);
    spawn(async () => {
      await sleep(0.2);
      await terminate(s.port, pid);
    });
    await assert.rejects(
      p.query("INSERT INTO pool_writes SELECT 1 FROM pg_sleep(0.6)"),
      (e) =>
        e instanceof PostgresError && e.code === "57P01" && e instanceof PeerLostError &&
        e.client === "postgres" && e.operation === "query",
    );
    assert.equal(p.statistics.retried, 1);
    const rows = await p.query<{ c: string }>("SELECT count(*)::text AS c FROM pool_writes");
    assert.equal(rows.rows[0].c, "0"); // killed before commit, and not run again
    // Marked idempotent, a write is retried.
    pid = await pidOf(p);
    spawn(async () => {
      await sleep(0.2);
      await terminate(s.port, pid);
    });
    await p.query("INSERT INTO pool_writes SELECT 2 FROM pg_sleep(0.6)", [], { idempotent: true });
    assert.equal(p.statistics.retried, 2);
    const after = await p.query<{ c: string }>("SELECT count(*)::text AS c FROM pool_writes");
    assert.equal(after.rows[0].c, "1");
  } finally {
    await p.close();
  }
});

servers.test("an interrupted query: the interrupt is delivered, the connection is not reused", async (s) => {
  const p = pool(s, { maxSize: 1 });
  try {
    await p.query("SELECT 1");
    assert.equal(p.size, 1);
    const started = performance.now();
    await assert.rejects(withTimeout(0.3, () => p.query("SELECT pg_sleep(5)")), TimeoutError);
    const took = (performance.now() - started) / 1000;
    assert.ok(took < 2, `${took} s`);
    assert.equal(p.size, 0);
    assert.deepEqual((await p.query("SELECT 1 AS n")).rows.map((r) => Number(r.n)), [1]);
  } finally {
    await p.close();
  }
});

servers.test("waiting for a free connection has a deadline", async (s) => {
  const p = pool(s, { maxSize: 1, acquireTimeout: 0.3 });
  try {
    const holder = spawn(() => p.withConnection(() => sleep(1)));
    await sleep(0.1);
    const started = performance.now();
    await assert.rejects(p.query("SELECT 1"), PoolTimeoutError);
    const waited = (performance.now() - started) / 1000;
    assert.ok(waited >= 0.28 && waited < 0.8, `${waited} s`);
    await holder.join();
    assert.deepEqual((await p.query("SELECT 1 AS n")).rows, [{ n: 1 }]);
  } finally {
    await p.close();
  }
});

servers.test("a transaction is rolled back on error and never retried", async (s) => {
  const p = pool(s, { maxSize: 1 });
  try {
    await p.query("CREATE TABLE IF NOT EXISTS pool_tx (n int)");
    await p.query("TRUNCATE pool_tx");
    await assert.rejects(
      p.transaction(async (c) => {
        await c.query("INSERT INTO pool_tx VALUES (1)");
        throw new Error("changed my mind");
      }),
      /changed my mind/,
    );
    assert.equal((await p.query("SELECT count(*)::int AS c FROM pool_tx")).rows[0].c, 0);
    const pid = await pidOf(p);
    await assert.rejects(
      p.transaction(async (c) => {
        await c.query("INSERT INTO pool_tx VALUES (2)");
        await terminate(s.port, pid);
        await sleep(0.2);
        await c.query("INSERT INTO pool_tx VALUES (3)");
      }),
      PostgresProtocolError,
    );
    assert.equal(p.statistics.retried, 0);
    assert.equal((await p.query("SELECT count(*)::int AS c FROM pool_tx")).rows[0].c, 0);
  } finally {
    await p.close();
  }
});

servers.test("a server restart: idle connections replaced, the pool works again", async (s) => {
  const p = pool(s, { maxSize: 3 });
  try {
    const holders = [1, 2, 3].map(() => spawn(() => p.withConnection(() => sleep(0.05))));
    for (const t of holders) await t.join();
    assert.equal(p.idle, 3);
    await s.restart();
    await sleep(0.2);
    assert.deepEqual((await p.query("SELECT 1 AS n")).rows, [{ n: 1 }]);
    assert.equal(p.statistics.replaced, 3);
  } finally {
    await p.close();
  }
});

servers.test("the server killed (-9) mid-call: PeerLostError naming postgres and the query", async (s) => {
  const client = await PostgresClient.connect({ port: s.port, ...login });
  try {
    const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    spawn(async () => {
      await sleep(0.2);
      Deno.kill(pid, "SIGKILL"); // the backend dies; the postmaster resets every session
    });
    const error = await client.query("SELECT pg_sleep(5)").then(() => null, (e) => e);
    assert.ok(error instanceof PeerLostError, String(error));
    assert.equal(error.client, "postgres");
    assert.equal(error.operation, "query");
    assert.ok(error instanceof PostgresProtocolError); // what it was before, still
  } finally {
    await client.close();
  }
  // The server recovers by itself (crash recovery): wait for it, for the next file's sake.
  for (let i = 0; i < 100; i++) {
    try {
      await (await PostgresClient.connect({ port: s.port, ...login })).close();
      break;
    } catch (e) {
      if (!(e instanceof PostgresError) && !(e instanceof Error)) throw e;
      await sleep(0.1);
    }
  }
});

servers.finish();
