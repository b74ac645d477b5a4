/**
 * Which server to ask first: a memory of each server's round-trip time and failures, as
 * BIND's and Unbound's infrastructure caches keep, so that a dead forwarder costs one
 * timeout, not one per lookup.
 *
 * @module
 */

import type { InetAddress } from "../../net/address.ts";

/** Options of a {@linkcode ServerSelection}. */
export interface ServerSelectionOptions {
  /**
   * Seconds a failed server is skipped before it is tried again (10); each further failure
   * in a row doubles it, up to `maxRetryAfter`.
   */
  retryAfter?: number;
  /** The longest a failed server is skipped, seconds (120). */
  maxRetryAfter?: number;
  /** Servers remembered at most (1000); the least recently used is forgotten first. */
  maxServers?: number;
}

/** What is known about one server. */
export interface ServerState {
  /** Smoothed round-trip time, milliseconds (undefined until one answer came). */
  srtt: number | undefined;
  /** Failures in a row (timeouts, ICMP errors, SERVFAIL). */
  failures: number;
  /** Until when (ms, `Date.now()` clock) the server is skipped; 0 when it is not. */
  downUntil: number;
}

const SMOOTHING = 0.3;

function key(a: InetAddress): string {
  return `${a.host}|${a.port}`;
}

/**
 * Orders servers: those answering, fastest (smoothed round-trip time) first, servers never
 * asked among them in the order given; then servers that failed, skipped until their
 * penalty runs out (10 s, doubling per failure in a row up to 120 s). A failed server whose
 * penalty ran out comes first once (a probe): if it is still dead, that one lookup pays
 * its timeout, and it is skipped twice as long.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerSelection } from "./server_selection.ts";
 * const a = { family: "ipv4", host: "10.0.0.1", port: 53 } as const;
 * const b = { family: "ipv4", host: "10.0.0.2", port: 53 } as const;
 * const selection = new ServerSelection();
 * selection.failed(a);
 * selection.answered(b, 12);
 * assert.deepEqual(selection.order([a, b]), [b, a]);
 * ```
 */
export class ServerSelection {
  readonly #retryAfter: number;
  readonly #maxRetryAfter: number;
  readonly #maxServers: number;
  readonly #states = new Map<string, ServerState>();

  /**
   * A selection that knows nothing yet.
   * @param options penalties and size
   */
  constructor(options: ServerSelectionOptions = {}) {
    this.#retryAfter = (options.retryAfter ?? 10) * 1000;
    this.#maxRetryAfter = (options.maxRetryAfter ?? 120) * 1000;
    this.#maxServers = options.maxServers ?? 1000;
  }

  /** What is known about `server` (undefined if nothing). */
  state(server: InetAddress): Readonly<ServerState> | undefined {
    return this.#states.get(key(server));
  }

  #get(server: InetAddress): ServerState {
    const k = key(server);
    let state = this.#states.get(k);
    if (state === undefined) {
      state = { srtt: undefined, failures: 0, downUntil: 0 };
      if (this.#states.size >= this.#maxServers) {
        this.#states.delete(this.#states.keys().next().value!);
      }
    } else {
      this.#states.delete(k); // re-inserted: most recently used last
    }
    this.#states.set(k, state);
    return state;
  }

  /** `server` answered after `rttMs` milliseconds. */
  answered(server: InetAddress, rttMs: number): void {
    const state = this.#get(server);
    state.srtt = state.srtt === undefined ? rttMs : state.srtt + SMOOTHING * (rttMs - state.srtt);
    state.failures = 0;
    state.downUntil = 0;
  }

  /** `server` timed out, was unreachable or failed: skip it for a while. */
  failed(server: InetAddress, now: number = Date.now()): void {
    const state = this.#get(server);
    state.failures++;
    state.downUntil = now +
      Math.min(this.#retryAfter * 2 ** Math.min(state.failures - 1, 30), this.#maxRetryAfter);
  }

  /** `servers` in the order to ask them (a new list). */
  order(servers: readonly InetAddress[], now: number = Date.now()): InetAddress[] {
    const probes: InetAddress[] = [];
    const up: { server: InetAddress; srtt: number; index: number }[] = [];
    const down: { server: InetAddress; until: number }[] = [];
    servers.forEach((server, index) => {
      const state = this.#states.get(key(server));
      if (state === undefined || state.failures === 0) {
        up.push({ server, srtt: state?.srtt ?? 0, index });
      } else if (state.downUntil <= now) {
        probes.push(server);
        // Until it answers or fails again, it is not probed by every lookup at once.
        state.downUntil = now + this.#retryAfter;
      } else {
        down.push({ server, until: state.downUntil });
      }
    });
    up.sort((x, y) => x.srtt - y.srtt || x.index - y.index);
    down.sort((x, y) => x.until - y.until);
    return [...probes, ...up.map((u) => u.server), ...down.map((d) => d.server)];
  }
}
