/**
 * The TCP backdoor's brake on password guessing: after each failed login a peer waits
 * longer before its next password is checked (1 s, doubling, capped), on every
 * connection it makes.
 *
 * @module
 */

import type { Address } from "../../net/address.ts";
import { sleep } from "../../core/sleep.ts";

/** Limits of the login throttle (`BackdoorOptions.loginThrottle`). */
export interface LoginThrottleOptions {
  /** Seconds a peer waits after its first failed login (1); doubled after each further one. */
  firstDelay?: number;
  /** The longest wait, in seconds (60). A peer quiet that long after it is forgotten. */
  maxDelay?: number;
  /**
   * Peers remembered (1024). Past it, peers not in the table share one entry: an attacker
   * with many source addresses slows itself down, never escapes.
   */
  maxPeers?: number;
}

interface Peer {
  failures: number;
  /** When (ms) its next password may be checked. */
  notBefore: number;
}

/** Peers not in a full table share this key. */
const OVERFLOW = "*";

/** The key of a peer: loopback IPv4 is one peer (any local user can use all of 127/8). */
function peerKey(address: Address): string {
  if (address.family === "ipv4") return address.host.startsWith("127.") ? "127/8" : address.host;
  if (address.family === "ipv6") return address.host;
  return "unix";
}

/**
 * Failed logins per peer, across its connections.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "../../core/thread.ts";
 * import { LoginThrottle } from "./login_throttle.ts";
 * const throttle = new LoginThrottle({ firstDelay: 0.01 });
 * const peer = { family: "ipv4", host: "127.0.0.1", port: 5000 } as const;
 * await spawn(async () => {
 *   await throttle.admit(peer);
 *   throttle.failed(peer);
 *   const start = Date.now();
 *   await throttle.admit(peer); // waits about 10 ms
 *   assert.ok(Date.now() - start >= 5);
 * }).join();
 * ```
 */
export class LoginThrottle {
  readonly #firstMs: number;
  readonly #maxMs: number;
  readonly #maxPeers: number;
  readonly #peers = new Map<string, Peer>();

  /**
   * Makes an empty throttle.
   * @param options delays and the table's size
   */
  constructor(options: LoginThrottleOptions = {}) {
    this.#firstMs = (options.firstDelay ?? 1) * 1000;
    this.#maxMs = Math.max(this.#firstMs, (options.maxDelay ?? 60) * 1000);
    this.#maxPeers = options.maxPeers ?? 1024;
  }

  #delay(failures: number): number {
    return Math.min(this.#maxMs, this.#firstMs * 2 ** Math.min(failures - 1, 30));
  }

  /** The entry of `key` (a new one if none), or of the overflow key if the table is full. */
  #entry(key: string, now: number): Peer {
    const peer = this.#peers.get(key);
    if (peer !== undefined) {
      if (now - peer.notBefore <= this.#maxMs) return peer;
      this.#peers.delete(key); // quiet long enough: forgotten
    }
    // The shared entry is one more than `maxPeers`: making it evicts nobody.
    if (this.#peers.size - (this.#peers.has(OVERFLOW) ? 1 : 0) >= this.#maxPeers) {
      for (const [k, p] of this.#peers) {
        if (now - p.notBefore > this.#maxMs) this.#peers.delete(k);
      }
      if (this.#peers.size - (this.#peers.has(OVERFLOW) ? 1 : 0) >= this.#maxPeers) {
        const shared = this.#peers.get(OVERFLOW);
        if (shared !== undefined) return shared;
        key = OVERFLOW;
      }
    }
    const fresh = { failures: 0, notBefore: now };
    this.#peers.set(key, fresh);
    return fresh;
  }

  /**
   * Waits until `address` may have a password checked, and books that turn (a parallel
   * attempt of the same peer waits as if this one failed). Interruption point: the
   * interrupted caller has checked nothing.
   */
  async admit(address: Address): Promise<void> {
    const key = peerKey(address);
    for (;;) {
      const now = Date.now();
      const peer = this.#entry(key, now);
      if (peer.notBefore <= now) {
        peer.notBefore = now + this.#delay(peer.failures + 1);
        return;
      }
      await sleep((peer.notBefore - now) / 1000);
    }
  }

  /** A password of `address` was wrong: its next one waits longer. */
  failed(address: Address): void {
    const now = Date.now();
    const peer = this.#entry(peerKey(address), now);
    peer.failures++;
    peer.notBefore = Math.max(peer.notBefore, now + this.#delay(peer.failures));
  }

  /** `address` logged in: its failures are forgotten. */
  succeeded(address: Address): void {
    this.#peers.delete(peerKey(address)); // the shared entry, if it was that, stays
  }
}
