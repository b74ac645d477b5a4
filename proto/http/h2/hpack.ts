/**
 * HPACK (RFC 7541): header compression for HTTP/2, with the static and dynamic tables
 * and Huffman-coded strings. One {@linkcode HpackDecoder} and one {@linkcode HpackEncoder}
 * per connection and direction: the dynamic table is shared state of all header blocks
 * of a connection, in order.
 *
 * Strings are byte strings: decoded field names and values are Latin-1 (one character per
 * byte); an encoded character beyond U+00FF is written as UTF-8.
 *
 * @module
 */

import { COMPRESSION_ERROR, ENHANCE_YOUR_CALM } from "./constants.ts";
import { Http2Error } from "./errors.ts";
import { huffmanDecode, huffmanEncode, huffmanLength } from "./huffman.ts";

/** The static table (RFC 7541 Appendix A), names and values in turn, from index 1. */
// deno-fmt-ignore
const STATIC: readonly string[] = [
  ":authority", "",
  ":method", "GET",
  ":method", "POST",
  ":path", "/",
  ":path", "/index.html",
  ":scheme", "http",
  ":scheme", "https",
  ":status", "200",
  ":status", "204",
  ":status", "206",
  ":status", "304",
  ":status", "400",
  ":status", "404",
  ":status", "500",
  "accept-charset", "",
  "accept-encoding", "gzip, deflate",
  "accept-language", "",
  "accept-ranges", "",
  "accept", "",
  "access-control-allow-origin", "",
  "age", "",
  "allow", "",
  "authorization", "",
  "cache-control", "",
  "content-disposition", "",
  "content-encoding", "",
  "content-language", "",
  "content-length", "",
  "content-location", "",
  "content-range", "",
  "content-type", "",
  "cookie", "",
  "date", "",
  "etag", "",
  "expect", "",
  "expires", "",
  "from", "",
  "host", "",
  "if-match", "",
  "if-modified-since", "",
  "if-none-match", "",
  "if-range", "",
  "if-unmodified-since", "",
  "last-modified", "",
  "link", "",
  "location", "",
  "max-forwards", "",
  "proxy-authenticate", "",
  "proxy-authorization", "",
  "range", "",
  "referer", "",
  "refresh", "",
  "retry-after", "",
  "server", "",
  "set-cookie", "",
  "strict-transport-security", "",
  "transfer-encoding", "",
  "user-agent", "",
  "vary", "",
  "via", "",
  "www-authenticate", "",
];

const STATIC_COUNT = STATIC.length / 2; // 61

/** Static index by "name\0value", and by name alone (the first of that name). */
const STATIC_FIELDS = new Map<string, number>();
const STATIC_NAMES = new Map<string, number>();
for (let i = STATIC_COUNT; i >= 1; i--) {
  STATIC_FIELDS.set(`${STATIC[2 * i - 2]}\0${STATIC[2 * i - 1]}`, i);
  STATIC_NAMES.set(STATIC[2 * i - 2], i);
}

/** An entry's size: its name's and value's octets plus 32 (RFC 7541 section 4.1). */
function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}

/**
 * A dynamic table: a ring of names and values, newest first by index, evicting the
 * oldest to stay within its size.
 */
