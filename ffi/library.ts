/**
 * Where the poller shim's shared library is looked for: `$SHRAPNEL_SHIM`, a checkout's
 * build (ffi/build/), and the cache that `jsr:@shrapnel/shrapnel/build-ffi` fills,
 * `<cache>/shrapnel/<SHA-256 of the C source>/libshrapnel.so` (`.dylib` on macOS).
 *
 * Environment variables are read only where `--allow-env` grants them (no prompt).
 *
 * @module
 */

/** The shim's file name on this platform: libshrapnel.so, or .dylib on macOS. */
export function libraryFileName(): string {
  const ext = Deno.build.os === "darwin" ? "dylib" : Deno.build.os === "windows" ? "dll" : "so";
  return `libshrapnel.${ext}`;
}

/** The value of `name` if `--allow-env` grants it and it is set, else undefined. */
export function grantedEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(name) || undefined;
}

/**
 * Path of the library a checkout builds (`deno task build:ffi`): ffi/build/ next to this
 * file; null when this module was not loaded from a file (a registry install).
 */
export function checkoutLibraryPath(): string | null {
  const url = new URL(`./build/${libraryFileName()}`, import.meta.url);
  if (url.protocol !== "file:") return null;
  return decodeURIComponent(url.pathname);
}

/**
 * Path of the checkout's ffi/shim.c, or null for a registry install. Used by the checkout
 * build.
 */
export function checkoutSourcePath(): string | null {
  const url = new URL("./shim.c", import.meta.url);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : null;
}

/** The environment variables the cache directory is found from, for messages. */
export const CACHE_ENV: readonly string[] = ["SHRAPNEL_CACHE_DIR", "XDG_CACHE_HOME", "HOME"];

/**
 * The directory that holds built shims: `$SHRAPNEL_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/shrapnel`, else `~/Library/Caches/shrapnel` on macOS and
 * `~/.cache/shrapnel` elsewhere. Null when none of those variables can be read (no
 * `--allow-env` for them).
 */
export function shimCacheRoot(): string | null {
  const explicit = grantedEnv("SHRAPNEL_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = grantedEnv("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/shrapnel`;
  const home = grantedEnv("HOME");
  if (!home) return null;
  return Deno.build.os === "darwin" ? `${home}/Library/Caches/shrapnel` : `${home}/.cache/shrapnel`;
}

/** Path of the cached shim built from the source whose SHA-256 is `sourceSha256`. */
export function cachedLibraryPath(root: string, sourceSha256: string): string {
  return `${root}/${sourceSha256}/${libraryFileName()}`;
}

/** This machine's target name for prebuilt shims, e.g. "linux-x86_64", "darwin-aarch64". */
export function targetName(): string {
  return `${Deno.build.os}-${Deno.build.arch}`;
}
