/**
 * DNS errors: a name that does not exist, a server that failed, an answer that could not
 * be read, a resolution that ran away.
 *
 * @module
 */

import { familyHasInstance } from "../../core/_error_family.ts";
import { ProtocolError, ShrapnelError } from "../../core/errors.ts";

/**
 * A DNS lookup failed. {@linkcode MalformedPacketError} (which extends `ProtocolError`)
 * is one too: `instanceof DnsError` is true for it.
 *
 * @example
 * ```ts
 * import { DnsError } from "./errors.ts";
 * console.log(new DnsError("example.test", "A", "no answer").message);
 * ```
 */
export class DnsError extends ShrapnelError {
  /** The name looked up. */
  readonly qname: string;
  /** The record type looked up. */
  readonly qtype: string;
  /**
   * Creates a {@linkcode DnsError}.
   *
   * @param qname the name; @param qtype the type; @param message what went wrong
   */
  constructor(qname: string, qtype: string, message: string) {
    super(`${qname} ${qtype}: ${message}`);
    this.qname = qname;
    this.qtype = qtype;
  }

  /** True for a DnsError, and (asked of DnsError itself) for a {@linkcode MalformedPacketError}. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return familyHasInstance(this, DnsError, [MalformedPacketError], value);
  }
}

/**
 * The name does not exist (NXDOMAIN).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NameNotFoundError } from "./errors.ts";
 * assert.equal(new NameNotFoundError("nowhere.test", "A").message, "nowhere.test A: no such name");
 * ```
 */
export class NameNotFoundError extends DnsError {
  /**
   * Creates a {@linkcode NameNotFoundError}.
   *
   * @param qname the name; @param qtype the type
   */
  constructor(qname: string, qtype: string) {
    super(qname, qtype, "no such name");
  }
}

/**
 * Every server asked failed (SERVFAIL, REFUSED, timeouts, lame delegations).
 *
 * @example
 * ```ts
 * import { ServerFailureError } from "./errors.ts";
 * console.log(new ServerFailureError("x.test", "A", "SERVFAIL from 127.0.0.1:53").message);
 * ```
 */
export class ServerFailureError extends DnsError {}

/**
 * A server's host said nobody listens on its DNS port (an ICMP port-unreachable, seen as
 * ECONNREFUSED on the query's socket): counted as a failure at once, without waiting for
 * the timeout. Only the FFI socket backend sees these (its query sockets are connected);
 * Deno's own UDP sockets cannot be, so there an unreachable port costs the timeout.
 *
 * @example
 * ```ts
 * import { ServerFailureError, ServerUnreachableError } from "./errors.ts";
 * const e = new ServerUnreachableError("x.test", "A", "127.0.0.1:53: port unreachable");
 * console.log(e instanceof ServerFailureError); // true
 * ```
 */
export class ServerUnreachableError extends ServerFailureError {}

/**
 * A packet could not be decoded, or was cut short: a `ProtocolError` of protocol "dns",
 * and a {@linkcode DnsError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "../../core/errors.ts";
 * import { DnsError, MalformedPacketError } from "./errors.ts";
 * const e = new MalformedPacketError("x.test", "A", "truncated header");
 * assert.equal(e.message, "x.test A: truncated header");
 * assert.ok(e instanceof ProtocolError && e instanceof DnsError);
 * ```
 */
export class MalformedPacketError extends ProtocolError {
  /** The name looked up. */
  readonly qname: string;
  /** The record type looked up. */
  readonly qtype: string;
  /**
   * Creates a {@linkcode MalformedPacketError}.
   *
   * @param qname the name; @param qtype the type; @param message what was malformed
   */
  constructor(qname: string, qtype: string, message: string) {
    super("dns", `${qname} ${qtype}: ${message}`);
    this.qname = qname;
    this.qtype = qtype;
  }
}

/**
 * The resolution passed a limit: too many referrals, queries, CNAMEs, or glueless
 * delegations nested too deep.
 *
 * @example
 * ```ts
 * import { ResolutionLimitError } from "./errors.ts";
 * console.log(new ResolutionLimitError("x.test", "A", "more than 16 CNAMEs").message);
 * ```
 */
export class ResolutionLimitError extends DnsError {}
