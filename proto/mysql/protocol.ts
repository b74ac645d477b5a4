/**
 * The MySQL/MariaDB client-server protocol's pieces: packet framing, length-encoded
 * values, the login scrambles, and reading/writing primitive fields. Pure functions,
 * fuzz-tested; `MysqlProtocolError` for anything malformed.
 *
 * @module
 */

import { nodeBuiltin } from "../../core/_node_builtin.ts";

// node:crypto loads with the first MySQL login, not with shrapnel.
const nodeCrypto = () => nodeBuiltin<typeof import("node:crypto")>("node:crypto");
import { ShrapnelError } from "../../core/errors.ts";

/**
 * The server sent something that is not the protocol (cut short, wrong length, unknown).
 *
 * @example
 * ```ts
 * import { MysqlProtocolError } from "./protocol.ts";
 * console.log(new MysqlProtocolError("packet cut short").name); // MysqlProtocolError
 * ```
 */
export class MysqlProtocolError extends ShrapnelError {}

/** Capability flags used by this client. */
export const Capability = {
  LONG_PASSWORD: 0x1,
  FOUND_ROWS: 0x2,
  CONNECT_WITH_DB: 0x8,
  PROTOCOL_41: 0x200,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  DEPRECATE_EOF: 0x1000000,
} as const;

/** A cursor over a packet's payload. */
export class PacketReader {
  readonly data: Uint8Array;
  offset = 0;
  readonly #view: DataView;

  /** @param data the payload */
  constructor(data: Uint8Array) {
    this.data = data;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  #need(n: number): void {
    if (this.offset + n > this.data.length) throw new MysqlProtocolError("packet cut short");
  }

  /** Bytes left. */
  get left(): number {
    return this.data.length - this.offset;
  }

  u8(): number {
    this.#need(1);
    return this.data[this.offset++];
  }

  u16(): number {
    this.#need(2);
    const v = this.#view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }

  u24(): number {
    this.#need(3);
    const v = this.data[this.offset] | (this.data[this.offset + 1] << 8) |
      (this.data[this.offset + 2] << 16);
    this.offset += 3;
    return v;
  }

  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }

