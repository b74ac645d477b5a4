/**
 * An LDAPv3 client (RFC 4511) on shrapnel sockets, its BER through npm:asn1js: simple
 * bind, search with RFC 4515 filters, add, modify, delete, StartTLS. Every call is an
 * interruption point (an interrupted operation is abandoned on the server).
 *
 * @module
 */

import { ProtocolError, ShrapnelError } from "../../core/errors.ts";
import { loadOnce } from "../_load_once.ts";
import type { LdapSession } from "./_client.ts";

/** The code, loaded by the first connect. */
const implementation = loadOnce(() => import("./_client.ts"), "the LDAP client");

/** Where to connect. */
export interface LdapOptions {
  /** Host ("127.0.0.1"). */
  host?: string;
  /** Port (389). */
  port?: number;
  /** Largest message accepted (16 MiB). */
  maxMessageBytes?: number;
  /** Seconds a connect may take (10); past it, {@linkcode TimeoutError}. */
  connectTimeoutSeconds?: number;
  /**
   * Seconds to wait for each message of a response (30): a server that goes silent in
   * the middle of an operation costs at most this. Past it the operation is abandoned
   * on the server and {@linkcode TimeoutError} thrown. `Infinity` waits forever.
   */
  responseTimeoutSeconds?: number;
}

/** An entry: its DN and attributes (values as text; binary ones too, decoded as UTF-8). */
export interface LdapEntry {
  /** Distinguished name. */
  dn: string;
  /** Attribute name -> values. */
  attributes: Record<string, string[]>;
}

/** Search scope. */
export type LdapScope = "base" | "one" | "sub";

/** A change for `modify`. */
export interface LdapChange {
  /** "add", "delete" or "replace". */
  operation: "add" | "delete" | "replace";
  /** Attribute name. */
  attribute: string;
  /** Values (none: delete the attribute). */
  values: string[];
}

/**
 * The server answered an operation with a result code other than success; `code` is it
 * (32 no such object, 49 invalid credentials, 68 already exists...).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LdapError } from "./client.ts";
 * assert.deepEqual(new LdapError(49, "", "invalid credentials").code, 49);
 * ```
 */
export class LdapError extends ShrapnelError {
  /** The LDAP result code. */
  readonly code: number;
  /** The matched DN the server reported. */
  readonly matchedDn: string;
  /**
   * Creates a {@linkcode LdapError}.
   *
   * @param code result code; @param matchedDn matched DN; @param message diagnostic
   */
  constructor(code: number, matchedDn: string, message: string) {
    super(`LDAP result ${code}${message ? `: ${message}` : ""}`);
    this.code = code;
    this.matchedDn = matchedDn;
  }
}

/**
 * A message was not valid BER, or not the LDAP message it should be: a `ProtocolError` of
 * protocol "ldap".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LdapProtocolError } from "./client.ts";
 * assert.equal(new LdapProtocolError("bad length").name, "LdapProtocolError");
 * ```
 */
export class LdapProtocolError extends ProtocolError {
  /**
   * Makes the error, of protocol "ldap".
   *
   * @param message what was wrong
   * @param options its cause
   */
  constructor(message?: string, options?: ErrorOptions) {
    super("ldap", message, options);
  }
}

/**
 * An LDAP connection.
 *
 * @example
 * ```ts ignore
 * const ldap = await LdapClient.connect({ host: "127.0.0.1" });
 * await ldap.bind("cn=admin,dc=example,dc=org", "secret");
 * console.log(await ldap.search("dc=example,dc=org", "(objectClass=person)", ["cn"]));
 * await ldap.unbind();
 * ```
 */
export class LdapClient {
  readonly #impl: LdapSession;

  private constructor(impl: LdapSession) {
    this.#impl = impl;
  }
  /**
   * Connects (on a connection StartTLS can upgrade). Interruption point.
   * @throws {TimeoutError} after `connectTimeoutSeconds` (10)
   */
  static async connect(options: LdapOptions = {}): Promise<LdapClient> {
    const { LdapSession } = await implementation();
    return new LdapClient(await LdapSession.connect(options));
  }

  /**
   * Simple bind. Interruption point.
   * @throws {LdapError} 49 for invalid credentials
   */
  bind(dn: string, password: string): Promise<void> {
    return this.#impl.bind(dn, password);
  }

  /**
   * Searches. Interruption point (the search is abandoned on the server).
   * @throws {FilterSyntaxError} for a bad filter
   * @throws {LdapError} 32 if the base does not exist
   */
  search(
    base: string,
    filter = "(objectClass=*)",
    attributes: string[] = [],
    options: { scope?: LdapScope; sizeLimit?: number; timeLimit?: number } = {},
  ): Promise<LdapEntry[]> {
    return this.#impl.search(base, filter, attributes, options);
  }

  /** Adds an entry. Interruption point. @throws {LdapError} 68 if it exists */
  add(dn: string, attributes: Record<string, string | string[]>): Promise<void> {
    return this.#impl.add(dn, attributes);
  }

  /** Modifies an entry. Interruption point. */
  modify(dn: string, changes: LdapChange[]): Promise<void> {
    return this.#impl.modify(dn, changes);
  }

  /** Deletes an entry. Interruption point. @throws {LdapError} 32 if there is none */
  delete(dn: string): Promise<void> {
    return this.#impl.delete(dn);
  }

  /**
   * StartTLS: upgrades this connection to TLS (before binding with a password).
   * Interruption point.
   */
  startTls(options: { hostname?: string; caCerts?: string[] } = {}): Promise<void> {
    return this.#impl.startTls(options);
  }

  /**
   * Unbinds and closes. The socket is closed even when the unbind cannot be sent (a
   * connection already broken), and then that error is not raised: the end is reached.
   */
  unbind(): Promise<void> {
    return this.#impl.unbind();
  }
}