class DynamicTable {
  #names: string[] = new Array(16);
  #values: string[] = new Array(16);
  /** Ring position of the oldest entry. */
  #tail = 0;
  length = 0;
  size = 0;
  maxSize: number;
  /** Entries ever inserted (an entry's insertion number identifies it while it lives). */
  inserted = 0;
  /** Called with each evicted entry's insertion number (the encoder forgets it). */
  onEvict: ((name: string, value: string, insertion: number) => void) | null = null;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
  }

  /** Name of entry `i` (1 = newest). */
  name(i: number): string {
    return this.#names[(this.#tail + this.length - i) & (this.#names.length - 1)];
  }

  /** Value of entry `i` (1 = newest). */
  value(i: number): string {
    return this.#values[(this.#tail + this.length - i) & (this.#names.length - 1)];
  }

  /** Adds an entry as the newest; false if it was larger than the whole table. */
  add(name: string, value: string): boolean {
    const size = entrySize(name, value);
    // An entry larger than the table empties it and is not added (section 4.4).
    this.#evictTo(this.maxSize - size);
    if (size > this.maxSize) return false;
    if (this.length === this.#names.length) this.#grow();
    const at = (this.#tail + this.length) & (this.#names.length - 1);
    this.#names[at] = name;
    this.#values[at] = value;
    this.length++;
    this.size += size;
    this.inserted++;
    return true;
  }

  resize(maxSize: number): void {
    this.maxSize = maxSize;
    this.#evictTo(maxSize);
  }

  #evictTo(size: number): void {
    const mask = this.#names.length - 1;
    while (this.size > size && this.length > 0) {
      const name = this.#names[this.#tail], value = this.#values[this.#tail];
      this.size -= entrySize(name, value);
      this.onEvict?.(name, value, this.inserted - this.length + 1);
      this.#names[this.#tail] = this.#values[this.#tail] = "";
      this.#tail = (this.#tail + 1) & mask;
      this.length--;
    }
  }

  #grow(): void {
    const n = this.#names.length;
    const names = new Array<string>(n * 2), values = new Array<string>(n * 2);
    for (let i = 0; i < this.length; i++) {
      names[i] = this.#names[(this.#tail + i) & (n - 1)];
      values[i] = this.#values[(this.#tail + i) & (n - 1)];
    }
    this.#names = names;
    this.#values = values;
    this.#tail = 0;
  }
}

/** What {@linkcode HpackDecoder.decode} returns. */
export interface DecodedHeaders {
  /** Names and values in turn ([name, value, name, value...]), as in the block. */
  fields: string[];
  /**
   * The decoded header list size (RFC 9113 section 6.5.2: octets of names and values
   * plus 32 per field), counted in full even when fields were dropped for it.
   */
  size: number;
  /** Whether `size` passed the decoder's limit (fields past it were not kept). */
  tooLarge: boolean;
}

/** Options of {@linkcode HpackDecoder}. */
export interface HpackDecoderOptions {
  /** The dynamic table size this side allows (SETTINGS_HEADER_TABLE_SIZE; 4096). */
  maxTableSize?: number;
  /**
   * The largest decoded header list, in octets (names, values, 32 per field; 65536).
   * Past it, fields are counted but not kept (`tooLarge`).
   */
  maxHeaderListSize?: number;
  /**
   * How many times `maxHeaderListSize` a block may decode to before decoding stops with
   * ENHANCE_YOUR_CALM (an HPACK bomb: a small block of references to a big entry; 2).
   */
  bombFactor?: number;
}

/**
 * Decodes header blocks (RFC 7541), keeping the dynamic table across them. Bounded: the
 * decoded header list size is counted as it goes and, past `maxHeaderListSize` times
 * `bombFactor`, decoding stops with an ENHANCE_YOUR_CALM connection error, whatever the
 * block's own size (an HPACK bomb).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HpackDecoder } from "./hpack.ts";
 * const decoder = new HpackDecoder();
 * // RFC 7541 C.2.1: a literal field with incremental indexing
 * const block = new Uint8Array([0x40, 0x0a, ...new TextEncoder().encode("custom-key"),
 *   0x0d, ...new TextEncoder().encode("custom-header")]);
 * assert.deepEqual(decoder.decode(block).fields, ["custom-key", "custom-header"]);
 * assert.deepEqual(decoder.tableSize, 55);
 * ```
 */
export class HpackDecoder {
  readonly #table: DynamicTable;
  /** The most the encoder may set the table to (our SETTINGS_HEADER_TABLE_SIZE). */
  #limit: number;
  readonly #maxList: number;
  readonly #bombAt: number;

