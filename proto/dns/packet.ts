/**
 * DNS messages through npm:dns-packet (chosen: a complete, maintained codec), behind
 * typed helpers that turn its exceptions into {@linkcode MalformedPacketError}.
 *
 * @module
 */

// @ts-types="@types/dns-packet"
import type * as Codec from "dns-packet";
import { nodeBuiltin } from "../../core/_node_builtin.ts";
import { MalformedPacketError } from "./errors.ts";
import { awaitModule } from "../../core/_lazy_import.ts";
import { importNpm } from "../_npm.ts";

// dns-packet's flag bits (RFC 1035 4.1.1), so that they need no loaded codec.
const AUTHORITATIVE_ANSWER = 1 << 10;
const TRUNCATED_RESPONSE = 1 << 9;
const RECURSION_DESIRED = 1 << 8;

let loaded: typeof Codec | null = null;

/**
 * Loads the DNS codec (npm:dns-packet), which importing shrapnel does not: the resolver's
 * exchanges do it themselves; call it before using {@linkcode encodeQuery},
 * {@linkcode encodeResponse} or {@linkcode decodeMessage} directly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMessage, encodeQuery, loadDnsCodec } from "./packet.ts";
 * await loadDnsCodec();
 * assert.deepEqual(decodeMessage(encodeQuery(7, "example.test", "A", true)).id, 7);
 * ```
 */
export async function loadDnsCodec(): Promise<void> {
  if (loaded === null) {
    const module = await awaitModule(
      () => importNpm<typeof Codec & { default?: typeof Codec }>("dns-packet"),
      "npm:dns-packet",
    );
    loaded = (module.default ?? module) as typeof Codec;
  }
}

function codecLoaded(): typeof Codec {
  if (loaded === null) throw new Error("the DNS codec is not loaded: await loadDnsCodec() first");
  return loaded;
}

/** A resource record as decoded (data depends on the type). */
export interface DnsRecord {
  /** Owner name, without the final dot. */
  name: string;
  /** Record type ("A", "AAAA", "CNAME", "NS", "SOA", "MX", "TXT", "PTR", ...). */
  type: string;
  /** Class ("IN"). */
  class?: string;
  /** Time to live, in seconds. */
  ttl?: number;
  /** The record data: an address or name as text, or an object (SOA, MX...), or buffers (TXT). */
  data?: unknown;
}

/** A decoded message. */
export interface DnsMessage {
  /** The transaction id. */
  id: number;
  /** Whether this is a response. */
  response: boolean;
  /** RCODE as a name ("NOERROR", "NXDOMAIN", "SERVFAIL", ...). */
  rcode: string;
  /** Truncated (TC). */
  truncated: boolean;
  /** Authoritative answer (AA). */
  authoritative: boolean;
  /** The questions. */
  questions: { name: string; type: string; class?: string }[];
  /** The answer section. */
  answers: DnsRecord[];
  /** The authority section. */
  authorities: DnsRecord[];
  /** The additional section. */
  additionals: DnsRecord[];
}

/**
 * Encodes a query. `recursion` sets RD; `udpSize` adds an EDNS0 OPT record advertising it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeQuery, loadDnsCodec } from "./packet.ts";
 * await loadDnsCodec();
 * assert.deepEqual(encodeQuery(7, "example.test", "A", true).length, 30);
 * ```
 */
export function encodeQuery(
  id: number,
  name: string,
  type: string,
  recursion: boolean,
  udpSize = 0,
): Uint8Array {
  const message: Codec.Packet = {
    type: "query",
    id,
    flags: recursion ? RECURSION_DESIRED : 0,
    questions: [{ type: type as Codec.RecordType, name, class: "IN" }],
  };
  if (udpSize > 0) {
    message.additionals = [{ type: "OPT", name: ".", udpPayloadSize: udpSize } as Codec.Answer];
  }
  return new Uint8Array(codecLoaded().encode(message));
}

/**
 * Encodes a response (for tests and fake servers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMessage, encodeResponse, loadDnsCodec } from "./packet.ts";
 * await loadDnsCodec();
 * const bytes = encodeResponse({ id: 1, questions: [{ name: "a.test", type: "A" }],
 *   answers: [{ name: "a.test", type: "A", ttl: 60, data: "127.0.0.1" }] });
 * assert.deepEqual(decodeMessage(bytes).answers[0].data, "127.0.0.1");
 * ```
 */
export function encodeResponse(message: {
  id: number;
  rcode?: string;
  truncated?: boolean;
  authoritative?: boolean;
  questions: { name: string; type: string }[];
  answers?: DnsRecord[];
  authorities?: DnsRecord[];
  additionals?: DnsRecord[];
}): Uint8Array {
  const rcodes: Record<string, number> = {
    NOERROR: 0,
    FORMERR: 1,
    SERVFAIL: 2,
    NXDOMAIN: 3,
    REFUSED: 5,
  };
  const flags = (message.authoritative ? AUTHORITATIVE_ANSWER : 0) |
    (message.truncated ? TRUNCATED_RESPONSE : 0) | (rcodes[message.rcode ?? "NOERROR"] ?? 0);
  return new Uint8Array(
    codecLoaded().encode({
      type: "response",
      id: message.id,
      flags,
      questions: message.questions as Codec.Question[],
      answers: (message.answers ?? []) as Codec.Answer[],
      authorities: (message.authorities ?? []) as Codec.Answer[],
      additionals: (message.additionals ?? []) as Codec.Answer[],
    }),
  );
}

/**
 * Decodes a message.
 * @throws {MalformedPacketError} if it cannot be decoded
 */
export function decodeMessage(bytes: Uint8Array, qname = "?", qtype = "?"): DnsMessage {
  if (bytes.length < 12) throw new MalformedPacketError(qname, qtype, "shorter than a header");
  let p: Codec.DecodedPacket;
  try {
    p = codecLoaded().decode(
      nodeBuiltin<typeof import("node:buffer")>("node:buffer").Buffer.from(
        bytes.buffer,
        bytes.byteOffset,
        bytes.byteLength,
      ),
    );
  } catch (e) {
    throw new MalformedPacketError(qname, qtype, `undecodable packet (${(e as Error).message})`);
  }
  const flags = p.flags ?? 0;
  return {
    id: p.id ?? 0,
    response: p.type === "response",
    rcode: (p as { rcode?: string }).rcode ?? "NOERROR",
    truncated: (flags & TRUNCATED_RESPONSE) !== 0,
    authoritative: (flags & AUTHORITATIVE_ANSWER) !== 0,
    questions: (p.questions ?? []).map((q) => ({ name: q.name, type: q.type, class: q.class })),
    answers: (p.answers ?? []) as DnsRecord[],
    authorities: (p.authorities ?? []) as DnsRecord[],
    additionals: (p.additionals ?? []) as DnsRecord[],
  };
}

/** Lower case, no trailing dot: how names are compared. */
export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith(".") && n.length > 1 ? n.slice(0, -1) : n === "." ? "" : n;
}

/** Whether `name` is `zone` or below it ("" is the root). */
export function inBailiwick(name: string, zone: string): boolean {
  const n = normalizeName(name), z = normalizeName(zone);
  return z === "" || n === z || n.endsWith(`.${z}`);
}
