/**
 * The DNS cache: least-recently-used, with pinned entries, real TTLs (and an optional
 * minimum), negative entries from the SOA, and one query for many identical lookups.
 *
 * @module
 */

import { now } from "../../core/clock.ts";
import type { DnsRecord } from "./packet.ts";
import { normalizeName } from "./packet.ts";

/** A cached answer: records (possibly none: NODATA), or a name that does not exist. */
export type CacheEntry =
  | {
    kind: "records";
    records: DnsRecord[];
    expires: number;
    /** @internal The records' data as text, made once (frozen: shared by every caller). */
    texts?: readonly string[];
    /** @internal When the entry was last moved to the recent end. */
    touched?: number;
  }
  | { kind: "nxdomain"; expires: number; touched?: number }
  | { kind: "nodata"; expires: number; touched?: number };

/** Counters of a {@linkcode DnsCache}. */
export interface DnsCacheStatistics {
  /** Entries now. */
  size: number;
  /** Lookups answered from the cache. */
  hits: number;
  /** Lookups not in the cache (or expired). */
  misses: number;
  /** Entries dropped to make room. */
  evictions: number;
}

/** Caps on how long a peer can make us keep an answer (RFC 2181 section 8, RFC 2308 section 5). */
export interface DnsTtlLimits {
  /** Longest a positive answer is kept, in seconds (604800: 7 days, BIND's `max-cache-ttl`). */
  maxTtl?: number;
  /**
   * Longest a negative answer (NXDOMAIN, NODATA) is kept, in seconds (10800: 3 hours,
   * RFC 2308's recommendation and BIND's `max-ncache-ttl`).
   */
  maxNegativeTtl?: number;
}

/** The default cap on positive TTLs: 7 days. */
export const DEFAULT_MAX_TTL = 7 * 86400;
/** The default cap on negative TTLs: 3 hours. */
export const DEFAULT_MAX_NEGATIVE_TTL = 3 * 3600;

/**
 * A TTL as a cache must read it: RFC 2181 section 8 makes a value with the top bit set
 * (2^31 or more) mean 0; anything that is not a finite non-negative number is 0 too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sanitizeTtl } from "./cache.ts";
 * assert.deepEqual([sanitizeTtl(0xffffffff), sanitizeTtl(300)], [0, 300]);
 * ```
 */
export function sanitizeTtl(ttl: number | undefined): number {
  if (ttl === undefined || !(ttl >= 0) || ttl >= 0x80000000) return 0;
  return ttl;
}

/**
 * An LRU map from (name, type) to answers, honouring TTLs: a TTL with the top bit set
 * counts as 0, positive ones are capped at `maxTtl` (7 days) and negative ones at
 * `maxNegativeTtl` (3 hours), after the `minTtl` floor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DnsCache } from "./cache.ts";
 * const cache = new DnsCache(100);
 * cache.putRecords("a.test", "A", [{ name: "a.test", type: "A", ttl: 60, data: "10.0.0.1" }]);
 * assert.deepEqual(cache.get("A.TEST.", "A")?.kind, "records");
 * ```
 */
export class DnsCache {
  /** Most entries kept (pinned ones not counted). */
  readonly capacity: number;
  /** TTLs below this are raised to it (seconds). */
  readonly minTtl: number;
  /** Positive TTLs above this are lowered to it (seconds). */
  readonly maxTtl: number;
  /** Negative TTLs above this are lowered to it (seconds). */
  readonly maxNegativeTtl: number;
  #entries = new Map<string, CacheEntry>();
  #pinned = new Map<string, CacheEntry>();
  #stats = { hits: 0, misses: 0, evictions: 0 };
  #uses = 0;

