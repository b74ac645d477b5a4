// Generated from ffi/shim.c by tools/embed_shim_source.ts (deno task embed:shim): do not edit.
/**
 * The SHA-256 of the poller shim's C source: the key of the shim cache.
 *
 * @module
 */

/** SHA-256 (hex) of ffi/shim.c's UTF-8 bytes. */
export const SHIM_SOURCE_SHA256: string =
  "8a335b1a673e81ca0843451c3e2c2d580d2c704940c18de485d01341e9ad9563";