  /**
   * Makes a decoder with an empty dynamic table.
   * @param options table size and decoded size limits
   */
  constructor(options: HpackDecoderOptions = {}) {
    this.#limit = options.maxTableSize ?? 4096;
    this.#table = new DynamicTable(this.#limit);
    this.#maxList = options.maxHeaderListSize ?? 65536;
    this.#bombAt = this.#maxList * (options.bombFactor ?? 2);
  }

  /** The dynamic table's current size in octets (entries plus 32 each). */
  get tableSize(): number {
    return this.#table.size;
  }

  /** The dynamic table's entries, newest first, as [name, value] pairs (for tests). */
  get tableEntries(): [string, string][] {
    const t = this.#table, out: [string, string][] = [];
    for (let i = 1; i <= t.length; i++) out.push([t.name(i), t.value(i)]);
    return out;
  }

  /**
   * Decodes one complete header block.
   *
   * @throws {Http2Error} COMPRESSION_ERROR for a malformed block (bad index, truncated
   *   integer or string, bad Huffman code, a table size update that is misplaced or over
   *   the limit); ENHANCE_YOUR_CALM for a block decoding past `maxHeaderListSize` x
   *   `bombFactor`. Either way the dynamic table is no longer in step: the connection
   *   must end.
   */
  decode(block: Uint8Array): DecodedHeaders {
    const table = this.#table;
    const fields: string[] = [];
    let size = 0, tooLarge = false;
    let p = 0, sawField = false;
    const n = block.length;
    while (p < n) {
      const b = block[p];
      let name: string, value: string;
      if (b & 0x80) {
        // Indexed field.
        const [index, next] = readInteger(block, p, 7);
        p = next;
        if (index === 0) throw new Http2Error(COMPRESSION_ERROR, "index 0");
        name = this.#name(index);
        value = this.#value(index);
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update: only before the first field of a block.
        const [newSize, next] = readInteger(block, p, 5);
        p = next;
        if (sawField) {
          throw new Http2Error(COMPRESSION_ERROR, "table size update after a field");
        }
        if (newSize > this.#limit) {
          throw new Http2Error(
            COMPRESSION_ERROR,
            `table size update to ${newSize} over the limit ${this.#limit}`,
          );
        }
        table.resize(newSize);
        continue;
      } else {
        // Literal: with incremental indexing (01), without (0000), never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        const [index, next] = readInteger(block, p, indexing ? 6 : 4);
        p = next;
        if (index === 0) {
          const [text, after] = readString(block, p);
          p = after;
          name = text;
        } else name = this.#name(index);
        const [text, after] = readString(block, p);
        p = after;
        value = text;
        if (indexing) table.add(name, value);
      }
      sawField = true;
      size += name.length + value.length + 32;
      if (size > this.#maxList) {
        if (size > this.#bombAt) {
          throw new Http2Error(
            ENHANCE_YOUR_CALM,
            `a header block of ${n} bytes decodes to more than ${this.#bombAt} bytes`,
          );
        }
        tooLarge = true;
        continue;
      }
      fields.push(name, value);
    }
    return { fields, size, tooLarge };
  }

  /**
   * Lowers (or raises, up to what was first given) the table size this side allows, as
   * after sending a new SETTINGS_HEADER_TABLE_SIZE.
   */
  setLimit(maxTableSize: number): void {
    this.#limit = maxTableSize;
    if (this.#table.maxSize > maxTableSize) this.#table.resize(maxTableSize);
  }

  #name(index: number): string {
    if (index <= STATIC_COUNT) return STATIC[2 * index - 2];
    const i = index - STATIC_COUNT;
    if (i > this.#table.length) throw new Http2Error(COMPRESSION_ERROR, `no entry ${index}`);
    return this.#table.name(i);
  }

  #value(index: number): string {
    if (index <= STATIC_COUNT) return STATIC[2 * index - 1];
    return this.#table.value(index - STATIC_COUNT);
  }
}