  /**
   * Makes an empty cache (`localhost` pinned).
   *
   * @param capacity most entries (10000)
   * @param minTtl a floor on TTLs, in seconds (0)
   * @param limits caps on positive and negative TTLs (7 days, 3 hours)
   * @throws {RangeError} if a cap is negative or not a number
   */
  constructor(capacity = 10000, minTtl = 0, limits: DnsTtlLimits = {}) {
    this.capacity = capacity;
    this.minTtl = minTtl;
    this.maxTtl = limits.maxTtl ?? DEFAULT_MAX_TTL;
    this.maxNegativeTtl = limits.maxNegativeTtl ?? DEFAULT_MAX_NEGATIVE_TTL;
    for (
      const [what, value] of [["maxTtl", this.maxTtl], ["maxNegativeTtl", this.maxNegativeTtl]]
    ) {
      if (!(Number(value) >= 0)) throw new RangeError(`${what} must be a number >= 0: ${value}`);
    }
    this.pin("localhost", "A", [{ name: "localhost", type: "A", ttl: 0, data: "127.0.0.1" }]);
    this.pin("localhost", "AAAA", [{ name: "localhost", type: "AAAA", ttl: 0, data: "::1" }]);
  }

  static #key(name: string, type: string): string {
    return `${normalizeName(name)}|${type}`;
  }

  /** The entry for (name, type) if present and fresh; counts a hit or a miss. */
  get(name: string, type: string): CacheEntry | undefined {
    const key = DnsCache.#key(name, type);
    const pinned = this.#pinned.get(key);
    if (pinned !== undefined) {
      this.#stats.hits++;
      return pinned;
    }
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.expires <= now()) {
      if (entry !== undefined) this.#entries.delete(key);
      this.#stats.misses++;
      return undefined;
    }
    // Most recently used last: delete and set again, but only once the entry has aged
    // past half the cache; a hot entry is not moved on every hit (approximate LRU).
    if (this.#uses - (entry.touched ?? 0) > this.capacity >> 1) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      entry.touched = this.#uses;
    }
    this.#uses++;
    this.#stats.hits++;
    return entry;
  }

  #put(name: string, type: string, entry: CacheEntry): void {
    const key = DnsCache.#key(name, type);
    if (this.#pinned.has(key)) return;
    this.#entries.delete(key);
    entry.touched = this.#uses++;
    this.#entries.set(key, entry);
    while (this.#entries.size > this.capacity) {
      this.#entries.delete(this.#entries.keys().next().value!);
      this.#stats.evictions++;
    }
  }

  /** How long a TTL from the wire is kept: sanitized, floored, then capped. */
  #lifetime(ttl: number | undefined, cap: number): number {
    return Math.min(Math.max(sanitizeTtl(ttl), this.minTtl), cap);
  }

  /**
   * Caches records of one (name, type) for the smallest of their TTLs, each capped (see
   * the class): the records are stored, and later returned, with that TTL. Returns them.
   */
  putRecords(name: string, type: string, records: DnsRecord[]): DnsRecord[] {
    let ttl = Infinity;
    for (const r of records) ttl = Math.min(ttl, this.#lifetime(r.ttl, this.maxTtl));
    if (records.length === 0) ttl = this.#lifetime(0, this.maxTtl);
    const kept = records.map((r) => r.ttl === ttl ? r : { ...r, ttl });
    this.#put(name, type, { kind: "records", records: kept, expires: now() + ttl });
    return kept;
  }

  /**
   * Caches a negative answer for `ttl` seconds (from the SOA: the smaller of its TTL and
   * its MINIMUM field, RFC 2308), capped at `maxNegativeTtl`.
   */
  putNegative(name: string, type: string, nxdomain: boolean, ttl: number): void {
    const expires = now() + this.#lifetime(ttl, this.maxNegativeTtl);
    this.#put(name, type, nxdomain ? { kind: "nxdomain", expires } : { kind: "nodata", expires });
  }

  /** Pins records: never evicted, never expired. */
  pin(name: string, type: string, records: DnsRecord[]): void {
    this.#pinned.set(DnsCache.#key(name, type), { kind: "records", records, expires: Infinity });
  }

  /** Drops everything but the pinned entries. */
  clear(): void {
    this.#entries.clear();
  }

  /** Counters. */
  statistics(): DnsCacheStatistics {
    return { size: this.#entries.size, ...this.#stats };
  }
}
