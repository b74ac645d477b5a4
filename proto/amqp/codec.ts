/**
 * AMQP 0-9-1 wire format: frames, field tables, basic properties, method arguments.
 * Pure functions; `AmqpProtocolError` for anything malformed (fuzz-tested).
 *
 * @module
 */

import { AmqpProtocolError } from "./client.ts";

// The error is defined with the client's, which the root import loads (this codec is
// loaded by the first connect); it is also exported here, where it is thrown.
export { AmqpProtocolError };

/** Frame types. */
export const FrameType = { method: 1, header: 2, body: 3, heartbeat: 8 } as const;
export const FRAME_END = 0xce;

/** A field table value. */
export type FieldValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | Date
  | FieldValue[]
  | { [key: string]: FieldValue };

/** A field table. */
export type FieldTable = { [key: string]: FieldValue };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds bytes. */
export class Writer {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #at = 0;

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#at + n));
    bigger.set(this.#buf.subarray(0, this.#at));
    this.#buf = bigger;
    this.#view = new DataView(bigger.buffer);
  }
  u8(v: number): this {
    this.#room(1);
    this.#buf[this.#at++] = v;
    return this;
  }
  u16(v: number): this {
    this.#room(2);
    this.#view.setUint16(this.#at, v);
    this.#at += 2;
    return this;
  }
  u32(v: number): this {
    this.#room(4);
    this.#view.setUint32(this.#at, v);
    this.#at += 4;
    return this;
  }
  i32(v: number): this {
    this.#room(4);
    this.#view.setInt32(this.#at, v);
    this.#at += 4;
    return this;
  }
  u64(v: bigint | number): this {
    this.#room(8);
    this.#view.setBigUint64(this.#at, BigInt(v));
    this.#at += 8;
    return this;
  }
  i64(v: bigint | number): this {
    this.#room(8);
    this.#view.setBigInt64(this.#at, BigInt(v));
    this.#at += 8;
    return this;
  }
  f64(v: number): this {
    this.#room(8);
    this.#view.setFloat64(this.#at, v);
    this.#at += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.#room(b.length);
    this.#buf.set(b, this.#at);
    this.#at += b.length;
    return this;
  }
  shortstr(s: string): this {
    const b = encoder.encode(s);
    if (b.length > 255) throw new RangeError(`short string over 255 bytes: ${s.slice(0, 30)}...`);
    return this.u8(b.length).bytes(b);
  }
  longstr(s: string | Uint8Array): this {
    const b = typeof s === "string" ? encoder.encode(s) : s;
    return this.u32(b.length).bytes(b);
  }
  /** Bits packed into octets, as AMQP packs consecutive bit arguments. */
  bits(...flags: boolean[]): this {
    let octet = 0;
    flags.forEach((f, i) => {
      if (f) octet |= 1 << (i % 8);
      if (i % 8 === 7) {
        this.u8(octet);
        octet = 0;
      }
    });
    if (flags.length % 8 !== 0) this.u8(octet);
    return this;
  }
  table(t: FieldTable | undefined): this {
    const inner = new Writer();
    for (const [k, v] of Object.entries(t ?? {})) inner.shortstr(k).value(v);
    return this.longstr(inner.build());
  }
  value(v: FieldValue): this {
    if (v === null || v === undefined) return this.u8(0x56); // V
    if (typeof v === "boolean") return this.u8(0x74).u8(v ? 1 : 0); // t
    if (typeof v === "string") return this.u8(0x53).longstr(v); // S
    if (typeof v === "bigint") return this.u8(0x6c).i64(v); // l
    if (typeof v === "number") {
      if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) return this.u8(0x49).i32(v); // I
      if (Number.isInteger(v)) return this.u8(0x6c).i64(BigInt(v));
      return this.u8(0x64).f64(v); // d
    }
    if (v instanceof Uint8Array) return this.u8(0x78).longstr(v); // x
    if (v instanceof Date) return this.u8(0x54).u64(BigInt(Math.floor(v.getTime() / 1000))); // T
    if (Array.isArray(v)) {
      const inner = new Writer();
      for (const item of v) inner.value(item);
      return this.u8(0x41).longstr(inner.build()); // A
    }
    return this.u8(0x46).table(v as FieldTable); // F
  }
  /** The bytes written. */
  build(): Uint8Array {
    return this.#buf.slice(0, this.#at);
  }
}

/** Reads bytes. */
export class Reader {
  readonly data: Uint8Array;
  #view: DataView;
  at = 0;
  #bitOctet = 0;
  #bitIndex = 8;

