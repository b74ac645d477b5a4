/**
 * The resolver: iterative from the root hints (Shrapnel's default), or a stub asking
 * recursive servers, or forwarding; cached, coalesced, and installed as the resolver
 * every `connect("host:port")` uses.
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
import { type Resolver, setResolver } from "../../net/resolver.ts";
import { loadOnce } from "../_load_once.ts";
import { DEFAULT_MAX_NEGATIVE_TTL, DEFAULT_MAX_TTL, DnsCache } from "./cache.ts";
import { NameNotFoundError } from "./errors.ts";
import { ServerSelection } from "./server_selection.ts";
import { type DnsRecord, normalizeName } from "./packet.ts";
import type { Lookups, ResolverSettings } from "./_lookups.ts";

/** The code of the lookups that miss the cache, loaded by the first one. */
const lookupsModule = loadOnce(() => import("./_lookups.ts"), "the DNS resolver");

/** The root servers' IPv4 addresses (a.root-servers.net ... m.root-servers.net). */
export const ROOT_HINTS: readonly string[] = [
  "198.41.0.4",
  "170.247.170.2",
  "192.33.4.12",
  "199.7.91.13",
  "192.203.230.10",
  "192.5.5.241",
  "192.112.36.4",
  "198.97.190.53",
  "192.36.148.17",
  "192.58.128.30",
  "193.0.14.129",
  "199.7.83.42",
  "202.12.27.33",
];

/** Options of a {@linkcode DnsResolver}. */
export interface DnsResolverOptions {
  /**
   * "iterative" (from `rootHints`, the default), "stub" (ask `nameservers`, which recurse;
   * default: /etc/resolv.conf) or "forward" (the same, to forwarders you give).
   */
  mode?: "iterative" | "stub" | "forward";
  /** Servers for stub/forward mode ("10.0.0.1", "[::1]:5353"). */
  nameservers?: string[];
  /** Root server addresses for iterative mode. */
  rootHints?: readonly string[];
  /** Port of every server met in iterative mode (53; tests use another). */
  port?: number;
  /** Cache entries (10000). */
  cacheSize?: number;
  /** Floor on TTLs, seconds (0). */
  minTtl?: number;
  /**
   * Cap on positive TTLs, seconds (604800: 7 days, as BIND's `max-cache-ttl`). A TTL with
   * the top bit set counts as 0 (RFC 2181 section 8).
   */
  maxTtl?: number;
  /** Cap on negative (SOA-derived) TTLs, seconds (10800: 3 hours, as BIND's `max-ncache-ttl`). */
  maxNegativeTtl?: number;
  /** Seconds per try (2). */
  timeout?: number;
  /** Tries per server, each waiting twice as long as the last (2). */
  attempts?: number;
  /**
   * Seconds one lookup may take in all, every try, referral and CNAME included (5); then it
   * fails with a {@linkcode ServerFailureError}. Tries are cut short to fit.
   */
  lookupTimeout?: number;
  /**
   * Seconds a server that timed out (or whose port was unreachable) is skipped, doubling
   * per failure in a row up to 120 (10). See {@linkcode ServerSelection}.
   */
  serverRetryAfter?: number;
  /** Most queries on the wire at once (100); more wait. */
  maxInFlight?: number;
  /** Most queries for one lookup, referrals and glue included (64). */
  maxQueries?: number;
  /**
   * Rewrites a server address before asking it (servers behind a NAT or a port mapping;
   * the tests use it to run every "server" on loopback).
   */
  addressMap?: (address: InetAddress) => InetAddress;
}

/** The nameservers of /etc/resolv.conf, or 127.0.0.1. */
function systemNameservers(): string[] {
  try {
    const text = Deno.readTextFileSync("/etc/resolv.conf");
    const found = [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]);
    if (found.length > 0) return found;
  } catch { /* no file or no permission */ }
  return ["127.0.0.1"];
}

