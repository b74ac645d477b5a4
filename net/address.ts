/**
 * Socket addresses: parsing "host:port" strings, IP text to bytes and back, and the
 * portable address buffer the FFI shim uses.
 *
 * @module
 */

/** An IPv4 or IPv6 address with a port. */
export interface InetAddress {
  /** "ipv4" or "ipv6". */
  family: "ipv4" | "ipv6";
  /** The IP address as text ("127.0.0.1", "::1"), or a host name to resolve. */
  host: string;
  /** The port, 0-65535 (0 asks the system for one when binding). */
  port: number;
  /** IPv6 scope (interface index), if any. */
  scopeId?: number;
}

/** A unix-domain socket path. */
export interface UnixAddress {
  /** "unix". */
  family: "unix";
  /**
   * The socket file's path ("" for an unnamed socket). On Linux a path starting with
   * "\0" is a name in the abstract namespace, every one of its bytes significant (FFI
   * backend); no other path may contain "\0".
   */
  path: string;
}

/** Any socket address. */
export type Address = InetAddress | UnixAddress;

/** Size of the shim's portable address buffer (ADDR_BUF_SIZE in ffi/shim.c). */
export const ADDRESS_BUFFER_SIZE = 136;

/** Where a unix path starts in the address buffer; its length is at offset 2. */
const PATH_OFFSET = 24;

/** sizeof(sockaddr_un.sun_path): 104 on macOS and the BSDs, 108 on Linux. */
const SUN_PATH_SIZE = Deno.build.os === "linux" || Deno.build.os === "android" ? 108 : 104;

const FAMILY_CODE = { ipv4: 4, ipv6: 6, unix: 1 } as const;

/**
 * Parses "host:port", "[v6]:port" or "/unix/path" (anything starting with "/" or "./").
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * console.log(parseAddress("127.0.0.1:80"), parseAddress("[::1]:8080").family);
 * ```
 * @throws {TypeError} if the text is not an address
 */
export function parseAddress(text: string): Address {
  if (text.startsWith("/") || text.startsWith("./")) return { family: "unix", path: text };
  let host: string, portText: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0 || text[end + 1] !== ":") throw new TypeError(`bad address "${text}"`);
    host = text.slice(1, end);
    portText = text.slice(end + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw new TypeError(`bad address "${text}": no port`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) throw new TypeError(`bad address "${text}": put IPv6 in [brackets]`);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new TypeError(`bad port in "${text}"`);
  return { family: host.includes(":") ? "ipv6" : "ipv4", host, port };
}

/**
 * The text form: "127.0.0.1:80", "[::1]:80" or the unix path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress } from "./address.ts";
 * assert.deepEqual(formatAddress({ family: "ipv6", host: "::1", port: 80 }), "[::1]:80");
 * ```
 */
export function formatAddress(address: Address): string {
  if (address.family === "unix") return address.path;
  return address.family === "ipv6"
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/**
 * Parses dotted IPv4 text into 4 bytes, or returns undefined if it is not IPv4.
 *
 * @example
 * ```ts
 * import { ipv4Bytes } from "./address.ts";
 * console.log(ipv4Bytes("10.0.0.1"), ipv4Bytes("example.com")); // Uint8Array [10,0,0,1] undefined
 * ```
 */
export function ipv4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

/**
 * Parses IPv6 text (with "::" and an embedded IPv4 tail) into 16 bytes, or returns
 * undefined if it is not IPv6.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv6Bytes } from "./address.ts";
 * assert.deepEqual(ipv6Bytes("::1")?.[15], 1);
 * ```
 */
export function ipv6Bytes(text: string): Uint8Array | undefined {
  const percent = text.indexOf("%");
  if (percent >= 0) text = text.slice(0, percent);
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = ipv4Bytes(p);
        if (v4 === undefined) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]), tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) {
    return undefined;
  }
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

