/**
 * A MySQL/MariaDB client, our own protocol implementation on shrapnel sockets: login with
 * mysql_native_password or caching_sha2_password (fast path, and the full path with the
 * server's RSA key), auth switches, text queries, prepared statements with the binary
 * protocol. Every call is an interruption point (an interrupted call closes the
 * connection: the protocol has no way to resynchronize mid-result).
 *
 * @module
 */

import { concatBytes } from "../../core/bytes.ts";
import { ShrapnelError } from "../../core/errors.ts";
import { SocketReader } from "../../net/buffered_reader.ts";
import { connectTo } from "../../net/constructors.ts";
import type { Socket } from "../../net/socket.ts";
import {
  cachingSha2Password,
  Capability,
  framePackets,
  MysqlProtocolError,
  nativePassword,
  PacketReader,
  PacketWriter,
  rsaPassword,
} from "./protocol.ts";

/** Where and as whom. */
export interface MysqlOptions {
  /** Host ("127.0.0.1"). */
  host?: string;
  /** Port (3306). */
  port?: number;
  /** User. */
  user: string;
  /** Password. */
  password?: string;
  /** Database to use. */
  database?: string;
}

/** A query's outcome: rows for statements that return them, counts for the others. */
export interface MysqlResult<Row = Record<string, unknown>> {
  /** The rows (empty for statements without a result set). */
  rows: Row[];
  /** Column names. */
  columns: string[];
  /** Rows affected (INSERT, UPDATE, DELETE). */
  affectedRows: number;
  /** The last AUTO_INCREMENT id. */
  insertId: number;
}

/**
 * The server reported an error: `code` is its number (1146 no such table, 1045 access
 * denied...), `sqlState` the SQLSTATE.
 *
 * @example
 * ```ts
 * import { MysqlError } from "./client.ts";
 * console.log(new MysqlError(1146, "42S02", "Table 'x' doesn't exist").code); // 1146
 * ```
 */
export class MysqlError extends ShrapnelError {
  /** Error number. */
  readonly code: number;
  /** SQLSTATE. */
  readonly sqlState: string;
  /** @param code number; @param sqlState SQLSTATE; @param message text */
  constructor(code: number, sqlState: string, message: string) {
    super(`${code} (${sqlState}): ${message}`);
    this.code = code;
    this.sqlState = sqlState;
  }
}

const COM_QUIT = 0x01, COM_QUERY = 0x03, COM_PING = 0x0e;
const COM_STMT_PREPARE = 0x16, COM_STMT_EXECUTE = 0x17, COM_STMT_CLOSE = 0x19;

/** Column types (the ones converted specially). */
const Type = {
  DECIMAL: 0x00,
  TINY: 0x01,
  SHORT: 0x02,
  LONG: 0x03,
  FLOAT: 0x04,
  DOUBLE: 0x05,
  NULL: 0x06,
  TIMESTAMP: 0x07,
  LONGLONG: 0x08,
  INT24: 0x09,
  DATE: 0x0a,
  TIME: 0x0b,
  DATETIME: 0x0c,
  YEAR: 0x0d,
  NEWDECIMAL: 0xf6,
  BLOB: 0xfc,
  VAR_STRING: 0xfd,
  STRING: 0xfe,
} as const;

const BINARY_CHARSET = 63;
const UNSIGNED_FLAG = 0x20;

interface Column {
  name: string;
  type: number;
  flags: number;
  charset: number;
}

