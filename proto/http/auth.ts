/**
 * HTTP authentication for the server's handlers: Basic (RFC 7617) and Digest (RFC 7616,
 * SHA-256 by default, qop=auth), with constant-time comparisons, nonces that expire and a
 * nonce count that refuses replays. `protect(handler, auth)` guards a handler; the user
 * it let in is `authenticatedUser(request)`.
 *
 * @module
 */

import { nodeBuiltin } from "../../core/_node_builtin.ts";

// node:crypto loads with the first authentication, not with shrapnel.
const nodeCrypto = () => nodeBuiltin<typeof import("node:crypto")>("node:crypto");
import type { HttpRequest } from "./request.ts";
import type { Handler } from "./server.ts";

/** A way to authenticate requests (see {@linkcode BasicAuth}, {@linkcode DigestAuth}). */
export interface Authenticator {
  /** The user the request's credentials prove, or null. Interruption point. */
  authenticate(request: HttpRequest): Promise<string | null>;
  /** Answers 401 with the challenge(s) for the client. Interruption point. */
  challenge(request: HttpRequest): Promise<void>;
}

const users = new WeakMap<HttpRequest, string>();

/**
 * The user `protect` let in for `request`, or null.
 *
 * @example
 * ```ts ignore
 * server.push(protect({ match: () => true, handle: (r) => r.respond(200, `hi ${authenticatedUser(r)}`) }, auth));
 * ```
 */
export function authenticatedUser(request: HttpRequest): string | null {
  return users.get(request) ?? null;
}

/**
 * Guards `handler`: the requests it matches must authenticate with `auth`, or get its 401
 * challenge.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BasicAuth, protect } from "./auth.ts";
 * const guarded = protect({ match: () => true, handle: () => {} }, new BasicAuth({
 *   realm: "admin",
 *   users: { ann: "secret" },
 * }));
 * assert.equal(typeof guarded.handle, "function");
 * ```
 */
export function protect(handler: Handler, auth: Authenticator): Handler {
  return {
    match: (request) => handler.match(request),
    async handle(request) {
      const user = await auth.authenticate(request);
      if (user === null) return auth.challenge(request);
      users.set(request, user);
      return handler.handle(request);
    },
  };
}

/** SHA-256 of `text`'s UTF-8, as bytes. */
function sha256(text: string | Uint8Array): Uint8Array {
  return nodeCrypto().createHash("sha256").update(text).digest();
}

/**
 * Whether `a` and `b` are equal, in a time that depends on neither's content nor on
 * where they differ (both are hashed first, so lengths leak nothing either).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { constantTimeEqual } from "./auth.ts";
 * assert.equal(constantTimeEqual("secret", "secret"), true);
 * assert.equal(constantTimeEqual("secret", "secreT"), false);
 * ```
 */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  return nodeCrypto().timingSafeEqual(sha256(a), sha256(b));
}

/** Options of {@linkcode BasicAuth}. */
export interface BasicAuthOptions {
  /** The realm shown to the user. */
  realm: string;
  /** Users and their passwords (compared in constant time). */
  users?: Record<string, string>;
  /**
   * Checks a user's password instead of `users` (compare in constant time:
   * {@linkcode constantTimeEqual}). Interruption point if it blocks.
   */
  verify?: (user: string, password: string) => boolean | Promise<boolean>;
}

function quote(text: string): string {
  return `"${text.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * Basic authentication (RFC 7617): user and password in the clear (use it over TLS only),
 * UTF-8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BasicAuth } from "./auth.ts";
 * const auth = new BasicAuth({ realm: "admin", users: { ann: "secret" } });
 * assert.equal(auth.realm, "admin");
 * ```
 */
export class BasicAuth implements Authenticator {
  /** The realm. */
  readonly realm: string;
  readonly #verify: (user: string, password: string) => boolean | Promise<boolean>;

  /**
   * Makes the authenticator.
   * @param options realm and users (or a check)
   */
  constructor(options: BasicAuthOptions) {
    this.realm = options.realm;
    const table = new Map(Object.entries(options.users ?? {}));
    this.#verify = options.verify ?? ((user, password) => {
      // An unknown user costs the same comparison as a known one.
      const known = table.get(user);
      const match = constantTimeEqual(known ?? "\u0000unknown user", password);
      return known !== undefined && match;
    });
  }

  /** The user, if the Authorization field holds a good Basic user and password. */
  async authenticate(request: HttpRequest): Promise<string | null> {
    const field = request.headers.get("authorization");
    const m = field?.match(/^basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i);
    if (!m) return null;
    let decoded: string;
    try {
      decoded = new TextDecoder("utf-8", { fatal: true }).decode(
        Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)),
      );
    } catch {
      return null; // not base64 or not UTF-8: no credentials
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) return null;
    const user = decoded.slice(0, colon), password = decoded.slice(colon + 1);
    return await this.#verify(user, password) ? user : null;
  }

  /** 401 with `WWW-Authenticate: Basic realm="...", charset="UTF-8"`. */
  challenge(request: HttpRequest): Promise<void> {
    return request.respond(401, "authentication required\n", {
      "www-authenticate": `Basic realm=${quote(this.realm)}, charset="UTF-8"`,
      "content-type": "text/plain; charset=utf-8",
    });
  }
}