  u64(): bigint {
    this.#need(8);
    const v = this.#view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }

  i8(): number {
    this.#need(1);
    return this.#view.getInt8(this.offset++);
  }

  i16(): number {
    this.#need(2);
    const v = this.#view.getInt16(this.offset, true);
    this.offset += 2;
    return v;
  }

  i32(): number {
    this.#need(4);
    const v = this.#view.getInt32(this.offset, true);
    this.offset += 4;
    return v;
  }

  i64(): bigint {
    this.#need(8);
    const v = this.#view.getBigInt64(this.offset, true);
    this.offset += 8;
    return v;
  }

  f32(): number {
    this.#need(4);
    const v = this.#view.getFloat32(this.offset, true);
    this.offset += 4;
    return v;
  }

  f64(): number {
    this.#need(8);
    const v = this.#view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }

  bytes(n: number): Uint8Array {
    this.#need(n);
    const v = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** A length-encoded integer; null for the NULL marker (0xFB). */
  lenenc(): number | null {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfb) return null;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) {
      const v = this.u64();
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MysqlProtocolError("length too large");
      return Number(v);
    }
    throw new MysqlProtocolError(`bad length-encoded integer 0x${first.toString(16)}`);
  }

  /** A length-encoded string (bytes); null for NULL. */
  lenencBytes(): Uint8Array | null {
    const n = this.lenenc();
    return n === null ? null : this.bytes(n);
  }

  /** A length-encoded string as UTF-8 text; null for NULL. */
  lenencString(): string | null {
    const b = this.lenencBytes();
    return b === null ? null : decoder.decode(b);
  }

  /** A NUL-terminated string. */
  cString(): string {
    const end = this.data.indexOf(0, this.offset);
    if (end < 0) throw new MysqlProtocolError("unterminated string");
    const s = decoder.decode(this.data.subarray(this.offset, end));
    this.offset = end + 1;
    return s;
  }

  /** The rest as text. */
  rest(): string {
    const s = decoder.decode(this.data.subarray(this.offset));
    this.offset = this.data.length;
    return s;
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Builds a payload. */
export class PacketWriter {
  #parts: number[] = [];

  u8(v: number): this {
    this.#parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.#parts.push(x);
    return this;
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.#parts.push(0);
    return this;
  }
  cString(s: string): this {
    return this.bytes(encoder.encode(s)).u8(0);
  }
  lenenc(n: number): this {
    if (n < 0xfb) return this.u8(n);
    if (n < 0x10000) return this.u8(0xfc).u16(n);
    if (n < 0x1000000) return this.u8(0xfd).u16(n & 0xffff).u8(n >> 16);
    const big = new Uint8Array(8);
    new DataView(big.buffer).setBigUint64(0, BigInt(n), true);
    return this.u8(0xfe).bytes(big);
  }
  lenencBytes(b: Uint8Array): this {
    return this.lenenc(b.length).bytes(b);
  }
  /** The payload. */
  build(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

/** Frames a payload as packets (3-byte length, sequence id), splitting at 16 MiB - 1. */
export function framePackets(
  payload: Uint8Array,
  sequence: number,
): { bytes: Uint8Array; next: number } {
  const MAX = 0xffffff;
  const chunks: Uint8Array[] = [];
  let offset = 0, seq = sequence;
  do {
    const n = Math.min(MAX, payload.length - offset);
    const chunk = new Uint8Array(4 + n);
    chunk[0] = n & 0xff;
    chunk[1] = (n >> 8) & 0xff;
    chunk[2] = n >> 16;
    chunk[3] = seq & 0xff;
    chunk.set(payload.subarray(offset, offset + n), 4);
    chunks.push(chunk);
    offset += n;
    seq++;
    // A payload of exactly a multiple of MAX ends with an empty packet.
    if (n === MAX && offset === payload.length) {
      chunks.push(Uint8Array.of(0, 0, 0, seq & 0xff));
      seq++;
    }
  } while (offset < payload.length);
  const out = new Uint8Array(chunks.reduce((t, c) => t + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return { bytes: out, next: seq & 0xff };
}

function sha(algorithm: "sha1" | "sha256", ...parts: Uint8Array[]): Uint8Array {
  const h = nodeCrypto().createHash(algorithm);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((x, i) => x ^ b[i % b.length]);
}

/**
 * The mysql_native_password answer: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
 *
 * @example
 * ```ts
 * import { nativePassword } from "./protocol.ts";
 * console.log(nativePassword("", new Uint8Array(20)).length); // 0: no password, no answer
 * ```
 */
export function nativePassword(password: string, scramble: Uint8Array): Uint8Array {
  if (password === "") return new Uint8Array(0);
  const p = encoder.encode(password);
  const h1 = sha("sha1", p);
  return xor(h1, sha("sha1", scramble.subarray(0, 20), sha("sha1", h1)));
}

/**
 * The caching_sha2_password fast answer: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble).
 */
export function cachingSha2Password(password: string, scramble: Uint8Array): Uint8Array {
  if (password === "") return new Uint8Array(0);
  const p = encoder.encode(password);
  const h1 = sha("sha256", p);
  return xor(h1, sha("sha256", sha("sha256", h1), scramble.subarray(0, 20)));
}

/**
 * caching_sha2_password's full authentication without TLS: the password (NUL-terminated,
 * XORed with the scramble) encrypted with the server's RSA public key (OAEP).
 */
export function rsaPassword(
  password: string,
  scramble: Uint8Array,
  publicKeyPem: string,
): Uint8Array {
  const p = encoder.encode(`${password}\0`);
  const masked = xor(p, scramble.subarray(0, 20));
  return new Uint8Array(
    nodeCrypto().publicEncrypt(
      { key: publicKeyPem, padding: nodeCrypto().constants.RSA_PKCS1_OAEP_PADDING },
      masked,
    ),
  );
}
