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
