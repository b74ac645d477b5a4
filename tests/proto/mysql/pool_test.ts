/** MysqlPool against a real MariaDB: dead connections replaced, safe calls retried once. */
import assert from "node:assert/strict";
import { sleep, spawn, TimeoutError, withTimeout } from "../../../mod.ts";
import {
  loadMysql2,
  MysqlClient,
  MysqlError,
  MysqlPool,
  MysqlProtocolError,
  PoolTimeoutError,
} from "../../../proto/mysql/mod.ts";
import { PeerLostError } from "../../../net/errors.ts";
import { withServer } from "../../_servers.ts";
import { type Mariadb, mariadbAvailable, startMariadb } from "./_mariadb.ts";

await loadMysql2(); // outside the tests' threads (see mysql_test.ts)

const servers = await withServer(
  "MariaDB",
  mariadbAvailable(),
  "apt-get install mariadb-server openssl",
  startMariadb,
);

const login = { user: "native", password: "native-pass", database: "shrapnel" };
const pool = (server: Mariadb, extra = {}) =>
  new MysqlPool({ port: server.port, ...login, ...extra });

async function kill(port: number, id: number): Promise<void> {
  const admin = await MysqlClient.connect({ port, ...login });
  try {
    await admin.query(`KILL ${id}`);
  } finally {
    await admin.close();
  }
}

const idOf = async (p: MysqlPool) =>
  Number((await p.query<{ id: number }>("SELECT CONNECTION_ID() AS id")).rows[0].id);

servers.test("a connection killed while idle is replaced; the call goes to a fresh one", async (s) => {
  const p = pool(s, { maxSize: 2 });
  try {
    const first = await idOf(p);
    assert.equal(p.idle, 1);
    await kill(s.port, first);
    await sleep(0.2); // the close reaches the idle connection
    const second = await idOf(p);
    assert.notEqual(second, first);
    assert.equal(p.statistics.replaced + p.statistics.retried, 1);
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
    let id = await idOf(p);
    spawn(async () => {
      await sleep(0.2);
      await kill(s.port, id);
    });
    const read = await p.query<{ n: number }>("SELECT SLEEP(0.6) AS s, 7 AS n");
    assert.equal(read.rows[0].n, 7);
    assert.equal(p.statistics.retried, 1);
    id = await idOf(p);
    spawn(async () => {
      await sleep(0.2);
      await kill(s.port, id);
    });
    await assert.rejects(
      p.query("INSERT INTO pool_writes SELECT 1 FROM (SELECT SLEEP(0.6)) AS t"),
      (e) =>
        ((e instanceof MysqlError && e.code === 1927) ||
          (e instanceof MysqlProtocolError && e.reason === "PROTOCOL_CONNECTION_LOST")) &&
        e instanceof PeerLostError && e.client === "mysql" && e.operation === "query",
    );
    assert.equal(p.statistics.retried, 1);
    const rows = await p.query<{ c: number }>("SELECT COUNT(*) AS c FROM pool_writes");
    assert.equal(Number(rows.rows[0].c), 0);
    id = await idOf(p);
    spawn(async () => {
      await sleep(0.2);
      await kill(s.port, id);
    });
    await p.query("INSERT INTO pool_writes SELECT 2 FROM (SELECT SLEEP(0.6)) AS t", [], {
      idempotent: true,
    });
    assert.equal(p.statistics.retried, 2);
    const after = await p.query<{ c: number }>("SELECT COUNT(*) AS c FROM pool_writes");
    assert.equal(Number(after.rows[0].c), 1);
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
    await assert.rejects(withTimeout(0.3, () => p.query("SELECT SLEEP(5)")), TimeoutError);
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
    await p.query("CREATE TABLE IF NOT EXISTS pool_tx (n int) ENGINE=InnoDB");
    await p.query("TRUNCATE pool_tx");
    await assert.rejects(
      p.transaction(async (c) => {
        await c.query("INSERT INTO pool_tx VALUES (1)");
        throw new Error("changed my mind");
      }),
      /changed my mind/,
    );
    const count = async () =>
      Number((await p.query<{ c: number }>("SELECT COUNT(*) AS c FROM pool_tx")).rows[0].c);
    assert.equal(await count(), 0);
    const id = await idOf(p);
    await assert.rejects(
      p.transaction(async (c) => {
        await c.query("INSERT INTO pool_tx VALUES (2)");
        await kill(s.port, id);
        await sleep(0.2);
        await c.query("INSERT INTO pool_tx VALUES (3)");
      }),
    );
    assert.equal(p.statistics.retried, 0);
    assert.equal(await count(), 0);
  } finally {
    await p.close();
  }
});

servers.test("a server restart (kill -9): idle connections replaced, the pool works again", async (s) => {
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

servers.test("the server killed (-9) mid-call: PeerLostError naming mysql and the query", async (s) => {
  const client = await MysqlClient.connect({ port: s.port, ...login });
  try {
    spawn(async () => {
      await sleep(0.2);
      Deno.kill(s.pid, "SIGKILL");
    });
    const error = await client.query("SELECT SLEEP(5)").then(() => null, (e) => e);
    assert.ok(error instanceof PeerLostError, String(error));
    assert.equal(error.client, "mysql");
    assert.equal(error.operation, "query");
    assert.ok(error instanceof MysqlProtocolError); // what it was before, still
  } finally {
    client.destroy();
  }
  await s.restart(); // for the stop that follows
});

servers.finish();
