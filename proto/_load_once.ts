/**
 * A protocol's implementation module, loaded on first use: the public module keeps the
 * names, types, docs and errors (cheap to import: comments and small classes), the code
 * that speaks the protocol is evaluated only by a program that connects or serves.
 *
 * @module
 */
import { awaitModule } from "../core/_lazy_import.ts";

/** Loads a module once, on the first call of the returned function. */
export interface LoadOnce<T> {
  /** Resolves to the module, loading it on the first call. Interruption point in a thread. */
  (): Promise<T>;
  /** The module once loaded, else undefined. */
  readonly loaded: T | undefined;
}

/**
 * A loader of `load()`'s module (`() => import("./_client.ts")`), which imports it on its
 * first call, outside any thread's context ({@linkcode awaitModule}); an interrupted
 * first call leaves the next one to load it again.
 */
export function loadOnce<T>(load: () => Promise<T>, what: string): LoadOnce<T> {
  let module: T | undefined;
  const get = async (): Promise<T> => module ??= await awaitModule(load, what);
  return Object.defineProperty(get, "loaded", { get: () => module }) as LoadOnce<T>;
}