function toNumber(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

/** A text-protocol value in its JavaScript form. */
function fromText(column: Column, raw: Uint8Array | null): unknown {
  if (raw === null) return null;
  const text = new TextDecoder().decode(raw);
  switch (column.type) {
    case Type.TINY:
    case Type.SHORT:
    case Type.LONG:
    case Type.INT24:
    case Type.YEAR:
      return Number(text);
    case Type.LONGLONG:
      return toNumber(BigInt(text));
    case Type.FLOAT:
    case Type.DOUBLE:
      return Number(text);
    case Type.BLOB:
    case Type.VAR_STRING:
    case Type.STRING:
      return column.charset === BINARY_CHARSET ? raw.slice() : text;
    default:
      return text; // DECIMAL (exact: as text), dates and times, JSON...
  }
}

/** A binary-protocol value. */
function fromBinary(column: Column, r: PacketReader): unknown {
  const unsigned = (column.flags & UNSIGNED_FLAG) !== 0;
  switch (column.type) {
    case Type.TINY:
      return unsigned ? r.u8() : r.i8();
    case Type.SHORT:
    case Type.YEAR:
      return unsigned ? r.u16() : r.i16();
    case Type.LONG:
    case Type.INT24:
      return unsigned ? r.u32() : r.i32();
    case Type.LONGLONG:
      return toNumber(unsigned ? r.u64() : r.i64());
    case Type.FLOAT:
      return r.f32();
    case Type.DOUBLE:
      return r.f64();
    case Type.DATE:
    case Type.DATETIME:
    case Type.TIMESTAMP: {
      const n = r.u8();
      if (n === 0) return "0000-00-00 00:00:00";
      const y = r.u16(), mo = r.u8(), d = r.u8();
      const date = `${String(y).padStart(4, "0")}-${String(mo).padStart(2, "0")}-${
        String(d).padStart(2, "0")
      }`;
      if (n === 4) return column.type === Type.DATE ? date : `${date} 00:00:00`;
      const h = r.u8(), mi = r.u8(), s = r.u8();
      const micro = n > 7 ? r.u32() : 0;
      const time = `${String(h).padStart(2, "0")}:${String(mi).padStart(2, "0")}:${
        String(s).padStart(2, "0")
      }`;
      return `${date} ${time}${micro ? `.${String(micro).padStart(6, "0")}` : ""}`;
    }
    case Type.TIME: {
      const n = r.u8();
      if (n === 0) return "00:00:00";
      const negative = r.u8() === 1, days = r.u32(), h = r.u8(), mi = r.u8(), s = r.u8();
      const micro = n > 8 ? r.u32() : 0;
      const hours = days * 24 + h;
      return `${negative ? "-" : ""}${String(hours).padStart(2, "0")}:${
        String(mi).padStart(2, "0")
      }:${String(s).padStart(2, "0")}${micro ? `.${String(micro).padStart(6, "0")}` : ""}`;
    }
    default: {
      const raw = r.lenencBytes();
      if (raw === null) return null;
      return fromText(column, raw);
    }
  }
}

/** A parameter of a prepared statement, in the binary protocol: [type, value bytes]. */
function encodeParam(value: unknown): [number, Uint8Array] | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "boolean") return [Type.TINY, Uint8Array.of(value ? 1 : 0)];
  if (typeof value === "number" && Number.isInteger(value)) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(value), true);
    return [Type.LONGLONG, b];
  }
  if (typeof value === "number") {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    return [Type.DOUBLE, b];
  }
  if (typeof value === "bigint") {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, value, true);
    return [Type.LONGLONG, b];
  }
  const bytes = value instanceof Uint8Array ? value : new TextEncoder().encode(
    value instanceof Date ? value.toISOString().slice(0, 23).replace("T", " ") : String(value),
  );
  return [
    value instanceof Uint8Array ? Type.BLOB : Type.VAR_STRING,
    new PacketWriter().lenencBytes(bytes).build(),
  ];
}

/** A prepared statement. */
export class MysqlStatement {
  /** The server's statement id. */
  readonly id: number;
  /** Number of parameters. */
  readonly params: number;
  readonly #client: MysqlClient;
  /** @internal */
  constructor(client: MysqlClient, id: number, params: number) {
    this.#client = client;
    this.id = id;
    this.params = params;
  }
  /** Executes with `values` for the parameters. Interruption point. */
  execute<Row = Record<string, unknown>>(values: unknown[] = []): Promise<MysqlResult<Row>> {
    return this.#client._execute<Row>(this, values);
  }
  /** Frees it on the server. */
  close(): Promise<void> {
    return this.#client._closeStatement(this);
  }
}