/** `text` as an address, `port` unless it names one. @throws {TypeError} for a unix path */
function serverAddress(text: string, port: number): InetAddress {
  if (ipv4Bytes(text) !== undefined) return { family: "ipv4", host: text, port };
  if (ipv6Bytes(text) !== undefined) {
    return { family: "ipv6", host: ipv6Text(ipv6Bytes(text)!), port };
  }
  const a = parseAddress(text);
  if (a.family === "unix") throw new TypeError(`not a nameserver address: ${text}`);
  return a;
}

/**
 * A caching DNS resolver.
 *
 * Every lookup is an interruption point (a `withTimeout` around it works) and bounded by
 * `lookupTimeout` (5 s) on its own; concurrent lookups of the same (name, type) share one
 * query. Servers are asked fastest first, and one that timed out is skipped for a while
 * (see {@linkcode ServerSelection}): with the first of two forwarders dead, one lookup pays
 * its timeout and the next ones go straight to the live one.
 *
 * A server whose port is closed (an ICMP port-unreachable) fails at once on the FFI socket
 * backend, whose query sockets are connected. On the portable backend it costs the timeout:
 * Deno's UDP sockets cannot be connected, and Linux reports ICMP errors only to connected
 * sockets. The first query there says so once per process on stderr; the fix is the FFI
 * backend (`deno task build:ffi`, `--allow-ffi`).
 *
 * @example
 * ```ts ignore
 * const dns = new DnsResolver({ mode: "stub", nameservers: ["127.0.0.1"] });
 * console.log(await dns.resolve4("example.com"));
 * dns.install(); // connectTo("example.com:80") now uses it
 * ```
 */
export class DnsResolver {
  /** The cache. */
  readonly cache: DnsCache;
  readonly #options: ResolverSettings;
  /** Round-trip times and failures of the servers asked. */
  readonly selection: ServerSelection;
  readonly #servers: InetAddress[];
  readonly #roots: InetAddress[];
  /** What asks the servers: made by the first lookup that misses the cache. */
  #lookups: Lookups | undefined;

