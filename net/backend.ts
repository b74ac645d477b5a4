/**
 * Which socket backend new sockets use: the FFI poller when the shim can be opened, else
 * Deno's own networking. `SHRAPNEL_BACKEND=ffi|deno` (or {@linkcode setBackend}) forces one.
 *
 * @module
 */

import { scheduler } from "../core/scheduler.ts";
import { ShrapnelError } from "../core/errors.ts";
import { type FfiPoller, ffiPoller } from "./ffi_poller.ts";
import type { BackendName } from "./socket.ts";
import { TooManyOpenFilesError } from "./errors.ts";

/**
 * The FFI backend was demanded but cannot be used; the message says why.
 *
 * @example
 * ```ts
 * import { BackendUnavailableError } from "./backend.ts";
 * console.log(new BackendUnavailableError("the shim is not built").name); // BackendUnavailableError
 * ```
 */
export class BackendUnavailableError extends ShrapnelError {}

/** @deprecated Renamed {@linkcode BackendUnavailableError} (every error class ends in "Error"). */
export const BackendUnavailable: typeof BackendUnavailableError = BackendUnavailableError;
/** @deprecated Renamed {@linkcode BackendUnavailableError} (every error class ends in "Error"). */
export type BackendUnavailable = BackendUnavailableError;

/** A backend choice: one of the backends, or "auto" (FFI when available). */
export type BackendChoice = BackendName | "auto";

const CHOICE = Symbol("socketBackend");

function choiceFromEnvironment(): BackendChoice {
  let value: string | undefined;
  try {
    if (
      Deno.permissions.querySync({ name: "env", variable: "SHRAPNEL_BACKEND" }).state === "granted"
    ) {
      value = Deno.env.get("SHRAPNEL_BACKEND");
    }
  } catch {
    value = undefined;
  }
  if (value === undefined || value === "" || value === "auto") return "auto";
  if (value === "ffi" || value === "deno") return value;
  throw new BackendUnavailableError(
    `SHRAPNEL_BACKEND must be "ffi", "deno" or "auto", not "${value}"`,
  );
}

/**
 * Chooses the backend for sockets made from now on; returns the previous choice.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setBackend, tcpSocket } from "./mod.ts";
 * setBackend("deno");
 * assert.deepEqual(tcpSocket().backend, "deno");
 * setBackend("auto");
 * ```
 */
export function setBackend(choice: BackendChoice): BackendChoice {
  const old = scheduler.slot(CHOICE, choiceFromEnvironment);
  scheduler.setSlot(CHOICE, choice);
  return old;
}

/**
 * The backend new sockets use, resolving "auto".
 *
 * @example
 * ```ts
 * import { activeBackend } from "./mod.ts";
 * console.log(activeBackend()); // "ffi" with --allow-ffi and a built shim, else "deno"
 * ```
 * @throws {BackendUnavailableError} if "ffi" is demanded but the shim cannot be opened
 * @throws {TooManyOpenFilesError} if the shim is first opened when the process is out of
 * descriptors (the backend is not settled then: a later call, with descriptors free, chooses)
 */
export function activeBackend(): BackendName {
  const choice = scheduler.slot(CHOICE, choiceFromEnvironment);
  if (choice === "deno") return "deno";
  const poller = ffiPoller();
  if ("reason" in poller) {
    if (choice === "ffi") {
      throw new BackendUnavailableError(`FFI backend unavailable: ${poller.reason}`);
    }
    warnFallback(poller);
    return "deno";
  }
  return "ffi";
}

const WARNED = Symbol("fallbackWarned");

/**
 * Says once per process, on stderr, that "auto" fell back to the slower portable backend,
 * why, and what fixes it. Choosing a backend explicitly does not warn.
 */
function warnFallback(unavailable: { reason: string; fix?: string }): void {
  if (scheduler.slot(WARNED, () => false)) return;
  scheduler.setSlot(WARNED, true);
  console.error(
    `shrapnel: sockets use the portable Deno backend (about half the FFI backend's speed): ` +
      `${unavailable.reason}; fix: ${unavailable.fix ?? "see ffiUnavailableReason()"}. ` +
      `(SHRAPNEL_BACKEND=deno or setBackend("deno") chooses it and silences this.)`,
  );
}

/** @internal The FFI poller, when the FFI backend is active; null for the Deno backend. */
export function activePoller(): FfiPoller | null {
  if (activeBackend() === "deno") return null;
  return ffiPoller() as FfiPoller;
}

/**
 * Why the FFI backend is unavailable, or null when it can be used (or when the shim cannot
 * be opened yet because the process is out of descriptors: see {@linkcode activeBackend}).
 *
 * @example
 * ```ts
 * import { ffiUnavailableReason } from "./mod.ts";
 * console.log(ffiUnavailableReason() ?? "ffi backend ready");
 * ```
 */
export function ffiUnavailableReason(): string | null {
  let poller: ReturnType<typeof ffiPoller>;
  try {
    poller = ffiPoller();
  } catch (e) {
    if (e instanceof TooManyOpenFilesError) return null;
    throw e;
  }
  if (!("reason" in poller)) return null;
  const { fix } = poller as { fix?: string };
  return fix === undefined ? poller.reason : `${poller.reason} (fix: ${fix})`;
}
