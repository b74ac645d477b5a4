/**
 * The MySQL client's implementation (./_client.ts), loaded once: at the first connect, or
 * earlier when a pool is made (Deno 2.9 panics importing a module when the process is out
 * of descriptors, so a pool's first query under EMFILE must not be what loads it).
 *
 * @module
 */
import type * as Mysql2 from "mysql2";
import { loadOnce } from "../_load_once.ts";
import { importNpm } from "../_npm.ts";

/** Loads ./_client.ts once (see {@linkcode loadOnce}). */
export const implementation = loadOnce(() => import("./_client.ts"), "the MySQL client");

/** npm:mysql2, loaded once: by `loadMysql2()` or the first connect. An interruption point. */
export const mysql2 = loadOnce(async () => {
  const m = await importNpm<typeof Mysql2 & { default?: typeof Mysql2 }>("mysql2");
  return (m.default ?? m) as typeof Mysql2;
}, "npm:mysql2");
