/**
 * SSH errors: a failed login or connection, and a host key that could not be verified.
 *
 * @module
 */

import { ShrapnelError } from "../../core/errors.ts";

/**
 * SSH failed: the login was refused, the connection broke, a channel could not open.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SshError } from "./errors.ts";
 * assert.equal(new SshError("All configured authentication methods failed").name, "SshError");
 * ```
 */
export class SshError extends ShrapnelError {}

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