/**
 * A MySQL/MariaDB connection.
 *
 * @example
 * ```ts ignore
 * const db = await MysqlClient.connect({ user: "app", password: "...", database: "shop" });
 * const { rows } = await db.query("SELECT 1 + 1 AS two");
 * const stmt = await db.prepare("SELECT * FROM items WHERE id = ?");
 * console.log((await stmt.execute([7])).rows);
 * await db.close();
 * ```
 */
export class MysqlClient {
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  #sequence = 0;
  #capabilities = 0;
  #closed = false;
  /** The server's version string. */
  serverVersion = "";
  /** The connection id (for KILL). */
  connectionId = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#reader = new SocketReader(socket, 16384);
  }

  /**
   * Connects and logs in. Interruption point.
   * @throws {MysqlError} if the server refuses (1045 access denied...)
   */
  static async connect(options: MysqlOptions): Promise<MysqlClient> {
    const host = options.host ?? "127.0.0.1";
    const socket = await connectTo(
      `${host.includes(":") ? `[${host}]` : host}:${options.port ?? 3306}`,
    );
    const client = new MysqlClient(socket);
    try {
      await client.#login(options, host);
    } catch (e) {
      socket.close();
      throw e;
    }
    return client;
  }

  /** Reads one packet (joining continued ones). */
  async #packet(): Promise<PacketReader> {
    const parts: Uint8Array[] = [];
    for (;;) {
      const head = await this.#reader.readExact(4);
      const length = head[0] | (head[1] << 8) | (head[2] << 16);
      this.#sequence = (head[3] + 1) & 0xff;
      parts.push(await this.#reader.readExact(length));
      if (length < 0xffffff) break;
    }
    return new PacketReader(parts.length === 1 ? parts[0] : concatBytes(parts));
  }

  async #send(payload: Uint8Array, resetSequence = false): Promise<void> {
    if (resetSequence) this.#sequence = 0;
    const { bytes, next } = framePackets(payload, this.#sequence);
    this.#sequence = next;
    await this.#socket.send(bytes);
  }

  #error(r: PacketReader): MysqlError {
    r.offset = 1;
    const code = r.u16();
    let state = "HY000";
    if (r.left > 0 && r.data[r.offset] === 0x23) {
      r.u8();
      state = new TextDecoder().decode(r.bytes(5));
    }
    return new MysqlError(code, state, r.rest());
  }

  async #login(options: MysqlOptions, host: string): Promise<void> {
    const hello = await this.#packet();
    if (hello.data[0] === 0xff) throw this.#error(hello);
    const protocol = hello.u8();
    if (protocol !== 10) throw new MysqlProtocolError(`unknown protocol version ${protocol}`);
    this.serverVersion = hello.cString();
    this.connectionId = hello.u32();
    let scramble = hello.bytes(8);
    hello.u8();
    let capabilities = hello.u16();
    hello.u8(); // charset
    hello.u16(); // status
    capabilities |= hello.u16() << 16;
    const scrambleLength = hello.u8();
    hello.bytes(10);
    if ((capabilities & Capability.SECURE_CONNECTION) !== 0) {
      const rest = hello.bytes(Math.max(13, scrambleLength - 8));
      scramble = concatBytes([scramble, rest.subarray(0, rest.length - 1)]); // drop the NUL
    }
    let plugin = (capabilities & Capability.PLUGIN_AUTH) !== 0 && hello.left > 0
      ? hello.cString()
      : "mysql_native_password";
    const wanted = Capability.LONG_PASSWORD | Capability.FOUND_ROWS | Capability.PROTOCOL_41 |
      Capability.TRANSACTIONS | Capability.SECURE_CONNECTION | Capability.MULTI_RESULTS |
      Capability.PS_MULTI_RESULTS | Capability.PLUGIN_AUTH |
      Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA | Capability.DEPRECATE_EOF |
      (options.database ? Capability.CONNECT_WITH_DB : 0);
    this.#capabilities = wanted & capabilities;
    if ((this.#capabilities & Capability.PROTOCOL_41) === 0) {
      throw new MysqlProtocolError("the server does not speak protocol 4.1");
    }
    const password = options.password ?? "";
    const answer = (p: string, s: Uint8Array) =>
      p === "caching_sha2_password"
        ? cachingSha2Password(password, s)
        : nativePassword(password, s);
    const w = new PacketWriter()
      .u32(this.#capabilities)
      .u32(1 << 24)
      .u8(45) // utf8mb4
      .zeros(23)
      .cString(options.user)
      .lenencBytes(answer(plugin, scramble));
    if (options.database) w.cString(options.database);
    w.cString(plugin);
    await this.#send(w.build());
    for (let round = 0; round < 5; round++) {
      const r = await this.#packet();
      const kind = r.data[0];
      if (kind === 0x00) return; // OK: logged in
      if (kind === 0xff) throw this.#error(r);
      if (kind === 0xfe) { // auth switch: another plugin, another scramble
        r.u8();
        plugin = r.cString();
        scramble = r.bytes(r.left).filter((_, i, a) => !(i === a.length - 1 && a[i] === 0));
        if (plugin !== "mysql_native_password" && plugin !== "caching_sha2_password") {
          throw new MysqlProtocolError(`unsupported auth plugin ${plugin}`);
        }
        await this.#send(answer(plugin, scramble));
        continue;
      }
      if (kind === 0x01 && plugin === "caching_sha2_password") {
        r.u8();
        const status = r.u8();
        if (status === 3) continue; // fast auth worked: OK follows
        if (status === 4) { // full auth: ask for the server's key (no TLS here)
          await this.#send(Uint8Array.of(0x02));
          const key = await this.#packet();
          key.u8();
          await this.#send(rsaPassword(password, scramble, key.rest()));
          continue;
        }
      }
      throw new MysqlProtocolError(
        `unexpected packet 0x${kind.toString(16)} during login to ${host}`,
      );
    }
    throw new MysqlProtocolError("login did not finish");
  }

  #okPacket(r: PacketReader): { affectedRows: number; insertId: number } {
    r.offset = 1;
    return { affectedRows: r.lenenc() ?? 0, insertId: r.lenenc() ?? 0 };
  }

  async #columns(count: number): Promise<Column[]> {
    const columns: Column[] = [];
    for (let i = 0; i < count; i++) {
      const r = await this.#packet();
      r.lenencString(); // catalog
      r.lenencString(); // schema
      r.lenencString(); // table
      r.lenencString(); // original table
      const name = r.lenencString() ?? "";
      r.lenencString(); // original name
      r.lenenc(); // fixed-length fields' length (0x0c)
      const charset = r.u16();
      r.u32(); // length
      const type = r.u8();
      const flags = r.u16();
      columns.push({ name, type, flags, charset });
    }
    if ((this.#capabilities & Capability.DEPRECATE_EOF) === 0) await this.#packet(); // EOF
    return columns;
  }

  /** Reads a result: an OK, or a result set. */
  async #result<Row>(binary: boolean): Promise<MysqlResult<Row>> {
    const first = await this.#packet();
    if (first.data[0] === 0x00) return { rows: [], columns: [], ...this.#okPacket(first) };
    if (first.data[0] === 0xff) throw this.#error(first);
    const count = first.lenenc() ?? 0;
    const columns = await this.#columns(count);
    const rows: Row[] = [];
    for (;;) {
      const r = await this.#packet();
      const kind = r.data[0];
      if (kind === 0xff) throw this.#error(r);
      if (kind === 0xfe && r.data.length < 0xffffff) break; // EOF or OK: the end
      const row: Record<string, unknown> = {};
      if (binary) {
        r.u8(); // 0x00 header
        const bitmap = r.bytes((count + 7 + 2) >> 3);
        for (let i = 0; i < count; i++) {
          const bit = i + 2;
          row[columns[i].name] = (bitmap[bit >> 3] & (1 << (bit & 7))) !== 0
            ? null
            : fromBinary(columns[i], r);
        }
      } else {
        for (let i = 0; i < count; i++) {
          row[columns[i].name] = fromText(columns[i], r.lenencBytes());
        }
      }
      rows.push(row as Row);
    }
    return { rows, columns: columns.map((c) => c.name), affectedRows: 0, insertId: 0 };
  }

  async #command<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new MysqlProtocolError("the connection is closed");
    try {
      return await work();
    } catch (e) {
      if (!(e instanceof MysqlError)) {
        // Interrupted, or the stream broke: the rest of the reply cannot be skipped reliably.
        this.#closed = true;
        this.#socket.close();
      }
      throw e;
    }
  }

  /**
   * Runs SQL with the text protocol (no parameters: use `prepare` for values).
   * Interruption point (the connection is closed).
   * @throws {MysqlError} what the server reports
   */
  query<Row = Record<string, unknown>>(sql: string): Promise<MysqlResult<Row>> {
    return this.#command(async () => {
      await this.#send(
        new PacketWriter().u8(COM_QUERY).bytes(new TextEncoder().encode(sql)).build(),
        true,
      );
      return await this.#result<Row>(false);
    });
  }

  /** Prepares a statement with `?` parameters. Interruption point. */
  prepare(sql: string): Promise<MysqlStatement> {
    return this.#command(async () => {
      await this.#send(
        new PacketWriter().u8(COM_STMT_PREPARE).bytes(new TextEncoder().encode(sql)).build(),
        true,
      );
      const r = await this.#packet();
      if (r.data[0] === 0xff) throw this.#error(r);
      r.u8();
      const id = r.u32(), columns = r.u16(), params = r.u16();
      if (params > 0) await this.#columns(params);
      if (columns > 0) await this.#columns(columns);
      return new MysqlStatement(this, id, params);
    });
  }

  /** @internal */
  _execute<Row>(statement: MysqlStatement, values: unknown[]): Promise<MysqlResult<Row>> {
    if (values.length !== statement.params) {
      return Promise.reject(
        new TypeError(`${statement.params} parameters, ${values.length} values`),
      );
    }
    return this.#command(async () => {
      const w = new PacketWriter().u8(COM_STMT_EXECUTE).u32(statement.id).u8(0).u32(1);
      if (values.length > 0) {
        const encoded = values.map(encodeParam);
        const bitmap = new Uint8Array((values.length + 7) >> 3);
        encoded.forEach((e, i) => {
          if (e === null) bitmap[i >> 3] |= 1 << (i & 7);
        });
        w.bytes(bitmap).u8(1);
        for (const e of encoded) w.u8(e === null ? Type.NULL : e[0]).u8(0);
        for (const e of encoded) if (e !== null) w.bytes(e[1]);
      }
      await this.#send(w.build(), true);
      return await this.#result<Row>(true);
    });
  }

  /** @internal */
  async _closeStatement(statement: MysqlStatement): Promise<void> {
    if (this.#closed) return;
    await this.#send(new PacketWriter().u8(COM_STMT_CLOSE).u32(statement.id).build(), true);
  }

  /** Pings the server. Interruption point. */
  ping(): Promise<void> {
    return this.#command(async () => {
      await this.#send(Uint8Array.of(COM_PING), true);
      const r = await this.#packet();
      if (r.data[0] === 0xff) throw this.#error(r);
    });
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Says goodbye and closes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#send(Uint8Array.of(COM_QUIT), true).catch(() => {});
    this.#socket.close();
  }
}
