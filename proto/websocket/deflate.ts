/**
 * permessage-deflate (RFC 7692): negotiation and the per-message codec. Our side never
 * keeps compression context between messages (it says `server_no_context_takeover` or
 * `client_no_context_takeover`), so each message compresses alone; the peer's messages
 * may use context, which is kept as the last 32 KiB of what was inflated.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { CloseCode, WebSocketError } from "./frame.ts";

/** What was agreed for one connection. */
export interface DeflateParams {
  /** Whether the peer resets its context after each message (so no dictionary is kept). */
  peerNoContextTakeover: boolean;
}

const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const WINDOW = 32768;

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
      header: "permessage-deflate; server_no_context_takeover",
      params: { peerNoContextTakeover: offer.params.has("client_no_context_takeover") },
    };
  }
  return null;
}

/** The client's offer. */
export const CLIENT_OFFER = "permessage-deflate; client_no_context_takeover";

/** The client's reading of the server's answer: the agreed parameters, or null. */
export function deflateAccepted(header: string | null): DeflateParams | null {
  const agreed = parseExtensions(header).find((e) => e.name === "permessage-deflate");
  if (agreed === undefined) return null;
  return { peerNoContextTakeover: agreed.params.has("server_no_context_takeover") };
}

/** One connection's codec. */
export class MessageDeflate {
  readonly #params: DeflateParams;
  #window: Uint8Array = new Uint8Array(0);

  /** @param params what was agreed */
  constructor(params: DeflateParams) {
    this.#params = params;
  }

  /** A message's payload, compressed (RSV1 goes on its first frame). */
  compress(payload: Uint8Array): Uint8Array {
    const out = deflateRawSync(
      Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
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
      out = inflateRawSync(Buffer.from(input.buffer), {
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: limit,
        ...(this.#window.length > 0 ? { dictionary: Buffer.from(this.#window) } : {}),
      });
    } catch (e) {
      if (e instanceof RangeError) {
        throw new WebSocketError(CloseCode.tooBig, `message over ${limit} bytes`);
      }
      throw new WebSocketError(CloseCode.invalidData, "corrupt compressed message");
    }
    const result = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    if (!this.#params.peerNoContextTakeover) {
      // The peer may refer back into what came before: keep the last 32 KiB.
      const joined = new Uint8Array(this.#window.length + result.length);
      joined.set(this.#window);
      joined.set(result, this.#window.length);
      this.#window = joined.slice(Math.max(0, joined.length - WINDOW));
    }
    return result;
  }
}