  constructor(data: Uint8Array) {
    this.data = data;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  #need(n: number): void {
    this.#bitIndex = 8; // any non-bit field ends a run of bits
    if (this.at + n > this.data.length) throw new AmqpProtocolError("frame cut short");
  }
  get left(): number {
    return this.data.length - this.at;
  }
  u8(): number {
    this.#need(1);
    return this.data[this.at++];
  }
  u16(): number {
    this.#need(2);
    const v = this.#view.getUint16(this.at);
    this.at += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.at);
    this.at += 4;
    return v;
  }
  i32(): number {
    this.#need(4);
    const v = this.#view.getInt32(this.at);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    this.#need(8);
    const v = this.#view.getBigUint64(this.at);
    this.at += 8;
    return v;
  }
  i64(): bigint {
    this.#need(8);
    const v = this.#view.getBigInt64(this.at);
    this.at += 8;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.#need(n);
    const v = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  shortstr(): string {
    return decoder.decode(this.bytes(this.u8()));
  }
  longbytes(): Uint8Array {
    return this.bytes(this.u32());
  }
  longstr(): string {
    return decoder.decode(this.longbytes());
  }
  bit(): boolean {
    if (this.#bitIndex === 8) {
      this.#need(1);
      this.#bitOctet = this.data[this.at++];
      this.#bitIndex = 0;
    }
    return (this.#bitOctet & (1 << this.#bitIndex++)) !== 0;
  }
  table(depth = 0): FieldTable {
    if (depth > 32) throw new AmqpProtocolError("field tables nested too deep");
    const inner = new Reader(this.longbytes());
    const out: FieldTable = {};
    while (inner.left > 0) {
      const key = inner.shortstr();
      out[key] = inner.value(depth + 1);
    }
    return out;
  }
  value(depth = 0): FieldValue {
    const type = String.fromCharCode(this.u8());
    switch (type) {
      case "t":
        return this.u8() !== 0;
      case "b":
        return (this.u8() << 24) >> 24;
      case "B":
        return this.u8();
      case "s":
        return (this.u16() << 16) >> 16;
      case "u":
        return this.u16();
      case "I":
        return this.i32();
      case "i":
        return this.u32();
      case "l": {
        const v = this.i64();
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v;
      }
      case "f": {
        this.#need(4);
        const v = this.#view.getFloat32(this.at);
        this.at += 4;
        return v;
      }
      case "d": {
        this.#need(8);
        const v = this.#view.getFloat64(this.at);
        this.at += 8;
        return v;
      }
      case "D": {
        const scale = this.u8(), raw = this.i32();
        return raw / 10 ** scale;
      }
      case "S":
        return this.longstr();
      case "x":
        return this.longbytes().slice();
      case "A": {
        if (depth > 32) throw new AmqpProtocolError("arrays nested too deep");
        const inner = new Reader(this.longbytes());
        const out: FieldValue[] = [];
        while (inner.left > 0) out.push(inner.value(depth + 1));
        return out;
      }
      case "T":
        return new Date(Number(this.u64()) * 1000);
      case "F":
        return this.table(depth + 1);
      case "V":
        return null;
      default:
        throw new AmqpProtocolError(`unknown field type "${type}"`);
    }
  }
}

/** Message properties (the basic class's). */
export interface MessageProperties {
  /** MIME type of the body ("application/json"...). */
  contentType?: string;
  /** Encoding of the body ("gzip"...). */
  contentEncoding?: string;
  /** Application headers (also what headers exchanges route on). */
  headers?: FieldTable;
  /** 1 transient, 2 persistent. */
  deliveryMode?: number;
  /** Priority, 0 to 9, for queues declared with x-max-priority. */
  priority?: number;
  /** Ties an RPC reply to its request. */
  correlationId?: string;
  /** The queue to send a reply to. */
  replyTo?: string;
  /** Per-message time to live in milliseconds, as a string (AMQP's form). */
  expiration?: string;
  /** The application's id of the message. */
  messageId?: string;
  /** When the message was made (second precision on the wire). */
  timestamp?: Date;
  /** The application's type name of the message. */
  type?: string;
  /** The publishing user; RabbitMQ checks it against the connection's user. */
  userId?: string;
  /** The publishing application. */
  appId?: string;
}

const PROPERTY_ORDER: [keyof MessageProperties, "s" | "t" | "o" | "T"][] = [
  ["contentType", "s"],
  ["contentEncoding", "s"],
  ["headers", "t"],
  ["deliveryMode", "o"],
  ["priority", "o"],
  ["correlationId", "s"],
  ["replyTo", "s"],
  ["expiration", "s"],
  ["messageId", "s"],
  ["timestamp", "T"],
  ["type", "s"],
  ["userId", "s"],
  ["appId", "s"],
];

/** Encodes a content header frame's payload. */
export function encodeHeader(
  classId: number,
  bodySize: number,
  props: MessageProperties,
): Uint8Array {
  const w = new Writer().u16(classId).u16(0).u64(bodySize);
  let flags = 0;
  const values = new Writer();
  PROPERTY_ORDER.forEach(([name, kind], i) => {
    const v = props[name];
    if (v === undefined) return;
    flags |= 1 << (15 - i);
    if (kind === "s") values.shortstr(String(v));
    else if (kind === "t") values.table(v as FieldTable);
    else if (kind === "o") values.u8(Number(v));
    else values.u64(BigInt(Math.floor((v as Date).getTime() / 1000)));
  });
  return w.u16(flags).bytes(values.build()).build();
}

/** Decodes a content header frame's payload. */
export function decodeHeader(
  payload: Uint8Array,
): { classId: number; bodySize: number; properties: MessageProperties } {
  const r = new Reader(payload);
  const classId = r.u16();
  r.u16();
  const size = r.u64();
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new AmqpProtocolError("body too large");
  const flags = r.u16();
  const properties: MessageProperties = {};
  PROPERTY_ORDER.forEach(([name, kind], i) => {
    if ((flags & (1 << (15 - i))) === 0) return;
    const target = properties as Record<string, unknown>;
    if (kind === "s") target[name] = r.shortstr();
    else if (kind === "t") target[name] = r.table();
    else if (kind === "o") target[name] = r.u8();
    else target[name] = new Date(Number(r.u64()) * 1000);
  });
  return { classId, bodySize: Number(size), properties };
}

/** A frame: its type, channel and payload bytes. */
export function encodeFrame(type: number, channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  const v = new DataView(out.buffer);
  out[0] = type;
  v.setUint16(1, channel);
  v.setUint32(3, payload.length);
  out.set(payload, 7);
  out[7 + payload.length] = FRAME_END;
  return out;
}
