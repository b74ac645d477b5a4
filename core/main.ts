/**
 * `main`: the entry point of a program built on shrapnel threads.
 *
 * @module
 */

import { Shutdown } from "./errors.ts";
import { allThreads, spawn } from "./thread.ts";

/** Options of {@linkcode main}. */
export interface MainOptions {
  /**
   * Seconds to wait for the threads to finish after they are shut down (when the main
   * function returns, or on SIGINT/SIGTERM). Default 5. Past it, the threads still alive
   * are named on stderr and the process exits (a thread awaiting a foreign promise, or
   * catching Shutdown and going on, cannot hold the program).
   */
  graceSeconds?: number;
  /** Signals that shut the program down. Default `["SIGINT", "SIGTERM"]`. */
  signals?: Deno.Signal[];
}

const SIGNAL_EXIT_CODES: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 129,
  SIGINT: 130,
  SIGTERM: 143,
};

/**
 * Runs `fn` as the thread named "main" and returns what it returns. SIGINT and SIGTERM
 * shut every thread down cleanly (each gets {@linkcode Shutdown} at its blocking point).
 * When `fn` ends, the threads still alive are shut down and given `graceSeconds` to finish.
 * Sets `Deno.exitCode`: 0 on success, 1 if `fn` threw (the error is reported), 128 +
 * the signal's number after a signal. A thread that dies from an error nobody joins is
 * reported by the thread error hook (see `setThreadErrorHook`). Threads that do not
 * finish within `graceSeconds` of their shutdown are named on stderr and the process
 * exits with that code (`Deno.exit`): the grace period is a promise to the operator.
 *
 * @example
 * ```ts
 * import { main, sleep, spawn } from "./mod.ts";
 * await main(async () => {
 *   const worker = spawn(async () => { await sleep(0.01); return "done"; });
 *   console.log(await worker.join());
 * });
 * ```
 */
export async function main<R>(
  fn: () => R | PromiseLike<R>,
  options: MainOptions = {},
): Promise<R | undefined> {
  const graceSeconds = options.graceSeconds ?? 5;
  const signals = options.signals ?? ["SIGINT", "SIGTERM"];
  let signalled: Deno.Signal | null = null;
  let signalGrace: ReturnType<typeof setTimeout> | undefined;
  const listeners: [Deno.Signal, () => void][] = [];
  for (const signal of signals) {
    const listener = () => {
      signalled = signal;
      for (const t of allThreads()) t.shutdown();
      // The main thread may be stuck where Shutdown cannot reach (a foreign promise):
      // the grace runs from the first signal, not from the main thread's end.
      signalGrace ??= exitAfterGrace(
        graceSeconds,
        () => SIGNAL_EXIT_CODES[signal] ?? 1,
        `on ${signal}`,
      );
    };
    try {
      Deno.addSignalListener(signal, listener);
      listeners.push([signal, listener]);
    } catch {
      // The platform lacks this signal (SIGTERM on Windows): nothing to listen for.
    }
  }
  const thread = spawn({ name: "main" }, fn);
  try {
    const result = await thread.join();
    Deno.exitCode = 0;
    return result;
  } catch (e) {
    if (signalled !== null && e instanceof Shutdown) {
      Deno.exitCode = SIGNAL_EXIT_CODES[signalled as Deno.Signal] ?? 1;
    } else {
      console.error("shrapnel: main thread died:", e);
      Deno.exitCode = 1;
    }
    return undefined;
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
    await shutdownAll(graceSeconds);
    clearTimeout(signalGrace);
  }
}

async function shutdownAll(graceSeconds: number): Promise<void> {
  const rest = allThreads();
  if (rest.length === 0) return;
  for (const t of rest) t.shutdown();
  const timer = exitAfterGrace(graceSeconds, () => Number(Deno.exitCode), "after main ended");
  // Outcomes are the threads' own business (an error nobody joins goes to the error hook).
  await Promise.allSettled(rest.map((t) => t.join()));
  clearTimeout(timer);
}

/**
 * Arms the end of the grace period: then the threads still alive are named and the
 * process exits with `code()`. Returns the timer (unref'd: it does not keep the
 * program alive by itself).
 */
function exitAfterGrace(
  graceSeconds: number,
  code: () => number,
  when: string,
): ReturnType<typeof setTimeout> {
  const timer = setTimeout(() => {
    const alive = allThreads();
    const names = alive.map(String).join(", ");
    console.error(
      `shrapnel: ${alive.length} thread(s) did not finish within the ${graceSeconds} s grace ` +
        `${when}: ${names || "(none left; a foreign promise held the program)"}; exiting`,
    );
    Deno.exit(code());
  }, graceSeconds * 1000);
  Deno.unrefTimer(timer);
  return timer;
}
