/**
 * The resolver `connect` uses for host names. The DNS module installs its own; until
 * then names go to Deno's resolver.
 *
 * @module
 */

import { scheduler } from "../core/scheduler.ts";
import { waitFor } from "../core/wait_for.ts";
import { type Address, type InetAddress, ipv4Bytes, ipv6Bytes, parseAddress } from "./address.ts";
import { SocketError } from "./errors.ts";

/** Looks `host` up and returns its addresses as IP text, preferred family first. */
export type Resolver = (host: string, family?: "ipv4" | "ipv6") => Promise<string[]>;

const RESOLVER = Symbol("resolver");

/** The default: "localhost" locally, other names through `Deno.resolveDns`. */
export const denoResolver: Resolver = async (
  host: string,
  family?: "ipv4" | "ipv6",
): Promise<string[]> => {
  if (host === "localhost") return family === "ipv6" ? ["::1"] : ["127.0.0.1", "::1"];
  const out: string[] = [];
  for (const type of family === "ipv6" ? ["AAAA"] as const : ["A", "AAAA"] as const) {
    try {
      out.push(...await waitFor(Deno.resolveDns(host, type), "resolve"));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (out.length > 0 && family !== undefined) break;
  }
  return out;
};

/**
 * Installs the resolver used by `connect` and `resolveAddress`; returns the old one.
 *
 * @example
 * ```ts
 * import { setResolver } from "./resolver.ts";
 * const old = setResolver(async (host) => host === "db" ? ["127.0.0.1"] : []);
 * setResolver(old);
 * ```
 */
export function setResolver(resolver: Resolver): Resolver {
  const old = currentResolver();
  scheduler.setSlot(RESOLVER, resolver);
  return old;
}

/** The resolver in use. */
export function currentResolver(): Resolver {
  return scheduler.slot(RESOLVER, () => denoResolver);
}

/**
 * Turns "host:port" (or an address with a host name) into an address with an IP literal,
 * through the resolver. IP literals and unix paths pass through.
 *
 * Interruption point: while the resolver works.
 * @throws {SocketError} with code "ENOTFOUND" if the name has no address
 */
export async function resolveAddress(
  address: Address | string,
  family?: "ipv4" | "ipv6",
): Promise<Address> {
  const a = typeof address === "string" ? parseAddress(address) : address;
  if (a.family === "unix") return a;
  if (ipv4Bytes(a.host) !== undefined) return { ...a, family: "ipv4" };
  if (ipv6Bytes(a.host) !== undefined) return { ...a, family: "ipv6" };
  const ips = await currentResolver()(a.host, family);
  if (ips.length === 0) throw new SocketError("ENOTFOUND", "resolve", a.host);
  const ip = ips[0];
  const resolved: InetAddress = {
    family: ip.includes(":") ? "ipv6" : "ipv4",
    host: ip,
    port: a.port,
  };
  return resolved;
}
