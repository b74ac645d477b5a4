/**
 * DNS errors: a name that does not exist, a server that failed, an answer that could not
 * be read, a resolution that ran away.
 *
 * @module
 */

import { ShrapnelError } from "../../core/errors.ts";

/**
 * A DNS lookup failed.
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
 * A packet could not be decoded, or was cut short.
 *
 * @example
 * ```ts
 * import { MalformedPacketError } from "./errors.ts";
 * console.log(new MalformedPacketError("x.test", "A", "truncated header").message);
 * ```
 */
export class MalformedPacketError extends DnsError {}

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
