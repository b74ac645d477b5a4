/** The MySQL client against Debian's MariaDB on loopback, and its codec on garbage. */
import { withFakePeer, withServer } from "../../_servers.ts";
import assert from "node:assert/strict";
import { TimeoutError, withTimeout } from "../../../mod.ts";
import {
  cachingSha2Password,
  framePackets,
  MysqlClient,
  MysqlError,
  MysqlProtocolError,
  nativePassword,
  PacketReader,
} from "../../../proto/mysql/mod.ts";
import { createHash } from "node:crypto";
import { inThread, prng } from "../../_helpers.ts";
import { bytes } from "../../net/_backends.ts";
import { mariadbAvailable, startMariadb } from "./_mariadb.ts";

const servers = await withServer(
  "MariaDB",
  mariadbAvailable(),
  "apt-get install mariadb-server",
  startMariadb,
);
const dbTest = (name: string, body: (port: number) => Promise<void>) =>
  servers.test(name, (server) => body(server.port));

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

dbTest("an interrupted query closes the connection; others are unaffected", async (port) => {
  const db = await connect(port);
  await assert.rejects(withTimeout(0.2, () => db.query("SELECT SLEEP(5)")), TimeoutError);
  assert.equal(db.closed, true);
  const other = await connect(port);
  assert.equal((await other.query("SELECT 1 AS one")).rows[0].one, 1);
  await other.close();
});

Deno.test("the scrambles match their definitions; framing splits at 16 MiB", () => {
  const sha = (alg: string, ...parts: Uint8Array[]) => {
    const h = createHash(alg);
    for (const p of parts) h.update(p);
    return new Uint8Array(h.digest());
  };
  const scramble = Uint8Array.from({ length: 20 }, (_, i) => i * 7);
  const pw = new TextEncoder().encode("secret");
  const native = nativePassword("secret", scramble);
  const check = sha("sha1", scramble, sha("sha1", sha("sha1", pw))).map((b, i) => b ^ native[i]);
  assert.deepEqual(check, sha("sha1", pw)); // the server's check recovers SHA1(pw)
  const fast = cachingSha2Password("secret", scramble);
  const check2 = sha("sha256", sha("sha256", sha("sha256", pw)), scramble).map((b, i) =>
    b ^ fast[i]
  );
  assert.deepEqual(check2, sha("sha256", pw));
  const { bytes: framed } = framePackets(new Uint8Array(0xffffff + 10), 0);
  assert.equal(framed.length, 0xffffff + 10 + 8);
  assert.deepEqual([...framed.subarray(0, 4)], [0xff, 0xff, 0xff, 0]);
});

Deno.test("garbage: 20k random payloads read as packets give MysqlProtocolError only", () => {
  const random = prng(17);
  for (let i = 0; i < 20_000; i++) {
    const r = new PacketReader(
      Uint8Array.from({ length: Math.floor(random() * 30) }, () => Math.floor(random() * 256)),
    );
    try {
      r.lenencString();
      r.cString();
      r.u32();
      r.lenencBytes();
    } catch (e) {
      assert.ok(e instanceof MysqlProtocolError, String(e));
    }
  }
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
