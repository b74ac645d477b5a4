/** Runs a socket specification against both backends: the FFI poller and Deno's own API. */
import { type BackendName, ffiPoller, ffiUnavailableReason, setBackend } from "../../mod.ts";
import { inThread } from "../_helpers.ts";

/** The backends the socket suite runs on. */
export const BACKENDS: BackendName[] = ["ffi", "deno"];

/**
 * Registers `${backend}: ${name}` for each backend, its body run in a thread with that
 * backend chosen. Without the FFI shim the ffi variant is skipped with the reason, except
 * under CI=true, where it fails.
 */
export function socketTest(
  name: string,
  body: (backend: BackendName) => Promise<void> | void,
  options: { only?: BackendName; ignore?: boolean } = {},
): void {
  for (const backend of BACKENDS) {
    if (options.only !== undefined && options.only !== backend) continue;
    const unavailable = backend === "ffi" ? ffiUnavailableReason() : null;
    const ci = Deno.env.get("CI") === "true";
    Deno.test({
      // The reason's first clause only: the fix is said once, when the shim is built or not.
      name: `${backend}: ${name}${
        unavailable && !ci ? ` (skipped: ${unavailable.split(" (")[0]})` : ""
      }`,
      ignore: options.ignore || (unavailable !== null && !ci),
      // Deno's own operations outlive an interrupted call by design (see deno_socket.ts).
      sanitizeOps: backend === "ffi",
      sanitizeResources: backend === "ffi",
      fn: async () => {
        if (unavailable !== null) {
          throw new Error(`FFI backend unavailable under CI: ${unavailable}`);
        }
        const old = setBackend(backend);
        try {
          await inThread(() => body(backend));
        } finally {
          setBackend(old);
          const poller = ffiPoller();
          if (!("reason" in poller)) await poller.quiesce();
        }
      },
    });
  }
}

/** Bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Text of `data`. */
export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/**
 * Environment for a Deno child process that may load the FFI shim: under
 * `deno task test:asan` the ASan shim needs libasan preloaded, which the test process
 * keeps from its other children (see _asan_preload.ts).
 */
export function denoChildEnv(): Record<string, string> {
  const preload = Deno.env.get("SHRAPNEL_ASAN_PRELOAD");
  return preload === undefined ? {} : { LD_PRELOAD: preload };
}
