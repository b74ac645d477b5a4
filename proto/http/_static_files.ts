/**
 * The static files handler's code, behind {@linkcode staticFilesHandler} (handlers.ts):
 * loaded by such a handler's first request, so that importing the library does not
 * compile it.
 *
 * @module
 */

import { waitFor } from "../../core/wait_for.ts";
import { CONTENT_TYPES, type StaticFilesOptions } from "./handlers.ts";
import type { Handler } from "./server.ts";

/** What {@linkcode staticFilesHandler} makes once loaded: see there. */
export function makeStaticFilesHandler(root: string, options: StaticFilesOptions = {}): Handler {
  const prefix = options.prefix ?? "/";
  const index = options.index ?? "index.html";
  const base = root.endsWith("/") ? root.slice(0, -1) : root;
  return {
    match: (request) =>
      (request.method === "GET" || request.method === "HEAD") && request.path.startsWith(prefix),
    async handle(request) {
      const rest = request.path.slice(prefix.length);
      const segments = rest.split("/").filter((s) => s !== "" && s !== ".");
      if (segments.some((s) => s === ".." || s.includes("\0") || s.includes("\\"))) {
        return request.error(404);
      }
      let path = [base, ...segments].join("/");
      let info: Deno.FileInfo;
      try {
        info = await waitFor(Deno.stat(path), `stat ${path}`);
        if (info.isDirectory) {
          path = `${path}/${index}`;
          info = await waitFor(Deno.stat(path), `stat ${path}`);
        }
      } catch (e) {
        if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
          return request.error(404, `nothing at ${request.path}`);
        }
        throw e;
      }
      if (!info.isFile) return request.error(404);
      const modified = info.mtime ? new Date(Math.floor(info.mtime.getTime() / 1000) * 1000) : null;
      if (modified !== null) {
        request.replyHeaders.set("last-modified", modified.toUTCString());
        const since = request.headers.get("if-modified-since");
        if (since !== null && Date.parse(since) >= modified.getTime()) {
          request.status = 304;
          return request.done();
        }
      }
      const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
      request.replyHeaders.set("content-type", CONTENT_TYPES[ext] ?? "application/octet-stream");
      if (options.cacheControl) request.replyHeaders.set("cache-control", options.cacheControl);
      request.replyHeaders.set("content-length", String(info.size));
      if (request.method === "HEAD") return request.done();
      const file = await waitFor(Deno.open(path), `open ${path}`);
      try {
        const buffer = new Uint8Array(65536);
        for (;;) {
          const n = await waitFor(file.read(buffer), `read ${path}`);
          if (n === null) break;
          await request.push(buffer.slice(0, n));
        }
      } finally {
        file.close();
      }
      await request.done();
    },
  };
}