/** A Digest hash algorithm (RFC 7616 section 3.3). */
export type DigestAlgorithm = "SHA-256" | "MD5";

/** Options of {@linkcode DigestAuth}. */
export interface DigestAuthOptions {
  /** The realm (part of what the user's password is hashed with). */
  realm: string;
  /** Users and their passwords. */
  users?: Record<string, string>;
  /**
   * Instead of `users`: the hex H(user:realm:password) for `user` under `algorithm`, or
   * null for an unknown user (so that passwords need not be stored in the clear).
   */
  ha1?: (user: string, algorithm: DigestAlgorithm) => string | null | Promise<string | null>;
  /** Algorithms offered, in preference order (["SHA-256"]); add "MD5" for old clients. */
  algorithms?: DigestAlgorithm[];
  /** Seconds a nonce is good for (300); then the client is told `stale=true`. */
  nonceLifetime?: number;
  /**
   * Nonces whose counts are remembered against replays (10000; the least recently used go
   * first, and with them every nonce issued up to theirs turns stale: a forgotten count
   * never admits a replay, and clients retry with a fresh nonce without asking the user).
   */
  maxNonces?: number;
  /** Key that signs nonces (32 random bytes): give one to share nonces between servers. */
  secret?: Uint8Array;
}

const HASH_NAMES: Record<DigestAlgorithm, string> = { "SHA-256": "sha256", "MD5": "md5" };

function hex(algorithm: DigestAlgorithm, text: string): string {
  return nodeCrypto().createHash(HASH_NAMES[algorithm]).update(text).digest("hex");
}

/**
 * The parameters of an `Authorization: Digest ...` field (RFC 7616 section 3.4), or null
 * if it is not one or is malformed.
 */
export function parseDigestCredentials(field: string): Map<string, string> | null {
  const m = field.match(/^digest[ \t]+/i);
  if (!m) return null;
  const params = new Map<string, string>();
  const pair = /\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  pair.lastIndex = m[0].length;
  while (pair.lastIndex < field.length) {
    const start = pair.lastIndex;
    const p = pair.exec(field);
    if (p === null || pair.lastIndex === start) return null;
    const name = p[1].toLowerCase();
    if (params.has(name)) return null; // a repeated parameter is ambiguous: refused
    params.set(name, p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]);
  }
  return params;
}

/**
 * Digest authentication (RFC 7616) with qop=auth: the password never crosses the wire.
 * Nonces carry their time and an HMAC (no table to fill), expire after
 * `nonceLifetime` (the client then retries with `stale=true`, without asking the user
 * again), and each nonce's count must grow (a replayed request is refused), also after
 * its count was dropped to stay within `maxNonces` (the nonce is then stale).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DigestAuth } from "./auth.ts";
 * const auth = new DigestAuth({ realm: "api", users: { ann: "secret" } });
 * assert.deepEqual(auth.algorithms, ["SHA-256"]);
 * ```
 */
export class DigestAuth implements Authenticator {
  /** The realm. */
  readonly realm: string;
  /** The algorithms offered. */
  readonly algorithms: readonly DigestAlgorithm[];
  readonly #ha1: (user: string, a: DigestAlgorithm) => string | null | Promise<string | null>;
  readonly #lifetimeMs: number;
  readonly #maxNonces: number;
  readonly #secret: Uint8Array;
  readonly #opaque: string;
  /** Nonce -> highest count seen (insertion order = last use, for eviction). */
  readonly #counts = new Map<string, number>();
  /**
   * The latest issue time (ms) of a nonce evicted from `#counts`: nonces issued then or
   * before are stale, so that a forgotten count never lets a replay in again.
   */
  #evictedUpTo = -1;
  /** Requests whose nonce had expired: the challenge says stale=true. */
  readonly #stale = new WeakSet<HttpRequest>();

