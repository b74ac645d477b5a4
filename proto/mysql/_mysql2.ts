/**
 * npm:mysql2, loaded on first use (the first connect, or {@linkcode loadMysql2}), so that
 * importing shrapnel neither fetches nor loads it.
 *
 * @module
 */
import type * as Mysql2 from "mysql2";
import { awaitModule } from "../../core/_lazy_import.ts";

type Mysql2Module = typeof Mysql2;
let loaded: Mysql2Module | null = null;

/**
 * Loads mysql2 now rather than at the first connect (a server may want it loaded at
 * startup, before its first request). Calling it again does nothing. The first call is an
 * interruption point inside a thread: interrupted, it throws the interrupt and the load
 * goes on, for the next call to find.
 *
 * @example
 * ```ts
 * import { loadMysql2 } from "./client.ts";
 * await loadMysql2();
 * ```
 */
export async function loadMysql2(): Promise<void> {
  if (loaded !== null) return;
  // Begun outside any thread's async context, waited on as an interruption point (see
  // core/_lazy_import.ts); the module loader keeps one load for calls that overlap.
  const m = await awaitModule(() => import("mysql2"), "npm:mysql2");
  loaded = (m.default ?? m) as Mysql2Module;
}

/** mysql2, loaded on first use (an interruption point the first time only). */
export async function mysql2(): Promise<Mysql2Module> {
  if (loaded === null) await loadMysql2();
  return loaded!;
}
