/**
 * The resolver: iterative from the root hints (Shrapnel's default), or a stub asking
 * recursive servers, or forwarding; cached, coalesced, and installed as the resolver
 * every `connect("host:port")` uses.
 *
 * @module
 */

import { Semaphore } from "../../core/sync/semaphore.ts";
import { Latch } from "../../core/sync/latch.ts";
import {
  type InetAddress,
  ipv4Bytes,
  ipv6Bytes,
  ipv6Text,
  parseAddress,
} from "../../net/address.ts";
import { type Resolver, setResolver } from "../../net/resolver.ts";
import { DEFAULT_MAX_NEGATIVE_TTL, DEFAULT_MAX_TTL, DnsCache, sanitizeTtl } from "./cache.ts";
import { DnsError, NameNotFoundError, ResolutionLimitError, ServerFailureError } from "./errors.ts";
import { exchange } from "./exchange.ts";
import { ServerSelection } from "./server_selection.ts";
import { type DnsMessage, type DnsRecord, inBailiwick, normalizeName } from "./packet.ts";

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

const MAX_CNAMES = 16;
const MAX_REFERRALS = 24;
const MAX_GLUELESS_DEPTH = 4;
const NEGATIVE_DEFAULT_TTL = 60;

/** The nameservers of /etc/resolv.conf, or 127.0.0.1. */
function systemNameservers(): string[] {
  try {
    const text = Deno.readTextFileSync("/etc/resolv.conf");
    const found = [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]);
    if (found.length > 0) return found;
  } catch { /* no file or no permission */ }
  return ["127.0.0.1"];
}

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
 * The TTL of a negative answer: from the SOA in the authority section (RFC 2308), only one
 * inside `zone` (the answering server's bailiwick); both fields read as TTLs (top bit: 0).
 */
function negativeTtl(message: DnsMessage, zone: string): number {
  const soa = message.authorities.find((r) => r.type === "SOA" && inBailiwick(r.name, zone));
  if (soa === undefined) return NEGATIVE_DEFAULT_TTL;
  const minimum = (soa.data as { minimum?: number } | undefined)?.minimum;
  return Math.min(sanitizeTtl(soa.ttl), sanitizeTtl(minimum ?? NEGATIVE_DEFAULT_TTL));
}

/**
 * What one answer said about a name: its records, that it has none of the type, that it
 * does not exist, or that it is an alias whose target must be asked on its own (outside the
 * answering server's zone, or not answered).
 */
type Step =
  | { kind: "records"; records: DnsRecord[] }
  | { kind: "nodata" }
  | { kind: "nxdomain"; name: string }
  | { kind: "alias"; target: string };

type Outcome = { ok: true; step: Step } | { ok: false; error: unknown };

/** Bookkeeping of one lookup, for the limits. */
interface Budget {
  queries: number;
  depth: number;
  /** When the lookup must be over (`Date.now()` clock). */
  deadline: number;
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
  readonly #options: Required<Omit<DnsResolverOptions, "nameservers">>;
  /** Round-trip times and failures of the servers asked. */
  readonly selection: ServerSelection;
  readonly #servers: InetAddress[];
  readonly #roots: InetAddress[];
  readonly #inFlight: Semaphore;
  readonly #pending = new Map<string, Latch<Outcome>>();
  #queries = 0;

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
    this.#inFlight = new Semaphore(this.#options.maxInFlight);
    this.selection = new ServerSelection({ retryAfter: this.#options.serverRetryAfter });
  }

  /** Queries sent since start. */
  get queriesSent(): number {
    return this.#queries;
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
    return this.#resolve(normalizeName(name), type, {
      queries: 0,
      depth: 0,
      deadline: Date.now() + this.#options.lookupTimeout * 1000,
    });
  }

  /** The data of `type` records as text (frozen, shared between callers). */
  #texts(name: string, type: string): Promise<readonly string[]> | readonly string[] {
    const entry = this.cache.get(name, type);
    if (entry?.kind === "records") {
      return entry.texts ??= Object.freeze(entry.records.map((r) => String(r.data)));
    }
    return this.resolve(name, type).then((records) => records.map((r) => String(r.data)));
  }

  async #resolve(name: string, type: string, budget: Budget): Promise<DnsRecord[]> {
    let current = name;
    const seen = new Set<string>();
    for (let hops = 0; hops <= MAX_CNAMES; hops++) {
      const entry = this.cache.get(current, type);
      if (entry !== undefined) {
        if (entry.kind === "records") return entry.records;
        if (entry.kind === "nodata") return [];
        throw new NameNotFoundError(current, type);
      }
      if (seen.has(current)) break;
      seen.add(current);
      if (type !== "CNAME") {
        const alias = this.cache.get(current, "CNAME");
        if (alias !== undefined && alias.kind === "records" && alias.records.length > 0) {
          current = normalizeName(String(alias.records[0].data));
          continue;
        }
      }
      // The answer is used as fetched, not read back from the cache: a TTL of 0 (or one
      // with the top bit set) is used once and never cached.
      const step = await this.#fetch(current, type, budget);
      if (step.kind === "records") return step.records;
      if (step.kind === "nodata") return [];
      if (step.kind === "nxdomain") throw new NameNotFoundError(step.name, type);
      current = step.target;
    }
    throw new ResolutionLimitError(name, type, `CNAME chain longer than ${MAX_CNAMES} or a loop`);
  }

  /** Asks upstream once for (name, type) and caches what comes; shared by concurrent callers. */
  async #fetch(name: string, type: string, budget: Budget): Promise<Step> {
    const key = `${name}|${type}`;
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      const outcome = await pending.wait();
      if (!outcome.ok) throw outcome.error;
      return outcome.step;
    }
    const latch = new Latch<Outcome>();
    this.#pending.set(key, latch);
    try {
      // Stub and forward modes trust the recursive servers for every name (zone "": the
      // root); iterative mode trusts each server for its own zone only.
      const { message, zone } = this.#options.mode === "iterative"
        ? await this.#iterate(name, type, budget)
        : { message: await this.#askAll(this.#servers, name, type, true, budget), zone: "" };
      const step = this.#store(name, type, message, zone);
      latch.release({ ok: true, step });
      return step;
    } catch (e) {
      latch.release({ ok: false, error: e });
      throw e;
    } finally {
      this.#pending.delete(key);
    }
  }

  /**
   * Caches an answer from a server for `zone` and says what it means for `name`, by the
   * bailiwick rules of BIND and Unbound: only records owned by names inside `zone` are
   * considered at all, and of those only the CNAME chain from the name asked and the
   * records at its end (anything else could be a poisoning attempt). A chain leaving
   * `zone` stops there: its target is asked from its own authority.
   */
  #store(name: string, type: string, message: DnsMessage, zone: string): Step {
    const sets = new Map<string, DnsRecord[]>();
    for (const r of message.answers) {
      if (r.type === "OPT") continue;
      const owner = normalizeName(r.name);
      if (!inBailiwick(owner, zone)) continue; // out of bailiwick: never cached, never used
      const k = `${owner}|${r.type}`;
      const list = sets.get(k);
      if (list === undefined) sets.set(k, [{ ...r, name: owner }]);
      else list.push({ ...r, name: owner });
    }
    let last = name;
    const chain = new Set<string>([name]);
    for (let i = 0; i < MAX_CNAMES; i++) {
      const alias = type === "CNAME" ? undefined : sets.get(`${last}|CNAME`);
      if (alias === undefined) break;
      this.cache.putRecords(last, "CNAME", alias);
      last = normalizeName(String(alias[0].data));
      if (chain.has(last) || !inBailiwick(last, zone)) return { kind: "alias", target: last };
      chain.add(last);
    }
    const found = sets.get(`${last}|${type}`);
    if (found !== undefined) {
      return { kind: "records", records: this.cache.putRecords(last, type, found) };
    }
    if (message.rcode === "NXDOMAIN") {
      this.cache.putNegative(last, type, true, negativeTtl(message, zone)); // RFC 6604: the chain's end
      return { kind: "nxdomain", name: last };
    }
    if (last === name) {
      this.cache.putNegative(last, type, false, negativeTtl(message, zone));
      return { kind: "nodata" };
    }
    // A chain whose end the server did not answer for (a zone below it) is asked on its own.
    return { kind: "alias", target: last };
  }

  /** Asks one server, within the lookup's deadline; its time or failure is remembered. */
  async #ask(
    server: InetAddress,
    name: string,
    type: string,
    recursion: boolean,
    budget: Budget,
    timeout = this.#options.timeout,
  ): Promise<DnsMessage> {
    if (++budget.queries > this.#options.maxQueries) {
      throw new ResolutionLimitError(name, type, `more than ${this.#options.maxQueries} queries`);
    }
    const left = (budget.deadline - Date.now()) / 1000;
    if (left <= 0) throw this.#deadlinePassed(name, type);
    await this.#inFlight.acquire(1);
    try {
      this.#queries++;
      const started = performance.now();
      try {
        const message = await exchange(this.#options.addressMap(server), name, type, {
          timeout: Math.min(timeout, left),
          recursion,
          udpSize: 1232,
        });
        this.selection.answered(server, performance.now() - started);
        return message;
      } catch (e) {
        if (e instanceof ServerFailureError) this.selection.failed(server);
        throw e;
      }
    } finally {
      this.#inFlight.release(1);
    }
  }

  #deadlinePassed(name: string, type: string): ServerFailureError {
    return new ServerFailureError(
      name,
      type,
      `no answer within the lookup deadline (lookupTimeout ${this.#options.lookupTimeout} s)`,
    );
  }

  /**
   * Stub and forward mode: each server in turn, best first, with retries that wait twice
   * as long, until the lookup's deadline.
   */
  async #askAll(
    servers: InetAddress[],
    name: string,
    type: string,
    recursion: boolean,
    budget: Budget,
  ): Promise<DnsMessage> {
    const failures: string[] = [];
    for (let attempt = 0; attempt < this.#options.attempts; attempt++) {
      for (const server of this.selection.order(servers)) {
        if (Date.now() >= budget.deadline) {
          failures.push(this.#deadlinePassed(name, type).message);
          throw new ServerFailureError(name, type, failures.join("; "));
        }
        try {
          // Each round of tries waits twice as long as the last (backoff).
          const message = await this.#ask(
            server,
            name,
            type,
            recursion,
            budget,
            this.#options.timeout * 2 ** attempt,
          );
          if (message.rcode === "NOERROR" || message.rcode === "NXDOMAIN") return message;
          failures.push(`${message.rcode} from ${server.host}`);
        } catch (e) {
          if (e instanceof ResolutionLimitError || !(e instanceof DnsError)) throw e;
          failures.push(e.message);
        }
      }
    }
    throw new ServerFailureError(name, type, failures.join("; ") || "no servers");
  }

  /** The closest enclosing zone whose servers' addresses we know, from the cache. */
  #closest(name: string): { zone: string; servers: InetAddress[] } {
    const labels = name === "" ? [] : name.split(".");
    for (let i = 0; i <= labels.length; i++) {
      const zone = labels.slice(i).join(".");
      if (zone === "") break;
      const ns = this.cache.get(zone, "NS");
      if (ns?.kind !== "records") continue;
      const servers: InetAddress[] = [];
      for (const r of ns.records) {
        const a = this.cache.get(String(r.data), "A");
        if (a?.kind === "records") {
          for (const x of a.records) {
            servers.push(serverAddress(String(x.data), this.#options.port));
          }
        }
      }
      if (servers.length > 0) return { zone, servers };
    }
    return { zone: "", servers: this.#roots };
  }

  /** Iterative mode: follow referrals from the closest known zone down to an answer. */
  async #iterate(
    name: string,
    type: string,
    budget: Budget,
  ): Promise<{ message: DnsMessage; zone: string }> {
    let { zone, servers } = this.#closest(name);
    for (let referrals = 0; referrals < MAX_REFERRALS; referrals++) {
      let next: { zone: string; servers: InetAddress[] } | null = null;
      const failures: string[] = [];
      for (const server of this.selection.order(shuffle(servers))) {
        let message: DnsMessage;
        try {
          message = await this.#ask(server, name, type, false, budget);
        } catch (e) {
          if (e instanceof ResolutionLimitError || !(e instanceof DnsError)) throw e;
          failures.push(e.message);
          continue;
        }
        if (message.rcode !== "NOERROR" && message.rcode !== "NXDOMAIN") {
          failures.push(`${message.rcode} from ${server.host}`);
          continue;
        }
        if (message.authoritative || message.answers.length > 0) return { message, zone };
        const referral = await this.#referral(message, name, zone, budget);
        if (referral === null) {
          failures.push(`lame delegation: ${server.host} for "${zone || "."}"`);
          continue;
        }
        next = referral;
        break;
      }
      if (next === null) throw new ServerFailureError(name, type, failures.join("; "));
      ({ zone, servers } = next);
    }
    throw new ResolutionLimitError(name, type, `more than ${MAX_REFERRALS} referrals`);
  }

  /**
   * The delegation in a referral, if it is one: NS records for a zone strictly below
   * `zone` and above (or at) `name`; glue only for names inside `zone` (the answering
   * server's bailiwick). Glueless servers are resolved, nested up to a limit.
   */
  async #referral(
    message: DnsMessage,
    name: string,
    zone: string,
    budget: Budget,
  ): Promise<{ zone: string; servers: InetAddress[] } | null> {
    const ns = message.authorities.filter((r) => r.type === "NS");
    if (ns.length === 0) return null;
    const child = normalizeName(ns[0].name);
    if (child === zone || !inBailiwick(child, zone) || !inBailiwick(name, child)) return null;
    const nsNames = ns.filter((r) => normalizeName(r.name) === child).map((r) =>
      normalizeName(String(r.data))
    );
    this.cache.putRecords(
      child,
      "NS",
      ns.filter((r) => normalizeName(r.name) === child).map((r) => ({ ...r, name: child })),
    );
    const servers: InetAddress[] = [];
    const glues = new Map<string, DnsRecord[]>();
    for (const glue of message.additionals) {
      const owner = normalizeName(glue.name);
      if (glue.type !== "A" || !nsNames.includes(owner)) continue;
      // Glue for a name outside the referring server's zone (another zone's server, or a
      // sibling's it has no say over) is a poisoning attempt: never used, never cached.
      if (!inBailiwick(owner, zone)) continue;
      const list = glues.get(owner);
      if (list === undefined) glues.set(owner, [{ ...glue, name: owner }]);
      else list.push({ ...glue, name: owner });
    }
    for (const [owner, records] of glues) {
      for (const r of this.cache.putRecords(owner, "A", records)) {
        servers.push(serverAddress(String(r.data), this.#options.port));
      }
    }
    if (servers.length > 0) return { zone: child, servers };
    // Glueless: find a server's address the long way, within limits.
    if (budget.depth >= MAX_GLUELESS_DEPTH) {
      throw new ResolutionLimitError(
        name,
        "NS",
        `glueless delegations nested over ${MAX_GLUELESS_DEPTH} deep`,
      );
    }
    for (const server of nsNames) {
      if (inBailiwick(server, child)) continue; // its glue was needed and missing
      budget.depth++;
      try {
        const a = await this.#resolve(server, "A", budget);
        for (const r of a) servers.push(serverAddress(String(r.data), this.#options.port));
      } catch (e) {
        if (e instanceof ResolutionLimitError) throw e;
      } finally {
        budget.depth--;
      }
      if (servers.length > 0) return { zone: child, servers };
    }
    return null;
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

function shuffle<T>(list: readonly T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
