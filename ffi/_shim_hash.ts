// Generated from ffi/shim.c by tools/embed_shim_source.ts (deno task embed:shim): do not edit.
/**
 * The SHA-256 of the poller shim's C source: the key of the shim cache.
 *
 * @module
 */

/** SHA-256 (hex) of ffi/shim.c's UTF-8 bytes. */
export const SHIM_SOURCE_SHA256: string =
  "8acbd1abd6c3555a863c6ee8315ca61b2282a4a446130c46426a212887b170f8";
