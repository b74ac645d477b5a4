/**
 * HTTP/2 (RFC 9113) for `HttpServer` and `HttpClient`: HPACK, frames, the server side of
 * a connection (each stream a thread), errors and constants.
 *
 * @example
 * ```ts
 * import { HpackDecoder, HpackEncoder } from "./mod.ts";
 * const block = new HpackEncoder().encode([":status", "200"]);
 * console.log(new HpackDecoder().decode(block).fields); // [":status", "200"]
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./errors.ts";
export * from "./frames.ts";
export * from "./hpack.ts";
export * from "./huffman.ts";
export * from "./request.ts";
export * from "./server_connection.ts";