  /**
   * Makes the authenticator.
   * @param options realm, users (or their hashes), algorithms, nonce lifetime
   */
  constructor(options: DigestAuthOptions) {
    this.realm = options.realm;
    this.algorithms = options.algorithms ?? ["SHA-256"];
    if (this.algorithms.length === 0) throw new TypeError("no Digest algorithm offered");
    const table = new Map(Object.entries(options.users ?? {}));
    this.#ha1 = options.ha1 ?? ((user, algorithm) => {
      const password = table.get(user);
      return password === undefined ? null : hex(algorithm, `${user}:${this.realm}:${password}`);
    });
    this.#lifetimeMs = (options.nonceLifetime ?? 300) * 1000;
    this.#maxNonces = options.maxNonces ?? 10000;
    this.#secret = options.secret ?? nodeCrypto().randomBytes(32);
    this.#opaque = nodeCrypto().createHmac("sha256", this.#secret).update("opaque").digest(
      "base64url",
    );
  }

  #sign(time: string): string {
    return nodeCrypto().createHmac("sha256", this.#secret).update(`${time}:${this.realm}`).digest(
      "base64url",
    ).slice(0, 22);
  }

  /** A fresh nonce: the time it was made, and a signature of it. */
  #nonce(): string {
    const time = Date.now().toString(36);
    return `${time}.${this.#sign(time)}`;
  }

  /** "good", "stale" (signed by us, but too old) or "bad". */
  #checkNonce(nonce: string): "good" | "stale" | "bad" {
    const dot = nonce.indexOf(".");
    if (dot <= 0) return "bad";
    const time = nonce.slice(0, dot);
    if (!constantTimeEqual(this.#sign(time), nonce.slice(dot + 1))) return "bad";
    const issued = parseInt(time, 36);
    const age = Date.now() - issued;
    if (!(age >= 0 && age <= this.#lifetimeMs) || issued <= this.#evictedUpTo) return "stale";
    return "good";
  }

  /** The user, if the Authorization field holds a good Digest response for this request. */
  async authenticate(request: HttpRequest): Promise<string | null> {
    const field = request.headers.get("authorization");
    if (field === null) return null;
    const p = parseDigestCredentials(field);
    if (p === null) return null;
    const user = p.get("username"), nonce = p.get("nonce"), uri = p.get("uri");
    const response = p.get("response"), cnonce = p.get("cnonce"), nc = p.get("nc");
    const algorithm = (p.get("algorithm") ?? "MD5").toUpperCase() as DigestAlgorithm;
    if (
      user === undefined || nonce === undefined || uri === undefined ||
      response === undefined || cnonce === undefined || nc === undefined ||
      p.get("qop") !== "auth" || p.get("realm") !== this.realm ||
      !this.algorithms.includes(algorithm) || !/^[0-9a-f]{8}$/i.test(nc) ||
      (p.has("opaque") && p.get("opaque") !== this.#opaque)
    ) return null;
    // The response covers `uri`: it must be this request's target, or it proves nothing.
    if (uri !== request.target) return null;
    const freshness = this.#checkNonce(nonce);
    if (freshness === "bad") return null;
    if (freshness === "stale") {
      this.#stale.add(request);
      return null;
    }
    const ha1 = await this.#ha1(user, algorithm);
    const ha2 = hex(algorithm, `${request.method}:${uri}`);
    const expected = hex(
      algorithm,
      `${ha1 ?? "0".repeat(64)}:${nonce}:${nc}:${cnonce}:auth:${ha2}`,
    );
    if (!constantTimeEqual(expected, response.toLowerCase()) || ha1 === null) return null;
    // Each use of a nonce must count up: a replayed request is refused.
    const count = parseInt(nc, 16);
    const last = this.#counts.get(nonce) ?? 0;
    if (count <= last) return null;
    this.#counts.delete(nonce);
    this.#counts.set(nonce, count);
    if (this.#counts.size > this.#maxNonces) {
      // Its count is forgotten: it, and every nonce issued up to it, turns stale (the
      // client retries with a fresh nonce without asking the user).
      const evicted = this.#counts.keys().next().value!;
      this.#counts.delete(evicted);
      const issued = parseInt(evicted.slice(0, evicted.indexOf(".")), 36);
      if (issued > this.#evictedUpTo) this.#evictedUpTo = issued;
    }
    return user;
  }

  /** 401 with a Digest challenge per algorithm (with `stale=true` after an expired nonce). */
  challenge(request: HttpRequest): Promise<void> {
    const nonce = this.#nonce();
    const stale = this.#stale.has(request) ? ", stale=true" : "";
    request.replyHeaders.set("content-type", "text/plain; charset=utf-8");
    for (const algorithm of this.algorithms) {
      request.replyHeaders.add(
        "www-authenticate",
        `Digest realm=${quote(this.realm)}, qop="auth", algorithm=${algorithm}, ` +
          `nonce="${nonce}", opaque="${this.#opaque}", charset=UTF-8${stale}`,
      );
    }
    return request.respond(401, "authentication required\n");
  }
}
