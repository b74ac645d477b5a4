/**
 * Cookie sessions for the server's handlers: the session's data (JSON) travels in a
 * cookie signed with HMAC-SHA-256 and stamped with its expiry, `HttpOnly`, `Secure` and
 * `SameSite` by default. Signed, not encrypted: the client can read it (keep secrets on
 * the server, under an id kept in the session), but cannot change it or make it live
 * longer.
 *
 * @module
 */

import { nodeBuiltin } from "../../core/_node_builtin.ts";

// node:crypto loads with the first signed cookie, not with shrapnel.
const nodeCrypto = () => nodeBuiltin<typeof import("node:crypto")>("node:crypto");
import { constantTimeEqual } from "./auth.ts";
import type { HttpRequest } from "./request.ts";

/** Options of {@linkcode CookieSessions}. */
export interface CookieSessionOptions {
  /**
   * Signing keys (at least 32 bytes each): the first signs, all verify, so that a key can
   * be rotated without logging everyone out.
   */
  secret: string | Uint8Array | (string | Uint8Array)[];
  /** The cookie's name ("session"). */
  cookieName?: string;
  /** Seconds a session lives after its last write (86400). */
  maxAge?: number;
  /** Send the cookie over https only (true; false for plain-http development only). */
  secure?: boolean;
  /** Cross-site sending ("Lax"). */
  sameSite?: "Strict" | "Lax" | "None";
  /** The cookie's path ("/"). */
  path?: string;
  /** The cookie's domain (none: this host only). */
  domain?: string;
}

/** The data of a session. */
export type SessionData = Record<string, unknown>;

/** Largest cookie value written: browsers keep cookies of up to 4096 bytes. */
const MAX_COOKIE_BYTES = 4000;

function base64url(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): string {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

/**
 * The value of cookie `name` in a Cookie field, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cookieValue } from "./session.ts";
 * assert.equal(cookieValue("a=1; session=xyz; b=2", "session"), "xyz");
 * assert.equal(cookieValue("a=1", "session"), null);
 * ```
 */
export function cookieValue(field: string | null, name: string): string | null {
  if (field === null) return null;
  for (const part of field.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * Signed cookie sessions. `read(request)` gives the session's data (null when there is
 * none, or its cookie was tampered with or has expired); `write(request, data)` sets the
 * cookie on the reply (call it before the reply's head goes out); `clear(request)` ends
 * the session.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CookieSessions } from "./session.ts";
 * const sessions = new CookieSessions({ secret: "0123456789abcdef0123456789abcdef" });
 * const cookie = sessions.seal({ user: "ann" });
 * assert.deepEqual(sessions.unseal(cookie), { user: "ann" });
 * assert.equal(sessions.unseal(cookie.replace(/.$/, "x")), null);
 * ```
 */
export class CookieSessions {
  readonly #keys: (string | Uint8Array)[];
  readonly #name: string;
  readonly #maxAge: number;
  readonly #attributes: string;

  /**
   * Makes the session keeper.
   * @param options keys, cookie name and attributes
   * @throws {RangeError} for a key shorter than 32 bytes
   */
  constructor(options: CookieSessionOptions) {
    this.#keys = Array.isArray(options.secret) ? options.secret : [options.secret];
    if (this.#keys.length === 0) throw new RangeError("no session key");
    for (const key of this.#keys) {
      const length = typeof key === "string" ? new TextEncoder().encode(key).length : key.length;
      if (length < 32) throw new RangeError("a session key needs at least 32 bytes");
    }
    this.#name = options.cookieName ?? "session";
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(this.#name)) {
      throw new TypeError(`not a cookie name: ${this.#name}`);
    }
    this.#maxAge = options.maxAge ?? 86400;
    this.#attributes = [
      `Path=${options.path ?? "/"}`,
      ...(options.domain ? [`Domain=${options.domain}`] : []),
      "HttpOnly",
      ...(options.secure ?? true ? ["Secure"] : []),
      `SameSite=${options.sameSite ?? "Lax"}`,
    ].join("; ");
    if (options.sameSite === "None" && options.secure === false) {
      throw new TypeError("SameSite=None needs Secure (browsers drop the cookie otherwise)");
    }
  }

  #mac(key: string | Uint8Array, payload: string): string {
    return nodeCrypto().createHmac("sha256", key).update(`${this.#name}=${payload}`).digest(
      "base64url",
    );
  }

  /** The cookie value for `data`, valid for `maxAge` seconds from now. */
  seal(data: SessionData): string {
    const payload = base64url(
      JSON.stringify({ d: data, e: Math.floor(Date.now() / 1000) + this.#maxAge }),
    );
    return `${payload}.${this.#mac(this.#keys[0], payload)}`;
  }

  /** The data in a cookie value, or null if it is forged, malformed or expired. */
  unseal(value: string): SessionData | null {
    const dot = value.lastIndexOf(".");
    if (dot <= 0) return null;
    const payload = value.slice(0, dot), mac = value.slice(dot + 1);
    if (!this.#keys.some((key) => constantTimeEqual(this.#mac(key, payload), mac))) return null;
    try {
      const { d, e } = JSON.parse(fromBase64url(payload));
      if (typeof e !== "number" || e * 1000 < Date.now()) return null;
      if (d === null || typeof d !== "object" || Array.isArray(d)) return null;
      return d as SessionData;
    } catch {
      return null; // signed by us, so never: but a bad payload is no session
    }
  }

  /** The request's session data, or null. */
  read(request: HttpRequest): SessionData | null {
    const value = cookieValue(request.headers.get("cookie"), this.#name);
    return value === null ? null : this.unseal(value);
  }

  /**
   * Sets the session cookie on the reply (a Set-Cookie field; before the head is sent).
   * @throws {RangeError} if the data makes a cookie larger than browsers keep (4000 bytes)
   */
  write(request: HttpRequest, data: SessionData): void {
    const value = this.seal(data);
    if (value.length > MAX_COOKIE_BYTES) {
      throw new RangeError(`session data too large for a cookie (${value.length} bytes)`);
    }
    request.replyHeaders.add(
      "set-cookie",
      `${this.#name}=${value}; Max-Age=${this.#maxAge}; ${this.#attributes}`,
    );
  }

  /** Ends the session: the cookie is replaced by an expired, empty one. */
  clear(request: HttpRequest): void {
    request.replyHeaders.add("set-cookie", `${this.#name}=; Max-Age=0; ${this.#attributes}`);
  }
}
