/**
 * Frees the descriptor of a TLS connection that Deno keeps after `close()`.
 *
 * Deno (2.9) runs a server-side TLS handshake inside the connection's first read or
 * `handshake()`. Closing the connection while that read waits (a peer that connected
 * and never sent its ClientHello) drops it from Deno's resource table, but the pending
 * operation owns the stream: the descriptor stays open, and the peer never sees a close,
 * until the peer itself sends something or goes away (docs/deno-tls-close-repro.md).
 * `shutdown(2)` on that descriptor ends the pending read at once, which lets Deno drop
 * the stream and close it. Deno does not tell which descriptor a connection has: it is
 * found by its addresses among the process's sockets.
 *
 * @module
 */

import type { Shim } from "../ffi/shim.ts";
import { ADDRESS_BUFFER_SIZE, decodeAddress } from "./address.ts";
import { ffiPoller } from "./ffi_poller.ts";

/** Whether the lack of a way has been told (once). */
let warned = false;

/** The shim, through the poller (one library handle for the process). */
function theShim(): Shim | null {
  const poller = ffiPoller();
  return "reason" in poller ? null : poller.shim;
}

/**
 * @internal Shuts down (both ways) the socket connected from `local` to `remote`, a TCP
 * connection Deno still holds after its `close()`; true if one was found. Needs the FFI
 * shim and a descriptor directory (/proc/self/fd, /dev/fd); without them, says so once on
 * stderr and returns false (the descriptor then stays until the peer acts).
 */
export function shutDownHeldConnection(local: Deno.NetAddr, remote: Deno.NetAddr): boolean {
  const sh = theShim();
  const dir = descriptorDirectory();
  if (sh === null || dir === null) {
    if (!warned) {
      warned = true;
      console.error(
        "shrapnel tls: a connection closed during its TLS handshake keeps its descriptor " +
          "until the peer acts (a Deno limit); with --allow-ffi and the shim built " +
          "(deno task build:ffi) it is freed at once",
      );
    }
    return false;
  }
  const key = connectionKey(local.port, remote.hostname, remote.port);
  // A scan reads every socket's addresses (two calls each): one scan serves the closes
  // of all connections it saw (a flood of silent peers costs a scan per wave, not per peer).
  let fd = known.get(key);
  if (fd === undefined || !connects(sh, fd, local, remote)) {
    scan(sh, dir);
    fd = known.get(key);
    if (fd === undefined || !connects(sh, fd, local, remote)) return false;
  }
  known.delete(key);
  return sh.sh_shutdown(fd, 2) === 0;
}

/** Connected sockets by their addresses, as of the last scan. */
const known = new Map<string, number>();
const buf = new Uint8Array(ADDRESS_BUFFER_SIZE);

function connectionKey(localPort: number, remoteHost: string, remotePort: number): string {
  return `${localPort} ${remoteHost.replace(/^::ffff:/i, "").toLowerCase()} ${remotePort}`;
}

function descriptorDirectory(): string | null {
  for (const dir of ["/proc/self/fd", "/dev/fd"]) {
    try {
      Deno.statSync(dir);
      return dir;
    } catch {
      continue;
    }
  }
  return null;
}

/** Refills `known` from the process's descriptors. */
function scan(sh: Shim, dir: string): void {
  known.clear();
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const fd = Number(entry.name);
    if (!Number.isInteger(fd) || fd < 3) continue;
    if (sh.sh_getpeername(fd, buf, buf.length) < 0) continue;
    const peer = decodeAddress(buf);
    if (peer.family === "unix") continue;
    if (sh.sh_getsockname(fd, buf, buf.length) < 0) continue;
    const me = decodeAddress(buf);
    if (me.family === "unix") continue;
    known.set(connectionKey(me.port, peer.host, peer.port), fd);
  }
}

/** Whether `fd` is (still) the socket connected from `local` to `remote`. */
function connects(sh: Shim, fd: number, local: Deno.NetAddr, remote: Deno.NetAddr): boolean {
  if (sh.sh_getpeername(fd, buf, buf.length) < 0) return false;
  const peer = decodeAddress(buf);
  if (peer.family === "unix" || peer.port !== remote.port) return false;
  if (!sameHost(peer.host, remote.hostname)) return false;
  if (sh.sh_getsockname(fd, buf, buf.length) < 0) return false;
  const me = decodeAddress(buf);
  return me.family !== "unix" && me.port === local.port && sameHost(me.host, local.hostname);
}

function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  const strip = (h: string) => h.replace(/^::ffff:/i, "").toLowerCase();
  return strip(a) === strip(b);
}
