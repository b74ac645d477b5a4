/**
 * The lookups of a {@linkcode DnsResolver} that miss its cache (./resolver.ts): iterative
 * from the root hints, or asking recursive servers; loaded by the first such lookup.
 *
 * @module
 */

import { Semaphore } from "../../core/sync/semaphore.ts";
import { Latch } from "../../core/sync/latch.ts";
import type { InetAddress } from "../../net/address.ts";
import type { DnsCache } from "./cache.ts";
import { sanitizeTtl } from "./cache.ts";
import { DnsError, NameNotFoundError, ResolutionLimitError, ServerFailureError } from "./errors.ts";
import { exchange } from "./_exchange.ts";
import type { ServerSelection } from "./server_selection.ts";
import { type DnsMessage, type DnsRecord, inBailiwick, normalizeName } from "./packet.ts";
import type { DnsResolverOptions } from "./resolver.ts";

const MAX_CNAMES = 16;
const MAX_REFERRALS = 24;
const MAX_GLUELESS_DEPTH = 4;
const NEGATIVE_DEFAULT_TTL = 60;

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
export interface Budget {
  queries: number;
  depth: number;
  /** When the lookup must be over (`Date.now()` clock). */
  deadline: number;
}

/** The resolver's settings, defaults applied. */
export type ResolverSettings = Required<Omit<DnsResolverOptions, "nameservers">>;

/** Upstream lookups of one {@linkcode DnsResolver}: coalesced, limited, cached. */
export class Lookups {
  readonly cache: DnsCache;
  readonly selection: ServerSelection;
  readonly #options: ResolverSettings;
  readonly #servers: InetAddress[];
  readonly #roots: InetAddress[];
  /** A server's address from its text (an A record's), at the resolver's port. */
  readonly #address: (text: string) => InetAddress;
  readonly #inFlight: Semaphore;
  readonly #pending = new Map<string, Latch<Outcome>>();
  #queries = 0;

  constructor(
    options: ResolverSettings,
    cache: DnsCache,
    selection: ServerSelection,
    servers: InetAddress[],
    roots: InetAddress[],
    address: (text: string) => InetAddress,
  ) {
    this.#address = address;
    this.#options = options;
    this.cache = cache;
    this.selection = selection;
    this.#servers = servers;
    this.#roots = roots;
    this.#inFlight = new Semaphore(options.maxInFlight);
  }

  /** Queries sent so far. */
  get queriesSent(): number {
    return this.#queries;
  }

  /** The records of (name, type), name normalized, CNAMEs followed; as DnsResolver.resolve. */
  resolve(name: string, type: string, budget: Budget): Promise<DnsRecord[]> {
    return this.#resolve(name, type, budget);
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
            servers.push(this.#address(String(x.data)));
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
        servers.push(this.#address(String(r.data)));
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
        for (const r of a) servers.push(this.#address(String(r.data)));
      } catch (e) {
        if (e instanceof ResolutionLimitError) throw e;
      } finally {
        budget.depth--;
      }
      if (servers.length > 0) return { zone: child, servers };
    }
    return null;
  }
}

function shuffle<T>(list: readonly T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
