/**
 * permessage-deflate (RFC 7692): negotiation and the per-message codec. Neither side keeps
 * compression context between messages: the server's answer always says both
 * `server_no_context_takeover` and `client_no_context_takeover` (RFC 7692 7.1.1.1-2 lets
 * it), and our client asks for both. Each message then inflates on its own, with no
 * window to keep per connection.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import { nodeBuiltin } from "../../core/_node_builtin.ts";

// node:zlib and node:buffer load with the first compressed message, not with shrapnel.
const zlib = () => nodeBuiltin<typeof import("node:zlib")>("node:zlib");
const buffer = () => nodeBuiltin<typeof import("node:buffer")>("node:buffer").Buffer;
import { CloseCode, WebSocketError } from "./frame.ts";

/** What was agreed for one connection (nothing to choose: no context either way). */
export type DeflateParams = Record<string, never>;

const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

/** One element of a Sec-WebSocket-Extensions header: a name and its parameters. */
export interface ExtensionElement {
  /** The extension's name, lower case. */
  name: string;
  /** Its parameters, names lower case; the value is null when none was given. */
  params: Map<string, string | null>;
  /** Whether a parameter was given more than once (RFC 7692 7: such an element is invalid). */
  repeated: boolean;
}

/**
 * The elements of an extensions header ("name; a; b=1, other" -> two elements).
 *
 * @example
 * ```ts
 * import { parseExtensions } from "./deflate.ts";
 * const [e] = parseExtensions("permessage-deflate; client_max_window_bits=10");
 * console.log(e.name, e.params.get("client_max_window_bits")); // permessage-deflate 10
 * ```
 */
export function parseExtensions(header: string | null): ExtensionElement[] {
  if (header === null) return [];
  return header.split(",").map((offer) => {
    const [name, ...params] = offer.split(";").map((p) => p.trim());
    const map = new Map<string, string | null>();
    let repeated = false;
    for (const p of params) {
      if (p === "") continue;
      const eq = p.indexOf("=");
      const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? null : p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
      if (map.has(key)) repeated = true;
      map.set(key, value);
    }
    return { name: name.toLowerCase(), params: map, repeated };
  }).filter((e) => e.name !== "");
}

const KNOWN_PARAMS = new Set([
  "server_no_context_takeover",
  "client_no_context_takeover",
  "server_max_window_bits",
  "client_max_window_bits",
]);

/** A window size parameter's value: 8 to 15 in plain decimal (RFC 7692 7.1.2). */
function isWindowBits(value: string | null | undefined): boolean {
  return value !== null && value !== undefined && /^(?:[89]|1[0-5])$/.test(value);
}

/**
 * Why a permessage-deflate element is invalid (RFC 7692 7.1: an unknown parameter, one
 * given twice, or a bad value), or null if it is valid. `response`: read as the server's
 * answer (where `client_max_window_bits` needs a value) rather than as an offer.
 */
function invalidDeflateElement(e: ExtensionElement, response: boolean): string | null {
  if (e.repeated) return "a parameter given twice";
  for (const [key, value] of e.params) {
    if (!KNOWN_PARAMS.has(key)) return `unknown parameter ${key}`;
    if (key.endsWith("_no_context_takeover") && value !== null) return `${key} with a value`;
    if (key === "server_max_window_bits" && !isWindowBits(value)) return `bad ${key}`;
    if (key === "client_max_window_bits" && (value !== null || response) && !isWindowBits(value)) {
      return `bad ${key}`;
    }
  }
  return null;
}

/**
 * The server's answer to a client's offers: the response header value and the agreed
 * parameters, or null to decline. An offer with an unknown parameter, a repeated one or a
 * bad value is declined (RFC 7692 7.1), as is one that would bind our window size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptDeflate } from "./deflate.ts";
 * assert.deepEqual(acceptDeflate("permessage-deflate; x_unknown") === null, true);
 * assert.deepEqual(acceptDeflate("permessage-deflate")?.header.startsWith("permessage-deflate"), true);
 * ```
 */
