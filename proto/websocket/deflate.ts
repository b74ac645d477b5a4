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

/** The parameters of each offered extension ("name; a; b=1, other" -> entries). */
export function parseExtensions(
  header: string | null,
): { name: string; params: Map<string, string> }[] {
  if (header === null) return [];
  return header.split(",").map((offer) => {
    const [name, ...params] = offer.split(";").map((p) => p.trim());
    return {
      name: name.toLowerCase(),
      params: new Map(
        params.filter((p) => p !== "").map((p) => {
          const [k, v = ""] = p.split("=").map((x) => x.trim().replace(/^"|"$/g, ""));
          return [k.toLowerCase(), v] as [string, string];
        }),
      ),
    };
  }).filter((e) => e.name !== "");
}

/**
 * The server's answer to a client's offers: the response header value and the agreed
 * parameters, or null to decline. Offers that would bind our window size are declined.
 */
export function acceptDeflate(
  offers: string | null,
): { header: string; params: DeflateParams } | null {
  for (const offer of parseExtensions(offers)) {
    if (offer.name !== "permessage-deflate") continue;
    if (
      offer.params.has("server_max_window_bits") &&
      offer.params.get("server_max_window_bits") !== "15"
    ) {
      continue;
    }
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
 * The client's reading of the server's answer: the agreed parameters, or null if the
 * extension was not agreed.
 * @throws {WebSocketError} if the server keeps context though asked not to
 */
export function deflateAccepted(header: string | null): DeflateParams | null {
  const agreed = parseExtensions(header).find((e) => e.name === "permessage-deflate");
  if (agreed === undefined) return null;
  if (!agreed.params.has("server_no_context_takeover")) {
    throw new WebSocketError(
      CloseCode.protocolError,
      "the server did not agree to server_no_context_takeover",
    );
  }
  return {};
}

/** The per-message codec (stateless: no context is kept). */
export class MessageDeflate {
  /** @param _params what was agreed */
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
   * @throws {WebSocketError} 1009 past `limit` bytes (a deflate bomb), 1007 if corrupt
   */
  decompress(payload: Uint8Array, limit: number): Uint8Array {
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
        throw new WebSocketError(CloseCode.tooBig, `message over ${limit} bytes`);
      }
      throw new WebSocketError(CloseCode.invalidData, "corrupt compressed message");
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
}