  /**
   * Creates a {@linkcode DnsResolver}.
   *
   * @param options mode, servers, limits
   */
  constructor(options: DnsResolverOptions = {}) {
    const port = options.port ?? 53;
    this.#options = {
      mode: options.mode ?? "iterative",
      rootHints: options.rootHints ?? ROOT_HINTS,
      port,
      cacheSize: options.cacheSize ?? 10000,
      minTtl: options.minTtl ?? 0,
      maxTtl: options.maxTtl ?? DEFAULT_MAX_TTL,
      maxNegativeTtl: options.maxNegativeTtl ?? DEFAULT_MAX_NEGATIVE_TTL,
      timeout: options.timeout ?? 2,
      attempts: options.attempts ?? 2,
      lookupTimeout: options.lookupTimeout ?? 5,
      serverRetryAfter: options.serverRetryAfter ?? 10,
      maxInFlight: options.maxInFlight ?? 100,
      maxQueries: options.maxQueries ?? 64,
      addressMap: options.addressMap ?? ((a) => a),
    };
    this.cache = new DnsCache(this.#options.cacheSize, this.#options.minTtl, {
      maxTtl: this.#options.maxTtl,
      maxNegativeTtl: this.#options.maxNegativeTtl,
    });
    this.#servers =
      (options.nameservers ?? (this.#options.mode === "iterative" ? [] : systemNameservers()))
        .map((s) => serverAddress(s, port));
    this.#roots = this.#options.rootHints.map((s) => serverAddress(s, port));
    this.selection = new ServerSelection({ retryAfter: this.#options.serverRetryAfter });
  }

  /** Queries sent since start. */
  get queriesSent(): number {
    return this.#lookups?.queriesSent ?? 0;
  }

  /**
   * The records of `type` for `name`, CNAMEs followed (the records carry the final name).
   * An empty list means the name exists without such records (NODATA).
   *
   * Interruption point.
   * @throws {NameNotFoundError} if the name (or a CNAME's target) does not exist
   * @throws {ServerFailureError} if no server gave an answer
   * @throws {ResolutionLimitError} for CNAME loops and runaway delegations
   */
  resolve(name: string, type = "A"): Promise<DnsRecord[]> {
    // Not async: a cached answer costs one resolved promise.
    const entry = this.cache.get(name, type);
    if (entry?.kind === "records") return Promise.resolve(entry.records);
    return this.#miss(normalizeName(name), type, Date.now() + this.#options.lookupTimeout * 1000);
  }

  /** A lookup the cache cannot answer (yet): asked upstream, by the lookups' code. */
  async #miss(name: string, type: string, deadline: number): Promise<DnsRecord[]> {
    if (this.#lookups === undefined) {
      const { Lookups } = await lookupsModule();
      this.#lookups ??= new Lookups(
        this.#options,
        this.cache,
        this.selection,
        this.#servers,
        this.#roots,
        (text) => serverAddress(text, this.#options.port),
      );
    }
    return this.#lookups.resolve(name, type, { queries: 0, depth: 0, deadline });
  }

  /** The data of `type` records as text (frozen, shared between callers). */
  #texts(name: string, type: string): Promise<readonly string[]> | readonly string[] {
    const entry = this.cache.get(name, type);
    if (entry?.kind === "records") {
      return entry.texts ??= Object.freeze(entry.records.map((r) => String(r.data)));
    }
    return this.resolve(name, type).then((records) => records.map((r) => String(r.data)));
  }

  /** IPv4 addresses of `name` (a frozen list when cached). Interruption point. */
  resolve4(name: string): Promise<readonly string[]> {
    const texts = this.#texts(name, "A");
    return Array.isArray(texts) ? Promise.resolve(texts) : texts as Promise<readonly string[]>;
  }

  /** IPv6 addresses of `name` (a frozen list when cached). Interruption point. */
  resolve6(name: string): Promise<readonly string[]> {
    const texts = this.#texts(name, "AAAA");
    return Array.isArray(texts) ? Promise.resolve(texts) : texts as Promise<readonly string[]>;
  }

  /**
   * The first address of `name`: IPv4 if it has one, else IPv6 (as Node's `dns.lookup`).
   * Interruption point.
   * @throws {NameNotFoundError} if it has neither
   */
  async lookup(name: string): Promise<string> {
    const v4 = await this.resolve4(name);
    if (v4.length > 0) return v4[0];
    const v6 = await this.resolve6(name);
    if (v6.length > 0) return v6[0];
    throw new NameNotFoundError(name, "A");
  }

  /** @deprecated Renamed {@linkcode DnsResolver.lookup} (as Node's, next to `resolve4`). */
  gethostbyname(name: string): Promise<string> {
    return this.lookup(name);
  }

  /** The names of an IPv4 or IPv6 address (PTR records). Interruption point. */
  async reverse(ip: string): Promise<string[]> {
    return (await this.resolve(reverseName(ip), "PTR")).map((r) => normalizeName(String(r.data)));
  }

  /**
   * Makes this resolver the one `connectTo`/`connect` use for host names; returns the
   * previous one.
   */
  install(): Resolver {
    return setResolver(async (host, family) => {
      try {
        if (family === "ipv6") return [...await this.resolve6(host)];
        if (family === "ipv4") return [...await this.resolve4(host)];
        const v4 = await this.resolve4(host);
        return v4.length > 0 ? [...v4] : [...await this.resolve6(host)];
      } catch (e) {
        if (e instanceof NameNotFoundError) return [];
        throw e;
      }
    });
  }
}

/**
 * The reverse-lookup name of an address: "4.3.2.1.in-addr.arpa" or the nibbles under
 * "ip6.arpa".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reverseName } from "./resolver.ts";
 * assert.deepEqual(reverseName("127.0.0.1"), "1.0.0.127.in-addr.arpa");
 * ```
 * @throws {TypeError} if `ip` is not an IP address
 */
export function reverseName(ip: string): string {
  const v4 = ipv4Bytes(ip);
  if (v4 !== undefined) return `${[...v4].reverse().join(".")}.in-addr.arpa`;
  const v6 = ipv6Bytes(ip);
  if (v6 === undefined) throw new TypeError(`not an IP address: ${ip}`);
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) nibbles.push((v6[i] & 0xf).toString(16), (v6[i] >> 4).toString(16));
  return `${nibbles.join(".")}.ip6.arpa`;
}
