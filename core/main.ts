/**
 * `main`: the entry point of a program built on shrapnel threads.
 *
 * @module
 */

import { now } from "./clock.ts";
import { Shutdown } from "./errors.ts";
import { allThreads, type Thread } from "./thread.ts";
import { ThreadGroup } from "./thread_group.ts";

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
 * Runs `fn` as the thread named "main" (in a {@linkcode ThreadGroup} named "main": the
 * groups it makes are its children's) and returns what it returns. SIGINT and SIGTERM
 * shut every thread down cleanly (each gets {@linkcode Shutdown} at its blocking point).
 * When `fn` ends, the threads still alive are shut down and given `graceSeconds` to
 * finish; those still alive after it are listed on stderr. Their outcomes are not taken:
 * one that dies from an error meanwhile is reported by the thread error hook.
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
  const program = new ThreadGroup({ name: "main" });
  const listeners: [Deno.Signal, () => void][] = [];
  for (const signal of signals) {
    const listener = () => {
      signalled = signal;
      program.shutdown();
      for (const t of allThreads()) t.shutdown(); // the detached ones too
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
  const thread = program.spawn({ name: "main" }, fn);
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

/** How often the threads left after `fn` are counted while they stop. */
const GRACE_POLL_MS = 5;

/**
 * Shuts down the threads left and waits up to `graceSeconds` for them to end. It does not
 * join them (that would take their errors from the thread error hook): it counts them.
 */
async function shutdownAll(graceSeconds: number): Promise<void> {
  const rest = allThreads();
  if (rest.length === 0) return;
  for (const t of rest) t.shutdown();
  const deadline = now() + graceSeconds;
  while (rest.some((t) => !t.dead) && now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, GRACE_POLL_MS));
  }
  const stuck = rest.filter((t) => !t.dead);
  if (stuck.length > 0) exitNaming(stuck, graceSeconds, "after main ended", Number(Deno.exitCode));
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
  const timer = setTimeout(
    () => exitNaming(allThreads(), graceSeconds, when, code()),
    graceSeconds * 1000,
  );
  Deno.unrefTimer(timer);
  return timer;
}

/** Names the threads that outlived the grace (and what they wait on), then exits. */
function exitNaming(stuck: Thread[], graceSeconds: number, when: string, code: number): never {
  const names = stuck.slice(0, 10).map((t) => `${t} waiting on ${String(t.waitingOn)}`);
  if (stuck.length > 10) names.push(`${stuck.length - 10} more`);
  console.error(
    `shrapnel: ${stuck.length} thread(s) did not finish within the ${graceSeconds} s grace ` +
      `${when}: ${names.join(", ") || "none left (a foreign promise held the program)"}; exiting`,
  );
  Deno.exit(code);
}
