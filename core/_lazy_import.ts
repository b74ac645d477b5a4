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

/** Loads a module once, on the first call of the returned function. */
export interface LoadOnce<T> {
  /** Resolves to the module, loading it on the first call. Interruption point in a thread. */
  (): Promise<T>;
  /** The module once loaded, else undefined. */
  readonly loaded: T | undefined;
  /**
   * Begins the load now (once), for an object that will need the module (a resolver when
   * made): Deno 2.9 panics when it imports a module at EMFILE, so the load should not wait
   * for a first call that may come when the process is out of descriptors.
   */
  begin(): void;
}

/**
 * A loader of `load()`'s module (`() => import("./_client.ts")`), which imports it on its
 * first call (or at `begin()`), outside any thread's context ({@linkcode awaitModule}); an
 * interrupted or failed first call leaves the next one to load it again.
 */
export function loadOnce<T>(load: () => Promise<T>, what: string): LoadOnce<T> {
  let module: T | undefined;
  let early: (() => Promise<T>) | undefined;
  const get = async (): Promise<T> =>
    module ??= await (early !== undefined ? early() : awaitModule(load, what));
  const begin = () => {
    if (module === undefined && early === undefined) early = loadEarly(load, what);
  };
  Object.defineProperty(get, "begin", { value: begin });
  return Object.defineProperty(get, "loaded", { get: () => module }) as LoadOnce<T>;
}
