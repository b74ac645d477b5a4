/** The MySQL client (mysql2 on our sockets) against Debian's MariaDB on loopback, with TLS. */
import { withFakePeer, withServer } from "../../_servers.ts";
import assert from "node:assert/strict";
import { ffiUnavailableReason, setBackend, TimeoutError, withTimeout } from "../../../mod.ts";
import {
  loadMysql2,
  MysqlClient,
  MysqlError,
  MysqlProtocolError,
} from "../../../proto/mysql/mod.ts";
import { inThread } from "../../_helpers.ts";
import { BACKENDS, bytes } from "../../net/_backends.ts";
import { type Mariadb, mariadbAvailable, startMariadb } from "./_mariadb.ts";

// Loaded here, outside the tests' threads: a dynamic import of an npm package inside a
// test's thread makes Deno's test runner start the next test in that thread's async context
// (a runner artefact: a program does not see it). The lazy load is tested in a subprocess.
await loadMysql2();

const servers = await withServer(
  "MariaDB",
  mariadbAvailable(),
  "apt-get install mariadb-server openssl",
  startMariadb,
);
const dbTest = (name: string, body: (port: number, server: Mariadb) => Promise<void>) =>
  servers.test(name, (server) => body(server.port, server));
/** Runs `body` on each socket backend (the FFI one only where the shim is built). */
async function onBothBackends(body: () => Promise<void>): Promise<void> {
  for (const backend of BACKENDS) {
    if (backend === "ffi" && ffiUnavailableReason() !== null) {
      if (Deno.env.get("CI") === "true") throw new Error(ffiUnavailableReason()!);
      continue;
    }
    const old = setBackend(backend);
    try {
      await body();
    } finally {
      setBackend(old);
    }
  }
}

const connect = (port: number) =>
  MysqlClient.connect({ port, user: "native", password: "native-pass", database: "shrapnel" });

dbTest("native-password login; a wrong password is MysqlError 1045", async (port) => {
  const db = await connect(port);
  assert.match(db.serverVersion, /MariaDB/);
  assert.deepEqual((await db.query("SELECT CURRENT_USER() AS u")).rows, [{ u: "native@%" }]);
  await db.ping();
  await db.close();
  const open = await MysqlClient.connect({ port, user: "nopass", database: "shrapnel" });
  await open.close();
  await assert.rejects(
    MysqlClient.connect({ port, user: "native", password: "wrong" }),
    (e: unknown) => e instanceof MysqlError && e.code === 1045,
  );
});

dbTest("queries: rows with types, counts, insert ids, errors", async (port) => {
  const db = await connect(port);
  try {
    await db.query(
      "CREATE TEMPORARY TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), price DECIMAL(6,2), big BIGINT, at DATETIME, raw VARBINARY(4))",
    );
    const ins = await db.query(
      "INSERT INTO t (name, price, big, at, raw) VALUES ('a', 1.50, 9007199254740993, '2026-11-26 10:20:30', 0x01ff), ('b', NULL, 2, NULL, NULL)",
    );
    assert.equal(ins.affectedRows, 2);
    assert.equal(ins.insertId, 1);
    const r = await db.query("SELECT id, name, price, big, at, raw FROM t ORDER BY id");
    assert.deepEqual(r.columns, ["id", "name", "price", "big", "at", "raw"]);
    assert.deepEqual(r.rows[0], {
      id: 1,
      name: "a",
      price: "1.50",
      big: 9007199254740993n,
      at: "2026-11-26 10:20:30",
      raw: new Uint8Array([1, 255]),
    });
    assert.deepEqual(r.rows[1], { id: 2, name: "b", price: null, big: 2, at: null, raw: null });
    await assert.rejects(
      db.query("SELECT * FROM nowhere"),
      (e: unknown) => e instanceof MysqlError && e.code === 1146 && e.sqlState === "42S02",
    );
    assert.equal((await db.query("SELECT 'ünïcødé' AS s")).rows[0].s, "ünïcødé");
  } finally {
    await db.close();
  }
});

dbTest("prepared statements: binary values both ways, NULLs, reuse", async (port) => {
  const db = await connect(port);
  try {
    await db.query(
      "CREATE TEMPORARY TABLE p (id INT, score DOUBLE, label TEXT, ok TINYINT, at DATETIME)",
    );
    const insert = await db.prepare("INSERT INTO p VALUES (?, ?, ?, ?, ?)");
    assert.equal(insert.params, 5);
    await insert.execute([1, 2.5, "one", true, "2026-01-02 03:04:05"]);
    await insert.execute([2, null, "two", false, null]);
    await insert.close();
    const select = await db.prepare(
      "SELECT id, score, label, ok, at FROM p WHERE id >= ? ORDER BY id",
    );
    const r = await select.execute([1]);
    assert.deepEqual(r.rows, [
      { id: 1, score: 2.5, label: "one", ok: 1, at: "2026-01-02 03:04:05" },
      { id: 2, score: null, label: "two", ok: 0, at: null },
    ]);
    assert.equal((await select.execute([2])).rows.length, 1);
    await assert.rejects(select.execute([]), TypeError);
  } finally {
    await db.close();
  }
});

