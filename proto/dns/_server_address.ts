/**
 * A nameserver's address from its text ("10.0.0.1", "::1", "[::1]:5353"): shared by the
 * resolver's constructor and its lookups.
 *
 * @module
 */
import {
  type InetAddress,
  ipv4Bytes,
  ipv6Bytes,
  ipv6Text,
  parseAddress,
} from "../../net/address.ts";

/** `text` as an address, `port` unless it names one. @throws {TypeError} for a unix path */
export function serverAddress(text: string, port: number): InetAddress {
  if (ipv4Bytes(text) !== undefined) return { family: "ipv4", host: text, port };
  if (ipv6Bytes(text) !== undefined) {
    return { family: "ipv6", host: ipv6Text(ipv6Bytes(text)!), port };
  }
  const a = parseAddress(text);
  if (a.family === "unix") throw new TypeError(`not a nameserver address: ${text}`);
  return a;
}
