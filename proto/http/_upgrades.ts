/**
 * Responses that stand for a connection upgrade (`upgradeWebSocket`): the fetch handler
 * runs the upgrade instead of sending them. And the way from a fetch handler's `Request`
 * back to our request, registered by the fetch handler's code when it loads (without it,
 * no `Request` came from a fetch handler).
 *
 * @module
 */

import type { HttpRequest } from "./request.ts";

/** Takes the connection over and serves it until it closes. */
export type Upgrade = (http: HttpRequest) => Promise<void>;

const upgrades = new WeakMap<Response, Upgrade>();
/** Whether any upgrade was registered: until then no response is looked up (most servers). */
let anyUpgrade = false;

/** @internal Marks `response` as the answer that performs `upgrade`. */
export function registerUpgrade(response: Response, upgrade: Upgrade): void {
  anyUpgrade = true;
  upgrades.set(response, upgrade);
}

/** @internal The upgrade `response` stands for, if any. */
export function upgradeOf(response: Response): Upgrade | undefined {
  return anyUpgrade ? upgrades.get(response) : undefined;
}

let requestLookup: (request: Request) => HttpRequest | undefined = () => undefined;

/** @internal Registers how to find our request behind a fetch handler's `Request`. */
export function registerRequestLookup(lookup: (request: Request) => HttpRequest | undefined): void {
  requestLookup = lookup;
}

/** @internal Our request behind a `Request` a fetch-style handler was given, if it is one. */
export function httpRequestOf(request: Request): HttpRequest | undefined {
  return requestLookup(request);
}
