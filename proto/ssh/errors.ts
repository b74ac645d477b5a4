/**
 * SSH errors: a failed login or connection, a host key that could not be verified, a peer
 * that broke the protocol.
 *
 * @module
 */

import { familyHasInstance } from "../../core/_error_family.ts";
import { ProtocolError, ShrapnelError } from "../../core/errors.ts";

/**
 * SSH failed: the login was refused, the connection broke, a channel could not open.
 * {@linkcode SshProtocolError} (which extends `ProtocolError`) is one too:
 * `instanceof SshError` is true for it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SshError } from "./errors.ts";
 * assert.equal(new SshError("All configured authentication methods failed").name, "SshError");
 * ```
 */
export class SshError extends ShrapnelError {
  /** True for an SshError, and (asked of SshError itself) for an {@linkcode SshProtocolError}. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return familyHasInstance(this, SshError, [SshProtocolError], value);
  }
}

/**
 * The peer broke the SSH protocol (a bad packet length, a malformed or unexpected message,
 * a MAC that does not verify): a `ProtocolError` of protocol "ssh", and an
 * {@linkcode SshError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "../../core/errors.ts";
 * import { SshError, SshProtocolError } from "./errors.ts";
 * const e = new SshProtocolError("Bad packet length");
 * assert.ok(e instanceof ProtocolError && e instanceof SshError);
 * assert.equal(e.protocol, "ssh");
 * ```
 */
export class SshProtocolError extends ProtocolError {
  /**
   * Makes the error.
   *
   * @param message what was wrong
   * @param options its cause
   */
  constructor(message?: string, options?: ErrorOptions) {
    super("ssh", message, options);
  }
}

/**
 * The server's host key could not be verified, so the connection was dropped before any
 * password or key was sent: the key differs from the one known for the host (`changed`:
 * perhaps a man in the middle), the host has no known key (`unknown`), the key is marked
 * `@revoked`, or it does not match the pinned fingerprint (`mismatch`).
 *
 * @example
 * ```ts
 * import { HostKeyError } from "./errors.ts";
 * const e = new HostKeyError("unknown", "[127.0.0.1]:2222", "SHA256:abc", "not in known_hosts");
 * console.log(e.reason, e.fingerprint); // unknown SHA256:abc
 * ```
 */
export class HostKeyError extends SshError {
  /** Why the key was refused. */
  readonly reason: "changed" | "unknown" | "revoked" | "mismatch";
  /** The host as known_hosts names it: `host`, or `[host]:port` off port 22. */
  readonly host: string;
  /** The SHA-256 fingerprint of the key the server presented ("SHA256:..."). */
  readonly fingerprint: string;
  /**
   * Makes the error; the message names the host, the fingerprint and `detail`.
   *
   * @param reason why the key was refused
   * @param host the host as known_hosts names it
   * @param fingerprint the presented key's SHA-256 fingerprint
   * @param detail what to do about it
   */
  constructor(
    reason: HostKeyError["reason"],
    host: string,
    fingerprint: string,
    detail: string,
  ) {
    super(`host key of ${host} (${fingerprint}) refused: ${detail}`);
    this.reason = reason;
    this.host = host;
    this.fingerprint = fingerprint;
  }
}
