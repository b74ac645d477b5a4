/**
 * The Postgres client's implementation (./_client.ts), loaded once: at the first connect, or
 * earlier when a pool is made (Deno 2.9 panics importing a module when the process is out
 * of descriptors, so a pool's first query under EMFILE must not be what loads it).
 *
 * @module
 */
import { loadOnce } from "../_load_once.ts";

/** Loads ./_client.ts once (see {@linkcode loadOnce}). */
export const implementation = loadOnce(() => import("./_client.ts"), "the Postgres client");