export function acceptDeflate(
  offers: string | null,
): { header: string; params: DeflateParams } | null {
  for (const offer of parseExtensions(offers)) {
    if (offer.name !== "permessage-deflate") continue;
    if (invalidDeflateElement(offer, false) !== null) continue;
    const serverBits = offer.params.get("server_max_window_bits");
    if (serverBits !== undefined && serverBits !== "15") continue;
    return {
      header: "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
      params: {},
    };
  }
  return null;
}

/** The client's offer. */
export const CLIENT_OFFER =
  "permessage-deflate; client_no_context_takeover; server_no_context_takeover";

/**
 * The client's reading of the server's answer to {@linkcode CLIENT_OFFER}: the agreed
 * parameters, or null if the extension was not agreed.
 *
 * @example
 * ```ts
 * import { deflateAccepted } from "./deflate.ts";
 * console.log(deflateAccepted("permessage-deflate; server_no_context_takeover")); // {}
 * ```
 * @throws {WebSocketError} (1002) if the answer names an extension other than
 *   permessage-deflate, names it twice, has an invalid or unknown parameter, a
 *   `client_max_window_bits` we did not offer, or keeps context though asked not to
 */
export function deflateAccepted(header: string | null): DeflateParams | null {
  const elements = parseExtensions(header);
  if (elements.length === 0) return null;
  const fail = (why: string) => new WebSocketError(CloseCode.protocolError, why);
  const other = elements.find((e) => e.name !== "permessage-deflate");
  if (other !== undefined) {
    throw fail(`the server agreed to an extension not offered: ${other.name}`);
  }
  if (elements.length > 1) throw fail("the server agreed to permessage-deflate twice");
  const agreed = elements[0];
  const invalid = invalidDeflateElement(agreed, true);
  if (invalid !== null) throw fail(`invalid permessage-deflate answer: ${invalid}`);
  if (agreed.params.has("client_max_window_bits")) {
    throw fail("the server answered client_max_window_bits, which was not offered");
  }
  if (!agreed.params.has("server_no_context_takeover")) {
    throw fail("the server did not agree to server_no_context_takeover");
  }
  return {};
}

/** The per-message codec (stateless: no context is kept). */
export class MessageDeflate {
  /**
   * Makes the codec for one connection.
   *
   * @param _params what was agreed
   */
  constructor(_params: DeflateParams = {}) {}

  /** A message's payload, compressed (RSV1 goes on its first frame). */
  compress(payload: Uint8Array): Uint8Array {
    const { constants, deflateRawSync } = zlib();
    const out = deflateRawSync(
      buffer().from(payload.buffer, payload.byteOffset, payload.byteLength),
      {
        finishFlush: constants.Z_SYNC_FLUSH,
      },
    );
    // The sync flush ends with 00 00 ff ff, which the protocol leaves out.
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength - 4);
  }

  /**
   * A compressed message's payload, inflated.
   *
   * @param payload the message's payload as received
   * @param limit the most bytes it may inflate to
   * @param what the limit in words, for the close reason
   * @throws {WebSocketError} 1009 past `limit` bytes (a deflate bomb), 1007 if corrupt
   */
  decompress(payload: Uint8Array, limit: number, what = `${limit} bytes`): Uint8Array {
    const input = new Uint8Array(payload.length + 4);
    input.set(payload);
    input.set(TAIL, payload.length);
    let out: Buffer;
    try {
      const { constants, inflateRawSync } = zlib();
      out = inflateRawSync(buffer().from(input.buffer), {
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: limit,
      });
    } catch (e) {
      if (e instanceof RangeError) {
        throw new WebSocketError(CloseCode.tooBig, `message inflates to over ${what}`);
      }
      throw new WebSocketError(CloseCode.invalidData, "corrupt compressed message");
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
}