dbTest(
  "an interrupted query is killed on the server; the connection stays usable (both backends)",
  (port) =>
    onBothBackends(async () => {
      const db = await connect(port);
      try {
        const started = performance.now();
        await assert.rejects(withTimeout(0.2, () => db.query("SELECT SLEEP(5)")), TimeoutError);
        assert.ok(performance.now() - started < 2000, "the sleep was stopped on the server");
        assert.equal(db.closed, false);
        assert.equal((await db.query("SELECT 1 AS one")).rows[0].one, 1);
        // The server is not still running it.
        const busy = await db.query(
          "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP%'",
        );
        assert.equal(busy.rows[0].n, 0);
        // An interrupted prepared statement too.
        const slow = await db.prepare("SELECT SLEEP(?) AS s");
        await assert.rejects(withTimeout(0.2, () => slow.execute([5])), TimeoutError);
        assert.deepEqual((await slow.execute([0])).rows, [{ s: 0 }]);
        // A KILL QUERY arriving when nothing runs does not hit the next query.
        await db.cancel();
        assert.equal((await db.query("SELECT 2 AS two")).rows[0].two, 2);
      } finally {
        await db.close();
      }
      assert.equal(db.closed, true);
      await assert.rejects(db.query("SELECT 1"), MysqlProtocolError);
    }),
);

dbTest("an answer beyond maxResultBytes closes the connection with a typed error", async (port) => {
  const db = await MysqlClient.connect({
    port,
    user: "native",
    password: "native-pass",
    maxResultBytes: 100_000,
  });
  const fits = await db.query<{ s: string }>("SELECT REPEAT('x', 50000) AS s");
  assert.equal(fits.rows[0].s.length, 50000);
  await assert.rejects(
    db.query("SELECT REPEAT('x', 60000) AS s UNION ALL SELECT REPEAT('y', 60000)"),
    (e: unknown) => e instanceof MysqlProtocolError && e.reason === "RESULT_TOO_LARGE",
  );
  assert.equal(db.closed, true);
  await db.close();
});

dbTest("query parameters are escaped on our side", async (port) => {
  const db = await connect(port);
  try {
    const r = await db.query("SELECT ? AS a, ? AS b, ? AS c", ["it's", 41, null]);
    assert.deepEqual(r.rows, [{ a: "it's", b: 41, c: null }]);
  } finally {
    await db.close();
  }
});

dbTest(
  "TLS: verified against the test CA; a user that requires it gets in (both backends)",
  (port, { cert }) =>
    onBothBackends(async () => {
      const db = await MysqlClient.connect({
        port,
        user: "tls",
        password: "tls-pass",
        database: "shrapnel",
        tls: { caCerts: [cert] },
      });
      try {
        const r = await db.query("SHOW SESSION STATUS LIKE 'Ssl_version'");
        assert.match(String(r.rows[0].Value), /^TLSv1\.[23]$/);
        const s = await db.prepare("SELECT ? * 2 AS n");
        assert.deepEqual((await s.execute([21])).rows, [{ n: 42 }]);
        await assert.rejects(withTimeout(0.2, () => db.query("SELECT SLEEP(5)")), TimeoutError);
        assert.equal((await db.query("SELECT 3 AS n")).rows[0].n, 3);
      } finally {
        await db.close();
      }
      // Without TLS the server refuses that user.
      await assert.rejects(
        MysqlClient.connect({ port, user: "tls", password: "tls-pass" }),
        (e: unknown) => e instanceof MysqlError && e.code === 1045 && e.sqlState === "28000",
      );
      // A certificate nobody vouches for is refused...
      await assert.rejects(
        MysqlClient.connect({ port, user: "tls", password: "tls-pass", tls: true }),
        MysqlProtocolError,
      );
      // ... unless the caller says so by name.
      const unverified = await MysqlClient.connect({
        port,
        user: "tls",
        password: "tls-pass",
        tls: { unverifiedCertificate: true },
      });
      assert.equal((await unverified.query("SELECT 1 AS n")).rows[0].n, 1);
      await unverified.close();
    }),
);

Deno.test("importing the library does not load mysql2 (it is loaded at the first connect)", async () => {
  const probe = `
    import Module from "node:module";
    const loaded = () => Object.keys((Module as unknown as { _cache: object })._cache)
      .filter((path) => path.includes("mysql2")).length;
    const { mysql } = await import(${
    JSON.stringify(new URL("../../../mod.ts", import.meta.url).href)
  });
    const before = loaded();
    await mysql.loadMysql2();
    console.log(before, loaded() > 0);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", new URL("../../../deno.json", import.meta.url).pathname, probe],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "0 true");
});

Deno.test({
  name: "a server that is not MySQL is a MysqlProtocolError, never a hang",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    inThread(async () => {
      await withFakePeer(async (conn) => {
        await conn.send(new Uint8Array([5, 0, 0, 0, 9, 1, 2, 3, 4])); // protocol 9?
        await conn.send(bytes("junk"));
      }, async (port) => {
        await assert.rejects(
          withTimeout(2, () => MysqlClient.connect({ port, user: "x" })),
          MysqlProtocolError,
        );
      });
    }),
});

servers.finish();
