/**
 * The poller shim's symbols, opened with `Deno.dlopen`. Every call returns >= 0 on
 * success or -errno; lengths are 32-bit so that V8 can take its fast FFI path.
 *
 * @module
 */

import { findShim } from "./_loader.ts";

const i32 = "i32" as const;
const buffer = "buffer" as const;

/**
 * The symbol table of ffi/shim.c. Every buffer crosses with its length (the shim checks
 * the lengths against it; see docs/ffi-safety.md).
 */
export const SYMBOLS = {
  sh_errno: { parameters: [i32], result: i32 },
  sh_errno_count: { parameters: [], result: i32 },
  sh_socket: { parameters: [i32, i32], result: i32 },
  sh_adopt: { parameters: [i32], result: i32 },
  sh_socketpair: { parameters: [i32, buffer, i32], result: i32 },
  sh_bind: { parameters: [i32, buffer, i32], result: i32 },
  sh_listen: { parameters: [i32, i32], result: i32 },
  sh_connect: { parameters: [i32, buffer, i32], result: i32 },
  sh_accept: { parameters: [i32, buffer, i32], result: i32 },
  sh_recv: { parameters: [i32, buffer, i32], result: i32 },
  sh_send: { parameters: [i32, buffer, i32], result: i32 },
  sh_recvfrom: { parameters: [i32, buffer, i32, buffer, i32], result: i32 },
  sh_sendto: { parameters: [i32, buffer, i32, buffer, i32], result: i32 },
  sh_readv: { parameters: [i32, buffer, i32, buffer, i32], result: i32 },
  sh_shutdown: { parameters: [i32, i32], result: i32 },
  sh_close: { parameters: [i32], result: i32 },
  sh_getsockname: { parameters: [i32, buffer, i32], result: i32 },
  sh_getpeername: { parameters: [i32, buffer, i32], result: i32 },
  sh_setsockopt: { parameters: [i32, i32, i32], result: i32 },
  sh_getsockopt: { parameters: [i32, i32], result: i32 },
  sh_poller_create: { parameters: [], result: i32 },
  sh_poller_close: { parameters: [i32], result: i32 },
  sh_poller_add: { parameters: [i32, i32, i32, i32, i32], result: i32 },
  sh_poller_del: { parameters: [i32, i32], result: i32 },
  sh_poller_poll: { parameters: [i32, buffer, i32], result: i32 },
  /**
   * The blocking wait, run on a helper thread: used only when nothing else is to be done.
   * It writes into the poller's buffer in the shim (`sh_poller_events`), never into a
   * JavaScript one that could be freed while it runs.
   */
  sh_poller_wait: { parameters: [i32], result: i32, nonblocking: true },
  sh_poller_events: { parameters: [i32], result: "pointer" },
  sh_poller_wake: { parameters: [i32], result: i32 },
  sh_process_watch: { parameters: [i32], result: i32 },
  sh_child_status: { parameters: [i32, buffer, i32], result: i32 },
  sh_file_watch: { parameters: [buffer, i32], result: i32 },
  sh_file_changes: { parameters: [i32], result: i32 },
  sh_fd_flags: { parameters: [i32], result: i32 },
  sh_ready: { parameters: [i32, i32], result: i32 },
  sh_now_ms: { parameters: [], result: "f64" },
} as const;

/** The opened shim's functions. */
export type Shim = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Why the shim could not be opened, when it could not, and what fixes it. */
export type ShimUnavailable = { reason: string; fix: string };

/**
 * Opens the shim: `$SHRAPNEL_SHIM` if set, else a checkout's build, else the shim cache
 * that build-ffi fills (see ffi/_loader.ts). Returns the reason and its fix instead when
 * it cannot be used: no `--allow-ffi`, not built, or a platform without epoll/kqueue.
 * Throws dlopen's error when the process is out of descriptors (a state, not a reason).
 */
export function openShim(): Shim | ShimUnavailable {
  if (Deno.build.os === "windows") {
    return { reason: "no epoll/kqueue on Windows", fix: "none: the Deno backend is Windows' own" };
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { reason: "no --allow-ffi permission", fix: "run with --allow-ffi --allow-env" };
  }
  const found = findShim((path) => Deno.dlopen(path, SYMBOLS).symbols);
  if ("reason" in found) return found;
  return found.opened;
}