/**
 * IPv6 bytes as canonical text (RFC 5952: lower case, longest zero run as "::").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv6Text, ipv6Bytes } from "./address.ts";
 * assert.deepEqual(ipv6Text(ipv6Bytes("0:0:0:0:0:0:0:1")!), "::1");
 * ```
 */
export function ipv6Text(bytes: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12, 16).join(".")}`; // IPv4-mapped (RFC 5952 section 5)
  }
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Whether `host` is an IP literal (no name resolution needed). */
export function isIpLiteral(host: string): boolean {
  return ipv4Bytes(host) !== undefined || ipv6Bytes(host) !== undefined;
}

/**
 * The bytes of a unix socket path, checked: a path (no NUL, at most 103 bytes on macOS,
 * 107 on Linux) or, on Linux, an abstract name (a leading NUL, at most 108 bytes).
 * @throws {TypeError} for an embedded NUL, an abstract name outside Linux, or a path too long
 */
function unixPathBytes(text: string): Uint8Array {
  const path = new TextEncoder().encode(text);
  const abstract = path.length > 0 && path[0] === 0;
  if (abstract && SUN_PATH_SIZE !== 108) {
    throw new TypeError(`abstract unix socket names ("\\0...") exist only on Linux`);
  }
  if (!abstract && path.includes(0)) {
    throw new TypeError(`unix socket path contains a NUL byte: ${JSON.stringify(text)}`);
  }
  const max = abstract ? SUN_PATH_SIZE : SUN_PATH_SIZE - 1;
  if (path.length > max) {
    throw new TypeError(
      `unix socket ${abstract ? "name" : "path"} too long (${path.length} bytes, at most ${max})`,
    );
  }
  return path;
}

/**
 * Writes `address` (with an IP literal host) into a shim address buffer of
 * {@linkcode ADDRESS_BUFFER_SIZE} bytes.
 * @throws {TypeError} if the host is not an IP literal of the address's family, the port
 *   or scope id out of range, or a unix
 *   path is not one the system can take (see {@linkcode UnixAddress.path})
 */
export function encodeAddress(address: Address, out: Uint8Array): Uint8Array {
  out.fill(0);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint16(0, FAMILY_CODE[address.family], true);
  if (address.family === "unix") {
    const path = unixPathBytes(address.path);
    view.setUint16(2, path.length, true);
    out.set(path, PATH_OFFSET);
    return out;
  }
  const bytes = address.family === "ipv4" ? ipv4Bytes(address.host) : ipv6Bytes(address.host);
  if (bytes === undefined) {
    throw new TypeError(`"${address.host}" is not an ${address.family} address`);
  }
  const { port, scopeId = 0 } = address;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`bad port ${port}: an integer from 0 to 65535`);
  }
  if (!Number.isInteger(scopeId) || scopeId < 0 || scopeId > 0xffffffff) {
    throw new TypeError(`bad IPv6 scope id ${scopeId}`);
  }
  view.setUint16(2, port, true);
  view.setUint32(4, scopeId, true);
  out.set(bytes, 8);
  return out;
}

/**
 * Reads a shim address buffer. A nameless peer (an unbound unix datagram sender: family
 * code 0) reads as the unnamed unix address.
 */
export function decodeAddress(buf: Uint8Array): Address {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const code = view.getUint16(0, true);
  if (code === 0) return { family: "unix", path: "" };
  if (code === 1) {
    const length = Math.min(view.getUint16(2, true), buf.length - PATH_OFFSET);
    const path = buf.subarray(PATH_OFFSET, PATH_OFFSET + length);
    return { family: "unix", path: new TextDecoder().decode(path) };
  }
  const port = view.getUint16(2, true);
  if (code === 6) {
    const scopeId = view.getUint32(4, true);
    const address: InetAddress = { family: "ipv6", host: ipv6Text(buf.subarray(8, 24)), port };
    if (scopeId !== 0) address.scopeId = scopeId;
    return address;
  }
  return { family: "ipv4", host: buf.subarray(8, 12).join("."), port };
}
