/**
 * Loading a module on first use (`import("pg")`...) from inside a thread.
 *
 * The import starts in the context the process started in, not the thread's: under
 * `deno test`, a dynamic import begun in a thread's async context leaks that context to
 * the test runner, and the next test then runs "inside" the finished thread. And a thread
 * waits on the load through `waitFor` (it stays the current thread, and the wait is
 * interruptible); outside threads it is a plain await.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { current } from "./thread.ts";
import { waitFor } from "./wait_for.ts";

const rootContext = AsyncLocalStorage.snapshot();

/**
 * Resolves to the module `load()` imports (`() => import("pg")`), begun outside any
 * thread's context. Interruption point inside a thread.
 */
export function awaitModule<T>(load: () => Promise<T>, what: string): Promise<T> {
  const loading = rootContext(load);
  return current() === null ? loading : waitFor(loading, `loading ${what}`);
}

/**
 * Begins loading `load()`'s module now, outside any thread's context, and returns a
 * function that resolves to it: it waits for that early load (an interruption point
 * inside a thread), and loads again ({@linkcode awaitModule}) if the early load failed,
 * reporting that load's error.
 *
 * Why early: Deno reads a module's compiled code from its cache when the module is first
 * imported, and with no descriptor left (EMFILE) it panics (Deno 2.9: the process dies)
 * instead of failing the import. A server's handler made at setup is loaded then, not by
 * a first request that may come in a connection flood.
 */
export function loadEarly<T>(load: () => Promise<T>, what: string): () => Promise<T> {
  const early = rootContext(load).then(
    (module): { module: T } => ({ module }),
    (error: unknown) => ({ error }),
  );
  return async () => {
    const outcome = current() === null ? await early : await waitFor(early, `loading ${what}`);
    return "module" in outcome ? outcome.module : await awaitModule(load, what);
  };
}
