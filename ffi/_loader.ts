/**
 * Finding the poller shim to open, in order: `$SHRAPNEL_SHIM`, a checkout's build, the
 * shim cache (filled by build-ffi, compiled or a pinned prebuilt download). When none
 * opens, the reason and the exact command that fixes it for this install.
 *
 * Opening is synchronous and never downloads: a program that makes a socket should not
 * start a network fetch or a compiler behind its user's back. `build-ffi` (or
 * `installShim()` from the program itself) compiles or downloads into the cache.
 *
 * @module
 */
import {
  CACHE_ENV,
  cachedLibraryPath,
  checkoutLibraryPath,
  grantedEnv,
  shimCacheRoot,
} from "./library.ts";
import { SHIM_SOURCE_SHA256 } from "./_shim_hash.ts";

const BUILD_PERMISSIONS = "--allow-read --allow-write --allow-env --allow-run --allow-net";

/**
 * The command that builds the shim for this install: `deno task build:ffi` in a checkout,
 * the package's build-ffi entry when loaded from JSR, else ffi/build_entry.ts by URL.
 */
export function buildCommand(moduleUrl: string = import.meta.url): string {
  const url = new URL(moduleUrl);
  if (url.protocol === "file:") {
    const root = decodeURIComponent(new URL("../", url).pathname).replace(/\/$/, "");
    return `deno task --cwd ${root} build:ffi`;
  }
  // A JSR module URL: <registry>/@scope/name/version/ffi/_loader.ts
  const jsr = url.pathname.match(/\/(@[^/]+\/[^/]+)\/([^/]+)\/ffi\/[^/]+$/);
  if (jsr !== null) return `deno run ${BUILD_PERMISSIONS} jsr:${jsr[1]}@${jsr[2]}/build-ffi`;
  return `deno run ${BUILD_PERMISSIONS} ${new URL("./build_entry.ts", url)}`;
}

function missing(error: unknown): boolean {
  return /no such file|not found/i.test((error as Error).message);
}

/**
 * dlopen failed for want of a descriptor (EMFILE/ENFILE): nothing wrong with the file, and
 * the next try may succeed, so it is thrown (the caller must not settle on a fallback).
 */
function outOfDescriptors(error: unknown): boolean {
  return /too many open files/i.test((error as Error).message);
}

/**
 * Opens the first shim found with `open` (Deno.dlopen with the symbol table).
 * A file that exists but does not open (stale, another architecture) is reported, not
 * skipped over. Throws `open`'s error when the process is out of descriptors.
 */
export function findShim<T>(
  open: (path: string) => T,
): { opened: T; path: string } | { reason: string; fix: string } {
  const explicit = grantedEnv("SHRAPNEL_SHIM");
  if (explicit !== undefined) {
    try {
      return { opened: open(explicit), path: explicit };
    } catch (e) {
      if (outOfDescriptors(e)) throw e;
      return {
        reason: `cannot open SHRAPNEL_SHIM=${explicit}: ${(e as Error).message}`,
        fix: `point SHRAPNEL_SHIM at a built libshrapnel, or unset it`,
      };
    }
  }
  const root = shimCacheRoot();
  const candidates = [
    checkoutLibraryPath(),
    root === null ? null : cachedLibraryPath(root, SHIM_SOURCE_SHA256),
  ];
  const looked: string[] = [];
  for (const path of candidates) {
    if (path === null) continue;
    try {
      return { opened: open(path), path };
    } catch (e) {
      if (outOfDescriptors(e)) throw e;
      if (!missing(e)) {
        return {
          reason: `cannot open ${path}: ${(e as Error).message}`,
          fix: `${buildCommand()} --force`,
        };
      }
      looked.push(path);
    }
  }
  if (root === null) {
    return {
      reason: `the shim is not built${looked.length ? ` at ${looked.join(", ")}` : ""}, and ` +
        `the shim cache cannot be found without --allow-env for ${CACHE_ENV.join(", ")}`,
      fix: `run with --allow-env (after ${buildCommand()})`,
    };
  }
  return { reason: `the shim is not built (looked at ${looked.join(", ")})`, fix: buildCommand() };
}