/** An HPACK integer with an `n`-bit prefix at `p`: [value, next offset]. */
function readInteger(block: Uint8Array, p: number, n: number): [number, number] {
  const mask = (1 << n) - 1;
  let value = block[p++] & mask;
  if (value < mask) return [value, p];
  let shift = 0;
  for (;;) {
    if (p >= block.length) throw new Http2Error(COMPRESSION_ERROR, "integer cut short");
    const b = block[p++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
    shift += 7;
    // Nothing in HTTP/2 needs more than 32 bits (lengths, indexes, table sizes).
    if (shift > 28) throw new Http2Error(COMPRESSION_ERROR, "integer too large");
  }
  if (value > 0xffffffff) throw new Http2Error(COMPRESSION_ERROR, "integer too large");
  return [value, p];
}

/** An HPACK string literal at `p`: [text, next offset]. */
function readString(block: Uint8Array, p: number): [string, number] {
  if (p >= block.length) throw new Http2Error(COMPRESSION_ERROR, "string cut short");
  const huffman = (block[p] & 0x80) !== 0;
  const [length, start] = readInteger(block, p, 7);
  const end = start + length;
  if (end > block.length) throw new Http2Error(COMPRESSION_ERROR, "string cut short");
  const bytes = block.subarray(start, end);
  return [huffman ? huffmanDecode(bytes) : latin1(bytes), end];
}

/** Bytes as a string of byte-valued characters. */
function latin1(bytes: Uint8Array): string {
  if (bytes.length < 64) {
    let out = "";
    for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
    return out;
  }
  let out = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return out;
}

/** Options of {@linkcode HpackEncoder}. */
export interface HpackEncoderOptions {
  /** The most dynamic table this encoder uses, whatever the peer allows (4096). */
  maxTableSize?: number;
  /** Whether to Huffman-code strings where it makes them shorter (true). */
  huffman?: boolean;
}

/** Fields never indexed (RFC 7541 section 7.1.3: secrets an intermediary must not compress). */
const NEVER_INDEXED = new Set(["authorization", "proxy-authorization"]);
/** Fields sent without indexing: values that rarely repeat, or would fill the table. */
const NOT_INDEXED = new Set([":path", "cookie"]);

const UTF8 = new TextEncoder();

/**
 * Encodes header blocks (RFC 7541), keeping a dynamic table across them: a field seen
 * before goes out as one index. The table follows the peer's SETTINGS_HEADER_TABLE_SIZE
 * (`setPeerLimit`), announcing changes at the start of the next block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HpackDecoder, HpackEncoder } from "./hpack.ts";
 * const encoder = new HpackEncoder(), decoder = new HpackDecoder();
 * // A block is a view valid until the next encode: keep a copy.
 * const first = encoder.encode([":status", "200", "content-type", "text/plain"]).slice();
 * const second = encoder.encode([":status", "200", "content-type", "text/plain"]);
 * console.log(decoder.decode(first).fields); // [":status", "200", "content-type", "text/plain"]
 * assert.deepEqual([decoder.decode(second).fields.length, second.length], [4, 2]);
 * ```
 */
export class HpackEncoder {
  readonly #table: DynamicTable;
  readonly #ceiling: number;
  readonly #huffman: boolean;
  /** Insertion number of live dynamic entries by "name\0value", and by name. */
  readonly #fields = new Map<string, number>();
  readonly #names = new Map<string, number>();
  /** Table sizes to announce at the next block: the smallest and the last since. */
  #pendingMin = -1;
  #pendingLast = -1;
  #out = new Uint8Array(4096);
  #p = 0;

  /**
   * Makes an encoder with an empty dynamic table.
   * @param options table size ceiling and Huffman coding
   */
  constructor(options: HpackEncoderOptions = {}) {
    this.#ceiling = options.maxTableSize ?? 4096;
    this.#huffman = options.huffman ?? true;
    // The peer's initial limit is 4096 (the protocol default) until its SETTINGS say.
    this.#table = new DynamicTable(Math.min(4096, this.#ceiling));
    this.#table.onEvict = (name, value, insertion) => {
      const key = `${name}\0${value}`;
      if (this.#fields.get(key) === insertion) this.#fields.delete(key);
      if (this.#names.get(name) === insertion) this.#names.delete(name);
    };
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE: the table shrinks (or grows up to the ceiling). */
  setPeerLimit(size: number): void {
    const next = Math.min(size, this.#ceiling);
    if (next === this.#table.maxSize && this.#pendingLast < 0) return;
    this.#table.resize(next);
    if (this.#pendingMin < 0 || next < this.#pendingMin) this.#pendingMin = next;
    this.#pendingLast = next;
  }

  /**
   * Encodes fields given as names and values in turn (names lower case); returns the
   * block (a view valid until the next `encode`).
   */
  encode(fields: readonly string[]): Uint8Array {
    this.#p = 0;
    if (this.#pendingLast >= 0) {
      if (this.#pendingMin < this.#pendingLast) this.#integer(0x20, 5, this.#pendingMin);
      this.#integer(0x20, 5, this.#pendingLast);
      this.#pendingMin = this.#pendingLast = -1;
    }
    for (let i = 0; i < fields.length; i += 2) this.#field(fields[i], fields[i + 1]);
    return this.#out.subarray(0, this.#p);
  }

  #field(name: string, value: string): void {
    const key = `${name}\0${value}`;
    const table = this.#table;
    const staticIndex = STATIC_FIELDS.get(key);
    if (staticIndex !== undefined) {
      this.#integer(0x80, 7, staticIndex);
      return;
    }
    const insertion = this.#fields.get(key);
    if (insertion !== undefined) {
      this.#integer(0x80, 7, STATIC_COUNT + table.inserted - insertion + 1);
      return;
    }
    let nameIndex = STATIC_NAMES.get(name) ?? 0;
    if (nameIndex === 0) {
      const named = this.#names.get(name);
      if (named !== undefined) nameIndex = STATIC_COUNT + table.inserted - named + 1;
    }
    if (NEVER_INDEXED.has(name)) this.#integer(0x10, 4, nameIndex);
    else if (NOT_INDEXED.has(name) || entrySize(name, value) > table.maxSize / 2) {
      this.#integer(0x00, 4, nameIndex);
    } else {
      this.#integer(0x40, 6, nameIndex);
      if (table.add(name, value)) {
        this.#fields.set(key, table.inserted);
        this.#names.set(name, table.inserted);
      }
    }
    if (nameIndex === 0) this.#string(name);
    this.#string(value);
  }

  #room(n: number): void {
    if (this.#p + n <= this.#out.length) return;
    const bigger = new Uint8Array(Math.max(this.#out.length * 2, this.#p + n));
    bigger.set(this.#out.subarray(0, this.#p));
    this.#out = bigger;
  }

  #integer(bits: number, n: number, value: number): void {
    this.#room(6);
    const out = this.#out, mask = (1 << n) - 1;
    if (value < mask) {
      out[this.#p++] = bits | value;
      return;
    }
    out[this.#p++] = bits | mask;
    value -= mask;
    while (value >= 128) {
      out[this.#p++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    out[this.#p++] = value;
  }

  #string(text: string): void {
    const bytes = toBytes(text);
    if (this.#huffman && bytes.length > 1) {
      const length = huffmanLength(bytes);
      if (length <= bytes.length) {
        this.#integer(0x80, 7, length);
        this.#room(length);
        this.#p = huffmanEncode(bytes, this.#out, this.#p);
        return;
      }
    }
    this.#integer(0x00, 7, bytes.length);
    this.#room(bytes.length);
    this.#out.set(bytes, this.#p);
    this.#p += bytes.length;
  }
}

/** A field's bytes: one per character when all are below U+0100, else UTF-8. */
function toBytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) return UTF8.encode(text);
    bytes[i] = c;
  }
  return bytes;
}
