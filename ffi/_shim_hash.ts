// Generated from ffi/shim.c by tools/embed_shim_source.ts (deno task embed:shim): do not edit.
/**
 * The SHA-256 of the poller shim's C source: the key of the shim cache.
 *
 * @module
 */

/** SHA-256 (hex) of ffi/shim.c's UTF-8 bytes. */
export const SHIM_SOURCE_SHA256: string =
  "84c6560017abca6a0a5bdf8104d4eed189294261e1b8374008c8a8df34464c69";
