/**
 * A handler whose code is loaded by its first request: importing the library does not
 * compile it (bench/import.ts), and the server's hot path is not lengthened, since once
 * loaded, the real handler's `handle` takes the stand-in's place (the server calls it
 * directly from then on).
 *
 * @module
 */

import type { HttpRequest } from "./request.ts";
import type { Handler } from "./server.ts";

/**
 * A handler matching with `match` whose `handle` is made by `make` on the first request.
 * Each request that comes before it is made calls `make` itself (a module's load through
 * `awaitModule`: an interruption point of its own thread, the import itself shared), and
 * the first handler made is kept.
 */
export function lazyHandler(
  match: (request: HttpRequest) => boolean,
  make: () => Promise<Handler>,
): Handler {
  let loaded: Handler | undefined;
  const handler: Handler = {
    match,
    async handle(request) {
      if (loaded === undefined) {
        const made = await make();
        loaded ??= made;
        handler.handle = loaded.handle;
      }
      return await loaded.handle(request);
    },
  };
  return handler;
}
