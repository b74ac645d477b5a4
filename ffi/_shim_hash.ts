// Generated from ffi/shim.c by tools/embed_shim_source.ts (deno task embed:shim): do not edit.
/**
 * The SHA-256 of the poller shim's C source: the key of the shim cache.
 *
 * @module
 */

/** SHA-256 (hex) of ffi/shim.c's UTF-8 bytes. */
export const SHIM_SOURCE_SHA256: string =
  "3fbdffe7300628b879244a8ad4f03e7d640209416644c6914462905aabe396aa";
